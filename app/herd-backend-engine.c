/* herd-backend-engine.c: HerdBackend over engine/herd.h. */
#define G_LOG_DOMAIN "Herd"

#include "herd-backend-engine.h"

#include "chat.h"
#include "encoder.h"
#include "herd.h"

#include <stdlib.h>

typedef struct {
    herd_engine_backend_config cfg;
    herd_model *model;
    GMutex lock; /* guards session for cancel() from other threads */
    herd_session *session;
    herd_vision *vision;     /* NULL without an mmproj */
    GHashTable *image_cache; /* stored image path (content-addressed) → CachedImage */
    gint cancelled;          /* atomic: reaches load, which has no session yet */
} EngineBackend;

/* Encoded images are kept: a conversation re-sends its images every turn, and the store names
 * image files by their content hash, so a path always means the same pixels. */
typedef struct {
    float *rows;
    int n_rows, grid_rows, grid_cols;
} CachedImage;

static void cached_image_free(gpointer p)
{
    CachedImage *c = p;
    free(c->rows);
    g_free(c);
}

typedef struct {
    EngineBackend *eb;
    bool (*progress)(float, void *);
    void *user;
} LoadCtx;

static bool load_progress(float fraction, void *data)
{
    LoadCtx *lc = data;
    if (g_atomic_int_get(&lc->eb->cancelled))
        return false;
    return lc->progress ? lc->progress(fraction, lc->user) : true;
}

static void drop_model(EngineBackend *eb)
{
    g_mutex_lock(&eb->lock);
    herd_session *s = eb->session;
    eb->session = NULL;
    g_mutex_unlock(&eb->lock);
    herd_session_free(s);
    herd_vision_free(eb->vision);
    eb->vision = NULL;
    g_hash_table_remove_all(eb->image_cache);
    herd_model_free(eb->model);
    eb->model = NULL;
}

static herd_status engine_load(void *impl, const char *model_path, const char *mmproj_path,
                               bool (*progress)(float, void *), void *user, herd_error *err)
{
    EngineBackend *eb = impl;
    g_atomic_int_set(&eb->cancelled, 0);
    drop_model(eb); /* one model at a time: never hold two in memory */
    LoadCtx lc = { eb, progress, user };
    herd_model_params mp = herd_model_default_params();
    mp.n_threads = eb->cfg.n_threads;
    mp.backend = (herd_backend_kind)eb->cfg.backend;
    mp.device = eb->cfg.device;
    mp.progress = load_progress;
    mp.progress_data = &lc;
    herd_model *m = herd_model_load(model_path, &mp, err);
    if (!m)
        return err && err->code ? err->code : HERD_ERR_IO;
    if (!herd_model_tokenizer(m)) {
        herd_model_free(m);
        return herd_error_set(err, HERD_ERR_UNSUPPORTED, "%s has no tokenizer", model_path);
    }
    herd_vision *v = NULL;
    if (mmproj_path && *mmproj_path) {
        v = herd_vision_load(mmproj_path, herd_model_backend(m), err);
        if (!v) {
            herd_model_free(m);
            return err && err->code ? err->code : HERD_ERR_FORMAT;
        }
        if (herd_vision_get_info(v)->n_proj != herd_model_get_info(m)->n_embd) {
            herd_error_set(err, HERD_ERR_INVALID,
                           "%s projects images to width %d but the text model's width is %d: "
                           "the two files do not belong together",
                           mmproj_path, herd_vision_get_info(v)->n_proj,
                           herd_model_get_info(m)->n_embd);
            herd_vision_free(v);
            herd_model_free(m);
            return HERD_ERR_INVALID;
        }
    }
    herd_session_params sp = herd_session_default_params();
    if (eb->cfg.n_ctx > 0)
        sp.n_ctx = eb->cfg.n_ctx;
    herd_session *s = herd_session_new(m, &sp, err);
    if (!s) {
        herd_vision_free(v);
        herd_model_free(m);
        return err && err->code ? err->code : HERD_ERR_NOMEM;
    }
    eb->model = m;
    eb->vision = v;
    g_mutex_lock(&eb->lock);
    eb->session = s;
    g_mutex_unlock(&eb->lock);
    return HERD_OK;
}

typedef struct {
    const HerdBackendCallbacks *cb;
    herd_session *session;
} GenCtx;

static bool gen_piece(const char *piece, size_t len, int32_t token, void *data)
{
    GenCtx *g = data;
    return g->cb->piece(piece, len, g->cb->user);
}

static void gen_prompt_progress(int done, int total, void *data)
{
    GenCtx *g = data;
    if (g->cb->prompt_progress && !g->cb->prompt_progress(done, total, g->cb->user))
        herd_session_cancel(g->session); /* takes effect between prefill batches */
}

