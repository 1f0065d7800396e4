/* test-gguf.c: the GGUF reader on the reference models (as listed in reference/gguf-dumps/) and on
 * synthetic files built here: v2/v3, every value type, nested arrays, and many broken variants
 * (every truncation, bad magic/version, lying counts, huge lengths, bad offsets/dims/types). */
#include "check.h"
#include "engine/gguf.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------------------
 * A tiny GGUF writer: KV and tensor-info sections are built separately, then joined; "marks"
 * remember where fields are so tests can patch them. */

typedef struct wbuf {
    uint8_t *p;
    size_t len, cap;
} wbuf;

static void wput(wbuf *b, const void *d, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            abort();
    }
    if (n)
        memcpy(b->p + b->len, d, n);
    b->len += n;
}

static void w_u32(wbuf *b, uint32_t v)
{
    wput(b, &v, 4);
}
static void w_u64(wbuf *b, uint64_t v)
{
    wput(b, &v, 8);
}
static void w_str(wbuf *b, const char *s)
{
    w_u64(b, strlen(s));
    wput(b, s, strlen(s));
}

enum { SEC_KV, SEC_TI, SEC_DATA };

typedef struct mark {
    char tag[96];
    int sec;
    size_t off;
} mark;

typedef struct writer {
    wbuf kv, ti, data;
    uint64_t n_kv, n_t;
    uint32_t alignment;
    mark marks[256];
    int n_marks;
    /* filled by finish() */
    size_t kv_start, ti_start, data_start;
} writer;

__attribute__((format(printf, 3, 4))) static void mark_at(writer *w, int sec, const char *fmt, ...)
{
    mark *m = &w->marks[w->n_marks++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->tag, sizeof m->tag, fmt, ap);
    va_end(ap);
    m->sec = sec;
    m->off = sec == SEC_KV ? w->kv.len : sec == SEC_TI ? w->ti.len : w->data.len;
}

/* Absolute file offset of a mark (after finish()). */
static size_t pos(const writer *w, const char *tag)
{
    for (int i = 0; i < w->n_marks; i++) {
        if (!strcmp(w->marks[i].tag, tag)) {
            const mark *m = &w->marks[i];
            return m->off + (m->sec == SEC_KV   ? w->kv_start
                             : m->sec == SEC_TI ? w->ti_start
                                                : w->data_start);
        }
    }
    fprintf(stderr, "test bug: no mark '%s'\n", tag);
    abort();
}

static void kv_begin(writer *w, const char *key, herd_gguf_vtype t)
{
    mark_at(w, SEC_KV, "kv:%s", key);
    w_str(&w->kv, key);
    mark_at(w, SEC_KV, "kv:%s:type", key);
    w_u32(&w->kv, t);
    mark_at(w, SEC_KV, "kv:%s:val", key);
    w->n_kv++;
}

static void kv_raw(writer *w, const char *key, herd_gguf_vtype t, const void *v, size_t n)
{
    kv_begin(w, key, t);
    wput(&w->kv, v, n);
}

#define KV(w, key, t, ctype, val)          \
    do {                                   \
        ctype v_ = (val);                  \
        kv_raw(w, key, t, &v_, sizeof v_); \
    } while (0)

static void kv_str(writer *w, const char *key, const char *s)
{
    kv_begin(w, key, HERD_GGUF_STRING);
    w_str(&w->kv, s);
}

static void kv_arr(writer *w, const char *key, herd_gguf_vtype et, uint64_t n, const void *el,
                   size_t el_size)
{
    kv_begin(w, key, HERD_GGUF_ARRAY);
    w_u32(&w->kv, et);
    mark_at(w, SEC_KV, "kv:%s:n", key);
    w_u64(&w->kv, n);
    wput(&w->kv, el, (size_t)n * el_size);
}

static void kv_arr_str(writer *w, const char *key, int n, const char *const *s)
{
    kv_begin(w, key, HERD_GGUF_ARRAY);
    w_u32(&w->kv, HERD_GGUF_STRING);
    mark_at(w, SEC_KV, "kv:%s:n", key);
    w_u64(&w->kv, (uint64_t)n);
    for (int i = 0; i < n; i++) {
        mark_at(w, SEC_KV, "kv:%s:%d", key, i);
        w_str(&w->kv, s[i]);
    }
}

/* `levels` nested arrays around a single u8 array [7]. */
static void kv_deep(writer *w, const char *key, int levels)
{
    kv_begin(w, key, HERD_GGUF_ARRAY);
    for (int l = 1; l < levels; l++) {
        w_u32(&w->kv, HERD_GGUF_ARRAY);
        w_u64(&w->kv, 1);
    }
    w_u32(&w->kv, HERD_GGUF_U8);
    w_u64(&w->kv, 1);
    uint8_t v = 7;
    wput(&w->kv, &v, 1);
}

static void tensor(writer *w, const char *name, uint32_t n_dims, const int64_t *ne, uint32_t type,
                   const void *data, size_t size)
{
    static const uint8_t zero[64];
    while (w->data.len % w->alignment)
        wput(&w->data, zero, 1);
    mark_at(w, SEC_TI, "t:%s", name);
    w_str(&w->ti, name);
    mark_at(w, SEC_TI, "t:%s:n_dims", name);
    w_u32(&w->ti, n_dims);
    mark_at(w, SEC_TI, "t:%s:ne", name);
    for (uint32_t d = 0; d < n_dims; d++)
        w_u64(&w->ti, (uint64_t)ne[d]);
    mark_at(w, SEC_TI, "t:%s:type", name);
    w_u32(&w->ti, type);
    mark_at(w, SEC_TI, "t:%s:off", name);
    w_u64(&w->ti, w->data.len);
    mark_at(w, SEC_DATA, "d:%s", name);
    wput(&w->data, data, size);
    w->n_t++;
}

/* Joins the sections; the file ends exactly at the end of the last tensor's data. */
static uint8_t *finish(writer *w, uint32_t version, size_t *size)
{
    wbuf out = { 0 };
    w_u32(&out, HERD_GGUF_MAGIC);
    w_u32(&out, version);
    w_u64(&out, w->n_t);
    w_u64(&out, w->n_kv);
    w->kv_start = out.len;
    wput(&out, w->kv.p, w->kv.len);
    w->ti_start = out.len;
    wput(&out, w->ti.p, w->ti.len);
    if (w->n_t) {
        static const uint8_t zero[4096];
        size_t pad = (w->alignment - out.len % w->alignment) % w->alignment;
        wput(&out, zero, pad);
    }
    w->data_start = out.len;
    wput(&out, w->data.p, w->data.len);
    *size = out.len;
    return out.p;
}

static void writer_free(writer *w)
{
    free(w->kv.p);
    free(w->ti.p);
    free(w->data.p);
}

static void patch_u32(uint8_t *buf, size_t off, uint32_t v)
{
    memcpy(buf + off, &v, 4);
}
static void patch_u64(uint8_t *buf, size_t off, uint64_t v)
{
    memcpy(buf + off, &v, 8);
}

/* ---------------------------------------------------------------------------------------------
 * The standard small valid file */

static const float t_f32_data[12] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 };

