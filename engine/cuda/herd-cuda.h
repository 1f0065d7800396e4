/* herd-cuda.h: entry points of the CUDA backend beyond herd_backend_iface (C boundary; the
 * implementation is C++/CUDA: engine/cuda/cuda-backend.cu, cuda-ops.cu). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "../backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* device: CUDA device index. With no driver or no device this fails with
 * "no CUDA device: <reason>" (never a crash); herd_backend_init_auto then falls back.
 * Environment: HERD_CUDA_NO_CUBLAS=1 uses the built-in GEMM instead of cuBLAS (which is loaded
 * at run time with dlopen: libcublas.so.13, .12 or .so), HERD_CUDA_NO_GRAPH=1 disables CUDA graph
 * replay of repeated graphs. */
herd_backend *herd_backend_cuda_init(int device, herd_error *err);

/* Fills up to max names ("NVIDIA H100 80GB HBM3 [sm_90, 79.1 GiB]"); returns how many devices
 * there are (0 when there is no driver or device). */
int herd_cuda_list_devices(char names[][256], int max);

/* "NVIDIA H100 80GB HBM3, sm_90, 132 SMs, 79.1 GiB; GEMM: cuBLAS libcublas.so.13" */
const char *herd_cuda_backend_info(herd_backend *be);

/* CUDA graph replay counters since init: graphs captured, replays (cudaGraphLaunch of a
 * captured graph); returns whether replay is disabled (HERD_CUDA_NO_GRAPH or a failed capture). */
bool herd_cuda_graph_stats(herd_backend *be, uint64_t *captures, uint64_t *replays);

/* Test hook: decodes n values of quantized blocks on the host with the kernels' own block
 * decoder (the chunk walk of the matrix-vector and dequantization kernels); returns 0 if the type
 * has none. Lets the block layouts be checked against quant.c without a GPU. */
int herd_cu_host_dequantize(herd_type t, const void *src, int64_t n, float *out);
/* Test hook: the int8 decode path on the host (activations quantized per 32 like the kernel,
 * the kernel's integer dot per 8-value chunk): *out = dot(row of n values at w, x). */
int herd_cu_host_dot(herd_type t, const void *w, const float *x, int64_t n, double *out);
/* Test hook: key positions [*s0, *s1] split sp of nsplit of the attention kernel visits for a
 * query at position p (mask, chunk C, n_kv, ring R as in HERD_OP_ATTENTION). */
void herd_cu_host_attn_range(int mask, int C, int nkv, int R, int p, int nsplit, int sp, int *s0,
                             int *s1);

#ifdef __cplusplus
}
#endif
