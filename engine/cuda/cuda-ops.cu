/* cuda-ops.cu: kernels and launchers for every op of backend.h (semantics: engine/cpu).
 *
 * Matmuls: decode-sized (<= 8 activation columns) runs one warp per weight row straight from the
 * quantized blocks (each lane dequantizes chunks of 8 values and dots them with the F32
 * activations, so a row is one coalesced stream); larger batches dequantize weight tiles to F16
 * (or use F16/BF16/F32 weights in place) and call cuBLAS GemmEx with F32 accumulation (a built-in
 * tiled GEMM when cuBLAS is not available). MUL_MAT_ID reads the expert ids on the device for
 * decode; prefill sorts the columns by expert on the device, reads the counts back (one sync)
 * and runs one GEMM per used expert. Attention is one block per (query head, token, split):
 * four warps walk the keys with an online softmax, partial results of long key ranges are
 * combined by a second kernel (split-K decode).
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <type_traits>

#include "cuda-internal.cuh"

/* ------------------------------------------------------------------------------------------ */
/* CUDA kernels                                                                                */

typedef struct td {
    int64_t ne[4];
    int64_t nb[4];
} td;

static td mk_td(const herd_tensor *t)
{
    td r;
    for (int i = 0; i < 4; i++) {
        r.ne[i] = t->ne[i];
        r.nb[i] = (int64_t)t->nb[i];
    }
    return r;
}

__host__ __device__ __forceinline__ float h2f(uint16_t h)
{
    return __half2float(__ushort_as_half(h));
}

__device__ __forceinline__ float bf2f(uint16_t h)
{
    return __uint_as_float((uint32_t)h << 16);
}

__host__ __device__ __forceinline__ uint16_t ld16(const uint8_t *p)
{
    return *(const uint16_t *)p; /* every f16 field is 2-byte aligned */
}

__device__ __forceinline__ float warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* block of 32*k threads: sum to every thread (sh: 32 floats) */
__device__ float block_sum(float v, float *sh)
{
    v = warp_sum(v);
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    __syncthreads();
    if (lane == 0)
        sh[w] = v;
    __syncthreads();
    v = lane < nw ? sh[lane] : 0.0f;
    return warp_sum(v);
}

__device__ float block_max(float v, float *sh)
{
    v = warp_max(v);
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    __syncthreads();
    if (lane == 0)
        sh[w] = v;
    __syncthreads();
    v = lane < nw ? sh[lane] : -INFINITY;
    return warp_max(v);
}

/* `#pragma unroll` in host+device code: only for the device pass (the host compiler warns) */
#ifdef __CUDA_ARCH__
#define HD_UNROLL _Pragma("unroll")
#else
#define HD_UNROLL
#endif

/* --- quantized blocks: traits and 8-value chunk dequantization (spec §7.6) --- */

template <int T> struct qt;
template <> struct qt<HERD_TYPE_Q8_0> {
    enum { BLK = 32, BYTES = 34, CPB = 4 };
};
template <> struct qt<HERD_TYPE_Q4_0> {
    enum { BLK = 32, BYTES = 18, CPB = 4 };
};
template <> struct qt<HERD_TYPE_Q4_K> {
    enum { BLK = 256, BYTES = 144, CPB = 32 };
};
template <> struct qt<HERD_TYPE_Q5_K> {
    enum { BLK = 256, BYTES = 176, CPB = 32 };
};
template <> struct qt<HERD_TYPE_Q6_K> {
    enum { BLK = 256, BYTES = 210, CPB = 32 };
};

__host__ __device__ __forceinline__ void k_scale_min(int j, const uint8_t *sc, int *d, int *m)
{
    if (j < 4) {
        *d = sc[j] & 63;
        *m = sc[j + 4] & 63;
    } else {
        *d = (sc[j + 4] & 15) | ((sc[j - 4] >> 6) << 4);
        *m = (sc[j + 4] >> 4) | ((sc[j] >> 6) << 4);
    }
}

/* values v[0..7] of elements e0..e0+7 of block b, chunk ci < CPB */
template <int T>
__host__ __device__ __forceinline__ void deq8(const uint8_t *b, int ci, float *v, int *e0);

template <>
__host__ __device__ __forceinline__ void deq8<HERD_TYPE_Q8_0>(const uint8_t *b, int ci, float *v,
                                                              int *e0)
{
    const float d = h2f(ld16(b));
    const int8_t *q = (const int8_t *)(b + 2 + 8 * ci);
    HD_UNROLL
    for (int j = 0; j < 8; j++)
        v[j] = d * (float)q[j];
    *e0 = 8 * ci;
}

template <>
__host__ __device__ __forceinline__ void deq8<HERD_TYPE_Q4_0>(const uint8_t *b, int ci, float *v,
                                                              int *e0)
{
    const float d = h2f(ld16(b));
    const int hi = ci >> 1, l0 = (ci & 1) * 8;
    const uint8_t *q = b + 2 + l0;
    HD_UNROLL
    for (int j = 0; j < 8; j++)
        v[j] = d * (float)((hi ? q[j] >> 4 : q[j] & 15) - 8);
    *e0 = hi * 16 + l0;
}

template <>
__host__ __device__ __forceinline__ void deq8<HERD_TYPE_Q4_K>(const uint8_t *b, int ci, float *v,
                                                              int *e0)
{
    const int c = ci >> 3, hi = (ci >> 2) & 1, l0 = (ci & 3) * 8;
    int sd, sm;
    k_scale_min(2 * c + hi, b + 4, &sd, &sm);
    const float dl = h2f(ld16(b)) * (float)sd, ml = h2f(ld16(b + 2)) * (float)sm;
    const uint2 qq = *(const uint2 *)(b + 16 + 32 * c + l0);
    const uint32_t w[2] = { qq.x, qq.y };
    HD_UNROLL
    for (int j = 0; j < 8; j++) {
        uint32_t q = (w[j >> 2] >> (8 * (j & 3))) & 0xff;
        v[j] = dl * (float)(hi ? q >> 4 : q & 15) - ml;
    }
    *e0 = 64 * c + 32 * hi + l0;
}

template <>
__host__ __device__ __forceinline__ void deq8<HERD_TYPE_Q5_K>(const uint8_t *b, int ci, float *v,
                                                              int *e0)
{
    const int c = ci >> 3, hi = (ci >> 2) & 1, l0 = (ci & 3) * 8;
    int sd, sm;
    k_scale_min(2 * c + hi, b + 4, &sd, &sm);
    const float dl = h2f(ld16(b)) * (float)sd, ml = h2f(ld16(b + 2)) * (float)sm;
    const uint2 qq = *(const uint2 *)(b + 48 + 32 * c + l0);
    const uint2 hh = *(const uint2 *)(b + 16 + l0);
    const uint32_t w[2] = { qq.x, qq.y }, h[2] = { hh.x, hh.y };
    const int sh = 2 * c + hi;
    HD_UNROLL
    for (int j = 0; j < 8; j++) {
        uint32_t q = (w[j >> 2] >> (8 * (j & 3))) & 0xff;
        uint32_t hb = (h[j >> 2] >> (8 * (j & 3) + sh)) & 1;
        v[j] = dl * (float)((hi ? q >> 4 : q & 15) | (hb << 4)) - ml;
    }
    *e0 = 64 * c + 32 * hi + l0;
}

template <>
__host__ __device__ __forceinline__ void deq8<HERD_TYPE_Q6_K>(const uint8_t *b, int ci, float *v,
                                                              int *e0)
{
    const int e = 8 * ci, h = e >> 7, r = e & 127, qq = r >> 5, l0 = r & 31;
    const uint8_t *ql = b + 64 * h + (qq & 1) * 32 + l0;
    const uint8_t *qh = b + 128 + 32 * h + l0;
    const float d = h2f(ld16(b + 208)) * (float)(int8_t)b[192 + 8 * h + (l0 >> 4) + 2 * qq];
    const int ns = (qq >> 1) * 4, hs = 2 * qq;
    HD_UNROLL
    for (int j = 0; j < 8; j++) {
        int q = ((ql[j] >> ns) & 15) | (((qh[j] >> hs) & 3) << 4);
        v[j] = d * (float)(q - 32);
    }
    *e0 = e;
}

/* --- int8 dot products (decode): activations quantized per 32 values (q8_1-like: int8 q,
 * float d), weights' integer quants unpacked 4 per word and multiplied with __dp4a; the block
 * and sub-block scales are applied per 8-value chunk. Host versions for tests/test-cuda-deq.c. */

__host__ __device__ __forceinline__ int dp4a(int a, int b, int c)
{
#ifdef __CUDA_ARCH__
    return __dp4a(a, b, c);
#else
    for (int i = 0; i < 4; i++)
        c += (int)(int8_t)(a >> (8 * i)) * (int)(int8_t)(b >> (8 * i));
    return c;
#endif
}

__host__ __device__ __forceinline__ int ld32u(const uint8_t *p) /* 2-byte aligned */
{
    return (int)((uint32_t)ld16(p) | ((uint32_t)ld16(p + 2) << 16));
}

/* sum over chunk ci of block b of w[e] * xq[e] * dx, e = e0..e0+7; x8: the chunk's 8 int8
 * activations as two words, dx their scale */
template <int T>
__host__ __device__ __forceinline__ float dot8(const uint8_t *b, int ci, const int *x8, float dx);

template <>
__host__ __device__ __forceinline__ float dot8<HERD_TYPE_Q8_0>(const uint8_t *b, int ci,
                                                               const int *x8, float dx)
{
    const uint8_t *q = b + 2 + 8 * ci;
    int s = dp4a(ld32u(q), x8[0], 0);
    s = dp4a(ld32u(q + 4), x8[1], s);
    return h2f(ld16(b)) * dx * (float)s;
}

template <>
__host__ __device__ __forceinline__ float dot8<HERD_TYPE_Q4_0>(const uint8_t *b, int ci,
                                                               const int *x8, float dx)
{
    const int hi = ci >> 1, l0 = (ci & 1) * 8;
    const uint8_t *q = b + 2 + l0;
    const int sh = hi * 4;
    int s = dp4a((ld32u(q) >> sh) & 0x0F0F0F0F, x8[0], 0);
    s = dp4a((ld32u(q + 4) >> sh) & 0x0F0F0F0F, x8[1], s);
    int sx = dp4a(0x01010101, x8[0], dp4a(0x01010101, x8[1], 0));
    return h2f(ld16(b)) * dx * (float)(s - 8 * sx);
}

template <>
__host__ __device__ __forceinline__ float dot8<HERD_TYPE_Q4_K>(const uint8_t *b, int ci,
                                                               const int *x8, float dx)
{
    const int c = ci >> 3, hi = (ci >> 2) & 1, l0 = (ci & 3) * 8;
    int sd, sm;
    k_scale_min(2 * c + hi, b + 4, &sd, &sm);
    const uint8_t *q = b + 16 + 32 * c + l0;
    const int sh = hi * 4;
    int s = dp4a((ld32u(q) >> sh) & 0x0F0F0F0F, x8[0], 0);
    s = dp4a((ld32u(q + 4) >> sh) & 0x0F0F0F0F, x8[1], s);
    int sx = dp4a(0x01010101, x8[0], dp4a(0x01010101, x8[1], 0));
    return dx * (h2f(ld16(b)) * (float)sd * (float)s - h2f(ld16(b + 2)) * (float)sm * (float)sx);
}

template <>
__host__ __device__ __forceinline__ float dot8<HERD_TYPE_Q5_K>(const uint8_t *b, int ci,
                                                               const int *x8, float dx)
{
    const int c = ci >> 3, hi = (ci >> 2) & 1, l0 = (ci & 3) * 8;
    int sd, sm;
    k_scale_min(2 * c + hi, b + 4, &sd, &sm);
    const uint8_t *q = b + 48 + 32 * c + l0, *qh = b + 16 + l0;
    const int sh = hi * 4, hs = 2 * c + hi;
    int w0 = ((ld32u(q) >> sh) & 0x0F0F0F0F) | (((ld32u(qh) >> hs) & 0x01010101) << 4);
    int w1 = ((ld32u(q + 4) >> sh) & 0x0F0F0F0F) | (((ld32u(qh + 4) >> hs) & 0x01010101) << 4);
    int s = dp4a(w0, x8[0], dp4a(w1, x8[1], 0));
    int sx = dp4a(0x01010101, x8[0], dp4a(0x01010101, x8[1], 0));
    return dx * (h2f(ld16(b)) * (float)sd * (float)s - h2f(ld16(b + 2)) * (float)sm * (float)sx);
}

