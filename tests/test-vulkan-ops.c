/* test-vulkan-ops: the Vulkan backend against the scalar reference (tests/ops-harness.c), once
 * with the variants the device picks (subgroup reductions, 8/16-bit loads where supported) and
 * once with the fallbacks forced (shared-memory reductions, loads from 32-bit words). Then
 * Vulkan-specific checks: command buffer reuse across runs with new inputs, GPU timestamps,
 * the budget error for weights that cannot fit, a bad device index. Exit 77 without a device. */
#include "check.h"
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/backend.h"
#include "engine/vulkan/herd-vulkan.h"
#include "ops-harness.h"

/* y = silu(W x) + x, run 3 times with new x through tensor_set; the 2nd and 3rd runs reuse the
 * recorded command buffer (same graph, same memory) and must still see the new inputs. */
static void test_reuse(herd_backend *be)
{
    herd_error err = { 0 };
    const int K = 48, N = 48;
    herd_graph *g = herd_graph_new(16);
    int64_t ne_w[2] = { K, N }, ne_x[2] = { K, 1 };
    herd_tensor *w = herd_graph_tensor(g, HERD_TYPE_F32, 2, ne_w);
    herd_tensor *x = herd_graph_tensor(g, HERD_TYPE_F32, 2, ne_x);
    w->kind = HERD_TENSOR_WEIGHT;
    x->kind = HERD_TENSOR_STATE;
    float *wd = malloc(sizeof(float) * K * N);
    for (int i = 0; i < K * N; i++)
        wd[i] = (float)((i * 37) % 11 - 5) / 16.0f;
    w->data = wd;
    herd_buffer *xb = NULL;
    CHECK(!be->iface->buffer_alloc(be, sizeof(float) * K, &xb, &err), "alloc: %s", err.msg);
    be->iface->tensor_bind(be, x, xb, 0);
    CHECK(!be->iface->weights_upload(be, &w, 1, NULL, NULL, &err), "upload: %s", err.msg);
    herd_tensor *y = herd_add(g, herd_silu(g, herd_mul_mat(g, w, x)), x);
    CHECK(!herd_graph_plan(g, &y, 1, 64, &err), "plan: %s", err.msg);
    for (int run = 0; run < 3; run++) {
        float xv[48], yv[48];
        for (int i = 0; i < K; i++)
            xv[i] = sinf((float)(i + 7 * run));
        CHECK(!be->iface->tensor_set(be, x, xv, 0, sizeof xv, &err), "set: %s", err.msg);
        CHECK(!be->iface->graph_compute(be, g, &err), "compute: %s", err.msg);
        CHECK(!be->iface->tensor_get(be, y, yv, 0, sizeof yv, &err), "get: %s", err.msg);
        double maxerr = 0;
        for (int r = 0; r < N; r++) {
            double s = 0;
            for (int k = 0; k < K; k++)
                s += (double)wd[r * K + k] * xv[k];
            double ref = s / (1.0 + exp(-s)) + xv[r];
            maxerr = fmax(maxerr, fabs(ref - yv[r]));
        }
        CHECK(maxerr < 1e-5, "reuse run %d: max error %g", run, maxerr);
    }
    herd_graph_free(g);
    be->iface->buffer_free(be, xb);
    free(wd);
}

static void test_profile(herd_backend *be)
{
    be->profile = true;
    test_reuse(be);
    be->profile = false;
    herd_op_profile p;
    CHECK(herd_backend_profile_get(be, &p, true), "no profile");
    CHECK(p.graphs == 3 && p.count[HERD_OP_MUL_MAT] == 3 && p.count[HERD_OP_SILU] == 3 &&
              p.ns[HERD_OP_MUL_MAT] > 0,
          "profile: %llu graphs, %llu mul_mat", (unsigned long long)p.graphs,
          (unsigned long long)p.count[HERD_OP_MUL_MAT]);
}

