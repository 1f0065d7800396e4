/* test-app-engine: the worker over the real engine backend with the tiny Llama 4 fixture
 * (tests/fixtures/models/tiny-f32.gguf). The answer streamed through the worker equals a
 * direct herd_generate() with the same prompt and greedy sampling; loading reports progress;
 * Stop interrupts a long answer; an image turn without an mmproj is refused with a sentence,
 * and with the mmproj loaded the image goes through the vision encoder into the answer. */
#include "app-test-util.h"
#include "herd-backend-engine.h"
#include "herd-conversation.h"
#include "herd-worker.h"

#include "chat.h"
#include "herd.h"

#include <stdlib.h>

#define MAX_TOKENS 24

static char *model_path;

static bool reference_piece(const char *piece, size_t len, int32_t tok, void *data)
{
    g_string_append_len(data, piece, (gssize)len);
    return true;
}

/* Greedy answer to one user turn, straight from the engine. */
static char *reference(const char *prompt, int *n_prompt, gboolean *hit_eos)
{
    herd_error err = { 0 };
    herd_model_params mp = herd_model_default_params();
    mp.backend = HERD_BACKEND_CPU; /* GPU drivers leak at unload under LSan; parity is CPU */
    herd_model *m = herd_model_load(model_path, &mp, &err);
    g_assert_nonnull(m);
    herd_session_params sp = herd_session_default_params();
    sp.n_ctx = 512;
    herd_session *s = herd_session_new(m, &sp, &err);
    g_assert_nonnull(s);
    herd_chat_part part = { HERD_CHAT_TEXT, prompt, strlen(prompt), 0, 0 };
    herd_chat_msg msg = { HERD_CHAT_USER, &part, 1, false };
    int32_t *ids = NULL;
    g_assert_cmpint(herd_chat_render(herd_model_tokenizer(m), &msg, 1, true, &ids, n_prompt, &err),
                    ==, HERD_OK);
    GString *out = g_string_new(NULL);
    herd_gen_params gp = { 0 };
    gp.sampling = herd_sampler_default_params();
    gp.sampling.temperature = 0;
    gp.sampling.top_p = 1;
    gp.max_tokens = MAX_TOKENS;
    gp.on_piece = reference_piece;
    gp.user_data = out;
    herd_gen_stats gs;
    g_assert_cmpint(herd_generate(s, ids, *n_prompt, NULL, &gp, &gs, &err), ==, HERD_OK);
    *hit_eos = gs.stopped_by_eos;
    free(ids);
    herd_session_free(s);
    herd_model_free(m);
    return g_string_free(out, FALSE);
}

typedef struct {
    gboolean loaded, finished;
    GError *error;
    double last_progress;
    guint n_pieces;
    gboolean stop_on_first_piece;
} Watch;

static void on_load_progress(HerdWorker *w, double f, Watch *wt)
{
    g_assert_cmpfloat(f, >=, wt->last_progress);
    wt->last_progress = f;
}

static void on_loaded(HerdWorker *w, const GError *error, Watch *wt)
{
    g_assert_no_error(error);
    wt->loaded = TRUE;
}

static void on_piece(HerdWorker *w, HerdMessage *msg, const char *text, Watch *wt)
{
    wt->n_pieces++;
    if (wt->stop_on_first_piece)
        herd_worker_stop(w);
}

static void on_finished(HerdWorker *w, HerdMessage *msg, const GError *error, Watch *wt)
{
    g_clear_error(&wt->error);
    wt->error = error ? g_error_copy(error) : NULL;
    wt->finished = TRUE;
}

static void wait_for(gboolean *flag)
{
    gint64 end = g_get_monotonic_time() + 120 * G_USEC_PER_SEC;
    while (!*flag) {
        g_main_context_iteration(NULL, FALSE);
        g_usleep(500);
        if (g_get_monotonic_time() > end)
            g_error("timed out");
    }
}

