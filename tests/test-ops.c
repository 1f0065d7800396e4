/* test-ops: every op of the CPU backend against the scalar reference (tests/ops-harness.c),
 * with 2 threads checked bit for bit against 1 thread. Then (information only, never a pass/fail
 * criterion) matrix-vector throughput and per-node overhead. HERD_OPS_NO_PERF=1 skips those,
 * HERD_OPS_PERF_ONLY=1 runs only those. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/backend.h"
#include "engine/quant.h"
#include "ops-harness.h"

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* read bandwidth probe (information only): nth threads each sum their part of 512 MiB */
#include <pthread.h>
typedef struct bw_arg {
    const float *p;
    size_t n;
    float s;
} bw_arg;

static void *bw_worker(void *a)
{
    bw_arg *b = a;
    float acc[16] = { 0 };
    for (size_t i = 0; i + 16 <= b->n; i += 16)
        for (int j = 0; j < 16; j++)
            acc[j] += b->p[i + j];
    for (int j = 0; j < 16; j++)
        b->s += acc[j];
    return NULL;
}

static double membw(int nth)
{
    const size_t n = (size_t)128 << 20; /* floats */
    float *p = malloc(n * sizeof *p);
    if (!p)
        return 0;
    memset(p, 1, n * sizeof *p);
    double best = 1e9;
    for (int r = 0; r < 3; r++) {
        pthread_t th[8];
        bw_arg args[8];
        double t0 = now_s();
        for (int i = 0; i < nth; i++) {
            args[i] = (bw_arg){ p + n / (size_t)nth * (size_t)i, n / (size_t)nth, 0 };
            pthread_create(&th[i], NULL, bw_worker, &args[i]);
        }
        for (int i = 0; i < nth; i++)
            pthread_join(th[i], NULL);
        double dt = now_s() - t0;
        best = dt < best ? dt : best;
    }
    free(p);
    return (double)n * sizeof(float) / best / 1e9;
}

static int perf_matvec(herd_backend *be, herd_type t, int64_t K, int64_t N, int64_t M, int reps)
{
    herd_graph *g = herd_graph_new(8);
    herd_error err = { 0 };
    const int64_t ne_w[2] = { K, N }, ne_x[2] = { K, M };
    herd_tensor *w = herd_graph_tensor(g, t, 2, ne_w);
    w->kind = HERD_TENSOR_WEIGHT;
    size_t wsize = herd_tensor_nbytes(w);
    char *wd = malloc(wsize);
    float *row = malloc((size_t)K * sizeof *row);
    /* quantize 64 random rows, replicate them (quantizing 100 M values takes too long) */
    const size_t rs = w->nb[1];
    for (int64_t r = 0; r < N; r++) {
        if (r < 64) {
            for (int64_t i = 0; i < K; i++)
                row[i] = (float)((r * 7919 + i * 104729) % 2001 - 1000) / 1000.0f;
            herd_quantize_row(t, row, wd + r * rs, K);
        } else {
            memcpy(wd + r * rs, wd + (r % 64) * rs, rs);
        }
    }
    w->data = wd;
    herd_tensor *x = herd_graph_tensor(g, HERD_TYPE_F32, 2, ne_x);
    x->kind = HERD_TENSOR_STATE;
    herd_buffer *buf = NULL;
    int rc = 1;
    if (be->iface->buffer_alloc(be, herd_tensor_nbytes(x), &buf, &err))
        goto out;
    be->iface->tensor_bind(be, x, buf, 0);
    herd_tensor *o = herd_mul_mat(g, w, x);
    if (herd_graph_plan(g, &o, 1, 64, &err) || be->iface->graph_compute(be, g, &err))
        goto out;
    double best = 1e9, bestc = 1e9;
    for (int r = 0; r < reps; r++) {
        double t0 = now_s(), c0 = cpu_s();
        be->iface->graph_compute(be, g, &err);
        double dt = now_s() - t0, dc = cpu_s() - c0;
        best = dt < best ? dt : best;
        bestc = dc < bestc ? dc : bestc;
    }
    if (be->n_threads == 1) /* CPU time: less sensitive to a busy machine */
        printf("perf: (1 thread CPU time %.3f ms: %.1f GB/s, %.1f GFLOP/s)\n", bestc * 1e3,
               (double)wsize / bestc / 1e9, 2.0 * (double)K * (double)N * (double)M / bestc / 1e9);
    if (M == 1)
        printf("perf: mat-vec %-5s [%lld x %lld] %d threads: %.3f ms, %.1f GB/s (best of %d)\n",
               herd_type_name(t), (long long)K, (long long)N, be->n_threads, best * 1e3,
               (double)wsize / best / 1e9, reps);
    else
        printf("perf: mat-mat %-5s [%lld x %lld] x %lld cols %d threads: %.3f ms, %.1f GFLOP/s\n",
               herd_type_name(t), (long long)K, (long long)N, (long long)M, be->n_threads,
               best * 1e3, 2.0 * (double)K * (double)N * (double)M / best / 1e9);
    rc = 0;
out:
    if (rc)
        printf("perf: %s failed: %s\n", herd_type_name(t), err.msg);
    if (buf)
        be->iface->buffer_free(be, buf);
    free(wd);
    free(row);
    herd_graph_free(g);
    return rc;
}

