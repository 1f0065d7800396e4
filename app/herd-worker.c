/* herd-worker.c: the engine thread and its bridge to the main loop.
 *
 * Threading contract (see herd-worker.h): the worker thread reads only the plain fields of
 * HerdWorker marked "thread" below and the Request it popped; it never calls a GObject method
 * on anything the main thread shares. Requests carry a serial; herd_worker_stop() raises
 * cancel_serial to the last posted serial, which cancels every request up to it and none
 * posted later, without a race between "stop" and "start of the next request". */
#define G_LOG_DOMAIN "Herd"

#include "herd-worker.h"

#include "herd-json.h"

#include <string.h>

typedef enum { REQ_LOAD, REQ_GENERATE, REQ_QUIT } RequestType;

typedef struct {
    RequestType type;
    gint serial;
    char *model_path;
    char *mmproj_path;
    gint64 message_id;
    HerdMessage *reply; /* main thread only */
    GArray *turns;      /* HerdBackendTurn; strings owned by the two arrays below */
    GPtrArray *texts;
    GPtrArray *image_paths; /* GStrv per turn */
    HerdBackendSampling sampling;
} Request;

typedef enum { EV_LOAD_PROGRESS, EV_LOAD_DONE, EV_PROMPT_PROGRESS, EV_PIECE, EV_DONE } EventType;

typedef struct {
    EventType type;
    Request *req;
    char *text; /* piece, or final text for EV_DONE */
    double fraction;
    int done, total;
    herd_status status;
    char *error; /* EV_*_DONE when status != OK */
    char *model; /* EV_DONE: the model that wrote the answer */
    HerdMessageStats stats;
    HerdMessageState state;
} Event;

/* What the idle source needs; outlives the worker while a source is pending. */
typedef struct {
    GAsyncQueue *events;
    GMainContext *context;
    gint idle_pending;
    HerdWorker *owner; /* main thread only; NULL once disposed */
} Shared;

struct _HerdWorker {
    GObject parent_instance;
    /* main thread */
    Shared *shared;
    GThread *thread;
    gint last_serial;
    guint n_outstanding;
    char *model_name;
    guint n_dispatches;
    guint n_pieces_applied;
    /* thread (set before the thread starts, or atomic) */
    GAsyncQueue *requests;
    HerdBackend backend;
    HerdStore *store;
    gint cancel_serial;     /* atomic */
    gint running_serial;    /* atomic: serial of the request running, 0 = none */
    guint save_interval_ms; /* atomic */
    HerdWorkerSaveHook save_hook;
    gpointer save_hook_data;
    char *loaded_model; /* thread only: name of the model loaded last */
};

enum { PROP_0, PROP_BUSY, PROP_MODEL_NAME, N_PROPS };
static GParamSpec *props[N_PROPS];

enum { SIG_LOAD_PROGRESS, SIG_LOAD_FINISHED, SIG_PROMPT_PROGRESS, SIG_PIECE, SIG_FINISHED, N_SIGS };
static guint signals[N_SIGS];

G_DEFINE_TYPE(HerdWorker, herd_worker, G_TYPE_OBJECT)
G_DEFINE_QUARK(herd - worker - error - quark, herd_worker_error)

/* ---- requests and events ---- */

static void request_free(Request *r)
{
    g_free(r->model_path);
    g_free(r->mmproj_path);
    g_clear_object(&r->reply);
    if (r->turns)
        g_array_unref(r->turns);
    if (r->texts)
        g_ptr_array_unref(r->texts);
    if (r->image_paths)
        g_ptr_array_unref(r->image_paths);
    g_free(r);
}

static void event_free(Event *ev)
{
    g_free(ev->text);
    g_free(ev->error);
    g_free(ev->model);
    g_free(ev);
}

static void shared_clear(gpointer data)
{
    Shared *sh = data;
    Event *ev;
    while ((ev = g_async_queue_try_pop(sh->events)))
        event_free(ev); /* requests were freed in dispose; none can be left here */
    g_async_queue_unref(sh->events);
    g_main_context_unref(sh->context);
}

static void shared_unref(gpointer data)
{
    g_atomic_rc_box_release_full(data, shared_clear);
}

static gboolean dispatch(gpointer data);

