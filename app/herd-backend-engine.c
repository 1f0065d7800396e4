/* herd-backend-engine.c: HerdBackend over engine/herd.h. */
#define G_LOG_DOMAIN "Herd"

#include "herd-backend-engine.h"

#include "chat.h"
#include "herd.h"

#include <stdlib.h>

typedef struct {
    herd_engine_backend_config cfg;
    herd_model   *model;
    GMutex        lock; /* guards session for cancel() from other threads */
    herd_session *session;
    gint          cancelled; /* atomic: reaches load, which has no session yet */
} EngineBackend;

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
    herd_session_params sp = herd_session_default_params();
    if (eb->cfg.n_ctx > 0)
        sp.n_ctx = eb->cfg.n_ctx;
    herd_session *s = herd_session_new(m, &sp, err);
    if (!s) {
        herd_model_free(m);
        return err && err->code ? err->code : HERD_ERR_NOMEM;
    }
    eb->model = m;
    g_mutex_lock(&eb->lock);
    eb->session = s;
    g_mutex_unlock(&eb->lock);
    return HERD_OK;
}

typedef struct {
    const HerdBackendCallbacks *cb;
    herd_session                 *session;
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
    herd_chat_msg *msgs = g_new0(herd_chat_msg, req->n_turns ? req->n_turns : 1);
    herd_chat_part *parts = g_new0(herd_chat_part, req->n_turns ? req->n_turns : 1);
    herd_status st = HERD_OK;
    for (size_t i = 0; i < req->n_turns; i++) {
        const HerdBackendTurn *t = &req->turns[i];
        if (t->n_images) {
            st = herd_error_set(err, HERD_ERR_UNSUPPORTED,
                                "image input is not available yet: the vision encoder is not "
                                "connected to the app");
            break;
        }
        parts[i].type = HERD_CHAT_TEXT;
        parts[i].text = t->text ? t->text : "";
        parts[i].len = strlen(parts[i].text);
        msgs[i].role = t->role == HERD_MESSAGE_ROLE_SYSTEM      ? HERD_CHAT_SYSTEM
                       : t->role == HERD_MESSAGE_ROLE_ASSISTANT ? HERD_CHAT_ASSISTANT
                                                                : HERD_CHAT_USER;
        msgs[i].parts = &parts[i];
        msgs[i].n_parts = 1;
    }
    int32_t *ids = NULL;
    int n_ids = 0;
    if (st == HERD_OK)
        st = herd_chat_render(herd_model_tokenizer(eb->model), msgs, (int)req->n_turns, true,
                              &ids, &n_ids, err);
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
        st = herd_generate(eb->session, ids, n_ids, NULL, &gp, &gs, err);
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
    return (HerdBackend){ &engine_vtable, eb };
}