static void build_valid(writer *w, uint32_t alignment, bool deep_ok)
{
    memset(w, 0, sizeof *w);
    w->alignment = alignment;
    kv_str(w, "general.architecture", "test");
    KV(w, "general.alignment", HERD_GGUF_U32, uint32_t, alignment);
    KV(w, "t.u8", HERD_GGUF_U8, uint8_t, 200);
    KV(w, "t.i8", HERD_GGUF_I8, int8_t, -100);
    KV(w, "t.u16", HERD_GGUF_U16, uint16_t, 60000);
    KV(w, "t.i16", HERD_GGUF_I16, int16_t, -30000);
    KV(w, "t.u32", HERD_GGUF_U32, uint32_t, 4000000000u);
    KV(w, "t.i32", HERD_GGUF_I32, int32_t, -2000000000);
    KV(w, "t.f32", HERD_GGUF_F32, float, 1.5f);
    KV(w, "t.bool", HERD_GGUF_BOOL, uint8_t, 1);
    kv_str(w, "t.str", "hello");
    KV(w, "t.u64", HERD_GGUF_U64, uint64_t, (1ull << 40) + 5);
    KV(w, "t.i64", HERD_GGUF_I64, int64_t, -(1ll << 40));
    KV(w, "t.f64", HERD_GGUF_F64, double, 0.25);
    KV(w, "t.u64max", HERD_GGUF_U64, uint64_t, UINT64_MAX);
    KV(w, "t.i64min", HERD_GGUF_I64, int64_t, INT64_MIN);
    KV(w, "t.i32small", HERD_GGUF_I32, int32_t, 77);
    kv_str(w, "t.empty", "");
    const uint8_t a_u8[3] = { 1, 2, 255 };
    const int8_t a_i8[3] = { -1, 0, 1 };
    const uint16_t a_u16[3] = { 1, 2, 65535 };
    const int16_t a_i16[3] = { -2, 0, 2 };
    const uint32_t a_u32[3] = { 10, 20, 30 };
    const int32_t a_i32[3] = { -10, 0, 10 };
    const float a_f32[3] = { 0.5f, 0.5f, 0.5f };
    const uint8_t a_bool[3] = { 1, 0, 1 };
    const uint64_t a_u64[3] = { 1, 1ull << 50, UINT64_MAX };
    const int64_t a_i64[3] = { -1, 0, INT64_MAX };
    const double a_f64[3] = { 1.0, -2.5, 1e300 };
    kv_arr(w, "t.arr.u8", HERD_GGUF_U8, 3, a_u8, 1);
    kv_arr(w, "t.arr.i8", HERD_GGUF_I8, 3, a_i8, 1);
    kv_arr(w, "t.arr.u16", HERD_GGUF_U16, 3, a_u16, 2);
    kv_arr(w, "t.arr.i16", HERD_GGUF_I16, 3, a_i16, 2);
    kv_arr(w, "t.arr.u32", HERD_GGUF_U32, 3, a_u32, 4);
    kv_arr(w, "t.arr.i32", HERD_GGUF_I32, 3, a_i32, 4);
    kv_arr(w, "t.arr.f32", HERD_GGUF_F32, 3, a_f32, 4);
    kv_arr(w, "t.arr.bool", HERD_GGUF_BOOL, 3, a_bool, 1);
    kv_arr(w, "t.arr.u64", HERD_GGUF_U64, 3, a_u64, 8);
    kv_arr(w, "t.arr.i64", HERD_GGUF_I64, 3, a_i64, 8);
    kv_arr(w, "t.arr.f64", HERD_GGUF_F64, 3, a_f64, 8);
    kv_arr(w, "t.arr.empty", HERD_GGUF_I32, 0, NULL, 4);
    static const char *const strs[] = { "a", "bc", "", "d\"e\n" };
    kv_arr_str(w, "t.arr.str", 4, strs);
    /* [[1, 2, 3], [4]] */
    kv_begin(w, "t.arr.nested", HERD_GGUF_ARRAY);
    w_u32(&w->kv, HERD_GGUF_ARRAY);
    w_u64(&w->kv, 2);
    w_u32(&w->kv, HERD_GGUF_U32);
    w_u64(&w->kv, 3);
    wput(&w->kv, a_u32, 12);
    w_u32(&w->kv, HERD_GGUF_U32);
    w_u64(&w->kv, 1);
    w_u32(&w->kv, 4);
    /* [["x"], ["y", "z"]] */
    kv_begin(w, "t.arr.nested_str", HERD_GGUF_ARRAY);
    w_u32(&w->kv, HERD_GGUF_ARRAY);
    w_u64(&w->kv, 2);
    w_u32(&w->kv, HERD_GGUF_STRING);
    w_u64(&w->kv, 1);
    w_str(&w->kv, "x");
    w_u32(&w->kv, HERD_GGUF_STRING);
    w_u64(&w->kv, 2);
    w_str(&w->kv, "y");
    w_str(&w->kv, "z");
    kv_deep(w, "t.arr.deep", deep_ok ? HERD_GGUF_MAX_ARRAY_DEPTH : HERD_GGUF_MAX_ARRAY_DEPTH + 1);

    int64_t ne[4];
    ne[0] = 4, ne[1] = 3;
    tensor(w, "tok.f32", 2, ne, HERD_TYPE_F32, t_f32_data, sizeof t_f32_data);
    uint8_t q8[136];
    for (int i = 0; i < 136; i++)
        q8[i] = (uint8_t)(i * 7);
    ne[0] = 64, ne[1] = 2;
    tensor(w, "w.q8", 2, ne, HERD_TYPE_Q8_0, q8, sizeof q8);
    uint16_t f16[5] = { 0x3c00, 0x4000, 0x4200, 0x4400, 0x4500 };
    ne[0] = 5;
    tensor(w, "v.f16", 1, ne, HERD_TYPE_F16, f16, sizeof f16);
    uint8_t q2k[84] = { 0 };
    ne[0] = 256;
    tensor(w, "lowbit.q2k", 1, ne, HERD_TYPE_Q2_K, q2k, sizeof q2k);
    float x3[12] = { 0 };
    ne[0] = 2, ne[1] = 3, ne[2] = 2;
    tensor(w, "x.3d", 3, ne, HERD_TYPE_F32, x3, sizeof x3);
}

static uint8_t *valid_file(uint32_t version, uint32_t alignment, size_t *size, writer *w)
{
    build_valid(w, alignment, true);
    return finish(w, version, size);
}

/* ---------------------------------------------------------------------------------------------
 * Helpers for opening from a private heap copy (so ASan sees reads past the end) */

static herd_gguf *open_copy(const uint8_t *buf, size_t len, herd_error *err, uint8_t **copy)
{
    *copy = malloc(len ? len : 1);
    if (len)
        memcpy(*copy, buf, len);
    return herd_gguf_open_memory(*copy, len, "synth.gguf", err);
}

/* Expects the open to fail with `status` and a message containing each of the given strings. */
static void expect_fail_at(int line, const char *what, const uint8_t *buf, size_t len,
                           herd_status status, const char *s1, const char *s2)
{
    herd_error err = { .code = HERD_OK };
    uint8_t *copy;
    herd_gguf *g = open_copy(buf, len, &err, &copy);
    checks++;
    bool ok = !g && err.code == status && strstr(err.msg, "synth.gguf") &&
              (!s1 || strstr(err.msg, s1)) && (!s2 || strstr(err.msg, s2)) &&
              !strchr(err.msg, '\n');
    if (!ok) {
        failures++;
        fprintf(stderr, "FAIL line %d (%s): got %s (%s) \"%s\", want %s with '%s' '%s'\n", line,
                what, g ? "success" : "failure", herd_status_name(err.code), err.msg,
                herd_status_name(status), s1 ? s1 : "", s2 ? s2 : "");
    } else {
        printf("  ok  %-34s %s\n", what, err.msg);
    }
    herd_gguf_close(g);
    free(copy);
}
#define EXPECT_FAIL(what, buf, len, st, s1, s2) expect_fail_at(__LINE__, what, buf, len, st, s1, s2)

/* ---------------------------------------------------------------------------------------------
 * Synthetic: valid files */

