/* gguf.c: GGUF v2/v3 reader. Everything is validated at open; accessors trust the checked
 * offsets stored here. The file is little-endian; so is every machine Herd targets. */
#include "gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GGUF_HEADER_SIZE 24u
#define MIN_KV_BYTES     13u /* key length (8) + value type (4) + smallest value (1) */
#define MIN_TENSOR_BYTES \
    32u /* name length (8) + n_dims (4) + one dim (8) + type (4) + offset (8) */

typedef struct gguf_kv {
    char *key;
    uint64_t rec_off; /* where the record (key length) starts */
    herd_gguf_vtype type;
    uint64_t val_off;          /* where the value starts (after the type field) */
    herd_gguf_vtype elem_type; /* arrays only */
    uint64_t n;                /* arrays: element count; strings: byte length */
    uint64_t data_off;         /* arrays: first element; strings: first byte */
} gguf_kv;

struct herd_gguf {
    const uint8_t *base;
    size_t size;
    void *map; /* non-NULL when we own an mmap of `size` bytes */
    char *path;
    uint32_t version;
    uint32_t alignment;
    uint64_t data_offset;
    int64_t n_kv;
    gguf_kv *kv;
    int64_t n_tensors;
    herd_gguf_tensor *tensors;
    int64_t *kv_hash; /* open addressing, -1 = empty */
    size_t kv_hash_cap;
    int64_t *t_hash;
    size_t t_hash_cap;
    uint64_t *t_rec_off; /* where each tensor's info record starts (for messages) */
};

static const uint8_t vtype_size[HERD_GGUF_VTYPE_COUNT] = {
    [HERD_GGUF_U8] = 1,     [HERD_GGUF_I8] = 1,    [HERD_GGUF_U16] = 2, [HERD_GGUF_I16] = 2,
    [HERD_GGUF_U32] = 4,    [HERD_GGUF_I32] = 4,   [HERD_GGUF_F32] = 4, [HERD_GGUF_BOOL] = 1,
    [HERD_GGUF_STRING] = 0, [HERD_GGUF_ARRAY] = 0, [HERD_GGUF_U64] = 8, [HERD_GGUF_I64] = 8,
    [HERD_GGUF_F64] = 8,
};

static const char *const vtype_names[HERD_GGUF_VTYPE_COUNT] = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64",
};

const char *herd_gguf_vtype_name(herd_gguf_vtype t)
{
    return (unsigned)t < HERD_GGUF_VTYPE_COUNT ? vtype_names[t] : "?";
}

/* ---------------------------------------------------------------------------------------------
 * Hashing (FNV-1a) for keys and tensor names */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (uint8_t)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static size_t hash_cap_for(int64_t n)
{
    size_t cap = 16;
    while (cap < (size_t)n * 2)
        cap <<= 1;
    return cap;
}

/* Returns the slot holding `name`, or the empty slot where it would go. */
static size_t hash_slot(const int64_t *table, size_t cap, const char *name,
                        const char *(*name_of)(const herd_gguf *, int64_t), const herd_gguf *g)
{
    size_t mask = cap - 1;
    size_t i = (size_t)hash_str(name) & mask;
    while (table[i] >= 0 && strcmp(name_of(g, table[i]), name) != 0)
        i = (i + 1) & mask;
    return i;
}

static const char *kv_name_of(const herd_gguf *g, int64_t i)
{
    return g->kv[i].key;
}

static const char *tensor_name_of(const herd_gguf *g, int64_t i)
{
    return g->tensors[i].name;
}

/* ---------------------------------------------------------------------------------------------
 * Parsing */

typedef struct parser {
    herd_gguf *g;
    herd_error *err;
    size_t pos;
    const char *what; /* "key 'x'" / "key #3" / "tensor 'y'" for messages */
    uint64_t rec_off; /* offset of the record being parsed */
    char what_buf[160];
} parser;

__attribute__((format(printf, 3, 4))) static herd_status fail(parser *p, herd_status code,
                                                              const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (p->what)
        return herd_error_set(p->err, code, "%s: %s at offset %llu: %s", p->g->path, p->what,
                              (unsigned long long)p->rec_off, msg);
    return herd_error_set(p->err, code, "%s: %s", p->g->path, msg);
}