static void test_budget(herd_backend *be)
{
    /* 2^40 bytes of "weights": refused by the budget check before anything is read */
    herd_graph *g = herd_graph_new(4);
    int64_t ne[2] = { 1 << 20, 1 << 18 };
    herd_tensor *w = herd_graph_tensor(g, HERD_TYPE_F32, 2, ne);
    w->kind = HERD_TENSOR_WEIGHT;
    static char dummy[16];
    w->data = dummy;
    herd_error err = { 0 };
    herd_status st = be->iface->weights_upload(be, &w, 1, NULL, NULL, &err);
    CHECK(st == HERD_ERR_NOMEM && strstr(err.msg, "GiB"), "budget: status %d (%s)", st, err.msg);
    printf("budget error: %s\n", err.msg);
    CHECK(be->iface->mem_free(be) > 0, "mem_free is 0");
    herd_graph_free(g);
}

/* Shapes the shared harness does not reach: MUL_MAT_ID with more tokens than one 256-id scan
 * pass of the grouped (prefill) kernel, GET_ROWS of a Q4_K table for the decoder's embedding. */
static int extra_cases(herd_backend *be)
{
    oh h;
    oh_init(&h, be, NULL, "vulkan-extra", 777);
    int32_t ids[300];
    for (int i = 0; i < 300; i++)
        ids[i] = (int32_t)((i * 7 + i / 13) % 3);
    oh_begin(&h);
    const int64_t ne_w[3] = { 256, 40, 3 }, ne_x[2] = { 256, 300 };
    herd_tensor *w = oh_weight(&h, HERD_TYPE_Q4_K, 3, ne_w, 1.0f);
    herd_tensor *x = oh_input(&h, HERD_TYPE_F32, 2, ne_x, 1.0f, NULL);
    oh_check(&h, herd_mul_mat_id(h.g, w, x, oh_ids(&h, 300, ids)), 2e-2,
             "mul_mat_id Q4_K K256 N40 E3 M300 (2 scan passes)");
    oh_begin(&h);
    const int64_t ne_t[2] = { 512, 1000 };
    herd_tensor *t = oh_weight(&h, HERD_TYPE_Q6_K, 2, ne_t, 1.0f);
    oh_check(&h, herd_get_rows(h.g, t, oh_ids(&h, 300, ids)), 1e-6,
             "get_rows Q6_K [512,1000] x300");
    /* split-K attention (decode over long caches) */
    static const struct {
        const char *name;
        int mask, T, S, chunk, n_kv, p0;
        herd_type kv;
    } a[] = {
        { "attention split causal T1 S2000 F16", 1, 1, 2000, 0, 0, 1999, HERD_TYPE_F16 },
        { "attention split causal T3 S1500 ring wrap", 1, 3, 1500, 0, 0, 2600, HERD_TYPE_F32 },
        { "attention split chunked C1024 T2 S3000", 2, 2, 3000, 1024, 0, 2100, HERD_TYPE_F16 },
        { "attention split none n_kv 1300 T1", 0, 1, 1400, 0, 1300, 0, HERD_TYPE_F32 },
    };
    for (size_t i = 0; i < sizeof a / sizeof a[0]; i++) {
        oh_begin(&h);
        const int64_t ne_q[3] = { 64, 4, a[i].T }, ne_k[3] = { 64, 2, a[i].S };
        herd_tensor *q = oh_input(&h, HERD_TYPE_F32, 3, ne_q, 1.0f, NULL);
        herd_tensor *k = oh_input(&h, a[i].kv, 3, ne_k, 1.0f, NULL);
        herd_tensor *v = oh_input(&h, a[i].kv, 3, ne_k, 1.0f, NULL);
        int32_t pos[3];
        for (int j = 0; j < a[i].T; j++)
            pos[j] = a[i].p0 + j;
        herd_tensor *qp = a[i].mask ? oh_ids(&h, a[i].T, pos) : NULL;
        herd_attn_params ap = {
            .mask = a[i].mask, .chunk = a[i].chunk, .n_kv = a[i].n_kv, .ring = a[i].S, .scale = 0.3f
        };
        oh_check(&h, herd_attention(h.g, q, k, v, qp, &ap), 1e-5, a[i].name);
    }
    printf("vulkan-extra: %d cases, %d failed\n", h.n_run, h.n_fail);
    return h.n_fail;
}

