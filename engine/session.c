/* session.c: a conversation's state on a model — KV cache, the Llama 4 forward graph (spec §2),
 * prefill in micro-batches, and the generation loop. */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model.h"

size_t herd__mem_available(void);

typedef struct cached_graph {
    herd_graph *g;
    int n_tokens; /* tokens in the batch */
    int n_img;    /* image rows substituted */
    int n_out;    /* logits rows produced */
    herd_tensor *logits;
} cached_graph;

struct herd_session {
    herd_model *m;
    int n_ctx, n_batch;
    herd_type kv_type;
    unsigned ablate;
    herd_tensor *k_cache, *v_cache; /* per layer */
    int *ring;                      /* per layer: slots */
    herd_buffer *kv_buf, *io_buf;
    size_t kv_bytes, io_bytes;
    /* inputs / outputs (STATE tensors in io_buf) */
    herd_tensor inp_ids, inp_pos, inp_img, inp_img_idx, out_logits;
    int max_out;         /* rows of out_logits */
    cached_graph decode; /* the one-token graph, built once */
    cached_graph batch;  /* the last prefill graph */
    /* what the cache holds: tokens and, for <|patch|> tokens, a hash of the image row */
    int n_past;
    int32_t *hist_tok;
    uint32_t *hist_img;
    int32_t patch_id;
    atomic_int cancel;
};

herd_session_params herd_session_default_params(void)
{
    herd_session_params p = { 0 };
    p.kv_type = HERD_TYPE_F16;
    return p;
}

int herd_session_n_past(const herd_session *s)
{
    return s->n_past;
}

int herd_session_n_ctx(const herd_session *s)
{
    return s->n_ctx;
}

size_t herd_session_memory(const herd_session *s)
{
    size_t arena = 0;
    if (s->decode.g)
        arena = s->decode.g->arena_size;
    if (s->batch.g && s->batch.g->arena_size > arena)
        arena = s->batch.g->arena_size;
    return s->kv_bytes + s->io_bytes + arena;
}

void herd_session_cancel(herd_session *s)
{
    atomic_store(&s->cancel, 1);
}

static void state_tensor(herd_tensor *t, herd_type type, int n_dims, const int64_t *ne,
                         const char *name)
{
    memset(t, 0, sizeof *t);
    herd_tensor_init(t, type, n_dims, ne);
    t->kind = HERD_TENSOR_STATE;
    snprintf(t->name, sizeof t->name, "%s", name);
}

static size_t align_up(size_t x)
{
    return (x + 255) / 256 * 256;
}

