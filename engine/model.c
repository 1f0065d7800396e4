/* model.c: loading a Llama 4 text model from GGUF (spec §1, §7) and the synthetic benchmark
 * shapes. The forward graph is in session.c. */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "quant.h"

herd_model_params herd_model_default_params(void)
{
    herd_model_params p = { 0 };
    p.backend = HERD_BACKEND_AUTO;
    return p;
}

/* ------------------------------------------------------------------------------------------ */
/* hyperparameters */

static bool get_u32(const herd_gguf *g, const char *key, int *out, bool required, herd_error *err)
{
    uint32_t v;
    if (herd_gguf_get_u32(g, key, &v)) {
        if (v > INT32_MAX) {
            herd_error_set(err, HERD_ERR_FORMAT, "%s: key %s = %u is out of range",
                           herd_gguf_path(g), key, v);
            return false;
        }
        *out = (int)v;
        return true;
    }
    if (required) {
        herd_error_set(err, HERD_ERR_FORMAT, "%s: missing or mistyped key %s", herd_gguf_path(g),
                       key);
        return false;
    }
    return true;
}

static herd_status read_hparams(const herd_gguf *g, llama4_hparams *hp, herd_error *err)
{
    const char *arch;
    size_t arch_len;
    if (!herd_gguf_get_str(g, "general.architecture", &arch, &arch_len))
        return herd_error_set(err, HERD_ERR_UNSUPPORTED,
                              "%s: no general.architecture: not a model GGUF", herd_gguf_path(g));
    if (arch_len != 6 || memcmp(arch, "llama4", 6) != 0)
        return herd_error_set(err, HERD_ERR_UNSUPPORTED,
                              "%s: architecture '%.*s' is not a Llama 4 text model (llama4)%s",
                              herd_gguf_path(g), (int)(arch_len > 40 ? 40 : arch_len), arch,
                              arch_len == 4 && !memcmp(arch, "clip", 4)
                                  ? "; this looks like a vision projector (mmproj): pass it as "
                                    "the mmproj and the text model as the model"
                                  : "");
    memset(hp, 0, sizeof *hp);
    hp->n_expert_used = 1;
    hp->moe_step = 1;
    hp->rms_eps = 1e-5f;
    hp->rope_theta = 500000.0f;
    hp->chunk_size = 8192;
    hp->nope_interval = 4;
    hp->temp_floor = 8192;
    hp->temp_scale = 0.1f;
    if (!get_u32(g, "llama4.embedding_length", &hp->n_embd, true, err) ||
        !get_u32(g, "llama4.block_count", &hp->n_layer, true, err) ||
        !get_u32(g, "llama4.attention.head_count", &hp->n_head, true, err) ||
        !get_u32(g, "llama4.attention.head_count_kv", &hp->n_head_kv, true, err) ||
        !get_u32(g, "llama4.context_length", &hp->n_ctx_train, true, err) ||
        !get_u32(g, "llama4.feed_forward_length", &hp->n_ff_dense, false, err) ||
        !get_u32(g, "llama4.expert_feed_forward_length", &hp->n_ff_expert, false, err) ||
        !get_u32(g, "llama4.expert_count", &hp->n_expert, false, err) ||
        !get_u32(g, "llama4.expert_used_count", &hp->n_expert_used, false, err) ||
        !get_u32(g, "llama4.interleave_moe_layer_step", &hp->moe_step, false, err) ||
        !get_u32(g, "llama4.vocab_size", &hp->n_vocab, false, err) ||
        !get_u32(g, "llama4.attention.chunk_size", &hp->chunk_size, false, err) ||
        !get_u32(g, "llama4.attention.temperature_floor_scale", &hp->temp_floor, false, err))
        return err ? err->code : HERD_ERR_FORMAT;
    if (hp->n_head <= 0 || hp->n_head_kv <= 0 || hp->n_head % hp->n_head_kv || hp->n_embd <= 0 ||
        hp->n_layer <= 0 || hp->n_layer > 4096)
        return herd_error_set(err, HERD_ERR_FORMAT,
                              "%s: inconsistent attention shape (embd %d, heads %d/%d, layers %d)",
                              herd_gguf_path(g), hp->n_embd, hp->n_head, hp->n_head_kv,
                              hp->n_layer);
    hp->head_dim = hp->n_embd / hp->n_head;
    int kl = hp->head_dim;
    if (!get_u32(g, "llama4.attention.key_length", &kl, false, err))
        return err->code;
    hp->head_dim = kl;
    hp->rope_dims = hp->head_dim;
    if (!get_u32(g, "llama4.rope.dimension_count", &hp->rope_dims, false, err))
        return err->code;
    float f;
    if (herd_gguf_get_f32(g, "llama4.attention.layer_norm_rms_epsilon", &f))
        hp->rms_eps = f;
    if (herd_gguf_get_f32(g, "llama4.rope.freq_base", &f))
        hp->rope_theta = f;
    if (herd_gguf_get_f32(g, "llama4.attention.temperature_scale", &f))
        hp->temp_scale = f;
    bool b;
    /* QK-norm: our own key when present; otherwise llama.cpp's rule (off only with 128 experts) */
    hp->qk_norm = hp->n_expert != 128;
    if (herd_gguf_get_bool(g, "llama4.use_qk_norm", &b))
        hp->qk_norm = b;
    if (hp->moe_step <= 0 || hp->n_expert_used != 1 || hp->chunk_size <= 0 || hp->temp_floor <= 0 ||
        hp->head_dim <= 0 || hp->head_dim % 2 || hp->rope_dims > hp->head_dim ||
        hp->rope_dims <= 0 || hp->rope_dims % 2)
        return herd_error_set(err, HERD_ERR_UNSUPPORTED,
                              "%s: unsupported hyperparameters (experts used %d, moe step %d, "
                              "head dim %d, rope dims %d)",
                              herd_gguf_path(g), hp->n_expert_used, hp->moe_step, hp->head_dim,
                              hp->rope_dims);
    return HERD_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* weights */

static herd_status bind(const herd_gguf *g, herd_tensor *t, const char *name, int n_dims,
                        const int64_t *ne, bool required, bool *found, herd_error *err)
{
    const herd_gguf_tensor *gt = herd_gguf_find_tensor(g, name);
    if (found)
        *found = gt != NULL;
    if (!gt) {
        if (!required)
            return HERD_OK;
        return herd_error_set(err, HERD_ERR_FORMAT, "%s: missing tensor '%s'", herd_gguf_path(g),
                              name);
    }
    for (int i = 0; i < 4; i++) {
        int64_t want = i < n_dims ? ne[i] : 1;
        if (gt->ne[i] != want)
            return herd_error_set(err, HERD_ERR_FORMAT,
                                  "%s: tensor '%s' has shape [%lld, %lld, %lld], expected "
                                  "[%lld, %lld, %lld]",
                                  herd_gguf_path(g), name, (long long)gt->ne[0],
                                  (long long)gt->ne[1], (long long)gt->ne[2], (long long)ne[0],
                                  (long long)(n_dims > 1 ? ne[1] : 1),
                                  (long long)(n_dims > 2 ? ne[2] : 1));
    }
    const herd_type_info *ti = herd_type_get(gt->type);
    if (!ti || !ti->compute || !herd_quant_supported(gt->type))
        return herd_error_set(err, HERD_ERR_UNSUPPORTED,
                              "%s: tensor '%s' has type %s, which Herd does not support yet "
                              "(supported: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K)",
                              herd_gguf_path(g), name, herd_type_name(gt->type));
    herd_tensor_init(t, gt->type, 4, gt->ne);
    t->kind = HERD_TENSOR_WEIGHT;
    t->data = (void *)gt->data;
    snprintf(t->name, sizeof t->name, "%s", name);
    return HERD_OK;
}

#define NE(...) ((const int64_t[]){ __VA_ARGS__ })

static herd_status bind_weights(herd_model *m, herd_error *err)
{
    const herd_gguf *g = m->gguf;
    llama4_hparams *hp = &m->hp;
    const int64_t D = hp->n_embd, hd = hp->head_dim;
    herd_status st;
    /* vocabulary size: from the embedding table when the key is absent */
    const herd_gguf_tensor *te = herd_gguf_find_tensor(g, "token_embd.weight");
    if (!te)
        return herd_error_set(err, HERD_ERR_FORMAT, "%s: missing tensor 'token_embd.weight'",
                              herd_gguf_path(g));
    if (hp->n_vocab == 0)
        hp->n_vocab = (int)te->ne[1];
    const int64_t V = hp->n_vocab;
    if ((st = bind(g, &m->tok_embd, "token_embd.weight", 2, NE(D, V), true, NULL, err)) ||
        (st = bind(g, &m->output_norm, "output_norm.weight", 1, NE(D), true, NULL, err)) ||
        (st = bind(g, &m->output, "output.weight", 2, NE(D, V), true, NULL, err)) ||
        (st = bind(g, &m->rope_freqs, "rope_freqs.weight", 1, NE(hp->rope_dims / 2), false,
                   &m->has_rope_freqs, err)))
        return st;
    if (m->has_rope_freqs && m->rope_freqs.type != HERD_TYPE_F32)
        return herd_error_set(err, HERD_ERR_FORMAT, "%s: rope_freqs.weight must be F32",
                              herd_gguf_path(g));
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers)
        return herd_error_set(err, HERD_ERR_NOMEM, "out of memory");
    for (int l = 0; l < hp->n_layer; l++) {
        llama4_layer *L = &m->layers[l];
        char n[96];
#define B(field, suffix, nd, ...)                                               \
    do {                                                                        \
        snprintf(n, sizeof n, "blk.%d.%s", l, suffix);                          \
        if ((st = bind(g, &L->field, n, nd, NE(__VA_ARGS__), true, NULL, err))) \
            return st;                                                          \
    } while (0)
        B(attn_norm, "attn_norm.weight", 1, D);
        B(wq, "attn_q.weight", 2, D, hd * hp->n_head);
        B(wk, "attn_k.weight", 2, D, hd * hp->n_head_kv);
        B(wv, "attn_v.weight", 2, D, hd * hp->n_head_kv);
        B(wo, "attn_output.weight", 2, hd * hp->n_head, D);
        B(ffn_norm, "ffn_norm.weight", 1, D);
        L->nope = (l + 1) % hp->nope_interval == 0;
        L->moe = hp->n_expert > 0 && (l + 1) % hp->moe_step == 0;
        if (L->moe) {
            const int64_t F = hp->n_ff_expert, E = hp->n_expert;
            B(gate_inp, "ffn_gate_inp.weight", 2, D, E);
            B(gate_exps, "ffn_gate_exps.weight", 3, D, F, E);
            B(up_exps, "ffn_up_exps.weight", 3, D, F, E);
            B(down_exps, "ffn_down_exps.weight", 3, F, D, E);
            B(gate_shexp, "ffn_gate_shexp.weight", 2, D, F);
            B(up_shexp, "ffn_up_shexp.weight", 2, D, F);
            B(down_shexp, "ffn_down_shexp.weight", 2, F, D);
            if (L->gate_inp.type != HERD_TYPE_F32)
                return herd_error_set(err, HERD_ERR_UNSUPPORTED,
                                      "%s: router blk.%d.ffn_gate_inp.weight must be F32 (is %s)",
                                      herd_gguf_path(g), l, herd_type_name(L->gate_inp.type));
        } else {
            const int64_t F = hp->n_ff_dense;
            B(ffn_gate, "ffn_gate.weight", 2, D, F);
            B(ffn_up, "ffn_up.weight", 2, D, F);
            B(ffn_down, "ffn_down.weight", 2, F, D);
        }
#undef B
    }
    return HERD_OK;
}

