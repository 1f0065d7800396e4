/* vecdot-avx2.c: AVX2 + FMA + F16C kernels (function-level target attributes; picked at run time).
 *
 * Quantized kernels do integer dot products with maddubs (u8 x s8 -> s16 pairs) and madd
 * (s16 x s16 -> s32), one 32-byte block or sub-block pair at a time, and scale per block in
 * float. Each kernel is written once as an always-inline "core" over NR weight rows that share
 * the activation loads; dot = core with NR 1, rows = core with NR 1..4. */
#include "vecdot-internal.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#include <immintrin.h>
#include <string.h>

#define TARGET __attribute__((target("avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline)) TARGET

INLINE float hsum_ps(__m256 v)
{
    __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    a = _mm_add_ps(a, _mm_movehl_ps(a, a));
    a = _mm_add_ss(a, _mm_movehdup_ps(a));
    return _mm_cvtss_f32(a);
}

INLINE float hsum_ps128(__m128 a)
{
    a = _mm_add_ps(a, _mm_movehl_ps(a, a));
    a = _mm_add_ss(a, _mm_movehdup_ps(a));
    return _mm_cvtss_f32(a);
}

INLINE float h2f(uint16_t h)
{
    return _cvtsh_ss(h);
}

/* signed x signed bytes -> 8 float lane sums */
INLINE __m256 mul_sum_i8(__m256i a, __m256i b)
{
    __m256i ax = _mm256_sign_epi8(a, a);
    __m256i sy = _mm256_sign_epi8(b, a);
    __m256i dot = _mm256_maddubs_epi16(ax, sy);
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(dot, _mm256_set1_epi16(1)));
}

/* ---- float types ------------------------------------------------------------------------ */

static TARGET void dot_f32(int64_t n, float *s, const void *w, const void *x)
{
    const float *a = w, *b = x;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
        acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), acc2);
        acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), acc3);
    }
    for (; i + 8 <= n; i += 8)
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    float sum = hsum_ps(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
    for (; i < n; i++)
        sum += a[i] * b[i];
    *s = sum;
}

INLINE __m256 load_f16x8(const uint16_t *p)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

INLINE __m256 load_bf16x8(const uint16_t *p)
{
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

static TARGET void dot_f16(int64_t n, float *s, const void *w, const void *x)
{
    const uint16_t *a = w, *b = x;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        acc0 = _mm256_fmadd_ps(load_f16x8(a + i), load_f16x8(b + i), acc0);
        acc1 = _mm256_fmadd_ps(load_f16x8(a + i + 8), load_f16x8(b + i + 8), acc1);
    }
    float sum = hsum_ps(_mm256_add_ps(acc0, acc1));
    for (; i < n; i++)
        sum += h2f(a[i]) * h2f(b[i]);
    *s = sum;
}

static TARGET void dot_bf16(int64_t n, float *s, const void *w, const void *x)
{
    const uint16_t *a = w, *b = x;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        acc0 = _mm256_fmadd_ps(load_bf16x8(a + i), load_bf16x8(b + i), acc0);
        acc1 = _mm256_fmadd_ps(load_bf16x8(a + i + 8), load_bf16x8(b + i + 8), acc1);
    }
    float sum = hsum_ps(_mm256_add_ps(acc0, acc1));
    for (; i < n; i++)
        sum += herd_bf16_to_f32(a[i]) * herd_bf16_to_f32(b[i]);
    *s = sum;
}

/* ---- Q8_0 / Q4_0 x Q8_0 ----------------------------------------------------------------- */

INLINE __m256i unpack_q4_0(const uint8_t *q)
{
    __m128i t = _mm_loadu_si128((const __m128i *)q);
    __m256i b = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
    return _mm256_sub_epi8(_mm256_and_si256(b, _mm256_set1_epi8(15)), _mm256_set1_epi8(8));
}

INLINE void q8_0_core(int64_t n, int NR, float *s, const void *w, size_t ws, const void *x)
{
    const herd_block_q8_0 *b = x;
    __m256 acc[HERD_VEC_DOT_MAX_NR];
    for (int r = 0; r < NR; r++)
        acc[r] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / 32; i++) {
        __m256i xq = _mm256_loadu_si256((const __m256i *)b[i].q);
        float dx = h2f(b[i].d);
        for (int r = 0; r < NR; r++) {
            const herd_block_q8_0 *a = (const herd_block_q8_0 *)((const char *)w + r * ws) + i;
            __m256 p = mul_sum_i8(_mm256_loadu_si256((const __m256i *)a->q), xq);
            acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(dx * h2f(a->d)), p, acc[r]);
        }
    }
    for (int r = 0; r < NR; r++)
        s[r] = hsum_ps(acc[r]);
}

