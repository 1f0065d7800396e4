/* quant.c: half/bf16 conversion, reference quantizers and dequantizers (spec §7.6), scalar dot
 * products, and run-time selection of the SIMD kernels in cpu/vecdot-*.c. */
#include "quant.h"

#include "cpu/vecdot-internal.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* half / bfloat16                                                                             */

static inline uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Round to nearest, ties to even (like nearbyintf in the default mode, and like the SIMD
 * cvtps2dq paths), without a libm call: adding 1.5·2^23 leaves the rounded integer in the low
 * mantissa bits. Exact for |v| < 2^22; larger magnitudes (never reached by sane data) saturate. */
static inline int iround(float v)
{
    v = v > -4194303.0f ? v : -4194303.0f; /* maxss/minss: branch-free, no libm call */
    v = v < 4194303.0f ? v : 4194303.0f;
    return (int)(f32_bits(v + 12582912.0f) & 0x7fffff) - 0x400000;
}

float herd_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    if (exp == 0) {
        float v = (float)mant * (1.0f / 16777216.0f); /* mant * 2^-24, exact */
        return sign ? -v : v;
    }
    if (exp == 31)
        return bits_f32(sign | 0x7f800000u | (mant << 13));
    return bits_f32(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t herd_f32_to_f16(float f)
{
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    x &= 0x7fffffffu;
    if (x >= 0x7f800000u) /* inf / nan */
        return (uint16_t)(sign | 0x7c00 | (x > 0x7f800000u ? 0x200 | ((x >> 13) & 0x3ff) : 0));
    if (x >= 0x477ff000u) /* rounds to >= 65536: inf */
        return (uint16_t)(sign | 0x7c00);
    if (x < 0x38800000u) {                   /* below 2^-14: subnormal half (or zero) */
        float v = bits_f32(x) * 16777216.0f; /* exact, < 1024 */
        return (uint16_t)(sign | (uint16_t)nearbyintf(v));
    }
    x += 0xfffu + ((x >> 13) & 1); /* round to nearest even */
    return (uint16_t)(sign | ((x >> 13) - (112u << 10)));
}

float herd_bf16_to_f32(uint16_t h)
{
    return bits_f32((uint32_t)h << 16);
}

uint16_t herd_f32_to_bf16(float f)
{
    uint32_t x = f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 0x40); /* quiet nan */
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1)) >> 16);
}

#define FP16(h) herd_f16_to_f32(h)

/* ------------------------------------------------------------------------------------------ */
/* ISA selection                                                                               */

enum { ISA_REF, ISA_AVX2, ISA_AVX512, ISA_COUNT };
static const char *const isa_names[ISA_COUNT] = { "ref", "avx2", "avx512" };

static herd_isa_kernels isa_tables[ISA_COUNT];
static int isa_have[ISA_COUNT];
static int isa_best;
static char cpu_features[256];
static pthread_once_t isa_once = PTHREAD_ONCE_INIT;

static void init_ref_table(herd_isa_kernels *k);

static void add_feature(const char *name, int have)
{
    if (!have)
        return;
    size_t len = strlen(cpu_features);
    if (len + strlen(name) + 2 >= sizeof cpu_features)
        return;
    if (len)
        cpu_features[len++] = ' ';
    strcpy(cpu_features + len, name);
}

static void isa_init(void)
{
    init_ref_table(&isa_tables[ISA_REF]);
    isa_have[ISA_REF] = 1;
    isa_best = ISA_REF;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    int f16c = 1; /* every AVX2 CPU has F16C; __builtin_cpu_supports lacks a name for it */
    int a512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx512vnni");
    int bf16 = __builtin_cpu_supports("avx512bf16");
    add_feature("sse4.2", __builtin_cpu_supports("sse4.2"));
    add_feature("avx", __builtin_cpu_supports("avx"));
    add_feature("avx2", __builtin_cpu_supports("avx2"));
    add_feature("fma", __builtin_cpu_supports("fma"));
    add_feature("f16c", avx2 && f16c);
    add_feature("avx512f", __builtin_cpu_supports("avx512f"));
    add_feature("avx512dq", __builtin_cpu_supports("avx512dq"));
    add_feature("avx512bw", __builtin_cpu_supports("avx512bw"));
    add_feature("avx512vl", __builtin_cpu_supports("avx512vl"));
    add_feature("avx512vnni", __builtin_cpu_supports("avx512vnni"));
    add_feature("avx512vbmi", __builtin_cpu_supports("avx512vbmi"));
    add_feature("avx512bf16", bf16);
    if (avx2) {
        herd_cpu_init_avx2(&isa_tables[ISA_AVX2]);
        isa_have[ISA_AVX2] = 1;
        isa_best = ISA_AVX2;
    }
    if (avx2 && a512) {
        herd_cpu_init_avx512(&isa_tables[ISA_AVX512], bf16, __builtin_cpu_supports("avx512vbmi"));
        isa_have[ISA_AVX512] = 1;
        isa_best = ISA_AVX512;
    }
#endif
    if (!cpu_features[0])
        strcpy(cpu_features, "scalar");
    const char *cap = getenv("HERD_CPU_ISA");
    if (cap) {
        for (int i = 0; i < ISA_COUNT; i++)
            if (strcmp(cap, isa_names[i]) == 0 && i < isa_best)
                isa_best = i;
    }
}