template <>
__host__ __device__ __forceinline__ float dot8<HERD_TYPE_Q6_K>(const uint8_t *b, int ci,
                                                               const int *x8, float dx)
{
    const int e = 8 * ci, h = e >> 7, r = e & 127, qq = r >> 5, l0 = r & 31;
    const uint8_t *ql = b + 64 * h + (qq & 1) * 32 + l0;
    const uint8_t *qh = b + 128 + 32 * h + l0;
    const float d = h2f(ld16(b + 208)) * (float)(int8_t)b[192 + 8 * h + (l0 >> 4) + 2 * qq];
    const int ns = (qq >> 1) * 4, hs = 2 * qq;
    int w0 = ((ld32u(ql) >> ns) & 0x0F0F0F0F) | (((ld32u(qh) >> hs) & 0x03030303) << 4);
    int w1 = ((ld32u(ql + 4) >> ns) & 0x0F0F0F0F) | (((ld32u(qh + 4) >> hs) & 0x03030303) << 4);
    int s = dp4a(w0, x8[0], dp4a(w1, x8[1], 0));
    int sx = dp4a(0x01010101, x8[0], dp4a(0x01010101, x8[1], 0));
    return d * dx * (float)(s - 32 * sx);
}

/* plain element loads */
template <typename T> __device__ __forceinline__ float ldf(const T *p);
template <> __device__ __forceinline__ float ldf<float>(const float *p)
{
    return *p;
}
template <> __device__ __forceinline__ float ldf<__half>(const __half *p)
{
    return __half2float(*p);
}
template <> __device__ __forceinline__ float ldf<__nv_bfloat16>(const __nv_bfloat16 *p)
{
    return __bfloat162float(*p);
}

__device__ __forceinline__ float ld_any(int type, const char *p)
{
    switch (type) {
    case HERD_TYPE_F16:
        return h2f(*(const uint16_t *)p);
    case HERD_TYPE_BF16:
        return bf2f(*(const uint16_t *)p);
    default:
        return *(const float *)p;
    }
}

__device__ __forceinline__ void st_any(int type, char *p, float v)
{
    switch (type) {
    case HERD_TYPE_F16:
        *(__half *)p = __float2half_rn(v);
        break;
    case HERD_TYPE_BF16:
        *(__nv_bfloat16 *)p = __float2bfloat16_rn(v);
        break;
    default:
        *(float *)p = v;
        break;
    }
}

/* --- matrix-vector (decode): one warp per weight row, up to 8 activation columns --- */

#define MV_WARPS 4
#define MV_MAXC  8

template <int T>
__global__ void k_mv_q(const uint8_t *W, size_t ws, int N, int K, const float *X, size_t xs, int M,
                       float *O, size_t os, const int *ids, size_t es, int E, int *flag)
{
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int row = blockIdx.x * MV_WARPS + warp;
    if (row >= N)
        return;
    int col0 = 0;
    if (ids) {
        col0 = blockIdx.y;
        const int e = ids[col0];
        if (e < 0 || e >= E) {
            if (lane == 0) {
                O[(size_t)col0 * os + row] = 0.0f;
                atomicExch(flag, 1);
            }
            return;
        }
        W += (size_t)e * es;
        M = 1;
    }
    const uint8_t *w = W + (size_t)row * ws;
    const float *x = X + (size_t)col0 * xs;
    float acc[MV_MAXC];
#pragma unroll
    for (int m = 0; m < MV_MAXC; m++)
        acc[m] = 0.0f;
    const int nch = K / qt<T>::BLK * qt<T>::CPB;
    for (int ch = lane; ch < nch; ch += 32) {
        const int ib = ch / qt<T>::CPB, ci = ch % qt<T>::CPB;
        float v[8];
        int e0;
        deq8<T>(w + (size_t)ib * qt<T>::BYTES, ci, v, &e0);
        const float *xp = x + (size_t)ib * qt<T>::BLK + e0;
#pragma unroll
        for (int m = 0; m < MV_MAXC; m++) {
            if (m < M) {
                const float *xm = xp + (size_t)m * xs;
                float s = 0.0f;
#pragma unroll
                for (int j = 0; j < 8; j++)
                    s = fmaf(v[j], __ldg(xm + j), s);
                acc[m] += s;
            }
        }
    }
#pragma unroll
    for (int m = 0; m < MV_MAXC; m++) {
        if (m < M) {
            float s = warp_sum(acc[m]);
            if (lane == 0)
                O[(size_t)(col0 + m) * os + row] = s;
        }
    }
}

template <typename T>
__global__ void k_mv_plain(const T *W, size_t ws, int N, int K, const float *X, size_t xs, int M,
                           float *O, size_t os, const int *ids, size_t es, int E, int *flag)
{
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int row = blockIdx.x * MV_WARPS + warp;
    if (row >= N)
        return;
    int col0 = 0;
    if (ids) {
        col0 = blockIdx.y;
        const int e = ids[col0];
        if (e < 0 || e >= E) {
            if (lane == 0) {
                O[(size_t)col0 * os + row] = 0.0f;
                atomicExch(flag, 1);
            }
            return;
        }
        W = (const T *)((const char *)W + (size_t)e * es);
        M = 1;
    }
    const T *w = (const T *)((const char *)W + (size_t)row * ws);
    const float *x = X + (size_t)col0 * xs;
    float acc[MV_MAXC];
#pragma unroll
    for (int m = 0; m < MV_MAXC; m++)
        acc[m] = 0.0f;
    for (int k = lane; k < K; k += 32) {
        const float wv = ldf<T>(w + k);
#pragma unroll
        for (int m = 0; m < MV_MAXC; m++)
            if (m < M)
                acc[m] = fmaf(wv, __ldg(x + (size_t)m * xs + k), acc[m]);
    }
#pragma unroll
    for (int m = 0; m < MV_MAXC; m++) {
        if (m < M) {
            float s = warp_sum(acc[m]);
            if (lane == 0)
                O[(size_t)(col0 + m) * os + row] = s;
        }
    }
}

/* activation columns to int8 blocks of 32 (one warp per block): xq[m][K], xd[m][K/32]; column m
 * is X's column col_of[m] when a map is given */
__global__ void k_quant_x(const float *X, size_t xs, int K, int M, const int *col_of, int8_t *xq,
                          float *xd)
{
    const int lane = threadIdx.x & 31;
    const int64_t blk = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const int nb = K / 32;
    if (blk >= (int64_t)nb * M)
        return;
    const int m = (int)(blk / nb), ib = (int)(blk % nb);
    const float v = X[(size_t)(col_of ? col_of[m] : m) * xs + (size_t)ib * 32 + lane];
    const float amax = warp_max(fabsf(v));
    const float d = amax / 127.0f;
    const int q = amax > 0.0f ? __float2int_rn(v / d) : 0;
    xq[(size_t)m * K + (size_t)ib * 32 + lane] = (int8_t)q;
    if (lane == 0)
        xd[(size_t)m * nb + ib] = d;
}

template <int T>
__global__ void k_mv_q8(const uint8_t *W, size_t ws, int N, int K, const int8_t *XQ,
                        const float *XD, int M, float *O, size_t os, const int *ids, size_t es,
                        int E, int *flag)
{
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int row = blockIdx.x * MV_WARPS + warp;
    if (row >= N)
        return;
    int col0 = 0;
    if (ids) {
        col0 = blockIdx.y;
        const int e = ids[col0];
        if (e < 0 || e >= E) {
            if (lane == 0) {
                O[(size_t)col0 * os + row] = 0.0f;
                atomicExch(flag, 1);
            }
            return;
        }
        W += (size_t)e * es;
        M = 1;
    }
    const uint8_t *w = W + (size_t)row * ws;
    const int nbx = K / 32;
    float acc[MV_MAXC];
#pragma unroll
    for (int m = 0; m < MV_MAXC; m++)
        acc[m] = 0.0f;
    const int nch = K / qt<T>::BLK * qt<T>::CPB;
    for (int ch = lane; ch < nch; ch += 32) {
        const int ib = ch / qt<T>::CPB, ci = ch % qt<T>::CPB;
        /* element offset of the chunk in the row: the decoder's e0 */
        int e0;
        if (T == HERD_TYPE_Q4_0)
            e0 = (ci >> 1) * 16 + (ci & 1) * 8;
        else if (T == HERD_TYPE_Q4_K || T == HERD_TYPE_Q5_K)
            e0 = 64 * (ci >> 3) + 32 * ((ci >> 2) & 1) + (ci & 3) * 8;
        else
            e0 = 8 * ci;
        const int e = ib * qt<T>::BLK + e0;
        const uint8_t *blk = w + (size_t)ib * qt<T>::BYTES;
#pragma unroll
        for (int m = 0; m < MV_MAXC; m++) {
            if (m < M) {
                const int c = col0 + m;
                const int2 xv = *(const int2 *)(XQ + (size_t)c * K + e);
                const int x8[2] = { xv.x, xv.y };
                acc[m] += dot8<T>(blk, ci, x8, __ldg(XD + (size_t)c * nbx + (e >> 5)));
            }
        }
    }
#pragma unroll
    for (int m = 0; m < MV_MAXC; m++) {
        if (m < M) {
            float sum = warp_sum(acc[m]);
            if (lane == 0)
                O[(size_t)(col0 + m) * os + row] = sum;
        }
    }
}

/* --- K-quant mat-vec (Q4_K, Q5_K; the decode path of the big matrices) ---
 * A block's 128 bytes of nibbles are 8 segments of 16 bytes; lane l of a warp takes segment
 * l % 8 of block l / 8, so a warp consumes 4 whole blocks per step with one 128-bit load per
 * lane (plus two 128-bit loads of int8 activations, L1-resident), and a row is one coalesced
 * stream. Segment s holds elements 64c + l0 + 0..15 in its low nibbles (sub-block 2c) and
 * 64c + 32 + l0 + 0..15 in its high nibbles (sub-block 2c + 1), c = s / 2, l0 = 16 (s % 2): each
 * half lies in one 32-value activation block. Short matrices (K/V projections) give a row to 2
 * or 4 warps (combined through shared memory) so that enough warps are in flight. */

__host__ __device__ __forceinline__ void ld128(const void *p, int *v)
{
#ifdef __CUDA_ARCH__
    const int4 q = *(const int4 *)p;
    v[0] = q.x;
    v[1] = q.y;
    v[2] = q.z;
    v[3] = q.w;
#else
    memcpy(v, p, 16);
#endif
}

/* segment seg of K-quant block b against activations xl (elements of the low nibbles, 4 words)
 * and xh (high nibbles), scales dxl, dxh */
template <int T>
__host__ __device__ __forceinline__ float dot_seg(const uint8_t *b, int seg, const int *xl,
                                                  const int *xh, float dxl, float dxh)
{
    const int c = seg >> 1, l0 = (seg & 1) * 16;
    int q[4], h[4] = { 0, 0, 0, 0 };
    ld128(b + (T == HERD_TYPE_Q5_K ? 48 : 16) + 16 * seg, q);
    if (T == HERD_TYPE_Q5_K)
        ld128(b + 16 + l0, h);
    int sl = 0, sh = 0, xsl = 0, xsh = 0;
    HD_UNROLL
    for (int i = 0; i < 4; i++) {
        uint32_t wl = (uint32_t)q[i] & 0x0F0F0F0Fu, wh = ((uint32_t)q[i] >> 4) & 0x0F0F0F0Fu;
        if (T == HERD_TYPE_Q5_K) {
            wl |= (((uint32_t)h[i] >> (2 * c)) & 0x01010101u) << 4;
            wh |= (((uint32_t)h[i] >> (2 * c + 1)) & 0x01010101u) << 4;
        }
        sl = dp4a((int)wl, xl[i], sl);
        sh = dp4a((int)wh, xh[i], sh);
        xsl = dp4a(0x01010101, xl[i], xsl);
        xsh = dp4a(0x01010101, xh[i], xsh);
    }
    int sdl, sml, sdh, smh;
    k_scale_min(2 * c, b + 4, &sdl, &sml);
    k_scale_min(2 * c + 1, b + 4, &sdh, &smh);
    const float d = h2f(ld16(b)), dm = h2f(ld16(b + 2));
    return dxl * (d * (float)(sdl * sl) - dm * (float)(sml * xsl)) +
           dxh * (d * (float)(sdh * sh) - dm * (float)(smh * xsh));
}

#define MVK_WARPS 4

