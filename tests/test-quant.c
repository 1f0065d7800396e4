/* test-quant.c: weight block layouts (spec §7.6), quantizers, and every vec_dot implementation.
 *
 * 1. half / bf16 conversions: known values, ties, all 65536 halves round-trip, SIMD row
 *    converters equal the scalar ones.
 * 2. Dequantization of hand-built blocks (raw bytes at the spec's offsets) for every type.
 * 3. Quantize -> dequantize relative RMSE on Gaussian rows, per type (thresholds below).
 * 4. Activation quantizers (Q8_0, Q8_K) of each ISA are bit-identical to the reference.
 * 5. Every vec_dot (ref, avx2, avx512; single, rows, tile) against the exact dot of the
 *    dequantized operands, on random raw blocks (every bit pattern) and on quantized data.
 * 6. The reference implementation's quantized tiny models: every quantized tensor dequantizes
 *    to within the type's error of the F32 model's tensor (a layout mistake gives ~100%), and
 *    our quantizer's error on the same tensors is compared with theirs.
 * 7. Information only: single-thread GB/s of weight bytes on a 64 MB matrix-vector loop.
 */
#include "check.h"
#include "engine/gguf.h"
#include "engine/quant.h"
#include "engine/types.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- deterministic random numbers ------------------------------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rnd_u64(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static float rnd_uniform(void) /* [0, 1) */
{
    return (float)(rnd_u64() >> 40) / 16777216.0f;
}