/* Information only (HERD_VK_PERF=1): decode-shaped matvec throughput per weight type, from GPU
 * timestamps, and the wall time of a re-submitted 64-node graph (command buffer reuse). */
static void perf_probe(herd_backend *be, const char *label)
{
    static const herd_type types[] = { HERD_TYPE_F16,  HERD_TYPE_Q8_0, HERD_TYPE_Q4_0,
                                       HERD_TYPE_Q4_K, HERD_TYPE_Q5_K, HERD_TYPE_Q6_K,
                                       HERD_TYPE_Q4_K };
    const int64_t K = 5120, N = 8192;
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        herd_error err = { 0 };
        herd_graph *g = herd_graph_new(8);
        const int64_t M = ti + 1 == sizeof types / sizeof types[0] ? 128 : 1; /* last: prefill */
        int64_t ne_w[2] = { K, N }, ne_x[2] = { K, M };
        herd_tensor *w = herd_graph_tensor(g, types[ti], 2, ne_w);
        herd_tensor *x = herd_graph_tensor(g, HERD_TYPE_F32, 2, ne_x);
        w->kind = HERD_TENSOR_WEIGHT;
        x->kind = HERD_TENSOR_STATE;
        size_t wb = herd_tensor_nbytes(w);
        unsigned char *wd = malloc(wb);
        for (size_t i = 0; i < wb; i++)
            wd[i] = (unsigned char)(i * 2654435761u >> 13) & 0x3f; /* finite scales */
        w->data = wd;
        herd_buffer *xb = NULL;
        if (be->iface->buffer_alloc(be, (size_t)(K * M) * 4, &xb, &err) ||
            be->iface->weights_upload(be, &w, 1, NULL, NULL, &err)) {
            printf("perf: %s\n", err.msg);
            free(wd);
            herd_graph_free(g);
            return;
        }
        be->iface->tensor_bind(be, x, xb, 0);
        herd_tensor *y = herd_mul_mat(g, w, x);
        herd_graph_plan(g, &y, 1, 64, &err);
        for (int r = 0; r < 10; r++) /* warm-up: clocks, pipelines */
            be->iface->graph_compute(be, g, &err);
        be->profile = true;
        herd_backend_profile_get(be, NULL, true);
        for (int r = 0; r < 20; r++)
            be->iface->graph_compute(be, g, &err);
        herd_op_profile p;
        herd_backend_profile_get(be, &p, true);
        be->profile = false;
        double us = p.ns[HERD_OP_MUL_MAT] / 1e3 / 20;
        printf("perf %s: mul_mat %-5s K%lld N%lld M%lld: %8.1f us/call, "
               "%.1f GB/s of weights, %.2f TFLOP/s\n",
               label, herd_type_name(types[ti]), (long long)K, (long long)N, (long long)M, us,
               wb / (us * 1e3), 2e-6 * K * N * M / us);
        be->iface->buffer_free(be, w->buf);
        be->iface->buffer_free(be, xb);
        free(wd);
        herd_graph_free(g);
    }
}

/* Information only: attention over an 8192-entry F16 cache (Scout's shapes), decode and a
 * 512-token prefill batch. */
