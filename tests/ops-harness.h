/* ops-harness.h: run op graphs on any backend and compare them with the scalar reference
 * (engine/cpu/ops-ref.h). Used by test-ops (CPU) and the GPU backends' op tests.
 *
 * A case: oh_begin(), make inputs with oh_input/oh_weight/oh_ids (random or given data), build
 * nodes with the graph builders on h->g, then oh_check(h, out, tol, name). The graph is planned,
 * run on the backend, read back, then the reference runs every node in order on host copies of
 * the inputs. Error metric: max |got - ref| / max(max |ref|, 1e-6) over the output ("normalized
 * max error"); I32 outputs must match exactly. With a second backend (`be2`), the same graph is
 * run again there and must give bit-identical output (used for 1 vs 2 CPU threads).
 *
 * Contract for GPU backends: inputs are STATE tensors bound with tensor_bind to one buffer each
 * and filled with tensor_set; weights are WEIGHT tensors with host `data` (like the mmap) passed
 * to weights_upload before every run (fresh tensor structs each case). After a case the harness
 * frees each distinct t->buf that weights_upload left on its weight tensors (buffer_free).
 * The output is read with tensor_get, also when it is a view (in-place SET_ROWS / KV_STORE
 * return a view of their destination).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "engine/backend.h"

#define OH_MAX_INPUTS 16

typedef struct oh_input_rec {
    herd_tensor *t;
    herd_buffer *buf; /* backend buffer (STATE inputs) */
    void *host;       /* pristine host copy */
    size_t size;
} oh_input_rec;

typedef struct oh {
    herd_backend *be;
    herd_backend *be2; /* optional: must reproduce be's output bit for bit */
    const char *label;
    herd_graph *g;
    oh_input_rec in[OH_MAX_INPUTS];
    int n_in;
    uint64_t rng;
    int n_run, n_fail, n_skip;
    bool verbose;
    double worst[HERD_OP_COUNT]; /* worst error/tolerance ratio seen per op */
} oh;

void oh_init(oh *h, herd_backend *be, herd_backend *be2, const char *label, uint64_t seed);
void oh_begin(oh *h);
float oh_randf(oh *h); /* uniform in [-1, 1) */
/* STATE tensor in a backend buffer: random F32/F16 values * scale, or the given data (type's
 * layout, contiguous) when data != NULL. */
herd_tensor *oh_input(oh *h, herd_type type, int nd, const int64_t *ne, float scale,
                      const void *data);
/* WEIGHT tensor in host memory (like the mmap): random values * scale quantized to type. */
herd_tensor *oh_weight(oh *h, herd_type type, int nd, const int64_t *ne, float scale);
/* I32 STATE tensor of n values */
herd_tensor *oh_ids(oh *h, int n, const int32_t *vals);
/* Runs and compares; frees the case. Returns true if it passed (or was skipped because the
 * backend does not support a weight type: counted in n_skip). */
bool oh_check(oh *h, herd_tensor *out, double tol, const char *name);
/* Frees the current case without running it. */
void oh_abort(oh *h);

/* Every op with odd shapes, all weight types, masks, rings, GQA: returns the number of failed
 * cases (0 = all passed) and prints one line per case (and a summary). */
int run_all_op_tests(herd_backend *be, herd_backend *be2, const char *label);