herd_status llama4_collect_weights(herd_model *m, herd_error *err)
{
    int cap = 4 + m->hp.n_layer * 13;
    m->all_weights = calloc((size_t)cap, sizeof *m->all_weights);
    if (!m->all_weights)
        return herd_error_set(err, HERD_ERR_NOMEM, "out of memory");
    int n = 0;
    m->all_weights[n++] = &m->tok_embd;
    if (m->has_rope_freqs)
        m->all_weights[n++] = &m->rope_freqs;
    for (int l = 0; l < m->hp.n_layer; l++) {
        llama4_layer *L = &m->layers[l];
        herd_tensor *ts[] = { &L->attn_norm, &L->wq, &L->wk, &L->wv, &L->wo, &L->ffn_norm };
        for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
            m->all_weights[n++] = ts[i];
        if (L->moe) {
            herd_tensor *tm[] = { &L->gate_inp,   &L->gate_exps, &L->up_exps,   &L->down_exps,
                                  &L->gate_shexp, &L->up_shexp,  &L->down_shexp };
            for (size_t i = 0; i < sizeof tm / sizeof tm[0]; i++)
                m->all_weights[n++] = tm[i];
        } else {
            herd_tensor *td[] = { &L->ffn_gate, &L->ffn_up, &L->ffn_down };
            for (size_t i = 0; i < sizeof td / sizeof td[0]; i++)
                m->all_weights[n++] = td[i];
        }
    }
    m->all_weights[n++] = &m->output_norm;
    m->all_weights[n++] = &m->output;
    m->n_weights = n;
    return HERD_OK;
}

