/* vecdot-avx512.c: AVX-512 F/BW/VL/DQ + VNNI kernels (+ BF16 where the CPU has it).
 *
 * Integer work is done with VNNI: vpdpbusd (u8 x s8, 4 products per int32 lane) for Q8_0 / Q4_0,
 * and vpmaddubsw + vpdpwssd (sub-block scale applied in the integer domain) for the K-quants.
 *  - Q4_0: nibbles are unsigned 0..15, so Σ(q-8)·x = Σq·x - 8·Σx; the 8·Σx term comes from one
 *    vpdpbusd of the activations against 8s, computed once per activation block and shared by
 *    all rows of a multi-row call (it seeds each row's accumulator).
 *  - Q8_0: the weight bytes are flipped to unsigned (w+128) and 128·Σx is removed the same way.
 *  - Block scales: eight fp16 d's (blocks at a fixed byte stride) are gathered with one or two
 *    vpermt2w, converted once, and applied per pair of blocks with a lane permute + FMA.
 * Multi-row cores take NR as a compile-time constant (always_inline + switch) so the activation
 * loads and unpacking are shared across up to HERD_VEC_DOT_MAX_NR weight rows. */
#include "vecdot-internal.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#include <immintrin.h>
#include <string.h>

#define TARGET \
    __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")))
#define TARGET_BF16 \
    __attribute__(( \
        target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512bf16,avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline)) TARGET

INLINE float h2f(uint16_t h)
{
    return _cvtsh_ss(h);
}

INLINE float hsum256(__m256 v)
{
    __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    a = _mm_add_ps(a, _mm_movehl_ps(a, a));
    a = _mm_add_ss(a, _mm_movehdup_ps(a));
    return _mm_cvtss_f32(a);
}

INLINE float hsum128(__m128 a)
{
    a = _mm_add_ps(a, _mm_movehl_ps(a, a));
    a = _mm_add_ss(a, _mm_movehdup_ps(a));
    return _mm_cvtss_f32(a);
}

/* word indices for gathering fp16 scales of 8 consecutive blocks */
static const uint16_t idx_stride18[32] = { 0, 9, 18, 27, 36, 45, 54, 63 };
static const uint16_t idx_stride34a[32] = { 0, 17, 34, 51 };
static const uint16_t idx_stride34b[32] = { 0, 0, 0, 0, 4, 21, 38, 55 };

/* 8 fp16 at p + 18*k (k < 8) -> floats; reads p[0..127] */
INLINE __m256 load_d8_stride18(const void *p)
{
    const char *c = p;
    __m512i a = _mm512_loadu_si512(c), b = _mm512_loadu_si512(c + 64);
    __m512i v = _mm512_permutex2var_epi16(a, _mm512_loadu_si512(idx_stride18), b);
    return _mm256_cvtph_ps(_mm512_castsi512_si128(v));
}

/* 8 fp16 at p + 34*k (k < 8) -> floats; reads p[0..255] */
INLINE __m256 load_d8_stride34(const void *p)
{
    const char *c = p;
    __m512i a = _mm512_loadu_si512(c), b = _mm512_loadu_si512(c + 64);
    __m512i e = _mm512_loadu_si512(c + 128), f = _mm512_loadu_si512(c + 192);
    __m512i v1 = _mm512_permutex2var_epi16(a, _mm512_loadu_si512(idx_stride34a), b);
    __m512i v2 = _mm512_permutex2var_epi16(e, _mm512_loadu_si512(idx_stride34b), f);
    __m512i v = _mm512_mask_blend_epi16(0xF0, v1, v2);
    return _mm256_cvtph_ps(_mm512_castsi512_si128(v));
}

/* dword index vector [2k x8, 2k+1 x8]: picks the scales of blocks 2k, 2k+1 */
INLINE __m512i pair_idx(int k)
{
    return _mm512_inserti64x4(_mm512_set1_epi32(2 * k), _mm256_set1_epi32(2 * k + 1), 1);
}

INLINE __m512i load_2x32(const int8_t *a, const int8_t *b)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)a)),
                              _mm256_loadu_si256((const __m256i *)b), 1);
}

/* ---- Q4_0 / Q8_0 x Q8_0 ----------------------------------------------------------------- */

/* is_q4: weights Q4_0 (else Q8_0). */
INLINE void q80_family_core(int64_t n, int NR, float *s, const void *w, size_t ws, const void *x,
                            int is_q4)
{
    const herd_block_q8_0 *xb = x;
    const int64_t nb = n / 32;
    const size_t bsz = is_q4 ? sizeof(herd_block_q4_0) : sizeof(herd_block_q8_0);
    __m512 acc[HERD_VEC_DOT_MAX_NR], acc2[HERD_VEC_DOT_MAX_NR];
    __m256 acc_t[HERD_VEC_DOT_MAX_NR];
    for (int r = 0; r < NR; r++) {
        acc[r] = acc2[r] = _mm512_setzero_ps();
        acc_t[r] = _mm256_setzero_ps();
    }
    const __m512i m4 = _mm512_set1_epi8(15);
    const __m512i off = _mm512_set1_epi8(is_q4 ? 8 : (char)0x80);
    const __m512i shift = _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4);
    int64_t i = 0;
    for (; i + 8 <= nb; i += 8) {
        __m256 dx = load_d8_stride34(xb + i);
        __m512i xv[4], nsx[4];
        for (int k = 0; k < 4; k++) {
            xv[k] = load_2x32(xb[i + 2 * k].q, xb[i + 2 * k + 1].q);
            nsx[k] = _mm512_sub_epi32(_mm512_setzero_si512(),
                                      _mm512_dpbusd_epi32(_mm512_setzero_si512(), off, xv[k]));
        }
        for (int r = 0; r < NR; r++) {
            const char *row = (const char *)w + r * ws + i * bsz;
            __m256 sc = _mm256_mul_ps(is_q4 ? load_d8_stride18(row) : load_d8_stride34(row), dx);
            __m512 scz = _mm512_castps256_ps512(sc);
            for (int k = 0; k < 4; k++) {
                __m512i q;
                if (is_q4) {
                    const herd_block_q4_0 *a = (const herd_block_q4_0 *)row + 2 * k;
                    q = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)a[0].q));
                    q = _mm512_mask_broadcast_i32x4(q, 0xFF00,
                                                    _mm_loadu_si128((const __m128i *)a[1].q));
                    q = _mm512_and_si512(_mm512_srlv_epi64(q, shift), m4);
                } else {
                    const herd_block_q8_0 *a = (const herd_block_q8_0 *)row + 2 * k;
                    q = _mm512_xor_si512(load_2x32(a[0].q, a[1].q), off);
                }
                __m512i sum = _mm512_dpbusd_epi32(nsx[k], q, xv[k]);
                __m512 scale = _mm512_permutexvar_ps(pair_idx(k), scz);
                if (k & 1) /* two accumulators: the FMA latency chain halves */
                    acc2[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), scale, acc2[r]);
                else
                    acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), scale, acc[r]);
            }
        }
    }
    for (; i < nb; i++) { /* tail: one block at a time */
        __m256i xq = _mm256_loadu_si256((const __m256i *)xb[i].q);
        __m256i nsx = _mm256_sub_epi32(
            _mm256_setzero_si256(),
            _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm512_castsi512_si256(off), xq));
        float dx = h2f(xb[i].d);
        for (int r = 0; r < NR; r++) {
            const char *blk = (const char *)w + r * ws + i * bsz;
            __m256i q;
            if (is_q4) {
                __m128i t = _mm_loadu_si128((const __m128i *)(blk + 2));
                q = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t),
                                     _mm512_castsi512_si256(m4));
            } else {
                q = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(blk + 2)),
                                     _mm512_castsi512_si256(off));
            }
            uint16_t dw;
            memcpy(&dw, blk, 2);
            __m256i sum = _mm256_dpbusd_epi32(nsx, q, xq);
            acc_t[r] =
                _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_set1_ps(dx * h2f(dw)), acc_t[r]);
        }
    }
    for (int r = 0; r < NR; r++)
        s[r] = _mm512_reduce_add_ps(_mm512_add_ps(acc[r], acc2[r])) + hsum256(acc_t[r]);
}