/* Worker thread: queue an event and make sure one idle source will drain the queue. */
static void post_event(HerdWorker *self, Event *ev)
{
    Shared *sh = self->shared;
    g_async_queue_push(sh->events, ev);
    if (g_atomic_int_compare_and_exchange(&sh->idle_pending, 0, 1)) {
        GSource *src = g_idle_source_new();
        g_source_set_priority(src, G_PRIORITY_DEFAULT_IDLE);
        g_source_set_callback(src, dispatch, g_atomic_rc_box_acquire(sh), shared_unref);
        g_source_set_static_name(src, "[herd] worker events");
        g_source_attach(src, sh->context);
        g_source_unref(src);
    }
}

static Event *event_new(EventType type, Request *req)
{
    Event *ev = g_new0(Event, 1);
    ev->type = type;
    ev->req = req;
    return ev;
}

/* ---- worker thread ---- */

static gboolean is_cancelled(HerdWorker *self, const Request *r)
{
    return g_atomic_int_get(&self->cancel_serial) >= r->serial;
}

typedef struct {
    HerdWorker *self;
    Request *req;
    float last_fraction;
} LoadCtx;

static bool on_load_progress(float fraction, void *user)
{
    LoadCtx *lc = user;
    if (is_cancelled(lc->self, lc->req))
        return false;
    if (fraction - lc->last_fraction >= 0.01f || fraction >= 1.0f) {
        lc->last_fraction = fraction;
        Event *ev = event_new(EV_LOAD_PROGRESS, lc->req);
        ev->fraction = fraction;
        post_event(lc->self, ev);
    }
    return true;
}

static void run_load(HerdWorker *self, Request *r)
{
    LoadCtx lc = { self, r, -1.0f };
    herd_error err = { 0 };
    herd_status st;
    if (is_cancelled(self, r))
        st = herd_error_set(&err, HERD_ERR_ABORTED, "loading cancelled");
    else
        st = self->backend.vt->load(self->backend.impl, r->model_path, r->mmproj_path,
                                    on_load_progress, &lc, &err);
    if (st == HERD_OK) {
        g_free(self->loaded_model);
        self->loaded_model = g_path_get_basename(r->model_path);
    }
    Event *ev = event_new(EV_LOAD_DONE, r);
    ev->status = st;
    if (st != HERD_OK)
        ev->error = g_strdup(err.msg[0] ? err.msg : herd_status_name(st));
    post_event(self, ev);
}

typedef struct {
    HerdWorker *self;
    Request *req;
    GString *answer;
    gint64 t_start;
    gint64 t_first;
    gint64 last_save;
    int n_pieces;
} GenCtx;

static void save_text(GenCtx *g)
{
    if (!g->self->store)
        return;
    g_autoptr(GError) error = NULL;
    if (herd_store_update_message_text(g->self->store, g->req->message_id, g->answer->str,
                                       &error)) {
        if (g->self->save_hook)
            g->self->save_hook(g->req->message_id, g->answer->len, g->self->save_hook_data);
    } else {
        g_warning("cannot save the answer so far: %s", error->message);
    }
    g->last_save = g_get_monotonic_time();
}

static bool on_prompt_progress(int done, int total, void *user)
{
    GenCtx *g = user;
    if (is_cancelled(g->self, g->req))
        return false;
    Event *ev = event_new(EV_PROMPT_PROGRESS, g->req);
    ev->done = done;
    ev->total = total;
    post_event(g->self, ev);
    return true;
}

/* What the model writes is bytes: a sampled <0x00> byte token, or a character the decoder
 * could not complete, would cut or break the C strings that the message, the store and GTK
 * hold, so the streamed pieces and the final text would disagree. Each piece goes on as valid
 * UTF-8 without NUL, U+FFFD standing for each such byte, the same in both. */
static char *clean_piece(const char *text, size_t len)
{
    if (memchr(text, '\0', len) == NULL && g_utf8_validate(text, (gssize)len, NULL))
        return g_strndup(text, len);
    return g_utf8_make_valid(text, (gssize)len); /* NUL counts as invalid here */
}

static bool on_piece(const char *text, size_t len, void *user)
{
    GenCtx *g = user;
    if (is_cancelled(g->self, g->req))
        return false; /* this piece is dropped: the answer ends where the user stopped it */
    gint64 now = g_get_monotonic_time();
    if (!g->t_first)
        g->t_first = now;
    g->n_pieces++;
    if (len == 0)
        return true;
    Event *ev = event_new(EV_PIECE, g->req);
    ev->text = clean_piece(text, len);
    g_string_append(g->answer, ev->text);
    post_event(g->self, ev);
    guint interval = (guint)g_atomic_int_get((gint *)&g->self->save_interval_ms);
    if (now - g->last_save >= (gint64)interval * 1000)
        save_text(g);
    return true;
}