static void check_valid(const herd_gguf *g, uint32_t version, uint32_t alignment, writer *w)
{
    CHECK(herd_gguf_version(g) == version, "version %u", herd_gguf_version(g));
    CHECK(herd_gguf_alignment(g) == alignment, "alignment %u", herd_gguf_alignment(g));
    CHECK(herd_gguf_n_kv(g) == (int64_t)w->n_kv, "n_kv %lld", (long long)herd_gguf_n_kv(g));
    CHECK(herd_gguf_n_tensors(g) == 5, "n_tensors %lld", (long long)herd_gguf_n_tensors(g));
    CHECK(herd_gguf_data_offset(g) == w->data_start, "data offset %llu vs %zu",
          (unsigned long long)herd_gguf_data_offset(g), w->data_start);
    CHECK(herd_gguf_data_offset(g) % alignment == 0, "data offset aligned");
    CHECK(!strcmp(herd_gguf_kv_key(g, 0), "general.architecture"), "first key");
    CHECK(herd_gguf_kv_type(g, 0) == HERD_GGUF_STRING, "first type");
    CHECK(herd_gguf_find_key(g, "t.u8") == 2, "find t.u8");
    CHECK(herd_gguf_find_key(g, "t.nope") == -1, "absent key");
    CHECK(herd_gguf_kv_key(g, -1) == NULL && herd_gguf_kv_key(g, 1000) == NULL, "range");

    const char *s;
    size_t len;
    CHECK(herd_gguf_get_str(g, "general.architecture", &s, &len) && len == 4 &&
              !memcmp(s, "test", 4),
          "architecture");
    CHECK(herd_gguf_get_str(g, "t.empty", &s, &len) && len == 0, "empty string");
    CHECK(!herd_gguf_get_str(g, "t.u8", &s, &len), "u8 is not a string");

    uint32_t u32;
    int64_t i64;
    uint64_t u64;
    float f;
    double d;
    bool b;
    CHECK(herd_gguf_get_u32(g, "t.u8", &u32) && u32 == 200, "u8 -> u32");
    CHECK(herd_gguf_get_u32(g, "t.u16", &u32) && u32 == 60000, "u16 -> u32");
    CHECK(herd_gguf_get_u32(g, "t.u32", &u32) && u32 == 4000000000u, "u32");
    CHECK(herd_gguf_get_u32(g, "t.i32small", &u32) && u32 == 77, "i32 in range -> u32");
    CHECK(!herd_gguf_get_u32(g, "t.i8", &u32), "negative i8 -> u32 refused");
    CHECK(!herd_gguf_get_u32(g, "t.u64", &u32), "2^40 -> u32 refused");
    CHECK(!herd_gguf_get_u32(g, "t.f32", &u32), "f32 -> u32 refused");
    CHECK(!herd_gguf_get_u32(g, "t.str", &u32), "string -> u32 refused");
    CHECK(!herd_gguf_get_u32(g, "t.bool", &u32), "bool -> u32 refused");
    CHECK(!herd_gguf_get_u32(g, "missing", &u32), "missing");
    CHECK(herd_gguf_get_i64(g, "t.i8", &i64) && i64 == -100, "i8 -> i64");
    CHECK(herd_gguf_get_i64(g, "t.i16", &i64) && i64 == -30000, "i16 -> i64");
    CHECK(herd_gguf_get_i64(g, "t.i32", &i64) && i64 == -2000000000, "i32 -> i64");
    CHECK(herd_gguf_get_i64(g, "t.i64", &i64) && i64 == -(1ll << 40), "i64");
    CHECK(herd_gguf_get_i64(g, "t.i64min", &i64) && i64 == INT64_MIN, "i64 min");
    CHECK(herd_gguf_get_i64(g, "t.u64", &i64) && i64 == (1ll << 40) + 5, "u64 -> i64");
    CHECK(!herd_gguf_get_i64(g, "t.u64max", &i64), "u64 max -> i64 refused");
    CHECK(herd_gguf_get_u64(g, "t.u64max", &u64) && u64 == UINT64_MAX, "u64 max");
    CHECK(!herd_gguf_get_u64(g, "t.i64", &u64), "negative -> u64 refused");
    CHECK(herd_gguf_get_f32(g, "t.f32", &f) && f == 1.5f, "f32");
    CHECK(herd_gguf_get_f32(g, "t.f64", &f) && f == 0.25f, "f64 -> f32");
    CHECK(herd_gguf_get_f64(g, "t.f64", &d) && d == 0.25, "f64");
    CHECK(!herd_gguf_get_f32(g, "t.u32", &f), "u32 -> f32 refused");
    CHECK(herd_gguf_get_bool(g, "t.bool", &b) && b, "bool");
    CHECK(!herd_gguf_get_bool(g, "t.u8", &b), "u8 -> bool refused");

    /* arrays */
    herd_gguf_vtype et;
    uint64_t n;
    const void *data;
    CHECK(herd_gguf_get_arr(g, "t.arr.u16", &et, &n, &data) && et == HERD_GGUF_U16 && n == 3,
          "u16 array");
    uint16_t e16[3];
    memcpy(e16, data, sizeof e16);
    CHECK(e16[0] == 1 && e16[1] == 2 && e16[2] == 65535, "u16 elements");
    CHECK(herd_gguf_get_arr(g, "t.arr.f64", &et, &n, &data) && et == HERD_GGUF_F64 && n == 3,
          "f64 array");
    double e64[3];
    memcpy(e64, data, sizeof e64);
    CHECK(e64[1] == -2.5 && e64[2] == 1e300, "f64 elements");
    CHECK(herd_gguf_get_arr(g, "t.arr.i64", &et, &n, &data) && et == HERD_GGUF_I64, "i64 array");
    int64_t ei64[3];
    memcpy(ei64, data, sizeof ei64);
    CHECK(ei64[0] == -1 && ei64[2] == INT64_MAX, "i64 elements");
    static const char *const arr_names[] = { "t.arr.u8",  "t.arr.i8",  "t.arr.i16",  "t.arr.u32",
                                             "t.arr.i32", "t.arr.f32", "t.arr.bool", "t.arr.u64" };
    static const herd_gguf_vtype arr_types[] = { HERD_GGUF_U8,   HERD_GGUF_I8,  HERD_GGUF_I16,
                                                 HERD_GGUF_U32,  HERD_GGUF_I32, HERD_GGUF_F32,
                                                 HERD_GGUF_BOOL, HERD_GGUF_U64 };
    for (int i = 0; i < 8; i++)
        CHECK(herd_gguf_get_arr(g, arr_names[i], &et, &n, NULL) && et == arr_types[i] && n == 3,
              "%s", arr_names[i]);
    CHECK(herd_gguf_get_arr(g, "t.arr.empty", &et, &n, NULL) && n == 0, "empty array");
    CHECK(!herd_gguf_get_arr(g, "t.u32", &et, &n, NULL), "scalar is not an array");

    CHECK(herd_gguf_get_arr(g, "t.arr.str", &et, &n, NULL) && et == HERD_GGUF_STRING && n == 4,
          "string array");
    const char *ptrs[4];
    uint64_t lens[4];
    CHECK(herd_gguf_get_arr_str(g, "t.arr.str", ptrs, lens, 4), "get_arr_str");
    CHECK(lens[0] == 1 && !memcmp(ptrs[0], "a", 1) && lens[1] == 2 && !memcmp(ptrs[1], "bc", 2) &&
              lens[2] == 0 && lens[3] == 4,
          "string elements");
    CHECK(herd_gguf_get_arr_str(g, "t.arr.str", ptrs, lens, 2), "partial get_arr_str");
    CHECK(!herd_gguf_get_arr_str(g, "t.arr.str", ptrs, lens, 5), "too many refused");
    CHECK(!herd_gguf_get_arr_str(g, "t.arr.u32", ptrs, lens, 1), "u32 array is not strings");

    CHECK(herd_gguf_get_arr(g, "t.arr.nested", &et, &n, NULL) && et == HERD_GGUF_ARRAY && n == 2,
          "nested array");
    CHECK(herd_gguf_get_arr(g, "t.arr.deep", &et, &n, NULL) && et == HERD_GGUF_ARRAY && n == 1,
          "deep array");

    char buf[256];
    int64_t i;
    herd_gguf_kv_format(g, herd_gguf_find_key(g, "t.arr.nested"), buf, sizeof buf);
    CHECK(!strcmp(buf, "[[10, 20, 30], [4]]"), "format nested: %s", buf);
    herd_gguf_kv_format(g, herd_gguf_find_key(g, "t.arr.nested_str"), buf, sizeof buf);
    CHECK(!strcmp(buf, "[[\"x\"], [\"y\", \"z\"]]"), "format nested_str: %s", buf);
    herd_gguf_kv_format(g, herd_gguf_find_key(g, "t.arr.str"), buf, sizeof buf);
    CHECK(!strcmp(buf, "[\"a\", \"bc\", \"\", \"d\\\"e\\n\"]"), "format str array: %s", buf);
    herd_gguf_kv_format(g, herd_gguf_find_key(g, "t.i64min"), buf, sizeof buf);
    CHECK(!strcmp(buf, "-9223372036854775808"), "format i64 min: %s", buf);
    herd_gguf_kv_format(g, herd_gguf_find_key(g, "t.bool"), buf, sizeof buf);
    CHECK(!strcmp(buf, "true"), "format bool: %s", buf);
    herd_gguf_kv_format(g, herd_gguf_find_key(g, "t.f32"), buf, sizeof buf);
    CHECK(!strcmp(buf, "1.5"), "format f32: %s", buf);
    herd_gguf_kv_format(g, herd_gguf_find_key(g, "t.arr.deep"), buf, sizeof buf);
    CHECK(!strcmp(buf, "[[[[[[[[7]]]]]]]]"), "format deep: %s", buf);
    herd_gguf_kv_format(g, herd_gguf_find_key(g, "t.arr.u64"), buf, 8);
    CHECK(strlen(buf) == 7 && !strcmp(buf + 4, "..."), "format cut: %s", buf);
    for (i = 0; i < herd_gguf_n_kv(g); i++) /* every value renders without trouble */
        herd_gguf_kv_format(g, i, buf, sizeof buf);

    /* tensors */
    const herd_gguf_tensor *t = herd_gguf_find_tensor(g, "tok.f32");
    CHECK(t && t == herd_gguf_tensor_at(g, 0), "find tok.f32");
    if (t) {
        CHECK(t->n_dims == 2 && t->ne[0] == 4 && t->ne[1] == 3 && t->ne[2] == 1 && t->ne[3] == 1,
              "tok.f32 shape");
        CHECK(t->type == HERD_TYPE_F32 && t->size == 48 && t->offset == 0, "tok.f32 type/size");
        CHECK((const uint8_t *)t->data ==
                  (const uint8_t *)herd_gguf_base(g) + herd_gguf_data_offset(g),
              "tok.f32 data pointer");
        CHECK(!memcmp(t->data, t_f32_data, sizeof t_f32_data), "tok.f32 contents");
    }
    t = herd_gguf_find_tensor(g, "w.q8");
    CHECK(t && t->type == HERD_TYPE_Q8_0 && t->size == 136 && t->offset % alignment == 0 &&
              t->offset > 0,
          "w.q8");
    if (t)
        CHECK(((const uint8_t *)t->data)[135] == (uint8_t)(135 * 7), "w.q8 last byte");
    t = herd_gguf_find_tensor(g, "lowbit.q2k");
    CHECK(t && t->type == HERD_TYPE_Q2_K && t->size == 84, "Q2_K tensor opens");
    t = herd_gguf_find_tensor(g, "x.3d");
    CHECK(t && t->n_dims == 3 && t->ne[2] == 2 && t->ne[3] == 1 && t->size == 48, "x.3d");
    if (t)
        CHECK((const uint8_t *)t->data + t->size ==
                  (const uint8_t *)herd_gguf_base(g) + herd_gguf_file_size(g),
              "last tensor ends the file");
    CHECK(herd_gguf_find_tensor(g, "nope") == NULL, "absent tensor");
    CHECK(herd_gguf_tensor_at(g, 5) == NULL && herd_gguf_tensor_at(g, -1) == NULL, "tensor range");
}