/* Describes a record for messages; names are cut and escaped so messages stay one line. */
static void set_what(parser *p, const char *kind, const char *name, int64_t index)
{
    if (!name) {
        snprintf(p->what_buf, sizeof p->what_buf, "%s #%lld", kind, (long long)index);
    } else {
        char esc[100];
        size_t j = 0;
        for (const char *s = name; *s && j + 5 < sizeof esc; s++) {
            unsigned char c = (unsigned char)*s;
            if (c < 0x20 || c == 0x7f || c == '\'') {
                j += (size_t)snprintf(esc + j, sizeof esc - j, "\\x%02x", c);
            } else {
                esc[j++] = (char)c;
            }
        }
        esc[j] = '\0';
        snprintf(p->what_buf, sizeof p->what_buf, "%s '%s%s'", kind, esc,
                 strlen(name) > j ? "..." : "");
    }
    p->what = p->what_buf;
}

static size_t remaining(const parser *p)
{
    return p->g->size - p->pos;
}

static bool rd(parser *p, void *out, size_t n)
{
    if (remaining(p) < n)
        return false;
    memcpy(out, p->g->base + p->pos, n);
    p->pos += n;
    return true;
}

static herd_status rd_u32(parser *p, uint32_t *v, const char *field)
{
    size_t at = p->pos;
    if (!rd(p, v, 4))
        return fail(p, HERD_ERR_FORMAT, "%s at offset %zu extends past end of file (size %zu)",
                    field, at, p->g->size);
    return HERD_OK;
}

static herd_status rd_u64(parser *p, uint64_t *v, const char *field)
{
    size_t at = p->pos;
    if (!rd(p, v, 8))
        return fail(p, HERD_ERR_FORMAT, "%s at offset %zu extends past end of file (size %zu)",
                    field, at, p->g->size);
    return HERD_OK;
}

/* Reads a gguf_string header and checks that the bytes are in the file; leaves pos after it. */
static herd_status rd_string(parser *p, uint64_t *len, uint64_t *data_off, const char *field)
{
    size_t at = p->pos;
    herd_status st = rd_u64(p, len, field);
    if (st)
        return st;
    if (*len > remaining(p))
        return fail(p, HERD_ERR_FORMAT,
                    "%s length %llu at offset %zu extends past end of file (size %zu)", field,
                    (unsigned long long)*len, at, p->g->size);
    *data_off = p->pos;
    p->pos += (size_t)*len;
    return HERD_OK;
}

/* Reads a name (key or tensor name) into a fresh NUL-terminated copy. */
static herd_status rd_name(parser *p, char **out, const char *field)
{
    uint64_t len, off;
    herd_status st = rd_string(p, &len, &off, field);
    if (st)
        return st;
    if (len == 0)
        return fail(p, HERD_ERR_FORMAT, "empty %s at offset %llu", field,
                    (unsigned long long)(off - 8));
    if (len > HERD_GGUF_MAX_NAME)
        return fail(p, HERD_ERR_FORMAT, "%s length %llu exceeds %u bytes", field,
                    (unsigned long long)len, HERD_GGUF_MAX_NAME);
    if (memchr(p->g->base + off, 0, (size_t)len))
        return fail(p, HERD_ERR_FORMAT, "%s at offset %llu contains a NUL byte", field,
                    (unsigned long long)(off - 8));
    char *s = malloc((size_t)len + 1);
    if (!s)
        return fail(p, HERD_ERR_NOMEM, "out of memory for a %s", field);
    memcpy(s, p->g->base + off, (size_t)len);
    s[len] = '\0';
    *out = s;
    return HERD_OK;
}

static herd_status rd_vtype(parser *p, herd_gguf_vtype *t, const char *field)
{
    size_t at = p->pos;
    uint32_t v;
    herd_status st = rd_u32(p, &v, field);
    if (st)
        return st;
    if (v >= HERD_GGUF_VTYPE_COUNT)
        return fail(p, HERD_ERR_FORMAT, "unknown %s %u at offset %zu", field, v, at);
    *t = (herd_gguf_vtype)v;
    return HERD_OK;
}