static size_t tensor_bytes(const herd_tensor *t)
{
    return herd_tensor_nbytes(t);
}

void llama4_compute_info(herd_model *m)
{
    herd_model_info *in = &m->info;
    const llama4_hparams *hp = &m->hp;
    in->n_vocab = hp->n_vocab;
    in->n_ctx_train = hp->n_ctx_train;
    in->n_embd = hp->n_embd;
    in->n_layer = hp->n_layer;
    in->n_head = hp->n_head;
    in->n_head_kv = hp->n_head_kv;
    in->head_dim = hp->head_dim;
    in->n_expert = hp->n_expert;
    in->n_expert_used = hp->n_expert_used;
    in->n_ff_expert = hp->n_ff_expert;
    in->n_ff_dense = hp->n_ff_dense;
    in->moe_step = hp->moe_step;
    in->chunk_size = hp->chunk_size;
    in->temp_floor = hp->temp_floor;
    in->qk_norm = hp->qk_norm;
    in->rope_scaled = m->has_rope_freqs;
    snprintf(in->arch, sizeof in->arch, "llama4");

    int64_t n_params = 0, n_active = 0;
    size_t bytes = 0, bytes_tok = 0;
    size_t type_bytes[HERD_TYPE_COUNT] = { 0 };
    for (int i = 0; i < m->n_weights; i++) {
        const herd_tensor *t = m->all_weights[i];
        int64_t ne = herd_tensor_nelements(t);
        size_t b = tensor_bytes(t);
        n_params += ne;
        bytes += b;
        if (t->ne[1] > 1)
            type_bytes[t->type] += b;
        if (t == &m->tok_embd) {
            bytes_tok += b / (size_t)t->ne[1]; /* one row per token */
            continue;
        }
        if (t->ne[2] > 1) { /* expert tensor: one slice per token */
            n_active += ne / t->ne[2];
            bytes_tok += b / (size_t)t->ne[2];
        } else {
            n_active += ne;
            bytes_tok += b;
        }
    }
    int best = 0;
    for (int t = 0; t < HERD_TYPE_COUNT; t++)
        if (type_bytes[t] > type_bytes[best])
            best = t;
    snprintf(in->quant, sizeof in->quant, "%s", herd_type_name(best));
    in->n_params = n_params;
    in->n_params_active = n_active;
    in->model_bytes = bytes;
    in->weight_bytes_per_token = bytes_tok;
    snprintf(in->backend, sizeof in->backend, "%s", m->be ? m->be->iface->name(m->be) : "none");
}