herd_session *herd_session_new(herd_model *m, const herd_session_params *params, herd_error *err)
{
    herd_session_params defaults = herd_session_default_params();
    if (!params)
        params = &defaults;
    const llama4_hparams *hp = &m->hp;
    herd_backend *be = m->be;
    int n_ctx =
        params->n_ctx > 0 ? params->n_ctx : (hp->n_ctx_train < 8192 ? hp->n_ctx_train : 8192);
    if (n_ctx > hp->n_ctx_train) {
        herd_error_set(err, HERD_ERR_LIMIT, "context of %d tokens exceeds the model's maximum (%d)",
                       n_ctx, hp->n_ctx_train);
        return NULL;
    }
    if (params->kv_type != HERD_TYPE_F16 && params->kv_type != HERD_TYPE_F32) {
        herd_error_set(err, HERD_ERR_INVALID, "KV cache type must be f16 or f32");
        return NULL;
    }
    herd_session *s = calloc(1, sizeof *s);
    if (!s) {
        herd_error_set(err, HERD_ERR_NOMEM, "out of memory");
        return NULL;
    }
    s->m = m;
    s->n_ctx = n_ctx;
    /* GPUs want big prefill batches (weights are dequantized once per batch for the GEMMs);
     * on the CPU 512 keeps the working set in cache-friendly sizes */
    s->n_batch =
        params->n_batch > 0 ? params->n_batch : (m->be->kind == HERD_BACKEND_CPU ? 512 : 2048);
    if (s->n_batch > n_ctx)
        s->n_batch = n_ctx;
    s->kv_type = params->kv_type;
    s->ablate = params->ablate;
    s->k_cache = calloc((size_t)hp->n_layer, sizeof *s->k_cache);
    s->v_cache = calloc((size_t)hp->n_layer, sizeof *s->v_cache);
    s->ring = calloc((size_t)hp->n_layer, sizeof *s->ring);
    s->hist_tok = calloc((size_t)n_ctx, sizeof *s->hist_tok);
    s->hist_img = calloc((size_t)n_ctx, sizeof *s->hist_img);
    if (!s->k_cache || !s->v_cache || !s->ring || !s->hist_tok || !s->hist_img) {
        herd_error_set(err, HERD_ERR_NOMEM, "out of memory");
        goto fail;
    }
    s->patch_id = m->tok ? herd_tokenizer_find(m->tok, "<|patch|>") : -1;

    /* KV cache: NoPE layers keep every position; chunked (RoPE) layers keep a ring of
     * chunk + batch slots (a batch crossing a chunk boundary still sees its chunk's keys). */
    size_t kv_total = 0;
    for (int l = 0; l < hp->n_layer; l++) {
        int slots = n_ctx;
        if (!m->layers[l].nope && hp->chunk_size + s->n_batch < n_ctx)
            slots = hp->chunk_size + s->n_batch;
        s->ring[l] = slots;
        const int64_t ne[3] = { hp->head_dim, hp->n_head_kv, slots };
        char name[48];
        snprintf(name, sizeof name, "cache_k_l%d", l);
        state_tensor(&s->k_cache[l], s->kv_type, 3, ne, name);
        snprintf(name, sizeof name, "cache_v_l%d", l);
        state_tensor(&s->v_cache[l], s->kv_type, 3, ne, name);
        kv_total += 2 * align_up(herd_tensor_nbytes(&s->k_cache[l]));
    }
    /* io: ids, positions, image rows + their indices, logits (all rows of one batch) */
    s->max_out = s->n_batch;
    state_tensor(&s->inp_ids, HERD_TYPE_I32, 1, (int64_t[]){ s->n_batch }, "inp_ids");
    state_tensor(&s->inp_pos, HERD_TYPE_I32, 1, (int64_t[]){ s->n_batch }, "inp_pos");
    state_tensor(&s->inp_img, HERD_TYPE_F32, 2, (int64_t[]){ hp->n_embd, s->n_batch }, "inp_img");
    state_tensor(&s->inp_img_idx, HERD_TYPE_I32, 1, (int64_t[]){ s->n_batch }, "inp_img_idx");
    state_tensor(&s->out_logits, HERD_TYPE_F32, 2, (int64_t[]){ hp->n_vocab, s->max_out },
                 "logits");
    herd_tensor *io[] = { &s->inp_ids, &s->inp_pos, &s->inp_img, &s->inp_img_idx, &s->out_logits };
    size_t io_total = 0;
    for (size_t i = 0; i < sizeof io / sizeof io[0]; i++)
        io_total += align_up(herd_tensor_nbytes(io[i]));

    size_t need = kv_total + io_total;
    if (be->kind == HERD_BACKEND_CPU) {
        size_t avail = herd__mem_available();
        if (avail && need > avail) {
            herd_error_set(err, HERD_ERR_NOMEM,
                           "a %d-token context needs %.2f GiB for its KV cache and buffers; "
                           "%.2f GiB of memory is available (try a smaller context)",
                           n_ctx, need / 1073741824.0, avail / 1073741824.0);
            goto fail;
        }
    } else if (be->iface->mem_free) {
        size_t avail = be->iface->mem_free(be);
        if (avail && need > avail) {
            herd_error_set(err, HERD_ERR_NOMEM,
                           "a %d-token context needs %.2f GiB on the %s device; %.2f GiB free",
                           n_ctx, need / 1073741824.0, be->iface->name(be), avail / 1073741824.0);
            goto fail;
        }
    }
    if (be->iface->buffer_alloc(be, kv_total, &s->kv_buf, err) ||
        be->iface->buffer_alloc(be, io_total, &s->io_buf, err))
        goto fail;
    s->kv_bytes = kv_total;
    s->io_bytes = io_total;
    size_t off = 0;
    for (int l = 0; l < hp->n_layer; l++) {
        be->iface->tensor_bind(be, &s->k_cache[l], s->kv_buf, off);
        off += align_up(herd_tensor_nbytes(&s->k_cache[l]));
        be->iface->tensor_bind(be, &s->v_cache[l], s->kv_buf, off);
        off += align_up(herd_tensor_nbytes(&s->v_cache[l]));
    }
    off = 0;
    for (size_t i = 0; i < sizeof io / sizeof io[0]; i++) {
        be->iface->tensor_bind(be, io[i], s->io_buf, off);
        off += align_up(herd_tensor_nbytes(io[i]));
    }
    return s;
fail:
    herd_session_free(s);
    return NULL;
}

