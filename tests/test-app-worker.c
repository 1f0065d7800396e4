/* test-app-worker: the engine bridge with the fake backend. Pieces arrive in order and equal
 * the script; the store holds the final text, state and stats; stop ends an answer within one
 * piece (with and without the backend's own cancel); a stop before the worker starts a request
 * cancels it without cancelling later ones; bytes that are not text arrive as U+FFFD; errors
 * and loads are reported; disposing mid-answer settles the message; and the main loop is never
 * blocked: the longest gap between iterations of a 1 ms timeout during a fast generation is
 * measured and bounded. */
#include "app-test-util.h"
#include "herd-backend-fake.h"
#include "herd-conversation.h"
#include "herd-worker.h"

typedef struct {
    char *dir;
    HerdStore *store;
    HerdConversation *conv;
} Fixture;

static void setup(Fixture *f, gconstpointer data)
{
    f->dir = test_tmpdir();
    g_autofree char *db = g_build_filename(f->dir, "herd.db", NULL);
    GError *e = NULL;
    f->store = herd_store_open(db, &e);
    g_assert_no_error(e);
    f->conv = herd_conversation_new(f->store, "worker test", &e);
    g_assert_no_error(e);
    g_autofree char *img = test_write(f->dir, "llamas.png", test_png_red, TEST_PNG_RED_LEN);
    HerdMessageImage att = { img, NULL, NULL, 2, 2, 0 };
    g_assert_nonnull(herd_conversation_add_message(f->conv, HERD_MESSAGE_ROLE_USER,
                                                   "Describe this picture", &att, 1, &e));
    g_assert_no_error(e);
}

static void teardown(Fixture *f, gconstpointer data)
{
    g_assert_finalize_object(f->conv);
    g_assert_finalize_object(f->store);
    test_rm_rf(f->dir);
    g_free(f->dir);
}

/* Iterates the default main context until *flag or the timeout (then fails). */
static void wait_for(gboolean *flag, guint timeout_ms)
{
    gint64 end = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    while (!*flag) {
        g_main_context_iteration(NULL, FALSE);
        if (!*flag)
            g_usleep(200);
        if (g_get_monotonic_time() > end)
            g_error("timed out after %u ms", timeout_ms);
    }
}

/* n pieces "<prefix>0000 ", "<prefix>0001 ", ... */
static char **make_script(guint n, const char *prefix)
{
    char **p = g_new0(char *, n + 1);
    for (guint i = 0; i < n; i++)
        p[i] = g_strdup_printf("%s%04u ", prefix, i);
    return p;
}

typedef struct {
    GString *pieces;
    guint n_piece_signals;
    guint n_text_notify;
    gboolean finished;
    guint n_finished;
    GError *error;
    int last_prompt_done, prompt_total;
    gboolean prompt_monotonic;
    /* stop test */
    guint stop_after;
    HerdWorker *worker;
    gint64 t_stop;
    gint64 t_finished;
    guint pieces_seen_at_stop;
} Watch;

static void on_piece(HerdWorker *w, HerdMessage *msg, const char *text, Watch *wt)
{
    g_string_append(wt->pieces, text);
    wt->n_piece_signals++;
    /* The message already holds everything delivered so far. */
    g_assert_cmpstr(herd_message_get_text(msg), ==, wt->pieces->str);
    g_assert_cmpint(herd_message_get_state(msg), ==, HERD_MESSAGE_STATE_STREAMING);
    if (wt->stop_after && !wt->t_stop && wt->pieces->len >= wt->stop_after) {
        wt->t_stop = g_get_monotonic_time();
        wt->pieces_seen_at_stop = wt->pieces->len;
        herd_worker_stop(wt->worker);
    }
}

static void on_prompt(HerdWorker *w, HerdMessage *msg, int done, int total, Watch *wt)
{
    if (done < wt->last_prompt_done || done > total)
        wt->prompt_monotonic = FALSE;
    wt->last_prompt_done = done;
    wt->prompt_total = total;
}