static float rnd_gauss(void)
{
    float u1 = rnd_uniform() + 1e-7f, u2 = rnd_uniform();
    return sqrtf(-2.0f * logf(u1)) * cosf(6.2831853f * u2);
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

/* ---- 1. conversions --------------------------------------------------------------------- */

static void test_conversions(void)
{
    CHECK(herd_f32_to_f16(1.0f) == 0x3c00, "f16(1)");
    CHECK(herd_f32_to_f16(-2.0f) == 0xc000, "f16(-2)");
    CHECK(herd_f32_to_f16(65504.0f) == 0x7bff, "f16 max");
    CHECK(herd_f32_to_f16(65520.0f) == 0x7c00, "f16 overflow to inf");
    CHECK(herd_f32_to_f16(65519.0f) == 0x7bff, "f16 just below overflow");
    CHECK(herd_f32_to_f16(1.0f + 1.0f / 2048) == 0x3c00, "f16 tie to even (down)");
    CHECK(herd_f32_to_f16(1.0f + 3.0f / 2048) == 0x3c02, "f16 tie to even (up)");
    CHECK(herd_f32_to_f16(ldexpf(1, -24)) == 0x0001, "f16 smallest subnormal");
    CHECK(herd_f32_to_f16(ldexpf(1, -25)) == 0x0000, "f16 subnormal tie to even -> 0");
    CHECK(herd_f32_to_f16(ldexpf(3, -26)) == 0x0001, "f16 subnormal rounding");
    CHECK(herd_f32_to_f16(INFINITY) == 0x7c00 && herd_f32_to_f16(-INFINITY) == 0xfc00, "f16 inf");
    CHECK((herd_f32_to_f16(NAN) & 0x7fff) > 0x7c00, "f16 nan");
    CHECK(herd_f16_to_f32(0x3555) == 0.333251953125f, "f16 0x3555");
    CHECK(herd_f16_to_f32(0x0001) == ldexpf(1, -24), "f16 subnormal decode");
    CHECK(herd_f16_to_f32(0x8000) == 0.0f && signbit(herd_f16_to_f32(0x8000)), "f16 -0");
    CHECK(herd_bf16_to_f32(0x3f80) == 1.0f, "bf16(1)");
    CHECK(herd_f32_to_bf16(1.0f) == 0x3f80, "bf16 from 1");
    CHECK(herd_f32_to_bf16(1.0f + 1.0f / 256) == 0x3f80, "bf16 tie to even (down)");
    CHECK(herd_f32_to_bf16(1.0f + 3.0f / 256) == 0x3f82, "bf16 tie to even (up)");
    CHECK((herd_f32_to_bf16(NAN) & 0x7fff) > 0x7f80, "bf16 nan");

    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = herd_f16_to_f32((uint16_t)h);
        if (isnan(f))
            continue;
        if (herd_f32_to_f16(f) != h)
            bad++;
    }
    CHECK(bad == 0, "%d halves do not round-trip", bad);

    /* SIMD row converters equal the scalar ones (on normal values and all halves) */
    enum { N = 65536 + 13 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    uint16_t *h = malloc(N * sizeof *h);
    for (int i = 0; i < N; i++)
        x[i] = rnd_gauss() * (i % 7 == 0 ? 3000.0f : 1.0f);
    herd_f32_to_f16_row(x, h, N);
    bad = 0;
    for (int i = 0; i < N; i++)
        bad += h[i] != herd_f32_to_f16(x[i]);
    CHECK(bad == 0, "f32->f16 row: %d mismatches", bad);
    herd_f32_to_bf16_row(x, h, N);
    bad = 0;
    for (int i = 0; i < N; i++)
        bad += h[i] != herd_f32_to_bf16(x[i]);
    CHECK(bad == 0, "f32->bf16 row: %d mismatches", bad);
    for (int i = 0; i < N; i++)
        h[i] = (uint16_t)i;
    herd_f16_to_f32_row(h, y, N);
    bad = 0;
    for (int i = 0; i < N; i++) {
        float r = herd_f16_to_f32(h[i]);
        bad += !(y[i] == r || (isnan(y[i]) && isnan(r)));
    }
    CHECK(bad == 0, "f16->f32 row: %d mismatches", bad);
    herd_bf16_to_f32_row(h, y, N);
    bad = 0;
    for (int i = 0; i < N; i++) {
        float r = herd_bf16_to_f32(h[i]);
        bad += !(memcmp(&y[i], &r, 4) == 0);
    }
    CHECK(bad == 0, "bf16->f32 row: %d mismatches", bad);
    free(x);
    free(y);
    free(h);
}

/* ---- 2. hand-built blocks ---------------------------------------------------------------- */

static int count_mismatch(const float *got, const float *want, int n, const char *what)
{
    int bad = 0;
    for (int i = 0; i < n; i++)
        if (got[i] != want[i]) {
            if (bad < 3)
                printf("  %s[%d] = %.9g, want %.9g\n", what, i, got[i], want[i]);
            bad++;
        }
    return bad;
}

/* The 12 scale bytes used for Q4_K and Q5_K, and their values decoded by hand from the spec:
 * b<4: s = sc[b]&63, m = sc[b+4]&63; b>=4: s = (sc[b+4]&15) | (sc[b-4]>>6)<<4,
 * m = (sc[b+4]>>4) | (sc[b]>>6)<<4. */
static const uint8_t k_sc[12] = { 0x41, 0x02, 0xC3, 0x04, 0x05, 0x46,
                                  0x07, 0x88, 0x21, 0x43, 0x65, 0x87 };
static const int k_s[8] = { 1, 2, 3, 4, 17, 3, 53, 7 };
static const int k_m[8] = { 5, 6, 7, 8, 2, 20, 6, 40 };

static void test_layouts(void)
{
    float out[256], want[256];

    { /* Q8_0: half d; int8 q[32] */
        uint8_t b[34];
        put16(b, 0x3800); /* 0.5 */
        for (int j = 0; j < 32; j++)
            b[2 + j] = (uint8_t)(int8_t)(j * 8 - 128);
        herd_dequantize_row(HERD_TYPE_Q8_0, b, out, 32);
        for (int j = 0; j < 32; j++)
            want[j] = 0.5f * (j * 8 - 128);
        CHECK(!count_mismatch(out, want, 32, "q8_0"), "Q8_0 layout");
    }
    { /* Q4_0: half d; q[16]: low nibble -> j, high nibble -> j+16, minus 8 */
        uint8_t b[18];
        put16(b, 0x4000); /* 2.0 */
        for (int j = 0; j < 16; j++)
            b[2 + j] = (uint8_t)(j | ((15 - j) << 4));
        herd_dequantize_row(HERD_TYPE_Q4_0, b, out, 32);
        for (int j = 0; j < 16; j++) {
            want[j] = 2.0f * (j - 8);
            want[j + 16] = 2.0f * (7 - j);
        }
        CHECK(!count_mismatch(out, want, 32, "q4_0"), "Q4_0 layout");
        CHECK(out[0] == -16.0f && out[16] == 14.0f && out[31] == -16.0f, "Q4_0 literal values");
    }
    { /* Q4_K: half d; half dmin; sc[12]; q[128] */
        uint8_t b[144];
        put16(b, 0x3c00);     /* d = 1 */
        put16(b + 2, 0x3800); /* dmin = 0.5 */
        memcpy(b + 4, k_sc, 12);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++)
                b[16 + 32 * c + l] = (uint8_t)((l & 15) | (((l + c) & 15) << 4));
        herd_dequantize_row(HERD_TYPE_Q4_K, b, out, 256);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) {
                want[64 * c + l] = 1.0f * k_s[2 * c] * (l & 15) - 0.5f * k_m[2 * c];
                want[64 * c + 32 + l] =
                    1.0f * k_s[2 * c + 1] * ((l + c) & 15) - 0.5f * k_m[2 * c + 1];
            }
        CHECK(!count_mismatch(out, want, 256, "q4_K"), "Q4_K layout (6-bit scale packing)");
        /* literal spot checks: sub-block 4 (c=2, low nibbles): s=17, m=2; element 128+5 */
        CHECK(out[133] == 17.0f * 5 - 1.0f, "Q4_K w[133] = %g", out[133]);
        /* sub-block 7 (c=3, high nibbles): s=7, m=40; element 192+32+1: nibble (1+3)&15 = 4 */
        CHECK(out[225] == 7.0f * 4 - 20.0f, "Q4_K w[225] = %g", out[225]);
    }
    { /* Q5_K: half d; half dmin; sc[12]; qh[32]; q[128] */
        uint8_t b[176];
        put16(b, 0x4000);     /* d = 2 */
        put16(b + 2, 0x3400); /* dmin = 0.25 */
        memcpy(b + 4, k_sc, 12);
        for (int l = 0; l < 32; l++)
            b[16 + l] = (uint8_t)(l * 37 + 11);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++)
                b[48 + 32 * c + l] = (uint8_t)(((l * 3) & 15) | (((l + 5 * c) & 15) << 4));
        herd_dequantize_row(HERD_TYPE_Q5_K, b, out, 256);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) {
                uint8_t qh = b[16 + l];
                int q1 = ((l * 3) & 15) + 16 * ((qh >> (2 * c)) & 1);
                int q2 = ((l + 5 * c) & 15) + 16 * ((qh >> (2 * c + 1)) & 1);
                want[64 * c + l] = 2.0f * k_s[2 * c] * q1 - 0.25f * k_m[2 * c];
                want[64 * c + 32 + l] = 2.0f * k_s[2 * c + 1] * q2 - 0.25f * k_m[2 * c + 1];
            }
        CHECK(!count_mismatch(out, want, 256, "q5_K"), "Q5_K layout");
        /* element 0: qh[0] = 11 = 0b1011 -> bit0 = 1: q = 0 + 16; s0 = 1, m0 = 5 */
        CHECK(out[0] == 2.0f * 16 - 1.25f, "Q5_K w[0] = %g", out[0]);
    }
    { /* Q6_K: ql[128]; qh[64]; int8 sc[16]; half d LAST */
        uint8_t b[210];
        for (int i = 0; i < 128; i++)
            b[i] = (uint8_t)(i * 29 + 3);
        for (int i = 0; i < 64; i++)
            b[128 + i] = (uint8_t)(i * 53 + 7);
        static const int8_t sc[16] = { -128, 127, -3, 5,  9,  -17, 33,  -65,
                                       1,    2,   -1, -2, 64, -64, 100, -100 };
        memcpy(b + 192, sc, 16);
        put16(b + 208, 0x3400); /* d = 0.25 */
        herd_dequantize_row(HERD_TYPE_Q6_K, b, out, 256);
        for (int n = 0; n < 2; n++) {
            const uint8_t *ql = b + 64 * n, *qh = b + 128 + 32 * n;
            const int8_t *s = sc + 8 * n;
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int q1 = ((ql[l] & 15) | (((qh[l] >> 0) & 3) << 4)) - 32;
                int q2 = ((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                want[128 * n + l] = 0.25f * s[is] * q1;
                want[128 * n + l + 32] = 0.25f * s[is + 2] * q2;
                want[128 * n + l + 64] = 0.25f * s[is + 4] * q3;
                want[128 * n + l + 96] = 0.25f * s[is + 6] * q4;
            }
        }
        CHECK(!count_mismatch(out, want, 256, "q6_K"), "Q6_K layout (d last)");
        /* literal: w[0]: ql[0] = 3, qh[0] = 7 -> q = (3 | (3<<4)) - 32 = 19; d*sc[0] = -32 */
        CHECK(out[0] == 0.25f * -128 * 19, "Q6_K w[0] = %g", out[0]);
        /* w[200] (n=1, l=8, q4 of l=8... no: 200-128 = 72 -> q3 of l=8), sc index 8+0+4 = 12 */
        int l = 8;
        int q3 = ((b[64 + l] >> 4) | (((b[128 + 32 + l] >> 4) & 3) << 4)) - 32;
        CHECK(out[200] == 0.25f * 64 * q3, "Q6_K w[200] = %g (q3 %d)", out[200], q3);
    }
    { /* Q8_K: float d; int8 q[256]; int16 bsums[16] */
        herd_block_q8_K b;
        b.d = 0.125f;
        for (int j = 0; j < 256; j++)
            b.q[j] = (int8_t)(j - 128);
        herd_dequantize_row(HERD_TYPE_Q8_K, &b, out, 256);
        for (int j = 0; j < 256; j++)
            want[j] = 0.125f * (j - 128);
        CHECK(!count_mismatch(out, want, 256, "q8_K"), "Q8_K layout");
    }
    { /* F16, BF16, F32 */
        uint16_t h[4] = { 0x3c00, 0xc000, 0x3555, 0x0001 };
        herd_dequantize_row(HERD_TYPE_F16, h, out, 4);
        CHECK(out[0] == 1 && out[1] == -2 && out[2] == 0.333251953125f && out[3] == ldexpf(1, -24),
              "F16 dequantize");
        uint16_t g[2] = { 0x3f80, 0xc040 };
        herd_dequantize_row(HERD_TYPE_BF16, g, out, 2);
        CHECK(out[0] == 1 && out[1] == -3, "BF16 dequantize");
        float f[2] = { 1.5f, -7.25f };
        herd_dequantize_row(HERD_TYPE_F32, f, out, 2);
        CHECK(out[0] == 1.5f && out[1] == -7.25f, "F32 dequantize");
    }
}

