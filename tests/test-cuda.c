/* test-cuda: the CUDA backend against the scalar reference (tests/ops-harness.c), once with
 * cuBLAS for the batched matmuls and once with the built-in GEMM (HERD_CUDA_NO_CUBLAS=1). Then
 * CUDA-specific checks: graph replay (the 2nd run of an identical graph is captured into a CUDA
 * graph, later runs replay it) must see new inputs, including MoE expert ids read on the device;
 * profiling; the budget error for weights that cannot fit; device-side synthetic weights; a bad
 * device index. Without a device (or driver) it prints SKIP and exits 77. */
#include "check.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/backend.h"
#include "engine/cuda/herd-cuda.h"
#include "engine/quant.h"
#include "ops-harness.h"

/* y = silu(W x) + x and z = W_e[ids] x (MoE decode), run 5 times with new x and new expert ids
 * through tensor_set: run 2 is captured, runs 3-5 replay the CUDA graph. */
static void test_replay(herd_backend *be)
{
    herd_error err = { 0 };
    enum { K = 256, N = 48, E = 3 };
    herd_graph *g = herd_graph_new(16);
    int64_t ne_w[2] = { K, N }, ne_x[2] = { K, 1 }, ne_we[3] = { K, N, E }, ne_id[1] = { 1 };
    herd_tensor *w = herd_graph_tensor(g, HERD_TYPE_F32, 2, ne_w);
    herd_tensor *we = herd_graph_tensor(g, HERD_TYPE_Q8_0, 3, ne_we);
    herd_tensor *x = herd_graph_tensor(g, HERD_TYPE_F32, 2, ne_x);
    herd_tensor *id = herd_graph_tensor(g, HERD_TYPE_I32, 1, ne_id);
    w->kind = we->kind = HERD_TENSOR_WEIGHT;
    x->kind = id->kind = HERD_TENSOR_STATE;
    float *wd = malloc(sizeof(float) * K * N), *wef = malloc(sizeof(float) * K * N * E);
    void *weq = malloc(herd_row_size(HERD_TYPE_Q8_0, K) * N * E);
    for (int i = 0; i < K * N; i++)
        wd[i] = (float)((i * 37) % 11 - 5) / 64.0f;
    for (int i = 0; i < K * N * E; i++)
        wef[i] = (float)((i * 53) % 17 - 8) / 64.0f;
    herd_quantize_row(HERD_TYPE_Q8_0, wef, weq, (int64_t)K * N * E);
    herd_dequantize_row(HERD_TYPE_Q8_0, weq, wef, (int64_t)K * N * E);
    w->data = wd;
    we->data = weq;
    herd_buffer *xb = NULL;
    CHECK(!be->iface->buffer_alloc(be, sizeof(float) * K + 256, &xb, &err), "alloc: %s", err.msg);
    be->iface->tensor_bind(be, x, xb, 0);
    be->iface->tensor_bind(be, id, xb, sizeof(float) * K);
    herd_tensor *ws[2] = { w, we };
    CHECK(!be->iface->weights_upload(be, ws, 2, NULL, NULL, &err), "upload: %s", err.msg);
    /* y[r] = silu(W x)[r] + x[r] for r < N: the residual is x's first N values (a view) */
    herd_tensor *xn = herd_view(g, x, 2, (int64_t[]){ N, 1 }, NULL, 0);
    herd_tensor *y = herd_add(g, herd_silu(g, herd_mul_mat(g, w, x)), xn);
    herd_tensor *z = herd_mul_mat_id(g, we, x, id);
    herd_tensor *keep[2] = { y, z };
    CHECK(!herd_graph_plan(g, keep, 2, 64, &err), "plan: %s", err.msg);
    for (int run = 0; run < 5; run++) {
        float xv[K], yv[K], zv[N];
        int32_t e = (run * 2 + 1) % E;
        for (int i = 0; i < K; i++)
            xv[i] = sinf((float)(i + 7 * run));
        CHECK(!be->iface->tensor_set(be, x, xv, 0, sizeof xv, &err), "set: %s", err.msg);
        CHECK(!be->iface->tensor_set(be, id, &e, 0, 4, &err), "set: %s", err.msg);
        CHECK(!be->iface->graph_compute(be, g, &err), "compute: %s", err.msg);
        CHECK(!be->iface->tensor_get(be, y, yv, 0, sizeof(float) * N, &err), "get: %s", err.msg);
        CHECK(!be->iface->tensor_get(be, z, zv, 0, sizeof zv, &err), "get: %s", err.msg);
        double ey = 0, ez = 0;
        for (int r = 0; r < N; r++) {
            double s = 0, t = 0;
            for (int k = 0; k < K; k++) {
                s += (double)wd[r * K + k] * xv[k];
                t += (double)wef[(size_t)e * K * N + r * K + k] * xv[k];
            }
            ey = fmax(ey, fabs(s / (1.0 + exp(-s)) + xv[r] - yv[r]));
            ez = fmax(ez, fabs(t - zv[r]));
        }
        CHECK(ey < 1e-4 && ez < 1e-3, "replay run %d (expert %d): errors %g %g", run, e, ey, ez);
    }
    /* runs 2..5 went through a CUDA graph (captured once, then replayed): decode speed depends
     * on it, and a capture that fails silently falls back to eager launches */
    if (!be->profile && !getenv("HERD_CUDA_NO_GRAPH")) {
        uint64_t cap = 0, rep = 0;
        bool off = herd_cuda_graph_stats(be, &cap, &rep);
        printf("graph replay: %llu captured, %llu replayed%s\n", (unsigned long long)cap,
               (unsigned long long)rep, off ? " (disabled)" : "");
        CHECK(!off && cap >= 1 && rep >= 3, "graph replay not used: %llu captured, %llu replayed",
              (unsigned long long)cap, (unsigned long long)rep);
    }
    /* an out-of-range expert id is an error, also when replayed */
    int32_t bad = 7;
    CHECK(!be->iface->tensor_set(be, id, &bad, 0, 4, &err), "set: %s", err.msg);
    herd_status st = be->iface->graph_compute(be, g, &err);
    CHECK(st == HERD_ERR_INVALID, "bad expert id: status %d (%s)", (int)st, err.msg);
    herd_graph_free(g);
    be->iface->buffer_free(be, xb);
    free(wd);
    free(wef);
    free(weq);
}

