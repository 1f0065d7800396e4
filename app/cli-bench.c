/* herd-cli bench / membw: prompt-processing and generation speed (medians of repeated runs, like
 * llama-bench), and the machine's memory bandwidth to express decode speed as a roofline
 * fraction. Benchmarks, not tests: figures go to docs/benchmarks.md. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli-common.h"
#include "cli.h"
#include "quant.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ------------------------------------------------------------------------------------------ */
/* memory bandwidth: every thread streams its own slice of large arrays */

typedef struct bw_job {
    double *a, *b, *c;
    size_t n;
    int kind; /* 0 read (sum), 1 triad a = b + s*c */
    double sink;
    pthread_barrier_t *bar;
    double t0, t1;
} bw_job;

/* Read kernel: sums 64-bit integer lanes (integer adds do not form the latency chain that
 * floating-point sums would, so the loop is limited by memory, not by the adder), with wide
 * loads where the CPU has them. */
#if defined(__x86_64__)
#include <immintrin.h>
__attribute__((target("avx2"))) static uint64_t read_sum_avx2(const double *p, size_t n)
{
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_add_epi64(a0, _mm256_load_si256((const __m256i *)(p + i)));
        a1 = _mm256_add_epi64(a1, _mm256_load_si256((const __m256i *)(p + i + 4)));
        a2 = _mm256_add_epi64(a2, _mm256_load_si256((const __m256i *)(p + i + 8)));
        a3 = _mm256_add_epi64(a3, _mm256_load_si256((const __m256i *)(p + i + 12)));
    }
    a0 = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
    uint64_t r[4];
    _mm256_storeu_si256((__m256i *)r, a0);
    return r[0] + r[1] + r[2] + r[3];
}
#endif

static uint64_t read_sum(const double *p, size_t n)
{
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2"))
        return read_sum_avx2(p, n);
#endif
    const uint64_t *q = (const uint64_t *)p;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = 0; i + 4 <= n; i += 4) {
        s0 += q[i];
        s1 += q[i + 1];
        s2 += q[i + 2];
        s3 += q[i + 3];
    }
    return s0 + s1 + s2 + s3;
}

static void *bw_worker(void *p)
{
    bw_job *j = p;
    pthread_barrier_wait(j->bar);
    double t0 = now_s();
    if (j->kind == 0) {
        j->sink = (double)read_sum(j->b, j->n);
    } else {
        for (size_t i = 0; i < j->n; i++)
            j->a[i] = j->b[i] + 3.0 * j->c[i];
    }
    j->t1 = now_s();
    j->t0 = t0;
    return NULL;
}

/* Returns GB/s (1e9 bytes per second) of the best of `reps` runs. */
static double measure_bw(int threads, int kind, size_t bytes_per_array, int reps)
{
    size_t n = bytes_per_array / sizeof(double);
    double *a = NULL, *b = NULL, *c = NULL;
    if (posix_memalign((void **)&a, 64, n * sizeof(double)) ||
        posix_memalign((void **)&b, 64, n * sizeof(double)) ||
        posix_memalign((void **)&c, 64, n * sizeof(double))) {
        free(a);
        free(b);
        free(c);
        return 0;
    }
    /* first touch by the threads' slices is not worth the complexity here: fill serially */
    for (size_t i = 0; i < n; i++) {
        a[i] = 0;
        b[i] = (double)(i & 1023);
        c[i] = 1.0;
    }
    double best = 0;
    bw_job *jobs = calloc((size_t)threads, sizeof *jobs);
    pthread_t *tid = calloc((size_t)threads, sizeof *tid);
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, (unsigned)threads);
    for (int r = 0; r < reps && jobs && tid; r++) {
        size_t per = n / (size_t)threads / 8 * 8;
        for (int t = 0; t < threads; t++) {
            jobs[t] = (bw_job){ a + per * t, b + per * t, c + per * t, per, kind, 0, &bar, 0, 0 };
            pthread_create(&tid[t], NULL, bw_worker, &jobs[t]);
        }
        double t0 = 1e30, t1 = 0;
        for (int t = 0; t < threads; t++) {
            pthread_join(tid[t], NULL);
            if (jobs[t].t0 < t0)
                t0 = jobs[t].t0;
            if (jobs[t].t1 > t1)
                t1 = jobs[t].t1;
        }
        double bytes = (double)per * threads * sizeof(double) * (kind == 0 ? 1 : 3);
        double gbs = bytes / (t1 - t0) / 1e9;
        if (gbs > best)
            best = gbs;
    }
    pthread_barrier_destroy(&bar);
    free(jobs);
    free(tid);
    free(a);
    free(b);
    free(c);
    return best;
}