static void free_cached(cached_graph *c)
{
    herd_graph_free(c->g);
    memset(c, 0, sizeof *c);
}

void herd_session_free(herd_session *s)
{
    if (!s)
        return;
    free_cached(&s->decode);
    free_cached(&s->batch);
    herd_backend *be = s->m->be;
    if (s->kv_buf)
        be->iface->buffer_free(be, s->kv_buf);
    if (s->io_buf)
        be->iface->buffer_free(be, s->io_buf);
    free(s->k_cache);
    free(s->v_cache);
    free(s->ring);
    free(s->hist_tok);
    free(s->hist_img);
    free(s);
}

void herd_session_rewind(herd_session *s, int n_past)
{
    if (n_past < 0)
        n_past = 0;
    if (n_past >= s->n_past)
        return;
    /* chunked layers keep a ring: the keys a new query at n_past needs (from the start of its
     * chunk) must not have been overwritten by positions written since */
    const llama4_hparams *hp = &s->m->hp;
    for (int l = 0; l < hp->n_layer; l++) {
        int R = s->ring[l];
        if (R >= s->n_ctx)
            continue;
        int chunk_start = n_past / hp->chunk_size * hp->chunk_size;
        /* the newest position written is s->n_past - 1; it overwrote position (n_past-1) - R */
        if (s->n_past - 1 - R >= chunk_start)
            n_past = chunk_start; /* re-evaluate from the chunk start (still in history) */
    }
    s->n_past = n_past;
}

/* ------------------------------------------------------------------------------------------ */
/* the forward graph for T tokens at positions inp_pos[0..T-1] */

static herd_tensor *view1(herd_graph *g, herd_tensor *t, int64_t n)
{
    return herd_view(g, t, 1, (int64_t[]){ n }, NULL, 0);
}