/* Validates and skips one value of type t (arrays recursively, at most MAX_ARRAY_DEPTH deep). */
static herd_status skip_value(parser *p, herd_gguf_vtype t, int depth)
{
    herd_status st;
    if (vtype_size[t]) {
        size_t at = p->pos;
        if (remaining(p) < vtype_size[t])
            return fail(p, HERD_ERR_FORMAT,
                        "%s value at offset %zu extends past end of file "
                        "(size %zu)",
                        vtype_names[t], at, p->g->size);
        p->pos += vtype_size[t];
        return HERD_OK;
    }
    if (t == HERD_GGUF_STRING) {
        uint64_t len, off;
        return rd_string(p, &len, &off, "string");
    }
    /* array */
    if (depth >= HERD_GGUF_MAX_ARRAY_DEPTH)
        return fail(p, HERD_ERR_FORMAT, "arrays nested deeper than %d at offset %zu",
                    HERD_GGUF_MAX_ARRAY_DEPTH, p->pos);
    herd_gguf_vtype et = HERD_GGUF_U8;
    uint64_t n = 0;
    size_t at = p->pos;
    if ((st = rd_vtype(p, &et, "array element type")) || (st = rd_u64(p, &n, "array count")))
        return st;
    /* every element needs at least this many bytes: catches lying counts before looping */
    size_t min = vtype_size[et] ? vtype_size[et] : et == HERD_GGUF_STRING ? 8 : 12;
    if (n > remaining(p) / min)
        return fail(p, HERD_ERR_FORMAT,
                    "array of %llu %s at offset %zu extends past end of file "
                    "(size %zu)",
                    (unsigned long long)n, vtype_names[et], at, p->g->size);
    if (vtype_size[et]) {
        p->pos += (size_t)n * vtype_size[et];
        return HERD_OK;
    }
    for (uint64_t i = 0; i < n; i++)
        if ((st = skip_value(p, et, depth + 1)))
            return st;
    return HERD_OK;
}

static herd_status parse_kv(parser *p, int64_t i)
{
    herd_gguf *g = p->g;
    gguf_kv *kv = &g->kv[i];
    herd_status st;

    p->rec_off = p->pos;
    kv->rec_off = p->pos;
    set_what(p, "key", NULL, i);
    if ((st = rd_name(p, &kv->key, "key")))
        return st;
    set_what(p, "key", kv->key, i);

    size_t slot = hash_slot(g->kv_hash, g->kv_hash_cap, kv->key, kv_name_of, g);
    if (g->kv_hash[slot] >= 0)
        return fail(p, HERD_ERR_FORMAT, "duplicate key (first at offset %llu)",
                    (unsigned long long)g->kv[g->kv_hash[slot]].rec_off);
    g->kv_hash[slot] = i;

    if ((st = rd_vtype(p, &kv->type, "value type")))
        return st;
    kv->val_off = p->pos;
    if (kv->type == HERD_GGUF_STRING) {
        if ((st = rd_string(p, &kv->n, &kv->data_off, "string")))
            return st;
    } else if (kv->type == HERD_GGUF_ARRAY) {
        size_t start = p->pos;
        if ((st = skip_value(p, HERD_GGUF_ARRAY, 0)))
            return st;
        uint32_t et;
        memcpy(&et, g->base + start, 4);
        memcpy(&kv->n, g->base + start + 4, 8);
        kv->elem_type = (herd_gguf_vtype)et;
        kv->data_off = start + 12;
    } else if ((st = skip_value(p, kv->type, 0))) {
        return st;
    }
    return HERD_OK;
}

static bool mul_u64(uint64_t a, uint64_t b, uint64_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}

static herd_status parse_tensor_info(parser *p, int64_t i)
{
    herd_gguf *g = p->g;
    herd_gguf_tensor *t = &g->tensors[i];
    herd_status st;
    char *name = NULL;

    p->rec_off = p->pos;
    g->t_rec_off[i] = p->pos;
    set_what(p, "tensor", NULL, i);
    if ((st = rd_name(p, &name, "tensor name")))
        return st;
    t->name = name;
    set_what(p, "tensor", name, i);

    size_t slot = hash_slot(g->t_hash, g->t_hash_cap, name, tensor_name_of, g);
    if (g->t_hash[slot] >= 0)
        return fail(p, HERD_ERR_FORMAT, "duplicate tensor name (first is tensor #%lld)",
                    (long long)g->t_hash[slot]);
    g->t_hash[slot] = i;

    if ((st = rd_u32(p, &t->n_dims, "n_dims")))
        return st;
    if (t->n_dims == 0 || t->n_dims > HERD_GGUF_MAX_DIMS)
        return fail(p, HERD_ERR_FORMAT, "n_dims %u out of range (1..%d)", t->n_dims,
                    HERD_GGUF_MAX_DIMS);
    uint64_t ne[4] = { 1, 1, 1, 1 };
    for (uint32_t d = 0; d < t->n_dims; d++)
        if ((st = rd_u64(p, &ne[d], "dimension")))
            return st;
    uint32_t type;
    uint64_t offset;
    if ((st = rd_u32(p, &type, "tensor type")) || (st = rd_u64(p, &offset, "data offset")))
        return st;

    uint64_t nel = 1;
    for (int d = 0; d < 4; d++) {
        if (ne[d] == 0 || ne[d] > (uint64_t)INT64_MAX || !mul_u64(nel, ne[d], &nel) ||
            nel > (uint64_t)INT64_MAX)
            return fail(p, HERD_ERR_FORMAT, "absurd dimensions [%llu, %llu, %llu, %llu]",
                        (unsigned long long)ne[0], (unsigned long long)ne[1],
                        (unsigned long long)ne[2], (unsigned long long)ne[3]);
        t->ne[d] = (int64_t)ne[d];
    }
    const herd_type_info *ti = herd_type_get(type);
    if (!ti)
        return fail(p, HERD_ERR_UNSUPPORTED, "unknown tensor type %u", type);
    t->type = (herd_type)type;
    if (ne[0] % ti->blck)
        return fail(p, HERD_ERR_FORMAT, "ne[0] = %llu is not a multiple of the %s block size %u",
                    (unsigned long long)ne[0], ti->name, ti->blck);
    uint64_t size;
    if (!mul_u64(nel / ti->blck, ti->bytes, &size) || size > SIZE_MAX)
        return fail(p, HERD_ERR_FORMAT,
                    "absurd dimensions [%llu, %llu, %llu, %llu]: size "
                    "overflows",
                    (unsigned long long)ne[0], (unsigned long long)ne[1], (unsigned long long)ne[2],
                    (unsigned long long)ne[3]);
    t->size = (size_t)size;
    t->offset = offset;
    return HERD_OK;
}