static void test_profile(herd_backend *be)
{
    be->profile = true;
    test_replay(be);
    be->profile = false;
    herd_op_profile p;
    CHECK(herd_backend_profile_get(be, &p, true), "no profile");
    CHECK(p.graphs >= 5 && p.count[HERD_OP_MUL_MAT] >= 5 && p.ns[HERD_OP_MUL_MAT] > 0,
          "profile: %llu graphs, %llu mul_mat", (unsigned long long)p.graphs,
          (unsigned long long)p.count[HERD_OP_MUL_MAT]);
}

/* weights that cannot fit: a clear error before anything is allocated */
static void test_budget(herd_backend *be)
{
    herd_error err = { 0 };
    herd_tensor t;
    memset(&t, 0, sizeof t);
    int64_t ne[2] = { 4096, (int64_t)1 << 30 }; /* ~2.3 TB of Q4_K */
    herd_tensor_init(&t, HERD_TYPE_Q4_K, 2, ne);
    t.kind = HERD_TENSOR_WEIGHT;
    t.synth_seed = 1;
    snprintf(t.name, sizeof t.name, "huge");
    herd_tensor *w = &t;
    herd_status st = be->iface->weights_upload(be, &w, 1, NULL, NULL, &err);
    CHECK(st == HERD_ERR_NOMEM && strstr(err.msg, "GiB"), "budget: status %d (%s)", (int)st,
          err.msg);
    CHECK(t.buf == NULL, "budget: tensor bound anyway");
}