static herd_tensor *build_forward(herd_session *s, herd_graph *g, int T, int n_img, int n_out)
{
    const herd_model *m = s->m;
    const llama4_hparams *hp = &m->hp;
    const int64_t D = hp->n_embd, hd = hp->head_dim, Hq = hp->n_head, Hkv = hp->n_head_kv;
    herd_tensor *ids = view1(g, &s->inp_ids, T);
    herd_tensor *pos = view1(g, &s->inp_pos, T);
    herd_tensor *x = herd_get_rows(g, (herd_tensor *)&m->tok_embd, ids);
    if (n_img > 0) {
        herd_tensor *rows = herd_view(g, &s->inp_img, 2, (int64_t[]){ D, n_img }, NULL, 0);
        herd_tensor *idx = view1(g, &s->inp_img_idx, n_img);
        x = herd_set_rows(g, x, rows, idx);
    }
    herd_tensor *ff = m->has_rope_freqs ? (herd_tensor *)&m->rope_freqs : NULL;
    for (int l = 0; l < hp->n_layer; l++) {
        llama4_layer *L = &m->layers[l];
        /* attention */
        herd_tensor *a = herd_rms_norm(g, x, &L->attn_norm, hp->rms_eps);
        herd_tensor *q = herd_mul_mat(g, &L->wq, a);
        herd_tensor *k = herd_mul_mat(g, &L->wk, a);
        herd_tensor *v = herd_mul_mat(g, &L->wv, a);
        q = herd_reshape(g, q, 3, (int64_t[]){ hd, Hq, T });
        k = herd_reshape(g, k, 3, (int64_t[]){ hd, Hkv, T });
        v = herd_reshape(g, v, 3, (int64_t[]){ hd, Hkv, T });
        if (!L->nope) {
            q = herd_rope(g, q, pos, ff, hp->rope_dims, hp->rope_theta);
            k = herd_rope(g, k, pos, ff, hp->rope_dims, hp->rope_theta);
            if (hp->qk_norm) {
                q = herd_rms_norm(g, q, NULL, hp->rms_eps);
                k = herd_rms_norm(g, k, NULL, hp->rms_eps);
            }
        }
        herd_tensor *kc = herd_kv_store(g, k, &s->k_cache[l], pos, s->ring[l]);
        herd_tensor *vc = herd_kv_store(g, v, &s->v_cache[l], pos, s->ring[l]);
        herd_attn_params ap = {
            .mask = L->nope || (s->ablate & HERD_ABLATE_CHUNK) ? 1 : 2,
            .chunk = hp->chunk_size,
            .ring = s->ring[l],
            .temp_floor = L->nope && !(s->ablate & HERD_ABLATE_TEMP) ? hp->temp_floor : 0,
            .temp_scale = hp->temp_scale,
            .scale = 1.0f / sqrtf((float)hd),
        };
        herd_tensor *o = herd_attention(g, q, kc, vc, pos, &ap);
        o = herd_reshape(g, o, 2, (int64_t[]){ hd * Hq, T });
        x = herd_add(g, x, herd_mul_mat(g, &L->wo, o));
        /* feed-forward */
        herd_tensor *f = herd_rms_norm(g, x, &L->ffn_norm, hp->rms_eps);
        herd_tensor *y;
        if (L->moe) {
            herd_tensor *logits = herd_mul_mat(g, &L->gate_inp, f); /* [E, T] */
            if (s->ablate & HERD_ABLATE_ROUTER)
                logits = herd_scale(g, logits, 0.0f);
            herd_tensor *sel = herd_argmax(g, logits);               /* I32 [T] */
            herd_tensor *gate = herd_select_sigmoid(g, logits, sel); /* [1, T] */
            herd_tensor *u = herd_mul(g, f, gate);                   /* router weight on input */
            herd_tensor *ge = herd_mul_mat_id(g, &L->gate_exps, u, sel);
            herd_tensor *ue = herd_mul_mat_id(g, &L->up_exps, u, sel);
            herd_tensor *yr = herd_mul_mat_id(g, &L->down_exps, herd_swiglu(g, ge, ue), sel);
            herd_tensor *gs = herd_mul_mat(g, &L->gate_shexp, f);
            herd_tensor *us = herd_mul_mat(g, &L->up_shexp, f);
            herd_tensor *ys = herd_mul_mat(g, &L->down_shexp, herd_swiglu(g, gs, us));
            y = herd_add(g, yr, ys);
        } else {
            herd_tensor *gd = herd_mul_mat(g, &L->ffn_gate, f);
            herd_tensor *ud = herd_mul_mat(g, &L->ffn_up, f);
            y = herd_mul_mat(g, &L->ffn_down, herd_swiglu(g, gd, ud));
        }
        x = herd_add(g, x, y);
    }
    if (n_out < T && x) /* only the last n_out rows need the head */
        x = herd_view(g, x, 2, (int64_t[]){ D, n_out }, NULL, (size_t)(T - n_out) * x->nb[1]);
    x = herd_rms_norm(g, x, (herd_tensor *)&m->output_norm, hp->rms_eps);
    herd_tensor *logits = herd_mul_mat(g, (herd_tensor *)&m->output, x);
    /* copy into the persistent output tensor (so the backend can read it back) */
    herd_tensor *out = herd_view(g, &s->out_logits, 2, (int64_t[]){ hp->n_vocab, n_out }, NULL, 0);
    if (!logits || !out)
        return NULL;
    return herd_cpy_to(g, logits, out);
}

static herd_status get_graph(herd_session *s, int T, int n_img, int n_out, cached_graph **out,
                             herd_error *err)
{
    cached_graph *c = (T == 1 && n_img == 0) ? &s->decode : &s->batch;
    if (c->g && c->n_tokens == T && c->n_img == n_img && c->n_out == n_out) {
        *out = c;
        return HERD_OK;
    }
    free_cached(c);
    c->g = herd_graph_new(64 * s->m->hp.n_layer + 64);
    if (!c->g)
        return herd_error_set(err, HERD_ERR_NOMEM, "out of memory");
    c->logits = build_forward(s, c->g, T, n_img, n_out);
    if (!c->logits) {
        free_cached(c);
        return herd_error_set(err, HERD_ERR_NOMEM, "building the forward graph failed");
    }
    herd_status st = herd_graph_plan(c->g, &c->logits, 1, 256, err);
    if (st) {
        free_cached(c);
        return st;
    }
    c->n_tokens = T;
    c->n_img = n_img;
    c->n_out = n_out;
    *out = c;
    return HERD_OK;
}