template <int T, int MC> /* MC: most activation columns (1 or MV_MAXC) */
__global__ void __launch_bounds__(32 * MVK_WARPS)
    k_mv_kq(const uint8_t *__restrict__ W, size_t ws, int N, int K, const int8_t *__restrict__ XQ,
            const float *__restrict__ XD, int M, float *__restrict__ O, size_t os,
            const int *__restrict__ ids, size_t es, int E, int *flag, int wpr)
{
    __shared__ float red[MVK_WARPS][MC];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int row = blockIdx.x * (MVK_WARPS / wpr) + warp / wpr, wr = warp % wpr;
    int col0 = 0;
    if (ids) { /* the same column for the whole block: uniform return */
        col0 = blockIdx.y;
        const int e = ids[col0];
        if (e < 0 || e >= E) {
            if (lane == 0 && wr == 0 && row < N) {
                O[(size_t)col0 * os + row] = 0.0f;
                atomicExch(flag, 1);
            }
            return;
        }
        W += (size_t)e * es;
        M = 1;
    }
    const bool valid = row < N;
    const int nb = K / 256, nbx = K / 32;
    const int seg = lane & 7, c = seg >> 1, l0 = (seg & 1) * 16;
    float acc[MC];
#pragma unroll
    for (int m = 0; m < MC; m++)
        acc[m] = 0.0f;
    if (valid) {
        const uint8_t *w = W + (size_t)row * ws;
#pragma unroll 4
        for (int ib = wr * 4 + (lane >> 3); ib < nb; ib += 4 * wpr) {
            const uint8_t *b = w + (size_t)ib * qt<T>::BYTES;
            const int e = ib * 256 + 64 * c + l0;
#pragma unroll
            for (int m = 0; m < MC; m++) {
                if (m < M) {
                    const int8_t *xp = XQ + (size_t)(col0 + m) * K + e;
                    const float *dp = XD + (size_t)(col0 + m) * nbx + (e >> 5);
                    int xl[4], xh[4];
                    ld128(xp, xl);
                    ld128(xp + 32, xh);
                    acc[m] += dot_seg<T>(b, seg, xl, xh, __ldg(dp), __ldg(dp + 1));
                }
            }
        }
    }
#pragma unroll
    for (int m = 0; m < MC; m++)
        if (m < M)
            acc[m] = warp_sum(acc[m]);
    if (wpr == 1) {
        if (valid && lane == 0)
#pragma unroll
            for (int m = 0; m < MC; m++)
                if (m < M)
                    O[(size_t)(col0 + m) * os + row] = acc[m];
        return;
    }
    if (lane == 0)
#pragma unroll
        for (int m = 0; m < MC; m++)
            red[warp][m] = acc[m];
    __syncthreads();
    if (valid && wr == 0 && lane < M) {
        float sum = 0.0f;
        for (int j = 0; j < wpr; j++)
            sum += red[warp + j][lane];
        O[(size_t)(col0 + lane) * os + row] = sum;
    }
}

/* --- GEMM helpers --- */

/* rows [r0, r0+nr) of a quantized weight to F16 dst[nr][K] */
template <int T>
__global__ void k_deq_tile(const uint8_t *W, size_t ws, int64_t r0, int nr, int K, __half *dst)
{
    const int nch = K / qt<T>::BLK * qt<T>::CPB;
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (int64_t)nr * nch)
        return;
    const int r = (int)(i / nch), ch = (int)(i % nch);
    const int ib = ch / qt<T>::CPB, ci = ch % qt<T>::CPB;
    float v[8];
    int e0;
    deq8<T>(W + (size_t)(r0 + r) * ws + (size_t)ib * qt<T>::BYTES, ci, v, &e0);
    __half *d = dst + (size_t)r * K + (size_t)ib * qt<T>::BLK + e0;
    /* one 16-byte store (e0 is a multiple of 8 and K of 32: aligned) */
    union {
        uint4 u;
        __half2 h[4];
    } pk;
#pragma unroll
    for (int j = 0; j < 4; j++)
        pk.h[j] = __floats2half2_rn(v[2 * j], v[2 * j + 1]);
    *(uint4 *)d = pk.u;
}

/* activation columns (F32, column stride xs floats; optional column map) to a packed [M][K] */
template <typename T>
__global__ void k_x_pack(const float *X, size_t xs, int K, int M, const int *col_of, T *dst)
{
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (int64_t)K * M)
        return;
    const int m = (int)(i / K), k = (int)(i % K);
    const int src = col_of ? col_of[m] : m;
    const float v = X[(size_t)src * xs + k];
    if constexpr (sizeof(T) == 4)
        dst[i] = v;
    else if constexpr (std::is_same<T, __half>::value)
        dst[i] = __float2half_rn(v);
    else
        dst[i] = __float2bfloat16_rn(v);
}

/* built-in GEMM (no cuBLAS): C[n + m*ldc] = sum_k A[k + n*lda] * B[k + m*ldb] */
#define GT 16
template <typename T>
__global__ void k_gemm(const T *A, int lda, const T *B, int ldb, float *C, int ldc, int Nn, int Mm,
                       int K)
{
    __shared__ float sa[GT][GT + 1], sb[GT][GT + 1];
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int n = blockIdx.x * GT + tx, m = blockIdx.y * GT + ty;
    float acc = 0.0f;
    for (int k0 = 0; k0 < K; k0 += GT) {
        /* sa[n_local][k_local], sb[m_local][k_local] */
        const int an = blockIdx.x * GT + ty, ak = k0 + tx;
        sa[ty][tx] = an < Nn && ak < K ? ldf<T>(A + (size_t)an * lda + ak) : 0.0f;
        const int bm = blockIdx.y * GT + ty;
        sb[ty][tx] = bm < Mm && ak < K ? ldf<T>(B + (size_t)bm * ldb + ak) : 0.0f;
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < GT; kk++)
            acc = fmaf(sa[tx][kk], sb[ty][kk], acc);
        __syncthreads();
    }
    if (n < Nn && m < Mm)
        C[(size_t)m * ldc + n] = acc;
}

/* MUL_MAT_ID prefill: stable counting sort of the columns by expert. One warp takes 32 ids at a
 * time: lanes with the same expert find each other with __match_any_sync, a column's rank among
 * them is the count of lower lanes, the lowest lane advances the expert's cursor (shared memory,
 * E ints). M / 32 steps instead of M dependent global read-modify-writes of one thread. */
__global__ void k_mmid_sort(const int *ids, int M, int E, int *off, int *slot_of, int *col_of,
                            int *flag)
{
    extern __shared__ int cur[];
    const int lane = threadIdx.x;
    if (blockIdx.x != 0 || lane >= 32)
        return;
    for (int e = lane; e < E; e += 32)
        cur[e] = 0;
    __syncwarp();
    for (int base = 0; base < M; base += 32) { /* counts */
        const int m = base + lane;
        int e = m < M ? ids[m] : -1;
        const bool ok = e >= 0 && e < E;
        if (m < M && !ok)
            atomicExch(flag, 1);
        if (!ok)
            e = -1;
        const unsigned peers = __match_any_sync(0xffffffffu, e);
        if (ok && lane == __ffs(peers) - 1)
            cur[e] += __popc(peers);
        __syncwarp();
    }
    if (lane == 0) { /* offsets; cursors start at them */
        int sum = 0;
        off[0] = 0;
        for (int e = 0; e < E; e++) {
            const int n = cur[e];
            cur[e] = sum;
            sum += n;
            off[e + 1] = sum;
        }
    }
    __syncwarp();
    const unsigned below = (1u << lane) - 1u;
    for (int base = 0; base < M; base += 32) {
        const int m = base + lane;
        int e = m < M ? ids[m] : -1;
        const bool ok = e >= 0 && e < E;
        if (!ok)
            e = -1;
        const unsigned peers = __match_any_sync(0xffffffffu, e);
        if (m < M) {
            if (ok) {
                const int sl = cur[e] + __popc(peers & below);
                slot_of[m] = sl;
                col_of[sl] = m;
            } else {
                slot_of[m] = -1;
            }
        }
        __syncwarp();
        if (ok && lane == __ffs(peers) - 1)
            cur[e] += __popc(peers);
        __syncwarp();
    }
}

__global__ void k_mmid_scatter(const float *tmp, int N, const int *slot_of, float *O, size_t os,
                               int M)
{
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (int64_t)N * M)
        return;
    const int m = (int)(i / N), n = (int)(i % N);
    const int s = slot_of[m];
    O[(size_t)m * os + n] = s >= 0 ? tmp[(size_t)s * N + n] : 0.0f;
}

/* --- attention --- */

#define ATT_WARPS 4
#define ATT_MAXD  256

/* keys [*s0, *s1] (positions; slot = position % R) that split sp of nsplit handles for a query
 * at position p: the mask's range [lo, hi] cut into nsplit nearly equal parts (empty: s0 > s1) */
__host__ __device__ __forceinline__ void attn_split_range(int mask, int C, int nkv, int R, int p,
                                                          int nsplit, int sp, int *s0, int *s1)
{
    int lo = 0, hi;
    if (mask == 0) {
        hi = nkv - 1;
    } else {
        hi = p;
        if (mask == 2 && C > 0)
            lo = p / C * C;
        if (p - R + 1 > lo)
            lo = p - R + 1;
    }
    const int len = hi - lo + 1;
    const int chunk = len > 0 ? (len + nsplit - 1) / nsplit : 0;
    *s0 = lo + sp * chunk;
    *s1 = *s0 + chunk - 1 < hi ? *s0 + chunk - 1 : hi;
    if (len <= 0)
        *s1 = *s0 - 1;
}

template <typename KT>
__global__ void k_attn(const char *Q, td q, const char *Kc, td k, const char *Vc, td v,
                       const int *qpos, char *O, td o, int mask, int C, int nkv, int R, int tfloor,
                       float tscale, float scale0, int nsplit, float *part)
{
    __shared__ float sm_m[ATT_WARPS], sm_l[ATT_WARPS];
    __shared__ float sm_acc[ATT_WARPS][ATT_MAXD];
    const int h = blockIdx.x, t = blockIdx.y, sp = blockIdx.z;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int hd = (int)q.ne[0], Hq = (int)q.ne[1], Hkv = (int)k.ne[1];
    const int gk = h / (Hq / Hkv);
    const int nd = (hd + 31) / 32;
    const int p = qpos ? qpos[t] : 0;
    int s0, s1;
    attn_split_range(mask, C, nkv, R, p, nsplit, sp, &s0, &s1);
    float scale = scale0;
    if (tfloor > 0)
        scale *= 1.0f + tscale * logf(floorf((float)(p + 1) / (float)tfloor) + 1.0f);
    const float *qr = (const float *)(Q + h * q.nb[1] + t * q.nb[2]);
    float qv[ATT_MAXD / 32], acc[ATT_MAXD / 32];
#pragma unroll
    for (int i = 0; i < ATT_MAXD / 32; i++) {
        const int d = lane + 32 * i;
        qv[i] = i < nd && d < hd ? qr[d] * scale : 0.0f;
        acc[i] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    const char *kb = Kc + gk * k.nb[1], *vb = Vc + gk * v.nb[1];
    for (int s = s0 + warp; s <= s1; s += ATT_WARPS) {
        const int slot = s % R;
        const KT *kr = (const KT *)(kb + slot * k.nb[2]);
        float dot = 0.0f;
#pragma unroll
        for (int i = 0; i < ATT_MAXD / 32; i++) {
            const int d = lane + 32 * i;
            if (i < nd && d < hd)
                dot = fmaf(qv[i], ldf<KT>(kr + d), dot);
        }
        dot = warp_sum(dot);
        const float mn = fmaxf(m, dot);
        const float corr = expf(m - mn), pe = expf(dot - mn);
        l = l * corr + pe;
        const KT *vr = (const KT *)(vb + slot * v.nb[2]);
#pragma unroll
        for (int i = 0; i < ATT_MAXD / 32; i++) {
            const int d = lane + 32 * i;
            if (i < nd && d < hd)
                acc[i] = acc[i] * corr + pe * ldf<KT>(vr + d);
        }
        m = mn;
    }
    if (lane == 0) {
        sm_m[warp] = m;
        sm_l[warp] = l;
    }
#pragma unroll
    for (int i = 0; i < ATT_MAXD / 32; i++) {
        const int d = lane + 32 * i;
        if (i < nd && d < hd)
            sm_acc[warp][d] = acc[i];
    }
    __syncthreads();
    float M = -INFINITY;
    for (int w = 0; w < ATT_WARPS; w++)
        M = fmaxf(M, sm_m[w]);
    float L = 0.0f, wt[ATT_WARPS];
    for (int w = 0; w < ATT_WARPS; w++) {
        wt[w] = sm_m[w] == -INFINITY ? 0.0f : expf(sm_m[w] - M);
        L += sm_l[w] * wt[w];
    }
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float a = 0.0f;
        for (int w = 0; w < ATT_WARPS; w++)
            a += sm_acc[w][d] * wt[w];
        if (nsplit == 1) {
            float *y = (float *)(O + h * o.nb[1] + t * o.nb[2]);
            y[d] = L > 0.0f ? a / L : 0.0f;
        } else {
            float *pp = part + ((size_t)(t * Hq + h) * nsplit + sp) * (hd + 2);
            pp[2 + d] = a;
            if (d == 0) {
                pp[0] = M;
                pp[1] = L;
            }
        }
    }
}

