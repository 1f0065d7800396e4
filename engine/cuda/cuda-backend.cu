/* cuda-backend.cu: the herd_backend_iface of the CUDA backend: device selection, memory (weights
 * uploaded once through pinned staging, or generated on the device for synthetic models; one
 * arena for intermediates, grown when a graph needs more; KV cache and inputs in plain device
 * buffers), and graph execution on one stream.
 *
 * Graph replay: each graph_compute builds a compact record of its nodes (op, parameters, device
 * addresses, shapes). When a graph's record equals the previous one (a decode step re-running
 * the cached one-token graph with new inputs set by tensor_set) it is captured into a CUDA graph
 * on the second run and replayed with cudaGraphLaunch from then on. A new arena or scratch
 * address changes the record, so a stale capture is never launched. Graphs with a node that
 * needs a host sync (MUL_MAT_ID over a batch) always run eagerly.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cuda-internal.cuh"
#include "herd-cuda.h"

#define STAGING_SIZE  ((size_t)32 << 20)
#define WEIGHT_ALIGN  256
#define RESERVE_BYTES ((size_t)768 << 20) /* left free after the weights: arena, KV, cuBLAS */
#define COUNTS_CAP    4096

static cu_ctx *CTX(herd_backend *be)
{
    return (cu_ctx *)be->ctx;
}

static inline size_t align_up(size_t n, size_t a)
{
    return (n + a - 1) / a * a;
}

char *herd_cu_ptr(cu_ctx *c, const herd_tensor *t)
{
    size_t o;
    const herd_tensor *b = herd_tensor_base(t, &o);
    if (b->buf)
        return (char *)b->buf->d + b->offs + o;
    if (b->kind == HERD_TENSOR_INTERMEDIATE && b->node >= 0 && c->arena)
        return c->arena + b->offs + o;
    return NULL;
}

/* --- cuBLAS, loaded at run time ----------------------------------------------------------- */

static void blas_unload(cu_blas *b)
{
    if (b->h && b->destroy)
        b->destroy(b->h);
    if (b->workspace)
        cudaFree(b->workspace);
    if (b->lib)
        dlclose(b->lib);
    memset(b, 0, sizeof *b);
}

static void blas_load(cu_ctx *c)
{
    cu_blas *b = &c->blas;
    const char *env = getenv("HERD_CUDA_NO_CUBLAS");
    if (env && *env && strcmp(env, "0") != 0)
        return;
    static const char *names[] = { "libcublas.so.13", "libcublas.so.12", "libcublas.so" };
    const char *found = NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !b->lib; i++)
        if ((b->lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL)))
            found = names[i];
    if (!b->lib)
        return;
    snprintf(c->info, sizeof c->info, "%s", found);
#define SYM(field, name)                           \
    do {                                           \
        *(void **)&b->field = dlsym(b->lib, name); \
        if (!b->field) {                           \
            blas_unload(b);                        \
            return;                                \
        }                                          \
    } while (0)
    SYM(create, "cublasCreate_v2");
    SYM(destroy, "cublasDestroy_v2");
    SYM(set_stream, "cublasSetStream_v2");
    SYM(set_math_mode, "cublasSetMathMode");
    SYM(set_workspace, "cublasSetWorkspace_v2");
    SYM(gemm_ex, "cublasGemmEx");
#undef SYM
    if (b->create(&b->h) != CUBLAS_STATUS_SUCCESS) {
        b->h = NULL;
        blas_unload(b);
        return;
    }
    const size_t ws = (size_t)32 << 20;
    /* a fixed workspace keeps cuBLAS from allocating during stream capture; default math
     * (no TF32: F32 matmuls such as the MoE router stay exact to F32 rounding) */
    if (b->set_stream(b->h, c->stream) != CUBLAS_STATUS_SUCCESS ||
        b->set_math_mode(b->h, CUBLAS_DEFAULT_MATH) != CUBLAS_STATUS_SUCCESS ||
        cudaMalloc(&b->workspace, ws) != cudaSuccess ||
        b->set_workspace(b->h, b->workspace, ws) != CUBLAS_STATUS_SUCCESS) {
        cudaGetLastError();
        blas_unload(b);
    }
}

/* --- vtable -------------------------------------------------------------------------------- */

static const char *cu_name(herd_backend *be)
{
    (void)be;
    return "cuda";
}