static herd_status open_backend(herd_model *m, const herd_model_params *p, herd_error *err)
{
    herd_backend_params bp = {
        .kind = p->backend, .device = p->device, .n_threads = p->n_threads, .profile = p->profile
    };
    char note[256];
    m->be = herd_backend_init_auto(&bp, note, sizeof note, err);
    if (!m->be)
        return err ? err->code : HERD_ERR_DEVICE;
    if (note[0])
        fprintf(stderr, "herd: %s\n", note); /* the one place the engine speaks: a fallback */
    return HERD_OK;
}

static herd_status attach_backend(herd_model *m, const herd_model_params *p, herd_error *err)
{
    if (!m->be && open_backend(m, p, err))
        return err ? err->code : HERD_ERR_DEVICE;
    for (int i = 0; i < m->n_weights; i++)
        if (m->be->iface->supports_type &&
            !m->be->iface->supports_type(m->be, m->all_weights[i]->type))
            return herd_error_set(err, HERD_ERR_UNSUPPORTED,
                                  "the %s backend does not support %s weights (tensor '%s')",
                                  m->be->iface->name(m->be),
                                  herd_type_name(m->all_weights[i]->type), m->all_weights[i]->name);
    return m->be->iface->weights_upload(m->be, m->all_weights, m->n_weights, p->progress,
                                        p->progress_data, err);
}