/* Prefill attention (T >= 2, hd <= 128): one block per (query head, 16 queries), 4 warps of 4
 * queries each. Keys are walked in tiles of 32 staged in shared memory (F32) and shared by the
 * block's 16 queries; lane j scores key j of the tile against the warp's 4 queries (F32 dot over
 * hd from shared memory), online softmax per query, then the tile's probabilities are broadcast
 * with shuffles and each lane accumulates its dims (d = lane + 32 i) of P V. Masks, ring slots
 * and the temperature are the same as k_attn's. */
#define ATQ_Q   16
#define ATQ_K   32
#define ATQ_D   128
#define ATQ_PAD 4

template <typename KT>
__global__ void __launch_bounds__(128)
    k_attn_tile(const char *Q, td q, const char *Kc, td k, const char *Vc, td v, const int *qpos,
                char *O, td o, int mask, int C, int nkv, int R, int tfloor, float tscale,
                float scale0)
{
    __shared__ __align__(16) float qs[ATQ_Q][ATQ_D + ATQ_PAD];
    __shared__ __align__(16) float ks[ATQ_K][ATQ_D + ATQ_PAD];
    __shared__ float vs[ATQ_K][ATQ_D];
    const int h = blockIdx.x, t0 = blockIdx.y * ATQ_Q;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int hd = (int)q.ne[0], Hq = (int)q.ne[1], Hkv = (int)k.ne[1], T = (int)q.ne[2];
    const int gk = h / (Hq / Hkv);
    /* the block's key range: the union of its queries' ranges */
    int S0 = INT_MAX, S1 = INT_MIN;
    for (int i = 0; i < ATQ_Q && t0 + i < T; i++) {
        int a, b;
        attn_split_range(mask, C, nkv, R, qpos ? qpos[t0 + i] : 0, 1, 0, &a, &b);
        if (a <= b) {
            S0 = min(S0, a);
            S1 = max(S1, b);
        }
    }
    /* stage the (scaled) queries */
    for (int idx = threadIdx.x; idx < ATQ_Q * hd; idx += blockDim.x) {
        const int i = idx / hd, d = idx % hd, t = t0 + i;
        float val = 0.0f;
        if (t < T) {
            const int p = qpos ? qpos[t] : 0;
            float sc = scale0;
            if (tfloor > 0)
                sc *= 1.0f + tscale * logf(floorf((float)(p + 1) / (float)tfloor) + 1.0f);
            val = ((const float *)(Q + h * q.nb[1] + (int64_t)t * q.nb[2]))[d] * sc;
        }
        qs[i][d] = val;
    }
    /* this warp's 4 queries: key ranges */
    int lo[4], hi[4];
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const int t = t0 + warp * 4 + i;
        lo[i] = 1;
        hi[i] = 0;
        if (t < T)
            attn_split_range(mask, C, nkv, R, qpos ? qpos[t] : 0, 1, 0, &lo[i], &hi[i]);
    }
    float m[4], l[4], acc[4][ATQ_D / 32];
#pragma unroll
    for (int i = 0; i < 4; i++) {
        m[i] = -INFINITY;
        l[i] = 0.0f;
#pragma unroll
        for (int c = 0; c < ATQ_D / 32; c++)
            acc[i][c] = 0.0f;
    }
    const char *kb = Kc + gk * k.nb[1], *vb = Vc + gk * v.nb[1];
    const int hd4 = hd / 4;
    for (int sb = S0; sb <= S1; sb += ATQ_K) {
        __syncthreads(); /* the previous tile is consumed (and qs is written, first time) */
        for (int j = warp; j < ATQ_K; j += 4) { /* a warp per key row: no index division */
            const int sp = sb + j;
            const KT *kr = (const KT *)(kb + (int64_t)(sp % R) * k.nb[2]);
            const KT *vr = (const KT *)(vb + (int64_t)(sp % R) * v.nb[2]);
            for (int d = lane; d < hd; d += 32) {
                ks[j][d] = sp <= S1 ? ldf<KT>(kr + d) : 0.0f;
                vs[j][d] = sp <= S1 ? ldf<KT>(vr + d) : 0.0f;
            }
        }
        __syncthreads();
        const int sp = sb + lane;
        float sc[4] = { 0.0f, 0.0f, 0.0f, 0.0f };
        const float4 *kr = (const float4 *)&ks[lane][0];
        for (int d4 = 0; d4 < hd4; d4++) {
            const float4 kk = kr[d4];
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const float4 qq = ((const float4 *)&qs[warp * 4 + i][0])[d4];
                sc[i] =
                    fmaf(qq.x, kk.x, fmaf(qq.y, kk.y, fmaf(qq.z, kk.z, fmaf(qq.w, kk.w, sc[i]))));
            }
        }
        float pr[4];
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const bool ok = sp <= S1 && sp >= lo[i] && sp <= hi[i];
            const float s_ = ok ? sc[i] : -INFINITY;
            const float mn = fmaxf(m[i], warp_max(s_));
            if (mn == -INFINITY) { /* nothing visible yet */
                pr[i] = 0.0f;
                continue;
            }
            const float corr = expf(m[i] - mn); /* m = -inf: 0 (acc and l are 0) */
            pr[i] = ok ? expf(s_ - mn) : 0.0f;
            l[i] = l[i] * corr + pr[i];
#pragma unroll
            for (int c = 0; c < ATQ_D / 32; c++)
                acc[i][c] *= corr;
            m[i] = mn;
        }
        const int nk = min(ATQ_K, S1 - sb + 1);
        for (int j = 0; j < nk; j++) {
            float pj[4];
#pragma unroll
            for (int i = 0; i < 4; i++)
                pj[i] = __shfl_sync(0xffffffffu, pr[i], j);
#pragma unroll
            for (int c = 0; c < ATQ_D / 32; c++) {
                const int d = lane + 32 * c;
                if (d < hd) {
                    const float vv = vs[j][d];
#pragma unroll
                    for (int i = 0; i < 4; i++)
                        acc[i][c] = fmaf(pj[i], vv, acc[i][c]);
                }
            }
        }
    }
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const int t = t0 + warp * 4 + i;
        const float L = warp_sum(l[i]);
        if (t >= T)
            continue;
        float *y = (float *)(O + h * o.nb[1] + (int64_t)t * o.nb[2]);
#pragma unroll
        for (int c = 0; c < ATQ_D / 32; c++) {
            const int d = lane + 32 * c;
            if (d < hd)
                y[d] = L > 0.0f ? acc[i][c] / L : 0.0f;
        }
    }
}

__global__ void k_attn_combine(const float *part, int nsplit, int hd, int Hq, char *O, td o)
{
    const int h = blockIdx.x, t = blockIdx.y;
    const float *pp = part + (size_t)(t * Hq + h) * nsplit * (hd + 2);
    float M = -INFINITY;
    for (int s = 0; s < nsplit; s++)
        M = fmaxf(M, pp[s * (hd + 2)]);
    float L = 0.0f;
    for (int s = 0; s < nsplit; s++) {
        const float ms = pp[s * (hd + 2)];
        if (ms != -INFINITY)
            L += pp[s * (hd + 2) + 1] * expf(ms - M);
    }
    float *y = (float *)(O + h * o.nb[1] + t * o.nb[2]);
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float a = 0.0f;
        for (int s = 0; s < nsplit; s++) {
            const float ms = pp[s * (hd + 2)];
            if (ms != -INFINITY)
                a += pp[s * (hd + 2) + 2 + d] * expf(ms - M);
        }
        y[d] = L > 0.0f ? a / L : 0.0f;
    }
}

/* --- small ops --- */

__device__ __forceinline__ void unravel(int64_t i, const int64_t *ne, int64_t *ix)
{
    ix[0] = i % ne[0];
    i /= ne[0];
    ix[1] = i % ne[1];
    i /= ne[1];
    ix[2] = i % ne[2];
    ix[3] = i / ne[2];
}

__device__ __forceinline__ int64_t offs4(const int64_t *ix, const int64_t *nb)
{
    return ix[0] * nb[0] + ix[1] * nb[1] + ix[2] * nb[2] + ix[3] * nb[3];
}

/* ADD MUL SCALE SILU GELU SIGMOID SWIGLU over out's elements (a, b strided; b broadcasts) */
__global__ void k_eltwise(int op, const char *A, td a, const char *B, td b, char *O, td o, float s)
{
    const int64_t n = o.ne[0] * o.ne[1] * o.ne[2] * o.ne[3];
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t ix[4];
        unravel(i, o.ne, ix);
        const float x = *(const float *)(A + offs4(ix, a.nb));
        float y;
        if (op == HERD_OP_ADD || op == HERD_OP_MUL || op == HERD_OP_SWIGLU) {
            int64_t jb[4];
            for (int d = 0; d < 4; d++)
                jb[d] = ix[d] % b.ne[d];
            const float bv = *(const float *)(B + offs4(jb, b.nb));
            if (op == HERD_OP_ADD)
                y = x + bv;
            else if (op == HERD_OP_MUL)
                y = x * bv;
            else
                y = x / (1.0f + expf(-x)) * bv;
        } else if (op == HERD_OP_SCALE) {
            y = x * s;
        } else if (op == HERD_OP_SILU) {
            y = x / (1.0f + expf(-x));
        } else if (op == HERD_OP_SIGMOID) {
            y = 1.0f / (1.0f + expf(-x));
        } else {
            y = 0.5f * x * (1.0f + erff(x * 0.70710678118654752440f));
        }
        *(float *)(O + offs4(ix, o.nb)) = y;
    }
}

__global__ void k_norm(const char *X, td x, const float *w, const float *bias, char *O, td o,
                       float eps, int layer)
{
    __shared__ float sh[32];
    const int64_t r = blockIdx.x;
    const int64_t i1 = r % x.ne[1], i2 = r / x.ne[1] % x.ne[2], i3 = r / x.ne[1] / x.ne[2];
    const float *xr = (const float *)(X + i1 * x.nb[1] + i2 * x.nb[2] + i3 * x.nb[3]);
    float *y = (float *)(O + i1 * o.nb[1] + i2 * o.nb[2] + i3 * o.nb[3]);
    const int D = (int)x.ne[0];
    float mean = 0.0f;
    if (layer) {
        float s = 0.0f;
        for (int i = threadIdx.x; i < D; i += blockDim.x)
            s += xr[i];
        mean = block_sum(s, sh) / (float)D;
    }
    float s2 = 0.0f;
    for (int i = threadIdx.x; i < D; i += blockDim.x) {
        const float d = xr[i] - mean;
        s2 += d * d;
    }
    const float var = block_sum(s2, sh) / (float)D;
    const float inv = 1.0f / sqrtf(var + eps);
    for (int i = threadIdx.x; i < D; i += blockDim.x) {
        float v = (xr[i] - mean) * inv;
        if (w)
            v *= w[i];
        if (bias)
            v += bias[i];
        y[i] = v;
    }
}

__global__ void k_rope(const char *X, td x, const int *pos, const float *ff, char *O, td o,
                       int n_dims, float theta, int two)
{
    const int64_t hd = x.ne[0], H = x.ne[1], T = x.ne[2], npair = hd / 2;
    const int64_t n = npair * H * T;
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    const int64_t pi = i % npair, h = i / npair % H, t = i / npair / H;
    const float *xr = (const float *)(X + h * x.nb[1] + t * x.nb[2]);
    float *y = (float *)(O + h * o.nb[1] + t * o.nb[2]);
    const int64_t nrot = two ? npair : n_dims / 2;
    if (pi >= nrot) {
        y[2 * pi] = xr[2 * pi];
        y[2 * pi + 1] = xr[2 * pi + 1];
        return;
    }
    /* pow/cos/sin in double, rounded once: the correctly rounded float results the CPU's
     * libm gives (CUDA's powf/cosf may be 2 ulp off, which large positions amplify) */
    float angle;
    if (two) {
        const int64_t q4 = hd / 4;
        const int64_t j = pi < q4 ? pi : pi - q4;
        const float f = (float)pow((double)theta, (double)(-2.0f * (float)j / (float)npair));
        angle = (float)pos[2 * t + (pi < q4 ? 0 : 1)] * f;
    } else {
        const float f = (float)pow((double)theta, (double)(-2.0f * (float)pi / (float)n_dims));
        angle = (float)pos[t] * f;
        if (ff)
            angle /= ff[pi];
    }
    const float cs = (float)cos((double)angle), sn = (float)sin((double)angle);
    const float x0 = xr[2 * pi], x1 = xr[2 * pi + 1];
    y[2 * pi] = x0 * cs - x1 * sn;
    y[2 * pi + 1] = x0 * sn + x1 * cs;
}

__global__ void k_softmax(const char *X, td x, char *O, td o, float sc)
{
    __shared__ float sh[32];
    const int64_t r = blockIdx.x;
    const float *xr = (const float *)(X + r * x.nb[1]);
    float *y = (float *)(O + r * o.nb[1]);
    const int D = (int)x.ne[0];
    float m = -INFINITY;
    for (int i = threadIdx.x; i < D; i += blockDim.x)
        m = fmaxf(m, xr[i] * sc);
    m = block_max(m, sh);
    float s = 0.0f;
    for (int i = threadIdx.x; i < D; i += blockDim.x) {
        const float e = expf(xr[i] * sc - m);
        y[i] = e;
        s += e;
    }
    s = block_sum(s, sh);
    const float inv = 1.0f / s;
    for (int i = threadIdx.x; i < D; i += blockDim.x)
        y[i] *= inv;
}

