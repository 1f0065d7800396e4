/* fuzz-gguf.c: libFuzzer target for the GGUF reader. Any input must either be rejected with a
 * status and a message, or open into a structure whose every KV and tensor can be read without
 * touching memory outside the input. */
#include "engine/gguf.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint8_t sink;

static void touch(const void *p, size_t n)
{
    if (n) {
        sink ^= ((const uint8_t *)p)[0];
        sink ^= ((const uint8_t *)p)[n - 1];
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    herd_error err = { .code = HERD_OK };
    herd_gguf *g = herd_gguf_open_memory(data, size, "fuzz.gguf", &err);
    if (!g) {
        if (err.code == HERD_OK || !err.msg[0] || strchr(err.msg, '\n'))
            __builtin_trap(); /* failures must say why, on one line */
        return 0;
    }
    const uint8_t *end = data + size;
    char buf[512];
    for (int64_t i = 0; i < herd_gguf_n_kv(g); i++) {
        const char *key = herd_gguf_kv_key(g, i);
        if (!key || herd_gguf_find_key(g, key) != i)
            __builtin_trap();
        herd_gguf_kv_format(g, i, buf, sizeof buf);
        herd_gguf_kv_format(g, i, buf, 7);
        uint32_t u32;
        uint64_t u64;
        int64_t i64;
        float f;
        double d;
        bool b;
        const char *s;
        size_t len;
        (void)herd_gguf_get_u32(g, key, &u32);
        (void)herd_gguf_get_u64(g, key, &u64);
        (void)herd_gguf_get_i64(g, key, &i64);
        (void)herd_gguf_get_f32(g, key, &f);
        (void)herd_gguf_get_f64(g, key, &d);
        (void)herd_gguf_get_bool(g, key, &b);
        if (herd_gguf_get_str(g, key, &s, &len)) {
            if ((const uint8_t *)s < data || len > (size_t)(end - (const uint8_t *)s))
                __builtin_trap();
            touch(s, len);
        }
        herd_gguf_vtype et;
        uint64_t n;
        const void *p;
        if (herd_gguf_get_arr(g, key, &et, &n, &p) && et == HERD_GGUF_STRING && n) {
            const char **ptrs = malloc(n * sizeof *ptrs);
            uint64_t *lens = malloc(n * sizeof *lens);
            if (ptrs && lens && herd_gguf_get_arr_str(g, key, ptrs, lens, n)) {
                for (uint64_t k = 0; k < n; k++) {
                    const uint8_t *q = (const uint8_t *)ptrs[k];
                    if (q < data || lens[k] > (uint64_t)(end - q))
                        __builtin_trap();
                    touch(q, lens[k]);
                }
            }
            free(ptrs);
            free(lens);
        }
    }
    for (int64_t i = 0; i < herd_gguf_n_tensors(g); i++) {
        const herd_gguf_tensor *t = herd_gguf_tensor_at(g, i);
        const uint8_t *q = t->data;
        if (herd_gguf_find_tensor(g, t->name) != t || !herd_type_get(t->type) || t->n_dims < 1 ||
            t->n_dims > 4 || q < data || t->size > (size_t)(end - q) ||
            t->offset % herd_gguf_alignment(g) ||
            t->size != herd_row_size(t->type, t->ne[0]) * (size_t)(t->ne[1] * t->ne[2] * t->ne[3]))
            __builtin_trap();
        touch(q, t->size);
    }
    herd_gguf_close(g);
    return 0;
}