INLINE void q4_0_core(int64_t n, int NR, float *s, const void *w, size_t ws, const void *x)
{
    q80_family_core(n, NR, s, w, ws, x, 1);
}

INLINE void q8_0_core(int64_t n, int NR, float *s, const void *w, size_t ws, const void *x)
{
    q80_family_core(n, NR, s, w, ws, x, 0);
}

/* ---- K-quants x Q8_K -------------------------------------------------------------------- */

/* Q4_K/Q5_K scales and mins as 16 int16: s0..s7, m0..m7 */
INLINE __m256i k_scales16(const uint8_t *sc)
{
    uint32_t u[3];
    memcpy(u, sc, 12);
    uint32_t s03 = u[0] & 0x3f3f3f3fu;
    uint32_t s47 = (u[2] & 0x0f0f0f0fu) | (((u[0] >> 6) & 0x03030303u) << 4);
    uint32_t m03 = u[1] & 0x3f3f3f3fu;
    uint32_t m47 = ((u[2] >> 4) & 0x0f0f0f0fu) | (((u[1] >> 6) & 0x03030303u) << 4);
    return _mm256_cvtepu8_epi16(_mm_setr_epi32((int)s03, (int)s47, (int)m03, (int)m47));
}

/* word index vector [2c x16, 2c+1 x16] */
INLINE __m512i sub_pair_idx16(int c)
{
    return _mm512_inserti64x4(_mm512_set1_epi16((short)(2 * c)),
                              _mm256_set1_epi16((short)(2 * c + 1)), 1);
}

INLINE void qk45_core(int64_t n, int NR, float *s, const void *w, size_t ws, const void *x,
                      int is_q5)
{
    const herd_block_q8_K *b = x;
    const size_t bsz = is_q5 ? sizeof(herd_block_q5_K) : sizeof(herd_block_q4_K);
    __m512 acc[HERD_VEC_DOT_MAX_NR];
    __m128 accm[HERD_VEC_DOT_MAX_NR];
    for (int r = 0; r < NR; r++) {
        acc[r] = _mm512_setzero_ps();
        accm[r] = _mm_setzero_ps();
    }
    const __m512i m4 = _mm512_set1_epi8(15), sixteen = _mm512_set1_epi8(16);
    const __m512i shift = _mm512_setr_epi64(0, 0, 0, 0, 4, 4, 4, 4);
    for (int64_t i = 0; i < n / HERD_QK_K; i++) {
        __m512i xq[4];
        for (int c = 0; c < 4; c++)
            xq[c] = _mm512_loadu_si512(b[i].q + 64 * c);
        __m128i bs8 = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)b[i].bsums),
                                     _mm_loadu_si128((const __m128i *)(b[i].bsums + 8)));
        const float dx = b[i].d;
        for (int r = 0; r < NR; r++) {
            const uint8_t *blk = (const uint8_t *)w + r * ws + i * bsz;
            const herd_block_q4_K *a = (const herd_block_q4_K *)blk;
            const uint8_t *q = is_q5 ? ((const herd_block_q5_K *)blk)->q : a->q;
            __m256i sm16 = k_scales16(a->sc);
            __m128i mp = _mm_madd_epi16(_mm256_extracti128_si256(sm16, 1), bs8);
            accm[r] = _mm_fmadd_ps(_mm_set1_ps(dx * h2f(a->dmin)), _mm_cvtepi32_ps(mp), accm[r]);
            __m512i scz = _mm512_castsi256_si512(sm16);
            __m512i hb = _mm512_setzero_si512();
            if (is_q5)
                hb = _mm512_broadcast_i64x4(
                    _mm256_loadu_si256((const __m256i *)((const herd_block_q5_K *)blk)->qh));
            __m512i sumi = _mm512_setzero_si512();
            for (int c = 0; c < 4; c++) {
                __m512i qv =
                    _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(q + 32 * c)));
                qv = _mm512_and_si512(_mm512_srlv_epi64(qv, shift), m4);
                if (is_q5) {
                    __m512i bit = _mm512_inserti64x4(_mm512_set1_epi8((char)(1 << (2 * c))),
                                                     _mm256_set1_epi8((char)(1 << (2 * c + 1))), 1);
                    __mmask64 k = _mm512_test_epi8_mask(hb, bit);
                    qv = _mm512_mask_add_epi8(qv, k, qv, sixteen);
                }
                __m512i p = _mm512_maddubs_epi16(qv, xq[c]);
                sumi =
                    _mm512_dpwssd_epi32(sumi, p, _mm512_permutexvar_epi16(sub_pair_idx16(c), scz));
            }
            acc[r] =
                _mm512_fmadd_ps(_mm512_set1_ps(dx * h2f(a->d)), _mm512_cvtepi32_ps(sumi), acc[r]);
        }
    }
    for (int r = 0; r < NR; r++)
        s[r] = _mm512_reduce_add_ps(acc[r]) - hsum128(accm[r]);
}

INLINE void q4_K_core(int64_t n, int NR, float *s, const void *w, size_t ws, const void *x)
{
    qk45_core(n, NR, s, w, ws, x, 0);
}

INLINE void q5_K_core(int64_t n, int NR, float *s, const void *w, size_t ws, const void *x)
{
    qk45_core(n, NR, s, w, ws, x, 1);
}

/* word index vector [4g+0 x8, 4g+1 x8, 4g+2 x8, 4g+3 x8] */
INLINE __m512i quad_idx16(int g)
{
    __m256i lo = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16((short)(4 * g))),
                                         _mm_set1_epi16((short)(4 * g + 1)), 1);
    __m256i hi = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16((short)(4 * g + 2))),
                                         _mm_set1_epi16((short)(4 * g + 3)), 1);
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

