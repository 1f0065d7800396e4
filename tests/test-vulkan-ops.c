/* test-vulkan-ops: the Vulkan backend against the scalar reference (tests/ops-harness.c), once
 * with the variants the device picks (subgroup reductions, 8/16-bit loads where supported) and
 * once with the fallbacks forced (shared-memory reductions, loads from 32-bit words). Then
 * Vulkan-specific checks: command buffer reuse across runs with new inputs, GPU timestamps,
 * the budget error for weights that cannot fit, a bad device index. Exit 77 without a device. */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/backend.h"
#include "engine/vulkan/herd-vulkan.h"
#include "ops-harness.h"

static int n_fail;

#define CHECK(cond, ...)                                                                          \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                           \
            printf(__VA_ARGS__);                                                                  \
            printf("\n");                                                                         \
            n_fail++;                                                                             \
        }                                                                                         \
    } while (0)

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

/* Information only (HERD_VK_PERF=1): decode-shaped matvec throughput per weight type, from GPU
 * timestamps, and the wall time of a re-submitted 64-node graph (command buffer reuse). */
static void perf_probe(herd_backend *be, const char *label)
{
    static const herd_type types[] = { HERD_TYPE_F16, HERD_TYPE_Q8_0, HERD_TYPE_Q4_0,
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
               "%.1f GB/s of weights, %.2f TFLOP/s\n", label, herd_type_name(types[ti]),
               (long long)K, (long long)N, (long long)M, us, wb / (us * 1e3),
               2e-6 * K * N * M / us);
        be->iface->buffer_free(be, w->buf);
        be->iface->buffer_free(be, xb);
        free(wd);
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
    test_reuse(be);
    test_profile(be);
    test_budget(be);
    if (getenv("HERD_VK_PERF")) {
        perf_probe(be, "(with activation rounding)");
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
    printf("%d op case failures, %d other failures\n", fails, n_fail);
    return fails || n_fail ? 1 : 0;
}