/* device-side synthetic weights: finite, of the expected magnitude, different per seed */
static void test_synth(herd_backend *be)
{
    static const herd_type types[] = { HERD_TYPE_Q4_K, HERD_TYPE_Q5_K, HERD_TYPE_Q6_K,
                                       HERD_TYPE_Q8_0, HERD_TYPE_Q4_0, HERD_TYPE_F16,
                                       HERD_TYPE_BF16 };
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        herd_error err = { 0 };
        const int D = 1024, R = 64;
        herd_graph *g = herd_graph_new(8);
        int64_t ne[2] = { D, R }, ne_id[1] = { 2 };
        herd_tensor *w = herd_graph_tensor(g, types[ti], 2, ne);
        herd_tensor *id = herd_graph_tensor(g, HERD_TYPE_I32, 1, ne_id);
        w->kind = HERD_TENSOR_WEIGHT;
        w->synth_seed = 12345 + ti;
        id->kind = HERD_TENSOR_STATE;
        herd_buffer *ib = NULL;
        CHECK(!be->iface->buffer_alloc(be, 8, &ib, &err), "alloc: %s", err.msg);
        be->iface->tensor_bind(be, id, ib, 0);
        int32_t rows[2] = { 0, R - 1 };
        CHECK(!be->iface->tensor_set(be, id, rows, 0, 8, &err), "set: %s", err.msg);
        CHECK(!be->iface->weights_upload(be, &w, 1, NULL, NULL, &err), "synth %s: %s",
              herd_type_name(types[ti]), err.msg);
        herd_tensor *o = herd_get_rows(g, w, id);
        CHECK(!herd_graph_plan(g, &o, 1, 64, &err), "plan: %s", err.msg);
        CHECK(!be->iface->graph_compute(be, g, &err), "compute: %s", err.msg);
        float v[2 * 1024];
        CHECK(!be->iface->tensor_get(be, o, v, 0, sizeof v, &err), "get: %s", err.msg);
        double ss = 0;
        int finite = 1, differ = 0;
        for (int i = 0; i < 2 * D; i++) {
            finite &= isfinite(v[i]) != 0;
            ss += (double)v[i] * v[i];
        }
        for (int i = 0; i < D; i++)
            differ += v[i] != v[D + i];
        const double rms = sqrt(ss / (2 * D)), a = 1.0 / sqrt((double)D);
        CHECK(finite && rms > a * 0.05 && rms < a * 20 && differ > D / 2,
              "synth %s: rms %g (a %g), finite %d, rows differ at %d", herd_type_name(types[ti]),
              rms, a, finite, differ);
        herd_graph_free(g);
        be->iface->buffer_free(be, ib);
    }
}

#define NE(...) ((const int64_t[]){ __VA_ARGS__ })

/* cases the shared harness does not reach on a GPU: split-K decode attention (long key ranges,
 * few query blocks), large MoE batches through the sorted GEMM path, GEMM-sized matmuls */