INLINE void q6_K_core(int64_t n, int NR, float *s, const void *w, size_t ws, const void *x)
{
    const herd_block_q8_K *b = x;
    __m512 acc[HERD_VEC_DOT_MAX_NR];
    for (int r = 0; r < NR; r++)
        acc[r] = _mm512_setzero_ps();
    const __m512i m4 = _mm512_set1_epi8(15), m30 = _mm512_set1_epi8(0x30);
    const __m512i shl = _mm512_setr_epi64(4, 4, 4, 4, 2, 2, 2, 2);
    const __m512i shr = _mm512_setr_epi64(0, 0, 0, 0, 2, 2, 2, 2);
    for (int64_t i = 0; i < n / HERD_QK_K; i++) {
        __m512i xq[4];
        for (int c = 0; c < 4; c++)
            xq[c] = _mm512_loadu_si512(b[i].q + 64 * c);
        __m256i bs = _mm256_loadu_si256((const __m256i *)b[i].bsums);
        const float dx = b[i].d;
        for (int r = 0; r < NR; r++) {
            const herd_block_q6_K *a = (const herd_block_q6_K *)((const char *)w + r * ws) + i;
            __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)a->sc));
            __m256i off = _mm256_slli_epi32(_mm256_madd_epi16(sc16, bs), 5);
            __m512i sumi = _mm512_zextsi256_si512(_mm256_sub_epi32(_mm256_setzero_si256(), off));
            __m512i scz = _mm512_castsi256_si512(sc16);
            for (int h = 0; h < 2; h++) {
                __m512i L = _mm512_loadu_si512(a->ql + 64 * h);
                __m512i H =
                    _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(a->qh + 32 * h)));
                __m512i v0 = _mm512_or_si512(_mm512_and_si512(L, m4),
                                             _mm512_and_si512(_mm512_sllv_epi64(H, shl), m30));
                __m512i v1 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(L, 4), m4),
                                             _mm512_and_si512(_mm512_srlv_epi64(H, shr), m30));
                __m512i p0 = _mm512_maddubs_epi16(v0, xq[2 * h]);
                __m512i p1 = _mm512_maddubs_epi16(v1, xq[2 * h + 1]);
                sumi =
                    _mm512_dpwssd_epi32(sumi, p0, _mm512_permutexvar_epi16(quad_idx16(2 * h), scz));
                sumi = _mm512_dpwssd_epi32(sumi, p1,
                                           _mm512_permutexvar_epi16(quad_idx16(2 * h + 1), scz));
            }
            acc[r] =
                _mm512_fmadd_ps(_mm512_set1_ps(dx * h2f(a->d)), _mm512_cvtepi32_ps(sumi), acc[r]);
        }
    }
    for (int r = 0; r < NR; r++)
        s[r] = _mm512_reduce_add_ps(acc[r]);
}

/* ---- float types ------------------------------------------------------------------------ */

/* Float kernels: single row (rows kernels call them row after row), four independent
 * accumulators so the FMA latency is hidden; masked loads for the tail. */
#define FLOAT_DOT_BODY(STEP, LOADW, LOADX, MACC)                                             \
    __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;                \
    int64_t i = 0;                                                                           \
    for (; i + 4 * (STEP) <= n; i += 4 * (STEP)) {                                           \
        acc0 = MACC(acc0, LOADW(a + i, FULL), LOADX(b + i, FULL));                           \
        acc1 = MACC(acc1, LOADW(a + i + (STEP), FULL), LOADX(b + i + (STEP), FULL));         \
        acc2 = MACC(acc2, LOADW(a + i + 2 * (STEP), FULL), LOADX(b + i + 2 * (STEP), FULL)); \
        acc3 = MACC(acc3, LOADW(a + i + 3 * (STEP), FULL), LOADX(b + i + 3 * (STEP), FULL)); \
    }                                                                                        \
    for (; i < n; i += (STEP)) {                                                             \
        MASK_T m = n - i >= (STEP) ? FULL : (MASK_T)((1ull << (n - i)) - 1);                 \
        acc0 = MACC(acc0, LOADW(a + i, m), LOADX(b + i, m));                                 \
    }                                                                                        \
    *s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));

INLINE __m512 load_f32x16(const float *p, __mmask16 m)
{
    return _mm512_maskz_loadu_ps(m, p);
}

INLINE __m512 load_f16x16(const uint16_t *p, __mmask16 m)
{
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}

INLINE __m512 load_bf16x16(const uint16_t *p, __mmask16 m)
{
    __m512i v = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
}

INLINE __m512 fma_acc(__m512 acc, __m512 a, __m512 b)
{
    return _mm512_fmadd_ps(a, b, acc);
}

#define MASK_T __mmask16
#define FULL   ((__mmask16)0xFFFF)

INLINE void f32_core(int64_t n, int NR, float *s, const void *w, size_t ws, const void *x)
{
    const float *a = w, *b = x;
    FLOAT_DOT_BODY(16, load_f32x16, load_f32x16, fma_acc)
}

INLINE void f16_core(int64_t n, int NR, float *s, const void *w, size_t ws, const void *x)
{
    const uint16_t *a = w, *b = x;
    FLOAT_DOT_BODY(16, load_f16x16, load_f16x16, fma_acc)
}

/* BF16 without the BF16 extension: widen and FMA */
INLINE void bf16_core(int64_t n, int NR, float *s, const void *w, size_t ws, const void *x)
{
    const uint16_t *a = w, *b = x;
    FLOAT_DOT_BODY(16, load_bf16x16, load_bf16x16, fma_acc)
}

#undef MASK_T
#undef FULL

/* ---- Q4_0 / Q8_0 multi-row and tile kernels with a prepared activation ------------------ *
 *
 * Rows are read one after another (each weight row is one sequential stream: on this machine
 * kind interleaving several rows' streams costs up to half the DRAM bandwidth), while the
 * activation columns are prepared once per call into an L1-resident buffer:
 *   per group of 8 blocks: the activation bytes in the order the weight unpacking produces,
 *   the integer offset term (-8·Σx for Q4_0, -128·Σx for Q8_0) as accumulator seeds, and the
 *   eight activation scales as floats.
 * Q4_0 (needs AVX512-VBMI): one vpermt2b collects the nibbles of 4 blocks (at their 18-byte
 * stride) into a zmm; low nibbles meet x[0..15] of each block, high nibbles x[16..31].
 * Q8_0: two blocks per zmm in natural order, weights flipped to unsigned with xor 0x80.
 * The tile kernel shares each unpacked weight group between up to 4 activation columns. */

