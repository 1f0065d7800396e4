/* herd.h: the engine's public API — load a Llama 4 model, keep a session (KV cache), evaluate
 * tokens (with image embeddings in place of <|patch|> tokens), sample and stream text.
 *
 * Threads: a herd_model is immutable after loading and may be shared. A herd_session is used by
 * one thread at a time; herd_session_cancel() is the one call that is safe from any thread.
 * Ownership: every *_new/_load has a matching *_free that accepts NULL.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "herd-error.h"
#include "tokenizer.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct herd_model herd_model;
typedef struct herd_session herd_session;

/* Progress: fraction 0..1; return false to cancel (the call then fails with HERD_ERR_ABORTED). */
typedef bool (*herd_progress_cb)(float fraction, void *user_data);

typedef struct herd_model_params {
    herd_backend_kind backend; /* AUTO: best available, falling back to the CPU */
    int device;                /* GPU index */
    int n_threads;             /* CPU threads; 0 = all cores */
    bool profile;              /* per-op timings in the backend */
    herd_progress_cb progress;
    void *progress_data;
} herd_model_params;

herd_model_params herd_model_default_params(void);

/* Loads a llama4 text GGUF. Fails with one clear sentence for: missing/unreadable file (IO), not a
 * GGUF or corrupt (FORMAT), not general.architecture = llama4 or a tensor type the engine does
 * not compute (UNSUPPORTED, naming the type and tensor), not enough memory (NOMEM, with figures).
 */
herd_model *herd_model_load(const char *path, const herd_model_params *params, herd_error *err);

/* Named synthetic shapes for benchmarks: "mini", "scout", "maverick" (random weights of `type`,
 * generated in memory, no file). */
herd_model *herd_model_synthetic(const char *shape, herd_type type, const herd_model_params *params,
                                 herd_error *err);
/* Writes a model (e.g. a synthetic one) as a llama4 GGUF file. */
herd_status herd_model_save(const herd_model *m, const char *path, herd_error *err);
void herd_model_free(herd_model *m);

typedef struct herd_model_info {
    char name[128];          /* general.name or the file name */
    char arch[32];           /* "llama4" */
    char quant[32];          /* dominant weight type of the matrices, e.g. "Q4_K" */
    char backend[64];        /* backend name (with device) */
    int64_t n_params;        /* all parameters */
    int64_t n_params_active; /* read per token: attention, router, one expert + shared, head */
    size_t model_bytes;      /* bytes of all tensors */
    size_t weight_bytes_per_token; /* bytes of weights one decode step reads */
    int n_vocab, n_ctx_train, n_embd, n_layer, n_head, n_head_kv, head_dim;
    int n_expert, n_expert_used, n_ff_expert, n_ff_dense, moe_step;
    int chunk_size, temp_floor;
    bool qk_norm, rope_scaled;
} herd_model_info;

const herd_model_info *herd_model_get_info(const herd_model *m);
const herd_tokenizer *herd_model_tokenizer(const herd_model *m); /* NULL for synthetic models */
herd_backend *herd_model_backend(const herd_model *m);

typedef struct herd_session_params {
    int n_ctx;         /* context length (tokens); 0 = min(model maximum, 8192) */
    int n_batch;       /* prefill micro-batch; 0 = 512 on the CPU, 2048 on GPUs */
    herd_type kv_type; /* HERD_TYPE_F16 (default) or HERD_TYPE_F32 */
    unsigned ablate;   /* tests only: HERD_ABLATE_* flags switch a model feature off, to show
                          that the parity tests would catch its absence */
} herd_session_params;

#define HERD_ABLATE_CHUNK  1u /* RoPE layers attend causally to everything (no chunk mask) */
#define HERD_ABLATE_TEMP   2u /* no attention temperature tuning on NoPE layers */
#define HERD_ABLATE_ROUTER 4u /* every token goes to expert 0 (router logits ignored) */