static void drop_exec(cu_ctx *c)
{
    if (c->exec) {
        cudaGraphExecDestroy(c->exec);
        c->exec = NULL;
    }
    c->rec_prev_len = 0;
    c->rec_seen = 0;
}

static void cu_free(herd_backend *be)
{
    if (!be)
        return;
    cu_ctx *c = CTX(be);
    if (c) {
        cudaSetDevice(c->device);
        if (c->stream)
            cudaStreamSynchronize(c->stream);
        drop_exec(c);
        blas_unload(&c->blas);
        for (int i = 0; i < c->n_owned; i++) {
            cudaFree(c->owned[i]->d);
            free(c->owned[i]);
        }
        free(c->owned);
        cudaFree(c->arena);
        cudaFree(c->scratch);
        cudaFree(c->d_flag);
        cudaFreeHost(c->h_flag);
        cudaFreeHost(c->h_counts);
        for (int i = 0; i < 2; i++) {
            if (c->staging[i])
                cudaFreeHost(c->staging[i]);
            if (c->staging_ev[i])
                cudaEventDestroy(c->staging_ev[i]);
            if (c->ev[i])
                cudaEventDestroy(c->ev[i]);
        }
        if (c->stream)
            cudaStreamDestroy(c->stream);
        free(c->rec);
        free(c->rec_prev);
        free(c);
    }
    free(be);
}

static herd_status cu_buffer_alloc(herd_backend *be, size_t size, herd_buffer **out,
                                   herd_error *err)
{
    cu_ctx *c = CTX(be);
    cudaSetDevice(c->device);
    herd_buffer *b = (herd_buffer *)calloc(1, sizeof *b);
    if (!b)
        return herd_error_set(err, HERD_ERR_NOMEM, "out of memory");
    cudaError_t e = cudaMalloc(&b->d, size ? size : 1);
    if (e != cudaSuccess) {
        cudaGetLastError();
        free(b);
        size_t fr = 0, tot = 0;
        cudaMemGetInfo(&fr, &tot);
        return herd_error_set(
            err, HERD_ERR_NOMEM, "CUDA: cannot allocate %.2f GiB on %s (%.2f GiB free): %s",
            size / 1073741824.0, c->prop.name, fr / 1073741824.0, cudaGetErrorString(e));
    }
    b->size = size;
    /* zero it: KV caches and inputs must not start with garbage (NaN * 0 = NaN) */
    e = cudaMemsetAsync(b->d, 0, size, c->stream);
    if (e == cudaSuccess)
        e = cudaStreamSynchronize(c->stream);
    if (e != cudaSuccess) {
        cudaFree(b->d);
        free(b);
        return herd_error_set(err, HERD_ERR_DEVICE, "CUDA: %s", cudaGetErrorString(e));
    }
    *out = b;
    return HERD_OK;
}

static void cu_buffer_free(herd_backend *be, herd_buffer *buf)
{
    cu_ctx *c = CTX(be);
    if (!buf)
        return;
    cudaSetDevice(c->device);
    cudaStreamSynchronize(c->stream);
    /* a weight buffer freed by the caller (the op-test harness does) leaves the owned list */
    for (int i = 0; i < c->n_owned; i++)
        if (c->owned[i] == buf) {
            c->owned[i] = c->owned[--c->n_owned];
            break;
        }
    cudaFree(buf->d);
    free(buf);
}

static void cu_tensor_bind(herd_backend *be, herd_tensor *t, herd_buffer *buf, size_t offs)
{
    (void)be;
    t->buf = buf;
    t->offs = offs;
}

static herd_status tensor_range(cu_ctx *c, const herd_tensor *t, size_t offs, size_t n, char **p,
                                herd_error *err)
{
    *p = herd_cu_ptr(c, t);
    size_t nb = herd_tensor_nbytes(t);
    if (!*p)
        return herd_error_set(err, HERD_ERR_INVALID, "CUDA: tensor %s has no device memory",
                              t->name);
    if (offs > nb || n > nb - offs)
        return herd_error_set(err, HERD_ERR_INVALID,
                              "CUDA: %zu bytes at %zu exceed tensor %s "
                              "(%zu bytes)",
                              n, offs, t->name, nb);
    return HERD_OK;
}