#define TARGET_VBMI \
    __attribute__(( \
        target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512vbmi,avx2,fma,f16c")))
#define INLINE_VBMI static inline __attribute__((always_inline)) TARGET_VBMI

#define PREP_GROUP_BYTES 576 /* 4 zmm x + 4 zmm seeds (Q8_0; Q4_0 uses 2) + 8 floats dx, padded */
#define PREP_BUF_GROUPS  64  /* groups per prepared chunk, all columns together */
#define TILE_NC          4

static const uint8_t idx_q4a[64] = {
#define Q(k)                                                                                      \
    18 * k + 2, 18 * k + 3, 18 * k + 4, 18 * k + 5, 18 * k + 6, 18 * k + 7, 18 * k + 8,           \
        18 * k + 9, 18 * k + 10, 18 * k + 11, 18 * k + 12, 18 * k + 13, 18 * k + 14, 18 * k + 15, \
        18 * k + 16, 18 * k + 17
    Q(0), Q(1), Q(2), Q(3)
#undef Q
};
static const uint8_t idx_q4b[64] = {
#define Q(k)                                                                                       \
    18 * k + 10, 18 * k + 11, 18 * k + 12, 18 * k + 13, 18 * k + 14, 18 * k + 15, 18 * k + 16,     \
        18 * k + 17, 18 * k + 18, 18 * k + 19, 18 * k + 20, 18 * k + 21, 18 * k + 22, 18 * k + 23, \
        18 * k + 24, 18 * k + 25
    Q(0), Q(1), Q(2), Q(3)
#undef Q
};
static const int32_t idx_quad_a[16] = { 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3 };
static const int32_t idx_quad_b[16] = { 4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7 };

/* x[0..15] (hi=0) or x[16..31] (hi=1) of 4 consecutive Q8_0 blocks into one zmm */
INLINE __m512i gather_halves(const herd_block_q8_0 *b, int hi)
{
    __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(b[0].q + 16 * hi)));
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(b[1].q + 16 * hi)), 1);
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(b[2].q + 16 * hi)), 2);
    return _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(b[3].q + 16 * hi)), 3);
}

/* Prepare groups [0, ng) of the activation at xb into buf (PREP_GROUP_BYTES each). */
INLINE void prep_q80(const herd_block_q8_0 *xb, int64_t ng, uint8_t *buf, int is_q4)
{
    const __m512i off = _mm512_set1_epi8(is_q4 ? 8 : (char)0x80);
    for (int64_t g = 0; g < ng; g++, xb += 8, buf += PREP_GROUP_BYTES) {
        __m512i xv[4];
        if (is_q4) {
            xv[0] = gather_halves(xb, 0);
            xv[1] = gather_halves(xb, 1);
            xv[2] = gather_halves(xb + 4, 0);
            xv[3] = gather_halves(xb + 4, 1);
            for (int k = 0; k < 2; k++) {
                __m512i t = _mm512_dpbusd_epi32(_mm512_setzero_si512(), off, xv[2 * k]);
                t = _mm512_dpbusd_epi32(t, off, xv[2 * k + 1]);
                _mm512_store_si512(buf + 256 + 64 * k, _mm512_sub_epi32(_mm512_setzero_si512(), t));
            }
        } else {
            for (int k = 0; k < 4; k++) {
                xv[k] = load_2x32(xb[2 * k].q, xb[2 * k + 1].q);
                __m512i t = _mm512_dpbusd_epi32(_mm512_setzero_si512(), off, xv[k]);
                _mm512_store_si512(buf + 256 + 64 * k, _mm512_sub_epi32(_mm512_setzero_si512(), t));
            }
        }
        for (int k = 0; k < 4; k++)
            _mm512_store_si512(buf + 64 * k, xv[k]);
        _mm256_store_ps((float *)(buf + 512), load_d8_stride34(xb));
    }
}

/* One Q4_0 weight row (groups [0, ng)) against NC prepared columns; adds to acc[c]. */
INLINE_VBMI void q4_0_row_groups(const uint8_t *row, int64_t ng, int NC, uint8_t *const *prep,
                                 __m512 *acc)
{
    const __m512i m4 = _mm512_set1_epi8(15);
    const __m512i ia = _mm512_loadu_si512(idx_q4a), ib = _mm512_loadu_si512(idx_q4b);
    const __m512i i18 = _mm512_loadu_si512(idx_stride18);
    const __m512i qa = _mm512_loadu_si512(idx_quad_a), qb = _mm512_loadu_si512(idx_quad_b);
    for (int64_t g = 0; g < ng; g++, row += 144) {
        __m512i l0 = _mm512_loadu_si512(row), l1 = _mm512_loadu_si512(row + 64);
        __m512i l2 = _mm512_zextsi128_si512(_mm_loadu_si128((const __m128i *)(row + 128)));
        __m512i za = _mm512_permutex2var_epi8(l0, ia, l1);
        __m512i zb = _mm512_permutex2var_epi8(l1, ib, l2);
        __m256 dw = _mm256_cvtph_ps(_mm512_castsi512_si128(_mm512_permutex2var_epi16(l0, i18, l1)));
        __m512i lo_a = _mm512_and_si512(za, m4),
                hi_a = _mm512_and_si512(_mm512_srli_epi16(za, 4), m4);
        __m512i lo_b = _mm512_and_si512(zb, m4),
                hi_b = _mm512_and_si512(_mm512_srli_epi16(zb, 4), m4);
        for (int c = 0; c < NC; c++) {
            const uint8_t *p = prep[c] + g * PREP_GROUP_BYTES;
            __m512i sa =
                _mm512_dpbusd_epi32(_mm512_load_si512(p + 256), lo_a, _mm512_load_si512(p));
            sa = _mm512_dpbusd_epi32(sa, hi_a, _mm512_load_si512(p + 64));
            __m512i sb =
                _mm512_dpbusd_epi32(_mm512_load_si512(p + 320), lo_b, _mm512_load_si512(p + 128));
            sb = _mm512_dpbusd_epi32(sb, hi_b, _mm512_load_si512(p + 192));
            __m512 sc =
                _mm512_castps256_ps512(_mm256_mul_ps(dw, _mm256_load_ps((const float *)(p + 512))));
            acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sa), _mm512_permutexvar_ps(qa, sc), acc[c]);
            acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sb), _mm512_permutexvar_ps(qb, sc), acc[c]);
        }
    }
}

/* One Q8_0 weight row against NC prepared columns. */
INLINE void q8_0_row_groups(const uint8_t *row, int64_t ng, int NC, uint8_t *const *prep,
                            __m512 *acc)
{
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    for (int64_t g = 0; g < ng; g++, row += 272) {
        const herd_block_q8_0 *a = (const herd_block_q8_0 *)row;
        __m256 dw = load_d8_stride34(row);
        __m512 sc[TILE_NC];
        for (int c = 0; c < NC; c++)
            sc[c] = _mm512_castps256_ps512(_mm256_mul_ps(
                dw, _mm256_load_ps((const float *)(prep[c] + g * PREP_GROUP_BYTES + 512))));
        for (int k = 0; k < 4; k++) {
            __m512i q = _mm512_xor_si512(load_2x32(a[2 * k].q, a[2 * k + 1].q), flip);
            for (int c = 0; c < NC; c++) {
                const uint8_t *p = prep[c] + g * PREP_GROUP_BYTES;
                __m512i sum = _mm512_dpbusd_epi32(_mm512_load_si512(p + 256 + 64 * k), q,
                                                  _mm512_load_si512(p + 64 * k));
                acc[(k & 1) * TILE_NC + c] = _mm512_fmadd_ps(
                    _mm512_cvtepi32_ps(sum), _mm512_permutexvar_ps(pair_idx(k), sc[c]),
                    acc[(k & 1) * TILE_NC + c]);
            }
        }
    }
}