/* attention throughput: T queries over S keys (mask none, or causal decode at position S-1) */
static void perf_attention(herd_backend *be, int hd, int Hq, int Hkv, int T, int S, herd_type kv,
                           int reps)
{
    herd_graph *g = herd_graph_new(8);
    herd_error err = { 0 };
    const int64_t ne_q[3] = { hd, Hq, T }, ne_k[3] = { hd, Hkv, S }, ne_p[1] = { T };
    herd_tensor *ts[4] = { herd_graph_tensor(g, HERD_TYPE_F32, 3, ne_q),
                           herd_graph_tensor(g, kv, 3, ne_k), herd_graph_tensor(g, kv, 3, ne_k),
                           herd_graph_tensor(g, HERD_TYPE_I32, 1, ne_p) };
    herd_buffer *bufs[4] = { 0 };
    for (int i = 0; i < 4; i++) {
        ts[i]->kind = HERD_TENSOR_STATE;
        if (be->iface->buffer_alloc(be, herd_tensor_nbytes(ts[i]), &bufs[i], &err))
            goto out;
        be->iface->tensor_bind(be, ts[i], bufs[i], 0);
    }
    for (int t = 0; t < T; t++)
        ((int32_t *)ts[3]->data)[t] = S - T + t;
    herd_attn_params p = { .mask = T == 1 ? 1 : 0, .n_kv = S, .scale = 0.1f };
    herd_tensor *o = herd_attention(g, ts[0], ts[1], ts[2], T == 1 ? ts[3] : NULL, &p);
    if (herd_graph_plan(g, &o, 1, 64, &err) || be->iface->graph_compute(be, g, &err))
        goto out;
    double best = 1e9;
    for (int r = 0; r < reps; r++) {
        double t0 = be->n_threads == 1 ? cpu_s() : now_s();
        be->iface->graph_compute(be, g, &err);
        double dt = (be->n_threads == 1 ? cpu_s() : now_s()) - t0;
        best = dt < best ? dt : best;
    }
    printf("perf: attention hd%d H%d/%d T%d S%d %s, %d threads%s: %.3f ms, %.1f GFLOP/s\n", hd, Hq,
           Hkv, T, S, herd_type_name(kv), be->n_threads, be->n_threads == 1 ? " (CPU time)" : "",
           best * 1e3, 4.0 * hd * Hq * (double)T * S / best / 1e9);
out:
    for (int i = 0; i < 4; i++)
        if (bufs[i])
            be->iface->buffer_free(be, bufs[i]);
    herd_graph_free(g);
}