static void run_generate(HerdWorker *self, Request *r)
{
    GenCtx g = { self, r, g_string_new(NULL), g_get_monotonic_time(), 0, 0, 0 };
    g.last_save = g.t_start;
    herd_error err = { 0 };
    HerdBackendStats bs = { 0 };
    herd_status st;
    if (is_cancelled(self, r)) {
        st = herd_error_set(&err, HERD_ERR_ABORTED, "generation cancelled");
    } else {
        HerdBackendRequest breq = { (const HerdBackendTurn *)(void *)r->turns->data, r->turns->len,
                                    r->sampling };
        HerdBackendCallbacks cb = { on_prompt_progress, on_piece, &g };
        st = self->backend.vt->generate(self->backend.impl, &breq, &cb, &bs, &err);
    }
    gint64 t_end = g_get_monotonic_time();

    HerdMessageStats stats = { 0 };
    stats.n_prompt_tokens = bs.n_prompt_tokens;
    stats.n_gen_tokens = bs.n_gen_tokens ? bs.n_gen_tokens : g.n_pieces;
    if (g.t_first)
        stats.ttft_ms = (double)(g.t_first - g.t_start) / 1000.0;
    double gen_ms =
        bs.gen_ms > 0 ? bs.gen_ms : (g.t_first ? (double)(t_end - g.t_first) / 1000.0 : 0);
    if (gen_ms > 0)
        stats.tokens_per_s = stats.n_gen_tokens / (gen_ms / 1000.0);

    Event *ev = event_new(EV_DONE, r);
    ev->status = st;
    ev->stats = stats;
    ev->state = st == HERD_OK            ? HERD_MESSAGE_STATE_COMPLETE
                : st == HERD_ERR_ABORTED ? HERD_MESSAGE_STATE_INTERRUPTED
                                         : HERD_MESSAGE_STATE_ERROR;
    if (st != HERD_OK)
        ev->error = g_strdup(err.msg[0] ? err.msg : herd_status_name(st));
    if (self->store) {
        g_autoptr(GError) error = NULL;
        if (!herd_store_finish_message(self->store, r->message_id, g.answer->str, ev->state,
                                       ev->state == HERD_MESSAGE_STATE_ERROR ? ev->error : NULL,
                                       self->loaded_model, &stats, &error))
            g_warning("cannot save the answer: %s", error->message);
        else if (self->save_hook)
            self->save_hook(r->message_id, g.answer->len, self->save_hook_data);
    }
    ev->text = g_string_free(g.answer, FALSE);
    ev->model = g_strdup(self->loaded_model);
    post_event(self, ev);
}

static gpointer worker_main(gpointer data)
{
    HerdWorker *self = data;
    for (;;) {
        Request *r = g_async_queue_pop(self->requests);
        if (r->type == REQ_QUIT) {
            request_free(r);
            break;
        }
        g_atomic_int_set(&self->running_serial, r->serial);
        if (r->type == REQ_LOAD)
            run_load(self, r);
        else
            run_generate(self, r);
        g_atomic_int_set(&self->running_serial, 0);
    }
    if (self->backend.vt && self->backend.vt->free)
        self->backend.vt->free(self->backend.impl);
    self->backend.vt = NULL;
    return NULL;
}

/* ---- main thread ---- */

static void request_finished(HerdWorker *self)
{
    g_assert(self->n_outstanding > 0);
    if (--self->n_outstanding == 0)
        g_object_notify_by_pspec(G_OBJECT(self), props[PROP_BUSY]);
}

static GError *event_error(const Event *ev)
{
    return ev->status == HERD_OK ? NULL
                                 : g_error_new_literal(HERD_WORKER_ERROR, (gint)ev->status,
                                                       ev->error ? ev->error : "failed");
}

static void apply_pieces(HerdWorker *self, Request *req, GString *text, guint n)
{
    self->n_dispatches++;
    self->n_pieces_applied += n;
    herd_message_append_text(req->reply, text->str, (gssize)text->len);
    g_signal_emit(self, signals[SIG_PIECE], 0, req->reply, text->str);
}