static void test_valid(void)
{
    static const uint32_t versions[] = { 2, 3 };
    static const uint32_t aligns[] = { 32, 1, 64, 4096 };
    for (int v = 0; v < 2; v++) {
        for (int a = 0; a < 4; a++) {
            writer w;
            size_t size;
            uint8_t *buf = valid_file(versions[v], aligns[a], &size, &w);
            herd_error err = { 0 };
            uint8_t *copy;
            herd_gguf *g = open_copy(buf, size, &err, &copy);
            CHECK(g != NULL, "valid v%u align %u: %s", versions[v], aligns[a], err.msg);
            CHECK(err.code == HERD_OK, "err cleared");
            if (g) {
                check_valid(g, versions[v], aligns[a], &w);
                CHECK(!strcmp(herd_gguf_path(g), "synth.gguf"), "name");
            }
            herd_gguf_close(g);
            free(copy);
            free(buf);
            writer_free(&w);
        }
    }
    printf("valid v2/v3 files with alignments 32, 1, 64, 4096: checked\n");

    /* no general.alignment: the default 32 applies; no tensors and no KVs at all also open */
    writer w = { .alignment = 32 };
    kv_str(&w, "general.architecture", "x");
    int64_t ne[1] = { 8 };
    float z[8] = { 0 };
    tensor(&w, "t", 1, ne, HERD_TYPE_F32, z, sizeof z);
    size_t size;
    uint8_t *buf = finish(&w, 3, &size);
    herd_error err;
    herd_gguf *g = herd_gguf_open_memory(buf, size, NULL, &err);
    CHECK(g && herd_gguf_alignment(g) == 32 && herd_gguf_data_offset(g) % 32 == 0,
          "default alignment: %s", g ? "" : err.msg);
    CHECK(g && !strcmp(herd_gguf_path(g), "<memory>"), "default name");
    herd_gguf_close(g);
    free(buf);
    writer_free(&w);

    writer e = { .alignment = 32 };
    buf = finish(&e, 3, &size);
    g = herd_gguf_open_memory(buf, size, "empty.gguf", &err);
    CHECK(g && herd_gguf_n_kv(g) == 0 && herd_gguf_n_tensors(g) == 0 &&
              herd_gguf_find_key(g, "x") == -1 && !herd_gguf_find_tensor(g, "x"),
          "header-only file: %s", g ? "" : err.msg);
    herd_gguf_close(g);
    free(buf);
    herd_gguf_close(NULL);
}

/* ---------------------------------------------------------------------------------------------
 * Synthetic: broken files */

static void test_truncation(void)
{
    writer w;
    size_t size;
    uint8_t *buf = valid_file(3, 32, &size, &w);
    int bad = 0;
    for (size_t len = 0; len < size; len++) {
        herd_error err = { .code = HERD_OK };
        uint8_t *copy;
        herd_gguf *g = open_copy(buf, len, &err, &copy);
        if (g || err.code == HERD_OK || !strstr(err.msg, "synth.gguf")) {
            if (bad++ < 5)
                fprintf(stderr, "FAIL truncated to %zu of %zu bytes: %s\n", len, size,
                        g ? "opened" : err.msg);
        }
        herd_gguf_close(g);
        free(copy);
    }
    checks++;
    failures += bad > 0;
    printf("truncation at each of %zu byte positions: %d not rejected\n", size, bad);
    free(buf);
    writer_free(&w);
}

/* Every byte replaced by a few values: no crash, and the open either fails with a message or
 * gives tensors inside the buffer. */
static void test_mutations(void)
{
    writer w;
    size_t size;
    uint8_t *buf = valid_file(3, 32, &size, &w);
    static const uint8_t vals[] = { 0x00, 0x01, 0x7f, 0x80, 0xff };
    int n = 0, opened = 0, bad = 0;
    size_t limit = w.data_start; /* data bytes are not interpreted */
    for (size_t i = 0; i < limit; i++) {
        for (size_t k = 0; k < sizeof vals; k++) {
            if (buf[i] == vals[k])
                continue;
            uint8_t *copy = malloc(size);
            memcpy(copy, buf, size);
            copy[i] = vals[k];
            herd_error err = { .code = HERD_OK };
            herd_gguf *g = herd_gguf_open_memory(copy, size, "synth.gguf", &err);
            n++;
            if (g) {
                opened++;
                char fbuf[128];
                for (int64_t j = 0; j < herd_gguf_n_kv(g); j++)
                    herd_gguf_kv_format(g, j, fbuf, sizeof fbuf);
                for (int64_t j = 0; j < herd_gguf_n_tensors(g); j++) {
                    const herd_gguf_tensor *t = herd_gguf_tensor_at(g, j);
                    const uint8_t *d = t->data;
                    if (d < copy || d + t->size > copy + size)
                        bad++;
                }
            } else if (err.code == HERD_OK || !err.msg[0]) {
                bad++;
            }
            herd_gguf_close(g);
            free(copy);
        }
    }
    checks++;
    failures += bad > 0;
    printf("single-byte mutations: %d tried, %d still open, %d bad\n", n, opened, bad);
    free(buf);
    writer_free(&w);
}