static size_t mem_available(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f)
        return 0;
    char line[256];
    size_t kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %zu kB", &kb) == 1)
            break;
    fclose(f);
    return kb * 1024;
}

herd_model *herd_model_load(const char *path, const herd_model_params *params, herd_error *err)
{
    herd_model_params defaults = herd_model_default_params();
    if (!params)
        params = &defaults;
    herd_model *m = calloc(1, sizeof *m);
    if (!m) {
        herd_error_set(err, HERD_ERR_NOMEM, "out of memory");
        return NULL;
    }
    m->gguf = herd_gguf_open(path, err);
    if (!m->gguf)
        goto fail;
    if (read_hparams(m->gguf, &m->hp, err) || bind_weights(m, err) ||
        llama4_collect_weights(m, err))
        goto fail;
    m->tok = herd_tokenizer_from_gguf(m->gguf, err);
    if (!m->tok)
        goto fail;
    if (params->progress && !params->progress(0.1f, params->progress_data)) {
        herd_error_set(err, HERD_ERR_ABORTED, "loading cancelled");
        goto fail;
    }
    if (attach_backend(m, params, err))
        goto fail;
    llama4_compute_info(m);
    const char *nm;
    size_t nl;
    if (herd_gguf_get_str(m->gguf, "general.name", &nm, &nl))
        snprintf(m->info.name, sizeof m->info.name, "%.*s", (int)(nl > 120 ? 120 : nl), nm);
    else {
        const char *base = strrchr(path, '/');
        snprintf(m->info.name, sizeof m->info.name, "%s", base ? base + 1 : path);
    }
    if (params->progress)
        params->progress(1.0f, params->progress_data);
    return m;
fail:
    herd_model_free(m);
    return NULL;
}

void herd_model_free(herd_model *m)
{
    if (!m)
        return;
    herd_backend_free(m->be);
    herd_tokenizer_free(m->tok);
    free(m->layers);
    free(m->all_weights);
    free(m->synthetic_data);
    herd_gguf_close(m->gguf);
    free(m);
}

const herd_model_info *herd_model_get_info(const herd_model *m)
{
    return &m->info;
}

const herd_tokenizer *herd_model_tokenizer(const herd_model *m)
{
    return m->tok;
}

herd_backend *herd_model_backend(const herd_model *m)
{
    return m->be;
}

size_t herd__mem_available(void);
size_t herd__mem_available(void)
{
    return mem_available();
}

/* ------------------------------------------------------------------------------------------ */
/* synthetic models: random weights of a named shape, for benchmarks */

typedef struct shape_def {
    const char *name;
    llama4_hparams hp;
} shape_def;