static void on_finished(HerdWorker *w, HerdMessage *msg, const GError *error, Watch *wt)
{
    wt->finished = TRUE;
    wt->n_finished++;
    wt->t_finished = g_get_monotonic_time();
    g_clear_error(&wt->error);
    wt->error = error ? g_error_copy(error) : NULL;
}

static void on_text_notify(HerdMessage *msg, GParamSpec *pspec, Watch *wt)
{
    wt->n_text_notify++;
}

static void watch_init(Watch *wt, HerdWorker *w)
{
    memset(wt, 0, sizeof *wt);
    wt->pieces = g_string_new(NULL);
    wt->prompt_monotonic = TRUE;
    wt->worker = w;
    g_signal_connect(w, "piece", G_CALLBACK(on_piece), wt);
    g_signal_connect(w, "prompt-progress", G_CALLBACK(on_prompt), wt);
    g_signal_connect(w, "finished", G_CALLBACK(on_finished), wt);
}

static void watch_clear(Watch *wt)
{
    g_string_free(wt->pieces, TRUE);
    g_clear_error(&wt->error);
}

static void test_stream(Fixture *f, gconstpointer data)
{
    g_auto(GStrv) script = make_script(200, "p");
    herd_fake_backend_config cfg = { 0 };
    cfg.pieces = (const char *const *)script;
    cfg.piece_delay_us = 500;
    cfg.prompt_tokens = 300;
    cfg.prompt_batch_delay_us = 1000;
    HerdBackend be = herd_fake_backend_new(&cfg);
    g_autofree char *expect = herd_fake_backend_script_text(&be);
    HerdWorker *w = herd_worker_new(be, f->store);
    Watch wt;
    watch_init(&wt, w);
    GError *e = NULL;
    herd_worker_load_model(w, "fake", NULL);
    HerdMessage *reply = herd_worker_generate(w, f->conv, NULL, &e);
    g_assert_no_error(e);
    g_assert_true(herd_worker_get_busy(w));
    g_signal_connect(reply, "notify::text", G_CALLBACK(on_text_notify), &wt);
    g_assert_cmpint(herd_message_get_role(reply), ==, HERD_MESSAGE_ROLE_ASSISTANT);
    g_assert_cmpint(herd_message_get_state(reply), ==, HERD_MESSAGE_STATE_STREAMING);
    g_assert_cmpuint(g_list_model_get_n_items(G_LIST_MODEL(f->conv)), ==, 2);
    wait_for(&wt.finished, 20000);

    g_assert_no_error(wt.error);
    g_assert_cmpuint(wt.n_finished, ==, 1);
    g_assert_false(herd_worker_get_busy(w));
    g_assert_cmpstr(wt.pieces->str, ==, expect); /* every piece, in order */
    g_assert_cmpstr(herd_message_get_text(reply), ==, expect);
    g_assert_cmpint(herd_message_get_state(reply), ==, HERD_MESSAGE_STATE_COMPLETE);
    g_assert_cmpuint(wt.n_text_notify, ==, wt.n_piece_signals); /* one notify per batch */
    g_assert_true(wt.prompt_monotonic);
    g_assert_cmpint(wt.prompt_total, ==, 300);
    g_assert_cmpint(wt.last_prompt_done, ==, 300);
    const HerdMessageStats *st = herd_message_get_stats(reply);
    g_assert_cmpint(st->n_prompt_tokens, ==, 300);
    g_assert_cmpint(st->n_gen_tokens, ==, 200);
    g_assert_cmpfloat(st->ttft_ms, >=, 10.0); /* 10 prefill batches of 1 ms */
    g_assert_cmpfloat(st->tokens_per_s, >, 0.0);
    g_assert_cmpstr(herd_message_get_model(reply), ==, "fake");
    g_test_message("stream: %u pieces in %u batches, ttft %.1f ms, %.0f tokens/s", 200,
                   wt.n_piece_signals, st->ttft_ms, st->tokens_per_s);

    /* The store has the same final answer. */
    g_autoptr(HerdStoreMessage) rec =
        herd_store_get_message(f->store, herd_message_get_id(reply), &e);
    g_assert_no_error(e);
    g_assert_cmpstr(rec->text, ==, expect);
    g_assert_cmpint(rec->state, ==, HERD_MESSAGE_STATE_COMPLETE);
    g_assert_cmpint(rec->stats.n_gen_tokens, ==, 200);
    g_assert_cmpstr(rec->model, ==, "fake");
    g_assert_nonnull(strstr(rec->sampling_json, "\"temperature\":0.6"));

    /* The backend saw the conversation before the reply, with the image. */
    herd_fake_backend_report rep;
    herd_fake_backend_get_report(&be, &rep);
    g_assert_cmpint(rep.n_generates, ==, 1);
    g_assert_cmpuint(rep.last_n_turns, ==, 1);
    g_assert_cmpstr(rep.last_prompt, ==, "user: Describe this picture [1 images]\n");

    /* A second turn sees the first answer. */
    g_assert_nonnull(
        herd_conversation_add_message(f->conv, HERD_MESSAGE_ROLE_USER, "And now?", NULL, 0, &e));
    wt.finished = FALSE;
    g_string_truncate(wt.pieces, 0);
    g_assert_nonnull(herd_worker_generate(w, f->conv, NULL, &e));
    wait_for(&wt.finished, 20000);
    herd_fake_backend_get_report(&be, &rep);
    g_assert_cmpuint(rep.last_n_turns, ==, 3);
    g_assert_true(g_str_has_prefix(
        rep.last_prompt, "user: Describe this picture [1 images]\nassistant: p0000 p0001"));
    watch_clear(&wt);
    g_assert_finalize_object(w);
}