static void test_broken(void)
{
    writer w;
    size_t size;
    uint8_t *orig = valid_file(3, 32, &size, &w);
    uint8_t *b = malloc(size);
#define FRESH() memcpy(b, orig, size)

    printf("broken files:\n");
    FRESH();
    memcpy(b, "GGUG", 4);
    EXPECT_FAIL("bad magic", b, size, HERD_ERR_FORMAT, "magic", NULL);
    EXPECT_FAIL("3-byte file", orig, 3, HERD_ERR_FORMAT, "magic", NULL);
    EXPECT_FAIL("empty file", orig, 0, HERD_ERR_FORMAT, "magic", NULL);
    EXPECT_FAIL("header cut in version", orig, 6, HERD_ERR_FORMAT, "version", "past end");
    EXPECT_FAIL("header cut in counts", orig, 20, HERD_ERR_FORMAT, "KV count", "past end");
    static const uint32_t bad_versions[] = { 0, 1, 4, 0xFFFFFFFFu, 0x03000000u };
    for (int i = 0; i < 5; i++) {
        FRESH();
        patch_u32(b, 4, bad_versions[i]);
        char what[40];
        snprintf(what, sizeof what, "version 0x%x", bad_versions[i]);
        EXPECT_FAIL(what, b, size, HERD_ERR_UNSUPPORTED, i == 4 ? "big-endian" : "version", NULL);
    }
    static const uint64_t huge[] = { 1ull << 20, 1ull << 40, 1ull << 63, UINT64_MAX };
    for (int i = 0; i < 4; i++) {
        FRESH();
        patch_u64(b, 16, huge[i]);
        EXPECT_FAIL("lying KV count", b, size, HERD_ERR_FORMAT, "KV count", "offset 16");
        FRESH();
        patch_u64(b, 8, huge[i]);
        EXPECT_FAIL("lying tensor count", b, size, HERD_ERR_FORMAT, "tensor count", "offset 8");
    }
    FRESH();
    patch_u64(b, 16, w.n_kv + 1);
    EXPECT_FAIL("KV count one too many", b, size, HERD_ERR_FORMAT, NULL, NULL);
    FRESH();
    patch_u64(b, 8, w.n_t + 1);
    EXPECT_FAIL("tensor count one too many", b, size, HERD_ERR_FORMAT, "tensor", NULL);

    /* lengths past EOF */
    for (int i = 0; i < 4; i++) {
        uint64_t len = i == 0 ? size : i == 1 ? 1ull << 62 : i == 2 ? 1ull << 63 : UINT64_MAX;
        FRESH();
        patch_u64(b, pos(&w, "kv:t.u8"), len);
        EXPECT_FAIL("key length past EOF", b, size, HERD_ERR_FORMAT, "key #2", "past end");
        FRESH();
        patch_u64(b, pos(&w, "kv:t.str:val"), len);
        EXPECT_FAIL("string value past EOF", b, size, HERD_ERR_FORMAT, "key 't.str'", "past end");
        FRESH();
        patch_u64(b, pos(&w, "kv:t.arr.str:2"), len);
        EXPECT_FAIL("string in array past EOF", b, size, HERD_ERR_FORMAT, "key 't.arr.str'",
                    "past end");
        FRESH();
        patch_u64(b, pos(&w, "kv:t.arr.u64:n"), len);
        EXPECT_FAIL("array count past EOF", b, size, HERD_ERR_FORMAT, "key 't.arr.u64'",
                    "past end");
        FRESH();
        patch_u64(b, pos(&w, "kv:t.arr.str:n"), len);
        EXPECT_FAIL("string array count past EOF", b, size, HERD_ERR_FORMAT, "key 't.arr.str'",
                    "past end");
        FRESH();
        patch_u64(b, pos(&w, "t:w.q8"), len);
        EXPECT_FAIL("tensor name past EOF", b, size, HERD_ERR_FORMAT, "tensor #1", "past end");
    }
    FRESH();
    patch_u32(b, pos(&w, "kv:t.u8:type"), 13);
    EXPECT_FAIL("unknown value type 13", b, size, HERD_ERR_FORMAT, "key 't.u8'", "value type");
    FRESH();
    patch_u32(b, pos(&w, "kv:t.arr.u8:val"), 0x7fffffff);
    EXPECT_FAIL("unknown array element type", b, size, HERD_ERR_FORMAT, "key 't.arr.u8'",
                "element type");
    FRESH();
    memcpy(b + pos(&w, "kv:t.u16") + 8, "t.u8", 4); /* "t.u16" -> "t.u86" */
    memcpy(b + pos(&w, "kv:t.u16") + 8 + 4, "\0", 1);
    EXPECT_FAIL("NUL in key", b, size, HERD_ERR_FORMAT, "NUL", "key");
    FRESH();
    memcpy(b + pos(&w, "kv:t.i16") + 8, "t.u16", 5);
    EXPECT_FAIL("duplicate key", b, size, HERD_ERR_FORMAT, "key 't.u16'", "duplicate");
    FRESH();
    patch_u64(b, pos(&w, "kv:t.u8"), 0);
    EXPECT_FAIL("empty key", b, size, HERD_ERR_FORMAT, "key #2", "empty");

    /* alignment */
    static const uint32_t bad_align[] = { 0, 3, 48, 0x80000001u };
    for (int i = 0; i < 4; i++) {
        FRESH();
        patch_u32(b, pos(&w, "kv:general.alignment:val"), bad_align[i]);
        EXPECT_FAIL("bad alignment", b, size, HERD_ERR_FORMAT, "general.alignment", "power of two");
    }
    FRESH();
    patch_u32(b, pos(&w, "kv:general.alignment:type"), HERD_GGUF_F32);
    EXPECT_FAIL("alignment as f32", b, size, HERD_ERR_FORMAT, "general.alignment", "integer");

    /* tensors */
    FRESH();
    patch_u64(b, pos(&w, "t:w.q8:off"), 1ull << 40);
    EXPECT_FAIL("tensor offset past EOF", b, size, HERD_ERR_FORMAT, "tensor 'w.q8'",
                "past end of file");
    FRESH();
    patch_u64(b, pos(&w, "t:w.q8:off"), UINT64_MAX - 31);
    EXPECT_FAIL("tensor offset near 2^64", b, size, HERD_ERR_FORMAT, "tensor 'w.q8'",
                "past end of file");
    FRESH();
    {
        /* the smallest aligned offset at which x.3d's 48 bytes no longer fit */
        uint64_t avail = size - w.data_start, off = (avail - 47 + 31) / 32 * 32;
        CHECK(off <= avail && off + 48 > avail, "test setup");
        patch_u64(b, pos(&w, "t:x.3d:off"), off);
    }
    EXPECT_FAIL("tensor data runs past EOF", b, size, HERD_ERR_FORMAT, "tensor 'x.3d'",
                "past end of file");
    FRESH();
    patch_u64(b, pos(&w, "t:w.q8:off"), 64 + 4);
    EXPECT_FAIL("misaligned offset", b, size, HERD_ERR_FORMAT, "tensor 'w.q8'", "alignment");
    FRESH();
    patch_u64(b, pos(&w, "t:w.q8:ne"), 0);
    EXPECT_FAIL("ne[0] = 0", b, size, HERD_ERR_FORMAT, "tensor 'w.q8'", "absurd dimensions");
    FRESH();
    patch_u64(b, pos(&w, "t:w.q8:ne") + 8, 0);
    EXPECT_FAIL("ne[1] = 0", b, size, HERD_ERR_FORMAT, "tensor 'w.q8'", "absurd dimensions");
    FRESH();
    patch_u64(b, pos(&w, "t:tok.f32:ne") + 8, 1ull << 62);
    EXPECT_FAIL("ne[1] = 2^62", b, size, HERD_ERR_FORMAT, "tensor 'tok.f32'", "absurd");
    FRESH();
    patch_u64(b, pos(&w, "t:tok.f32:ne"), 1ull << 32);
    patch_u64(b, pos(&w, "t:tok.f32:ne") + 8, 1ull << 32);
    EXPECT_FAIL("product overflows", b, size, HERD_ERR_FORMAT, "tensor 'tok.f32'", "absurd");
    FRESH();
    patch_u64(b, pos(&w, "t:tok.f32:ne"), 1ull << 63);
    EXPECT_FAIL("ne[0] = 2^63", b, size, HERD_ERR_FORMAT, "tensor 'tok.f32'", "absurd");
    FRESH();
    patch_u64(b, pos(&w, "t:tok.f32:ne") + 8, 1ull << 40);
    EXPECT_FAIL("big but finite size", b, size, HERD_ERR_FORMAT, "tensor 'tok.f32'",
                "past end of file");
    FRESH();
    patch_u64(b, pos(&w, "t:w.q8:ne"), 48);
    EXPECT_FAIL("ne[0] not a block multiple", b, size, HERD_ERR_FORMAT, "tensor 'w.q8'",
                "block size");
    FRESH();
    patch_u32(b, pos(&w, "t:w.q8:n_dims"), 5);
    EXPECT_FAIL("n_dims 5", b, size, HERD_ERR_FORMAT, "tensor 'w.q8'", "n_dims 5");
    FRESH();
    patch_u32(b, pos(&w, "t:w.q8:n_dims"), 0);
    EXPECT_FAIL("n_dims 0", b, size, HERD_ERR_FORMAT, "tensor 'w.q8'", "n_dims 0");
    FRESH();
    patch_u32(b, pos(&w, "t:w.q8:n_dims"), 0xFFFFFFFFu);
    EXPECT_FAIL("n_dims 2^32-1", b, size, HERD_ERR_FORMAT, "tensor 'w.q8'", "n_dims");
    static const uint32_t bad_types[] = { 99, 4, 5, 31, 40, 0xFFFFFFFFu };
    for (int i = 0; i < 6; i++) {
        FRESH();
        patch_u32(b, pos(&w, "t:w.q8:type"), bad_types[i]);
        char num[16];
        snprintf(num, sizeof num, "type %u", bad_types[i]);
        EXPECT_FAIL("unknown tensor type", b, size, HERD_ERR_UNSUPPORTED, "tensor 'w.q8'", num);
    }
    FRESH();
    memcpy(b + pos(&w, "t:v.f16") + 8, "w.q8", 4); /* "v.f16" -> "w.q86" */
    memcpy(b + pos(&w, "t:x.3d") + 8, "w.q8", 4);  /* "x.3d" -> "w.q8" */
    EXPECT_FAIL("duplicate tensor", b, size, HERD_ERR_FORMAT, "tensor 'w.q8'", "duplicate");
    FRESH();
    memcpy(b + pos(&w, "t:v.f16") + 8 + 1, "\0", 1);
    EXPECT_FAIL("NUL in tensor name", b, size, HERD_ERR_FORMAT, "NUL", "tensor #2");
    FRESH();
    patch_u64(b, pos(&w, "t:tok.f32") + 8 + 7, 0); /* first tensor's n_dims/ne garbage */
    EXPECT_FAIL("zeroed tensor record", b, size, HERD_ERR_FORMAT, "tensor 'tok.f32'", NULL);

    /* arrays nested too deep */
    {
        writer d;
        size_t dsize;
        build_valid(&d, 32, false);
        uint8_t *db = finish(&d, 3, &dsize);
        EXPECT_FAIL("arrays nested 9 deep", db, dsize, HERD_ERR_FORMAT, "key 't.arr.deep'",
                    "nested deeper");
        free(db);
        writer_free(&d);
    }
    /* lying count inside a nested array */
    {
        writer d = { .alignment = 32 };
        kv_begin(&d, "nest", HERD_GGUF_ARRAY);
        w_u32(&d.kv, HERD_GGUF_ARRAY);
        w_u64(&d.kv, 2);
        w_u32(&d.kv, HERD_GGUF_STRING);
        w_u64(&d.kv, 1);
        w_str(&d.kv, "x");
        w_u32(&d.kv, HERD_GGUF_I64);
        w_u64(&d.kv, 1ull << 61);
        size_t dsize;
        uint8_t *db = finish(&d, 2, &dsize);
        EXPECT_FAIL("nested array count past EOF", db, dsize, HERD_ERR_FORMAT, "key 'nest'",
                    "past end");
        free(db);
        writer_free(&d);
    }
    /* many (1000) nested arrays of empty arrays: fine, linear */
    {
        writer d = { .alignment = 32 };
        kv_begin(&d, "many", HERD_GGUF_ARRAY);
        w_u32(&d.kv, HERD_GGUF_ARRAY);
        w_u64(&d.kv, 1000);
        for (int i = 0; i < 1000; i++) {
            w_u32(&d.kv, HERD_GGUF_ARRAY);
            w_u64(&d.kv, 0);
        }
        size_t dsize;
        uint8_t *db = finish(&d, 3, &dsize);
        herd_error err;
        herd_gguf *g = herd_gguf_open_memory(db, dsize, "many.gguf", &err);
        char fb[200];
        CHECK(g && strstr(herd_gguf_kv_format(g, 0, fb, sizeof fb), "(1000 array)"),
              "1000 empty arrays: %s", g ? fb : err.msg);
        herd_gguf_close(g);
        /* and with a count one too large */
        patch_u64(db, pos(&d, "kv:many:val") + 4, 1001);
        EXPECT_FAIL("array of arrays one short", db, dsize, HERD_ERR_FORMAT, "key 'many'",
                    "past end");
        free(db);
        writer_free(&d);
    }
    free(b);
    free(orig);
    writer_free(&w);
}