static herd_status cu_tensor_set(herd_backend *be, herd_tensor *t, const void *src, size_t offs,
                                 size_t n, herd_error *err)
{
    cu_ctx *c = CTX(be);
    char *p;
    herd_status st = tensor_range(c, t, offs, n, &p, err);
    if (st || n == 0)
        return st;
    cudaSetDevice(c->device);
    /* from pageable memory: returns once src may be reused; ordered before the next graph */
    CU_CHECK(err, cudaMemcpyAsync(p + offs, src, n, cudaMemcpyHostToDevice, c->stream));
    return HERD_OK;
}

static herd_status cu_tensor_get(herd_backend *be, const herd_tensor *t, void *dst, size_t offs,
                                 size_t n, herd_error *err)
{
    cu_ctx *c = CTX(be);
    char *p;
    herd_status st = tensor_range(c, t, offs, n, &p, err);
    if (st || n == 0)
        return st;
    cudaSetDevice(c->device);
    CU_CHECK(err, cudaMemcpyAsync(dst, p + offs, n, cudaMemcpyDeviceToHost, c->stream));
    CU_CHECK(err, cudaStreamSynchronize(c->stream));
    return HERD_OK;
}

static herd_status own(cu_ctx *c, herd_buffer *b, herd_error *err)
{
    if (c->n_owned == c->cap_owned) {
        int cap = c->cap_owned ? c->cap_owned * 2 : 16;
        herd_buffer **o = (herd_buffer **)realloc(c->owned, (size_t)cap * sizeof *o);
        if (!o)
            return herd_error_set(err, HERD_ERR_NOMEM, "out of memory");
        c->owned = o;
        c->cap_owned = cap;
    }
    c->owned[c->n_owned++] = b;
    return HERD_OK;
}

static herd_status upload_bytes(cu_ctx *c, char *dst, const char *src, size_t n, size_t *done,
                                size_t total, bool (*progress)(float, void *), void *ud,
                                herd_error *err)
{
    static int slot;
    for (size_t o = 0; o < n;) {
        const size_t k = n - o < STAGING_SIZE ? n - o : STAGING_SIZE;
        if (c->staging[0] && c->staging[1]) {
            /* double-buffered: fill one pinned buffer while the other one is copied */
            slot ^= 1;
            CU_CHECK(err, cudaEventSynchronize(c->staging_ev[slot]));
            memcpy(c->staging[slot], src + o, k);
            CU_CHECK(err, cudaMemcpyAsync(dst + o, c->staging[slot], k, cudaMemcpyHostToDevice,
                                          c->stream));
            CU_CHECK(err, cudaEventRecord(c->staging_ev[slot], c->stream));
        } else {
            CU_CHECK(err, cudaMemcpy(dst + o, src + o, k, cudaMemcpyHostToDevice));
        }
        o += k;
        *done += k;
        if (progress && !progress((float)((double)*done / (double)total), ud))
            return herd_error_set(err, HERD_ERR_ABORTED, "weight upload cancelled");
    }
    return HERD_OK;
}

