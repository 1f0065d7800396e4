/* herd-backend-engine.h: the worker's backend over Herd's own engine (engine/herd.h): loads a
 * llama4 GGUF with progress and cancel, keeps one session (its KV cache is reused across the
 * turns of a conversation), renders the conversation with the Llama 4 chat format and streams
 * the answer. Image turns are refused with HERD_ERR_UNSUPPORTED until the vision encoder is
 * wired in (the mmproj path is accepted and ignored for now). */
#pragma once

#include "herd-backend-iface.h"

G_BEGIN_DECLS

typedef struct herd_engine_backend_config {
    int n_threads; /* CPU threads; 0 = all cores */
    int n_ctx;     /* context tokens; 0 = min(model maximum, 8192) */
    int backend;   /* a herd_backend_kind (engine/backend.h); 0 = AUTO */
    int device;    /* GPU index */
} herd_engine_backend_config;

/* config NULL: defaults. */
HerdBackend herd_engine_backend_new(const herd_engine_backend_config *config);

G_END_DECLS