/* Applies an event to the models and emits its signal (emit FALSE: only the models, used
 * while disposing). Frees the event, and the request with its last event. */
static void handle_event(HerdWorker *self, Event *ev, gboolean emit)
{
    Request *r = ev->req;
    switch (ev->type) {
    case EV_LOAD_PROGRESS:
        if (emit)
            g_signal_emit(self, signals[SIG_LOAD_PROGRESS], 0, ev->fraction);
        break;
    case EV_LOAD_DONE: {
        if (ev->status == HERD_OK) {
            g_free(self->model_name);
            self->model_name = g_path_get_basename(r->model_path ? r->model_path : "model");
            g_object_notify_by_pspec(G_OBJECT(self), props[PROP_MODEL_NAME]);
        }
        g_autoptr(GError) error = event_error(ev);
        request_finished(self);
        if (emit)
            g_signal_emit(self, signals[SIG_LOAD_FINISHED], 0, error);
        request_free(r);
        break;
    }
    case EV_PROMPT_PROGRESS:
        if (emit)
            g_signal_emit(self, signals[SIG_PROMPT_PROGRESS], 0, r->reply, ev->done, ev->total);
        break;
    case EV_PIECE:
        break; /* handled in batches by dispatch() */
    case EV_DONE: {
        HerdMessage *msg = r->reply;
        g_object_freeze_notify(G_OBJECT(msg));
        herd_message_set_text(msg, ev->text);
        herd_message_set_stats(msg, &ev->stats);
        if (ev->model)
            herd_message_set_model(msg, ev->model);
        herd_message_set_error_text(msg, ev->state == HERD_MESSAGE_STATE_ERROR ? ev->error : NULL);
        herd_message_set_state(msg, ev->state);
        g_object_thaw_notify(G_OBJECT(msg));
        g_autoptr(GError) error = event_error(ev);
        request_finished(self);
        if (emit)
            g_signal_emit(self, signals[SIG_FINISHED], 0, msg, error);
        request_free(r);
        break;
    }
    }
    event_free(ev);
}

static gboolean dispatch(gpointer data)
{
    Shared *sh = data;
    g_atomic_int_set(&sh->idle_pending, 0);
    HerdWorker *self = sh->owner;
    if (!self)
        return G_SOURCE_REMOVE;
    g_object_ref(self);
    /* Only what is queued now: a fast producer cannot keep this handler running. */
    gint budget = g_async_queue_length(sh->events);
    GString *text = g_string_new(NULL);
    Request *text_req = NULL;
    guint n_text = 0;
    Event *ev;
    while (budget-- > 0 && (ev = g_async_queue_try_pop(sh->events))) {
        if (ev->type == EV_PIECE && (!text_req || text_req == ev->req)) {
            text_req = ev->req;
            g_string_append(text, ev->text);
            n_text++;
            event_free(ev);
            continue;
        }
        if (text_req) {
            apply_pieces(self, text_req, text, n_text);
            g_string_truncate(text, 0);
            text_req = NULL;
            n_text = 0;
        }
        if (ev->type == EV_PIECE) { /* a piece of another request: start a new batch */
            text_req = ev->req;
            g_string_append(text, ev->text);
            n_text = 1;
            event_free(ev);
            continue;
        }
        handle_event(self, ev, TRUE);
    }
    if (text_req)
        apply_pieces(self, text_req, text, n_text);
    g_string_free(text, TRUE);
    /* More arrived while we worked and no source was scheduled for them: schedule one. */
    if (g_async_queue_length(sh->events) > 0 &&
        g_atomic_int_compare_and_exchange(&sh->idle_pending, 0, 1)) {
        GSource *src = g_idle_source_new();
        g_source_set_priority(src, G_PRIORITY_DEFAULT_IDLE);
        g_source_set_callback(src, dispatch, g_atomic_rc_box_acquire(sh), shared_unref);
        g_source_attach(src, sh->context);
        g_source_unref(src);
    }
    g_object_unref(self);
    return G_SOURCE_REMOVE;
}

static void post_request(HerdWorker *self, Request *r)
{
    r->serial = ++self->last_serial;
    if (self->n_outstanding++ == 0)
        g_object_notify_by_pspec(G_OBJECT(self), props[PROP_BUSY]);
    g_async_queue_push(self->requests, r);
}

