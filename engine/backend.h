/* backend.h: tensors, the op graph, and the interface every compute backend implements.
 *
 * The model code (text decoder, vision encoder) builds a graph of op nodes for one forward pass
 * and hands it to a backend whole. A backend owns buffers (host memory, a Vulkan allocation,
 * a CUDA allocation); tensors are views into them. Model code never branches on the backend.
 *
 * Conventions (ggml's): ne[0] is the contiguous dimension; nb[i] are byte strides; a weight
 * matrix of `out` rows of `in` values has ne = {in, out}. Every op below states its shapes as
 * ne lists. Unless an op says otherwise, its inputs must be contiguous (herd_tensor_is_contiguous)
 * and all non-weight tensors are F32 (I32 for ids/positions).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "herd-error.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HERD_MAX_DIMS 4
#define HERD_MAX_SRC  4

typedef struct herd_backend herd_backend;
typedef struct herd_buffer herd_buffer;

typedef enum herd_tensor_kind {
    HERD_TENSOR_INTERMEDIATE = 0, /* produced by a node; memory planned by the backend per graph */
    HERD_TENSOR_WEIGHT,           /* model weights: host data (mmap) and/or uploaded buffer */
    HERD_TENSOR_STATE,            /* persistent backend buffer: KV cache, graph inputs/outputs */
} herd_tensor_kind;

typedef struct herd_tensor {
    herd_type type;
    int64_t ne[HERD_MAX_DIMS];
    size_t nb[HERD_MAX_DIMS];
    herd_tensor_kind kind;
    void *data;       /* host address when host-visible (CPU backend, mmapped weights), else NULL */
    herd_buffer *buf; /* owning backend buffer (NULL for host-only weights) */
    size_t offs;      /* byte offset in buf (or, for intermediates, in the graph arena) */
    struct herd_tensor *view_src; /* non-NULL: this tensor is a view of view_src at view_offs */
    size_t view_offs;
    int32_t node; /* index of the producing node in its graph, -1 if none */
    char name[48];
    /* Synthetic weights (benchmarks): a WEIGHT with data == NULL and synth_seed != 0 is filled
     * by weights_upload with random values from this seed on the device (same scale conventions
     * as model.c's host generator: values ~ 1.7·U(-a, a), a = 1/sqrt(ne[0]), valid f16 block
     * scales). Only backends that can (CUDA) get such tensors; 0 = none. */
    uint64_t synth_seed;
} herd_tensor;