static const shape_def shapes[] = {
    { "mini",
      { .n_vocab = 3072,
        .n_ctx_train = 131072,
        .n_embd = 2048,
        .n_layer = 16,
        .n_head = 16,
        .n_head_kv = 4,
        .head_dim = 128,
        .n_ff_dense = 4096,
        .n_ff_expert = 1024,
        .n_expert = 16,
        .n_expert_used = 1,
        .moe_step = 1,
        .rms_eps = 1e-5f,
        .rope_theta = 500000.0f,
        .rope_dims = 128,
        .chunk_size = 8192,
        .nope_interval = 4,
        .temp_floor = 8192,
        .temp_scale = 0.1f,
        .qk_norm = true } },
    { "scout",
      { .n_vocab = 202048,
        .n_ctx_train = 10485760,
        .n_embd = 5120,
        .n_layer = 48,
        .n_head = 40,
        .n_head_kv = 8,
        .head_dim = 128,
        .n_ff_dense = 16384,
        .n_ff_expert = 8192,
        .n_expert = 16,
        .n_expert_used = 1,
        .moe_step = 1,
        .rms_eps = 1e-5f,
        .rope_theta = 500000.0f,
        .rope_dims = 128,
        .chunk_size = 8192,
        .nope_interval = 4,
        .temp_floor = 8192,
        .temp_scale = 0.1f,
        .qk_norm = true } },
    { "maverick",
      { .n_vocab = 202048,
        .n_ctx_train = 1048576,
        .n_embd = 5120,
        .n_layer = 48,
        .n_head = 40,
        .n_head_kv = 8,
        .head_dim = 128,
        .n_ff_dense = 16384,
        .n_ff_expert = 8192,
        .n_expert = 128,
        .n_expert_used = 1,
        .moe_step = 2,
        .rms_eps = 1e-5f,
        .rope_theta = 500000.0f,
        .rope_dims = 128,
        .chunk_size = 8192,
        .nope_interval = 4,
        .temp_floor = 8192,
        .temp_scale = 0.1f,
        .qk_norm = false } },
};

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Random weights with scales sized so activations stay O(1): values ~ U(-a, a), a = 1/sqrt(in).
 * Quantized blocks get random quants and a valid scale; the data are noise, the work is real. */
static void fill_random(herd_tensor *t, uint64_t seed, bool norm)
{
    uint64_t s = seed;
    const int64_t n = herd_tensor_nelements(t);
    const float a = norm ? 0.0f : 1.0f / sqrtf((float)t->ne[0]);
    uint8_t *d = t->data;
    switch (t->type) {
    case HERD_TYPE_F32:
        for (int64_t i = 0; i < n; i++) {
            float u = (float)(rng_next(&s) >> 40) / (float)(1 << 24) * 2.0f - 1.0f;
            ((float *)d)[i] = norm ? 1.0f + 0.1f * u : a * u * 1.7f;
        }
        return;
    case HERD_TYPE_F16:
    case HERD_TYPE_BF16:
        for (int64_t i = 0; i < n; i++) {
            float u = (float)(rng_next(&s) >> 40) / (float)(1 << 24) * 2.0f - 1.0f;
            ((uint16_t *)d)[i] = t->type == HERD_TYPE_F16 ? herd_f32_to_f16(a * u * 1.7f)
                                                          : herd_f32_to_bf16(a * u * 1.7f);
        }
        return;
    default:
        break;
    }
    const herd_type_info *ti = herd_type_get(t->type);
    const size_t nblocks = (size_t)(n / ti->blck);
    size_t total = nblocks * ti->bytes;
    for (size_t i = 0; i + 8 <= total; i += 8) {
        uint64_t r = rng_next(&s);
        memcpy(d + i, &r, 8);
    }
    /* valid scales: quant levels span ~[-8, 8) or [-128,128): scale so values are ~a */
    for (size_t b = 0; b < nblocks; b++) {
        uint8_t *blk = d + b * ti->bytes;
        uint16_t h;
        switch (t->type) {
        case HERD_TYPE_Q8_0:
            h = herd_f32_to_f16(a / 64.0f);
            memcpy(blk, &h, 2);
            break;
        case HERD_TYPE_Q4_0:
            h = herd_f32_to_f16(a / 4.0f);
            memcpy(blk, &h, 2);
            break;
        case HERD_TYPE_Q4_K:
        case HERD_TYPE_Q5_K:
            h = herd_f32_to_f16(a / 256.0f);
            memcpy(blk, &h, 2);
            h = herd_f32_to_f16(a / 64.0f);
            memcpy(blk + 2, &h, 2);
            break;
        case HERD_TYPE_Q6_K:
            h = herd_f32_to_f16(a / 1024.0f);
            memcpy(blk + 208, &h, 2);
            break;
        default:
            break;
        }
    }
}

