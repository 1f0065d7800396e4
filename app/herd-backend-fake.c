/* herd-backend-fake.c: the scripted test backend. */
#define G_LOG_DOMAIN "Herd"

#include "herd-backend-fake.h"

#include <string.h>

typedef struct {
    herd_fake_backend_config cfg;
    GPtrArray *pieces; /* GString* */
    gint cancelled;
    GMutex lock; /* guards report */
    herd_fake_backend_report report;
} FakeBackend;

static const char *const default_script[] = {
    "The ", "picture ", "shows ",  "a ",      "herd ",   "of ",    "llamas ", "on ",
    "a ",   "green ",   "hill",    ". ",      "There ",  "are ",   "seven ",  "of ",
    "them", ", ",       "mostly ", "white",   ", ",      "one ",   "brown",   ". ",
    "In ",  "the ",     "back",    "ground ", "snowy ",  "peaks ", "rise ",   "under ",
    "a ",   "clear ",   "sky",     ". ",      "Größe: ", "≈",      "1 km ",   "🦙",
};

static bool is_cancelled(FakeBackend *fb)
{
    return !fb->cfg.ignore_cancel && g_atomic_int_get(&fb->cancelled);
}

static herd_status fake_load(void *impl, const char *model_path, const char *mmproj_path,
                             bool (*progress)(float, void *), void *user, herd_error *err)
{
    FakeBackend *fb = impl;
    g_atomic_int_set(&fb->cancelled, 0);
    g_mutex_lock(&fb->lock);
    fb->report.n_loads++;
    g_mutex_unlock(&fb->lock);
    if (model_path && !g_file_test(model_path, G_FILE_TEST_EXISTS) &&
        strcmp(model_path, "fake") != 0)
        return herd_error_set(err, HERD_ERR_IO, "%s: no such file", model_path);
    unsigned steps = fb->cfg.load_steps ? fb->cfg.load_steps : 10;
    for (unsigned i = 1; i <= steps; i++) {
        if (fb->cfg.load_step_delay_us)
            g_usleep(fb->cfg.load_step_delay_us);
        if (is_cancelled(fb) || (progress && !progress((float)i / (float)steps, user)))
            return herd_error_set(err, HERD_ERR_ABORTED, "loading cancelled");
    }
    return HERD_OK;
}

static herd_status fake_generate(void *impl, const HerdBackendRequest *req,
                                 const HerdBackendCallbacks *cb, HerdBackendStats *stats,
                                 herd_error *err)
{
    FakeBackend *fb = impl;
    g_atomic_int_set(&fb->cancelled, 0);
    GString *prompt = g_string_new(NULL);
    for (size_t i = 0; i < req->n_turns; i++)
        g_string_append_printf(
            prompt, "%s: %s [%zu images]\n", herd_message_role_to_nick(req->turns[i].role),
            req->turns[i].text ? req->turns[i].text : "", req->turns[i].n_images);
    g_mutex_lock(&fb->lock);
    fb->report.n_generates++;
    fb->report.last_n_turns = req->n_turns;
    g_strlcpy(fb->report.last_prompt, prompt->str, sizeof fb->report.last_prompt);
    g_mutex_unlock(&fb->lock);
    g_string_free(prompt, TRUE);

    gint64 t0 = g_get_monotonic_time();
    int total = fb->cfg.prompt_tokens ? (int)fb->cfg.prompt_tokens : 64;
    for (int done = 0; done < total;) {
        done = MIN(done + 32, total);
        if (fb->cfg.prompt_batch_delay_us)
            g_usleep(fb->cfg.prompt_batch_delay_us);
        if (is_cancelled(fb) ||
            (cb->prompt_progress && !cb->prompt_progress(done, total, cb->user)))
            return herd_error_set(err, HERD_ERR_ABORTED, "generation cancelled");
    }
    gint64 t1 = g_get_monotonic_time();
    stats->n_prompt_tokens = total;
    stats->prompt_ms = (double)(t1 - t0) / 1000.0;
    herd_status status = HERD_OK;
    for (guint i = 0; i < fb->pieces->len; i++) {
        if (fb->cfg.fail_after_pieces > 0 && (int)i == fb->cfg.fail_after_pieces) {
            status = herd_error_set(err, HERD_ERR_DEVICE, "fake device lost after %u pieces", i);
            break;
        }
        if (fb->cfg.piece_delay_us)
            g_usleep(fb->cfg.piece_delay_us);
        if (is_cancelled(fb)) {
            status = herd_error_set(err, HERD_ERR_ABORTED, "generation cancelled");
            break;
        }
        const GString *p = fb->pieces->pdata[i];
        g_mutex_lock(&fb->lock);
        fb->report.n_pieces_emitted++;
        if (g_atomic_int_get(&fb->cancelled))
            fb->report.n_pieces_after_cancel++;
        g_mutex_unlock(&fb->lock);
        stats->n_gen_tokens++;
        if (!cb->piece(p->str, p->len, cb->user)) {
            status = herd_error_set(err, HERD_ERR_ABORTED, "generation stopped");
            break;
        }
    }
    stats->gen_ms = (double)(g_get_monotonic_time() - t1) / 1000.0;
    return status;
}

static void fake_cancel(void *impl)
{
    FakeBackend *fb = impl;
    g_atomic_int_set(&fb->cancelled, 1);
}

static void fake_free(void *impl)
{
    FakeBackend *fb = impl;
    g_ptr_array_unref(fb->pieces);
    g_mutex_clear(&fb->lock);
    g_free(fb);
}

static const HerdBackendVTable fake_vtable = {
    .name = "fake",
    .load = fake_load,
    .generate = fake_generate,
    .cancel = fake_cancel,
    .free = fake_free,
};

static void free_piece(gpointer p)
{
    g_string_free(p, TRUE);
}

HerdBackend herd_fake_backend_new(const herd_fake_backend_config *config)
{
    FakeBackend *fb = g_new0(FakeBackend, 1);
    if (config)
        fb->cfg = *config;
    g_mutex_init(&fb->lock);
    fb->pieces = g_ptr_array_new_with_free_func(free_piece);
    const char *const *src = fb->cfg.pieces ? fb->cfg.pieces : default_script;
    size_t n = fb->cfg.pieces ? fb->cfg.n_pieces : G_N_ELEMENTS(default_script);
    const size_t *lens = fb->cfg.pieces ? fb->cfg.piece_lens : NULL;
    for (size_t i = 0; n ? i < n : src[i] != NULL; i++)
        g_ptr_array_add(fb->pieces,
                        g_string_new_len(src[i], lens ? (gssize)lens[i] : (gssize)strlen(src[i])));
    fb->cfg.pieces = NULL; /* not kept: the copies above are */
    fb->cfg.piece_lens = NULL;
    return (HerdBackend){ &fake_vtable, fb };
}

void herd_fake_backend_get_report(const HerdBackend *b, herd_fake_backend_report *out)
{
    g_return_if_fail(b && b->vt == &fake_vtable);
    FakeBackend *fb = b->impl;
    g_mutex_lock(&fb->lock);
    *out = fb->report;
    g_mutex_unlock(&fb->lock);
}

char *herd_fake_backend_script_text(const HerdBackend *b)
{
    g_return_val_if_fail(b && b->vt == &fake_vtable, NULL);
    FakeBackend *fb = b->impl;
    GString *s = g_string_new(NULL);
    for (guint i = 0; i < fb->pieces->len; i++)
        g_string_append(s, ((GString *)fb->pieces->pdata[i])->str); /* up to a NUL */
    return g_string_free(s, FALSE);
}
