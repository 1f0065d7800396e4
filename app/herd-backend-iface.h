/* herd-backend-iface.h: what the worker needs from an inference engine, as a small vtable.
 *
 * The worker (herd-worker.c) owns one backend and calls load/generate on its own thread only,
 * one call at a time. cancel may be called from any thread at any time; it makes a running
 * load or generate return HERD_ERR_ABORTED soon (between prefill batches / tokens). load and
 * generate clear a cancel that came before they started (the worker keeps its own cancel
 * state for that case). Callbacks run on the worker thread; returning false from one stops
 * the call, which then returns HERD_ERR_ABORTED.
 *
 * Implementations: herd-backend-fake.c (scripted pieces, for tests) and, once engine/herd.h
 * lands, one over the real engine. */
#pragma once

#include "herd-error.h"
#include "herd-types.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

G_BEGIN_DECLS

typedef struct HerdBackendTurn {
    HerdMessageRole role;
    const char *text;
    const char *const *image_paths; /* n_images stored image files, in order */
    size_t n_images;
} HerdBackendTurn;

typedef struct HerdBackendSampling {
    float temperature; /* 0 = greedy */
    float top_p;       /* 1 = off */
    int top_k;         /* 0 = off */
    uint64_t seed;
    int max_tokens; /* 0 = until end of turn or context */
} HerdBackendSampling;

typedef struct HerdBackendRequest {
    const HerdBackendTurn *turns; /* the conversation so far, oldest first */
    size_t n_turns;
    HerdBackendSampling sampling;
} HerdBackendRequest;

typedef struct HerdBackendCallbacks {
    /* Prefill progress in prompt tokens. */
    bool (*prompt_progress)(int done, int total, void *user);
    /* One decoded piece of the answer: whole UTF-8 characters (possibly empty), not
     * NUL-terminated. */
    bool (*piece)(const char *text, size_t len, void *user);
    void *user;
} HerdBackendCallbacks;

typedef struct HerdBackendStats {
    int n_prompt_tokens;
    int n_gen_tokens;
    double prompt_ms; /* prefill time */
    double gen_ms;    /* decode time */
} HerdBackendStats;

typedef struct HerdBackendVTable {
    const char *name;
    herd_status (*load)(void *impl, const char *model_path, const char *mmproj_path,
                        bool (*progress)(float fraction, void *user), void *user, herd_error *err);
    herd_status (*generate)(void *impl, const HerdBackendRequest *req,
                            const HerdBackendCallbacks *cb, HerdBackendStats *stats,
                            herd_error *err);
    void (*cancel)(void *impl);
    void (*free)(void *impl);
} HerdBackendVTable;

typedef struct HerdBackend {
    const HerdBackendVTable *vt;
    void *impl;
} HerdBackend;

G_END_DECLS