/* ---------------------------------------------------------------------------------------------
 * Real files on disk (mmap path) */

static void test_files(void)
{
    herd_error err;
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char path[512];
    snprintf(path, sizeof path, "%s/herd-test-gguf-XXXXXX", tmp);
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    if (fd < 0)
        return;
    writer w;
    size_t size;
    uint8_t *buf = valid_file(3, 64, &size, &w);
    CHECK(write(fd, buf, size) == (ssize_t)size, "write");
    close(fd);
    herd_gguf *g = herd_gguf_open(path, &err);
    CHECK(g != NULL, "open from disk: %s", err.msg);
    if (g) {
        check_valid(g, 3, 64, &w);
        CHECK(!strcmp(herd_gguf_path(g), path), "path");
        CHECK(herd_gguf_file_size(g) == size, "size");
    }
    herd_gguf_close(g);

    /* truncated on disk */
    CHECK(truncate(path, (off_t)size - 1) == 0, "truncate");
    g = herd_gguf_open(path, &err);
    CHECK(!g && err.code == HERD_ERR_FORMAT && strstr(err.msg, path) &&
              strstr(err.msg, "tensor 'x.3d'"),
          "truncated on disk: %s", err.msg);
    CHECK(truncate(path, 0) == 0, "truncate 0");
    g = herd_gguf_open(path, &err);
    CHECK(!g && err.code == HERD_ERR_FORMAT, "empty file on disk: %s", err.msg);
    unlink(path);
    g = herd_gguf_open(path, &err);
    CHECK(!g && err.code == HERD_ERR_IO && strstr(err.msg, path), "missing file: %s", err.msg);
    g = herd_gguf_open(tmp, &err);
    CHECK(!g && err.code == HERD_ERR_IO, "directory: %s", err.msg);
    g = herd_gguf_open(NULL, &err);
    CHECK(!g && err.code == HERD_ERR_INVALID, "NULL path");
    g = herd_gguf_open_memory(NULL, 10, "x", &err);
    CHECK(!g && err.code == HERD_ERR_INVALID, "NULL data");
    free(buf);
    writer_free(&w);
    printf("files on disk: checked\n");
}

/* ---------------------------------------------------------------------------------------------
 * Reference models (values from the reference gguf-dumps text files) */

static herd_gguf *open_ref(const char *dir, const char *name)
{
    char path[1024];
    herd_error err;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    herd_gguf *g = herd_gguf_open(path, &err);
    CHECK(g != NULL, "open %s: %s", name, err.msg);
    return g;
}

static void check_tensor(const herd_gguf *g, const char *name, herd_type type, int64_t ne0,
                         int64_t ne1, int64_t ne2)
{
    const herd_gguf_tensor *t = herd_gguf_find_tensor(g, name);
    CHECK(t != NULL, "%s: tensor %s missing", herd_gguf_path(g), name);
    if (!t)
        return;
    CHECK(t->type == type && t->ne[0] == ne0 && t->ne[1] == ne1 && t->ne[2] == ne2 && t->ne[3] == 1,
          "%s: %s is %s [%lld, %lld, %lld]", herd_gguf_path(g), name, herd_type_name(t->type),
          (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2]);
    CHECK(t->size == herd_row_size(type, ne0) * (size_t)(ne1 * ne2), "%s size", name);
}

/* Tensors must not overlap and must lie inside the data section. */
static void check_extents(const herd_gguf *g)
{
    int64_t n = herd_gguf_n_tensors(g);
    uint64_t total = 0;
    for (int64_t i = 0; i < n; i++) {
        const herd_gguf_tensor *a = herd_gguf_tensor_at(g, i);
        total += a->size;
        CHECK(herd_gguf_data_offset(g) + a->offset + a->size <= herd_gguf_file_size(g),
              "%s inside file", a->name);
        for (int64_t j = i + 1; j < n; j++) {
            const herd_gguf_tensor *b = herd_gguf_tensor_at(g, j);
            bool disjoint = a->offset + a->size <= b->offset || b->offset + b->size <= a->offset;
            if (!disjoint)
                CHECK(disjoint, "%s overlaps %s", a->name, b->name);
        }
    }
    CHECK(herd_gguf_data_offset(g) + total <= herd_gguf_file_size(g), "total size");
}

/* Every KV (key, type, count, integer/string values) and every tensor (order, shape, type) listed
 * in reference/gguf-dumps/NAME.txt, as printed by the reference implementation's gguf dump tool. */
static const char *const dump_types[HERD_GGUF_VTYPE_COUNT] = {
    "UINT8", "INT8",   "UINT16", "INT16",  "UINT32", "INT32",   "FLOAT32",
    "BOOL",  "STRING", "ARRAY",  "UINT64", "INT64",  "FLOAT64",
};

static int dump_vtype(const char *s)
{
    for (int i = 0; i < HERD_GGUF_VTYPE_COUNT; i++)
        if (!strcmp(s, dump_types[i]))
            return i;
    return -1;
}