typedef enum herd_op {
    HERD_OP_NONE = 0,
    /* out[D, n] = table[:, ids[i]] (table any compute type, dequantized to F32); ids I32[n] */
    HERD_OP_GET_ROWS,
    /* dst[D, n] rows idx[j] = src[:, j], written in place (dst is src[0], out aliases it);
     * src[0] dst F32[D, n], src[1] rows F32[D, m], src[2] idx I32[m]. Used for image embeddings. */
    HERD_OP_SET_ROWS,
    /* out[N, M] = W[K, N]^T x[K, M]; W any compute type; x F32. (ggml mul_mat) */
    HERD_OP_MUL_MAT,
    /* MoE: out[N, M] = W[K, N, ids[m]]^T x[K, m] per column m; W [K, N, E]; ids I32[M] (top-1) */
    HERD_OP_MUL_MAT_ID,
    /* out = x / sqrt(mean(x^2) + eps) [* w] over ne[0]; src[1] optional weight F32[ne0]. fp[0]=eps
     */
    HERD_OP_RMS_NORM,
    /* out = (x - mean)/sqrt(var + eps) * w + b over ne[0]; src[1] w, src[2] b (optional). fp[0]=eps
     */
    HERD_OP_LAYER_NORM,
    /* 1-D rope on x[hd, H, T], adjacent pairs (2i, 2i+1); src[1] pos I32[T]; src[2] optional
     * freq factors F32[hd/2] (angle divided by factor); ip[0] = n_dims rotated (<= hd),
     * fp[0] = theta base. freq_i = theta^(-2i/n_dims). */
    HERD_OP_ROPE,
    /* 2-D rope for vision on x[hd, H, T]: pairs 0..hd/4-1 rotate by px*phi_i, pairs hd/4..hd/2-1 by
     * py*phi_(i-hd/4), phi_j = theta^(-2j/(hd/2)); src[1] pos I32[2, T] = (px, py) per token
     * (Llama 4 uses 1-based patch coordinates; the CLS token gets (0, 0), i.e. no rotation).
     * fp[0] = theta. */
    HERD_OP_ROPE_2D,
    /* Attention. q F32[hd, Hq, T]; src[1] K [hd, Hkv, S] and src[2] V [hd, Hkv, S] (F32 or F16;
     * a KV cache or plain tensors); src[3] qpos I32[T] (absolute positions of the queries; may be
     * NULL for mask NONE). GQA: query head h uses KV head h / (Hq/Hkv).
     * ip[0] = mask: 0 NONE (every query sees keys 0..ip[2]-1), 1 CAUSAL (keys at positions
     *         0..p), 2 CHUNKED (keys at positions floor(p/C)*C..p, C = ip[1]).
     * ip[2] = n_kv for NONE; ip[3] = ring size R: key at position s lives in slot s % R (R = S
     *         for a plain cache).
     * ip[4] = temperature floor F (0: off): q scaled by 1 + fp[1]*ln(floor((p+1)/F) + 1).
     * fp[0] = softmax scale. out F32[hd, Hq, T]. Softmax in F32, max-subtracted. */
    HERD_OP_ATTENTION,
    /* Write src[0] F32[hd, Hkv, T] into cache src[1] [hd, Hkv, S] (F32/F16) at slots
     * pos[t] % ip[0]; src[2] pos I32[T]. out aliases the cache (no new memory). */
    HERD_OP_KV_STORE,
    /* row softmax over ne[0] (F32), fp[0] = scale applied before */
    HERD_OP_SOFTMAX,
    /* elementwise with broadcast: b's ne[i] is either a's ne[i] or 1 */
    HERD_OP_ADD,
    HERD_OP_MUL,
    /* out = x * fp[0] */
    HERD_OP_SCALE,
    HERD_OP_SILU,
    HERD_OP_GELU, /* exact erf form */
    HERD_OP_SIGMOID,
    /* out = silu(a) * b, a and b same shape */
    HERD_OP_SWIGLU,
    /* MoE router, top-1: logits F32[E, T] -> out I32[T] = argmax (lowest index on ties) */
    HERD_OP_ARGMAX,
    /* out F32[1, T] = sigmoid(logits[ids[t], t]); src[0] logits F32[E, T], src[1] ids I32[T] */
    HERD_OP_SELECT_SIGMOID,
    /* copy any (strided/permuted view) src into a contiguous out of out's type (F32/F16) */
    HERD_OP_CPY,
    /* out = concat(a, b) along dim ip[0] */
    HERD_OP_CONCAT,
    HERD_OP_COUNT
} herd_op;

typedef struct herd_node {
    herd_op op;
    herd_tensor *out;
    herd_tensor *src[HERD_MAX_SRC];
    int32_t ip[8];
    float fp[4];
} herd_node;

/* A graph: the nodes of one forward pass, in execution order, plus the tensor structs it made.
 * Built by the model code with the builders below; run with herd_backend_compute(). */
typedef struct herd_graph {
    herd_node *nodes;
    int n_nodes, cap_nodes;
    herd_tensor **tensors; /* every tensor struct the graph allocated (owned) */
    int n_tensors, cap_tensors;
    bool oom; /* an allocation failed while building: the graph is unusable */
    /* filled by herd_graph_plan(): */
    size_t arena_size; /* bytes of intermediate memory, intermediates' offs are set */
    int32_t *last_use; /* per tensor index: last node reading it (internal) */
} herd_graph;

/* --- tensors --- */
size_t herd_tensor_nbytes(const herd_tensor *t);
int64_t herd_tensor_nelements(const herd_tensor *t);
bool herd_tensor_is_contiguous(const herd_tensor *t);
/* Fills ne/nb for a contiguous tensor. */
void herd_tensor_init(herd_tensor *t, herd_type type, int n_dims, const int64_t *ne);
/* Address of the host-visible data of t (follows views); NULL if not host-visible. */
void *herd_tensor_host(const herd_tensor *t);
/* The base tensor a view chain ends at, and the total offset into it. */
const herd_tensor *herd_tensor_base(const herd_tensor *t, size_t *offs);