/* tail blocks [b0, nb) of one row: plain per-block dot */
INLINE float q80_tail(const uint8_t *row, const herd_block_q8_0 *xb, int64_t b0, int64_t nb,
                      int is_q4)
{
    float s = 0;
    const size_t bsz = is_q4 ? sizeof(herd_block_q4_0) : sizeof(herd_block_q8_0);
    if (nb > b0)
        q80_family_core((nb - b0) * 32, 1, &s, row + b0 * bsz, 0, xb + b0, is_q4);
    return s;
}

/* s[c*ss + r] = dot(row r, column c) for r < nr, c < nc. */
#define DEFINE_Q80_TILE(name, is_q4, target, rowfn)                                          \
    static target void name(int64_t n, int nr, int nc, float *s, size_t ss, const void *w,   \
                            size_t ws, const void *x, size_t xs)                             \
    {                                                                                        \
        static __thread uint8_t prep_buf[PREP_BUF_GROUPS * PREP_GROUP_BYTES]                 \
            __attribute__((aligned(64)));                                                    \
        const int64_t nb = n / 32, ng = nb / 8;                                              \
        const size_t bsz = is_q4 ? sizeof(herd_block_q4_0) : sizeof(herd_block_q8_0);        \
        for (int c0 = 0; c0 < nc; c0 += TILE_NC) {                                           \
            const int ncb = nc - c0 < TILE_NC ? nc - c0 : TILE_NC;                           \
            const int64_t chunk = PREP_BUF_GROUPS / ncb;                                     \
            const herd_block_q8_0 *xc[TILE_NC];                                              \
            uint8_t *prep[TILE_NC];                                                          \
            for (int c = 0; c < ncb; c++) {                                                  \
                xc[c] = (const herd_block_q8_0 *)((const char *)x + (size_t)(c0 + c) * xs);  \
                prep[c] = prep_buf + (size_t)c * chunk * PREP_GROUP_BYTES;                   \
            }                                                                                \
            for (int r = 0; r < nr; r++)                                                     \
                for (int c = 0; c < ncb; c++)                                                \
                    s[(size_t)(c0 + c) * ss + r] = 0;                                        \
            for (int64_t g0 = 0; g0 < ng; g0 += chunk) {                                     \
                const int64_t gn = ng - g0 < chunk ? ng - g0 : chunk;                        \
                for (int c = 0; c < ncb; c++)                                                \
                    prep_q80(xc[c] + g0 * 8, gn, prep[c], is_q4);                            \
                for (int r = 0; r < nr; r++) {                                               \
                    const uint8_t *row = (const uint8_t *)w + (size_t)r * ws + g0 * 8 * bsz; \
                    __m512 acc[2 * TILE_NC]; /* Q8_0 uses both halves */                     \
                    for (int c = 0; c < 2 * TILE_NC; c++)                                    \
                        acc[c] = _mm512_setzero_ps();                                        \
                    switch (ncb) {                                                           \
                    case 1:                                                                  \
                        rowfn(row, gn, 1, prep, acc);                                        \
                        break;                                                               \
                    case 2:                                                                  \
                        rowfn(row, gn, 2, prep, acc);                                        \
                        break;                                                               \
                    case 3:                                                                  \
                        rowfn(row, gn, 3, prep, acc);                                        \
                        break;                                                               \
                    default:                                                                 \
                        rowfn(row, gn, 4, prep, acc);                                        \
                        break;                                                               \
                    }                                                                        \
                    for (int c = 0; c < ncb; c++)                                            \
                        s[(size_t)(c0 + c) * ss + r] +=                                      \
                            _mm512_reduce_add_ps(_mm512_add_ps(acc[c], acc[TILE_NC + c]));   \
                }                                                                            \
            }                                                                                \
            if (ng * 8 < nb)                                                                 \
                for (int r = 0; r < nr; r++)                                                 \
                    for (int c = 0; c < ncb; c++)                                            \
                        s[(size_t)(c0 + c) * ss + r] += q80_tail(                            \
                            (const uint8_t *)w + (size_t)r * ws, xc[c], ng * 8, nb, is_q4);  \
        }                                                                                    \
    }                                                                                        \
    static target void name##_rows(int64_t n, int nr, float *s, const void *w, size_t ws,    \
                                   const void *x)                                            \
    {                                                                                        \
        name(n, nr, 1, s, 1, w, ws, x, 0);                                                   \
    }

DEFINE_Q80_TILE(tile_q4_0_vbmi, 1, TARGET_VBMI, q4_0_row_groups)
DEFINE_Q80_TILE(tile_q8_0_prep, 0, TARGET, q8_0_row_groups)

/* ---- F16 tile: activation columns widened to F32 once per call, 2 rows x 4 columns of FMAs -- */

#define F16_TILE_CHUNK 2048 /* elements per prepared chunk: 4 columns x 8 KB */

/* rows r, r+1 (NR2 = 1 or 2) x NC prepared columns over [0, len): acc[j][c] */
INLINE void f16_tile_block(const uint16_t *w0, const uint16_t *w1, int NR2, int64_t len, int NC,
                           const float *xp, __m512 acc[2][TILE_NC])
{
    int64_t i = 0;
    for (; i + 16 <= len; i += 16) {
        __m512 a0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w0 + i)));
        __m512 a1 = NR2 == 2 ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w1 + i)))
                             : _mm512_setzero_ps();
        for (int c = 0; c < NC; c++) {
            __m512 xv = _mm512_load_ps(xp + (size_t)c * F16_TILE_CHUNK + i);
            acc[0][c] = _mm512_fmadd_ps(a0, xv, acc[0][c]);
            if (NR2 == 2)
                acc[1][c] = _mm512_fmadd_ps(a1, xv, acc[1][c]);
        }
    }
    if (i < len) {
        __mmask16 m = (__mmask16)((1u << (len - i)) - 1);
        __m512 a0 = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, w0 + i));
        __m512 a1 =
            NR2 == 2 ? _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, w1 + i)) : _mm512_setzero_ps();
        for (int c = 0; c < NC; c++) {
            __m512 xv = _mm512_maskz_load_ps(m, xp + (size_t)c * F16_TILE_CHUNK + i);
            acc[0][c] = _mm512_fmadd_ps(a0, xv, acc[0][c]);
            if (NR2 == 2)
                acc[1][c] = _mm512_fmadd_ps(a1, xv, acc[1][c]);
        }
    }
}

