/* model.h (private): the Llama 4 text model — hyperparameters, weights, forward graph. */
#pragma once

#include "backend.h"
#include "gguf.h"
#include "herd.h"

typedef struct llama4_hparams {
    int n_vocab, n_ctx_train, n_embd, n_layer;
    int n_head, n_head_kv, head_dim;
    int n_ff_dense, n_ff_expert, n_expert, n_expert_used, moe_step;
    float rms_eps, rope_theta;
    int rope_dims;
    int chunk_size;    /* chunked attention window on RoPE layers (8192 by convention) */
    int nope_interval; /* every nope_interval-th layer is NoPE: (l+1) % interval == 0 */
    int temp_floor;    /* attention temperature tuning floor (8192) */
    float temp_scale;  /* 0.1 */
    bool qk_norm;      /* weightless RMS norm of q and k on RoPE layers (Scout yes, Maverick no) */
} llama4_hparams;

typedef struct llama4_layer {
    herd_tensor attn_norm, wq, wk, wv, wo, ffn_norm;
    bool moe, nope;
    /* MoE */
    herd_tensor gate_inp, gate_exps, up_exps, down_exps, gate_shexp, up_shexp, down_shexp;
    /* dense */
    herd_tensor ffn_gate, ffn_up, ffn_down;
} llama4_layer;

struct herd_model {
    herd_gguf *gguf; /* NULL for synthetic models */
    llama4_hparams hp;
    herd_tensor tok_embd, output_norm, output, rope_freqs;
    bool has_rope_freqs;
    llama4_layer *layers;
    herd_tokenizer *tok;
    herd_backend *be;
    herd_model_info info;
    void *synthetic_data; /* owned host memory of a synthetic model's weights */
    size_t synthetic_size;
    herd_tensor **all_weights; /* every weight tensor (for upload / save) */
    int n_weights;
};

/* Fills info's derived figures (params, bytes per token) from the weights. */
void llama4_compute_info(herd_model *m);
/* Validates hyperparameters and tensor shapes; binds all weights (already with data). */
herd_status llama4_check(const herd_model *m, herd_error *err);
/* Collects the weight tensors into m->all_weights. */
herd_status llama4_collect_weights(herd_model *m, herd_error *err);