static herd_status cu_weights_upload(herd_backend *be, herd_tensor **w, int n,
                                     bool (*progress)(float, void *), void *ud, herd_error *err)
{
    cu_ctx *c = CTX(be);
    cudaSetDevice(c->device);
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        herd_tensor *t = w[i];
        if (!t || t->view_src || t->buf)
            continue;
        if (!t->data && !t->synth_seed)
            return herd_error_set(err, HERD_ERR_INVALID, "weight %s has no host data to upload",
                                  t->name);
        if (!herd_cu_type_ok(t->type))
            return herd_error_set(err, HERD_ERR_UNSUPPORTED,
                                  "the CUDA backend does not support "
                                  "%s weights (tensor '%s')",
                                  herd_type_name(t->type), t->name);
        total += align_up(herd_tensor_nbytes(t), WEIGHT_ALIGN);
    }
    if (total == 0) {
        if (progress)
            progress(1.0f, ud);
        return HERD_OK;
    }
    size_t fr = 0, tot = 0;
    CU_CHECK(err, cudaMemGetInfo(&fr, &tot));
    if (total + RESERVE_BYTES > fr)
        return herd_error_set(err, HERD_ERR_NOMEM,
                              "the model's weights need %.2f GiB but %s has %.2f GiB of device "
                              "memory free (%.2f GiB total; %.2f GiB are kept for the KV cache "
                              "and work memory); use a smaller quantisation or --backend cpu",
                              total / 1073741824.0, c->prop.name, fr / 1073741824.0,
                              tot / 1073741824.0, RESERVE_BYTES / 1073741824.0);
    if (!c->staging[0]) {
        for (int i = 0; i < 2; i++)
            if (cudaHostAlloc(&c->staging[i], STAGING_SIZE, cudaHostAllocDefault) != cudaSuccess) {
                cudaGetLastError();
                c->staging[i] = NULL;
            }
    }
    herd_buffer *b = (herd_buffer *)calloc(1, sizeof *b);
    if (!b)
        return herd_error_set(err, HERD_ERR_NOMEM, "out of memory");
    cudaError_t e = cudaMalloc(&b->d, total);
    if (e != cudaSuccess) {
        cudaGetLastError();
        free(b);
        return herd_error_set(err, HERD_ERR_NOMEM,
                              "CUDA: cannot allocate %.2f GiB for the "
                              "weights on %s: %s",
                              total / 1073741824.0, c->prop.name, cudaGetErrorString(e));
    }
    b->size = total;
    herd_status st = own(c, b, err);
    if (st) {
        cudaFree(b->d);
        free(b);
        return st;
    }
    size_t off = 0, done = 0;
    for (int i = 0; i < n && !st; i++) {
        herd_tensor *t = w[i];
        if (!t || t->view_src || t->buf)
            continue;
        const size_t nb = herd_tensor_nbytes(t);
        char *dst = (char *)b->d + off;
        if (t->data) {
            st = upload_bytes(c, dst, (const char *)t->data, nb, &done, total, progress, ud, err);
        } else {
            st = herd_cu_synth(c, t, dst, err);
            done += nb;
            if (!st && progress && !progress((float)((double)done / (double)total), ud))
                st = herd_error_set(err, HERD_ERR_ABORTED, "weight upload cancelled");
        }
        if (st)
            break;
        t->buf = b;
        t->offs = off;
        off += align_up(nb, WEIGHT_ALIGN);
    }
    cudaError_t se = cudaStreamSynchronize(c->stream);
    if (st)
        return st;
    if (se != cudaSuccess)
        return herd_error_set(err, HERD_ERR_DEVICE, "CUDA: weight upload: %s",
                              cudaGetErrorString(se));
    if (progress)
        progress(1.0f, ud);
    return HERD_OK;
}

static bool cu_supports_type(herd_backend *be, herd_type t)
{
    (void)be;
    return herd_cu_type_ok(t);
}