static void perf_overhead(herd_backend *be)
{
    herd_graph *g = herd_graph_new(512);
    herd_error err = { 0 };
    const int64_t ne[1] = { 2048 };
    herd_tensor *x = herd_graph_tensor(g, HERD_TYPE_F32, 1, ne);
    x->kind = HERD_TENSOR_STATE;
    herd_buffer *buf = NULL;
    if (be->iface->buffer_alloc(be, herd_tensor_nbytes(x), &buf, &err))
        return;
    be->iface->tensor_bind(be, x, buf, 0);
    herd_tensor *t = x;
    for (int i = 0; i < 400; i++)
        t = herd_add(g, t, x);
    if (!herd_graph_plan(g, &t, 1, 64, &err) && !be->iface->graph_compute(be, g, &err)) {
        double best = 1e9;
        for (int r = 0; r < 50; r++) {
            double t0 = now_s();
            be->iface->graph_compute(be, g, &err);
            double dt = now_s() - t0;
            best = dt < best ? dt : best;
        }
        printf("perf: 400 small add nodes, %d threads: %.2f us per node\n", be->n_threads,
               best / 400 * 1e6);
    }
    be->iface->buffer_free(be, buf);
    herd_graph_free(g);
}

int main(void)
{
    herd_error err = { 0 };
    herd_backend *be1 = herd_backend_cpu_init(1, &err);
    herd_backend *be2 = be1 ? herd_backend_cpu_init(2, &err) : NULL;
    if (!be1 || !be2) {
        fprintf(stderr, "cpu backend init failed: %s\n", err.msg);
        return 1;
    }
    printf("cpu isa: %s (%s)\n", herd_cpu_isa(), herd_cpu_features());
    /* HERD_OPS_PERF_ONLY=1: only the (information) throughput lines */
    const bool perf_only = getenv("HERD_OPS_PERF_ONLY") != NULL;
    int fails = perf_only ? 0 : run_all_op_tests(be2, be1, "cpu 2 threads (vs 1 thread bitwise)");

    /* a backend error must be an error, not a crash: out-of-range row id */
    if (!perf_only) {
        oh h;
        oh_init(&h, be2, NULL, "cpu", 7);
        oh_begin(&h);
        const int64_t ne[2] = { 8, 4 };
        herd_tensor *tab = oh_input(&h, HERD_TYPE_F32, 2, ne, 1.0f, NULL);
        int32_t bad[2] = { 1, 4 };
        herd_tensor *o = herd_get_rows(h.g, tab, oh_ids(&h, 2, bad));
        herd_graph_plan(h.g, &o, 1, 64, &err);
        herd_status st = be2->iface->graph_compute(be2, h.g, &err);
        if (st != HERD_ERR_INVALID) {
            printf("FAIL get_rows with an out-of-range id returned %s\n", herd_status_name(st));
            fails++;
        } else {
            printf("ok   out-of-range id reported: %s\n", err.msg);
        }
        oh_abort(&h);
    }

    if (!getenv("HERD_OPS_NO_PERF")) {
        printf("perf: read bandwidth probe: %.1f GB/s (1 thread), %.1f GB/s (2 threads)\n",
               membw(1), membw(2));
        herd_backend *bes[2] = { be1, be2 };
        for (int b = 0; b < 2; b++) {
            perf_matvec(bes[b], HERD_TYPE_Q4_0, 4096, 16384, 1, 15);
            perf_matvec(bes[b], HERD_TYPE_Q4_K, 4096, 16384, 1, 15);
            perf_matvec(bes[b], HERD_TYPE_Q8_0, 4096, 16384, 1, 15);
        }
        perf_matvec(be1, HERD_TYPE_Q4_0, 2048, 2048, 128, 5);
        perf_matvec(be2, HERD_TYPE_Q4_0, 2048, 2048, 128, 5);
        perf_matvec(be2, HERD_TYPE_Q8_0, 2048, 2048, 128, 5);
        perf_matvec(be2, HERD_TYPE_Q4_K, 2048, 2048, 128, 5);
        for (int b = 0; b < 2; b++) {
            perf_attention(bes[b], 88, 16, 16, 577, 577, HERD_TYPE_F32, 3);
            perf_attention(bes[b], 128, 16, 4, 1, 4096, HERD_TYPE_F16, 10);
            perf_attention(bes[b], 128, 16, 4, 128, 128, HERD_TYPE_F16, 5);
        }
        perf_overhead(be1);
        perf_overhead(be2);
    }
    herd_backend_free(be1);
    herd_backend_free(be2);
    printf("%s\n", fails ? "FAILED" : "PASSED");
    return fails ? 1 : 0;
}