static void run_stop(Fixture *f, gboolean ignore_cancel)
{
    g_auto(GStrv) script = make_script(400, "s");
    herd_fake_backend_config cfg = { 0 };
    cfg.pieces = (const char *const *)script;
    cfg.piece_delay_us = 3000;
    cfg.ignore_cancel = ignore_cancel;
    HerdBackend be = herd_fake_backend_new(&cfg);
    g_autofree char *full = herd_fake_backend_script_text(&be);
    HerdWorker *w = herd_worker_new(be, f->store);
    Watch wt;
    watch_init(&wt, w);
    wt.stop_after = 6 * 20; /* 20 pieces of 6 bytes */
    GError *e = NULL;
    HerdMessage *reply = herd_worker_generate(w, f->conv, NULL, &e);
    g_assert_no_error(e);
    wait_for(&wt.finished, 20000);

    g_assert_error(wt.error, HERD_WORKER_ERROR, HERD_ERR_ABORTED);
    g_assert_cmpint(herd_message_get_state(reply), ==, HERD_MESSAGE_STATE_INTERRUPTED);
    const char *text = herd_message_get_text(reply);
    g_assert_true(g_str_has_prefix(full, text));
    herd_fake_backend_report rep;
    herd_fake_backend_get_report(&be, &rep);
    /* ignore_cancel: only the worker's piece callback can stop it, so exactly one piece is
     * produced after the stop (and dropped); otherwise the backend may stop even earlier. */
    g_assert_cmpint(rep.n_pieces_after_cancel, <=, 1);
    guint n_final = (guint)strlen(text) / 6;
    guint n_seen = wt.pieces_seen_at_stop / 6;
    /* Pieces already made but not yet delivered when Stop was pressed still count; the one
     * made after it (if any) is dropped. */
    g_assert_cmpuint(n_final, >=, n_seen);
    g_assert_cmpuint(n_final, <=, (guint)rep.n_pieces_emitted);
    g_assert_cmpuint((guint)rep.n_pieces_emitted - n_final, <=, 1);
    g_assert_cmpuint(n_final, <, 400);
    double latency_ms = (double)(wt.t_finished - wt.t_stop) / 1000.0;
    g_test_message("stop (%s): seen %u pieces at stop, %u kept, %d emitted after cancel, "
                   "stop-to-finished %.1f ms",
                   ignore_cancel ? "callback only" : "backend cancel", n_seen, n_final,
                   rep.n_pieces_after_cancel, latency_ms);
    g_assert_cmpfloat(latency_ms, <, 1000.0);
    g_autoptr(HerdStoreMessage) rec =
        herd_store_get_message(f->store, herd_message_get_id(reply), &e);
    g_assert_cmpstr(rec->text, ==, text);
    g_assert_cmpint(rec->state, ==, HERD_MESSAGE_STATE_INTERRUPTED);
    watch_clear(&wt);
    g_assert_finalize_object(w);
}