void herd_worker_stop(HerdWorker *self)
{
    g_return_if_fail(HERD_IS_WORKER(self));
    g_atomic_int_set(&self->cancel_serial, self->last_serial);
    gint running = g_atomic_int_get(&self->running_serial);
    /* Reaches into a long prefill or load step; a request posted after this call clears the
     * backend's flag when it starts. */
    if (running && running <= self->last_serial && self->backend.vt)
        self->backend.vt->cancel(self->backend.impl);
}

static void herd_worker_dispose(GObject *object)
{
    HerdWorker *self = HERD_WORKER(object);
    if (self->thread) {
        herd_worker_stop(self);
        Request *quit = g_new0(Request, 1);
        quit->type = REQ_QUIT;
        g_async_queue_push(self->requests, quit);
        g_thread_join(self->thread); /* at most one piece or progress step away */
        self->thread = NULL;
        /* Settle the models (states, final texts) without signals: the UI is going away. */
        Event *ev;
        while ((ev = g_async_queue_try_pop(self->shared->events))) {
            if (ev->type == EV_PIECE)
                event_free(ev);
            else
                handle_event(self, ev, FALSE);
        }
        self->shared->owner = NULL;
        shared_unref(self->shared);
        self->shared = NULL;
    }
    g_clear_object(&self->store);
    G_OBJECT_CLASS(herd_worker_parent_class)->dispose(object);
}

static void herd_worker_finalize(GObject *object)
{
    HerdWorker *self = HERD_WORKER(object);
    g_async_queue_unref(self->requests);
    g_free(self->model_name);
    g_free(self->loaded_model);
    G_OBJECT_CLASS(herd_worker_parent_class)->finalize(object);
}

static void herd_worker_get_property(GObject *object, guint prop_id, GValue *value,
                                     GParamSpec *pspec)
{
    HerdWorker *self = HERD_WORKER(object);
    switch (prop_id) {
    case PROP_BUSY:
        g_value_set_boolean(value, self->n_outstanding > 0);
        break;
    case PROP_MODEL_NAME:
        g_value_set_string(value, self->model_name);
        break;
    default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    }
}

static void herd_worker_class_init(HerdWorkerClass *klass)
{
    GObjectClass *oc = G_OBJECT_CLASS(klass);
    oc->dispose = herd_worker_dispose;
    oc->finalize = herd_worker_finalize;
    oc->get_property = herd_worker_get_property;
    const GParamFlags ro = G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;
    props[PROP_BUSY] = g_param_spec_boolean("busy", NULL, NULL, FALSE, ro);
    props[PROP_MODEL_NAME] = g_param_spec_string("model-name", NULL, NULL, NULL, ro);
    g_object_class_install_properties(oc, N_PROPS, props);

    GType t = G_TYPE_FROM_CLASS(klass);
    signals[SIG_LOAD_PROGRESS] = g_signal_new("load-progress", t, G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                                              NULL, G_TYPE_NONE, 1, G_TYPE_DOUBLE);
    signals[SIG_LOAD_FINISHED] = g_signal_new("load-finished", t, G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                                              NULL, G_TYPE_NONE, 1, G_TYPE_ERROR);
    signals[SIG_PROMPT_PROGRESS] =
        g_signal_new("prompt-progress", t, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 3,
                     HERD_TYPE_MESSAGE, G_TYPE_INT, G_TYPE_INT);
    signals[SIG_PIECE] = g_signal_new("piece", t, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                      G_TYPE_NONE, 2, HERD_TYPE_MESSAGE, G_TYPE_STRING);
    signals[SIG_FINISHED] = g_signal_new("finished", t, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                         G_TYPE_NONE, 2, HERD_TYPE_MESSAGE, G_TYPE_ERROR);
}

static void herd_worker_init(HerdWorker *self)
{
    self->requests = g_async_queue_new();
    self->save_interval_ms = 1000;
}

HerdWorker *herd_worker_new(HerdBackend backend, HerdStore *store)
{
    g_return_val_if_fail(
        backend.vt && backend.vt->load && backend.vt->generate && backend.vt->cancel, NULL);
    HerdWorker *self = g_object_new(HERD_TYPE_WORKER, NULL);
    self->backend = backend;
    self->store = store ? g_object_ref(store) : NULL;
    self->shared = g_atomic_rc_box_new0(Shared);
    self->shared->events = g_async_queue_new();
    self->shared->context = g_main_context_ref_thread_default();
    self->shared->owner = self;
    self->thread = g_thread_new("herd-worker", worker_main, self);
    return self;
}