static TARGET void tile_f16_cols(int64_t n, int nr, int nc, float *s, size_t ss, const void *w,
                                 size_t ws, const void *x, size_t xs)
{
    static __thread float xbuf[TILE_NC * F16_TILE_CHUNK] __attribute__((aligned(64)));
    for (int c0 = 0; c0 < nc; c0 += TILE_NC) {
        const int ncb = nc - c0 < TILE_NC ? nc - c0 : TILE_NC;
        for (int r = 0; r < nr; r++)
            for (int c = 0; c < ncb; c++)
                s[(size_t)(c0 + c) * ss + r] = 0;
        for (int64_t k0 = 0; k0 < n; k0 += F16_TILE_CHUNK) {
            const int64_t len = n - k0 < F16_TILE_CHUNK ? n - k0 : F16_TILE_CHUNK;
            for (int c = 0; c < ncb; c++) {
                const uint16_t *xc =
                    (const uint16_t *)((const char *)x + (size_t)(c0 + c) * xs) + k0;
                float *dst = xbuf + (size_t)c * F16_TILE_CHUNK;
                int64_t i = 0;
                for (; i + 16 <= len; i += 16)
                    _mm512_store_ps(dst + i,
                                    _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(xc + i))));
                for (; i < len; i++)
                    dst[i] = h2f(xc[i]);
            }
            for (int r = 0; r < nr; r += 2) {
                const int nr2 = nr - r >= 2 ? 2 : 1;
                const uint16_t *w0 = (const uint16_t *)((const char *)w + (size_t)r * ws) + k0;
                const uint16_t *w1 =
                    (const uint16_t *)((const char *)w + (size_t)(r + nr2 - 1) * ws) + k0;
                __m512 acc[2][TILE_NC];
                for (int j = 0; j < 2; j++)
                    for (int c = 0; c < TILE_NC; c++)
                        acc[j][c] = _mm512_setzero_ps();
#define F16_CASE(R, C) f16_tile_block(w0, w1, R, len, C, xbuf, acc)
                if (nr2 == 2) {
                    switch (ncb) {
                    case 1:
                        F16_CASE(2, 1);
                        break;
                    case 2:
                        F16_CASE(2, 2);
                        break;
                    case 3:
                        F16_CASE(2, 3);
                        break;
                    default:
                        F16_CASE(2, 4);
                        break;
                    }
                } else {
                    switch (ncb) {
                    case 1:
                        F16_CASE(1, 1);
                        break;
                    case 2:
                        F16_CASE(1, 2);
                        break;
                    case 3:
                        F16_CASE(1, 3);
                        break;
                    default:
                        F16_CASE(1, 4);
                        break;
                    }
                }
#undef F16_CASE
                for (int j = 0; j < nr2; j++)
                    for (int c = 0; c < ncb; c++)
                        s[(size_t)(c0 + c) * ss + r + j] += _mm512_reduce_add_ps(acc[j][c]);
            }
        }
    }
}

/* ---- K-quant tile: each super-block unpacked once for up to 4 activation columns -------- */

enum { KQ4, KQ5, KQ6 };

INLINE void kq_row(int type, const uint8_t *row, int64_t nsb, int NC,
                   const herd_block_q8_K *const *xc, float *out)
{
    const size_t bsz = type == KQ4   ? sizeof(herd_block_q4_K)
                       : type == KQ5 ? sizeof(herd_block_q5_K)
                                     : sizeof(herd_block_q6_K);
    const __m512i m4 = _mm512_set1_epi8(15), sixteen = _mm512_set1_epi8(16);
    const __m512i m30 = _mm512_set1_epi8(0x30);
    const __m512i shift = _mm512_setr_epi64(0, 0, 0, 0, 4, 4, 4, 4);
    const __m512i shl = _mm512_setr_epi64(4, 4, 4, 4, 2, 2, 2, 2);
    const __m512i shr = _mm512_setr_epi64(0, 0, 0, 0, 2, 2, 2, 2);
    __m512 acc[TILE_NC];
    __m128 accm[TILE_NC];
    for (int c = 0; c < NC; c++) {
        acc[c] = _mm512_setzero_ps();
        accm[c] = _mm_setzero_ps();
    }
    for (int64_t i = 0; i < nsb; i++, row += bsz) {
        __m512i qv[4], scv[4];
        __m128i mins16 = _mm_setzero_si128();
        __m256i sc16 = _mm256_setzero_si256();
        float d, dmin = 0;
        if (type == KQ6) {
            const herd_block_q6_K *a = (const herd_block_q6_K *)row;
            sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)a->sc));
            __m512i scz = _mm512_castsi256_si512(sc16);
            for (int h = 0; h < 2; h++) {
                __m512i L = _mm512_loadu_si512(a->ql + 64 * h);
                __m512i H =
                    _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(a->qh + 32 * h)));
                qv[2 * h] = _mm512_or_si512(_mm512_and_si512(L, m4),
                                            _mm512_and_si512(_mm512_sllv_epi64(H, shl), m30));
                qv[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(L, 4), m4),
                                                _mm512_and_si512(_mm512_srlv_epi64(H, shr), m30));
                scv[2 * h] = _mm512_permutexvar_epi16(quad_idx16(2 * h), scz);
                scv[2 * h + 1] = _mm512_permutexvar_epi16(quad_idx16(2 * h + 1), scz);
            }
            d = h2f(a->d);
        } else {
            const herd_block_q4_K *a = (const herd_block_q4_K *)row;
            const uint8_t *q = type == KQ5 ? ((const herd_block_q5_K *)row)->q : a->q;
            __m256i sm16 = k_scales16(a->sc);
            mins16 = _mm256_extracti128_si256(sm16, 1);
            __m512i scz = _mm512_castsi256_si512(sm16);
            __m512i hb = _mm512_setzero_si512();
            if (type == KQ5)
                hb = _mm512_broadcast_i64x4(
                    _mm256_loadu_si256((const __m256i *)((const herd_block_q5_K *)row)->qh));
            for (int k = 0; k < 4; k++) {
                __m512i v =
                    _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(q + 32 * k)));
                v = _mm512_and_si512(_mm512_srlv_epi64(v, shift), m4);
                if (type == KQ5) {
                    __m512i bit = _mm512_inserti64x4(_mm512_set1_epi8((char)(1 << (2 * k))),
                                                     _mm256_set1_epi8((char)(1 << (2 * k + 1))), 1);
                    v = _mm512_mask_add_epi8(v, _mm512_test_epi8_mask(hb, bit), v, sixteen);
                }
                qv[k] = v;
                scv[k] = _mm512_permutexvar_epi16(sub_pair_idx16(k), scz);
            }
            d = h2f(a->d);
            dmin = h2f(a->dmin);
        }
        for (int c = 0; c < NC; c++) {
            const herd_block_q8_K *b = xc[c] + i;
            __m512i sumi;
            if (type == KQ6) {
                __m256i off = _mm256_slli_epi32(
                    _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)b->bsums)), 5);
                sumi = _mm512_zextsi256_si512(_mm256_sub_epi32(_mm256_setzero_si256(), off));
            } else {
                __m128i bs8 = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)b->bsums),
                                             _mm_loadu_si128((const __m128i *)(b->bsums + 8)));
                __m128i mp = _mm_madd_epi16(mins16, bs8);
                accm[c] = _mm_fmadd_ps(_mm_set1_ps(b->d * dmin), _mm_cvtepi32_ps(mp), accm[c]);
                sumi = _mm512_setzero_si512();
            }
            for (int k = 0; k < 4; k++)
                sumi = _mm512_dpwssd_epi32(
                    sumi, _mm512_maddubs_epi16(qv[k], _mm512_loadu_si512(b->q + 64 * k)), scv[k]);
            acc[c] = _mm512_fmadd_ps(_mm512_set1_ps(b->d * d), _mm512_cvtepi32_ps(sumi), acc[c]);
        }
    }
    for (int c = 0; c < NC; c++)
        out[c] = _mm512_reduce_add_ps(acc[c]) - hsum128(accm[c]);
}