herd_model *herd_model_synthetic(const char *shape, herd_type type, const herd_model_params *params,
                                 herd_error *err)
{
    const shape_def *sd = NULL;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        if (!strcmp(shapes[i].name, shape))
            sd = &shapes[i];
    if (!sd) {
        herd_error_set(err, HERD_ERR_INVALID,
                       "unknown synthetic shape '%s' (mini, scout, maverick)", shape);
        return NULL;
    }
    const herd_type_info *ti = herd_type_get(type);
    if (!ti || !ti->compute || !herd_quant_supported(type)) {
        herd_error_set(err, HERD_ERR_UNSUPPORTED, "cannot build weights of type %s",
                       herd_type_name(type));
        return NULL;
    }
    herd_model_params defaults = herd_model_default_params();
    if (!params)
        params = &defaults;
    herd_model *m = calloc(1, sizeof *m);
    if (!m) {
        herd_error_set(err, HERD_ERR_NOMEM, "out of memory");
        return NULL;
    }
    m->hp = sd->hp;
    const llama4_hparams *hp = &m->hp;
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) {
        herd_error_set(err, HERD_ERR_NOMEM, "out of memory");
        goto fail;
    }
    const int64_t D = hp->n_embd, hd = hp->head_dim, V = hp->n_vocab;
    const int64_t F = hp->n_ff_expert, Fd = hp->n_ff_dense, E = hp->n_expert;
    /* the mini shape and Scout carry llama3 rope scaling (rope_freqs), Maverick does not */
    m->has_rope_freqs = strcmp(shape, "maverick") != 0;
#define T(t, ty, nd, ...)                                    \
    do {                                                     \
        herd_tensor_init(&(t), (ty), (nd), NE(__VA_ARGS__)); \
        (t).kind = HERD_TENSOR_WEIGHT;                       \
    } while (0)
    T(m->tok_embd, type, 2, D, V);
    T(m->output_norm, HERD_TYPE_F32, 1, D);
    T(m->output, type == HERD_TYPE_Q4_0 ? HERD_TYPE_Q6_K : type, 2, D, V);
    if (m->has_rope_freqs)
        T(m->rope_freqs, HERD_TYPE_F32, 1, hp->rope_dims / 2);
    snprintf(m->tok_embd.name, sizeof m->tok_embd.name, "token_embd.weight");
    snprintf(m->output.name, sizeof m->output.name, "output.weight");
    snprintf(m->output_norm.name, sizeof m->output_norm.name, "output_norm.weight");
    snprintf(m->rope_freqs.name, sizeof m->rope_freqs.name, "rope_freqs.weight");
    for (int l = 0; l < hp->n_layer; l++) {
        llama4_layer *L = &m->layers[l];
        L->nope = (l + 1) % hp->nope_interval == 0;
        L->moe = (l + 1) % hp->moe_step == 0;
        T(L->attn_norm, HERD_TYPE_F32, 1, D);
        T(L->ffn_norm, HERD_TYPE_F32, 1, D);
        T(L->wq, type, 2, D, hd * hp->n_head);
        T(L->wk, type, 2, D, hd * hp->n_head_kv);
        T(L->wv, type, 2, D, hd * hp->n_head_kv);
        T(L->wo, type, 2, hd * hp->n_head, D);
        if (L->moe) {
            T(L->gate_inp, HERD_TYPE_F32, 2, D, E);
            T(L->gate_exps, type, 3, D, F, E);
            T(L->up_exps, type, 3, D, F, E);
            T(L->down_exps, type, 3, F, D, E);
            T(L->gate_shexp, type, 2, D, F);
            T(L->up_shexp, type, 2, D, F);
            T(L->down_shexp, type, 2, F, D);
        } else {
            T(L->ffn_gate, type, 2, D, Fd);
            T(L->ffn_up, type, 2, D, Fd);
            T(L->ffn_down, type, 2, Fd, D);
        }
        static const char *names[] = { "attn_norm",      "ffn_norm",       "attn_q",
                                       "attn_k",         "attn_v",         "attn_output",
                                       "ffn_gate_inp",   "ffn_gate_exps",  "ffn_up_exps",
                                       "ffn_down_exps",  "ffn_gate_shexp", "ffn_up_shexp",
                                       "ffn_down_shexp", "ffn_gate",       "ffn_up",
                                       "ffn_down" };
        herd_tensor *ts[] = { &L->attn_norm,  &L->ffn_norm,  &L->wq,         &L->wk,
                              &L->wv,         &L->wo,        &L->gate_inp,   &L->gate_exps,
                              &L->up_exps,    &L->down_exps, &L->gate_shexp, &L->up_shexp,
                              &L->down_shexp, &L->ffn_gate,  &L->ffn_up,     &L->ffn_down };
        for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
            snprintf(ts[i]->name, sizeof ts[i]->name, "blk.%d.%s.weight", l, names[i]);
    }