static void check_dump(const char *ref, const char *name, const char *gguf_rel)
{
    char path[1024], line[4096];
    snprintf(path, sizeof path, "%s/gguf-dumps/%s.txt", ref, name);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "cannot read %s", path);
    if (!f)
        return;
    herd_gguf *g = open_ref(ref, gguf_rel);
    if (!g) {
        fclose(f);
        return;
    }
    int section = 0, n_kv_lines = 0, n_t_lines = 0;
    long long want_kv = -1, want_t = -1;
    while (fgets(line, sizeof line, f)) {
        long long n;
        if (strstr(line, "key/value") && sscanf(line, "* Dumping %lld", &n) == 1) {
            section = 1;
            want_kv = n - 3; /* the dump adds GGUF.version, .tensor_count, .kv_count */
            continue;
        }
        if (strstr(line, "tensor(s)") && sscanf(line, "* Dumping %lld", &n) == 1) {
            section = 2;
            want_t = n;
            continue;
        }
        if (section == 1) {
            int idx;
            char type[32], rest[4000];
            unsigned long long count;
            if (sscanf(line, " %d: %31s | %llu | %3999[^\n]", &idx, type, &count, rest) != 4)
                continue;
            if (idx <= 3) {
                unsigned long long v = strtoull(strstr(rest, "= ") + 2, NULL, 10);
                if (idx == 1)
                    CHECK(herd_gguf_version(g) == v, "%s: version", name);
                else if (idx == 2)
                    CHECK((unsigned long long)herd_gguf_n_tensors(g) == v, "%s: n_tensors", name);
                else
                    CHECK((unsigned long long)herd_gguf_n_kv(g) == v, "%s: n_kv", name);
                continue;
            }
            n_kv_lines++;
            int64_t i = idx - 4;
            char *eq = strstr(rest, " = ");
            if (!eq)
                continue;
            *eq = '\0';
            const char *val = eq + 3;
            const char *key = herd_gguf_kv_key(g, i);
            CHECK(key && !strcmp(key, rest), "%s: KV %lld is '%s', dump says '%s'", name,
                  (long long)i, key ? key : "(none)", rest);
            if (!key || strcmp(key, rest))
                continue;
            bool arr = type[0] == '[';
            if (arr) {
                type[strlen(type) - 1] = '\0';
                herd_gguf_vtype et;
                uint64_t cnt;
                CHECK(herd_gguf_kv_arr(g, i, &et, &cnt, NULL) && (int)et == dump_vtype(type + 1) &&
                          cnt == count,
                      "%s: %s is not an array of %llu %s", name, key, count, type + 1);
                continue;
            }
            int vt = dump_vtype(type);
            CHECK((int)herd_gguf_kv_type(g, i) == vt, "%s: %s has type %s, dump says %s", name, key,
                  herd_gguf_vtype_name(herd_gguf_kv_type(g, i)), type);
            if (vt == HERD_GGUF_U32 || vt == HERD_GGUF_I32 || vt == HERD_GGUF_U64) {
                int64_t v;
                CHECK(herd_gguf_get_i64(g, key, &v) && v == strtoll(val, NULL, 10),
                      "%s: %s value, dump says %s", name, key, val);
            } else if (vt == HERD_GGUF_F32) {
                float v;
                CHECK(herd_gguf_get_f32(g, key, &v) && v == (float)strtod(val, NULL),
                      "%s: %s value, dump says %s", name, key, val);
            } else if (vt == HERD_GGUF_BOOL) {
                bool v;
                CHECK(herd_gguf_get_bool(g, key, &v) && v == !strcmp(val, "True"),
                      "%s: %s value, dump says %s", name, key, val);
            } else if (vt == HERD_GGUF_STRING && val[0] == '\'') {
                const char *sv;
                size_t len;
                size_t dl = strlen(val);
                bool cut = dl >= 5 && !strcmp(val + dl - 4, "...'");
                size_t cmp = cut ? dl - 5 : dl - 2; /* without quotes / "...'" */
                bool plain = !strchr(val, '\\');    /* the dump escapes newlines as \n */
                CHECK(herd_gguf_get_str(g, key, &sv, &len) &&
                          (!plain || (cut ? len >= cmp : len == cmp)) &&
                          (!plain || !memcmp(sv, val + 1, cmp)),
                      "%s: %s value, dump says %s", name, key, val);
            }
        } else if (section == 2) {
            int idx;
            unsigned long long nel;
            long long ne[4];
            char type[32], tname[512];
            if (sscanf(line, " %d: %llu | %lld, %lld, %lld, %lld | %31s | %511s", &idx, &nel,
                       &ne[0], &ne[1], &ne[2], &ne[3], type, tname) != 8)
                continue;
            n_t_lines++;
            const herd_gguf_tensor *t = herd_gguf_tensor_at(g, idx - 1);
            CHECK(t && !strcmp(t->name, tname), "%s: tensor %d is '%s', dump says '%s'", name,
                  idx - 1, t ? t->name : "(none)", tname);
            if (!t)
                continue;
            CHECK(t->ne[0] == ne[0] && t->ne[1] == ne[1] && t->ne[2] == ne[2] &&
                      t->ne[3] == ne[3] && (int)t->type == herd_type_from_name(type) &&
                      (unsigned long long)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]) == nel,
                  "%s: tensor %s differs from the dump", name, tname);
        }
    }
    fclose(f);
    CHECK(want_kv == herd_gguf_n_kv(g) && n_kv_lines == want_kv, "%s: %d KV lines, want %lld", name,
          n_kv_lines, want_kv);
    CHECK(want_t == herd_gguf_n_tensors(g) && n_t_lines == want_t, "%s: %d tensor lines, want %lld",
          name, n_t_lines, want_t);
    printf("  %s: %d keys and %d tensors match the dump\n", name, n_kv_lines, n_t_lines);
    herd_gguf_close(g);
}