static void test_stop_callback(Fixture *f, gconstpointer data)
{
    run_stop(f, TRUE);
}

static void test_stop_backend(Fixture *f, gconstpointer data)
{
    run_stop(f, FALSE);
}

static void test_stop_before_start(Fixture *f, gconstpointer data)
{
    herd_fake_backend_config cfg = { 0 };
    cfg.load_steps = 20;
    cfg.load_step_delay_us = 20000; /* keeps the worker busy for 400 ms */
    HerdBackend be = herd_fake_backend_new(&cfg);
    HerdWorker *w = herd_worker_new(be, f->store);
    Watch wt;
    watch_init(&wt, w);
    GError *e = NULL;
    herd_worker_load_model(w, "fake", NULL);
    HerdMessage *r1 = herd_worker_generate(w, f->conv, NULL, &e);
    herd_worker_stop(w); /* cancels the load and the queued generation */
    wait_for(&wt.finished, 20000);
    g_assert_error(wt.error, HERD_WORKER_ERROR, HERD_ERR_ABORTED);
    g_assert_cmpint(herd_message_get_state(r1), ==, HERD_MESSAGE_STATE_INTERRUPTED);
    g_assert_cmpstr(herd_message_get_text(r1), ==, "");
    herd_fake_backend_report rep;
    herd_fake_backend_get_report(&be, &rep);
    g_assert_cmpint(rep.n_generates, ==, 0);

    /* A request posted after the stop runs normally. */
    wt.finished = FALSE;
    HerdMessage *r2 = herd_worker_generate(w, f->conv, NULL, &e);
    wait_for(&wt.finished, 20000);
    g_assert_no_error(wt.error);
    g_assert_cmpint(herd_message_get_state(r2), ==, HERD_MESSAGE_STATE_COMPLETE);
    g_autofree char *full = herd_fake_backend_script_text(&be);
    g_assert_cmpstr(herd_message_get_text(r2), ==, full);
    watch_clear(&wt);
    g_assert_finalize_object(w);
}

static void test_error(Fixture *f, gconstpointer data)
{
    herd_fake_backend_config cfg = { 0 };
    cfg.fail_after_pieces = 5;
    HerdBackend be = herd_fake_backend_new(&cfg);
    HerdWorker *w = herd_worker_new(be, f->store);
    Watch wt;
    watch_init(&wt, w);
    GError *e = NULL;
    HerdMessage *reply = herd_worker_generate(w, f->conv, NULL, &e);
    wait_for(&wt.finished, 20000);
    g_assert_error(wt.error, HERD_WORKER_ERROR, HERD_ERR_DEVICE);
    g_assert_cmpint(herd_message_get_state(reply), ==, HERD_MESSAGE_STATE_ERROR);
    g_assert_cmpstr(herd_message_get_text(reply), ==, "The picture shows a herd ");
    g_assert_nonnull(strstr(herd_message_get_error_text(reply), "device lost"));
    g_autoptr(HerdStoreMessage) rec =
        herd_store_get_message(f->store, herd_message_get_id(reply), &e);
    g_assert_cmpint(rec->state, ==, HERD_MESSAGE_STATE_ERROR);
    g_assert_cmpstr(rec->error_text, ==, herd_message_get_error_text(reply));
    g_assert_cmpstr(rec->text, ==, "The picture shows a herd ");
    watch_clear(&wt);
    g_assert_finalize_object(w);
}