#undef T
    if (llama4_collect_weights(m, err))
        goto fail;
    /* A CUDA backend generates the large (non-F32) weights on the device from a seed
     * (herd_tensor.synth_seed): Scout in Q4_K needs no 60 GB host copy. Others get host data. */
    if (open_backend(m, params, err))
        goto fail;
    const bool dev_synth = m->be->kind == HERD_BACKEND_CUDA;
    size_t total = 0;
    for (int i = 0; i < m->n_weights; i++)
        if (!dev_synth || m->all_weights[i]->type == HERD_TYPE_F32)
            total += (herd_tensor_nbytes(m->all_weights[i]) + 63) / 64 * 64;
    size_t avail = mem_available();
    if (avail && total > avail) {
        herd_error_set(err, HERD_ERR_NOMEM,
                       "synthetic %s model needs %.1f GiB of memory, %.1f GiB available", shape,
                       total / 1073741824.0, avail / 1073741824.0);
        goto fail;
    }
    if (posix_memalign(&m->synthetic_data, 64, total ? total : 64)) {
        m->synthetic_data = NULL;
        herd_error_set(err, HERD_ERR_NOMEM, "cannot allocate %.1f GiB for the synthetic model",
                       total / 1073741824.0);
        goto fail;
    }
    m->synthetic_size = total;
    size_t off = 0;
    for (int i = 0; i < m->n_weights; i++) {
        herd_tensor *t = m->all_weights[i];
        if (dev_synth && t->type != HERD_TYPE_F32) {
            t->data = NULL;
            t->synth_seed = 0x5EED0000ull + (uint64_t)i * 7919;
            continue;
        }
        t->data = (char *)m->synthetic_data + off;
        off += (herd_tensor_nbytes(t) + 63) / 64 * 64;
        bool norm = t->ne[1] == 1 && t != &m->rope_freqs;
        fill_random(t, 0x5EED0000ull + (uint64_t)i * 7919, norm);
        if (params->progress &&
            !params->progress(0.9f * (float)(i + 1) / (float)m->n_weights, params->progress_data)) {
            herd_error_set(err, HERD_ERR_ABORTED, "cancelled");
            goto fail;
        }
    }
    if (m->has_rope_freqs) {
        /* llama3 scaling, factor 16, low 1, high 1, original 8192 (spec §2.4) */
        float *rf = m->rope_freqs.data;
        for (int i = 0; i < hp->rope_dims / 2; i++) {
            double f = pow(hp->rope_theta, -2.0 * i / hp->rope_dims);
            double wavelen = 2.0 * M_PI / f;
            rf[i] = wavelen > 8192.0 ? 16.0f : 1.0f;
        }
    }
    snprintf(m->info.name, sizeof m->info.name, "synthetic-%s-%s", shape, herd_type_name(type));
    if (attach_backend(m, params, err))
        goto fail;
    llama4_compute_info(m);
    return m;
fail:
    herd_model_free(m);
    return NULL;
}