__global__ void k_argmax(const char *X, td x, int *out)
{
    __shared__ float sv[32];
    __shared__ int si[32];
    const int64_t t = blockIdx.x;
    const float *r = (const float *)(X + t * x.nb[1]);
    const int E = (int)x.ne[0];
    float bv = -INFINITY;
    int bi = -1;
    for (int e = threadIdx.x; e < E; e += blockDim.x)
        if (bi < 0 || r[e] > bv) {
            bv = r[e];
            bi = e;
        }
    for (int o = 16; o > 0; o >>= 1) {
        const float ov = __shfl_xor_sync(0xffffffffu, bv, o);
        const int oi = __shfl_xor_sync(0xffffffffu, bi, o);
        if (oi >= 0 && (bi < 0 || ov > bv || (ov == bv && oi < bi))) {
            bv = ov;
            bi = oi;
        }
    }
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    if (lane == 0) {
        sv[w] = bv;
        si[w] = bi;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int k = 1; k < (int)(blockDim.x >> 5); k++)
            if (si[k] >= 0 && (si[0] < 0 || sv[k] > sv[0] || (sv[k] == sv[0] && si[k] < si[0]))) {
                sv[0] = sv[k];
                si[0] = si[k];
            }
        out[t] = si[0] < 0 ? 0 : si[0];
    }
}

__global__ void k_select_sigmoid(const char *X, td x, const int *ids, float *out, int *flag)
{
    const int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= x.ne[1])
        return;
    const int e = ids[t];
    if (e < 0 || e >= x.ne[0]) {
        out[t] = 0.0f;
        atomicExch(flag, 1);
        return;
    }
    const float v = ((const float *)(X + t * x.nb[1]))[e];
    out[t] = 1.0f / (1.0f + expf(-v));
}

__global__ void k_cpy(int st, const char *X, td x, int ot, char *O, td o)
{
    const int64_t n = o.ne[0] * o.ne[1] * o.ne[2] * o.ne[3];
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t ix[4];
        unravel(i, o.ne, ix);
        const char *sp = X + offs4(ix, x.nb);
        char *dp = O + offs4(ix, o.nb);
        if (st == ot && st == HERD_TYPE_F32)
            *(uint32_t *)dp = *(const uint32_t *)sp;
        else if (st == ot)
            *(uint16_t *)dp = *(const uint16_t *)sp;
        else
            st_any(ot, dp, ld_any(st, sp));
    }
}

__global__ void k_concat(const char *A, td a, const char *B, td b, char *O, td o, int dim)
{
    const int64_t n = o.ne[0] * o.ne[1] * o.ne[2] * o.ne[3];
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t ix[4];
        unravel(i, o.ne, ix);
        float v;
        if (ix[dim] < a.ne[dim]) {
            v = *(const float *)(A + offs4(ix, a.nb));
        } else {
            ix[dim] -= a.ne[dim];
            v = *(const float *)(B + offs4(ix, b.nb));
            ix[dim] += a.ne[dim];
        }
        *(float *)(O + offs4(ix, o.nb)) = v;
    }
}

template <int T>
__global__ void k_get_rows_q(const uint8_t *tab, size_t ts, int64_t nrows, int D, const int *ids,
                             int n, char *O, size_t os, int *flag)
{
    const int nch = D / qt<T>::BLK * qt<T>::CPB;
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (int64_t)n * nch)
        return;
    const int r = (int)(i / nch), ch = (int)(i % nch);
    float *y = (float *)(O + (size_t)r * os);
    const int id = ids[r];
    const int ib = ch / qt<T>::CPB, ci = ch % qt<T>::CPB;
    if (id < 0 || id >= nrows) {
        for (int j = 0; j < qt<T>::BLK / qt<T>::CPB; j++)
            y[ch * 8 + j] = 0.0f;
        atomicExch(flag, 1);
        return;
    }
    float v[8];
    int e0;
    deq8<T>(tab + (size_t)id * ts + (size_t)ib * qt<T>::BYTES, ci, v, &e0);
#pragma unroll
    for (int j = 0; j < 8; j++)
        y[ib * qt<T>::BLK + e0 + j] = v[j];
}

__global__ void k_get_rows_plain(int type, const char *tab, size_t ts, int64_t nrows, int D,
                                 const int *ids, int n, char *O, size_t os, int *flag)
{
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (int64_t)n * D)
        return;
    const int r = (int)(i / D), k = (int)(i % D);
    const int id = ids[r];
    float *y = (float *)(O + (size_t)r * os);
    if (id < 0 || id >= nrows) {
        y[k] = 0.0f;
        atomicExch(flag, 1);
        return;
    }
    const size_t es = type == HERD_TYPE_F32 ? 4 : 2;
    y[k] = ld_any(type, tab + (size_t)id * ts + (size_t)k * es);
}

__global__ void k_set_rows(char *O, td o, const char *Rw, td rw, const int *idx, int *flag)
{
    const int64_t j = blockIdx.x;
    const int r = idx[j];
    if (r < 0 || r >= o.ne[1]) {
        if (threadIdx.x == 0)
            atomicExch(flag, 1);
        return;
    }
    const float *src = (const float *)(Rw + j * rw.nb[1]);
    float *dst = (float *)(O + r * o.nb[1]);
    for (int k = threadIdx.x; k < o.ne[0]; k += blockDim.x)
        dst[k] = src[k];
}

template <typename CT>
__global__ void k_kv_store(const char *S, td s, char *Cc, td c, const int *pos, int R, int *flag)
{
    const int64_t hd = s.ne[0], H = s.ne[1], T = s.ne[2];
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= hd * H * T)
        return;
    const int64_t d = i % hd, h = i / hd % H, t = i / hd / H;
    const int p = pos[t];
    if (p < 0) {
        if (d == 0)
            atomicExch(flag, 1);
        return;
    }
    const float v = ((const float *)(S + h * s.nb[1] + t * s.nb[2]))[d];
    CT *dst = (CT *)(Cc + h * c.nb[1] + (int64_t)(p % R) * c.nb[2]);
    if constexpr (sizeof(CT) == 4)
        dst[d] = v;
    else
        dst[d] = __float2half_rn(v);
}

/* --- synthetic weights --- */

__device__ __forceinline__ uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

__global__ void k_synth_words(uint64_t *dst, size_t nwords, uint64_t seed)
{
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < nwords;
         i += (size_t)gridDim.x * blockDim.x)
        dst[i] = mix64(seed + (i + 1) * 0x9E3779B97F4A7C15ull);
}

__global__ void k_synth_plain(uint16_t *dst, size_t n, uint64_t seed, float a, int bf)
{
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const float u =
            (float)(mix64(seed + (i + 1) * 0x9E3779B97F4A7C15ull) >> 40) / 16777216.0f * 2.0f -
            1.0f;
        const float v = a * u * 1.7f;
        dst[i] = bf ? __bfloat16_as_ushort(__float2bfloat16_rn(v))
                    : __half_as_ushort(__float2half_rn(v));
    }
}