static int extra_cases(herd_backend *be, const char *label)
{
    oh h;
    oh_init(&h, be, NULL, label, 0xC0DA);
    static const struct {
        const char *name;
        herd_type kv;
        int hd, Hq, Hkv, T, S, mask, chunk, ring, p0, tfloor;
    } at[] = {
        { "attn decode causal S2048 p1500 F16 GQA 8/2", HERD_TYPE_F16, 128, 8, 2, 1, 2048, 1, 0,
          2048, 1500, 0 },
        { "attn decode causal S4096 p4000 F32 temp", HERD_TYPE_F32, 64, 4, 4, 1, 4096, 1, 0, 4096,
          4000, 512 },
        { "attn decode chunked C1024 ring 1536 p3000", HERD_TYPE_F16, 128, 4, 1, 2, 1536, 2, 1024,
          1536, 3000, 0 },
        { "attn decode ring 1024 p5000 (wrapped)", HERD_TYPE_F16, 128, 2, 1, 3, 1024, 1, 0, 1024,
          5000, 0 },
        { "attn none n_kv 1900 hd 256", HERD_TYPE_F32, 256, 2, 1, 1, 2048, 0, 0, 2048, 0, 0 },
    };
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        oh_begin(&h);
        herd_tensor *q =
            oh_input(&h, HERD_TYPE_F32, 3, NE(at[i].hd, at[i].Hq, at[i].T), 1.0f, NULL);
        herd_tensor *k = oh_input(&h, at[i].kv, 3, NE(at[i].hd, at[i].Hkv, at[i].S), 1.0f, NULL);
        herd_tensor *v = oh_input(&h, at[i].kv, 3, NE(at[i].hd, at[i].Hkv, at[i].S), 1.0f, NULL);
        int32_t pos[8];
        for (int t = 0; t < at[i].T; t++)
            pos[t] = at[i].p0 + t;
        herd_tensor *qp = at[i].mask ? oh_ids(&h, at[i].T, pos) : NULL;
        herd_attn_params p = { .mask = at[i].mask,
                               .chunk = at[i].chunk,
                               .n_kv = 1900,
                               .ring = at[i].ring,
                               .temp_floor = at[i].tfloor,
                               .temp_scale = 0.1f,
                               .scale = 1.0f / sqrtf((float)at[i].hd) };
        /* F32 math in another order over up to 4096 keys: 5e-5 of max |ref| */
        oh_check(&h, herd_attention(h.g, q, k, v, qp, &p), 5e-5, at[i].name);
    }
    /* MoE prefill: many tokens over 8 experts (sorted GEMM path), quantized and F16 weights */
    static const herd_type mt[] = { HERD_TYPE_Q4_K, HERD_TYPE_Q6_K, HERD_TYPE_Q8_0,
                                    HERD_TYPE_F16,  HERD_TYPE_BF16, HERD_TYPE_F32 };
    for (size_t i = 0; i < sizeof mt / sizeof mt[0]; i++) {
        char name[96];
        int32_t ids[300];
        oh_begin(&h);
        herd_tensor *w = oh_weight(&h, mt[i], 3, NE(512, 200, 8), 1.0f);
        herd_tensor *x = oh_input(&h, HERD_TYPE_F32, 2, NE(512, 300), 1.0f, NULL);
        for (int m = 0; m < 300; m++)
            ids[m] = (m * 7 + m / 13) % 7; /* expert 7 unused */
        snprintf(name, sizeof name, "mul_mat_id %s K512 N200 E8 M300", herd_type_name(mt[i]));
        oh_check(&h, herd_mul_mat_id(h.g, w, x, oh_ids(&h, 300, ids)),
                 mt[i] == HERD_TYPE_F32 ? 1e-5 : 1.2e-2, name);
        /* a short batch: expert 0 gets 20 columns (GEMM), experts 1-7 two to four each (the
         * int8 mat-vec on sorted columns) */
        oh_begin(&h);
        w = oh_weight(&h, mt[i], 3, NE(512, 200, 8), 1.0f);
        x = oh_input(&h, HERD_TYPE_F32, 2, NE(512, 40), 1.0f, NULL);
        for (int m = 0; m < 40; m++)
            ids[m] = m % 2 == 0 ? 0 : 1 + (m * 5) % 7;
        snprintf(name, sizeof name, "mul_mat_id %s K512 N200 E8 M40 (few per expert)",
                 herd_type_name(mt[i]));
        oh_check(&h, herd_mul_mat_id(h.g, w, x, oh_ids(&h, 40, ids)),
                 mt[i] == HERD_TYPE_F32 ? 1e-5 : 1.2e-2, name);
        oh_begin(&h);
        w = oh_weight(&h, mt[i], 2, NE(1024, 520), 1.0f);
        x = oh_input(&h, HERD_TYPE_F32, 2, NE(1024, 129), 1.0f, NULL);
        snprintf(name, sizeof name, "mul_mat %s K1024 N520 M129", herd_type_name(mt[i]));
        oh_check(&h, herd_mul_mat(h.g, w, x), mt[i] == HERD_TYPE_F32 ? 1e-5 : 1.2e-2, name);
    }
    printf("%s extra cases: %d run, %d failed\n", label, h.n_run, h.n_fail);
    return h.n_fail;
}

int main(void)
{
    herd_error err = { 0 };
    herd_backend *be = herd_backend_cuda_init(0, &err);
    if (!be) {
        printf("\n*** SKIP: %s ***\n\n", err.msg[0] ? err.msg : "no CUDA device");
        return 77;
    }
    char names[8][256];
    int nd = herd_cuda_list_devices(names, 8);
    for (int i = 0; i < nd && i < 8; i++)
        printf("CUDA device %d: %s\n", i, names[i]);
    printf("backend: %s\n", herd_cuda_backend_info(be));
    int fails = run_all_op_tests(be, NULL, "cuda");
    fails += extra_cases(be, "cuda");
    test_replay(be);
    test_profile(be);
    test_budget(be);
    test_synth(be);
    herd_backend_free(be);

    /* the built-in GEMM instead of cuBLAS */
    setenv("HERD_CUDA_NO_CUBLAS", "1", 1);
    be = herd_backend_cuda_init(0, &err);
    CHECK(be != NULL, "init without cuBLAS: %s", err.msg);
    if (be) {
        printf("backend: %s\n", herd_cuda_backend_info(be));
        CHECK(strstr(herd_cuda_backend_info(be), "built-in") != NULL, "cuBLAS not disabled");
        fails += run_all_op_tests(be, NULL, "cuda-builtin-gemm");
        fails += extra_cases(be, "cuda-builtin-gemm");
        herd_backend_free(be);
    }
    unsetenv("HERD_CUDA_NO_CUBLAS");

    herd_backend *bad = herd_backend_cuda_init(99, &err);
    CHECK(bad == NULL && strstr(err.msg, "99"), "device 99: %s", err.msg);
    herd_backend_free(bad);

    printf("test-cuda: %d op-test failures, %d other failures\n", fails, failures);
    return fails || failures ? 1 : 0;
}