static int test_reference(void)
{
    const char *ref = getenv("HERD_REFERENCE_DIR");
    char probe[1024];
    struct stat st;
    snprintf(probe, sizeof probe, "%s/models/tiny-llama4.gguf", ref ? ref : "");
    if (!ref || stat(probe, &st) != 0) {
        printf("\n*** SKIPPING the reference-model part: %s not found (set HERD_REFERENCE_DIR or "
               "the meson option reference_dir) ***\n\n",
               probe);
        return 77;
    }
    char models[1024];
    snprintf(models, sizeof models, "%s/models", ref);

    /* tiny-llama4.gguf (F32) */
    herd_gguf *g = open_ref(models, "tiny-llama4.gguf");
    if (g) {
        uint32_t u;
        float f;
        bool b;
        const char *s;
        size_t len;
        CHECK(herd_gguf_version(g) == 3, "version");
        CHECK(herd_gguf_n_kv(g) == 30, "kv count %lld", (long long)herd_gguf_n_kv(g));
        CHECK(herd_gguf_n_tensors(g) == 48, "tensor count");
        CHECK(herd_gguf_alignment(g) == 32, "alignment");
        CHECK(herd_gguf_get_str(g, "general.architecture", &s, &len) && len == 6 &&
                  !memcmp(s, "llama4", 6),
              "architecture");
        CHECK(herd_gguf_get_str(g, "general.name", &s, &len) &&
                  len == strlen("tiny-llama4-random") && !memcmp(s, "tiny-llama4-random", len),
              "name");
        CHECK(herd_gguf_get_u32(g, "llama4.block_count", &u) && u == 4, "block_count");
        CHECK(herd_gguf_get_u32(g, "llama4.context_length", &u) && u == 16384, "ctx");
        CHECK(herd_gguf_get_u32(g, "llama4.embedding_length", &u) && u == 256, "n_embd");
        CHECK(herd_gguf_get_u32(g, "llama4.attention.head_count_kv", &u) && u == 2, "kv heads");
        CHECK(herd_gguf_get_u32(g, "llama4.interleave_moe_layer_step", &u) && u == 2, "step");
        CHECK(herd_gguf_get_f32(g, "llama4.rope.freq_base", &f) && f == 500000.0f, "theta");
        CHECK(herd_gguf_get_f32(g, "llama4.attention.layer_norm_rms_epsilon", &f) &&
                  fabsf(f - 1e-5f) < 1e-9f,
              "eps");
        CHECK(herd_gguf_get_u32(g, "tokenizer.ggml.bos_token_id", &u) && u == 1024, "bos");
        CHECK(herd_gguf_get_u32(g, "tokenizer.ggml.eos_token_id", &u) && u == 1032, "eos");
        CHECK(herd_gguf_get_u32(g, "tokenizer.ggml.padding_token_id", &u) && u == 1042, "pad");
        CHECK(herd_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b) && b, "add_bos");
        CHECK(herd_gguf_get_str(g, "tokenizer.chat_template", &s, &len) && len > 100 &&
                  !memcmp(s, "{{- bos_token }}", 16),
              "template");
        herd_gguf_vtype et;
        uint64_t n;
        const void *data;
        CHECK(herd_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n, NULL) &&
                  et == HERD_GGUF_STRING && n == 3072,
              "tokens");
        const char **ptrs = calloc(3072, sizeof *ptrs);
        uint64_t *lens = calloc(3072, sizeof *lens);
        CHECK(herd_gguf_get_arr_str(g, "tokenizer.ggml.tokens", ptrs, lens, 3072), "tokens");
        CHECK(lens[0] == 2 && !memcmp(ptrs[0], "\xc3\x80", 2), "token 0 = 'À'");
        CHECK(lens[5] == 2 && !memcmp(ptrs[5], "\xc3\xb8", 2), "token 5 = 'ø'");
        CHECK(herd_gguf_get_arr(g, "tokenizer.ggml.merges", &et, &n, NULL) && n == 768, "merges");
        CHECK(herd_gguf_get_arr_str(g, "tokenizer.ggml.merges", ptrs, lens, 2) && lens[1] == 9 &&
                  !memcmp(ptrs[1], "\xc4\xa0\xc4\xa0 \xc4\xa0\xc4\xa0", 9),
              "merge 1 = 'ĠĠ ĠĠ'");
        free(ptrs);
        free(lens);
        CHECK(herd_gguf_get_arr(g, "tokenizer.ggml.token_type", &et, &n, &data) &&
                  et == HERD_GGUF_I32 && n == 3072,
              "token_type");
        int32_t tt;
        memcpy(&tt, data, 4);
        CHECK(tt == 1, "token_type[0]");
        memcpy(&tt, (const uint8_t *)data + 4 * 1024, 4);
        CHECK(tt == 3, "token_type[1024] (BOS) = CONTROL, got %d", tt);

        CHECK(!strcmp(herd_gguf_tensor_at(g, 0)->name, "rope_freqs.weight"), "first tensor");
        CHECK(!strcmp(herd_gguf_tensor_at(g, 47)->name, "output.weight"), "last tensor");
        check_tensor(g, "rope_freqs.weight", HERD_TYPE_F32, 16, 1, 1);
        check_tensor(g, "token_embd.weight", HERD_TYPE_F32, 256, 3072, 1);
        check_tensor(g, "blk.0.attn_k.weight", HERD_TYPE_F32, 256, 64, 1);
        check_tensor(g, "blk.0.ffn_down.weight", HERD_TYPE_F32, 512, 256, 1);
        check_tensor(g, "blk.1.ffn_gate_inp.weight", HERD_TYPE_F32, 256, 4, 1);
        check_tensor(g, "blk.3.ffn_down_exps.weight", HERD_TYPE_F32, 256, 256, 4);
        check_tensor(g, "output.weight", HERD_TYPE_F32, 256, 3072, 1);
        CHECK(!herd_gguf_find_tensor(g, "blk.0.ffn_gate_inp.weight"), "dense layer has no router");
        /* norm weights are 1 + N(0, 0.1^2) */
        const herd_gguf_tensor *t = herd_gguf_find_tensor(g, "output_norm.weight");
        if (t) {
            double sum = 0;
            for (int i = 0; i < 256; i++) {
                float v;
                memcpy(&v, (const float *)t->data + i, 4);
                sum += v;
            }
            CHECK(fabs(sum / 256 - 1.0) < 0.05, "output_norm mean %f", sum / 256);
        }
        check_extents(g);
        uint64_t params = 0;
        for (int64_t i = 0; i < herd_gguf_n_tensors(g); i++) {
            const herd_gguf_tensor *x = herd_gguf_tensor_at(g, i);
            params += (uint64_t)(x->ne[0] * x->ne[1] * x->ne[2] * x->ne[3]);
        }
        CHECK(params == 4985104, "parameter count %llu", (unsigned long long)params);
        herd_gguf_close(g);
    }

    /* quantized variants */
    g = open_ref(models, "tiny-llama4-Q4_K_M.gguf");
    if (g) {
        uint32_t u;
        CHECK(herd_gguf_n_kv(g) == 31 && herd_gguf_n_tensors(g) == 48, "Q4_K_M counts");
        CHECK(herd_gguf_get_u32(g, "general.file_type", &u) && u == 15, "file_type");
        CHECK(herd_gguf_get_u32(g, "general.quantization_version", &u) && u == 2, "qv");
        CHECK(!strcmp(herd_gguf_tensor_at(g, 0)->name, "output.weight"), "Q4_K_M first tensor");
        check_tensor(g, "output.weight", HERD_TYPE_Q6_K, 256, 3072, 1);
        check_tensor(g, "token_embd.weight", HERD_TYPE_Q4_K, 256, 3072, 1);
        check_tensor(g, "blk.2.attn_v.weight", HERD_TYPE_Q6_K, 256, 64, 1);
        check_tensor(g, "blk.0.attn_v.weight", HERD_TYPE_Q4_K, 256, 64, 1);
        check_tensor(g, "blk.3.ffn_down_exps.weight", HERD_TYPE_Q6_K, 256, 256, 4);
        check_tensor(g, "blk.1.ffn_gate_inp.weight", HERD_TYPE_F32, 256, 4, 1);
        check_extents(g);
        herd_gguf_close(g);
    }
    g = open_ref(models, "tiny-llama4-Q8_0.gguf");
    if (g) {
        CHECK(herd_gguf_n_tensors(g) == 48, "Q8_0 counts");
        check_tensor(g, "blk.0.attn_q.weight", HERD_TYPE_Q8_0, 256, 256, 1);
        check_tensor(g, "blk.1.ffn_up_exps.weight", HERD_TYPE_Q8_0, 256, 256, 4);
        check_tensor(g, "blk.0.attn_norm.weight", HERD_TYPE_F32, 256, 1, 1);
        check_extents(g);
        herd_gguf_close(g);
    }
    g = open_ref(models, "tiny-llama4-Q4_0.gguf");
    if (g) {
        CHECK(herd_gguf_n_tensors(g) == 48, "Q4_0 counts");
        check_tensor(g, "blk.0.attn_q.weight", HERD_TYPE_Q4_0, 256, 256, 1);
        check_tensor(g, "output.weight", HERD_TYPE_Q6_K, 256, 3072, 1);
        check_extents(g);
        herd_gguf_close(g);
    }

    /* mmproj */
    g = open_ref(models, "tiny-mmproj-llama4.gguf");
    if (g) {
        uint32_t u;
        bool b;
        float f;
        const char *s;
        size_t len;
        CHECK(herd_gguf_n_kv(g) == 18 && herd_gguf_n_tensors(g) == 42, "mmproj counts");
        CHECK(herd_gguf_get_str(g, "general.architecture", &s, &len) && len == 4 &&
                  !memcmp(s, "clip", 4),
              "clip");
        CHECK(herd_gguf_get_str(g, "clip.projector_type", &s, &len) && len == 6 &&
                  !memcmp(s, "llama4", 6),
              "projector_type");
        CHECK(herd_gguf_get_bool(g, "clip.use_gelu", &b) && b, "use_gelu");
        CHECK(herd_gguf_get_u32(g, "clip.vision.image_size", &u) && u == 336, "image_size");
        CHECK(herd_gguf_get_u32(g, "clip.vision.patch_size", &u) && u == 14, "patch");
        CHECK(herd_gguf_get_u32(g, "clip.vision.projector.scale_factor", &u) && u == 2, "scale");
        CHECK(herd_gguf_get_f32(g, "clip.vision.attention.layer_norm_epsilon", &f) &&
                  fabsf(f - 1e-5f) < 1e-9f,
              "eps");
        herd_gguf_vtype et;
        uint64_t n;
        const void *data;
        CHECK(herd_gguf_get_arr(g, "clip.vision.image_mean", &et, &n, &data) &&
                  et == HERD_GGUF_F32 && n == 3,
              "image_mean");
        float mean[3];
        memcpy(mean, data, sizeof mean);
        CHECK(mean[0] == 0.5f && mean[1] == 0.5f && mean[2] == 0.5f, "mean values");
        check_tensor(g, "v.patch_embd.weight", HERD_TYPE_F32, 588, 64, 1);
        check_tensor(g, "v.class_embd", HERD_TYPE_F32, 64, 1, 1);
        check_tensor(g, "v.position_embd.weight", HERD_TYPE_F32, 64, 577, 1);
        check_tensor(g, "v.blk.1.ffn_down.weight", HERD_TYPE_F32, 256, 64, 1);
        check_extents(g);
        herd_gguf_close(g);
    }

    /* vocabulary-only file */
    g = open_ref(ref, "vocab-llama4.gguf");
    if (g) {
        uint32_t u;
        herd_gguf_vtype et;
        uint64_t n;
        CHECK(herd_gguf_n_tensors(g) == 0 && herd_gguf_n_kv(g) == 30, "vocab counts");
        CHECK(herd_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n, NULL) && n == 202048,
              "202048 tokens");
        CHECK(herd_gguf_get_arr(g, "tokenizer.ggml.merges", &et, &n, NULL) && n == 199744,
              "199744 merges");
        CHECK(herd_gguf_get_u32(g, "tokenizer.ggml.eos_token_id", &u) && u == 200008, "eos");
        CHECK(herd_gguf_get_u32(g, "llama4.context_length", &u) && u == 10485760, "ctx");
        const char **ptrs = calloc(202048, sizeof *ptrs);
        uint64_t *lens = calloc(202048, sizeof *lens);
        CHECK(herd_gguf_get_arr_str(g, "tokenizer.ggml.tokens", ptrs, lens, 202048), "all");
        CHECK(lens[200000] == 17 && !memcmp(ptrs[200000], "<|begin_of_text|>", 17), "BOS text");
        free(ptrs);
        free(lens);
        herd_gguf_close(g);
    }
    static const char *const dumps[][2] = {
        { "tiny-llama4", "models/tiny-llama4.gguf" },
        { "tiny-llama4-Q4_0", "models/tiny-llama4-Q4_0.gguf" },
        { "tiny-llama4-Q4_K_M", "models/tiny-llama4-Q4_K_M.gguf" },
        { "tiny-llama4-Q8_0", "models/tiny-llama4-Q8_0.gguf" },
        { "tiny-mmproj-llama4", "models/tiny-mmproj-llama4.gguf" },
        { "vocab-llama4", "vocab-llama4.gguf" },
    };
    for (size_t i = 0; i < sizeof dumps / sizeof dumps[0]; i++)
        check_dump(ref, dumps[i][0], dumps[i][1]);
    printf("reference models: checked\n");
    return 0;
}

int main(void)
{
    test_valid();
    test_broken();
    test_truncation();
    test_mutations();
    test_files();
    int ref = test_reference();
    printf("%d checks, %d failed%s\n", checks, failures,
           ref == 77 ? " (reference part skipped)" : "");
    if (failures)
        return 1;
    return ref == 77 ? 77 : 0;
}