static uint32_t row_hash(const float *row, int n)
{
    uint32_t h = 2166136261u;
    const uint8_t *b = (const uint8_t *)row;
    for (size_t i = 0; i < (size_t)n * sizeof(float); i++)
        h = (h ^ b[i]) * 16777619u;
    return h | 1; /* never 0: 0 marks "no image row" */
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Evaluate tokens[0..n) at positions n_past..; image rows for their patch tokens start at
 * images->rows + img_row0 * n_embd. */
static herd_status eval_internal(herd_session *s, const int32_t *tokens, int n,
                                 const herd_image_rows *images, int img_row0, float *logits,
                                 bool all_logits, herd_progress_cb progress, void *pdata,
                                 herd_error *err)
{
    herd_model *m = s->m;
    herd_backend *be = m->be;
    const int D = m->hp.n_embd, V = m->hp.n_vocab;
    if (n <= 0)
        return herd_error_set(err, HERD_ERR_INVALID, "nothing to evaluate");
    if (s->n_past + n > s->n_ctx)
        return herd_error_set(err, HERD_ERR_LIMIT,
                              "the conversation needs %d tokens; the context holds %d",
                              s->n_past + n, s->n_ctx);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= V)
            return herd_error_set(err, HERD_ERR_INVALID, "token id %d is out of range (vocab %d)",
                                  tokens[i], V);
    int img_row = img_row0;
    int32_t *pos = malloc((size_t)s->n_batch * sizeof *pos);
    int32_t *idx = malloc((size_t)s->n_batch * sizeof *idx);
    if (!pos || !idx) {
        free(pos);
        free(idx);
        return herd_error_set(err, HERD_ERR_NOMEM, "out of memory");
    }
    herd_status st = HERD_OK;
    for (int done = 0; done < n && !st;) {
        if (atomic_load(&s->cancel)) {
            st = herd_error_set(err, HERD_ERR_ABORTED, "cancelled");
            break;
        }
        int T = n - done < s->n_batch ? n - done : s->n_batch;
        int n_img = 0;
        for (int i = 0; i < T; i++) {
            pos[i] = s->n_past + i;
            if (tokens[done + i] == s->patch_id && images && images->rows) {
                if (img_row >= images->n_rows) {
                    st = herd_error_set(err, HERD_ERR_INVALID,
                                        "the prompt has more <|patch|> tokens than image rows (%d)",
                                        images->n_rows);
                    break;
                }
                idx[n_img] = i;
                st = be->iface->tensor_set(be, &s->inp_img, images->rows + (size_t)img_row * D,
                                           (size_t)n_img * D * sizeof(float),
                                           (size_t)D * sizeof(float), err);
                if (st)
                    break;
                s->hist_img[s->n_past + i] = row_hash(images->rows + (size_t)img_row * D, D);
                img_row++;
                n_img++;
            } else {
                s->hist_img[s->n_past + i] = 0;
            }
        }
        if (st)
            break;
        bool last = done + T == n;
        int n_out = all_logits ? T : (last && logits ? 1 : 1);
        cached_graph *c = NULL;
        if ((st = be->iface->tensor_set(be, &s->inp_ids, tokens + done, 0, (size_t)T * 4, err)) ||
            (st = be->iface->tensor_set(be, &s->inp_pos, pos, 0, (size_t)T * 4, err)) ||
            (n_img &&
             (st = be->iface->tensor_set(be, &s->inp_img_idx, idx, 0, (size_t)n_img * 4, err))) ||
            (st = get_graph(s, T, n_img, n_out, &c, err)) ||
            (st = be->iface->graph_compute(be, c->g, err)))
            break;
        memcpy(s->hist_tok + s->n_past, tokens + done, (size_t)T * sizeof *tokens);
        s->n_past += T;
        if (logits && (all_logits || last)) {
            float *dst = all_logits ? logits + (size_t)done * V : logits;
            st = be->iface->tensor_get(be, &s->out_logits, dst, 0,
                                       (size_t)n_out * V * sizeof(float), err);
        }
        done += T;
        if (progress && !progress((float)done / (float)n, pdata))
            st = herd_error_set(err, HERD_ERR_ABORTED, "cancelled");
    }
    free(pos);
    free(idx);
    return st;
}

herd_status herd_session_eval(herd_session *s, const int32_t *tokens, int n,
                              const herd_image_rows *images, float *logits, bool all_logits,
                              herd_progress_cb progress, void *progress_data, herd_error *err)
{
    atomic_store(&s->cancel, 0);
    return eval_internal(s, tokens, n, images, 0, logits, all_logits, progress, progress_data, err);
}

/* ------------------------------------------------------------------------------------------ */
/* generation */

typedef struct prompt_progress {
    herd_prompt_progress_cb cb;
    void *ud;
    int base, total, n;
    herd_session *s;
} prompt_progress;