static size_t cu_mem_free(herd_backend *be)
{
    cu_ctx *c = CTX(be);
    size_t fr = 0, tot = 0;
    cudaSetDevice(c->device);
    if (cudaMemGetInfo(&fr, &tot) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return fr;
}

static void cu_profile_get(herd_backend *be, herd_op_profile *out, bool reset)
{
    cu_ctx *c = CTX(be);
    if (out)
        *out = c->prof;
    if (reset)
        memset(&c->prof, 0, sizeof c->prof);
}

/* --- graph execution ----------------------------------------------------------------------- */

typedef struct node_rec {
    int32_t op;
    int32_t type[HERD_MAX_SRC + 1];
    int32_t ip[8];
    float fp[4];
    uint64_t ptr[HERD_MAX_SRC + 1];
    int64_t ne[HERD_MAX_SRC + 1][4];
    uint64_t nb[HERD_MAX_SRC + 1][4];
} node_rec;

static herd_status build_record(cu_ctx *c, const herd_graph *g, herd_error *err)
{
    const size_t need = sizeof(uint64_t) * 3 + (size_t)g->n_nodes * sizeof(node_rec);
    if (need > c->rec_cap) {
        uint8_t *r = (uint8_t *)realloc(c->rec, need);
        if (!r)
            return herd_error_set(err, HERD_ERR_NOMEM, "out of memory");
        c->rec = r;
        c->rec_cap = need;
    }
    memset(c->rec, 0, need);
    uint64_t *hdr = (uint64_t *)c->rec;
    hdr[0] = (uint64_t)(uintptr_t)c->arena;
    hdr[1] = (uint64_t)(uintptr_t)c->scratch;
    hdr[2] = (uint64_t)g->n_nodes;
    node_rec *nr = (node_rec *)(hdr + 3);
    for (int i = 0; i < g->n_nodes; i++) {
        const herd_node *n = &g->nodes[i];
        node_rec *r = &nr[i];
        r->op = n->op;
        memcpy(r->ip, n->ip, sizeof r->ip);
        memcpy(r->fp, n->fp, sizeof r->fp);
        const herd_tensor *ts[HERD_MAX_SRC + 1] = { n->out, n->src[0], n->src[1], n->src[2],
                                                    n->src[3] };
        for (int j = 0; j <= HERD_MAX_SRC; j++) {
            if (!ts[j])
                continue;
            r->type[j] = ts[j]->type;
            r->ptr[j] = (uint64_t)(uintptr_t)herd_cu_ptr(c, ts[j]);
            for (int d = 0; d < 4; d++) {
                r->ne[j][d] = ts[j]->ne[d];
                r->nb[j][d] = ts[j]->nb[d];
            }
        }
    }
    c->rec_len = need;
    return HERD_OK;
}

static herd_status grow_dev(char **p, size_t *have, size_t need, const char *what, cu_ctx *c,
                            herd_error *err)
{
    if (need <= *have && *p)
        return HERD_OK;
    need = align_up(need + need / 8 + 1, (size_t)2 << 20);
    CU_CHECK(err, cudaStreamSynchronize(c->stream));
    drop_exec(c);
    cudaFree(*p);
    *p = NULL;
    *have = 0;
    cudaError_t e = cudaMalloc((void **)p, need);
    if (e != cudaSuccess) {
        cudaGetLastError();
        *p = NULL;
        size_t fr = 0, tot = 0;
        cudaMemGetInfo(&fr, &tot);
        return herd_error_set(err, HERD_ERR_NOMEM,
                              "CUDA: cannot allocate %.1f MiB for the %s "
                              "(%.1f MiB free)",
                              need / 1048576.0, what, fr / 1048576.0);
    }
    *have = need;
    return HERD_OK;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static herd_status run_nodes(cu_ctx *c, herd_graph *g, bool profile, herd_error *err)
{
    c->q8_src = NULL;
    for (int i = 0; i < g->n_nodes; i++) {
        const herd_node *n = &g->nodes[i];
        uint64_t t0 = 0;
        if (profile) {
            CU_CHECK(err, cudaStreamSynchronize(c->stream));
            t0 = now_ns();
            CU_CHECK(err, cudaEventRecord(c->ev[0], c->stream));
        }
        herd_status st = herd_cu_run_node(c, n, err);
        if (st) {
            if (err) {
                char msg[sizeof err->msg];
                memcpy(msg, err->msg, sizeof msg);
                snprintf(err->msg, sizeof err->msg, "node %d (%s, %s): %.400s", i,
                         herd_op_name(n->op), n->out ? n->out->name : "?", msg);
            }
            return st;
        }
        if (profile) {
            CU_CHECK(err, cudaEventRecord(c->ev[1], c->stream));
            CU_CHECK(err, cudaEventSynchronize(c->ev[1]));
            float ms = 0;
            uint64_t ns;
            if (cudaEventElapsedTime(&ms, c->ev[0], c->ev[1]) == cudaSuccess)
                ns = (uint64_t)((double)ms * 1e6);
            else
                ns = now_ns() - t0;
            c->prof.ns[n->op] += ns;
            c->prof.count[n->op]++;
        }
    }
    return HERD_OK;
}

static herd_status capture(cu_ctx *c, herd_graph *g, herd_error *err)
{
    cudaGraph_t graph = NULL;
    CU_CHECK(err, cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeThreadLocal));
    herd_status st = run_nodes(c, g, false, err);
    cudaError_t e = cudaStreamEndCapture(c->stream, &graph);
    if (st) {
        if (graph)
            cudaGraphDestroy(graph);
        return st;
    }
    if (e != cudaSuccess) {
        cudaGetLastError();
        return herd_error_set(err, HERD_ERR_DEVICE, "CUDA graph capture: %s",
                              cudaGetErrorString(e));
    }
    e = cudaGraphInstantiate(&c->exec, graph, 0);
    cudaGraphDestroy(graph);
    if (e != cudaSuccess) {
        cudaGetLastError();
        c->exec = NULL;
        return herd_error_set(err, HERD_ERR_DEVICE, "CUDA graph instantiate: %s",
                              cudaGetErrorString(e));
    }
    return HERD_OK;
}

static herd_status cu_graph_compute(herd_backend *be, herd_graph *g, herd_error *err)
{
    cu_ctx *c = CTX(be);
    herd_status st;
    if (g->oom)
        return herd_error_set(err, HERD_ERR_NOMEM, "graph construction ran out of memory");
    if (!g->last_use && g->n_nodes > 0)
        return herd_error_set(err, HERD_ERR_INVALID, "graph not planned (call herd_graph_plan)");
    if (g->n_nodes == 0)
        return HERD_OK;
    cudaSetDevice(c->device);
    if ((st = grow_dev(&c->arena, &c->arena_size, g->arena_size ? g->arena_size : 256, "arena", c,
                       err)))
        return st;
    size_t scratch = 256;
    bool syncs = false;
    for (int i = 0; i < g->n_nodes; i++) {
        const herd_node *n = &g->nodes[i];
        if (!n->out || !n->src[0])
            return herd_error_set(err, HERD_ERR_INVALID, "node %d (%s): missing tensors", i,
                                  herd_op_name(n->op));
        if ((n->op == HERD_OP_MUL_MAT || n->op == HERD_OP_MUL_MAT_ID) && !n->src[1])
            return herd_error_set(err, HERD_ERR_INVALID, "node %d: matmul without input", i);
        if (n->op == HERD_OP_MUL_MAT_ID && n->src[0]->ne[2] >= COUNTS_CAP)
            return herd_error_set(err, HERD_ERR_UNSUPPORTED, "node %d: too many experts", i);
        size_t s = herd_cu_node_scratch(c, n);
        scratch = s > scratch ? s : scratch;
        syncs = syncs || herd_cu_node_syncs(n);
    }
    if ((st = grow_dev(&c->scratch, &c->scratch_size, scratch, "scratch", c, err)))
        return st;
    if ((st = build_record(c, g, err)))
        return st;
    const bool profile = be->profile;
    const bool capturable = !profile && !syncs && !c->no_graph;
    const bool same =
        capturable && c->rec_prev_len == c->rec_len && memcmp(c->rec_prev, c->rec, c->rec_len) == 0;
    if (same && c->exec) {
        CU_CHECK(err, cudaGraphLaunch(c->exec, c->stream));
        c->n_replay++;
    } else if (same) {
        /* second run of the same graph: capture it (validated on the first run) */
        st = capture(c, g, err);
        if (st) {
            /* capture is an optimisation: run eagerly and stop trying */
            cudaGetLastError();
            drop_exec(c);
            c->no_graph = true;
            if ((st = run_nodes(c, g, false, err)))
                return st;
        } else {
            CU_CHECK(err, cudaGraphLaunch(c->exec, c->stream));
            c->n_capture++;
        }
        c->rec_seen++;
    } else {
        for (int i = 0; i < g->n_nodes; i++)
            if ((st = herd_cu_validate(c, &g->nodes[i], i, err)))
                return st;
        if ((st = run_nodes(c, g, profile, err)))
            return st;
        if (capturable) {
            drop_exec(c);
            uint8_t *t = c->rec_prev;
            size_t tc = c->rec_prev_cap;
            c->rec_prev = c->rec;
            c->rec_prev_cap = c->rec_cap;
            c->rec_prev_len = c->rec_len;
            c->rec = t;
            c->rec_cap = tc;
            c->rec_seen = 1;
        }
    }
    CU_CHECK(err,
             cudaMemcpyAsync(c->h_flag, c->d_flag, sizeof(int), cudaMemcpyDeviceToHost, c->stream));
    CU_CHECK(err, cudaMemsetAsync(c->d_flag, 0, sizeof(int), c->stream));
    cudaError_t e = cudaStreamSynchronize(c->stream);
    if (e != cudaSuccess)
        return herd_error_set(err, HERD_ERR_DEVICE, "CUDA: graph failed: %s",
                              cudaGetErrorString(e));
    if (profile)
        c->prof.graphs++;
    if (*c->h_flag)
        return herd_error_set(err, HERD_ERR_INVALID,
                              "graph read an index (row id, expert id or position) out of range");
    return HERD_OK;
}

static const herd_backend_iface cu_iface = {
    /* .name = */ cu_name,
    /* .free = */ cu_free,
    /* .buffer_alloc = */ cu_buffer_alloc,
    /* .buffer_free = */ cu_buffer_free,
    /* .tensor_bind = */ cu_tensor_bind,
    /* .tensor_set = */ cu_tensor_set,
    /* .tensor_get = */ cu_tensor_get,
    /* .weights_upload = */ cu_weights_upload,
    /* .supports_type = */ cu_supports_type,
    /* .graph_compute = */ cu_graph_compute,
    /* .mem_free = */ cu_mem_free,
    /* .profile_get = */ cu_profile_get,
};

/* --- init ---------------------------------------------------------------------------------- */

extern "C" int herd_cuda_list_devices(char names[][256], int max)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    for (int i = 0; i < n && i < max; i++) {
        cudaDeviceProp p;
        if (cudaGetDeviceProperties(&p, i) != cudaSuccess) {
            cudaGetLastError();
            snprintf(names[i], 256, "CUDA device %d (properties unavailable)", i);
            continue;
        }
        snprintf(names[i], 256, "%.200s [sm_%d%d, %.1f GiB]", p.name, p.major, p.minor,
                 p.totalGlobalMem / 1073741824.0);
    }
    return n;
}