INLINE void q4_0_core(int64_t n, int NR, float *s, const void *w, size_t ws, const void *x)
{
    const herd_block_q8_0 *b = x;
    __m256 acc[HERD_VEC_DOT_MAX_NR];
    for (int r = 0; r < NR; r++)
        acc[r] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / 32; i++) {
        __m256i xq = _mm256_loadu_si256((const __m256i *)b[i].q);
        float dx = h2f(b[i].d);
        for (int r = 0; r < NR; r++) {
            const herd_block_q4_0 *a = (const herd_block_q4_0 *)((const char *)w + r * ws) + i;
            __m256 p = mul_sum_i8(unpack_q4_0(a->q), xq);
            acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(dx * h2f(a->d)), p, acc[r]);
        }
    }
    for (int r = 0; r < NR; r++)
        s[r] = hsum_ps(acc[r]);
}

/* ---- K-quants x Q8_K -------------------------------------------------------------------- */

/* Σ_k mins[k]·(bsums[2k]+bsums[2k+1]) as 4 int32 lanes */
INLINE __m128i k_mins_dot(const uint8_t *mins8, const int16_t *bsums)
{
    __m128i b0 = _mm_loadu_si128((const __m128i *)bsums);
    __m128i b1 = _mm_loadu_si128((const __m128i *)(bsums + 8));
    __m128i bs = _mm_hadd_epi16(b0, b1);
    __m128i m = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)mins8));
    return _mm_madd_epi16(m, bs);
}

/* Q4_K (hbits NULL) and Q5_K share this body. */
INLINE void qk45_core(int64_t n, int NR, float *s, const void *w, size_t ws, const void *x,
                      int is_q5)
{
    const herd_block_q8_K *b = x;
    const size_t bsz = is_q5 ? sizeof(herd_block_q5_K) : sizeof(herd_block_q4_K);
    __m256 acc[HERD_VEC_DOT_MAX_NR];
    __m128 accm[HERD_VEC_DOT_MAX_NR];
    for (int r = 0; r < NR; r++) {
        acc[r] = _mm256_setzero_ps();
        accm[r] = _mm_setzero_ps();
    }
    const __m256i m4 = _mm256_set1_epi8(15), one = _mm256_set1_epi8(1);
    for (int64_t i = 0; i < n / HERD_QK_K; i++) {
        const int8_t *xq = b[i].q;
        for (int r = 0; r < NR; r++) {
            const uint8_t *blk = (const uint8_t *)w + r * ws + i * bsz;
            /* d, dmin, sc[12] sit at the same offsets in Q4_K and Q5_K */
            const herd_block_q4_K *a = (const herd_block_q4_K *)blk;
            const uint8_t *q = is_q5 ? ((const herd_block_q5_K *)blk)->q : a->q;
            uint8_t sm[16];
            herd_unpack_k_scales(a->sc, sm);
            float d = b[i].d * h2f(a->d), dmin = b[i].d * h2f(a->dmin);
            __m128i mp = k_mins_dot(sm + 8, b[i].bsums);
            accm[r] = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(mp), accm[r]);
            __m256i hb =
                is_q5 ? _mm256_loadu_si256((const __m256i *)((const herd_block_q5_K *)blk)->qh)
                      : _mm256_setzero_si256();
            __m256i sumi = _mm256_setzero_si256();
            for (int c = 0; c < 4; c++) {
                __m256i qv = _mm256_loadu_si256((const __m256i *)(q + 32 * c));
                __m256i lo = _mm256_and_si256(qv, m4);
                __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qv, 4), m4);
                if (is_q5) {
                    lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(hb, one), 4));
                    hb = _mm256_srli_epi16(hb, 1);
                    hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(hb, one), 4));
                    hb = _mm256_srli_epi16(hb, 1);
                }
                __m256i p0 =
                    _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(xq + 64 * c)));
                __m256i p1 = _mm256_maddubs_epi16(
                    hi, _mm256_loadu_si256((const __m256i *)(xq + 64 * c + 32)));
                p0 = _mm256_madd_epi16(p0, _mm256_set1_epi16(sm[2 * c]));
                p1 = _mm256_madd_epi16(p1, _mm256_set1_epi16(sm[2 * c + 1]));
                sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p0, p1));
            }
            acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc[r]);
        }
    }
    for (int r = 0; r < NR; r++)
        s[r] = hsum_ps(acc[r]) - hsum_ps128(accm[r]);
}

INLINE void q4_K_core(int64_t n, int NR, float *s, const void *w, size_t ws, const void *x)
{
    qk45_core(n, NR, s, w, ws, x, 0);
}