/* Bytes that are not text (a NUL, an invalid UTF-8 byte) reach the pieces, the message and
 * the store as U+FFFD, the same in all three. */
static void test_bytes(Fixture *f, gconstpointer data)
{
    static const char *const script[] = { "Hello ", "nul\0byte ", "bad\xff ", "\xc3", "end" };
    static const size_t lens[] = { 6, 9, 5, 1, 3 };
    herd_fake_backend_config cfg = { 0 };
    cfg.pieces = script;
    cfg.n_pieces = G_N_ELEMENTS(script);
    cfg.piece_lens = lens;
    HerdWorker *w = herd_worker_new(herd_fake_backend_new(&cfg), f->store);
    Watch wt;
    watch_init(&wt, w);
    GError *e = NULL;
    HerdMessage *reply = herd_worker_generate(w, f->conv, NULL, &e);
    g_assert_no_error(e);
    wait_for(&wt.finished, 20000);
    g_assert_no_error(wt.error);
    const char *want = "Hello nul\xef\xbf\xbd"
                       "byte bad\xef\xbf\xbd \xef\xbf\xbd"
                       "end";
    g_assert_cmpstr(wt.pieces->str, ==, want);
    g_assert_cmpstr(herd_message_get_text(reply), ==, want);
    g_autoptr(HerdStoreMessage) rec =
        herd_store_get_message(f->store, herd_message_get_id(reply), &e);
    g_assert_no_error(e);
    g_assert_cmpstr(rec->text, ==, want);
    watch_clear(&wt);
    g_assert_finalize_object(w);
}

typedef struct {
    double last;
    gboolean monotonic;
    guint n;
    gboolean done;
    GError *error;
    HerdWorker *w;
    gboolean stop_on_first;
} LoadWatch;

static void on_load_progress(HerdWorker *w, double fraction, LoadWatch *lw)
{
    if (fraction < lw->last || fraction > 1.0)
        lw->monotonic = FALSE;
    lw->last = fraction;
    lw->n++;
    if (lw->stop_on_first)
        herd_worker_stop(w);
}

static void on_load_finished(HerdWorker *w, const GError *error, LoadWatch *lw)
{
    lw->done = TRUE;
    g_clear_error(&lw->error);
    lw->error = error ? g_error_copy(error) : NULL;
}

static void test_load(Fixture *f, gconstpointer data)
{
    herd_fake_backend_config cfg = { 0 };
    cfg.load_steps = 50;
    cfg.load_step_delay_us = 2000;
    HerdBackend be = herd_fake_backend_new(&cfg);
    HerdWorker *w = herd_worker_new(be, NULL);
    LoadWatch lw = { 0, TRUE, 0, FALSE, NULL, w, FALSE };
    g_signal_connect(w, "load-progress", G_CALLBACK(on_load_progress), &lw);
    g_signal_connect(w, "load-finished", G_CALLBACK(on_load_finished), &lw);
    g_autofree char *model = test_write(f->dir, "tiny.gguf", "GGUF", 4);
    herd_worker_load_model(w, model, NULL);
    wait_for(&lw.done, 20000);
    g_assert_no_error(lw.error);
    g_assert_true(lw.monotonic);
    g_assert_cmpfloat(lw.last, ==, 1.0);
    g_assert_cmpuint(lw.n, >=, 1);
    g_assert_cmpstr(herd_worker_get_model_name(w), ==, "tiny.gguf");

    lw.done = FALSE;
    herd_worker_load_model(w, "/nonexistent/model.gguf", NULL);
    wait_for(&lw.done, 20000);
    g_assert_error(lw.error, HERD_WORKER_ERROR, HERD_ERR_IO);
    g_assert_cmpstr(herd_worker_get_model_name(w), ==, "tiny.gguf"); /* the old one stays */

    lw.done = FALSE;
    lw.stop_on_first = TRUE;
    lw.n = 0;
    herd_worker_load_model(w, model, NULL);
    wait_for(&lw.done, 20000);
    g_assert_error(lw.error, HERD_WORKER_ERROR, HERD_ERR_ABORTED);
    g_assert_cmpuint(lw.n, <=, 3);
    g_clear_error(&lw.error);
    g_assert_finalize_object(w);
}