/* --- graph building (each returns the op's output tensor; NULL only if g->oom) --- */
herd_graph *herd_graph_new(int max_nodes);
void herd_graph_free(herd_graph *g);
herd_tensor *herd_graph_tensor(herd_graph *g, herd_type type, int n_dims, const int64_t *ne);
/* views share memory with t (no node): reshape needs t contiguous */
herd_tensor *herd_reshape(herd_graph *g, herd_tensor *t, int n_dims, const int64_t *ne);
herd_tensor *herd_view(herd_graph *g, herd_tensor *t, int n_dims, const int64_t *ne,
                       const size_t *nb, size_t offs);
/* permute: out dim perm[i] = in dim i (ggml_permute semantics) */
herd_tensor *herd_permute(herd_graph *g, herd_tensor *t, int p0, int p1, int p2, int p3);

herd_tensor *herd_get_rows(herd_graph *g, herd_tensor *table, herd_tensor *ids);
herd_tensor *herd_set_rows(herd_graph *g, herd_tensor *dst, herd_tensor *rows, herd_tensor *idx);
herd_tensor *herd_mul_mat(herd_graph *g, herd_tensor *w, herd_tensor *x);
herd_tensor *herd_mul_mat_id(herd_graph *g, herd_tensor *w, herd_tensor *x, herd_tensor *ids);
herd_tensor *herd_rms_norm(herd_graph *g, herd_tensor *x, herd_tensor *w, float eps);
herd_tensor *herd_layer_norm(herd_graph *g, herd_tensor *x, herd_tensor *w, herd_tensor *b,
                             float eps);
herd_tensor *herd_rope(herd_graph *g, herd_tensor *x, herd_tensor *pos, herd_tensor *freq_factors,
                       int n_dims, float theta);
herd_tensor *herd_rope_2d(herd_graph *g, herd_tensor *x, herd_tensor *pos2, float theta);
typedef struct herd_attn_params {
    int mask;         /* 0 none, 1 causal, 2 chunked */
    int chunk;        /* chunk size for mask 2 */
    int n_kv;         /* for mask 0 */
    int ring;         /* slots in the cache: key position s is in slot s % ring */
    int temp_floor;   /* 0: no temperature tuning */
    float temp_scale; /* 0.1 for Llama 4 */
    float scale;      /* softmax scale, 1/sqrt(hd) */
} herd_attn_params;
herd_tensor *herd_attention(herd_graph *g, herd_tensor *q, herd_tensor *k, herd_tensor *v,
                            herd_tensor *qpos, const herd_attn_params *p);
herd_tensor *herd_kv_store(herd_graph *g, herd_tensor *src, herd_tensor *cache, herd_tensor *pos,
                           int ring);
herd_tensor *herd_softmax(herd_graph *g, herd_tensor *x, float scale);
herd_tensor *herd_add(herd_graph *g, herd_tensor *a, herd_tensor *b);
herd_tensor *herd_mul(herd_graph *g, herd_tensor *a, herd_tensor *b);
herd_tensor *herd_scale(herd_graph *g, herd_tensor *x, float s);
herd_tensor *herd_silu(herd_graph *g, herd_tensor *x);
herd_tensor *herd_gelu(herd_graph *g, herd_tensor *x);
herd_tensor *herd_sigmoid(herd_graph *g, herd_tensor *x);
herd_tensor *herd_swiglu(herd_graph *g, herd_tensor *a, herd_tensor *b);
herd_tensor *herd_argmax(herd_graph *g, herd_tensor *logits);
herd_tensor *herd_select_sigmoid(herd_graph *g, herd_tensor *logits, herd_tensor *ids);
herd_tensor *herd_cpy(herd_graph *g, herd_tensor *src, herd_type type);
/* CPY into an existing tensor (e.g. a persistent output): out is a view of dst */
herd_tensor *herd_cpy_to(herd_graph *g, herd_tensor *src, herd_tensor *dst);
herd_tensor *herd_concat(herd_graph *g, herd_tensor *a, herd_tensor *b, int dim);

/* Assigns arena offsets to intermediates, reusing memory of tensors no longer read (liveness).
 * Tensors in `keep` (e.g. the logits) are never reused. Alignment in bytes. */
herd_status herd_graph_plan(herd_graph *g, herd_tensor **keep, int n_keep, size_t align,
                            herd_error *err);
const char *herd_op_name(herd_op op);
/* The backend-independent rules of node n (index i): the shapes and types each op's comment
 * above states. Backends call it before running a graph and add their own limits. */
herd_status herd_node_check(const herd_node *n, int i, herd_error *err);

