/* quant.h: weight block formats (spec §7.6), quantize / dequantize, and CPU dot-product kernels.
 *
 * A matmul with weights of type W runs on activations converted to herd_vec_dot_type(W):
 *   F32 -> F32, F16 -> F16, BF16 -> BF16, Q8_0/Q4_0 -> Q8_0, Q4_K/Q5_K/Q6_K -> Q8_K,
 * i.e. like the reference engine, quantized weights meet 8-bit activations and the dot products
 * are integer sums scaled per block. Q8_K is {float d; int8 q[256]; int16 bsums[16]} (292 bytes,
 * bsums[i] = sum of q[16i .. 16i+15]).
 *
 * Kernels: a scalar reference for every type, plus AVX2/FMA/F16C and AVX-512
 * (F+BW+VL+VNNI, +BF16 where present) versions picked at run time; the binary runs on any x86-64
 * (and builds elsewhere with the scalar code only).
 */
#pragma once

#include "types.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Q8_K activation block (our layout, same size as the GGML one). */
#define HERD_QK_K 256
typedef struct herd_block_q8_K {
    float d;
    int8_t q[HERD_QK_K];
    int16_t bsums[HERD_QK_K / 16];
} herd_block_q8_K;

/* Type the activations must be in for a dot product with weights of type wtype; -1 (as herd_type)
 * if wtype is not a compute type. */
herd_type herd_vec_dot_type(herd_type wtype);

/* True for the types herd_quantize_row / herd_dequantize_row / the vec_dot getters handle. */
int herd_quant_supported(herd_type type);

/* Quantize n floats into type (n a multiple of the block size). Supports F32, F16, BF16, Q8_0,
 * Q4_0, Q4_K, Q5_K, Q6_K and Q8_K. Q8_0 / Q8_K (the activation formats) and F16 / BF16 use the
 * fastest ISA available; Q4_0/Q4_K/Q5_K/Q6_K use a scalar quantizer with a small scale search. */
void herd_quantize_row(herd_type type, const float *x, void *dst, int64_t n);
/* Scalar reference quantizer (same results as herd_quantize_row up to round-half ties). */
void herd_quantize_row_ref(herd_type type, const float *x, void *dst, int64_t n);

/* Reference dequantization (spec §7.6 layouts) for every type herd_quantize_row takes. */
void herd_dequantize_row(herd_type type, const void *src, float *dst, int64_t n);

/* s = dot(weight row w of type wtype, activation row x in herd_vec_dot_type(wtype)), n elements
 * (n a multiple of both block sizes: 32 for Q8_0/Q4_0, 256 for the K types). */
typedef void (*herd_vec_dot_fn)(int64_t n, float *s, const void *w, const void *x);

/* Several weight rows against one activation row (decode): s[r] = dot(w + r*w_stride, x) for
 * r < nr, 1 <= nr <= HERD_VEC_DOT_MAX_NR; w_stride in bytes. Rows are read one after another
 * (one sequential DRAM stream: interleaving rows halves the bandwidth on this machine kind);
 * what depends only on x is prepared once per call (Q4_0/Q8_0 on AVX-512: x reordered for the
 * weight unpacking, the -8·Σx / -128·Σx seeds and the scales), so larger nr amortizes it. */
#define HERD_VEC_DOT_MAX_NR 32
typedef void (*herd_vec_dot_rows_fn)(int64_t n, int nr, float *s, const void *w, size_t w_stride,
                                     const void *x);

/* Tile (prefill): s[c*s_stride + r] = dot(w + r*w_stride, x + c*x_stride) for r < nr, c < nc;
 * any nr, nc >= 1 (the kernel blocks them internally); strides of w and x in bytes, of s in floats.
 * Q4_0/Q8_0 on AVX-512 unpack each weight group once for up to 4 columns; other types loop
 * over rows kernels. */
typedef void (*herd_vec_dot_tile_fn)(int64_t n, int nr, int nc, float *s, size_t s_stride,
                                     const void *w, size_t w_stride, const void *x,
                                     size_t x_stride);

/* Best implementation for this CPU; NULL if wtype is not a compute type. */
herd_vec_dot_fn herd_get_vec_dot(herd_type wtype);
herd_vec_dot_rows_fn herd_get_vec_dot_rows(herd_type wtype);
herd_vec_dot_tile_fn herd_get_vec_dot_tile(herd_type wtype);
/* Scalar reference, always available. */
herd_vec_dot_fn herd_get_vec_dot_ref(herd_type wtype);

/* A given ISA's implementation, for tests and benchmarks: isa is "ref", "avx2" or "avx512".
 * NULL if this CPU (or this build) lacks the ISA or the ISA has no kernel of its own for wtype
 * (then the getters above fall back to a lower ISA). */
herd_vec_dot_fn herd_get_vec_dot_isa(herd_type wtype, const char *isa);
herd_vec_dot_rows_fn herd_get_vec_dot_rows_isa(herd_type wtype, const char *isa);
herd_vec_dot_tile_fn herd_get_vec_dot_tile_isa(herd_type wtype, const char *isa);
/* Activation quantizer of one ISA (type Q8_0 or Q8_K); NULL if unavailable. */
typedef void (*herd_quantize_fn)(const float *x, void *dst, int64_t n);
herd_quantize_fn herd_get_quantize_isa(herd_type type, const char *isa);
/* Name of the ISA herd_get_vec_dot() picks on this CPU: "avx512", "avx2" or "ref".
 * Setting the environment variable HERD_CPU_ISA=avx2|ref before the first call caps it. */
const char *herd_cpu_isa(void);

/* Space-separated features this CPU has that the kernels care about, e.g.
 * "avx2 fma f16c avx512f avx512bw avx512vl avx512vnni avx512bf16". */
const char *herd_cpu_features(void);

/* Scalar conversions (round to nearest even; NaN stays NaN). */
float herd_f16_to_f32(uint16_t h);
uint16_t herd_f32_to_f16(float f);
float herd_bf16_to_f32(uint16_t h);
uint16_t herd_f32_to_bf16(float f);
/* Row converters (SIMD where available). */
void herd_f16_to_f32_row(const uint16_t *src, float *dst, int64_t n);
void herd_f32_to_f16_row(const float *src, uint16_t *dst, int64_t n);
void herd_bf16_to_f32_row(const uint16_t *src, float *dst, int64_t n);
void herd_f32_to_bf16_row(const float *src, uint16_t *dst, int64_t n);

#ifdef __cplusplus
}
#endif