static int default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int cli_membw(int argc, char **argv)
{
    int threads = default_threads();
    long mb = 512;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        long n;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("usage: herd-cli membw [-t THREADS] [--mb SIZE] [--json]\n\n"
                   "Measures memory bandwidth with all threads: read (sum of a large array, the\n"
                   "access pattern of decoding) and STREAM triad (a = b + s*c, counted as 3\n"
                   "arrays). Arrays of SIZE MiB each (default 512).\n");
            return 0;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_parse_int(a, v, 1, 1024, &n))
                return 2;
            threads = (int)n;
        } else if (!strcmp(a, "--mb")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_parse_int(a, v, 16, 65536, &n))
                return 2;
            mb = n;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else {
            cli_error("membw: unknown option '%s'", a);
            return 2;
        }
    }
    double rd = measure_bw(threads, 0, (size_t)mb << 20, 5);
    double tr = measure_bw(threads, 1, (size_t)mb << 20, 5);
    if (rd <= 0 || tr <= 0) {
        cli_error("membw: cannot allocate %ld MiB arrays", mb);
        return 1;
    }
    if (json)
        printf("{\"threads\": %d, \"read_gb_per_s\": %.2f, \"triad_gb_per_s\": %.2f}\n", threads,
               rd, tr);
    else
        printf("threads %d: read %.2f GB/s, triad %.2f GB/s\n", threads, rd, tr);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */

static const char bench_help[] =
    "usage: herd-cli bench (-m MODEL | --synthetic SHAPE --type TYPE) [options]\n\n"
    "Prompt processing (pp) and text generation (tg) speed, medians of several runs.\n\n"
    "  --synthetic SHAPE    mini, scout or maverick with random weights (no file)\n"
    "  --type TYPE          weight type for --synthetic: f32 f16 bf16 q8_0 q4_0 q4_k q5_k q6_k\n"
    "  --save FILE.gguf     write the synthetic model as GGUF and exit\n"
    "  -p N                 prompt tokens (default 512; 0 = skip)\n"
    "  -n N                 generated tokens (default 128; 0 = skip)\n"
    "  -r N                 repetitions (default 3)\n"
    "  --membw              measure memory bandwidth in the same run and report the fraction\n"
    "  --json               one JSON object\n";