static void perf_attention(herd_backend *be, const char *label)
{
    const int64_t hd = 128, Hq = 40, Hkv = 8, S = 8192;
    for (int prefill = 0; prefill < 2; prefill++) {
        herd_error err = { 0 };
        const int64_t T = prefill ? 512 : 1;
        herd_graph *g = herd_graph_new(8);
        const int64_t ne_q[3] = { hd, Hq, T }, ne_k[3] = { hd, Hkv, S }, ne_p[1] = { T };
        herd_tensor *q = herd_graph_tensor(g, HERD_TYPE_F32, 3, ne_q);
        herd_tensor *k = herd_graph_tensor(g, HERD_TYPE_F16, 3, ne_k);
        herd_tensor *v = herd_graph_tensor(g, HERD_TYPE_F16, 3, ne_k);
        herd_tensor *pos = herd_graph_tensor(g, HERD_TYPE_I32, 1, ne_p);
        herd_tensor *in[4] = { q, k, v, pos };
        herd_buffer *bufs[4] = { 0 };
        bool ok = true;
        for (int i = 0; i < 4 && ok; i++) {
            in[i]->kind = HERD_TENSOR_STATE;
            ok = !be->iface->buffer_alloc(be, herd_tensor_nbytes(in[i]), &bufs[i], &err);
            if (ok)
                be->iface->tensor_bind(be, in[i], bufs[i], 0);
        }
        int32_t pv[512];
        for (int t = 0; t < T; t++)
            pv[t] = (int32_t)(S - T + t);
        if (ok)
            ok = !be->iface->tensor_set(be, pos, pv, 0, (size_t)T * 4, &err);
        herd_attn_params ap = { .mask = 1, .ring = (int)S, .scale = 0.088f };
        herd_tensor *o = herd_attention(g, q, k, v, pos, &ap);
        if (ok)
            ok = !herd_graph_plan(g, &o, 1, 64, &err);
        for (int r = 0; r < 5 && ok; r++)
            ok = !be->iface->graph_compute(be, g, &err);
        be->profile = true;
        herd_backend_profile_get(be, NULL, true);
        for (int r = 0; r < 10 && ok; r++)
            ok = !be->iface->graph_compute(be, g, &err);
        herd_op_profile p;
        herd_backend_profile_get(be, &p, true);
        be->profile = false;
        if (ok)
            printf("perf %s: attention hd128 Hq40 Hkv8 F16 cache, %lld queries at %lld..8191: "
                   "%.1f us/call\n",
                   label, (long long)T, (long long)(S - T), p.ns[HERD_OP_ATTENTION] / 1e3 / 10);
        else
            printf("perf: attention: %s\n", err.msg);
        for (int i = 0; i < 4; i++)
            if (bufs[i])
                be->iface->buffer_free(be, bufs[i]);
        herd_graph_free(g);
    }
}

int main(void)
{
    /* Keep lavapipe mapped after vkDestroyInstance so that sanitizer reports about it name it
     * (the loader unloads drivers; LSan then prints "<unknown module>"). Harmless elsewhere. */
    dlopen("libvulkan_lvp.so", RTLD_NOW | RTLD_NODELETE);
    char names[8][256];
    int nd = herd_vulkan_list_devices(names, 8);
    herd_error err = { 0 };
    herd_backend *be = nd > 0 ? herd_backend_vulkan_init(0, &err) : NULL;
    if (!be) {
        printf("SKIP: no Vulkan device (%s); install mesa-vulkan-drivers for lavapipe\n",
               nd > 0 ? err.msg : "no device listed");
        return 77;
    }
    for (int i = 0; i < nd && i < 8; i++)
        printf("device %d: %s\n", i, names[i]);

    herd_backend *bad = herd_backend_vulkan_init(nd + 3, &err);
    CHECK(!bad && err.code == HERD_ERR_INVALID, "bad device index accepted (%s)", err.msg);

    int fails = run_all_op_tests(be, NULL, "vulkan");
    fails += extra_cases(be);
    test_reuse(be);
    test_profile(be);
    test_budget(be);
    if (getenv("HERD_VK_PERF")) {
        perf_probe(be, "(with activation rounding)");
        perf_attention(be, "");
        setenv("HERD_VK_F32_ACT", "1", 1);
        herd_backend *be2 = herd_backend_vulkan_init(0, &err);
        if (be2) {
            perf_probe(be2, "(F32 activations)");
            herd_backend_free(be2);
        }
        unsetenv("HERD_VK_F32_ACT");
    }
    herd_backend_free(be);

    /* fallback variants */
    setenv("HERD_VK_NO_SUBGROUP", "1", 1);
    setenv("HERD_VK_NO_8BIT", "1", 1);
    be = herd_backend_vulkan_init(0, &err);
    CHECK(be != NULL, "init with fallbacks: %s", err.msg);
    if (be) {
        fails += run_all_op_tests(be, NULL, "vulkan-fallback");
        herd_backend_free(be);
    }
    printf("%d op case failures, %d other failures\n", fails, failures);
    return fails || failures ? 1 : 0;
}
