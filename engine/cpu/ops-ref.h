/* ops-ref.h: naive scalar reference for every op of backend.h.
 *
 * Single-threaded, straightforward loops with double accumulation, no activation quantization
 * (quantized weights are dequantized to F32 and multiplied in double). Operates on host tensors:
 * every tensor a node touches must resolve to host memory through herd_tensor_host() (the base of
 * each view chain has `data` set). In-place ops (SET_ROWS, KV_STORE) write through their
 * destination like the backends do. Used by the op tests of every backend.
 *
 * ROPE / ROPE_2D compute frequencies and angles in float exactly like the backends
 * (freq = powf(theta, -2i/n), angle = (float)pos * freq / factor) and cos/sin in double, so the
 * comparison isolates the kernels from the (intended) single-precision angle rounding.
 */
#pragma once

#include "../backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Computes n->out from n->src. HERD_ERR_UNSUPPORTED for an op/type it does not know,
 * HERD_ERR_INVALID for inconsistent shapes or tensors without host data. */
herd_status herd_ref_compute_node(const herd_node *n);

/* Reads element (i0, i1, i2, i3) of a host tensor of type F32, F16, BF16 or I32 as double. */
double herd_ref_get(const herd_tensor *t, int64_t i0, int64_t i1, int64_t i2, int64_t i3);

#ifdef __cplusplus
}
#endif