/* valid scales per block (model.c fill_random): offsets and values by type */
__global__ void k_synth_scales(uint8_t *dst, size_t nblocks, int bytes, int off0, float s0,
                               int off1, float s1)
{
    for (size_t b = (size_t)blockIdx.x * blockDim.x + threadIdx.x; b < nblocks;
         b += (size_t)gridDim.x * blockDim.x) {
        uint8_t *blk = dst + b * (size_t)bytes;
        __half h0 = __float2half_rn(s0);
        memcpy(blk + off0, &h0, 2);
        if (off1 >= 0) {
            __half h1 = __float2half_rn(s1);
            memcpy(blk + off1, &h1, 2);
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* kernel launchers                                                                            */

#define LAUNCH_CHECK(err)                                                            \
    do {                                                                             \
        cudaError_t e_ = cudaGetLastError();                                         \
        if (e_ != cudaSuccess)                                                       \
            return herd_error_set((err), HERD_ERR_DEVICE, "CUDA launch: %s (%s:%d)", \
                                  cudaGetErrorString(e_), __FILE__, __LINE__);       \
    } while (0)

static inline size_t al256(size_t n)
{
    return (n + 255) & ~(size_t)255;
}

static int grid_for(int64_t n, int threads)
{
    int64_t g = CEIL_DIV(n, (int64_t)threads);
    return (int)(g > 65535 * 16 ? 65535 * 16 : (g < 1 ? 1 : g));
}

bool herd_cu_type_ok(herd_type t)
{
    switch (t) {
    case HERD_TYPE_F32:
    case HERD_TYPE_F16:
    case HERD_TYPE_BF16:
    case HERD_TYPE_Q8_0:
    case HERD_TYPE_Q4_0:
    case HERD_TYPE_Q4_K:
    case HERD_TYPE_Q5_K:
    case HERD_TYPE_Q6_K:
        return true;
    default:
        return false;
    }
}

static bool is_quant(herd_type t)
{
    return t != HERD_TYPE_F32 && t != HERD_TYPE_F16 && t != HERD_TYPE_BF16;
}

#define MV_MAX_M   8                  /* columns up to which matmuls stay matrix-vector */
#define TILE_BYTES ((size_t)64 << 20) /* F16 weight tile of the GEMM path */

static int64_t tile_rows(int64_t N, int64_t K)
{
    int64_t r = (int64_t)(TILE_BYTES / ((size_t)K * 2));
    r = r / 64 * 64;
    if (r < 64)
        r = 64;
    return r < N ? r : N;
}

/* C[m x n] (col-major, ldc) = A^T B, A k x m (lda), B k x n (ldb); A, B of type dt */
static herd_status gemm(cu_ctx *c, cudaDataType dt, const void *A, int lda, const void *B, int ldb,
                        float *C, int ldc, int m, int n, int k, herd_error *err)
{
    if (c->blas.h) {
        const float one = 1.0f, zero = 0.0f;
        cublasStatus_t s = c->blas.gemm_ex(c->blas.h, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &one, A,
                                           dt, lda, B, dt, ldb, &zero, C, CUDA_R_32F, ldc,
                                           CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
        if (s != CUBLAS_STATUS_SUCCESS)
            return herd_error_set(err, HERD_ERR_DEVICE,
                                  "cublasGemmEx failed (status %d, m %d n %d "
                                  "k %d)",
                                  (int)s, m, n, k);
        return HERD_OK;
    }
    dim3 grid(CEIL_DIV(m, GT), CEIL_DIV(n, GT)), blk(GT, GT);
    if (dt == CUDA_R_32F)
        k_gemm<float><<<grid, blk, 0, c->stream>>>((const float *)A, lda, (const float *)B, ldb, C,
                                                   ldc, m, n, k);
    else if (dt == CUDA_R_16F)
        k_gemm<__half><<<grid, blk, 0, c->stream>>>((const __half *)A, lda, (const __half *)B, ldb,
                                                    C, ldc, m, n, k);
    else
        k_gemm<__nv_bfloat16><<<grid, blk, 0, c->stream>>>(
            (const __nv_bfloat16 *)A, lda, (const __nv_bfloat16 *)B, ldb, C, ldc, m, n, k);
    LAUNCH_CHECK(err);
    return HERD_OK;
}

/* int8 mat-vec (default for quantized weights); HERD_CUDA_MV=float keeps the F32 dequant path */
static bool mv_int8(herd_type wt)
{
    static int mode = -1;
    if (mode < 0) {
        const char *e = getenv("HERD_CUDA_MV");
        mode = e && !strcmp(e, "float") ? 0 : 1;
    }
    return mode == 1 && wt != HERD_TYPE_F32 && wt != HERD_TYPE_F16 && wt != HERD_TYPE_BF16;
}

/* the 128-bit K-quant mat-vec (default); HERD_CUDA_MV=chunk keeps the chunk-per-lane kernel */
static bool mv_kq_on(void)
{
    static int on = -1;
    if (on < 0) {
        const char *e = getenv("HERD_CUDA_MV");
        on = !(e && !strcmp(e, "chunk"));
    }
    return on == 1;
}

/* MUL_MAT_ID batches: experts with <= MV_MAX_M columns through the int8 mat-vec
 * (HERD_CUDA_MMID_MV=0: every used expert through the F16 tile GEMM) */
static bool mmid_mv_on(void)
{
    static int on = -1;
    if (on < 0) {
        const char *e = getenv("HERD_CUDA_MMID_MV");
        on = !(e && !strcmp(e, "0"));
    }
    return on == 1;
}

/* scratch of the int8 activations of M columns of K values */
static size_t mv_q8_bytes(int64_t K, int64_t M)
{
    return al256((size_t)(K * M)) + al256((size_t)(K / 32 * M) * 4);
}

/* matrix-vector launch for weight type wt (ids: MUL_MAT_ID decode, one grid row per column).
 * The int8 path quantizes X into the scratch (reused by the next matmul on the same X); with
 * q8buf (mv_q8_bytes(K, M)) it quantizes X's columns col_map[0..M) there instead, uncached. */
static herd_status launch_mv(cu_ctx *c, herd_type wt, const char *W, size_t ws, int N, int K,
                             const float *X, size_t xs, int M, float *O, size_t os, const int *ids,
                             size_t es, int E, herd_error *err, const int *col_map = NULL,
                             char *q8buf = NULL)
{
    dim3 grid(CEIL_DIV(N, MV_WARPS), ids ? M : 1), blk(32 * MV_WARPS);
    const uint8_t *w = (const uint8_t *)W;
    cudaStream_t s = c->stream;
    int *f = c->d_flag;
    if (mv_int8(wt)) {
        char *qb = q8buf ? q8buf : c->scratch;
        int8_t *xq = (int8_t *)qb;
        float *xd = (float *)(qb + al256((size_t)K * M));
        const int64_t nthreads = (int64_t)(K / 32) * M * 32;
        if (q8buf) {
            k_quant_x<<<(int)CEIL_DIV(nthreads, 256), 256, 0, s>>>(X, xs, K, M, col_map, xq, xd);
            LAUNCH_CHECK(err);
        } else if (!(c->q8_src == X && c->q8_K == K && c->q8_M == M && c->q8_xs == xs)) {
            k_quant_x<<<(int)CEIL_DIV(nthreads, 256), 256, 0, s>>>(X, xs, K, M, NULL, xq, xd);
            LAUNCH_CHECK(err);
            c->q8_src = X;
            c->q8_K = K;
            c->q8_M = M;
            c->q8_xs = xs;
        }
        const bool kq = (wt == HERD_TYPE_Q4_K || wt == HERD_TYPE_Q5_K) && mv_kq_on() &&
                        (uintptr_t)W % 16 == 0 && ws % 16 == 0 && es % 16 == 0;
        if (kq) {
            /* warps per row: enough warps in flight for short matrices (K/V projections) */
            const int nb = K / 256;
            const int64_t target = 32 * (int64_t)c->prop.multiProcessorCount;
            int wpr = 1;
            while (wpr < MVK_WARPS && (int64_t)N * (ids ? M : 1) * wpr < target &&
                   CEIL_DIV(nb, 4 * wpr) > 1)
                wpr *= 2;
            dim3 g2(CEIL_DIV(N, MVK_WARPS / wpr), ids ? M : 1);
            const bool one = ids || M == 1;
#define MVK(T, MC) \
    k_mv_kq<T, MC><<<g2, 32 * MVK_WARPS, 0, s>>>(w, ws, N, K, xq, xd, M, O, os, ids, es, E, f, wpr)
            if (wt == HERD_TYPE_Q4_K && one)
                MVK(HERD_TYPE_Q4_K, 1);
            else if (wt == HERD_TYPE_Q4_K)
                MVK(HERD_TYPE_Q4_K, MV_MAXC);
            else if (one)
                MVK(HERD_TYPE_Q5_K, 1);
            else
                MVK(HERD_TYPE_Q5_K, MV_MAXC);
#undef MVK
            LAUNCH_CHECK(err);
            return HERD_OK;
        }
        switch (wt) {
#define MVQ8(T)                                                                        \
    case T:                                                                            \
        k_mv_q8<T><<<grid, blk, 0, s>>>(w, ws, N, K, xq, xd, M, O, os, ids, es, E, f); \
        break;
            MVQ8(HERD_TYPE_Q8_0)
            MVQ8(HERD_TYPE_Q4_0)
            MVQ8(HERD_TYPE_Q4_K)
            MVQ8(HERD_TYPE_Q5_K)
            MVQ8(HERD_TYPE_Q6_K)
#undef MVQ8
        default:
            return herd_error_set(err, HERD_ERR_UNSUPPORTED, "CUDA: no kernel for %s weights",
                                  herd_type_name(wt));
        }
        LAUNCH_CHECK(err);
        return HERD_OK;
    }
    switch (wt) {
#define MVQ(T)                                                                       \
    case T:                                                                          \
        k_mv_q<T><<<grid, blk, 0, s>>>(w, ws, N, K, X, xs, M, O, os, ids, es, E, f); \
        break;
        MVQ(HERD_TYPE_Q8_0)
        MVQ(HERD_TYPE_Q4_0)
        MVQ(HERD_TYPE_Q4_K)
        MVQ(HERD_TYPE_Q5_K)
        MVQ(HERD_TYPE_Q6_K)
#undef MVQ
    case HERD_TYPE_F32:
        k_mv_plain<float>
            <<<grid, blk, 0, s>>>((const float *)W, ws, N, K, X, xs, M, O, os, ids, es, E, f);
        break;
    case HERD_TYPE_F16:
        k_mv_plain<__half>
            <<<grid, blk, 0, s>>>((const __half *)W, ws, N, K, X, xs, M, O, os, ids, es, E, f);
        break;
    case HERD_TYPE_BF16:
        k_mv_plain<__nv_bfloat16><<<grid, blk, 0, s>>>((const __nv_bfloat16 *)W, ws, N, K, X, xs, M,
                                                       O, os, ids, es, E, f);
        break;
    default:
        return herd_error_set(err, HERD_ERR_UNSUPPORTED, "CUDA: no kernel for %s weights",
                              herd_type_name(wt));
    }
    LAUNCH_CHECK(err);
    return HERD_OK;
}

static herd_status launch_deq_tile(cu_ctx *c, herd_type wt, const char *W, size_t ws, int64_t r0,
                                   int nr, int K, __half *dst, herd_error *err)
{
    const herd_type_info *ti = herd_type_get(wt);
    const int64_t n = (int64_t)nr * (K / (int)ti->blck) * ((int)ti->blck / 8);
    const int g = (int)CEIL_DIV(n, 256);
    const uint8_t *w = (const uint8_t *)W;
    switch (wt) {
#define DQ(T)                                                           \
    case T:                                                             \
        k_deq_tile<T><<<g, 256, 0, c->stream>>>(w, ws, r0, nr, K, dst); \
        break;
        DQ(HERD_TYPE_Q8_0)
        DQ(HERD_TYPE_Q4_0)
        DQ(HERD_TYPE_Q4_K)
        DQ(HERD_TYPE_Q5_K)
        DQ(HERD_TYPE_Q6_K)
#undef DQ
    default:
        return herd_error_set(err, HERD_ERR_UNSUPPORTED, "CUDA: cannot dequantize %s",
                              herd_type_name(wt));
    }
    LAUNCH_CHECK(err);
    return HERD_OK;
}

/* activation element type of the GEMM path for weight type wt */
static cudaDataType gemm_dt(herd_type wt)
{
    return wt == HERD_TYPE_F32 ? CUDA_R_32F : wt == HERD_TYPE_BF16 ? CUDA_R_16BF : CUDA_R_16F;
}

static size_t dt_size(cudaDataType dt)
{
    return dt == CUDA_R_32F ? 4 : 2;
}

static herd_status launch_pack(cu_ctx *c, cudaDataType dt, const float *X, size_t xs, int K, int M,
                               const int *col_of, void *dst, herd_error *err)
{
    const int g = (int)CEIL_DIV((int64_t)K * M, 256);
    if (dt == CUDA_R_32F)
        k_x_pack<float><<<g, 256, 0, c->stream>>>(X, xs, K, M, col_of, (float *)dst);
    else if (dt == CUDA_R_16F)
        k_x_pack<__half><<<g, 256, 0, c->stream>>>(X, xs, K, M, col_of, (__half *)dst);
    else
        k_x_pack<__nv_bfloat16>
            <<<g, 256, 0, c->stream>>>(X, xs, K, M, col_of, (__nv_bfloat16 *)dst);
    LAUNCH_CHECK(err);
    return HERD_OK;
}

/* out[:, cols] (ldc floats) = W^T X for packed X [M][K] of the weight's GEMM type */
static herd_status gemm_weight(cu_ctx *c, herd_type wt, const char *W, size_t ws, int N, int K,
                               const void *Xp, int M, float *O, int ldc, __half *tile,
                               herd_error *err)
{
    const cudaDataType dt = gemm_dt(wt);
    if (!is_quant(wt))
        return gemm(c, dt, W, (int)(ws / dt_size(dt)), Xp, K, O, ldc, N, M, K, err);
    const int64_t tr = tile_rows(N, K);
    for (int64_t r0 = 0; r0 < N; r0 += tr) {
        const int nr = (int)(N - r0 < tr ? N - r0 : tr);
        herd_status st = launch_deq_tile(c, wt, W, ws, r0, nr, K, tile, err);
        if (!st)
            st = gemm(c, CUDA_R_16F, tile, K, Xp, K, O + r0, ldc, nr, M, K, err);
        if (st)
            return st;
    }
    return HERD_OK;
}

static herd_status op_mul_mat(cu_ctx *c, const herd_node *n, herd_error *err)
{
    const herd_tensor *w = n->src[0], *x = n->src[1], *out = n->out;
    const int K = (int)w->ne[0], N = (int)w->ne[1], M = (int)x->ne[1];
    const char *wb = herd_cu_ptr(c, w), *xb = herd_cu_ptr(c, x);
    char *ob = herd_cu_ptr(c, out);
    const cudaDataType dt = gemm_dt(w->type);
    for (int64_t i3 = 0; i3 < x->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < x->ne[2]; i2++) {
            const char *wp = wb + (i2 / (x->ne[2] / w->ne[2])) * w->nb[2] +
                             (i3 / (x->ne[3] / w->ne[3])) * w->nb[3];
            const float *xp = (const float *)(xb + i2 * x->nb[2] + i3 * x->nb[3]);
            float *op = (float *)(ob + i2 * out->nb[2] + i3 * out->nb[3]);
            herd_status st;
            if (M <= MV_MAX_M) {
                st = launch_mv(c, w->type, wp, w->nb[1], N, K, xp, x->nb[1] / 4, M, op,
                               out->nb[1] / 4, NULL, 0, 0, err);
            } else if (w->type == HERD_TYPE_F32) {
                st = gemm(c, CUDA_R_32F, wp, (int)(w->nb[1] / 4), xp, (int)(x->nb[1] / 4), op,
                          (int)(out->nb[1] / 4), N, M, K, err);
            } else {
                void *xh = c->scratch;
                __half *tile = (__half *)(c->scratch + al256((size_t)K * M * dt_size(dt)));
                st = launch_pack(c, dt, xp, x->nb[1] / 4, K, M, NULL, xh, err);
                if (!st)
                    st = gemm_weight(c, w->type, wp, w->nb[1], N, K, xh, M, op,
                                     (int)(out->nb[1] / 4), tile, err);
            }
            if (st)
                return st;
        }
    return HERD_OK;
}

static herd_status op_mul_mat_id(cu_ctx *c, const herd_node *n, herd_error *err)
{
    const herd_tensor *w = n->src[0], *x = n->src[1], *out = n->out;
    const int K = (int)w->ne[0], N = (int)w->ne[1], E = (int)w->ne[2], M = (int)x->ne[1];
    const char *wb = herd_cu_ptr(c, w);
    const float *xb = (const float *)herd_cu_ptr(c, x);
    float *ob = (float *)herd_cu_ptr(c, out);
    const int *ids = (const int *)herd_cu_ptr(c, n->src[2]);
    const size_t os = out->nb[1] / 4, xs = x->nb[1] / 4;
    if (M <= MV_MAX_M)
        return launch_mv(c, w->type, wb, w->nb[1], N, K, xb, xs, M, ob, os, ids, w->nb[2], E, err);
    /* prefill: sort columns by expert, one GEMM per used expert, scatter back */
    const cudaDataType dt = gemm_dt(w->type);
    char *p = c->scratch;
    int *slot_of = (int *)p, *col_of = slot_of + M, *off = col_of + M;
    p += al256((size_t)(2 * M + E + 1) * 4);
    void *xs_sorted = p;
    p += al256((size_t)K * M * dt_size(dt));
    float *tmp = (float *)p;
    p += al256((size_t)N * M * 4);
    __half *tile = (__half *)p;
    if (is_quant(w->type))
        p += al256((size_t)tile_rows(N, K) * K * 2);
    /* experts with few columns: int8 mat-vec straight from the quantized blocks (no F16 tile of
     * the whole expert for a handful of tokens: many experts, short prompts) */
    char *q8 = mv_int8(w->type) ? p : NULL;
    k_mmid_sort<<<1, 32, (size_t)E * 4, c->stream>>>(ids, M, E, off, slot_of, col_of, c->d_flag);
    LAUNCH_CHECK(err);
    herd_status st = launch_pack(c, dt, xb, xs, K, M, col_of, xs_sorted, err);
    if (st)
        return st;
    /* the host needs the per-expert counts for the GEMM sizes: one sync per node */
    CU_CHECK(err, cudaMemcpyAsync(c->h_counts, off, (size_t)(E + 1) * 4, cudaMemcpyDeviceToHost,
                                  c->stream));
    CU_CHECK(err, cudaStreamSynchronize(c->stream));
    for (int e = 0; e < E; e++) {
        const int c0 = c->h_counts[e], cnt = c->h_counts[e + 1] - c0;
        if (cnt <= 0)
            continue;
        const char *xe = (const char *)xs_sorted + (size_t)c0 * K * dt_size(dt);
        if (q8 && cnt <= MV_MAX_M && mmid_mv_on())
            st = launch_mv(c, w->type, wb + (size_t)e * w->nb[2], w->nb[1], N, K, xb, xs, cnt,
                           tmp + (size_t)c0 * N, N, NULL, 0, 0, err, col_of + c0, q8);
        else
            st = gemm_weight(c, w->type, wb + (size_t)e * w->nb[2], w->nb[1], N, K, xe, cnt,
                             tmp + (size_t)c0 * N, N, tile, err);
        if (st)
            return st;
    }
    k_mmid_scatter<<<(int)CEIL_DIV((int64_t)N * M, 256), 256, 0, c->stream>>>(tmp, N, slot_of, ob,
                                                                              os, M);
    LAUNCH_CHECK(err);
    return HERD_OK;
}

/* prefill attention through k_attn_tile (HERD_CUDA_ATTN=simple: always k_attn) */
static bool attn_tiled(const herd_node *n)
{
    static int on = -1;
    if (on < 0) {
        const char *e = getenv("HERD_CUDA_ATTN");
        on = !(e && !strcmp(e, "simple"));
    }
    const herd_tensor *q = n->src[0], *k = n->src[1];
    return on == 1 && q->ne[2] >= 2 && q->ne[0] <= ATQ_D && q->ne[0] % 4 == 0 &&
           (k->type == HERD_TYPE_F16 || k->type == HERD_TYPE_F32);
}

static int attn_splits(cu_ctx *c, const herd_node *n)
{
    const herd_tensor *q = n->src[0], *k = n->src[1];
    if (attn_tiled(n))
        return 1;
    const int64_t blocks = q->ne[1] * q->ne[2];
    int64_t kmax = n->ip[0] == 0 ? n->ip[2] : (n->ip[3] < k->ne[2] ? n->ip[3] : k->ne[2]);
    if (n->ip[0] == 2 && n->ip[1] > 0 && n->ip[1] < kmax)
        kmax = n->ip[1];
    const int64_t target = 2 * (int64_t)c->prop.multiProcessorCount;
    if (blocks >= target)
        return 1;
    int64_t s = CEIL_DIV(target, blocks), by_len = CEIL_DIV(kmax, 256);
    if (s > by_len)
        s = by_len;
    if (s > 64)
        s = 64;
    return s < 1 ? 1 : (int)s;
}

static herd_status op_attention(cu_ctx *c, const herd_node *n, herd_error *err)
{
    const herd_tensor *q = n->src[0], *k = n->src[1], *v = n->src[2], *out = n->out;
    const int ns = attn_splits(c, n);
    const int R = n->ip[3] > 0 ? n->ip[3] : (int)k->ne[2];
    dim3 grid((unsigned)q->ne[1], (unsigned)q->ne[2], (unsigned)ns), blk(32 * ATT_WARPS);
    const int *qpos = n->src[3] ? (const int *)herd_cu_ptr(c, n->src[3]) : NULL;
    float *part = (float *)c->scratch;
    if (attn_tiled(n)) {
        dim3 g2((unsigned)q->ne[1], (unsigned)CEIL_DIV(q->ne[2], ATQ_Q));
        if (k->type == HERD_TYPE_F16)
            k_attn_tile<__half><<<g2, 128, 0, c->stream>>>(
                herd_cu_ptr(c, q), mk_td(q), herd_cu_ptr(c, k), mk_td(k), herd_cu_ptr(c, v),
                mk_td(v), qpos, herd_cu_ptr(c, out), mk_td(out), n->ip[0], n->ip[1], n->ip[2], R,
                n->ip[4], n->fp[1], n->fp[0]);
        else
            k_attn_tile<float><<<g2, 128, 0, c->stream>>>(
                herd_cu_ptr(c, q), mk_td(q), herd_cu_ptr(c, k), mk_td(k), herd_cu_ptr(c, v),
                mk_td(v), qpos, herd_cu_ptr(c, out), mk_td(out), n->ip[0], n->ip[1], n->ip[2], R,
                n->ip[4], n->fp[1], n->fp[0]);
        LAUNCH_CHECK(err);
        return HERD_OK;
    }
    if (k->type == HERD_TYPE_F16)
        k_attn<__half><<<grid, blk, 0, c->stream>>>(
            herd_cu_ptr(c, q), mk_td(q), herd_cu_ptr(c, k), mk_td(k), herd_cu_ptr(c, v), mk_td(v),
            qpos, herd_cu_ptr(c, out), mk_td(out), n->ip[0], n->ip[1], n->ip[2], R, n->ip[4],
            n->fp[1], n->fp[0], ns, part);
    else
        k_attn<float><<<grid, blk, 0, c->stream>>>(
            herd_cu_ptr(c, q), mk_td(q), herd_cu_ptr(c, k), mk_td(k), herd_cu_ptr(c, v), mk_td(v),
            qpos, herd_cu_ptr(c, out), mk_td(out), n->ip[0], n->ip[1], n->ip[2], R, n->ip[4],
            n->fp[1], n->fp[0], ns, part);
    LAUNCH_CHECK(err);
    if (ns > 1) {
        k_attn_combine<<<dim3((unsigned)q->ne[1], (unsigned)q->ne[2]), 128, 0, c->stream>>>(
            part, ns, (int)q->ne[0], (int)q->ne[1], herd_cu_ptr(c, out), mk_td(out));
        LAUNCH_CHECK(err);
    }
    return HERD_OK;
}

static herd_status op_get_rows(cu_ctx *c, const herd_node *n, herd_error *err)
{
    const herd_tensor *tab = n->src[0], *ids = n->src[1], *out = n->out;
    const int D = (int)tab->ne[0], cnt = (int)ids->ne[0];
    const char *tb = herd_cu_ptr(c, tab);
    const int *ib = (const int *)herd_cu_ptr(c, ids);
    char *ob = herd_cu_ptr(c, out);
    if (cnt <= 0)
        return HERD_OK;
    if (!is_quant(tab->type)) {
        k_get_rows_plain<<<(int)CEIL_DIV((int64_t)cnt * D, 256), 256, 0, c->stream>>>(
            tab->type, tb, tab->nb[1], tab->ne[1], D, ib, cnt, ob, out->nb[1], c->d_flag);
        LAUNCH_CHECK(err);
        return HERD_OK;
    }
    const herd_type_info *ti = herd_type_get(tab->type);
    const int g = (int)CEIL_DIV((int64_t)cnt * (D / (int)ti->blck) * ((int)ti->blck / 8), 256);
    const uint8_t *t8 = (const uint8_t *)tb;
    switch (tab->type) {
#define GR(T)                                                                                 \
    case T:                                                                                   \
        k_get_rows_q<T><<<g, 256, 0, c->stream>>>(t8, tab->nb[1], tab->ne[1], D, ib, cnt, ob, \
                                                  out->nb[1], c->d_flag);                     \
        break;
        GR(HERD_TYPE_Q8_0)
        GR(HERD_TYPE_Q4_0)
        GR(HERD_TYPE_Q4_K)
        GR(HERD_TYPE_Q5_K)
        GR(HERD_TYPE_Q6_K)
#undef GR
    default:
        return herd_error_set(err, HERD_ERR_UNSUPPORTED, "CUDA get_rows: type %s",
                              herd_type_name(tab->type));
    }
    LAUNCH_CHECK(err);
    return HERD_OK;
}

herd_status herd_cu_run_node(cu_ctx *c, const herd_node *n, herd_error *err)
{
    const herd_tensor *a = n->src[0], *b = n->src[1], *out = n->out;
    /* the int8 activations in the scratch stay valid only across decode-sized matmuls */
    if ((n->op != HERD_OP_MUL_MAT && n->op != HERD_OP_MUL_MAT_ID) || b->ne[1] > MV_MAX_M ||
        b->ne[2] * b->ne[3] > 1)
        c->q8_src = NULL;
    cudaStream_t s = c->stream;
    const int64_t nel = herd_tensor_nelements(out);
    switch (n->op) {
    case HERD_OP_GET_ROWS:
        return op_get_rows(c, n, err);
    case HERD_OP_SET_ROWS:
        if (b->ne[1] > 0)
            k_set_rows<<<(unsigned)b->ne[1], 256, 0, s>>>(
                herd_cu_ptr(c, out), mk_td(out), herd_cu_ptr(c, b), mk_td(b),
                (const int *)herd_cu_ptr(c, n->src[2]), c->d_flag);
        break;
    case HERD_OP_MUL_MAT:
        return op_mul_mat(c, n, err);
    case HERD_OP_MUL_MAT_ID:
        return op_mul_mat_id(c, n, err);
    case HERD_OP_RMS_NORM:
    case HERD_OP_LAYER_NORM: {
        const int64_t rows = a->ne[1] * a->ne[2] * a->ne[3];
        const float *w = b ? (const float *)herd_cu_ptr(c, b) : NULL;
        const float *bias = n->op == HERD_OP_LAYER_NORM && n->src[2]
                                ? (const float *)herd_cu_ptr(c, n->src[2])
                                : NULL;
        if (rows > 0)
            k_norm<<<(unsigned)rows, 256, 0, s>>>(herd_cu_ptr(c, a), mk_td(a), w, bias,
                                                  herd_cu_ptr(c, out), mk_td(out), n->fp[0],
                                                  n->op == HERD_OP_LAYER_NORM);
        break;
    }
    case HERD_OP_ROPE:
    case HERD_OP_ROPE_2D: {
        const bool two = n->op == HERD_OP_ROPE_2D;
        const int64_t cnt = a->ne[0] / 2 * a->ne[1] * a->ne[2];
        const float *ff = !two && n->src[2] ? (const float *)herd_cu_ptr(c, n->src[2]) : NULL;
        if (cnt > 0)
            k_rope<<<grid_for(cnt, 256), 256, 0, s>>>(
                herd_cu_ptr(c, a), mk_td(a), (const int *)herd_cu_ptr(c, b), ff,
                herd_cu_ptr(c, out), mk_td(out), n->ip[0], n->fp[0], two);
        break;
    }
    case HERD_OP_ATTENTION:
        return op_attention(c, n, err);
    case HERD_OP_KV_STORE: {
        const int R = n->ip[0] > 0 ? n->ip[0] : (int)b->ne[2];
        const int64_t cnt = a->ne[0] * a->ne[1] * a->ne[2];
        const int *pos = (const int *)herd_cu_ptr(c, n->src[2]);
        if (cnt <= 0)
            break;
        if (b->type == HERD_TYPE_F16)
            k_kv_store<__half><<<grid_for(cnt, 256), 256, 0, s>>>(
                herd_cu_ptr(c, a), mk_td(a), herd_cu_ptr(c, out), mk_td(b), pos, R, c->d_flag);
        else
            k_kv_store<float><<<grid_for(cnt, 256), 256, 0, s>>>(
                herd_cu_ptr(c, a), mk_td(a), herd_cu_ptr(c, out), mk_td(b), pos, R, c->d_flag);
        break;
    }
    case HERD_OP_SOFTMAX: {
        const int64_t rows = a->ne[1] * a->ne[2] * a->ne[3];
        if (rows > 0)
            k_softmax<<<(unsigned)rows, 256, 0, s>>>(herd_cu_ptr(c, a), mk_td(a),
                                                     herd_cu_ptr(c, out), mk_td(out), n->fp[0]);
        break;
    }
    case HERD_OP_ADD:
    case HERD_OP_MUL:
    case HERD_OP_SCALE:
    case HERD_OP_SILU:
    case HERD_OP_GELU:
    case HERD_OP_SIGMOID:
    case HERD_OP_SWIGLU: {
        if (nel <= 0)
            break;
        td tb = b ? mk_td(b) : mk_td(a);
        k_eltwise<<<grid_for(nel, 256), 256, 0, s>>>(n->op, herd_cu_ptr(c, a), mk_td(a),
                                                     b ? herd_cu_ptr(c, b) : NULL, tb,
                                                     herd_cu_ptr(c, out), mk_td(out), n->fp[0]);
        break;
    }
    case HERD_OP_ARGMAX:
        if (a->ne[1] > 0)
            k_argmax<<<(unsigned)a->ne[1], 128, 0, s>>>(herd_cu_ptr(c, a), mk_td(a),
                                                        (int *)herd_cu_ptr(c, out));
        break;
    case HERD_OP_SELECT_SIGMOID:
        if (a->ne[1] > 0)
            k_select_sigmoid<<<grid_for(a->ne[1], 128), 128, 0, s>>>(
                herd_cu_ptr(c, a), mk_td(a), (const int *)herd_cu_ptr(c, b),
                (float *)herd_cu_ptr(c, out), c->d_flag);
        break;
    case HERD_OP_CPY:
        if (nel > 0)
            k_cpy<<<grid_for(nel, 256), 256, 0, s>>>(a->type, herd_cu_ptr(c, a), mk_td(a),
                                                     out->type, herd_cu_ptr(c, out), mk_td(out));
        break;
    case HERD_OP_CONCAT:
        if (nel > 0)
            k_concat<<<grid_for(nel, 256), 256, 0, s>>>(herd_cu_ptr(c, a), mk_td(a),
                                                        herd_cu_ptr(c, b), mk_td(b),
                                                        herd_cu_ptr(c, out), mk_td(out), n->ip[0]);
        break;
    default:
        return herd_error_set(err, HERD_ERR_UNSUPPORTED, "CUDA: op %s not supported",
                              herd_op_name(n->op));
    }
    LAUNCH_CHECK(err);
    return HERD_OK;
}

size_t herd_cu_node_scratch(cu_ctx *c, const herd_node *n)
{
    switch (n->op) {
    case HERD_OP_MUL_MAT: {
        const herd_tensor *w = n->src[0], *x = n->src[1];
        const int64_t K = w->ne[0], M = x->ne[1];
        if (M <= MV_MAX_M)
            return mv_int8(w->type) ? mv_q8_bytes(K, M) : 0;
        if (w->type == HERD_TYPE_F32)
            return 0;
        size_t s = al256((size_t)K * M * dt_size(gemm_dt(w->type)));
        if (is_quant(w->type))
            s += al256((size_t)tile_rows(w->ne[1], K) * K * 2);
        return s;
    }
    case HERD_OP_MUL_MAT_ID: {
        const herd_tensor *w = n->src[0], *x = n->src[1];
        const int64_t K = w->ne[0], N = w->ne[1], E = w->ne[2], M = x->ne[1];
        if (M <= MV_MAX_M)
            return mv_int8(w->type) ? mv_q8_bytes(K, M) : 0;
        size_t s = al256((size_t)(2 * M + E + 1) * 4) +
                   al256((size_t)K * M * dt_size(gemm_dt(w->type))) + al256((size_t)N * M * 4);
        if (is_quant(w->type))
            s += al256((size_t)tile_rows(N, K) * K * 2);
        if (mv_int8(w->type))
            s += mv_q8_bytes(K, MV_MAX_M);
        return s;
    }
    case HERD_OP_ATTENTION: {
        const int ns = attn_splits(c, n);
        if (ns <= 1)
            return 0;
        const herd_tensor *q = n->src[0];
        return al256((size_t)(q->ne[1] * q->ne[2]) * ns * (q->ne[0] + 2) * 4);
    }
    default:
        return 0;
    }
}

bool herd_cu_node_syncs(const herd_node *n)
{
    return n->op == HERD_OP_MUL_MAT_ID && n->src[1]->ne[1] > MV_MAX_M;
}

/* ------------------------------------------------------------------------------------------ */
/* validation (host): the same rules as the CPU backend's, plus the kernels' limits */

static bool weight_ok(const herd_tensor *w)
{
    const herd_type_info *ti = herd_type_get(w->type);
    if (!ti || !herd_cu_type_ok(w->type) || w->nb[0] != ti->bytes || w->ne[0] % ti->blck)
        return false;
    if (!is_quant(w->type)) /* GEMM reads rows in place: strides in elements */
        return w->nb[1] % ti->bytes == 0;
    return true;
}

/* the shared rules (herd_node_check) plus the kernels' limits and device memory */
herd_status herd_cu_validate(cu_ctx *c, const herd_node *n, int i, herd_error *err)
{
    herd_status st = herd_node_check(n, i, err);
    if (st)
        return st;
    const herd_tensor *a = n->src[0], *b = n->src[1], *out = n->out;
    const char *op = herd_op_name(n->op);
#define BAD(...) return herd_error_set(err, HERD_ERR_INVALID, "node %d (%s): " __VA_ARGS__)
    if (!herd_cu_ptr(c, out))
        BAD("output %s has no device memory", i, op, out->name);
    for (int j = 0; j < HERD_MAX_SRC; j++)
        if (n->src[j] && !herd_cu_ptr(c, n->src[j]))
            BAD("input %d (%s) has no device memory (weights not uploaded?)", i, op, j,
                n->src[j]->name);
    switch (n->op) {
    case HERD_OP_GET_ROWS:
        if (!herd_cu_type_ok(a->type))
            BAD("table type %s", i, op, herd_type_name(a->type));
        break;
    case HERD_OP_MUL_MAT:
        if (!weight_ok(a) || b->nb[1] % 4)
            BAD("unsupported weight type %s or layout", i, op, herd_type_name(a->type));
        break;
    case HERD_OP_MUL_MAT_ID:
        if (!weight_ok(a))
            BAD("unsupported weight type %s", i, op, herd_type_name(a->type));
        break;
    case HERD_OP_ATTENTION:
        if (a->ne[0] > ATT_MAXD || b->type != n->src[2]->type)
            BAD("head dim must be <= %d, K and V of one type", i, op, ATT_MAXD);
        break;
    default:
        break;
    }
#undef BAD
    return HERD_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* synthetic weights on the device                                                             */

herd_status herd_cu_synth(cu_ctx *c, const herd_tensor *t, void *dst, herd_error *err)
{
    const size_t nb = herd_tensor_nbytes(t);
    const float a = 1.0f / sqrtf((float)t->ne[0]);
    const int g = 4096;
    if (t->type == HERD_TYPE_F16 || t->type == HERD_TYPE_BF16) {
        k_synth_plain<<<g, 256, 0, c->stream>>>((uint16_t *)dst, nb / 2, t->synth_seed, a,
                                                t->type == HERD_TYPE_BF16);
        LAUNCH_CHECK(err);
        return HERD_OK;
    }
    if (t->type == HERD_TYPE_F32) {
        /* F32 weights (norms, router) are small: the model keeps them on the host */
        return herd_error_set(err, HERD_ERR_UNSUPPORTED, "synthetic F32 weight %s needs host data",
                              t->name);
    }
    k_synth_words<<<g, 256, 0, c->stream>>>((uint64_t *)dst, nb / 8, t->synth_seed);
    LAUNCH_CHECK(err);
    const herd_type_info *ti = herd_type_get(t->type);
    const size_t nblocks = nb / ti->bytes;
    int o0 = 0, o1 = -1;
    float s0 = 0, s1 = 0;
    switch (t->type) {
    case HERD_TYPE_Q8_0:
        s0 = a / 64.0f;
        break;
    case HERD_TYPE_Q4_0:
        s0 = a / 4.0f;
        break;
    case HERD_TYPE_Q4_K:
    case HERD_TYPE_Q5_K:
        s0 = a / 256.0f;
        o1 = 2;
        s1 = a / 64.0f;
        break;
    case HERD_TYPE_Q6_K:
        o0 = 208;
        s0 = a / 1024.0f;
        break;
    default:
        return herd_error_set(err, HERD_ERR_UNSUPPORTED, "cannot synthesize %s weights",
                              herd_type_name(t->type));
    }
    k_synth_scales<<<g, 256, 0, c->stream>>>((uint8_t *)dst, nblocks, (int)ti->bytes, o0, s0, o1,
                                             s1);
    LAUNCH_CHECK(err);
    return HERD_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* host check of the block decoding (tests/test-cuda-deq.c: runs without a GPU)                */

template <int T> static void host_deq(const uint8_t *src, int64_t n, float *out)
{
    /* the same chunk walk as k_mv_q / k_deq_tile: chunk ch -> block ch / CPB, part ch % CPB */
    const int64_t nch = n / qt<T>::BLK * qt<T>::CPB;
    for (int64_t ch = 0; ch < nch; ch++) {
        const int64_t ib = ch / qt<T>::CPB;
        const int ci = (int)(ch % qt<T>::CPB);
        float v[8];
        int e0;
        deq8<T>(src + (size_t)ib * qt<T>::BYTES, ci, v, &e0);
        for (int j = 0; j < 8; j++)
            out[ib * qt<T>::BLK + e0 + j] = v[j];
    }
}

extern "C" int herd_cu_host_dequantize(herd_type t, const void *src, int64_t n, float *out)
{
    const uint8_t *s8 = (const uint8_t *)src;
    switch (t) {
    case HERD_TYPE_Q8_0:
        host_deq<HERD_TYPE_Q8_0>(s8, n, out);
        return 1;
    case HERD_TYPE_Q4_0:
        host_deq<HERD_TYPE_Q4_0>(s8, n, out);
        return 1;
    case HERD_TYPE_Q4_K:
        host_deq<HERD_TYPE_Q4_K>(s8, n, out);
        return 1;
    case HERD_TYPE_Q5_K:
        host_deq<HERD_TYPE_Q5_K>(s8, n, out);
        return 1;
    case HERD_TYPE_Q6_K:
        host_deq<HERD_TYPE_Q6_K>(s8, n, out);
        return 1;
    default:
        return 0;
    }
}

template <int T> static double host_dot(const uint8_t *w, const float *x, int64_t n)
{
    /* the activation quantizer of k_quant_x and the chunk walk of k_mv_q8 */
    int8_t *xq = (int8_t *)malloc((size_t)n);
    float *xd = (float *)malloc((size_t)(n / 32) * sizeof(float));
    for (int64_t ib = 0; ib < n / 32; ib++) {
        float amax = 0.0f;
        for (int j = 0; j < 32; j++)
            amax = fmaxf(amax, fabsf(x[ib * 32 + j]));
        const float d = amax / 127.0f;
        xd[ib] = d;
        for (int j = 0; j < 32; j++)
            xq[ib * 32 + j] = (int8_t)(amax > 0.0f ? (int)rintf(x[ib * 32 + j] / d) : 0);
    }
    double acc = 0;
    if (T == HERD_TYPE_Q4_K || T == HERD_TYPE_Q5_K) {
        /* the segment walk of k_mv_kq */
        for (int64_t ib = 0; ib < n / 256; ib++)
            for (int seg = 0; seg < 8; seg++) {
                const int64_t e = ib * 256 + 64 * (seg >> 1) + 16 * (seg & 1);
                int xl[4], xh[4];
                memcpy(xl, xq + e, 16);
                memcpy(xh, xq + e + 32, 16);
                acc += dot_seg<T>(w + (size_t)ib * qt<T>::BYTES, seg, xl, xh, xd[e >> 5],
                                  xd[(e >> 5) + 1]);
            }
        free(xq);
        free(xd);
        return acc;
    }
    const int64_t nch = n / qt<T>::BLK * qt<T>::CPB;
    for (int64_t ch = 0; ch < nch; ch++) {
        const int64_t ib = ch / qt<T>::CPB;
        const int ci = (int)(ch % qt<T>::CPB);
        float v[8];
        int e0;
        deq8<T>(w + (size_t)ib * qt<T>::BYTES, ci, v, &e0); /* for e0 only */
        const int64_t e = ib * qt<T>::BLK + e0;
        int x8[2];
        memcpy(x8, xq + e, 8);
        acc += dot8<T>(w + (size_t)ib * qt<T>::BYTES, ci, x8, xd[e >> 5]);
    }
    free(xq);
    free(xd);
    return acc;
}

extern "C" int herd_cu_host_dot(herd_type t, const void *w, const float *x, int64_t n, double *out)
{
    const uint8_t *w8 = (const uint8_t *)w;
    switch (t) {
    case HERD_TYPE_Q8_0:
        *out = host_dot<HERD_TYPE_Q8_0>(w8, x, n);
        return 1;
    case HERD_TYPE_Q4_0:
        *out = host_dot<HERD_TYPE_Q4_0>(w8, x, n);
        return 1;
    case HERD_TYPE_Q4_K:
        *out = host_dot<HERD_TYPE_Q4_K>(w8, x, n);
        return 1;
    case HERD_TYPE_Q5_K:
        *out = host_dot<HERD_TYPE_Q5_K>(w8, x, n);
        return 1;
    case HERD_TYPE_Q6_K:
        *out = host_dot<HERD_TYPE_Q6_K>(w8, x, n);
        return 1;
    default:
        return 0;
    }
}

extern "C" void herd_cu_host_attn_range(int mask, int C, int nkv, int R, int p, int nsplit, int sp,
                                        int *s0, int *s1)
{
    attn_split_range(mask, C, nkv, R, p, nsplit, sp, s0, s1);
}