herd_session_params herd_session_default_params(void);
herd_session *herd_session_new(herd_model *m, const herd_session_params *params, herd_error *err);
void herd_session_free(herd_session *s);
int herd_session_n_past(const herd_session *s);
int herd_session_n_ctx(const herd_session *s);
/* Bytes held by the KV cache and working buffers of this session. */
size_t herd_session_memory(const herd_session *s);

/* Forget everything after the first n tokens (regenerate, edit). */
void herd_session_rewind(herd_session *s, int n_past);

/* Image embeddings for the <|patch|> tokens of a prompt, in order of appearance:
 * rows[n_rows][n_embd] (n_embd of the text model). */
typedef struct herd_image_rows {
    const float *rows;
    int n_rows;
} herd_image_rows;

/* Evaluates tokens at positions n_past.. (prefill in micro-batches). `images` supplies one row per
 * <|patch|> token among `tokens` (it may be NULL when there are none). If logits is non-NULL it
 * receives the logits of the last token (all_logits: of every token, [n][n_vocab]).
 * progress(done/total) between micro-batches; cancel takes effect between micro-batches. */
herd_status herd_session_eval(herd_session *s, const int32_t *tokens, int n,
                              const herd_image_rows *images, float *logits, bool all_logits,
                              herd_progress_cb progress, void *progress_data, herd_error *err);

typedef struct herd_sampler_params {
    float temperature;    /* 0 = greedy */
    float top_p;          /* 1 = off */
    int top_k;            /* 0 = off */
    float min_p;          /* 0 = off */
    float repeat_penalty; /* 1 = off */
    int repeat_last_n;
    uint64_t seed;
} herd_sampler_params;

herd_sampler_params herd_sampler_default_params(void); /* Llama 4 defaults: T 0.6, top-p 0.9 */

typedef struct herd_gen_stats {
    int n_prompt;       /* tokens of the prompt */
    int n_prompt_eval;  /* of which evaluated (the rest came from the cache) */
    int n_gen;          /* tokens generated */
    double t_prompt_ms; /* prompt evaluation time */
    double t_gen_ms;    /* generation time after the first token */
    double ttft_ms;     /* time to first token */
    bool stopped_by_eos;
    bool cancelled;
} herd_gen_stats;

/* Called with each UTF-8-whole piece of text as it is generated (may be empty for a token that
 * only starts a character). The piece is the model's bytes: it is not NUL-terminated and may
 * hold NUL (a sampled <0x00> byte token). Return false to stop. */
typedef bool (*herd_piece_cb)(const char *piece, size_t len, int32_t token, void *user_data);
/* Called while the prompt is read: tokens done / total. */
typedef void (*herd_prompt_progress_cb)(int done, int total, void *user_data);

typedef struct herd_gen_params {
    herd_sampler_params sampling;
    int max_tokens; /* 0 = until a stop token or the context is full */
    herd_piece_cb on_piece;
    herd_prompt_progress_cb on_prompt_progress;
    void *user_data;
} herd_gen_params;

/* Generates an answer to a full prompt (token ids, image rows for its <|patch|> tokens). The
 * session keeps what it has evaluated: a prompt that starts with the same tokens (and images)
 * reuses them, so a chat only evaluates what is new. */
herd_status herd_generate(herd_session *s, const int32_t *prompt, int n_prompt,
                          const herd_image_rows *images, const herd_gen_params *params,
                          herd_gen_stats *stats, herd_error *err);

/* Thread-safe: the running eval/generate returns HERD_ERR_ABORTED within one token. */
void herd_session_cancel(herd_session *s);

/* Sampler on its own (used by herd_generate; exposed for tests and the CLI). */
typedef struct herd_sampler herd_sampler;
herd_sampler *herd_sampler_new(const herd_sampler_params *p, int n_vocab);
void herd_sampler_free(herd_sampler *smp);
void herd_sampler_accept(herd_sampler *smp, int32_t token);
int32_t herd_sampler_sample(herd_sampler *smp, const float *logits);
void herd_sampler_reset(herd_sampler *smp);

#ifdef __cplusplus
}
#endif