extern "C" herd_backend *herd_backend_cuda_init(int device, herd_error *err)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        herd_error_set(err, HERD_ERR_DEVICE, "no CUDA device: %s",
                       e != cudaSuccess ? cudaGetErrorString(e) : "the driver reports none");
        cudaGetLastError();
        return NULL;
    }
    if (device < 0 || device >= n) {
        herd_error_set(err, HERD_ERR_DEVICE, "no CUDA device %d (there are %d)", device, n);
        return NULL;
    }
    herd_backend *be = (herd_backend *)calloc(1, sizeof *be);
    cu_ctx *c = (cu_ctx *)calloc(1, sizeof *c);
    if (!be || !c) {
        free(be);
        free(c);
        herd_error_set(err, HERD_ERR_NOMEM, "out of memory");
        return NULL;
    }
    be->iface = &cu_iface;
    be->kind = HERD_BACKEND_CUDA;
    be->n_threads = 1;
    be->ctx = c;
    c->device = device;
    const char *ng = getenv("HERD_CUDA_NO_GRAPH");
    c->no_graph = ng && *ng && strcmp(ng, "0") != 0;
#define INIT(call)                                                                  \
    do {                                                                            \
        cudaError_t e_ = (call);                                                    \
        if (e_ != cudaSuccess) {                                                    \
            herd_error_set(err, HERD_ERR_DEVICE, "CUDA device %d: %s (%s)", device, \
                           cudaGetErrorString(e_), #call);                          \
            cudaGetLastError();                                                     \
            cu_free(be);                                                            \
            return NULL;                                                            \
        }                                                                           \
    } while (0)
    INIT(cudaSetDevice(device));
    INIT(cudaGetDeviceProperties(&c->prop, device));
    INIT(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));
    INIT(cudaMalloc((void **)&c->d_flag, sizeof(int)));
    INIT(cudaMemset(c->d_flag, 0, sizeof(int)));
    INIT(cudaHostAlloc((void **)&c->h_flag, sizeof(int), cudaHostAllocDefault));
    INIT(cudaHostAlloc((void **)&c->h_counts, COUNTS_CAP * sizeof(int), cudaHostAllocDefault));
    for (int i = 0; i < 2; i++) {
        INIT(cudaEventCreateWithFlags(&c->staging_ev[i], cudaEventDisableTiming));
        INIT(cudaEventCreate(&c->ev[i]));
    }
#undef INIT
    *c->h_flag = 0;
    blas_load(c);
    char lib[64];
    snprintf(lib, sizeof lib, "%.60s", c->blas.h ? c->info : "");
    snprintf(c->info, sizeof c->info, "%.200s, sm_%d%d, %d SMs, %.1f GiB; GEMM: %s%s", c->prop.name,
             c->prop.major, c->prop.minor, c->prop.multiProcessorCount,
             c->prop.totalGlobalMem / 1073741824.0, c->blas.h ? "cuBLAS " : "built-in",
             c->blas.h ? lib : " (cuBLAS not found or disabled)");
    return be;
}

extern "C" bool herd_cuda_graph_stats(herd_backend *be, uint64_t *captures, uint64_t *replays)
{
    if (!be || be->kind != HERD_BACKEND_CUDA) {
        *captures = *replays = 0;
        return true;
    }
    *captures = CTX(be)->n_capture;
    *replays = CTX(be)->n_replay;
    return CTX(be)->no_graph;
}

extern "C" const char *herd_cuda_backend_info(herd_backend *be)
{
    return be && be->kind == HERD_BACKEND_CUDA ? CTX(be)->info : "";
}