INLINE void q5_K_core(int64_t n, int NR, float *s, const void *w, size_t ws, const void *x)
{
    qk45_core(n, NR, s, w, ws, x, 1);
}

INLINE void q6_K_core(int64_t n, int NR, float *s, const void *w, size_t ws, const void *x)
{
    const herd_block_q8_K *b = x;
    __m256 acc[HERD_VEC_DOT_MAX_NR];
    for (int r = 0; r < NR; r++)
        acc[r] = _mm256_setzero_ps();
    const __m256i m4 = _mm256_set1_epi8(15), m30 = _mm256_set1_epi8(0x30);
    for (int64_t i = 0; i < n / HERD_QK_K; i++) {
        const int8_t *xq = b[i].q;
        __m256i bs = _mm256_loadu_si256((const __m256i *)b[i].bsums);
        for (int r = 0; r < NR; r++) {
            const herd_block_q6_K *a = (const herd_block_q6_K *)((const char *)w + r * ws) + i;
            __m128i sc8 = _mm_loadu_si128((const __m128i *)a->sc);
            /* the -32 offset: Σ_k sc[k]·32·bsums[k] */
            __m256i off = _mm256_madd_epi16(_mm256_cvtepi8_epi16(sc8), bs);
            __m256i sumi = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(off, 5));
            for (int h = 0; h < 2; h++) {
                __m256i ql0 = _mm256_loadu_si256((const __m256i *)(a->ql + 64 * h));
                __m256i ql1 = _mm256_loadu_si256((const __m256i *)(a->ql + 64 * h + 32));
                __m256i qh = _mm256_loadu_si256((const __m256i *)(a->qh + 32 * h));
                __m256i qv[4];
                qv[0] = _mm256_or_si256(_mm256_and_si256(ql0, m4),
                                        _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30));
                qv[1] = _mm256_or_si256(_mm256_and_si256(ql1, m4),
                                        _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
                qv[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                                        _mm256_and_si256(qh, m30));
                qv[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                                        _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
                for (int k = 0; k < 4; k++) {
                    int sa = 8 * h + 2 * k;
                    __m256i p = _mm256_maddubs_epi16(
                        qv[k], _mm256_loadu_si256((const __m256i *)(xq + 128 * h + 32 * k)));
                    __m256i scv =
                        _mm256_set_m128i(_mm_set1_epi16(a->sc[sa + 1]), _mm_set1_epi16(a->sc[sa]));
                    sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, scv));
                }
            }
            float d = b[i].d * h2f(a->d);
            acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc[r]);
        }
    }
    for (int r = 0; r < NR; r++)
        s[r] = hsum_ps(acc[r]);
}

/* ---- dot / rows / tile entry points ----------------------------------------------------- */

/* rows: one row after another, so each weight row is a single sequential stream (interleaved
 * row streams cost DRAM bandwidth on the machines measured) */
#define DEFINE_ENTRY(name)                                                           \
    static TARGET void dot_##name(int64_t n, float *s, const void *w, const void *x) \
    {                                                                                \
        name##_core(n, 1, s, w, 0, x);                                               \
    }                                                                                \
    HERD_DEFINE_ROWS_FROM_DOT(rows_##name, dot_##name)                               \
    HERD_DEFINE_TILE_FROM_ROWS(tile_##name, rows_##name)

DEFINE_ENTRY(q8_0)
DEFINE_ENTRY(q4_0)
DEFINE_ENTRY(q4_K)
DEFINE_ENTRY(q5_K)
DEFINE_ENTRY(q6_K)

HERD_DEFINE_ROWS_FROM_DOT(rows_f32, dot_f32)
HERD_DEFINE_ROWS_FROM_DOT(rows_f16, dot_f16)
HERD_DEFINE_ROWS_FROM_DOT(rows_bf16, dot_bf16)
HERD_DEFINE_TILE_FROM_ROWS(tile_f32, rows_f32)
HERD_DEFINE_TILE_FROM_ROWS(tile_f16, rows_f16)
HERD_DEFINE_TILE_FROM_ROWS(tile_bf16, rows_bf16)

/* ---- activation quantizers and converters ----------------------------------------------- */

INLINE float hmax_ps(__m256 v)
{
    __m128 a = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    a = _mm_max_ps(a, _mm_movehl_ps(a, a));
    a = _mm_max_ss(a, _mm_movehdup_ps(a));
    return _mm_cvtss_f32(a);
}

/* 32 floats * mul, rounded half to even, packed to 32 int8 in order */
INLINE __m256i round_pack32(const float *x, __m256 mul)
{
    __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x), mul));
    __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8), mul));
    __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 16), mul));
    __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 24), mul));
    __m256i p01 = _mm256_packs_epi32(i0, i1); /* 0-3 8-11 | 4-7 12-15 (per 128 lane) */
    __m256i p23 = _mm256_packs_epi32(i2, i3);
    __m256i p = _mm256_packs_epi16(p01, p23);
    /* lanes now hold dwords in order 0 2 4 6 1 3 5 7 */
    return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