static void ensure_init(void)
{
    pthread_once(&isa_once, isa_init);
}

static int isa_index(const char *isa)
{
    for (int i = 0; i < ISA_COUNT; i++)
        if (isa && strcmp(isa, isa_names[i]) == 0)
            return i;
    return -1;
}

const char *herd_cpu_features(void)
{
    ensure_init();
    return cpu_features;
}

const char *herd_cpu_isa(void)
{
    ensure_init();
    return isa_names[isa_best];
}

static int valid_type(herd_type t)
{
    return (unsigned)t < HERD_TYPE_COUNT;
}

herd_vec_dot_fn herd_get_vec_dot(herd_type wtype)
{
    ensure_init();
    if (!valid_type(wtype))
        return NULL;
    for (int i = isa_best; i >= 0; i--)
        if (isa_tables[i].dot[wtype])
            return isa_tables[i].dot[wtype];
    return NULL;
}

herd_vec_dot_rows_fn herd_get_vec_dot_rows(herd_type wtype)
{
    ensure_init();
    if (!valid_type(wtype))
        return NULL;
    for (int i = isa_best; i >= 0; i--)
        if (isa_tables[i].rows[wtype])
            return isa_tables[i].rows[wtype];
    return NULL;
}

herd_vec_dot_tile_fn herd_get_vec_dot_tile(herd_type wtype)
{
    ensure_init();
    if (!valid_type(wtype))
        return NULL;
    for (int i = isa_best; i >= 0; i--)
        if (isa_tables[i].tile[wtype])
            return isa_tables[i].tile[wtype];
    return NULL;
}

herd_vec_dot_fn herd_get_vec_dot_ref(herd_type wtype)
{
    ensure_init();
    return valid_type(wtype) ? isa_tables[ISA_REF].dot[wtype] : NULL;
}

herd_vec_dot_fn herd_get_vec_dot_isa(herd_type wtype, const char *isa)
{
    ensure_init();
    int i = isa_index(isa);
    if (i < 0 || !isa_have[i] || !valid_type(wtype))
        return NULL;
    return isa_tables[i].dot[wtype];
}

herd_vec_dot_rows_fn herd_get_vec_dot_rows_isa(herd_type wtype, const char *isa)
{
    ensure_init();
    int i = isa_index(isa);
    if (i < 0 || !isa_have[i] || !valid_type(wtype))
        return NULL;
    return isa_tables[i].rows[wtype];
}

herd_vec_dot_tile_fn herd_get_vec_dot_tile_isa(herd_type wtype, const char *isa)
{
    ensure_init();
    int i = isa_index(isa);
    if (i < 0 || !isa_have[i] || !valid_type(wtype))
        return NULL;
    return isa_tables[i].tile[wtype];
}

herd_quantize_fn herd_get_quantize_isa(herd_type type, const char *isa)
{
    ensure_init();
    int i = isa_index(isa);
    if (i < 0 || !isa_have[i] || !valid_type(type))
        return NULL;
    return isa_tables[i].quant[type];
}

herd_type herd_vec_dot_type(herd_type wtype)
{
    switch (wtype) {
    case HERD_TYPE_F32:
        return HERD_TYPE_F32;
    case HERD_TYPE_F16:
        return HERD_TYPE_F16;
    case HERD_TYPE_BF16:
        return HERD_TYPE_BF16;
    case HERD_TYPE_Q8_0:
    case HERD_TYPE_Q4_0:
        return HERD_TYPE_Q8_0;
    case HERD_TYPE_Q4_K:
    case HERD_TYPE_Q5_K:
    case HERD_TYPE_Q6_K:
        return HERD_TYPE_Q8_K;
    default:
        return (herd_type)-1;
    }
}

