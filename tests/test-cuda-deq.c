/* test-cuda-deq: the CUDA kernels' block decoder (engine/cuda/cuda-ops.cu deq8, run on the host
 * through herd_cu_host_dequantize) against quant.c's reference dequantizer, and the int8 decode
 * dot products (activations quantized per 32, __dp4a emulated: herd_cu_host_dot) against exact
 * dot products of the dequantized weights, and the attention kernel's split key ranges against
 * the CPU backend's ranges, for every quantized
 * type the CUDA backend reads, on random data quantized by quant.c and on raw random bytes with
 * valid scales (all nibble/bit patterns). Needs no GPU. The tolerance (1e-6 of the largest value)
 * only allows for a fused multiply-add the compiler may form; today the results are identical. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cuda/herd-cuda.h"
#include "engine/quant.h"

static uint64_t rng = 0x1234567887654321ull;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int check(herd_type t, const void *blocks, int64_t n, const char *what)
{
    float *want = malloc((size_t)n * sizeof *want), *got = malloc((size_t)n * sizeof *got);
    herd_dequantize_row(t, blocks, want, n);
    for (int64_t i = 0; i < n; i++)
        got[i] = NAN;
    if (!herd_cu_host_dequantize(t, blocks, n, got)) {
        printf("FAIL %s %s: no decoder\n", herd_type_name(t), what);
        return 1;
    }
    double maxref = 0, maxerr = 0;
    int64_t worst = 0, nan = 0;
    for (int64_t i = 0; i < n; i++) {
        maxref = fmax(maxref, fabs(want[i]));
        if (isnan(got[i]))
            nan++;
        double e = fabs((double)got[i] - want[i]);
        if (e > maxerr) {
            maxerr = e;
            worst = i;
        }
    }
    double rel = maxerr / fmax(maxref, 1e-30);
    int bad = nan > 0 || rel > 1e-6;
    printf("%s %-5s %-22s n %6lld  max err %.3g (rel %.3g)%s", bad ? "FAIL" : "ok  ",
           herd_type_name(t), what, (long long)n, maxerr, rel, nan ? "  (unwritten values)" : "");
    if (bad)
        printf("  at %lld: %g vs %g", (long long)worst, got[worst], want[worst]);
    printf("\n");
    free(want);
    free(got);
    return bad;
}

int main(void)
{
    static const herd_type types[] = { HERD_TYPE_Q8_0, HERD_TYPE_Q4_0, HERD_TYPE_Q4_K,
                                       HERD_TYPE_Q5_K, HERD_TYPE_Q6_K };
    const int64_t n = 4096;
    int fails = 0;
    float *x = malloc((size_t)n * sizeof *x);
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        herd_type t = types[ti];
        const size_t rs = herd_row_size(t, n);
        uint8_t *b = malloc(rs);
        /* 1: quantized smooth-ish random data */
        for (int64_t i = 0; i < n; i++)
            x[i] = (float)((int64_t)(next() % 20001) - 10000) / 5000.0f *
                   (1.0f + (float)(i % 97) / 10.0f);
        herd_quantize_row(t, x, b, n);
        fails += check(t, b, n, "quantized data");
        /* 2: raw random bytes with valid (finite) f16 scales: every bit pattern of the quants */
        for (size_t i = 0; i < rs; i++)
            b[i] = (uint8_t)next();
        const size_t bs = herd_type_get(t)->bytes, nb = rs / bs;
        const uint16_t h1 = herd_f32_to_f16(0.01f), h2 = herd_f32_to_f16(0.003f);
        for (size_t k = 0; k < nb; k++) {
            uint8_t *blk = b + k * bs;
            if (t == HERD_TYPE_Q6_K) {
                memcpy(blk + 208, &h1, 2);
            } else {
                memcpy(blk, &h1, 2);
                if (t == HERD_TYPE_Q4_K || t == HERD_TYPE_Q5_K)
                    memcpy(blk + 2, &h2, 2);
            }
        }
        fails += check(t, b, n, "random bits");
        /* int8 dot path on both block sets: error of 8-bit activations only */
        for (int pass = 0; pass < 2; pass++) {
            if (pass == 1)
                herd_quantize_row(t, x, b, n);
            float *wd = malloc((size_t)n * sizeof *wd), *xa = malloc((size_t)n * sizeof *xa);
            herd_dequantize_row(t, b, wd, n);
            for (int64_t i = 0; i < n; i++)
                xa[i] = (float)((int64_t)(next() % 20001) - 10000) / 3000.0f;
            double ref = 0, mag = 0, got = 0;
            for (int64_t i = 0; i < n; i++) {
                ref += (double)wd[i] * xa[i];
                mag += fabs((double)wd[i] * xa[i]);
            }
            int ok = herd_cu_host_dot(t, b, xa, n, &got);
            double rel = fabs(got - ref) / mag;
            int bad = !ok || !(rel < 5e-3);
            printf("%s %-5s int8 dot (%s)  %.6g vs %.6g, error %.3g of sum |w x|\n",
                   bad ? "FAIL" : "ok  ", herd_type_name(t), pass ? "quantized" : "random bits",
                   got, ref, rel);
            fails += bad;
            free(wd);
            free(xa);
        }
        free(b);
    }
    free(x);
    /* attention key ranges: the splits of every query cover exactly the keys the CPU backend
     * visits (engine/cpu: lo..hi from the mask, the chunk and the ring), each key once */
    int nbad = 0, ncase = 0;
    static const int masks[] = { 0, 1, 2 };
    for (int mi = 0; mi < 3; mi++)
        for (int R = 1; R <= 70; R += 23)
            for (int C = 1; C <= 40; C += 13)
                for (int p = 0; p < 150; p += 7)
                    for (int ns = 1; ns <= 9; ns++) {
                        const int mask = masks[mi], nkv = R < 50 ? R : 50;
                        int lo = 0, hi;
                        if (mask == 0) {
                            hi = nkv - 1;
                        } else {
                            hi = p;
                            if (mask == 2)
                                lo = p / C * C;
                            if (p - R + 1 > lo)
                                lo = p - R + 1;
                        }
                        int next = lo, ok = 1;
                        for (int sp = 0; sp < ns; sp++) {
                            int s0, s1;
                            herd_cu_host_attn_range(mask, C, nkv, R, p, ns, sp, &s0, &s1);
                            if (s1 < s0)
                                continue; /* empty split */
                            ok &= s0 == next && s1 <= hi;
                            next = s1 + 1;
                        }
                        ok &= next == (hi >= lo ? hi + 1 : lo);
                        ncase++;
                        if (!ok && nbad++ < 5)
                            printf("FAIL attention range mask %d C %d R %d p %d splits %d\n", mask,
                                   C, R, p, ns);
                    }
    printf("%s attention key ranges: %d cases, %d wrong\n", nbad ? "FAIL" : "ok  ", ncase, nbad);
    fails += nbad > 0;
    printf("test-cuda-deq: %d failures\n", fails);
    return fails ? 1 : 0;
}