/* ---- 3. round trip ------------------------------------------------------------------------ */

typedef struct {
    herd_type t;
    double max_rel_rmse; /* RMSE(dequant(quant(x)) - x) / RMS(x) on N(0,1) rows */
} rt_case;

static const rt_case rt_cases[] = {
    { HERD_TYPE_F32, 0.0 },     { HERD_TYPE_F16, 4e-4 },    { HERD_TYPE_BF16, 3e-3 },
    { HERD_TYPE_Q8_0, 8e-3 },   { HERD_TYPE_Q8_K, 8e-3 },   { HERD_TYPE_Q6_K, 2.0e-2 },
    { HERD_TYPE_Q5_K, 4.0e-2 }, { HERD_TYPE_Q4_K, 8.0e-2 }, { HERD_TYPE_Q4_0, 1.1e-1 },
};

static void test_round_trip(void)
{
    enum { N = 8192 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    void *q = malloc(N * 4 + 1024);
    for (int i = 0; i < N; i++)
        x[i] = rnd_gauss();
    /* a few rows with an outlier and a constant block */
    x[100] = 9.0f;
    for (int i = 512; i < 768; i++)
        x[i] = 0.0f;
    for (size_t c = 0; c < sizeof rt_cases / sizeof rt_cases[0]; c++) {
        herd_type t = rt_cases[c].t;
        herd_quantize_row(t, x, q, N);
        herd_dequantize_row(t, q, y, N);
        double se = 0, sx = 0;
        for (int i = 0; i < N; i++) {
            se += (double)(y[i] - x[i]) * (y[i] - x[i]);
            sx += (double)x[i] * x[i];
        }
        double rel = sqrt(se / sx);
        printf("round trip %-5s rel RMSE %.5f (limit %.5f)\n", herd_type_name(t), rel,
               rt_cases[c].max_rel_rmse);
        CHECK(rel <= rt_cases[c].max_rel_rmse, "%s round trip rel RMSE %g", herd_type_name(t), rel);
        /* the reference quantizer gives the same as the dispatched one */
        void *q2 = malloc(N * 4 + 1024);
        float *y2 = malloc(N * sizeof *y2);
        herd_quantize_row_ref(t, x, q2, N);
        herd_dequantize_row(t, q2, y2, N);
        int diff = 0;
        for (int i = 0; i < N; i++)
            diff += y2[i] != y[i];
        CHECK(diff == 0, "%s: dispatched quantizer differs from reference on %d values",
              herd_type_name(t), diff);
        free(q2);
        free(y2);
    }
    free(x);
    free(y);
    free(q);
}

/* ---- 4/5. activation quantizers and vec_dot ----------------------------------------------- */

static const char *const isas[] = { "ref", "avx2", "avx512" };

static void test_act_quantizers(void)
{
    enum { N = 4096 };
    float *x = malloc(N * sizeof *x);
    for (int i = 0; i < N; i++)
        x[i] = rnd_gauss() * (1 + (i / 256) % 5);
    const herd_type types[2] = { HERD_TYPE_Q8_0, HERD_TYPE_Q8_K };
    for (int t = 0; t < 2; t++) {
        size_t rs = herd_row_size(types[t], N);
        uint8_t *ref = malloc(rs), *got = malloc(rs);
        herd_get_quantize_isa(types[t], "ref")(x, ref, N);
        for (int k = 1; k < 3; k++) {
            herd_quantize_fn f = herd_get_quantize_isa(types[t], isas[k]);
            if (!f) {
                printf("activation quantizer %s/%s: not available on this CPU\n",
                       herd_type_name(types[t]), isas[k]);
                continue;
            }
            memset(got, 0xAA, rs);
            f(x, got, N);
            CHECK(memcmp(ref, got, rs) == 0, "%s quantizer %s differs from reference",
                  herd_type_name(types[t]), isas[k]);
        }
        free(ref);
        free(got);
    }
    /* Q8_K bsums are the sums of 16 */
    herd_block_q8_K *b = malloc(herd_row_size(HERD_TYPE_Q8_K, N));
    herd_quantize_row(HERD_TYPE_Q8_K, x, b, N);
    int bad = 0;
    for (int i = 0; i < N / 256; i++)
        for (int j = 0; j < 16; j++) {
            int s = 0;
            for (int l = 0; l < 16; l++)
                s += b[i].q[16 * j + l];
            bad += s != b[i].bsums[j];
        }
    CHECK(bad == 0, "Q8_K bsums wrong in %d places", bad);
    free(b);
    free(x);
}

static float rnd_half_scale(float lo, float hi)
{
    float v = lo + (hi - lo) * rnd_uniform();
    return herd_f16_to_f32(herd_f32_to_f16(v));
}

/* Fill nrows rows of type t with random raw blocks: all bit patterns of the quants, scales
 * in a sane range (random signs where the format allows). */
static void fill_random_raw(herd_type t, uint8_t *dst, int64_t n, int nrows)
{
    size_t rs = herd_row_size(t, n);
    for (size_t i = 0; i < rs * nrows; i++)
        dst[i] = (uint8_t)rnd_u64();
    const herd_type_info *ti = herd_type_get(t);
    int64_t nblocks = (int64_t)(rs * nrows / ti->bytes);
    for (int64_t bi = 0; bi < nblocks; bi++) {
        uint8_t *b = dst + bi * ti->bytes;
        switch (t) {
        case HERD_TYPE_Q8_0:
        case HERD_TYPE_Q4_0:
            put16(b, herd_f32_to_f16(rnd_half_scale(-0.05f, 0.05f)));
            break;
        case HERD_TYPE_Q4_K:
        case HERD_TYPE_Q5_K:
            put16(b, herd_f32_to_f16(rnd_half_scale(0.0f, 0.01f)));
            put16(b + 2, herd_f32_to_f16(rnd_half_scale(0.0f, 0.01f)));
            break;
        case HERD_TYPE_Q6_K:
            put16(b + 208, herd_f32_to_f16(rnd_half_scale(-0.002f, 0.002f)));
            break;
        default:
            break;
        }
    }
    if (t == HERD_TYPE_F32 || t == HERD_TYPE_F16 || t == HERD_TYPE_BF16) {
        float *tmp = malloc(n * sizeof *tmp);
        for (int r = 0; r < nrows; r++) {
            for (int64_t i = 0; i < n; i++)
                tmp[i] = rnd_gauss();
            herd_quantize_row(t, tmp, dst + r * rs, n);
        }
        free(tmp);
    }
}

/* Random activation row in format vt; Q8_0 / Q8_K get raw random quants in [-127, 127] (the
 * activation quantizers never produce -128; kernels may rely on it) with consistent bsums. */
static void fill_random_act(herd_type vt, uint8_t *dst, int64_t n)
{
    if (vt == HERD_TYPE_Q8_0) {
        for (int64_t i = 0; i < n / 32; i++) {
            uint8_t *b = dst + 34 * i;
            put16(b, herd_f32_to_f16(rnd_half_scale(-0.1f, 0.1f)));
            for (int j = 0; j < 32; j++)
                b[2 + j] = (uint8_t)(int8_t)((int)(rnd_u64() % 255) - 127);
        }
    } else if (vt == HERD_TYPE_Q8_K) {
        herd_block_q8_K *b = (herd_block_q8_K *)dst;
        for (int64_t i = 0; i < n / 256; i++) {
            b[i].d = 0.01f + 0.1f * rnd_uniform();
            for (int j = 0; j < 256; j++)
                b[i].q[j] = (int8_t)((int)(rnd_u64() % 255) - 127);
            for (int j = 0; j < 16; j++) {
                int s = 0;
                for (int l = 0; l < 16; l++)
                    s += b[i].q[16 * j + l];
                b[i].bsums[j] = (int16_t)s;
            }
        }
    } else {
        float *tmp = malloc(n * sizeof *tmp);
        for (int64_t i = 0; i < n; i++)
            tmp[i] = rnd_gauss();
        herd_quantize_row(vt, tmp, dst, n);
        free(tmp);
    }
}

/* exact dot of the dequantized operands (double), and Σ|w·x| for the tolerance */
static double exact_dot(herd_type wt, const void *w, const void *x, int64_t n, double *mag)
{
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    herd_dequantize_row(wt, w, a, n);
    herd_dequantize_row(herd_vec_dot_type(wt), x, b, n);
    double s = 0, m = 0;
    for (int64_t i = 0; i < n; i++) {
        s += (double)a[i] * b[i];
        m += fabs((double)a[i] * b[i]);
    }
    free(a);
    free(b);
    *mag = m;
    return s;
}

/* Tolerance for every kernel: |got - exact| <= DOT_REL_TOL * Σ|w_i x_i| (float accumulation
 * of exact integer block sums; products of F16/BF16 are exact in float). */
#define DOT_REL_TOL 2e-6

static const herd_type wtypes[] = {
    HERD_TYPE_F32,  HERD_TYPE_F16,  HERD_TYPE_BF16, HERD_TYPE_Q8_0,
    HERD_TYPE_Q4_0, HERD_TYPE_Q4_K, HERD_TYPE_Q5_K, HERD_TYPE_Q6_K
};

static void test_vec_dot_one(herd_type wt, int64_t n, int quantized_data)
{
    enum { NR = HERD_VEC_DOT_MAX_NR + 3, NC = 6 };
    const herd_type vt = herd_vec_dot_type(wt);
    const size_t ws = herd_row_size(wt, n), xs = herd_row_size(vt, n);
    uint8_t *w = malloc(ws * NR), *x = malloc(xs * NC);
    if (quantized_data) {
        float *tmp = malloc(n * sizeof *tmp);
        for (int r = 0; r < NR; r++) {
            for (int64_t i = 0; i < n; i++)
                tmp[i] = rnd_gauss() * (1 + r);
            herd_quantize_row(wt, tmp, w + r * ws, n);
        }
        for (int c = 0; c < NC; c++) {
            for (int64_t i = 0; i < n; i++)
                tmp[i] = rnd_gauss() + (c == 1 ? 0.5f : 0.0f);
            herd_quantize_row(vt, tmp, x + c * xs, n);
        }
        free(tmp);
    } else {
        fill_random_raw(wt, w, n, NR);
        for (int c = 0; c < NC; c++)
            fill_random_act(vt, x + c * xs, n);
    }
    double exact[NC][NR], mag[NC][NR];
    for (int c = 0; c < NC; c++)
        for (int r = 0; r < NR; r++)
            exact[c][r] = exact_dot(wt, w + r * ws, x + c * xs, n, &mag[c][r]);

    float ref0 = 0;
    herd_get_vec_dot_ref(wt)(n, &ref0, w, x);
    for (int k = 0; k < 3; k++) {
        herd_vec_dot_fn dot = herd_get_vec_dot_isa(wt, isas[k]);
        herd_vec_dot_rows_fn rows = herd_get_vec_dot_rows_isa(wt, isas[k]);
        herd_vec_dot_tile_fn tile = herd_get_vec_dot_tile_isa(wt, isas[k]);
        if (!dot)
            continue;
        CHECK(rows && tile, "%s/%s: rows or tile kernel missing", herd_type_name(wt), isas[k]);
        if (!rows || !tile)
            continue;
        double worst = 0;
        int bad = 0;
        for (int c = 0; c < NC; c++)
            for (int r = 0; r < NR; r++) {
                float s = NAN;
                dot(n, &s, w + r * ws, x + c * xs);
                double err = fabs(s - exact[c][r]) / (mag[c][r] + 1e-30);
                if (!(err <= DOT_REL_TOL)) {
                    if (bad++ < 2)
                        printf("  %s/%s n=%lld r=%d c=%d: got %.9g want %.9g (rel %.3g)\n",
                               herd_type_name(wt), isas[k], (long long)n, r, c, s, exact[c][r],
                               err);
                }
                if (err > worst)
                    worst = err;
            }
        CHECK(bad == 0, "%s/%s dot n=%lld %s: %d wrong, worst rel %.3g", herd_type_name(wt),
              isas[k], (long long)n, quantized_data ? "quantized" : "raw", bad, worst);
        /* SIMD vs reference on the same inputs */
        float s0 = NAN;
        dot(n, &s0, w, x);
        CHECK(fabs(s0 - ref0) <= DOT_REL_TOL * (mag[0][0] + 1e-30), "%s/%s vs ref: %.9g vs %.9g",
              herd_type_name(wt), isas[k], s0, ref0);
        /* rows kernel, every nr, equals the single dot within tolerance */
        bad = 0;
        for (int nr = 1; nr <= HERD_VEC_DOT_MAX_NR; nr++) {
            float s[HERD_VEC_DOT_MAX_NR];
            for (int r0 = 0; r0 + nr <= NR; r0 += nr) {
                rows(n, nr, s, w + r0 * ws, ws, x + xs);
                for (int r = 0; r < nr; r++)
                    bad +=
                        !(fabs(s[r] - exact[1][r0 + r]) <= DOT_REL_TOL * (mag[1][r0 + r] + 1e-30));
            }
        }
        CHECK(bad == 0, "%s/%s rows kernel: %d wrong", herd_type_name(wt), isas[k], bad);
        /* tile kernel: NR x NC with output stride */
        enum { SS = NR + 2 };
        float st[NC * SS];
        for (int ntc = 1; ntc <= NC; ntc++) {
            for (int i = 0; i < NC * SS; i++)
                st[i] = NAN;
            tile(n, NR, ntc, st, SS, w, ws, x, xs);
            bad = 0;
            for (int c = 0; c < ntc; c++)
                for (int r = 0; r < NR; r++)
                    bad +=
                        !(fabs(st[c * SS + r] - exact[c][r]) <= DOT_REL_TOL * (mag[c][r] + 1e-30));
            CHECK(bad == 0, "%s/%s tile kernel nc=%d: %d wrong", herd_type_name(wt), isas[k], ntc,
                  bad);
            CHECK(isnan(st[NR]) && isnan(st[NR + 1]) && (ntc == NC || isnan(st[ntc * SS])),
                  "%s/%s tile wrote outside its outputs", herd_type_name(wt), isas[k]);
        }
    }
    free(w);
    free(x);
}

static void test_vec_dots(void)
{
    for (int k = 0; k < 3; k++)
        printf("isa %-6s: %s\n", isas[k],
               herd_get_vec_dot_isa(HERD_TYPE_Q4_0, isas[k]) ? "available" : "NOT available");
    printf("dispatch picks: %s; cpu features: %s\n", herd_cpu_isa(), herd_cpu_features());
    /* 8448 and 16640: several prepared chunks in the Q4_0/Q8_0 rows and tile kernels */
    const int64_t nk[] = { 256, 512, 1280, 2304, 4096, 8448, 16640 };
    const int64_t n0[] = { 32, 96, 416, 256 + 32 * 3 };
    const int64_t nf[] = { 1, 7, 33, 100 };
    for (size_t t = 0; t < sizeof wtypes / sizeof wtypes[0]; t++) {
        herd_type wt = wtypes[t];
        for (int q = 0; q < 2; q++) {
            for (size_t i = 0; i < sizeof nk / sizeof nk[0]; i++)
                test_vec_dot_one(wt, nk[i], q);
            if (wt == HERD_TYPE_Q8_0 || wt == HERD_TYPE_Q4_0)
                for (size_t i = 0; i < sizeof n0 / sizeof n0[0]; i++)
                    test_vec_dot_one(wt, n0[i], q);
            if (wt == HERD_TYPE_F32 || wt == HERD_TYPE_F16 || wt == HERD_TYPE_BF16)
                for (size_t i = 0; i < sizeof nf / sizeof nf[0]; i++)
                    test_vec_dot_one(wt, nf[i], q);
        }
    }
    /* an extreme Q8_0 weight of -128 (allowed by the format) */
    {
        uint8_t w[34], x[34];
        put16(w, 0x3c00);
        put16(x, 0x3c00);
        for (int j = 0; j < 32; j++) {
            w[2 + j] = 0x80;
            x[2 + j] = (uint8_t)(j % 2 ? 127 : -127);
        }
        for (int k = 0; k < 3; k++) {
            herd_vec_dot_fn dot = herd_get_vec_dot_isa(HERD_TYPE_Q8_0, isas[k]);
            if (!dot)
                continue;
            float s = 0;
            dot(32, &s, w, x);
            CHECK(s == -128.0f * (16 * 127 - 16 * 127), "Q8_0/%s with -128: %g", isas[k], s);
        }
    }
}

/* End to end: float weights -> quantized, float activations -> vec_dot_type, vs float dot. */
static void test_end_to_end(void)
{
    enum { N = 4096 };
    float *wf = malloc(N * sizeof *wf), *xf = malloc(N * sizeof *xf), *wd = malloc(N * sizeof *wd);
    void *wq = malloc(N * 4), *xq = malloc(N * 4);
    for (int i = 0; i < N; i++) {
        wf[i] = rnd_gauss();
        xf[i] = rnd_gauss();
    }
    for (size_t t = 0; t < sizeof wtypes / sizeof wtypes[0]; t++) {
        herd_type wt = wtypes[t];
        herd_quantize_row(wt, wf, wq, N);
        herd_dequantize_row(wt, wq, wd, N);
        herd_quantize_row(herd_vec_dot_type(wt), xf, xq, N);
        double want = 0, mag = 0;
        for (int i = 0; i < N; i++) {
            want += (double)wd[i] * xf[i];
            mag += fabs((double)wd[i] * xf[i]);
        }
        float got = 0;
        herd_get_vec_dot(wt)(N, &got, wq, xq);
        double rel = fabs(got - want) / mag;
        /* only the activation rounding remains: 8-bit blocks ≲ 1e-3 of Σ|wx| */
        printf("end to end %-5s activation-rounding error %.2e of sum|wx|\n", herd_type_name(wt),
               rel);
        CHECK(rel < 2e-3, "%s end to end rel %g", herd_type_name(wt), rel);
    }
    free(wf);
    free(xf);
    free(wd);
    free(wq);
    free(xq);
}

/* ---- 6. reference quantized files -------------------------------------------------------- */

typedef struct {
    herd_type t;
    double max_rel_rmse; /* dequantized reference tensor vs the F32 model's tensor */
} file_case;

static const file_case file_limits[] = {
    { HERD_TYPE_Q8_0, 0.01 },
    { HERD_TYPE_Q6_K, 0.025 },
    { HERD_TYPE_Q4_K, 0.09 },
    { HERD_TYPE_Q4_0, 0.12 },
};

static double rel_rmse(const float *a, const float *b, int64_t n)
{
    double se = 0, sx = 0;
    for (int64_t i = 0; i < n; i++) {
        se += (double)(a[i] - b[i]) * (a[i] - b[i]);
        sx += (double)b[i] * b[i];
    }
    return sx > 0 ? sqrt(se / sx) : sqrt(se);
}

/* returns 1 if the files were there */
static int test_reference_files(void)
{
    const char *dir = getenv("HERD_REFERENCE_DIR");
    char path[4096];
    if (!dir) {
        printf("SKIP reference files: HERD_REFERENCE_DIR not set\n");
        return 0;
    }
    snprintf(path, sizeof path, "%s/models/tiny-llama4.gguf", dir);
    herd_error err;
    herd_gguf *f32 = herd_gguf_open(path, &err);
    if (!f32) {
        printf("SKIP reference files: cannot open %s (%s)\n", path, err.msg);
        return 0;
    }
    static const char *const names[] = { "Q8_0", "Q4_0", "Q4_K_M" };
    for (int fi = 0; fi < 3; fi++) {
        snprintf(path, sizeof path, "%s/models/tiny-llama4-%s.gguf", dir, names[fi]);
        herd_gguf *q = herd_gguf_open(path, &err);
        CHECK(q != NULL, "cannot open %s: %s", path, q ? "" : err.msg);
        if (!q)
            continue;
        int n_quant = 0;
        double worst[HERD_TYPE_COUNT] = { 0 }, ours_ratio[HERD_TYPE_COUNT] = { 0 };
        size_t same_bytes[HERD_TYPE_COUNT] = { 0 }, all_bytes[HERD_TYPE_COUNT] = { 0 };
        for (int64_t i = 0; i < herd_gguf_n_tensors(q); i++) {
            const herd_gguf_tensor *t = herd_gguf_tensor_at(q, i);
            if (t->type == HERD_TYPE_F32)
                continue;
            const herd_gguf_tensor *o = herd_gguf_find_tensor(f32, t->name);
            CHECK(o && o->type == HERD_TYPE_F32, "%s: %s missing in the F32 model", names[fi],
                  t->name);
            CHECK(herd_quant_supported(t->type), "%s: %s has type %s we cannot decode", names[fi],
                  t->name, herd_type_name(t->type));
            if (!o || o->type != HERD_TYPE_F32 || !herd_quant_supported(t->type))
                continue;
            int64_t n = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
            float *deq = malloc(n * sizeof *deq), *mine = malloc(n * sizeof *mine);
            void *qbuf = malloc(herd_row_size(t->type, n));
            herd_dequantize_row(t->type, t->data, deq, n);
            double e_ref = rel_rmse(deq, o->data, n);
            herd_quantize_row(t->type, o->data, qbuf, n);
            herd_dequantize_row(t->type, qbuf, mine, n);
            double e_ours = rel_rmse(mine, o->data, n);
            size_t nbytes = herd_row_size(t->type, n), same = 0;
            for (size_t k = 0; k < nbytes; k++)
                same += ((const uint8_t *)qbuf)[k] == ((const uint8_t *)t->data)[k];
            same_bytes[t->type] += same;
            all_bytes[t->type] += nbytes;
            free(deq);
            free(mine);
            free(qbuf);
            double lim = 0;
            for (size_t k = 0; k < sizeof file_limits / sizeof file_limits[0]; k++)
                if (file_limits[k].t == t->type)
                    lim = file_limits[k].max_rel_rmse;
            CHECK(e_ref <= lim, "%s: %s (%s) dequantized vs F32 rel RMSE %.4f > %.4f", names[fi],
                  t->name, herd_type_name(t->type), e_ref, lim);
            /* our quantizer: not much worse than the reference quantizer */
            CHECK(e_ours <= 1.3 * e_ref + 1e-6, "%s: %s (%s) our quantizer %.4f vs reference %.4f",
                  names[fi], t->name, herd_type_name(t->type), e_ours, e_ref);
            if (t->type == HERD_TYPE_Q8_0 || t->type == HERD_TYPE_Q4_0)
                CHECK(same >= nbytes - nbytes / 10000,
                      "%s: %s: our %s quantizer differs from the "
                      "reference quantizer in %zu of %zu bytes",
                      names[fi], t->name, herd_type_name(t->type), nbytes - same, nbytes);
            if (e_ref > worst[t->type])
                worst[t->type] = e_ref;
            if (e_ours / (e_ref + 1e-12) > ours_ratio[t->type])
                ours_ratio[t->type] = e_ours / (e_ref + 1e-12);
            n_quant++;
        }
        for (int ty = 0; ty < HERD_TYPE_COUNT; ty++)
            if (worst[ty] > 0)
                printf("reference %-6s: %s tensors dequantize to rel RMSE <= %.4f vs F32; our "
                       "quantizer's error <= %.2fx theirs, %.2f%% of bytes identical\n",
                       names[fi], herd_type_name(ty), worst[ty], ours_ratio[ty],
                       100.0 * same_bytes[ty] / all_bytes[ty]);
        CHECK(n_quant > 10, "%s: only %d quantized tensors", names[fi], n_quant);
        herd_gguf_close(q);
    }
    herd_gguf_close(f32);
    return 1;
}

/* ---- 6. bandwidth (information only) ---------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Matrix-vector loop over a 64 MB matrix (larger than the 32 MB L3), 1 thread. The machine is
 * shared, so the matrix is timed in 256 KB slices and each slice's best time over the repeats
 * is summed: that is the speed of an uninterrupted pass. */
static void bench_type(herd_type wt, const char *isa)
{
    const int64_t n = 4096;
    const size_t ws = herd_row_size(wt, n);
    const int64_t nrows = (64ll << 20) / ws / 16 * 16;
    const int64_t slice = ((256 << 10) / ws) / 16 * 16, nslices = (nrows + slice - 1) / slice;
    herd_vec_dot_rows_fn rows = herd_get_vec_dot_rows_isa(wt, isa);
    herd_vec_dot_fn dot = herd_get_vec_dot_isa(wt, isa);
    if (!rows || !dot)
        return;
    uint8_t *w = malloc(ws * nrows);
    float *s = malloc(nrows * sizeof *s);
    double *t_rows = malloc(nslices * sizeof(double)), *t_dot = malloc(nslices * sizeof(double));
    fill_random_raw(wt, w, n, 16);
    for (int64_t r = 16; r < nrows; r++)
        memcpy(w + r * ws, w + (r % 16) * ws, ws);
    herd_type vt = herd_vec_dot_type(wt);
    uint8_t *x = malloc(herd_row_size(vt, n));
    fill_random_act(vt, x, n);
    for (int64_t i = 0; i < nslices; i++)
        t_rows[i] = t_dot[i] = 1e9;
    for (int rep = 0; rep < 6; rep++) {
        for (int64_t i = 0; i < nslices; i++) {
            int64_t r1 = (i + 1) * slice < nrows ? (i + 1) * slice : nrows;
            double t0 = now_s();
            for (int64_t r = i * slice; r < r1; r += HERD_VEC_DOT_MAX_NR)
                rows(n, (int)(r1 - r < HERD_VEC_DOT_MAX_NR ? r1 - r : HERD_VEC_DOT_MAX_NR), s + r,
                     w + r * ws, ws, x);
            double t1 = now_s() - t0;
            if (t1 < t_rows[i])
                t_rows[i] = t1;
        }
        for (int64_t i = 0; i < nslices; i++) {
            int64_t r1 = (i + 1) * slice < nrows ? (i + 1) * slice : nrows;
            double t0 = now_s();
            for (int64_t r = i * slice; r < r1; r++)
                dot(n, s + r, w + r * ws, x);
            double t1 = now_s() - t0;
            if (t1 < t_dot[i])
                t_dot[i] = t1;
        }
    }
    double tr = 0, td = 0;
    for (int64_t i = 0; i < nslices; i++) {
        tr += t_rows[i];
        td += t_dot[i];
    }
    double bytes = (double)ws * nrows;
    printf("bandwidth %-5s %-6s 1 thread, %.0f MB matrix x vector (n=%lld): rows(%d) %.1f GB/s, "
           "single dot %.1f GB/s\n",
           herd_type_name(wt), isa, bytes / 1e6, (long long)n, HERD_VEC_DOT_MAX_NR,
           bytes / tr / 1e9, bytes / td / 1e9);
    free(w);
    free(s);
    free(x);
    free(t_rows);
    free(t_dot);
}

/* Plain read bandwidth over the same 64 MB (same slicing), for scale. */
static void bench_read(void)
{
    const size_t bytes = 64u << 20, slice = 256u << 10, nslices = bytes / slice;
    uint64_t *m = malloc(bytes);
    double *t = malloc(nslices * sizeof(double));
    memset(m, 1, bytes);
    uint64_t sum = 0;
    for (size_t i = 0; i < nslices; i++)
        t[i] = 1e9;
    for (int rep = 0; rep < 6; rep++)
        for (size_t i = 0; i < nslices; i++) {
            const uint64_t *p = m + i * (slice / 8);
            double t0 = now_s();
            uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
            for (size_t j = 0; j < slice / 8; j += 4) {
                a0 += p[j];
                a1 += p[j + 1];
                a2 += p[j + 2];
                a3 += p[j + 3];
            }
            sum += a0 + a1 + a2 + a3;
            double t1 = now_s() - t0;
            if (t1 < t[i])
                t[i] = t1;
        }
    double tt = 0;
    for (size_t i = 0; i < nslices; i++)
        tt += t[i];
    printf("bandwidth plain read (scalar loop, -O level of this test) 1 thread: %.1f GB/s (%llu)\n",
           bytes / tt / 1e9, (unsigned long long)(sum & 1));
    free(m);
    free(t);
}

static void bench(void)
{
    bench_read();
    const herd_type types[] = { HERD_TYPE_Q4_0, HERD_TYPE_Q4_K, HERD_TYPE_Q8_0, HERD_TYPE_Q6_K };
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++)
        for (int k = 2; k >= 1; k--)
            bench_type(types[t], isas[k]);
}

#if defined(__SANITIZE_ADDRESS__)
#define HERD_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HERD_SANITIZED 1
#endif
#endif
#ifndef HERD_SANITIZED
#define HERD_SANITIZED 0
#endif

int main(int argc, char **argv)
{
    int do_bench = !(argc > 1 && strcmp(argv[1], "--no-bench") == 0);
    test_conversions();
    test_layouts();
    test_round_trip();
    test_act_quantizers();
    test_vec_dots();
    test_end_to_end();
    test_reference_files();
    if (HERD_SANITIZED)
        printf("bandwidth: not measured in a sanitizer build\n");
    else if (do_bench && !getenv("HERD_QUANT_NO_BENCH"))
        bench();
    printf("%d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
