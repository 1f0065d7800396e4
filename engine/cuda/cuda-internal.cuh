/* cuda-internal.cuh: state of the CUDA backend shared by its .cu files, the error macro and
 * small device helpers. */
#pragma once

#include <cuda_runtime.h>
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#include <cublas_v2.h>
#include <stdint.h>

extern "C" { /* the engine headers are C (types.h has no C++ guard) */
#include "../backend.h"
}

#define CEIL_DIV(a, b) (((a) + (b)-1) / (b))

/* returns HERD_ERR_DEVICE from the calling function with the failing call's location */
#define CU_CHECK(err, call)                                                           \
    do {                                                                              \
        cudaError_t e_ = (call);                                                      \
        if (e_ != cudaSuccess)                                                        \
            return herd_error_set((err), HERD_ERR_DEVICE, "CUDA: %s (%s:%d: %s)",     \
                                  cudaGetErrorString(e_), __FILE__, __LINE__, #call); \
    } while (0)

struct herd_buffer {
    void *d;
    size_t size;
};

/* cuBLAS entry points, resolved with dlopen (no link-time dependency on libcublas) */
typedef struct cu_blas {
    void *lib;
    cublasHandle_t h;
    decltype(&cublasCreate_v2) create;
    decltype(&cublasDestroy_v2) destroy;
    decltype(&cublasSetStream_v2) set_stream;
    decltype(&cublasSetMathMode) set_math_mode;
    decltype(&cublasSetWorkspace_v2) set_workspace;
    cublasStatus_t (*gemm_ex)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                              const void *, const void *, cudaDataType, int, const void *,
                              cudaDataType, int, const void *, void *, cudaDataType, int,
                              cublasComputeType_t, cublasGemmAlgo_t);
    void *workspace;
} cu_blas;

typedef struct cu_ctx {
    int device;
    cudaDeviceProp prop;
    cudaStream_t stream;
    cu_blas blas; /* blas.h == NULL: built-in GEMM */
    char *arena;
    size_t arena_size;
    char *scratch; /* per-node temporaries (converted activations, weight tiles, ...) */
    size_t scratch_size;
    int *d_flag;   /* set by kernels that saw an index out of range */
    int *h_flag;   /* pinned */
    int *h_counts; /* pinned, MUL_MAT_ID prefill expert offsets */
    size_t h_counts_cap;
    void *staging[2]; /* pinned upload buffers */
    cudaEvent_t staging_ev[2];
    herd_buffer **owned; /* weight buffers */
    int n_owned, cap_owned;
    /* CUDA graph replay of a repeated graph (decode) */
    bool no_graph;
    uint8_t *rec, *rec_prev; /* node records of this and the last capturable graph */
    size_t rec_len, rec_prev_len, rec_cap, rec_prev_cap;
    int rec_seen; /* times rec_prev was run */
    cudaGraphExec_t exec;
    uint64_t n_capture, n_replay; /* herd_cuda_graph_stats */
    herd_op_profile prof;
    cudaEvent_t ev[2];
    /* int8 activations in the scratch from the previous matmul node (q/k/v and gate/up read the
     * same input): reused while only matmuls run in between */
    const void *q8_src;
    int q8_K, q8_M;
    size_t q8_xs;
    char info[320]; /* device, SM, memory, GEMM library (herd_cuda_backend_info) */
} cu_ctx;

/* device address of t (follows views; intermediates live in the arena); NULL if it has none */
char *herd_cu_ptr(cu_ctx *c, const herd_tensor *t);

/* scratch bytes a node needs (0 for most) */
size_t herd_cu_node_scratch(cu_ctx *c, const herd_node *n);
/* whether launching the node needs a host sync (prefill MUL_MAT_ID): such graphs are not
 * captured */
bool herd_cu_node_syncs(const herd_node *n);
/* validate a node (shapes, types): clear errors instead of wrong results */
herd_status herd_cu_validate(cu_ctx *c, const herd_node *n, int i, herd_error *err);
/* launch the node's kernels on c->stream */
herd_status herd_cu_run_node(cu_ctx *c, const herd_node *n, herd_error *err);
/* random weight blocks on the device (synthetic models): same scale conventions as the host
 * generator in model.c (values ~ U(-a, a) * 1.7 with a = 1/sqrt(ne[0]); valid f16 scales) */
herd_status herd_cu_synth(cu_ctx *c, const herd_tensor *t, void *dst, herd_error *err);
bool herd_cu_type_ok(herd_type t);