static TARGET void quantize_q8_0(const float *x, void *dst, int64_t n)
{
    herd_block_q8_0 *y = dst;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t i = 0; i < n / 32; i++, x += 32) {
        __m256 m = _mm256_andnot_ps(sign, _mm256_loadu_ps(x));
        m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 8)));
        m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 16)));
        m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 24)));
        float amax = hmax_ps(m);
        float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        y[i].d = herd_f32_to_f16(amax / 127.0f);
        _mm256_storeu_si256((__m256i *)y[i].q, round_pack32(x, _mm256_set1_ps(id)));
    }
}

static TARGET void quantize_q8_K(const float *x, void *dst, int64_t n)
{
    herd_block_q8_K *y = dst;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t i = 0; i < n / HERD_QK_K; i++, x += HERD_QK_K) {
        __m256 mx = _mm256_loadu_ps(x), mn = mx;
        for (int j = 8; j < HERD_QK_K; j += 8) {
            __m256 v = _mm256_loadu_ps(x + j);
            mx = _mm256_max_ps(mx, v);
            mn = _mm256_min_ps(mn, v);
        }
        float vmax = hmax_ps(mx), vmin = -hmax_ps(_mm256_xor_ps(mn, sign));
        float max = -vmin > vmax ? vmin : vmax;
        if (max == 0.0f) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        float iscale = -127.0f / max;
        __m256 mul = _mm256_set1_ps(iscale);
        for (int j = 0; j < HERD_QK_K; j += 32) {
            __m256i q = round_pack32(x + j, mul);
            _mm256_storeu_si256((__m256i *)(y[i].q + j), q);
            /* sums of 16: widen to int16 and horizontally add */
            __m256i lo = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(q));
            __m256i hi = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(q, 1));
            __m256i s0 = _mm256_madd_epi16(lo, _mm256_set1_epi16(1));
            __m256i s1 = _mm256_madd_epi16(hi, _mm256_set1_epi16(1));
            __m256i h = _mm256_hadd_epi32(s0, s1); /* s0[0+1,2+3] s1[..] | s0[4+5,6+7] s1[..] */
            h = _mm256_hadd_epi32(h, h);           /* s0(0-3) s1(0-3) .. | s0(4-7) s1(4-7) .. */
            __m128i t = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
            y[i].bsums[j / 16] = (int16_t)_mm_extract_epi32(t, 0);
            y[i].bsums[j / 16 + 1] = (int16_t)_mm_extract_epi32(t, 1);
        }
        y[i].d = 1.0f / iscale;
    }
}

static TARGET void quantize_f16(const float *x, void *dst, int64_t n)
{
    uint16_t *d = dst;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(d + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        d[i] = herd_f32_to_f16(x[i]);
}

static TARGET void f16_to_f32(const void *src, float *dst, int64_t n)
{
    const uint16_t *s = src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, load_f16x8(s + i));
    for (; i < n; i++)
        dst[i] = h2f(s[i]);
}

static TARGET void bf16_to_f32(const void *src, float *dst, int64_t n)
{
    const uint16_t *s = src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, load_bf16x8(s + i));
    for (; i < n; i++)
        dst[i] = herd_bf16_to_f32(s[i]);
}

void herd_cpu_init_avx2(herd_isa_kernels *k)
{
#define SET(T, name)                      \
    k->dot[HERD_TYPE_##T] = dot_##name;   \
    k->rows[HERD_TYPE_##T] = rows_##name; \
    k->tile[HERD_TYPE_##T] = tile_##name;
    SET(F32, f32)
    SET(F16, f16)
    SET(BF16, bf16)
    SET(Q8_0, q8_0)
    SET(Q4_0, q4_0)
    SET(Q4_K, q4_K)
    SET(Q5_K, q5_K)
    SET(Q6_K, q6_K)
#undef SET
    k->quant[HERD_TYPE_Q8_0] = quantize_q8_0;
    k->quant[HERD_TYPE_Q8_K] = quantize_q8_K;
    k->quant[HERD_TYPE_F16] = quantize_f16;
    k->to_f32[HERD_TYPE_F16] = f16_to_f32;
    k->to_f32[HERD_TYPE_BF16] = bf16_to_f32;
}

#else /* not x86-64 */

void herd_cpu_init_avx2(herd_isa_kernels *k)
{
    (void)k;
}

#endif