static void test_engine(void)
{
    int n_prompt = 0;
    gboolean hit_eos = FALSE;
    g_autofree char *expect = reference("Tell me about llamas.", &n_prompt, &hit_eos);
    g_test_message("reference: %d prompt tokens, answer %zu bytes%s", n_prompt, strlen(expect),
                   hit_eos ? " (stopped by end of turn)" : "");

    g_autofree char *dir = test_tmpdir();
    g_autofree char *db = g_build_filename(dir, "herd.db", NULL);
    GError *e = NULL;
    HerdStore *store = herd_store_open(db, &e);
    g_assert_no_error(e);
    HerdConversation *conv = herd_conversation_new(store, "engine", &e);
    g_assert_nonnull(herd_conversation_add_message(conv, HERD_MESSAGE_ROLE_USER,
                                                   "Tell me about llamas.", NULL, 0, &e));
    /* room for thousands of tokens, so a main loop starved for a while on a loaded machine still
     * stops the unbounded answer below before the context is full */
    herd_engine_backend_config cfg = { .n_ctx = 4096, .backend = HERD_BACKEND_CPU };
    HerdWorker *w = herd_worker_new(herd_engine_backend_new(&cfg), store);
    Watch wt = { 0 };
    g_signal_connect(w, "load-progress", G_CALLBACK(on_load_progress), &wt);
    g_signal_connect(w, "load-finished", G_CALLBACK(on_loaded), &wt);
    g_signal_connect(w, "piece", G_CALLBACK(on_piece), &wt);
    g_signal_connect(w, "finished", G_CALLBACK(on_finished), &wt);

    /* Generating before a model is loaded is an error, not a crash. */
    HerdMessage *early = herd_worker_generate(w, conv, NULL, &e);
    wait_for(&wt.finished);
    g_assert_error(wt.error, HERD_WORKER_ERROR, HERD_ERR_INVALID);
    g_assert_cmpint(herd_message_get_state(early), ==, HERD_MESSAGE_STATE_ERROR);

    herd_worker_load_model(w, model_path, NULL);
    wait_for(&wt.loaded);
    g_assert_cmpfloat(wt.last_progress, ==, 1.0);
    g_assert_cmpstr(herd_worker_get_model_name(w), ==, "tiny-f32.gguf");

    /* Drop the failed reply from the model's view of history: a fresh conversation. */
    HerdConversation *conv2 = herd_conversation_new(store, "engine 2", &e);
    g_assert_nonnull(herd_conversation_add_message(conv2, HERD_MESSAGE_ROLE_USER,
                                                   "Tell me about llamas.", NULL, 0, &e));
    HerdSampling greedy = { 0 };
    greedy.top_p = 1;
    greedy.max_tokens = MAX_TOKENS;
    wt.finished = FALSE;
    HerdMessage *reply = herd_worker_generate(w, conv2, &greedy, &e);
    g_assert_no_error(e);
    wait_for(&wt.finished);
    g_assert_no_error(wt.error);
    g_assert_cmpstr(herd_message_get_text(reply), ==, expect);
    g_assert_cmpint(herd_message_get_state(reply), ==, HERD_MESSAGE_STATE_COMPLETE);
    const HerdMessageStats *st = herd_message_get_stats(reply);
    g_assert_cmpint(st->n_prompt_tokens, ==, n_prompt);
    g_assert_cmpint(st->n_gen_tokens, <=, MAX_TOKENS);
    g_assert_cmpstr(herd_message_get_model(reply), ==, "tiny-f32.gguf");
    g_autoptr(HerdStoreMessage) rec = herd_store_get_message(store, herd_message_get_id(reply), &e);
    g_assert_cmpstr(rec->text, ==, expect);
    g_test_message("through the worker: identical, %d tokens at %.0f tokens/s, ttft %.1f ms",
                   st->n_gen_tokens, st->tokens_per_s, st->ttft_ms);

    /* Stop after the first piece of an unbounded answer. */
    if (!hit_eos) {
        g_assert_nonnull(herd_conversation_add_message(conv2, HERD_MESSAGE_ROLE_USER,
                                                       "More, please.", NULL, 0, &e));
        HerdSampling unbounded = greedy;
        unbounded.max_tokens = 0;
        wt.finished = FALSE;
        wt.n_pieces = 0;
        wt.stop_on_first_piece = TRUE;
        HerdMessage *r2 = herd_worker_generate(w, conv2, &unbounded, &e);
        wait_for(&wt.finished);
        g_assert_error(wt.error, HERD_WORKER_ERROR, HERD_ERR_ABORTED);
        g_assert_cmpint(herd_message_get_state(r2), ==, HERD_MESSAGE_STATE_INTERRUPTED);
        /* Stop is requested from the main loop once the first piece reaches it; at thousands of
         * tokens/s (the tiny model) the worker produces more tokens before that, as many as the
         * main loop's delay allows, so no count is asserted here beyond "stopped, not full".
         * "Within one token of the request" is checked where the request time is known:
         * test-generate (engine) and test-app-worker (counts pieces after cancel). */
        int n_stop = herd_message_get_stats(r2)->n_gen_tokens;
        g_test_message("stopped after %d tokens", n_stop);
        g_assert_cmpint(n_stop, <, cfg.n_ctx - 200);
        wt.stop_on_first_piece = FALSE;
    } else {
        g_test_message("the tiny model ends its turn early: stop-mid-answer not exercised here");
    }

    /* Without the vision file an image turn is refused with a sentence: message 'error'. */
    g_autofree char *img = test_write(dir, "x.png", test_png_red, TEST_PNG_RED_LEN);
    HerdMessageImage att = { img, NULL, NULL, 2, 2, 0 };
    g_assert_nonnull(
        herd_conversation_add_message(conv2, HERD_MESSAGE_ROLE_USER, "What is this?", &att, 1, &e));
    wt.finished = FALSE;
    HerdMessage *r3 = herd_worker_generate(w, conv2, &greedy, &e);
    wait_for(&wt.finished);
    g_assert_error(wt.error, HERD_WORKER_ERROR, HERD_ERR_INVALID);
    g_assert_cmpint(herd_message_get_state(r3), ==, HERD_MESSAGE_STATE_ERROR);
    g_assert_nonnull(strstr(herd_message_get_error_text(r3), "mmproj"));
    g_clear_error(&wt.error);

    /* With the mmproj the image is encoded and answered. */
    g_autofree char *mmproj = g_build_filename(g_getenv("HERD_SOURCE_DIR"), "tests", "fixtures",
                                               "models", "tiny-mmproj-f32.gguf", NULL);
    wt.loaded = FALSE;
    wt.last_progress = 0;
    herd_worker_load_model(w, model_path, mmproj);
    wait_for(&wt.loaded);
    HerdConversation *conv3 = herd_conversation_new(store, "engine 3", &e);
    g_assert_nonnull(
        herd_conversation_add_message(conv3, HERD_MESSAGE_ROLE_USER, "What is this?", &att, 1, &e));
    wt.finished = FALSE;
    HerdMessage *r4 = herd_worker_generate(w, conv3, &greedy, &e);
    wait_for(&wt.finished);
    g_assert_no_error(wt.error);
    g_assert_cmpint(herd_message_get_state(r4), ==, HERD_MESSAGE_STATE_COMPLETE);
    /* 1 tile: 147 image tokens + the text around them */
    g_assert_cmpint(herd_message_get_stats(r4)->n_prompt_tokens, >, 147);
    g_object_unref(conv3);

    g_assert_finalize_object(w);
    g_object_unref(conv);
    g_object_unref(conv2);
    g_assert_finalize_object(store);
    test_rm_rf(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    const char *src = g_getenv("HERD_SOURCE_DIR");
    model_path =
        g_build_filename(src ? src : ".", "tests", "fixtures", "models", "tiny-f32.gguf", NULL);
    if (!g_file_test(model_path, G_FILE_TEST_EXISTS)) {
        g_printerr("SKIP: %s not found (set HERD_SOURCE_DIR)\n", model_path);
        return 77;
    }
    g_test_add_func("/engine/worker-matches-engine", test_engine);
    int rc = g_test_run();
    g_free(model_path);
    return rc;
}