int cli_bench(int argc, char **argv)
{
    cli_model_opts o;
    cli_model_opts_init(&o);
    const char *synthetic = NULL, *save = NULL;
    int type = HERD_TYPE_Q4_0, n_pp = 512, n_tg = 128, reps = 3;
    bool json = false, do_bw = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        long n;
        int r = cli_model_opt(&o, argc, argv, &i);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("%s%s", bench_help, cli_model_opts_help);
            return 0;
        } else if (!strcmp(a, "--synthetic")) {
            if (!(synthetic = cli_value(argc, argv, &i)))
                return 2;
        } else if (!strcmp(a, "--type")) {
            if (!(v = cli_value(argc, argv, &i)))
                return 2;
            type = herd_type_from_name(v);
            if (type < 0) {
                cli_error("bench: unknown type '%s'", v);
                return 2;
            }
        } else if (!strcmp(a, "--save")) {
            if (!(save = cli_value(argc, argv, &i)))
                return 2;
        } else if (!strcmp(a, "-p")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_parse_int(a, v, 0, 1 << 20, &n))
                return 2;
            n_pp = (int)n;
        } else if (!strcmp(a, "-n")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_parse_int(a, v, 0, 1 << 20, &n))
                return 2;
            n_tg = (int)n;
        } else if (!strcmp(a, "-r")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_parse_int(a, v, 1, 100, &n))
                return 2;
            reps = (int)n;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "--membw")) {
            do_bw = true;
        } else {
            cli_error("bench: unknown option '%s' (see 'herd-cli bench --help')", a);
            return 2;
        }
    }
    if (!o.model == !synthetic) {
        cli_error("bench: give either -m MODEL or --synthetic SHAPE");
        return 2;
    }
    herd_error err = { 0 };
    herd_model_params mp = cli_model_params(&o);
    herd_model *m = synthetic ? herd_model_synthetic(synthetic, (herd_type)type, &mp, &err)
                              : herd_model_load(o.model, &mp, &err);
    if (!m) {
        cli_error("%s", err.msg);
        return 1;
    }
    if (save) {
        int rc = 0;
        if (herd_model_save(m, save, &err)) {
            cli_error("%s", err.msg);
            rc = 1;
        } else {
            fprintf(stderr, "herd: wrote %s\n", save);
        }
        herd_model_free(m);
        return rc;
    }
    const herd_model_info *in = herd_model_get_info(m);
    herd_session_params sp = cli_session_params(&o);
    int need = n_pp + n_tg + 1;
    if (sp.n_ctx < need)
        sp.n_ctx = need;
    if (sp.n_batch == 0 && n_pp > 0 && n_pp < 512)
        sp.n_batch = n_pp; /* else the session's default for the backend */
    herd_session *s = herd_session_new(m, &sp, &err);
    if (!s) {
        cli_error("%s", err.msg);
        herd_model_free(m);
        return 1;
    }
    int threads = o.n_threads > 0 ? o.n_threads : default_threads();
    int32_t *toks = malloc((size_t)(n_pp + n_tg + 1) * sizeof *toks);
    double *pp = calloc((size_t)reps, sizeof *pp), *tg = calloc((size_t)reps, sizeof *tg);
    int rc = 1;
    if (!toks || !pp || !tg) {
        cli_error("bench: out of memory");
        goto out;
    }
    uint64_t r = 12345;
    for (int i = 0; i < n_pp + n_tg + 1; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        toks[i] = (int32_t)((r >> 33) % (uint64_t)in->n_vocab);
    }
    /* warm-up: one small batch and one decode step (page in weights, build graphs) */
    if (herd_session_eval(s, toks, n_pp > 0 ? (n_pp < 16 ? n_pp : 16) : 1, NULL, NULL, false, NULL,
                          NULL, &err) ||
        herd_session_eval(s, toks + 1, 1, NULL, NULL, false, NULL, NULL, &err)) {
        cli_error("%s", err.msg);
        goto out;
    }
    /* --profile: per-op times of the last repetition's prefill and decode, separately (the
     * backend syncs after every node then, so the speeds above are lower than without) */
    herd_backend *pbe = o.profile ? herd_model_backend(m) : NULL;
    for (int k = 0; k < reps; k++) {
        if (n_pp > 0) {
            herd_session_rewind(s, 0);
            if (pbe)
                herd_backend_profile_get(pbe, NULL, true);
            double t0 = now_s();
            if (herd_session_eval(s, toks, n_pp, NULL, NULL, false, NULL, NULL, &err)) {
                cli_error("%s", err.msg);
                goto out;
            }
            pp[k] = n_pp / (now_s() - t0);
            if (pbe && k == reps - 1) {
                fprintf(stderr, "profile: prefill of %d tokens\n", n_pp);
                herd_backend_profile_report(pbe, stderr);
            }
        }
        if (n_tg > 0) {
            herd_session_rewind(s, 0);
            if (pbe)
                herd_backend_profile_get(pbe, NULL, true);
            double t0 = now_s();
            for (int i = 0; i < n_tg; i++)
                if (herd_session_eval(s, toks + i, 1, NULL, NULL, false, NULL, NULL, &err)) {
                    cli_error("%s", err.msg);
                    goto out;
                }
            tg[k] = n_tg / (now_s() - t0);
            if (pbe && k == reps - 1) {
                fprintf(stderr, "profile: decode of %d tokens\n", n_tg);
                herd_backend_profile_report(pbe, stderr);
            }
        }
    }
    double pp_med = n_pp > 0 ? median(pp, reps) : 0, tg_med = n_tg > 0 ? median(tg, reps) : 0;
    double bw = do_bw ? measure_bw(threads, 0, (size_t)512 << 20, 5) : 0;
    double gbs = tg_med * (double)in->weight_bytes_per_token / 1e9;
    const char *label = synthetic ? synthetic : in->name;
    if (json) {
        printf("{\"model\": \"%s\", \"type\": \"%s\", \"backend\": \"%s\", \"threads\": %d, "
               "\"n_prompt\": %d, \"n_gen\": %d, \"reps\": %d, \"pp_tokens_per_s\": %.2f, "
               "\"tg_tokens_per_s\": %.2f, \"weight_bytes_per_token\": %zu, \"model_bytes\": %zu, "
               "\"n_params\": %lld, \"n_params_active\": %lld, \"tg_weight_gb_per_s\": %.2f",
               label, in->quant, in->backend, threads, n_pp, n_tg, reps, pp_med, tg_med,
               in->weight_bytes_per_token, in->model_bytes, (long long)in->n_params,
               (long long)in->n_params_active, gbs);
        if (do_bw)
            printf(", \"read_gb_per_s\": %.2f, \"tg_fraction_of_read_bw\": %.3f", bw, gbs / bw);
        printf(", \"cpu\": \"%s\"}\n", herd_cpu_features());
    } else {
        const bool small = in->n_params < 1000000000;
        printf("model %s (%s), %.2f GiB, %.2f %s params (%.2f %s active), backend %s, %d "
               "threads\n",
               label, in->quant, in->model_bytes / 1073741824.0, in->n_params / (small ? 1e6 : 1e9),
               small ? "M" : "B", in->n_params_active / (small ? 1e6 : 1e9), small ? "M" : "B",
               in->backend, threads);
        if (n_pp > 0)
            printf("pp%d: %.2f tok/s (median of %d)\n", n_pp, pp_med, reps);
        if (n_tg > 0)
            printf("tg%d: %.2f tok/s (median of %d), %.1f MB of weights per token -> %.2f GB/s\n",
                   n_tg, tg_med, reps, in->weight_bytes_per_token / 1e6, gbs);
        if (do_bw)
            printf("memory read bandwidth %.2f GB/s: tg reaches %.3f of it\n", bw, gbs / bw);
    }
    rc = 0;
out:
    free(toks);
    free(pp);
    free(tg);
    herd_session_free(s);
    herd_model_free(m);
    return rc;
}