static bool on_prefill_progress(float frac, void *ud)
{
    prompt_progress *pp = ud;
    if (pp->cb)
        pp->cb(pp->base + (int)(frac * pp->n + 0.5f), pp->total, pp->ud);
    return !atomic_load(&pp->s->cancel);
}

herd_status herd_generate(herd_session *s, const int32_t *prompt, int n_prompt,
                          const herd_image_rows *images, const herd_gen_params *params,
                          herd_gen_stats *stats, herd_error *err)
{
    herd_model *m = s->m;
    const int V = m->hp.n_vocab, D = m->hp.n_embd;
    herd_gen_stats st_local;
    if (!stats)
        stats = &st_local;
    memset(stats, 0, sizeof *stats);
    stats->n_prompt = n_prompt;
    if (!m->tok)
        return herd_error_set(err, HERD_ERR_INVALID, "this model has no tokenizer");
    if (n_prompt <= 0)
        return herd_error_set(err, HERD_ERR_INVALID, "empty prompt");
    if (n_prompt >= s->n_ctx)
        return herd_error_set(err, HERD_ERR_LIMIT, "the prompt has %d tokens; the context holds %d",
                              n_prompt, s->n_ctx);
    atomic_store(&s->cancel, 0);

    /* reuse the cached prefix (tokens and image rows must match); keep >= 1 token to evaluate */
    int common = 0, img_seen = 0;
    while (common < s->n_past && common < n_prompt - 1 && s->hist_tok[common] == prompt[common]) {
        if (prompt[common] == s->patch_id && images && images->rows) {
            if (img_seen >= images->n_rows ||
                s->hist_img[common] != row_hash(images->rows + (size_t)img_seen * D, D))
                break;
            img_seen++;
        }
        common++;
    }
    herd_session_rewind(s, common);
    common = s->n_past;
    /* rewind may have moved back further: recount image rows in the kept prefix */
    img_seen = 0;
    for (int i = 0; i < common; i++)
        if (prompt[i] == s->patch_id && images && images->rows)
            img_seen++;

    float *logits = malloc((size_t)V * sizeof *logits);
    herd_sampler *smp = herd_sampler_new(&params->sampling, V);
    herd_detok *dt = herd_detok_new(m->tok, false);
    if (!logits || !smp || !dt) {
        free(logits);
        herd_sampler_free(smp);
        herd_detok_free(dt);
        return herd_error_set(err, HERD_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < n_prompt; i++)
        herd_sampler_accept(smp, prompt[i]);

    double t0 = now_ms();
    prompt_progress pp = {
        params->on_prompt_progress, params->user_data, common, n_prompt, n_prompt - common, s
    };
    herd_status st = eval_internal(s, prompt + common, n_prompt - common, images, img_seen, logits,
                                   false, on_prefill_progress, &pp, err);
    stats->n_prompt_eval = n_prompt - common;
    double t1 = now_ms();
    stats->t_prompt_ms = t1 - t0;
    int max_tokens = params->max_tokens > 0 ? params->max_tokens : s->n_ctx;
    while (!st) {
        int32_t tok = herd_sampler_sample(smp, logits);
        if (stats->n_gen == 0)
            stats->ttft_ms = now_ms() - t0;
        if (herd_tokenizer_is_stop(m->tok, tok)) {
            stats->stopped_by_eos = true;
            break;
        }
        stats->n_gen++;
        herd_sampler_accept(smp, tok);
        size_t len;
        const char *piece = herd_detok_push(dt, tok, &len);
        if (params->on_piece &&
            !params->on_piece(piece ? piece : "", piece ? len : 0, tok, params->user_data)) {
            stats->cancelled = true;
            break;
        }
        if (stats->n_gen >= max_tokens || s->n_past + 1 > s->n_ctx)
            break;
        if (atomic_load(&s->cancel)) {
            stats->cancelled = true;
            break;
        }
        st = eval_internal(s, &tok, 1, NULL, 0, logits, false, NULL, NULL, err);
    }
    if (!st || st == HERD_ERR_ABORTED) {
        size_t len;
        const char *piece = herd_detok_flush(dt, &len);
        if (piece && len && params->on_piece)
            params->on_piece(piece, len, -1, params->user_data);
    }
    if (st == HERD_ERR_ABORTED) {
        stats->cancelled = true;
        st = HERD_OK;
        herd_error_clear(err);
    }
    stats->t_gen_ms = now_ms() - t1 - (stats->n_gen ? stats->ttft_ms - (t1 - t0) : 0);
    free(logits);
    herd_sampler_free(smp);
    herd_detok_free(dt);
    return st;
}