#define DEFINE_KQ_TILE(name, type, bsize)                                                   \
    static TARGET void name(int64_t n, int nr, int nc, float *s, size_t ss, const void *w,  \
                            size_t ws, const void *x, size_t xs)                            \
    {                                                                                       \
        const int64_t nsb = n / HERD_QK_K;                                                  \
        for (int c0 = 0; c0 < nc; c0 += TILE_NC) {                                          \
            const int ncb = nc - c0 < TILE_NC ? nc - c0 : TILE_NC;                          \
            const herd_block_q8_K *xc[TILE_NC];                                             \
            for (int c = 0; c < ncb; c++)                                                   \
                xc[c] = (const herd_block_q8_K *)((const char *)x + (size_t)(c0 + c) * xs); \
            for (int r = 0; r < nr; r++) {                                                  \
                const uint8_t *row = (const uint8_t *)w + (size_t)r * ws;                   \
                float out[TILE_NC];                                                         \
                switch (ncb) {                                                              \
                case 1:                                                                     \
                    kq_row(type, row, nsb, 1, xc, out);                                     \
                    break;                                                                  \
                case 2:                                                                     \
                    kq_row(type, row, nsb, 2, xc, out);                                     \
                    break;                                                                  \
                case 3:                                                                     \
                    kq_row(type, row, nsb, 3, xc, out);                                     \
                    break;                                                                  \
                default:                                                                    \
                    kq_row(type, row, nsb, 4, xc, out);                                     \
                    break;                                                                  \
                }                                                                           \
                for (int c = 0; c < ncb; c++)                                               \
                    s[(size_t)(c0 + c) * ss + r] = out[c];                                  \
            }                                                                               \
        }                                                                                   \
    }

DEFINE_KQ_TILE(tile_q4_K_cols, KQ4, sizeof(herd_block_q4_K))
DEFINE_KQ_TILE(tile_q5_K_cols, KQ5, sizeof(herd_block_q5_K))
DEFINE_KQ_TILE(tile_q6_K_cols, KQ6, sizeof(herd_block_q6_K))

/* ---- dot / rows / tile entry points ----------------------------------------------------- */

/* single row: the core with NR 1; rows: one row after another (sequential streams) */
#define DEFINE_ENTRY(name, target)                                                   \
    static target void dot_##name(int64_t n, float *s, const void *w, const void *x) \
    {                                                                                \
        name##_core(n, 1, s, w, 0, x);                                               \
    }                                                                                \
    HERD_DEFINE_ROWS_FROM_DOT(rows_##name, dot_##name)                               \
    HERD_DEFINE_TILE_FROM_ROWS(tile_##name, rows_##name)

DEFINE_ENTRY(f32, TARGET)
DEFINE_ENTRY(f16, TARGET)
DEFINE_ENTRY(bf16, TARGET)
DEFINE_ENTRY(q8_0, TARGET)
DEFINE_ENTRY(q4_0, TARGET)
DEFINE_ENTRY(q4_K, TARGET)
DEFINE_ENTRY(q5_K, TARGET)
DEFINE_ENTRY(q6_K, TARGET)

/* BF16 with vdpbf16ps: 32 products per instruction */
#define MASK_T __mmask32
#define FULL   ((__mmask32)0xFFFFFFFFu)

static inline __attribute__((always_inline)) TARGET_BF16 __m512i load_bf16x32(const uint16_t *p,
                                                                              __mmask32 m)
{
    return _mm512_maskz_loadu_epi16(m, p);
}

static inline __attribute__((always_inline)) TARGET_BF16 __m512 dpbf16_acc(__m512 acc, __m512i a,
                                                                           __m512i b)
{
    return _mm512_dpbf16_ps(acc, (__m512bh)a, (__m512bh)b);
}

static inline __attribute__((always_inline)) TARGET_BF16 void
bf16dp_core(int64_t n, int NR, float *s, const void *w, size_t ws, const void *x)
{
    const uint16_t *a = w, *b = x;
    FLOAT_DOT_BODY(32, load_bf16x32, load_bf16x32, dpbf16_acc)
}

#undef MASK_T
#undef FULL

DEFINE_ENTRY(bf16dp, TARGET_BF16)

/* BF16 tile: each 32-element slice of 2 weight rows loaded once, vdpbf16ps against up to 4
 * columns (no activation preparation: the columns are BF16 already). */
static inline __attribute__((always_inline)) TARGET_BF16 void
bf16_tile_block(const uint16_t *w0, const uint16_t *w1, int NR2, int64_t n, int NC,
                const uint16_t *const *xc, __m512 acc[2][TILE_NC])
{
    for (int64_t i = 0; i < n; i += 32) {
        __mmask32 m = n - i >= 32 ? 0xFFFFFFFFu : (__mmask32)((1u << (n - i)) - 1);
        __m512i a0 = _mm512_maskz_loadu_epi16(m, w0 + i);
        __m512i a1 = NR2 == 2 ? _mm512_maskz_loadu_epi16(m, w1 + i) : _mm512_setzero_si512();
        for (int c = 0; c < NC; c++) {
            __m512i xv = _mm512_maskz_loadu_epi16(m, xc[c] + i);
            acc[0][c] = _mm512_dpbf16_ps(acc[0][c], (__m512bh)a0, (__m512bh)xv);
            if (NR2 == 2)
                acc[1][c] = _mm512_dpbf16_ps(acc[1][c], (__m512bh)a1, (__m512bh)xv);
        }
    }
}

static TARGET_BF16 void tile_bf16_cols(int64_t n, int nr, int nc, float *s, size_t ss,
                                       const void *w, size_t ws, const void *x, size_t xs)
{
    for (int c0 = 0; c0 < nc; c0 += TILE_NC) {
        const int ncb = nc - c0 < TILE_NC ? nc - c0 : TILE_NC;
        const uint16_t *xc[TILE_NC];
        for (int c = 0; c < ncb; c++)
            xc[c] = (const uint16_t *)((const char *)x + (size_t)(c0 + c) * xs);
        for (int r = 0; r < nr; r += 2) {
            const int nr2 = nr - r >= 2 ? 2 : 1;
            const uint16_t *w0 = (const uint16_t *)((const char *)w + (size_t)r * ws);
            const uint16_t *w1 = (const uint16_t *)((const char *)w + (size_t)(r + nr2 - 1) * ws);
            __m512 acc[2][TILE_NC];
            for (int j = 0; j < 2; j++)
                for (int c = 0; c < TILE_NC; c++)
                    acc[j][c] = _mm512_setzero_ps();
#define BF16_CASE(R, C) bf16_tile_block(w0, w1, R, n, C, xc, acc)
            if (nr2 == 2) {
                switch (ncb) {
                case 1:
                    BF16_CASE(2, 1);
                    break;
                case 2:
                    BF16_CASE(2, 2);
                    break;
                case 3:
                    BF16_CASE(2, 3);
                    break;
                default:
                    BF16_CASE(2, 4);
                    break;
                }
            } else {
                switch (ncb) {
                case 1:
                    BF16_CASE(1, 1);
                    break;
                case 2:
                    BF16_CASE(1, 2);
                    break;
                case 3:
                    BF16_CASE(1, 3);
                    break;
                default:
                    BF16_CASE(1, 4);
                    break;
                }
            }
#undef BF16_CASE
            for (int j = 0; j < nr2; j++)
                for (int c = 0; c < ncb; c++)
                    s[(size_t)(c0 + c) * ss + r + j] = _mm512_reduce_add_ps(acc[j][c]);
        }
    }
}

/* ---- activation quantizers and converters ----------------------------------------------- */

static TARGET void quantize_q8_0(const float *x, void *dst, int64_t n)
{
    herd_block_q8_0 *y = dst;
    for (int64_t i = 0; i < n / 32; i++, x += 32) {
        __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
        float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
        float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        y[i].d = herd_f32_to_f16(amax / 127.0f);
        __m512 mul = _mm512_set1_ps(id);
        __m128i q0 = _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v0, mul)));
        __m128i q1 = _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v1, mul)));
        _mm_storeu_si128((__m128i *)y[i].q, q0);
        _mm_storeu_si128((__m128i *)(y[i].q + 16), q1);
    }
}