static void test_dispose_mid_answer(Fixture *f, gconstpointer data)
{
    herd_fake_backend_config cfg = { 0 };
    cfg.piece_delay_us = 20000;
    HerdBackend be = herd_fake_backend_new(&cfg);
    HerdWorker *w = herd_worker_new(be, f->store);
    Watch wt;
    watch_init(&wt, w);
    GError *e = NULL;
    HerdMessage *reply = herd_worker_generate(w, f->conv, NULL, &e);
    gint64 id = herd_message_get_id(reply);
    while (wt.n_piece_signals < 2)
        g_main_context_iteration(NULL, TRUE);
    gint64 t0 = g_get_monotonic_time();
    g_assert_finalize_object(w); /* joins the thread */
    double ms = (double)(g_get_monotonic_time() - t0) / 1000.0;
    g_test_message("dispose mid-answer took %.1f ms", ms);
    g_assert_cmpfloat(ms, <, 500.0);
    g_assert_false(wt.finished); /* no signals from a disposed worker */
    g_assert_cmpint(herd_message_get_state(reply), ==, HERD_MESSAGE_STATE_INTERRUPTED);
    g_autoptr(HerdStoreMessage) rec = herd_store_get_message(f->store, id, &e);
    g_assert_cmpint(rec->state, ==, HERD_MESSAGE_STATE_INTERRUPTED);
    g_assert_cmpstr(rec->text, ==, herd_message_get_text(reply));
    g_assert_cmpuint(strlen(rec->text), >, 0);
    /* Idle sources queued before the dispose are harmless. */
    for (int i = 0; i < 10; i++)
        g_main_context_iteration(NULL, FALSE);
    watch_clear(&wt);
}

typedef struct {
    gint64 last;
    gint64 max_gap;
    guint ticks;
} Ticker;

static gboolean tick(gpointer data)
{
    Ticker *t = data;
    gint64 now = g_get_monotonic_time();
    if (t->last && now - t->last > t->max_gap)
        t->max_gap = now - t->last;
    t->last = now;
    t->ticks++;
    return G_SOURCE_CONTINUE;
}

static void on_finished_only(HerdWorker *w, HerdMessage *msg, const GError *error, gboolean *done)
{
    g_assert_no_error(error);
    *done = TRUE;
}