static herd_status engine_generate(void *impl, const HerdBackendRequest *req,
                                   const HerdBackendCallbacks *cb, HerdBackendStats *stats,
                                   herd_error *err)
{
    EngineBackend *eb = impl;
    if (!eb->model || !eb->session)
        return herd_error_set(err, HERD_ERR_INVALID, "no model is loaded");
    size_t n_parts = 0;
    for (size_t i = 0; i < req->n_turns; i++)
        n_parts += 1 + req->turns[i].n_images;
    herd_chat_msg *msgs = g_new0(herd_chat_msg, req->n_turns ? req->n_turns : 1);
    herd_chat_part *parts = g_new0(herd_chat_part, n_parts ? n_parts : 1);
    const int D = herd_model_get_info(eb->model)->n_embd;
    float *img_rows = NULL;
    size_t n_img_rows = 0;
    herd_status st = HERD_OK;
    size_t p = 0;
    for (size_t i = 0; i < req->n_turns && st == HERD_OK; i++) {
        const HerdBackendTurn *t = &req->turns[i];
        msgs[i].parts = &parts[p];
        /* images first, then the text: the layout of Meta's examples */
        for (size_t k = 0; k < t->n_images && st == HERD_OK; k++) {
            if (!eb->vision) {
                st = herd_error_set(err, HERD_ERR_INVALID,
                                    "this model was loaded without its vision file (mmproj): "
                                    "choose one to ask about images");
                break;
            }
            CachedImage *c = g_hash_table_lookup(eb->image_cache, t->image_paths[k]);
            if (!c) {
                c = g_new0(CachedImage, 1);
                st = herd_vision_encode_file(eb->vision, t->image_paths[k], eb->cfg.max_tiles,
                                             &c->rows, &c->n_rows, &c->grid_rows, &c->grid_cols,
                                             err);
                if (st) {
                    g_free(c);
                    break;
                }
                g_hash_table_insert(eb->image_cache, g_strdup(t->image_paths[k]), c);
            }
            img_rows = g_realloc(img_rows, (n_img_rows + (size_t)c->n_rows) * D * sizeof(float));
            memcpy(img_rows + n_img_rows * D, c->rows, (size_t)c->n_rows * D * sizeof(float));
            n_img_rows += (size_t)c->n_rows;
            parts[p++] = (herd_chat_part){ .type = HERD_CHAT_IMAGE,
                                           .rows = c->grid_rows,
                                           .cols = c->grid_cols };
        }
        parts[p].type = HERD_CHAT_TEXT;
        parts[p].text = t->text ? t->text : "";
        parts[p].len = strlen(parts[p].text);
        p++;
        msgs[i].role = t->role == HERD_MESSAGE_ROLE_SYSTEM      ? HERD_CHAT_SYSTEM
                       : t->role == HERD_MESSAGE_ROLE_ASSISTANT ? HERD_CHAT_ASSISTANT
                                                                : HERD_CHAT_USER;
        msgs[i].n_parts = (int)(&parts[p] - msgs[i].parts);
    }
    int32_t *ids = NULL;
    int n_ids = 0;
    if (st == HERD_OK)
        st = herd_chat_render(herd_model_tokenizer(eb->model), msgs, (int)req->n_turns, true, &ids,
                              &n_ids, err);
    if (st == HERD_OK) {
        GenCtx g = { cb, eb->session };
        herd_gen_params gp = { 0 };
        gp.sampling = herd_sampler_default_params();
        gp.sampling.temperature = req->sampling.temperature;
        gp.sampling.top_p = req->sampling.top_p > 0 ? req->sampling.top_p : 1.0f;
        gp.sampling.top_k = req->sampling.top_k;
        gp.sampling.seed = req->sampling.seed;
        gp.max_tokens = req->sampling.max_tokens;
        gp.on_piece = gen_piece;
        gp.on_prompt_progress = gen_prompt_progress;
        gp.user_data = &g;
        herd_gen_stats gs = { 0 };
        herd_image_rows rows = { img_rows, (int)n_img_rows };
        st = herd_generate(eb->session, ids, n_ids, n_img_rows ? &rows : NULL, &gp, &gs, err);
        stats->n_prompt_tokens = gs.n_prompt;
        stats->n_gen_tokens = gs.n_gen;
        stats->prompt_ms = gs.t_prompt_ms;
        stats->gen_ms = gs.t_gen_ms;
        /* The engine reports a stop as success with stats.cancelled; the worker wants it
         * as an abort so the answer is marked interrupted. */
        if (st == HERD_OK && gs.cancelled)
            st = herd_error_set(err, HERD_ERR_ABORTED, "generation stopped");
    }
    free(ids);
    g_free(img_rows);
    g_free(parts);
    g_free(msgs);
    return st;
}

static void engine_cancel(void *impl)
{
    EngineBackend *eb = impl;
    g_atomic_int_set(&eb->cancelled, 1);
    g_mutex_lock(&eb->lock);
    if (eb->session)
        herd_session_cancel(eb->session);
    g_mutex_unlock(&eb->lock);
}

static void engine_free(void *impl)
{
    EngineBackend *eb = impl;
    drop_model(eb);
    g_hash_table_destroy(eb->image_cache);
    g_mutex_clear(&eb->lock);
    g_free(eb);
}

static const HerdBackendVTable engine_vtable = {
    .name = "engine",
    .load = engine_load,
    .generate = engine_generate,
    .cancel = engine_cancel,
    .free = engine_free,
};

HerdBackend herd_engine_backend_new(const herd_engine_backend_config *config)
{
    EngineBackend *eb = g_new0(EngineBackend, 1);
    if (config)
        eb->cfg = *config;
    g_mutex_init(&eb->lock);
    eb->image_cache = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, cached_image_free);
    return (HerdBackend){ &engine_vtable, eb };
}
