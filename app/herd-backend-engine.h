/* herd-backend-engine.h: the worker's backend over Herd's own engine (engine/herd.h): loads a
 * llama4 GGUF with progress and cancel, keeps one session (its KV cache is reused across the
 * turns of a conversation), renders the conversation with the Llama 4 chat format and streams
 * the answer. With an mmproj, images of a turn are decoded, tiled and encoded (vision/) and
 * their embeddings take the places of the <|patch|> tokens; encoded images are cached by path. */
#pragma once

#include "herd-backend-iface.h"

G_BEGIN_DECLS

typedef struct herd_engine_backend_config {
    int n_threads; /* CPU threads; 0 = all cores */
    int n_ctx;     /* context tokens; 0 = min(model maximum, 8192) */
    int backend;   /* a herd_backend_kind (engine/backend.h); 0 = AUTO */
    int device;    /* GPU index */
    int max_tiles; /* image tile limit; 0 = 16 (Llama 4's) */
} herd_engine_backend_config;

/* config NULL: defaults. */
HerdBackend herd_engine_backend_new(const herd_engine_backend_config *config);

G_END_DECLS