static void test_main_loop_not_blocked(Fixture *f, gconstpointer data)
{
    const guint n = 5000;
    g_auto(GStrv) script = make_script(n, "tok");
    herd_fake_backend_config cfg = { 0 };
    cfg.pieces = (const char *const *)script;
    cfg.piece_delay_us = 100; /* up to ~10000 pieces/s: far faster than any real model here */
    HerdBackend be = herd_fake_backend_new(&cfg);
    g_autofree char *expect = herd_fake_backend_script_text(&be);
    HerdWorker *w = herd_worker_new(be, f->store);
    herd_worker_set_save_interval(w, 100);
    gboolean done = FALSE;
    g_signal_connect(w, "finished", G_CALLBACK(on_finished_only), &done);
    Ticker t = { 0 };
    guint src = g_timeout_add(1, tick, &t);
    GError *e = NULL;
    gint64 t0 = g_get_monotonic_time();
    HerdMessage *reply = herd_worker_generate(w, f->conv, NULL, &e);
    /* Block in poll like a real main loop does. */
    while (!done)
        g_main_context_iteration(NULL, TRUE);
    double total_ms = (double)(g_get_monotonic_time() - t0) / 1000.0;
    g_source_remove(src);
    guint n_dispatch, n_applied;
    herd_worker_get_counters(w, &n_dispatch, &n_applied);
    g_assert_cmpstr(herd_message_get_text(reply), ==, expect);
    g_assert_cmpuint(n_applied, ==, n);
    g_test_message("main loop: %u pieces in %.0f ms, applied in %u batches, %u ticks of a 1 ms "
                   "timeout, longest gap between ticks %.2f ms",
                   n, total_ms, n_dispatch, t.ticks, (double)t.max_gap / 1000.0);
    printf("# longest main-loop gap: %.2f ms\n", (double)t.max_gap / 1000.0);
    /* Each iteration does one text append: the loop must stay responsive (generous bound for
     * loaded CI machines and sanitizers; a blocked loop shows the whole generation). */
    g_assert_cmpint(t.max_gap, <, 250 * 1000);
    g_assert_finalize_object(w);
}

/* A main loop that was busy elsewhere while the pieces came gets them in one batch, not one
 * idle callback per piece. */
static void test_coalescing(Fixture *f, gconstpointer data)
{
    const guint n = 3000;
    g_auto(GStrv) script = make_script(n, "c");
    herd_fake_backend_config cfg = { 0 };
    cfg.pieces = (const char *const *)script;
    HerdBackend be = herd_fake_backend_new(&cfg);
    g_autofree char *expect = herd_fake_backend_script_text(&be);
    HerdWorker *w = herd_worker_new(be, f->store);
    Watch wt;
    watch_init(&wt, w);
    GError *e = NULL;
    HerdMessage *reply = herd_worker_generate(w, f->conv, NULL, &e);
    g_signal_connect(reply, "notify::text", G_CALLBACK(on_text_notify), &wt);
    /* The main loop is busy elsewhere until the worker has produced everything. */
    herd_fake_backend_report rep = { 0 };
    for (int i = 0; i < 10000 && rep.n_pieces_emitted < (int)n; i++) {
        g_usleep(1000);
        herd_fake_backend_get_report(&be, &rep);
    }
    g_assert_cmpint(rep.n_pieces_emitted, ==, n);
    wait_for(&wt.finished, 20000);
    guint n_dispatch, n_applied;
    herd_worker_get_counters(w, &n_dispatch, &n_applied);
    g_test_message("coalescing: %u pieces applied in %u batches, %u text notifies", n_applied,
                   n_dispatch, wt.n_text_notify);
    g_assert_cmpuint(n_applied, ==, n);
    g_assert_cmpuint(n_dispatch, <=, 2);
    g_assert_cmpuint(wt.n_text_notify, <=, 2);
    g_assert_cmpstr(herd_message_get_text(reply), ==, expect);
    g_assert_cmpstr(wt.pieces->str, ==, expect);
    watch_clear(&wt);
    g_assert_finalize_object(w);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(name, fn) g_test_add("/worker/" name, Fixture, NULL, setup, fn, teardown)
    ADD("stream", test_stream);
    ADD("stop-callback-only", test_stop_callback);
    ADD("stop-backend-cancel", test_stop_backend);
    ADD("stop-before-start", test_stop_before_start);
    ADD("error", test_error);
    ADD("bytes", test_bytes);
    ADD("load", test_load);
    ADD("dispose-mid-answer", test_dispose_mid_answer);
    ADD("main-loop-not-blocked", test_main_loop_not_blocked);
    ADD("coalescing", test_coalescing);
    return g_test_run();
}