int herd_quant_supported(herd_type type)
{
    switch (type) {
    case HERD_TYPE_F32:
    case HERD_TYPE_F16:
    case HERD_TYPE_BF16:
    case HERD_TYPE_Q8_0:
    case HERD_TYPE_Q4_0:
    case HERD_TYPE_Q4_K:
    case HERD_TYPE_Q5_K:
    case HERD_TYPE_Q6_K:
    case HERD_TYPE_Q8_K:
        return 1;
    default:
        return 0;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Row converters                                                                              */

static void f16_to_f32_ref(const void *src, float *dst, int64_t n)
{
    const uint16_t *s = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = herd_f16_to_f32(s[i]);
}

static void bf16_to_f32_ref(const void *src, float *dst, int64_t n)
{
    const uint16_t *s = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = herd_bf16_to_f32(s[i]);
}

static void quantize_f32(const float *x, void *dst, int64_t n)
{
    memcpy(dst, x, (size_t)n * sizeof(float));
}

static void quantize_f16_ref(const float *x, void *dst, int64_t n)
{
    uint16_t *d = dst;
    for (int64_t i = 0; i < n; i++)
        d[i] = herd_f32_to_f16(x[i]);
}

static void quantize_bf16_ref(const float *x, void *dst, int64_t n)
{
    uint16_t *d = dst;
    for (int64_t i = 0; i < n; i++)
        d[i] = herd_f32_to_bf16(x[i]);
}

static herd_quantize_fn best_quant(herd_type t)
{
    ensure_init();
    for (int i = isa_best; i >= 0; i--)
        if (isa_tables[i].quant[t])
            return isa_tables[i].quant[t];
    return NULL;
}

void herd_f16_to_f32_row(const uint16_t *src, float *dst, int64_t n)
{
    ensure_init();
    for (int i = isa_best; i >= 0; i--)
        if (isa_tables[i].to_f32[HERD_TYPE_F16]) {
            isa_tables[i].to_f32[HERD_TYPE_F16](src, dst, n);
            return;
        }
}

void herd_bf16_to_f32_row(const uint16_t *src, float *dst, int64_t n)
{
    ensure_init();
    for (int i = isa_best; i >= 0; i--)
        if (isa_tables[i].to_f32[HERD_TYPE_BF16]) {
            isa_tables[i].to_f32[HERD_TYPE_BF16](src, dst, n);
            return;
        }
}

void herd_f32_to_f16_row(const float *src, uint16_t *dst, int64_t n)
{
    best_quant(HERD_TYPE_F16)(src, dst, n);
}

void herd_f32_to_bf16_row(const float *src, uint16_t *dst, int64_t n)
{
    best_quant(HERD_TYPE_BF16)(src, dst, n);
}

/* ------------------------------------------------------------------------------------------ */
/* Reference quantizers                                                                        */

/* Activation formats: the rules of the reference engine's SIMD paths (scale from max|x|,
 * round half to even), so that results land on the same integers. */
static void quantize_q8_0_ref(const float *x, void *dst, int64_t n)
{
    herd_block_q8_0 *y = dst;
    for (int64_t i = 0; i < n / 32; i++, x += 32) {
        float amax = 0;
        for (int j = 0; j < 32; j++)
            amax = fmaxf(amax, fabsf(x[j]));
        float d = amax / 127.0f;
        float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        y[i].d = herd_f32_to_f16(d);
        for (int j = 0; j < 32; j++)
            y[i].q[j] = (int8_t)iround(x[j] * id);
    }
}

static void quantize_q8_K_ref(const float *x, void *dst, int64_t n)
{
    herd_block_q8_K *y = dst;
    for (int64_t i = 0; i < n / HERD_QK_K; i++, x += HERD_QK_K) {
        float max = 0, amax = 0;
        for (int j = 0; j < HERD_QK_K; j++) {
            float a = fabsf(x[j]);
            if (a > amax) {
                amax = a;
                max = x[j];
            }
        }
        if (amax == 0.0f) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        float iscale = -127.0f / max;
        for (int j = 0; j < HERD_QK_K; j++) {
            int v = iround(iscale * x[j]);
            y[i].q[j] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
        }
        for (int j = 0; j < HERD_QK_K / 16; j++) {
            int sum = 0;
            for (int l = 0; l < 16; l++)
                sum += y[i].q[16 * j + l];
            y[i].bsums[j] = (int16_t)sum;
        }
        y[i].d = 1.0f / iscale;
    }
}

static void quantize_q4_0_ref(const float *x, void *dst, int64_t n)
{
    herd_block_q4_0 *y = dst;
    for (int64_t i = 0; i < n / 32; i++, x += 32) {
        float amax = 0, max = 0;
        for (int j = 0; j < 32; j++)
            if (fabsf(x[j]) > amax) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        /* the largest-magnitude value maps to -8, the end with one more level */
        float d = max / -8.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = herd_f32_to_f16(d);
        for (int j = 0; j < 16; j++) {
            int a = (int)(x[j] * id + 8.5f), b = (int)(x[j + 16] * id + 8.5f);
            a = a < 0 ? 0 : a > 15 ? 15 : a;
            b = b < 0 ? 0 : b > 15 ? 15 : b;
            y[i].q[j] = (uint8_t)(a | (b << 4));
        }
    }
}

/* Fit x[0..n) ≈ scale·L − mn with L in [0, nmax], mn >= 0, minimising Σ wt·err² by a small search
 * over the scale (11 candidates around nmax/(max-min)) each followed by a least-squares refit of
 * scale and offset. Returns scale, stores mn. */
static float fit_scale_min(int n, int nmax, const float *x, const float *wt, float *mn_out)
{
    float lo = x[0], hi = x[0];
    for (int i = 1; i < n; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    if (lo > 0)
        lo = 0;
    if (hi <= lo) {
        *mn_out = -lo;
        return 0;
    }
    float sw = 0, sx = 0;
    for (int i = 0; i < n; i++) {
        sw += wt[i];
        sx += wt[i] * x[i];
    }
    float best_scale = (hi - lo) / nmax, best_min = lo, best_err = INFINITY;
    for (int is = -5; is <= 5; is++) {
        float iscale = (nmax + 0.2f * is) / (hi - lo);
        float sl = 0, sl2 = 0, sxl = 0;
        for (int i = 0; i < n; i++) {
            int l = iround(iscale * (x[i] - lo));
            l = l < 0 ? 0 : l > nmax ? nmax : l;
            sl += wt[i] * l;
            sl2 += wt[i] * l * l;
            sxl += wt[i] * l * x[i];
        }
        float det = sw * sl2 - sl * sl;
        if (!(det > 0))
            continue;
        float scale = (sw * sxl - sx * sl) / det;
        float m = (sl2 * sx - sl * sxl) / det; /* offset: x ≈ scale·l + m */
        if (m > 0) {
            m = 0;
            scale = sl2 > 0 ? sxl / sl2 : 0;
        }
        if (!(scale > 0))
            continue;
        float inv = 1.0f / scale, err = 0;
        for (int i = 0; i < n; i++) {
            int l = iround((x[i] - m) * inv);
            l = l < 0 ? 0 : l > nmax ? nmax : l;
            float e = scale * l + m - x[i];
            err += wt[i] * e * e;
        }
        if (err < best_err) {
            best_err = err;
            best_scale = scale;
            best_min = m;
        }
    }
    *mn_out = -best_min;
    return best_scale;
}

/* Symmetric fit x ≈ scale·L, L in [-nmax, nmax-1] (the extreme value maps to -nmax). */
static float fit_scale_sym(int n, int nmax, const float *x, const float *wt)
{
    float amax = 0, max = 0;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    if (amax == 0)
        return 0;
    float best_scale = -max / nmax, best_err = INFINITY;
    for (int is = -5; is <= 5; is++) {
        float iscale = -(nmax + 0.2f * is) / max;
        float sxl = 0, sl2 = 0;
        for (int i = 0; i < n; i++) {
            int l = iround(iscale * x[i]);
            l = l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l;
            sxl += wt[i] * x[i] * l;
            sl2 += wt[i] * l * l;
        }
        if (!(sl2 > 0))
            continue;
        float scale = sxl / sl2, inv = 1.0f / scale, err = 0;
        for (int i = 0; i < n; i++) {
            int l = iround(x[i] * inv);
            l = l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l;
            float e = scale * l - x[i];
            err += wt[i] * e * e;
        }
        if (err < best_err) {
            best_err = err;
            best_scale = scale;
        }
    }
    return best_scale;
}

/* Importance weights: |x| plus the sub-block's RMS (so small values still count). */
static void make_weights(const float *x, int n, float *wt)
{
    float s2 = 0;
    for (int i = 0; i < n; i++)
        s2 += x[i] * x[i];
    float av = sqrtf(s2 / n);
    for (int i = 0; i < n; i++)
        wt[i] = av + fabsf(x[i]);
}

/* Shared by Q4_K (nmax 15) and Q5_K (nmax 31): fills d, dmin, sc[12] and L[256]. */
static void quantize_k_scale_min(const float *x, int nmax, uint16_t *d_out, uint16_t *dmin_out,
                                 uint8_t sc[12], uint8_t L[256])
{
    float scales[8], mins[8], wt[32];
    float max_scale = 0, max_min = 0;
    for (int b = 0; b < 8; b++) {
        make_weights(x + 32 * b, 32, wt);
        scales[b] = fit_scale_min(32, nmax, x + 32 * b, wt, &mins[b]);
        max_scale = fmaxf(max_scale, scales[b]);
        max_min = fmaxf(max_min, mins[b]);
    }
    float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0;
    float inv_min = max_min > 0 ? 63.0f / max_min : 0;
    uint8_t ls[8], lm[8];
    for (int b = 0; b < 8; b++) {
        int a = iround(inv_scale * scales[b]), m = iround(inv_min * mins[b]);
        ls[b] = (uint8_t)(a > 63 ? 63 : a < 0 ? 0 : a);
        lm[b] = (uint8_t)(m > 63 ? 63 : m < 0 ? 0 : m);
    }
    memset(sc, 0, 12);
    for (int b = 0; b < 4; b++) {
        sc[b] = ls[b];
        sc[b + 4] = lm[b];
    }
    for (int b = 4; b < 8; b++) {
        sc[b + 4] = (uint8_t)((ls[b] & 15) | ((lm[b] & 15) << 4));
        sc[b - 4] |= (uint8_t)((ls[b] >> 4) << 6);
        sc[b] |= (uint8_t)((lm[b] >> 4) << 6);
    }
    *d_out = herd_f32_to_f16(max_scale / 63.0f);
    *dmin_out = herd_f32_to_f16(max_min / 63.0f);
    float d = FP16(*d_out), dmin = FP16(*dmin_out);
    for (int b = 0; b < 8; b++) {
        float ds = d * ls[b], dm = dmin * lm[b], ids = ds > 0 ? 1.0f / ds : 0;
        for (int j = 0; j < 32; j++) {
            int l = iround((x[32 * b + j] + dm) * ids);
            L[32 * b + j] = (uint8_t)(l < 0 ? 0 : l > nmax ? nmax : l);
        }
    }
}

static void quantize_q4_K_ref(const float *x, void *dst, int64_t n)
{
    herd_block_q4_K *y = dst;
    uint8_t L[256];
    for (int64_t i = 0; i < n / HERD_QK_K; i++, x += HERD_QK_K) {
        quantize_k_scale_min(x, 15, &y[i].d, &y[i].dmin, y[i].sc, L);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++)
                y[i].q[32 * c + l] = (uint8_t)(L[64 * c + l] | (L[64 * c + 32 + l] << 4));
    }
}

static void quantize_q5_K_ref(const float *x, void *dst, int64_t n)
{
    herd_block_q5_K *y = dst;
    uint8_t L[256];
    for (int64_t i = 0; i < n / HERD_QK_K; i++, x += HERD_QK_K) {
        quantize_k_scale_min(x, 31, &y[i].d, &y[i].dmin, y[i].sc, L);
        memset(y[i].qh, 0, 32);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) {
                int a = L[64 * c + l], b = L[64 * c + 32 + l];
                y[i].q[32 * c + l] = (uint8_t)((a & 15) | ((b & 15) << 4));
                y[i].qh[l] |= (uint8_t)(((a >> 4) << (2 * c)) | ((b >> 4) << (2 * c + 1)));
            }
    }
}

static void quantize_q6_K_ref(const float *x, void *dst, int64_t n)
{
    herd_block_q6_K *y = dst;
    for (int64_t i = 0; i < n / HERD_QK_K; i++, x += HERD_QK_K) {
        float scales[16], wt[16], amax = 0, max = 0;
        for (int b = 0; b < 16; b++) {
            make_weights(x + 16 * b, 16, wt);
            scales[b] = fit_scale_sym(16, 32, x + 16 * b, wt);
            if (fabsf(scales[b]) > amax) {
                amax = fabsf(scales[b]);
                max = scales[b];
            }
        }
        uint8_t L[256];
        if (amax == 0) {
            memset(&y[i], 0, sizeof y[i]);
            memset(L, 32, sizeof L);
        } else {
            float iscale = -127.0f / max;
            y[i].d = herd_f32_to_f16(1.0f / iscale);
            float d = FP16(y[i].d);
            for (int b = 0; b < 16; b++) {
                int s = iround(iscale * scales[b]);
                y[i].sc[b] = (int8_t)(s > 127 ? 127 : s < -127 ? -127 : s);
                float ds = d * y[i].sc[b], ids = ds != 0 ? 1.0f / ds : 0;
                for (int j = 0; j < 16; j++) {
                    int l = iround(x[16 * b + j] * ids);
                    l = l < -32 ? -32 : l > 31 ? 31 : l;
                    L[16 * b + j] = (uint8_t)(l + 32);
                }
            }
        }
        for (int h = 0; h < 2; h++) {
            uint8_t *ql = y[i].ql + 64 * h, *qh = y[i].qh + 32 * h;
            const uint8_t *Lh = L + 128 * h;
            for (int l = 0; l < 32; l++) {
                int q1 = Lh[l], q2 = Lh[l + 32], q3 = Lh[l + 64], q4 = Lh[l + 96];
                ql[l] = (uint8_t)((q1 & 15) | ((q3 & 15) << 4));
                ql[l + 32] = (uint8_t)((q2 & 15) | ((q4 & 15) << 4));
                qh[l] =
                    (uint8_t)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
            }
        }
    }
}

static herd_quantize_fn ref_quantizer(herd_type type)
{
    switch (type) {
    case HERD_TYPE_F32:
        return quantize_f32;
    case HERD_TYPE_F16:
        return quantize_f16_ref;
    case HERD_TYPE_BF16:
        return quantize_bf16_ref;
    case HERD_TYPE_Q8_0:
        return quantize_q8_0_ref;
    case HERD_TYPE_Q4_0:
        return quantize_q4_0_ref;
    case HERD_TYPE_Q4_K:
        return quantize_q4_K_ref;
    case HERD_TYPE_Q5_K:
        return quantize_q5_K_ref;
    case HERD_TYPE_Q6_K:
        return quantize_q6_K_ref;
    case HERD_TYPE_Q8_K:
        return quantize_q8_K_ref;
    default:
        return NULL;
    }
}

void herd_quantize_row_ref(herd_type type, const float *x, void *dst, int64_t n)
{
    herd_quantize_fn f = ref_quantizer(type);
    if (f)
        f(x, dst, n);
}

void herd_quantize_row(herd_type type, const float *x, void *dst, int64_t n)
{
    herd_quantize_fn f = valid_type(type) ? best_quant(type) : NULL;
    if (!f)
        f = ref_quantizer(type);
    if (f)
        f(x, dst, n);
}

/* ------------------------------------------------------------------------------------------ */
/* Reference dequantization (spec §7.6)                                                        */

void herd_dequantize_row(herd_type type, const void *src, float *dst, int64_t n)
{
    switch (type) {
    case HERD_TYPE_F32:
        memcpy(dst, src, (size_t)n * sizeof(float));
        break;
    case HERD_TYPE_F16:
        f16_to_f32_ref(src, dst, n);
        break;
    case HERD_TYPE_BF16:
        bf16_to_f32_ref(src, dst, n);
        break;
    case HERD_TYPE_Q8_0: {
        const herd_block_q8_0 *b = src;
        for (int64_t i = 0; i < n / 32; i++) {
            float d = FP16(b[i].d);
            for (int j = 0; j < 32; j++)
                dst[32 * i + j] = d * b[i].q[j];
        }
        break;
    }
    case HERD_TYPE_Q4_0: {
        const herd_block_q4_0 *b = src;
        for (int64_t i = 0; i < n / 32; i++) {
            float d = FP16(b[i].d);
            for (int j = 0; j < 16; j++) {
                dst[32 * i + j] = d * ((b[i].q[j] & 15) - 8);
                dst[32 * i + j + 16] = d * ((b[i].q[j] >> 4) - 8);
            }
        }
        break;
    }
    case HERD_TYPE_Q4_K: {
        const herd_block_q4_K *b = src;
        for (int64_t i = 0; i < n / HERD_QK_K; i++) {
            float d = FP16(b[i].d), dmin = FP16(b[i].dmin);
            uint8_t sm[16];
            herd_unpack_k_scales(b[i].sc, sm);
            float *y = dst + HERD_QK_K * i;
            for (int c = 0; c < 4; c++) {
                float d1 = d * sm[2 * c], m1 = dmin * sm[8 + 2 * c];
                float d2 = d * sm[2 * c + 1], m2 = dmin * sm[8 + 2 * c + 1];
                for (int l = 0; l < 32; l++) {
                    y[64 * c + l] = d1 * (b[i].q[32 * c + l] & 15) - m1;
                    y[64 * c + 32 + l] = d2 * (b[i].q[32 * c + l] >> 4) - m2;
                }
            }
        }
        break;
    }
    case HERD_TYPE_Q5_K: {
        const herd_block_q5_K *b = src;
        for (int64_t i = 0; i < n / HERD_QK_K; i++) {
            float d = FP16(b[i].d), dmin = FP16(b[i].dmin);
            uint8_t sm[16];
            herd_unpack_k_scales(b[i].sc, sm);
            float *y = dst + HERD_QK_K * i;
            for (int c = 0; c < 4; c++) {
                float d1 = d * sm[2 * c], m1 = dmin * sm[8 + 2 * c];
                float d2 = d * sm[2 * c + 1], m2 = dmin * sm[8 + 2 * c + 1];
                for (int l = 0; l < 32; l++) {
                    int h1 = (b[i].qh[l] >> (2 * c)) & 1, h2 = (b[i].qh[l] >> (2 * c + 1)) & 1;
                    y[64 * c + l] = d1 * ((b[i].q[32 * c + l] & 15) | (h1 << 4)) - m1;
                    y[64 * c + 32 + l] = d2 * ((b[i].q[32 * c + l] >> 4) | (h2 << 4)) - m2;
                }
            }
        }
        break;
    }
    case HERD_TYPE_Q6_K: {
        const herd_block_q6_K *b = src;
        for (int64_t i = 0; i < n / HERD_QK_K; i++) {
            float d = FP16(b[i].d);
            for (int h = 0; h < 2; h++) {
                const uint8_t *ql = b[i].ql + 64 * h, *qh = b[i].qh + 32 * h;
                const int8_t *sc = b[i].sc + 8 * h;
                float *y = dst + HERD_QK_K * i + 128 * h;
                for (int l = 0; l < 32; l++) {
                    int is = l / 16;
                    int q1 = ((ql[l] & 15) | (((qh[l] >> 0) & 3) << 4)) - 32;
                    int q2 = ((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32;
                    int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                    int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                    y[l] = d * sc[is + 0] * q1;
                    y[l + 32] = d * sc[is + 2] * q2;
                    y[l + 64] = d * sc[is + 4] * q3;
                    y[l + 96] = d * sc[is + 6] * q4;
                }
            }
        }
        break;
    }
    case HERD_TYPE_Q8_K: {
        const herd_block_q8_K *b = src;
        for (int64_t i = 0; i < n / HERD_QK_K; i++)
            for (int j = 0; j < HERD_QK_K; j++)
                dst[HERD_QK_K * i + j] = b[i].d * b[i].q[j];
        break;
    }
    default:
        break;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Reference dot products: integer sums per block, scaled in float (like the reference engine)  */

static void dot_f32_ref(int64_t n, float *s, const void *w, const void *x)
{
    const float *a = w, *b = x;
    double sum = 0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)a[i] * b[i];
    *s = (float)sum;
}

static void dot_f16_ref(int64_t n, float *s, const void *w, const void *x)
{
    const uint16_t *a = w, *b = x;
    double sum = 0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)herd_f16_to_f32(a[i]) * herd_f16_to_f32(b[i]);
    *s = (float)sum;
}

static void dot_bf16_ref(int64_t n, float *s, const void *w, const void *x)
{
    const uint16_t *a = w, *b = x;
    double sum = 0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)herd_bf16_to_f32(a[i]) * herd_bf16_to_f32(b[i]);
    *s = (float)sum;
}

static void dot_q8_0_ref(int64_t n, float *s, const void *w, const void *x)
{
    const herd_block_q8_0 *a = w, *b = x;
    float sum = 0;
    for (int64_t i = 0; i < n / 32; i++) {
        int si = 0;
        for (int j = 0; j < 32; j++)
            si += a[i].q[j] * b[i].q[j];
        sum += (float)si * (FP16(a[i].d) * FP16(b[i].d));
    }
    *s = sum;
}

static void dot_q4_0_ref(int64_t n, float *s, const void *w, const void *x)
{
    const herd_block_q4_0 *a = w;
    const herd_block_q8_0 *b = x;
    float sum = 0;
    for (int64_t i = 0; i < n / 32; i++) {
        int si = 0;
        for (int j = 0; j < 16; j++)
            si += ((a[i].q[j] & 15) - 8) * b[i].q[j] + ((a[i].q[j] >> 4) - 8) * b[i].q[j + 16];
        sum += (float)si * (FP16(a[i].d) * FP16(b[i].d));
    }
    *s = sum;
}

static void dot_q4_K_ref(int64_t n, float *s, const void *w, const void *x)
{
    const herd_block_q4_K *a = w;
    const herd_block_q8_K *b = x;
    float sum = 0;
    for (int64_t i = 0; i < n / HERD_QK_K; i++) {
        uint8_t sm[16];
        herd_unpack_k_scales(a[i].sc, sm);
        int si = 0, sm_i = 0;
        for (int c = 0; c < 4; c++) {
            int s1 = 0, s2 = 0;
            for (int l = 0; l < 32; l++) {
                s1 += (a[i].q[32 * c + l] & 15) * b[i].q[64 * c + l];
                s2 += (a[i].q[32 * c + l] >> 4) * b[i].q[64 * c + 32 + l];
            }
            si += sm[2 * c] * s1 + sm[2 * c + 1] * s2;
        }
        for (int k = 0; k < 8; k++)
            sm_i += sm[8 + k] * (b[i].bsums[2 * k] + b[i].bsums[2 * k + 1]);
        sum += b[i].d * FP16(a[i].d) * si - b[i].d * FP16(a[i].dmin) * sm_i;
    }
    *s = sum;
}

static void dot_q5_K_ref(int64_t n, float *s, const void *w, const void *x)
{
    const herd_block_q5_K *a = w;
    const herd_block_q8_K *b = x;
    float sum = 0;
    for (int64_t i = 0; i < n / HERD_QK_K; i++) {
        uint8_t sm[16];
        herd_unpack_k_scales(a[i].sc, sm);
        int si = 0, sm_i = 0;
        for (int c = 0; c < 4; c++) {
            int s1 = 0, s2 = 0;
            for (int l = 0; l < 32; l++) {
                int q1 = (a[i].q[32 * c + l] & 15) | (((a[i].qh[l] >> (2 * c)) & 1) << 4);
                int q2 = (a[i].q[32 * c + l] >> 4) | (((a[i].qh[l] >> (2 * c + 1)) & 1) << 4);
                s1 += q1 * b[i].q[64 * c + l];
                s2 += q2 * b[i].q[64 * c + 32 + l];
            }
            si += sm[2 * c] * s1 + sm[2 * c + 1] * s2;
        }
        for (int k = 0; k < 8; k++)
            sm_i += sm[8 + k] * (b[i].bsums[2 * k] + b[i].bsums[2 * k + 1]);
        sum += b[i].d * FP16(a[i].d) * si - b[i].d * FP16(a[i].dmin) * sm_i;
    }
    *s = sum;
}

static void dot_q6_K_ref(int64_t n, float *s, const void *w, const void *x)
{
    const herd_block_q6_K *a = w;
    const herd_block_q8_K *b = x;
    float sum = 0;
    for (int64_t i = 0; i < n / HERD_QK_K; i++) {
        int si = 0;
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = a[i].ql + 64 * h, *qh = a[i].qh + 32 * h;
            const int8_t *sc = a[i].sc + 8 * h, *q8 = b[i].q + 128 * h;
            int sub[8] = { 0 };
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                sub[is + 0] += (((ql[l] & 15) | (((qh[l] >> 0) & 3) << 4)) - 32) * q8[l];
                sub[is + 2] += (((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32) * q8[l + 32];
                sub[is + 4] += (((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32) * q8[l + 64];
                sub[is + 6] += (((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32) * q8[l + 96];
            }
            for (int k = 0; k < 8; k++)
                si += sc[k] * sub[k];
        }
        sum += b[i].d * FP16(a[i].d) * si;
    }
    *s = sum;
}

HERD_DEFINE_ROWS_FROM_DOT(rows_f32_ref, dot_f32_ref)
HERD_DEFINE_ROWS_FROM_DOT(rows_f16_ref, dot_f16_ref)
HERD_DEFINE_ROWS_FROM_DOT(rows_bf16_ref, dot_bf16_ref)
HERD_DEFINE_ROWS_FROM_DOT(rows_q8_0_ref, dot_q8_0_ref)
HERD_DEFINE_ROWS_FROM_DOT(rows_q4_0_ref, dot_q4_0_ref)
HERD_DEFINE_ROWS_FROM_DOT(rows_q4_K_ref, dot_q4_K_ref)
HERD_DEFINE_ROWS_FROM_DOT(rows_q5_K_ref, dot_q5_K_ref)
HERD_DEFINE_ROWS_FROM_DOT(rows_q6_K_ref, dot_q6_K_ref)
HERD_DEFINE_TILE_FROM_ROWS(tile_f32_ref, rows_f32_ref)
HERD_DEFINE_TILE_FROM_ROWS(tile_f16_ref, rows_f16_ref)
HERD_DEFINE_TILE_FROM_ROWS(tile_bf16_ref, rows_bf16_ref)
HERD_DEFINE_TILE_FROM_ROWS(tile_q8_0_ref, rows_q8_0_ref)
HERD_DEFINE_TILE_FROM_ROWS(tile_q4_0_ref, rows_q4_0_ref)
HERD_DEFINE_TILE_FROM_ROWS(tile_q4_K_ref, rows_q4_K_ref)
HERD_DEFINE_TILE_FROM_ROWS(tile_q5_K_ref, rows_q5_K_ref)
HERD_DEFINE_TILE_FROM_ROWS(tile_q6_K_ref, rows_q6_K_ref)

static void init_ref_table(herd_isa_kernels *k)
{
#define SET(T, name)                            \
    k->dot[HERD_TYPE_##T] = dot_##name##_ref;   \
    k->rows[HERD_TYPE_##T] = rows_##name##_ref; \
    k->tile[HERD_TYPE_##T] = tile_##name##_ref;
    SET(F32, f32)
    SET(F16, f16)
    SET(BF16, bf16)
    SET(Q8_0, q8_0)
    SET(Q4_0, q4_0)
    SET(Q4_K, q4_K)
    SET(Q5_K, q5_K)
    SET(Q6_K, q6_K)
#undef SET
    for (int t = 0; t < HERD_TYPE_COUNT; t++)
        k->quant[t] = ref_quantizer((herd_type)t);
    k->to_f32[HERD_TYPE_F16] = f16_to_f32_ref;
    k->to_f32[HERD_TYPE_BF16] = bf16_to_f32_ref;
}