static TARGET void quantize_q8_K(const float *x, void *dst, int64_t n)
{
    herd_block_q8_K *y = dst;
    for (int64_t i = 0; i < n / HERD_QK_K; i++, x += HERD_QK_K) {
        __m512 mx = _mm512_loadu_ps(x), mn = mx;
        for (int j = 16; j < HERD_QK_K; j += 16) {
            __m512 v = _mm512_loadu_ps(x + j);
            mx = _mm512_max_ps(mx, v);
            mn = _mm512_min_ps(mn, v);
        }
        float vmax = _mm512_reduce_max_ps(mx), vmin = _mm512_reduce_min_ps(mn);
        float max = -vmin > vmax ? vmin : vmax;
        if (max == 0.0f) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        float iscale = -127.0f / max;
        __m512 mul = _mm512_set1_ps(iscale);
        for (int j = 0; j < HERD_QK_K; j += 16) {
            __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + j), mul));
            q = _mm512_max_epi32(_mm512_min_epi32(q, _mm512_set1_epi32(127)),
                                 _mm512_set1_epi32(-127));
            _mm_storeu_si128((__m128i *)(y[i].q + j), _mm512_cvtepi32_epi8(q));
            y[i].bsums[j / 16] = (int16_t)_mm512_reduce_add_epi32(q);
        }
        y[i].d = 1.0f / iscale;
    }
}

static TARGET void quantize_f16(const float *x, void *dst, int64_t n)
{
    uint16_t *d = dst;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(d + i),
                            _mm512_cvtps_ph(_mm512_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        d[i] = herd_f32_to_f16(x[i]);
}

static TARGET void f16_to_f32(const void *src, float *dst, int64_t n)
{
    const uint16_t *s = src;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(dst + i, load_f16x16(s + i, 0xFFFF));
    for (; i < n; i++)
        dst[i] = h2f(s[i]);
}

static TARGET void bf16_to_f32(const void *src, float *dst, int64_t n)
{
    const uint16_t *s = src;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(dst + i, load_bf16x16(s + i, 0xFFFF));
    for (; i < n; i++)
        dst[i] = herd_bf16_to_f32(s[i]);
}

/* f32 -> bf16, round to nearest even, NaN kept quiet (integer form: exact for denormals too) */
static TARGET void quantize_bf16(const float *x, void *dst, int64_t n)
{
    uint16_t *d = dst;
    int64_t i = 0;
    const __m512i one = _mm512_set1_epi32(1), bias = _mm512_set1_epi32(0x7fff);
    for (; i + 16 <= n; i += 16) {
        __m512i u = _mm512_loadu_si512(x + i);
        __mmask16 nan =
            _mm512_cmp_ps_mask(_mm512_castsi512_ps(u), _mm512_castsi512_ps(u), _CMP_UNORD_Q);
        __m512i r = _mm512_add_epi32(
            u, _mm512_add_epi32(bias, _mm512_and_si512(_mm512_srli_epi32(u, 16), one)));
        r = _mm512_mask_or_epi32(r, nan, u, _mm512_set1_epi32(0x400000));
        _mm256_storeu_si256((__m256i *)(d + i), _mm512_cvtepi32_epi16(_mm512_srli_epi32(r, 16)));
    }
    for (; i < n; i++)
        d[i] = herd_f32_to_bf16(x[i]);
}

void herd_cpu_init_avx512(herd_isa_kernels *k, int has_bf16, int has_vbmi)
{
#define SET(T, name)                      \
    k->dot[HERD_TYPE_##T] = dot_##name;   \
    k->rows[HERD_TYPE_##T] = rows_##name; \
    k->tile[HERD_TYPE_##T] = tile_##name;
    SET(F32, f32)
    SET(F16, f16)
    SET(Q8_0, q8_0)
    SET(Q4_0, q4_0)
    SET(Q4_K, q4_K)
    SET(Q5_K, q5_K)
    SET(Q6_K, q6_K)
    k->tile[HERD_TYPE_Q4_K] = tile_q4_K_cols;
    k->tile[HERD_TYPE_Q5_K] = tile_q5_K_cols;
    k->tile[HERD_TYPE_Q6_K] = tile_q6_K_cols;
    k->tile[HERD_TYPE_F16] = tile_f16_cols;
    k->rows[HERD_TYPE_Q8_0] = tile_q8_0_prep_rows;
    k->tile[HERD_TYPE_Q8_0] = tile_q8_0_prep;
    if (has_vbmi) {
        k->rows[HERD_TYPE_Q4_0] = tile_q4_0_vbmi_rows;
        k->tile[HERD_TYPE_Q4_0] = tile_q4_0_vbmi;
    }
    if (has_bf16) {
        SET(BF16, bf16dp)
        k->tile[HERD_TYPE_BF16] = tile_bf16_cols;
    } else {
        SET(BF16, bf16)
    }
#undef SET
    k->quant[HERD_TYPE_Q8_0] = quantize_q8_0;
    k->quant[HERD_TYPE_Q8_K] = quantize_q8_K;
    k->quant[HERD_TYPE_F16] = quantize_f16;
    k->quant[HERD_TYPE_BF16] = quantize_bf16;
    k->to_f32[HERD_TYPE_F16] = f16_to_f32;
    k->to_f32[HERD_TYPE_BF16] = bf16_to_f32;
}

#else /* not x86-64 */

void herd_cpu_init_avx512(herd_isa_kernels *k, int has_bf16, int has_vbmi)
{
    (void)k;
    (void)has_bf16;
    (void)has_vbmi;
}

#endif