void herd_worker_set_save_interval(HerdWorker *self, guint ms)
{
    g_return_if_fail(HERD_IS_WORKER(self));
    g_atomic_int_set((gint *)&self->save_interval_ms, (gint)MAX(ms, 1u));
}

void herd_worker_set_save_hook(HerdWorker *self, HerdWorkerSaveHook hook, gpointer user_data)
{
    g_return_if_fail(HERD_IS_WORKER(self));
    g_return_if_fail(self->last_serial == 0); /* set before the first request */
    self->save_hook = hook;
    self->save_hook_data = user_data;
}

gboolean herd_worker_get_busy(HerdWorker *self)
{
    g_return_val_if_fail(HERD_IS_WORKER(self), FALSE);
    return self->n_outstanding > 0;
}

const char *herd_worker_get_model_name(HerdWorker *self)
{
    g_return_val_if_fail(HERD_IS_WORKER(self), NULL);
    return self->model_name;
}

void herd_worker_get_counters(HerdWorker *self, guint *n_dispatches, guint *n_pieces)
{
    g_return_if_fail(HERD_IS_WORKER(self));
    if (n_dispatches)
        *n_dispatches = self->n_dispatches;
    if (n_pieces)
        *n_pieces = self->n_pieces_applied;
}

void herd_worker_load_model(HerdWorker *self, const char *model_path, const char *mmproj_path)
{
    g_return_if_fail(HERD_IS_WORKER(self) && model_path);
    Request *r = g_new0(Request, 1);
    r->type = REQ_LOAD;
    r->model_path = g_strdup(model_path);
    r->mmproj_path = g_strdup(mmproj_path);
    post_request(self, r);
}

static char *sampling_to_json(const HerdBackendSampling *s)
{
    g_autoptr(HerdJson) o = herd_json_new_object();
    herd_json_object_set(o, "temperature", herd_json_new_number(s->temperature));
    herd_json_object_set(o, "top_p", herd_json_new_number(s->top_p));
    herd_json_object_set(o, "top_k", herd_json_new_number(s->top_k));
    herd_json_object_set(o, "seed", herd_json_new_number((double)s->seed));
    herd_json_object_set(o, "max_tokens", herd_json_new_number(s->max_tokens));
    return herd_json_to_string(o, FALSE);
}

HerdMessage *herd_worker_generate(HerdWorker *self, HerdConversation *conv,
                                  const HerdSampling *sampling, GError **error)
{
    g_return_val_if_fail(HERD_IS_WORKER(self) && HERD_IS_CONVERSATION(conv), NULL);
    Request *r = g_new0(Request, 1);
    r->type = REQ_GENERATE;
    if (sampling) {
        r->sampling = *sampling;
    } else {
        r->sampling.temperature = 0.6f;
        r->sampling.top_p = 0.9f;
    }
    /* Snapshot the conversation: the worker thread must not read the models. */
    r->turns = g_array_new(FALSE, TRUE, sizeof(HerdBackendTurn));
    r->texts = g_ptr_array_new_with_free_func(g_free);
    r->image_paths = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
    guint n = g_list_model_get_n_items(G_LIST_MODEL(conv));
    for (guint i = 0; i < n; i++) {
        HerdMessage *m = herd_conversation_get_message(conv, i);
        HerdMessageState st = herd_message_get_state(m);
        if (st != HERD_MESSAGE_STATE_COMPLETE && st != HERD_MESSAGE_STATE_INTERRUPTED)
            continue;
        guint ni = herd_message_get_n_images(m);
        char **paths = g_new0(char *, ni + 1);
        for (guint k = 0; k < ni; k++)
            paths[k] = g_strdup(herd_message_get_image(m, k)->path);
        char *text = g_strdup(herd_message_get_text(m));
        g_ptr_array_add(r->texts, text);
        g_ptr_array_add(r->image_paths, paths);
        HerdBackendTurn t = { herd_message_get_role(m), text, (const char *const *)paths, ni };
        g_array_append_val(r->turns, t);
    }
    g_autofree char *sampling_json = sampling_to_json(&r->sampling);
    HerdMessage *reply =
        herd_conversation_begin_reply(conv, self->model_name, sampling_json, error);
    if (!reply) {
        request_free(r);
        return NULL;
    }
    r->reply = g_object_ref(reply);
    r->message_id = herd_message_get_id(reply);
    post_request(self, r);
    return reply;
}
