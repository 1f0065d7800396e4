/* vecdot-internal.h: block structs (spec §7.6) and the per-ISA kernel tables behind quant.h.
 * Private to engine/quant.c and engine/cpu/vecdot-*.c. */
#pragma once

#include "quant.h"

#include <assert.h>
#include <stdint.h>

#define HERD_QK4_0 32
#define HERD_QK8_0 32

typedef struct herd_block_q8_0 {
    uint16_t d; /* half */
    int8_t q[32];
} herd_block_q8_0;

typedef struct herd_block_q4_0 {
    uint16_t d;    /* half */
    uint8_t q[16]; /* w[j] = d*((q[j]&15)-8), w[j+16] = d*((q[j]>>4)-8) */
} herd_block_q4_0;

typedef struct herd_block_q4_K {
    uint16_t d, dmin; /* half */
    uint8_t sc[12];   /* 6-bit scales and mins, packed */
    uint8_t q[128];
} herd_block_q4_K;

typedef struct herd_block_q5_K {
    uint16_t d, dmin;
    uint8_t sc[12];
    uint8_t qh[32]; /* bit 2c of qh[l]: element 64c+l, bit 2c+1: element 64c+32+l */
    uint8_t q[128];
} herd_block_q5_K;

typedef struct herd_block_q6_K {
    uint8_t ql[128];
    uint8_t qh[64];
    int8_t sc[16];
    uint16_t d; /* half, LAST */
} herd_block_q6_K;

static_assert(sizeof(herd_block_q8_0) == 34, "q8_0 layout");
static_assert(sizeof(herd_block_q4_0) == 18, "q4_0 layout");
static_assert(sizeof(herd_block_q4_K) == 144, "q4_K layout");
static_assert(sizeof(herd_block_q5_K) == 176, "q5_K layout");
static_assert(sizeof(herd_block_q6_K) == 210, "q6_K layout");
static_assert(sizeof(herd_block_q8_K) == 292, "q8_K layout");

/* Kernels one ISA provides; NULL entries fall back to a lower ISA. */
typedef struct herd_isa_kernels {
    herd_vec_dot_fn dot[HERD_TYPE_COUNT];
    herd_vec_dot_rows_fn rows[HERD_TYPE_COUNT];
    herd_vec_dot_tile_fn tile[HERD_TYPE_COUNT];
    herd_quantize_fn quant[HERD_TYPE_COUNT]; /* activation quantizers / converters */
    void (*to_f32[HERD_TYPE_COUNT])(const void *src, float *dst, int64_t n); /* F16, BF16 */
} herd_isa_kernels;

void herd_cpu_init_avx2(herd_isa_kernels *k);
void herd_cpu_init_avx512(herd_isa_kernels *k, int has_bf16, int has_vbmi);

/* Unpack Q4_K/Q5_K 6-bit scales: out[0..7] = scales, out[8..15] = mins. */
static inline void herd_unpack_k_scales(const uint8_t sc[12], uint8_t out[16])
{
    for (int b = 0; b < 4; b++) {
        out[b] = sc[b] & 63;
        out[8 + b] = sc[b + 4] & 63;
    }
    for (int b = 4; b < 8; b++) {
        out[b] = (uint8_t)((sc[b + 4] & 15) | ((sc[b - 4] >> 6) << 4));
        out[8 + b] = (uint8_t)((sc[b + 4] >> 4) | ((sc[b] >> 6) << 4));
    }
}

/* Generic multi-row and tile wrappers built from a dot / rows kernel (per ISA file). */
#define HERD_DEFINE_ROWS_FROM_DOT(name, dotfn)                                             \
    static void name(int64_t n, int nr, float *s, const void *w, size_t ws, const void *x) \
    {                                                                                      \
        for (int r = 0; r < nr; r++)                                                       \
            dotfn(n, s + r, (const char *)w + (size_t)r * ws, x);                          \
    }

#define HERD_DEFINE_TILE_FROM_ROWS(name, rowsfn)                                               \
    static void name(int64_t n, int nr, int nc, float *s, size_t ss, const void *w, size_t ws, \
                     const void *x, size_t xs)                                                 \
    {                                                                                          \
        for (int r0 = 0; r0 < nr; r0 += HERD_VEC_DOT_MAX_NR) {                                 \
            int m = nr - r0 < HERD_VEC_DOT_MAX_NR ? nr - r0 : HERD_VEC_DOT_MAX_NR;             \
            for (int c = 0; c < nc; c++)                                                       \
                rowsfn(n, m, s + (size_t)c * ss + r0, (const char *)w + (size_t)r0 * ws, ws,   \
                       (const char *)x + (size_t)c * xs);                                      \
        }                                                                                      \
    }