/* --- backends --- */
typedef enum herd_backend_kind {
    HERD_BACKEND_AUTO = 0,
    HERD_BACKEND_CPU,
    HERD_BACKEND_VULKAN,
    HERD_BACKEND_CUDA,
} herd_backend_kind;

/* Per-op timings of a backend (be->profile): wall time of each node from the end of the previous
 * node to its end (all threads / the device finished), summed per op kind. */
typedef struct herd_op_profile {
    uint64_t ns[HERD_OP_COUNT];
    uint64_t count[HERD_OP_COUNT]; /* nodes run */
    uint64_t graphs;               /* graph_compute calls while profiling */
} herd_op_profile;

typedef struct herd_backend_iface {
    const char *(*name)(herd_backend *be);
    void (*free)(herd_backend *be);
    /* persistent buffers (KV cache, inputs/outputs, uploaded weights) */
    herd_status (*buffer_alloc)(herd_backend *be, size_t size, herd_buffer **out, herd_error *err);
    void (*buffer_free)(herd_backend *be, herd_buffer *buf);
    /* bind t (kind STATE or WEIGHT) to buf at offs; sets t->buf, t->offs (and t->data if host) */
    void (*tensor_bind)(herd_backend *be, herd_tensor *t, herd_buffer *buf, size_t offs);
    herd_status (*tensor_set)(herd_backend *be, herd_tensor *t, const void *src, size_t offs,
                              size_t n, herd_error *err);
    herd_status (*tensor_get)(herd_backend *be, const herd_tensor *t, void *dst, size_t offs,
                              size_t n, herd_error *err);
    /* Make weights usable by the backend. CPU: nothing (reads the mmap in place). GPU: upload
     * each tensor's host data once (progress 0..1 through the callback; return false to cancel). */
    herd_status (*weights_upload)(herd_backend *be, herd_tensor **w, int n,
                                  bool (*progress)(float, void *), void *ud, herd_error *err);
    bool (*supports_type)(herd_backend *be, herd_type wtype);
    /* run the whole graph (already planned); returns when outputs are readable with tensor_get */
    herd_status (*graph_compute)(herd_backend *be, herd_graph *g, herd_error *err);
    /* bytes of device memory free (for budget checks); 0 if unknown */
    size_t (*mem_free)(herd_backend *be);
    /* optional (NULL: no profiling): per-op totals accumulated by graph_compute while
     * be->profile is set; copies them to *out (if non-NULL), then clears them if reset */
    void (*profile_get)(herd_backend *be, struct herd_op_profile *out, bool reset);
} herd_backend_iface;

struct herd_backend {
    const herd_backend_iface *iface;
    herd_backend_kind kind;
    int n_threads;
    bool profile;
    void *ctx;
};

typedef struct herd_backend_params {
    herd_backend_kind kind;
    int device;    /* GPU index */
    int n_threads; /* CPU threads (0: all cores) */
    bool profile;  /* per-op timings (reported through herd_backend_profile_report) */
} herd_backend_params;

/* Create a backend. A GPU kind that is not built or has no device fails with a clear message;
 * callers that want a fallback call again with HERD_BACKEND_CPU (herd_backend_init_auto does). */
herd_backend *herd_backend_init(const herd_backend_params *p, herd_error *err);
herd_backend *herd_backend_init_auto(const herd_backend_params *p, char *note, size_t note_len,
                                     herd_error *err);
void herd_backend_free(herd_backend *be);
/* Per-op profile (false if the backend has none); reset clears the totals after copying. */
bool herd_backend_profile_get(herd_backend *be, herd_op_profile *out, bool reset);
/* Writes a table of the profile (op, nodes, total ms, us per node, share) to f, sorted by time. */
void herd_backend_profile_report(herd_backend *be, FILE *f);
const char *herd_backend_kind_name(herd_backend_kind k);
int herd_backend_kind_from_name(const char *name); /* -1 if unknown */

/* Devices a backend kind can use (GPU names; the CPU model for CPU). Returns how many were
 * written to names (0 when the kind is not built or finds none). */
int herd_backend_list_devices(herd_backend_kind kind, char names[][256], int max);
/* Whether a backend kind is compiled into this build. */
bool herd_backend_built(herd_backend_kind kind);

/* The CPU backend (always built). */
herd_backend *herd_backend_cpu_init(int n_threads, herd_error *err);

#ifdef __cplusplus
}
#endif