static herd_status check_tensor_data(parser *p, int64_t i)
{
    herd_gguf *g = p->g;
    herd_gguf_tensor *t = &g->tensors[i];
    set_what(p, "tensor", t->name, i);
    p->rec_off = g->t_rec_off[i];
    if (t->offset % g->alignment)
        return fail(p, HERD_ERR_FORMAT, "data offset %llu is not a multiple of the alignment %u",
                    (unsigned long long)t->offset, g->alignment);
    uint64_t avail = g->data_offset <= g->size ? g->size - g->data_offset : 0;
    if (t->offset > avail || t->size > avail - t->offset)
        return fail(p, HERD_ERR_FORMAT,
                    "data extends past end of file (data offset %llu + "
                    "%zu bytes, data section starts at %llu, file size %zu)",
                    (unsigned long long)t->offset, t->size, (unsigned long long)g->data_offset,
                    g->size);
    t->data = g->base + g->data_offset + t->offset;
    return HERD_OK;
}

static herd_status parse(herd_gguf *g, herd_error *err)
{
    parser P = { .g = g, .err = err }, *p = &P;
    herd_status st;
    uint32_t magic = 0;

    if (g->size < 4 || (memcpy(&magic, g->base, 4), magic != HERD_GGUF_MAGIC))
        return fail(p, HERD_ERR_FORMAT, "not a GGUF file (bad magic at offset 0%s)",
                    g->size < 4 ? ": file shorter than 4 bytes" : "");
    p->pos = 4;
    if ((st = rd_u32(p, &g->version, "version")))
        return st;
    if (g->version != 2 && g->version != 3) {
        uint32_t sw = __builtin_bswap32(g->version);
        if (sw == 2 || sw == 3)
            return fail(p, HERD_ERR_UNSUPPORTED, "big-endian GGUF files are not supported");
        if (g->version == 1)
            return fail(p, HERD_ERR_UNSUPPORTED,
                        "GGUF version 1 is not supported (expected 2 "
                        "or 3; convert the file again)");
        return fail(p, HERD_ERR_UNSUPPORTED,
                    "GGUF version %u at offset 4 is not supported "
                    "(expected 2 or 3)",
                    g->version);
    }
    uint64_t n_tensors, n_kv;
    if ((st = rd_u64(p, &n_tensors, "tensor count")) || (st = rd_u64(p, &n_kv, "KV count")))
        return st;
    size_t rest = remaining(p);
    if (n_kv > rest / MIN_KV_BYTES)
        return fail(p, HERD_ERR_FORMAT,
                    "KV count %llu at offset 16 is impossible for a file of "
                    "%zu bytes",
                    (unsigned long long)n_kv, g->size);
    if (n_tensors > rest / MIN_TENSOR_BYTES ||
        n_kv * MIN_KV_BYTES + n_tensors * MIN_TENSOR_BYTES > rest)
        return fail(p, HERD_ERR_FORMAT,
                    "tensor count %llu at offset 8 is impossible for a file "
                    "of %zu bytes with %llu KVs",
                    (unsigned long long)n_tensors, g->size, (unsigned long long)n_kv);
    if (n_kv > HERD_GGUF_MAX_COUNT || n_tensors > HERD_GGUF_MAX_COUNT)
        return fail(p, HERD_ERR_LIMIT, "%llu KVs and %llu tensors exceed the limit of %u",
                    (unsigned long long)n_kv, (unsigned long long)n_tensors, HERD_GGUF_MAX_COUNT);

    g->kv = calloc(n_kv ? (size_t)n_kv : 1, sizeof *g->kv);
    g->tensors = calloc(n_tensors ? (size_t)n_tensors : 1, sizeof *g->tensors);
    g->kv_hash_cap = hash_cap_for((int64_t)n_kv);
    g->t_hash_cap = hash_cap_for((int64_t)n_tensors);
    g->kv_hash = malloc(g->kv_hash_cap * sizeof *g->kv_hash);
    g->t_hash = malloc(g->t_hash_cap * sizeof *g->t_hash);
    g->t_rec_off = calloc(n_tensors ? (size_t)n_tensors : 1, sizeof *g->t_rec_off);
    if (!g->kv || !g->tensors || !g->kv_hash || !g->t_hash || !g->t_rec_off)
        return fail(p, HERD_ERR_NOMEM, "out of memory for %llu KVs and %llu tensors",
                    (unsigned long long)n_kv, (unsigned long long)n_tensors);
    memset(g->kv_hash, 0xff, g->kv_hash_cap * sizeof *g->kv_hash);
    memset(g->t_hash, 0xff, g->t_hash_cap * sizeof *g->t_hash);

    for (uint64_t i = 0; i < n_kv; i++) {
        g->n_kv = (int64_t)i + 1; /* so close() frees what this record allocated */
        if ((st = parse_kv(p, (int64_t)i)))
            return st;
    }

    g->alignment = HERD_GGUF_DEFAULT_ALIGNMENT;
    int64_t ai = herd_gguf_find_key(g, "general.alignment");
    if (ai >= 0) {
        uint32_t a;
        p->rec_off = g->kv[ai].rec_off;
        set_what(p, "key", "general.alignment", ai);
        if (!herd_gguf_get_u32(g, "general.alignment", &a))
            return fail(p, HERD_ERR_FORMAT, "alignment must be an integer in u32 range (got %s)",
                        herd_gguf_vtype_name(g->kv[ai].type));
        if (a == 0 || (a & (a - 1)))
            return fail(p, HERD_ERR_FORMAT, "alignment %u is not a non-zero power of two", a);
        g->alignment = a;
    }

    for (uint64_t i = 0; i < n_tensors; i++) {
        g->n_tensors = (int64_t)i + 1;
        if ((st = parse_tensor_info(p, (int64_t)i)))
            return st;
    }

    g->data_offset = ((uint64_t)p->pos + g->alignment - 1) / g->alignment * g->alignment;
    for (uint64_t i = 0; i < n_tensors; i++)
        if ((st = check_tensor_data(p, (int64_t)i)))
            return st;
    return HERD_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Open / close */

static herd_gguf *gguf_new(const char *name, herd_error *err)
{
    herd_gguf *g = calloc(1, sizeof *g);
    if (g)
        g->path = strdup(name);
    if (!g || !g->path) {
        free(g);
        herd_error_set(err, HERD_ERR_NOMEM, "%s: out of memory", name);
        return NULL;
    }
    return g;
}

herd_gguf *herd_gguf_open_memory(const void *data, size_t size, const char *name, herd_error *err)
{
    if (!name)
        name = "<memory>";
    if (!data && size) {
        herd_error_set(err, HERD_ERR_INVALID, "%s: NULL data", name);
        return NULL;
    }
    herd_gguf *g = gguf_new(name, err);
    if (!g)
        return NULL;
    g->base = data ? data : (const uint8_t *)"";
    g->size = size;
    if (parse(g, err)) {
        herd_gguf_close(g);
        return NULL;
    }
    herd_error_clear(err);
    return g;
}

herd_gguf *herd_gguf_open(const char *path, herd_error *err)
{
    if (!path) {
        herd_error_set(err, HERD_ERR_INVALID, "herd_gguf_open: NULL path");
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        herd_error_set(err, HERD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat stbuf;
    if (fstat(fd, &stbuf) < 0) {
        herd_error_set(err, HERD_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    if (!S_ISREG(stbuf.st_mode)) {
        herd_error_set(err, HERD_ERR_IO, "%s: not a regular file", path);
        close(fd);
        return NULL;
    }
    if ((uint64_t)stbuf.st_size > SIZE_MAX) {
        herd_error_set(err, HERD_ERR_IO, "%s: file too large to map", path);
        close(fd);
        return NULL;
    }
    herd_gguf *g = gguf_new(path, err);
    if (!g) {
        close(fd);
        return NULL;
    }
    g->size = (size_t)stbuf.st_size;
    g->base = (const uint8_t *)"";
    if (g->size) {
        void *m = mmap(NULL, g->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            herd_error_set(err, HERD_ERR_IO, "%s: cannot map %zu bytes: %s", path, g->size,
                           strerror(errno));
            close(fd);
            g->size = 0;
            herd_gguf_close(g);
            return NULL;
        }
        g->map = m;
        g->base = m;
    }
    close(fd);
    if (parse(g, err)) {
        herd_gguf_close(g);
        return NULL;
    }
    herd_error_clear(err);
    return g;
}

void herd_gguf_close(herd_gguf *g)
{
    if (!g)
        return;
    for (int64_t i = 0; i < g->n_kv; i++)
        free(g->kv[i].key);
    for (int64_t i = 0; i < g->n_tensors; i++)
        free((char *)g->tensors[i].name);
    free(g->kv);
    free(g->tensors);
    free(g->kv_hash);
    free(g->t_hash);
    free(g->t_rec_off);
    if (g->map)
        munmap(g->map, g->size);
    free(g->path);
    free(g);
}

/* ---------------------------------------------------------------------------------------------
 * Accessors */

uint32_t herd_gguf_version(const herd_gguf *g)
{
    return g->version;
}
uint32_t herd_gguf_alignment(const herd_gguf *g)
{
    return g->alignment;
}
uint64_t herd_gguf_data_offset(const herd_gguf *g)
{
    return g->data_offset;
}
const void *herd_gguf_base(const herd_gguf *g)
{
    return g->base;
}
size_t herd_gguf_file_size(const herd_gguf *g)
{
    return g->size;
}
const char *herd_gguf_path(const herd_gguf *g)
{
    return g->path;
}
int64_t herd_gguf_n_kv(const herd_gguf *g)
{
    return g->n_kv;
}
int64_t herd_gguf_n_tensors(const herd_gguf *g)
{
    return g->n_tensors;
}

const char *herd_gguf_kv_key(const herd_gguf *g, int64_t i)
{
    return i >= 0 && i < g->n_kv ? g->kv[i].key : NULL;
}

herd_gguf_vtype herd_gguf_kv_type(const herd_gguf *g, int64_t i)
{
    return i >= 0 && i < g->n_kv ? g->kv[i].type : HERD_GGUF_VTYPE_COUNT;
}

int64_t herd_gguf_find_key(const herd_gguf *g, const char *key)
{
    if (!g || !key || !g->kv_hash)
        return -1;
    return g->kv_hash[hash_slot(g->kv_hash, g->kv_hash_cap, key, kv_name_of, g)];
}

const herd_gguf_tensor *herd_gguf_tensor_at(const herd_gguf *g, int64_t i)
{
    return i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}

const herd_gguf_tensor *herd_gguf_find_tensor(const herd_gguf *g, const char *name)
{
    if (!g || !name || !g->t_hash)
        return NULL;
    int64_t i = g->t_hash[hash_slot(g->t_hash, g->t_hash_cap, name, tensor_name_of, g)];
    return i >= 0 ? &g->tensors[i] : NULL;
}

static const gguf_kv *kv_get(const herd_gguf *g, const char *key)
{
    int64_t i = herd_gguf_find_key(g, key);
    return i >= 0 ? &g->kv[i] : NULL;
}

/* Integer value of a scalar at p of type t. *is_neg set for negative signed values. */
static bool read_int(const uint8_t *p, herd_gguf_vtype t, uint64_t *mag, bool *neg)
{
    union {
        uint8_t u8;
        int8_t i8;
        uint16_t u16;
        int16_t i16;
        uint32_t u32;
        int32_t i32;
        uint64_t u64;
        int64_t i64;
    } v;
    int64_t s;
    *neg = false;
    switch (t) {
    case HERD_GGUF_U8:
        memcpy(&v.u8, p, 1);
        *mag = v.u8;
        return true;
    case HERD_GGUF_U16:
        memcpy(&v.u16, p, 2);
        *mag = v.u16;
        return true;
    case HERD_GGUF_U32:
        memcpy(&v.u32, p, 4);
        *mag = v.u32;
        return true;
    case HERD_GGUF_U64:
        memcpy(&v.u64, p, 8);
        *mag = v.u64;
        return true;
    case HERD_GGUF_I8:
        memcpy(&v.i8, p, 1);
        s = v.i8;
        break;
    case HERD_GGUF_I16:
        memcpy(&v.i16, p, 2);
        s = v.i16;
        break;
    case HERD_GGUF_I32:
        memcpy(&v.i32, p, 4);
        s = v.i32;
        break;
    case HERD_GGUF_I64:
        memcpy(&v.i64, p, 8);
        s = v.i64;
        break;
    default:
        return false;
    }
    *neg = s < 0;
    *mag = s < 0 ? (uint64_t)0 - (uint64_t)s : (uint64_t)s;
    return true;
}

static bool get_int(const herd_gguf *g, const char *key, uint64_t *mag, bool *neg)
{
    const gguf_kv *kv = kv_get(g, key);
    return kv && read_int(g->base + kv->val_off, kv->type, mag, neg);
}

bool herd_gguf_get_u32(const herd_gguf *g, const char *key, uint32_t *out)
{
    uint64_t m;
    bool neg;
    if (!get_int(g, key, &m, &neg) || neg || m > UINT32_MAX)
        return false;
    *out = (uint32_t)m;
    return true;
}

bool herd_gguf_get_u64(const herd_gguf *g, const char *key, uint64_t *out)
{
    uint64_t m;
    bool neg;
    if (!get_int(g, key, &m, &neg) || neg)
        return false;
    *out = m;
    return true;
}

bool herd_gguf_get_i64(const herd_gguf *g, const char *key, int64_t *out)
{
    uint64_t m;
    bool neg;
    if (!get_int(g, key, &m, &neg))
        return false;
    if (!neg && m > (uint64_t)INT64_MAX)
        return false;
    *out = neg ? (int64_t)(0 - m) : (int64_t)m; /* 0 - m wraps to the right value for INT64_MIN */
    return true;
}

bool herd_gguf_get_f64(const herd_gguf *g, const char *key, double *out)
{
    const gguf_kv *kv = kv_get(g, key);
    if (!kv)
        return false;
    if (kv->type == HERD_GGUF_F32) {
        float f;
        memcpy(&f, g->base + kv->val_off, 4);
        *out = f;
        return true;
    }
    if (kv->type == HERD_GGUF_F64) {
        memcpy(out, g->base + kv->val_off, 8);
        return true;
    }
    return false;
}

bool herd_gguf_get_f32(const herd_gguf *g, const char *key, float *out)
{
    double d;
    if (!herd_gguf_get_f64(g, key, &d))
        return false;
    *out = (float)d;
    return true;
}

bool herd_gguf_get_bool(const herd_gguf *g, const char *key, bool *out)
{
    const gguf_kv *kv = kv_get(g, key);
    if (!kv || kv->type != HERD_GGUF_BOOL)
        return false;
    *out = g->base[kv->val_off] != 0;
    return true;
}

bool herd_gguf_get_str(const herd_gguf *g, const char *key, const char **s, size_t *len)
{
    const gguf_kv *kv = kv_get(g, key);
    if (!kv || kv->type != HERD_GGUF_STRING)
        return false;
    if (s)
        *s = (const char *)g->base + kv->data_off;
    if (len)
        *len = (size_t)kv->n;
    return true;
}

bool herd_gguf_kv_arr(const herd_gguf *g, int64_t i, herd_gguf_vtype *elem_type, uint64_t *n,
                      const void **data)
{
    if (i < 0 || i >= g->n_kv || g->kv[i].type != HERD_GGUF_ARRAY)
        return false;
    if (elem_type)
        *elem_type = g->kv[i].elem_type;
    if (n)
        *n = g->kv[i].n;
    if (data)
        *data = g->base + g->kv[i].data_off;
    return true;
}

bool herd_gguf_get_arr(const herd_gguf *g, const char *key, herd_gguf_vtype *elem_type, uint64_t *n,
                       const void **data)
{
    return herd_gguf_kv_arr(g, herd_gguf_find_key(g, key), elem_type, n, data);
}

bool herd_gguf_get_arr_str(const herd_gguf *g, const char *key, const char **ptrs, uint64_t *lens,
                           uint64_t n)
{
    const gguf_kv *kv = kv_get(g, key);
    if (!kv || kv->type != HERD_GGUF_ARRAY || kv->elem_type != HERD_GGUF_STRING || n > kv->n)
        return false;
    uint64_t off = kv->data_off; /* validated at open: every string fits */
    for (uint64_t i = 0; i < n; i++) {
        uint64_t len;
        memcpy(&len, g->base + off, 8);
        ptrs[i] = (const char *)g->base + off + 8;
        lens[i] = len;
        off += 8 + len;
    }
    return true;
}

/* ---------------------------------------------------------------------------------------------
 * Formatting */

typedef struct sbuf {
    char *buf;
    size_t cap, len; /* len may exceed cap - 1: output is cut */
} sbuf;

__attribute__((format(printf, 2, 3))) static void sb_printf(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = b->len < b->cap ? b->cap - b->len : 0;
    int k = vsnprintf(room ? b->buf + b->len : NULL, room, fmt, ap);
    va_end(ap);
    if (k > 0)
        b->len += (size_t)k;
}

#define FMT_MAX_ITEMS 8
#define FMT_MAX_STR   64

static void fmt_string(sbuf *b, const uint8_t *s, uint64_t len)
{
    uint64_t shown = len > FMT_MAX_STR ? FMT_MAX_STR : len;
    while (shown < len && shown > 0 && (s[shown] & 0xc0) == 0x80)
        shown--; /* don't cut a UTF-8 sequence */
    sb_printf(b, "\"");
    for (uint64_t i = 0; i < shown; i++) {
        uint8_t c = s[i];
        if (c == '"' || c == '\\')
            sb_printf(b, "\\%c", c);
        else if (c == '\n')
            sb_printf(b, "\\n");
        else if (c == '\t')
            sb_printf(b, "\\t");
        else if (c < 0x20 || c == 0x7f)
            sb_printf(b, "\\x%02x", c);
        else
            sb_printf(b, "%c", c);
    }
    sb_printf(b, shown < len ? "\"... (%llu bytes)" : "\"", (unsigned long long)len);
}

/* Advances *off past one (validated) value of type t. */
static void skip_raw(const herd_gguf *g, herd_gguf_vtype t, uint64_t *off)
{
    if (vtype_size[t]) {
        *off += vtype_size[t];
    } else if (t == HERD_GGUF_STRING) {
        uint64_t len;
        memcpy(&len, g->base + *off, 8);
        *off += 8 + len;
    } else {
        uint32_t et;
        uint64_t n;
        memcpy(&et, g->base + *off, 4);
        memcpy(&n, g->base + *off + 4, 8);
        *off += 12;
        if (vtype_size[et])
            *off += n * vtype_size[et];
        else
            for (uint64_t i = 0; i < n; i++)
                skip_raw(g, (herd_gguf_vtype)et, off);
    }
}

/* Formats one value at *off of type t and advances *off past it (values were validated). */
static void fmt_value(sbuf *b, const herd_gguf *g, herd_gguf_vtype t, uint64_t *off, int depth)
{
    const uint8_t *p = g->base + *off;
    uint64_t m;
    bool neg;
    if (read_int(p, t, &m, &neg)) {
        sb_printf(b, "%s%llu", neg ? "-" : "", (unsigned long long)m);
        *off += vtype_size[t];
        return;
    }
    switch (t) {
    case HERD_GGUF_F32: {
        float f;
        memcpy(&f, p, 4);
        sb_printf(b, "%.9g", (double)f);
        *off += 4;
        return;
    }
    case HERD_GGUF_F64: {
        double d;
        memcpy(&d, p, 8);
        sb_printf(b, "%.17g", d);
        *off += 8;
        return;
    }
    case HERD_GGUF_BOOL:
        sb_printf(b, "%s", *p ? "true" : "false");
        *off += 1;
        return;
    case HERD_GGUF_STRING: {
        uint64_t len;
        memcpy(&len, p, 8);
        fmt_string(b, p + 8, len);
        *off += 8 + len;
        return;
    }
    case HERD_GGUF_ARRAY: {
        uint32_t et;
        uint64_t n;
        memcpy(&et, p, 4);
        memcpy(&n, p + 4, 8);
        *off += 12;
        int max = depth == 0 ? FMT_MAX_ITEMS : 3;
        sb_printf(b, "[");
        for (uint64_t i = 0; i < n; i++) {
            if (i == (uint64_t)max) {
                sb_printf(b, ", ... (%llu %s)]", (unsigned long long)n,
                          herd_gguf_vtype_name((herd_gguf_vtype)et));
                if (depth > 0) /* the caller goes on after this array: skip the rest */
                    for (; i < n; i++)
                        skip_raw(g, (herd_gguf_vtype)et, off);
                return;
            }
            if (i)
                sb_printf(b, ", ");
            fmt_value(b, g, (herd_gguf_vtype)et, off, depth + 1);
        }
        sb_printf(b, "]");
        return;
    }
    default:
        sb_printf(b, "?");
        return;
    }
}

char *herd_gguf_kv_format(const herd_gguf *g, int64_t i, char *buf, size_t n)
{
    if (!buf || !n)
        return buf;
    buf[0] = '\0';
    if (i < 0 || i >= g->n_kv)
        return buf;
    sbuf b = { buf, n, 0 };
    uint64_t off = g->kv[i].val_off;
    fmt_value(&b, g, g->kv[i].type, &off, 0);
    if (b.len >= n && n > 4)
        memcpy(buf + n - 4, "...", 4);
    return buf;
}
