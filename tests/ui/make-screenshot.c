/* make-screenshot: renders docs/screenshot.png for the README under Xvfb. The real window with
 * a scripted (fake) backend, so the answer reads like one; the image is a test fixture.
 *   xvfb-run -a -s "-screen 0 1280x900x24" build/tests/ui/make-screenshot docs/screenshot.png
 * (GSETTINGS_SCHEMA_DIR=build/resources, HERD_SOURCE_DIR=<source root>). */
#include "herd-application.h"
#include "herd-backend-fake.h"
#include "herd-window.h"

#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>

static HerdApplication *app;
static const char *out_path;
static char *image_path;
static char *model_path;
static int status = 1;

static const char *const answer[] = {
    "I can see four ",
    "shapes on a ",
    "colourful gradient ",
    "background:\n\n",
    "| Shape | Colour | Where |\n",
    "|---|---|---|\n",
    "| Circle | **yellow**, black outline | top left |\n",
    "| Triangle | **red** | bottom centre |\n",
    "| Rectangle | **blue** | right |\n",
    "| Stripes | *white* | top right, six of them |\n\n",
    "The background fades from ",
    "purple at the top ",
    "to green and yellow ",
    "at the bottom. To count the stripes yourself:\n\n",
    "```python\n",
    "from PIL import Image\n",
    "img = Image.open(\"large.png\")\n",
    "print(img.size)  # (2000, 1500)\n",
    "```\n",
    NULL,
};

static HerdBackend factory(gpointer data)
{
    herd_fake_backend_config cfg = { 0 };
    cfg.pieces = answer;
    gboolean mid = g_getenv("SHOT_MIDSTREAM") != NULL;
    cfg.piece_delay_us = mid ? 150000 : 40000;
    cfg.prompt_tokens = 1480;
    cfg.prompt_batch_delay_us = mid ? 40000 : 20000;
    cfg.load_steps = 3;
    return herd_fake_backend_new(&cfg);
}

static void spin(double s)
{
    gint64 end = g_get_monotonic_time() + (gint64)(s * G_USEC_PER_SEC);
    while (g_get_monotonic_time() < end)
        if (!g_main_context_iteration(NULL, FALSE))
            g_usleep(2000);
}

static gboolean run(gpointer data)
{
    HerdWindow *win = herd_application_get_window(app);
    HerdStore *store = herd_application_get_store(app);
    const char *older[] = { "Recipe from a photo of my fridge", "Receipt totals, March",
                            "What bird is this?", "Translate the menu board" };
    for (guint i = 0; i < G_N_ELEMENTS(older); i++)
        herd_store_create_conversation(store, older[i], NULL, NULL, NULL, NULL);
    herd_window_set_backend_factory(win, factory, NULL);
    herd_window_load_model(win, model_path, NULL, FALSE);
    gint64 end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    while (!herd_window_get_model_loaded(win) && g_get_monotonic_time() < end)
        g_main_context_iteration(NULL, TRUE);
    herd_window_new_conversation(win);
    GFile *f = g_file_new_for_path(image_path);
    herd_composer_add_file(herd_window_get_composer(win), f);
    g_object_unref(f);
    while (herd_composer_get_n_pending(herd_window_get_composer(win)))
        g_main_context_iteration(NULL, TRUE);
    herd_composer_set_text(herd_window_get_composer(win),
                           "What shapes are in this picture, and what colours are they?");
    herd_window_send(win);
    const char *mid = g_getenv("SHOT_MIDSTREAM");
    if (mid) { /* seconds after sending: a picture of the prompt bar or the stream */
        spin(atof(mid));
        g_autofree char *c = g_strdup_printf("import -window root -crop %dx%d+0+0 +repage '%s'",
                                             gtk_widget_get_width(GTK_WIDGET(win)),
                                             gtk_widget_get_height(GTK_WIDGET(win)), out_path);
        status = system(c) == 0 ? 0 : 1;
        herd_window_stop(win);
        g_application_quit(G_APPLICATION(app));
        return G_SOURCE_REMOVE;
    }
    end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    while (herd_worker_get_busy(herd_window_get_worker(win)) && g_get_monotonic_time() < end)
        g_main_context_iteration(NULL, TRUE);
    herd_composer_set_text(herd_window_get_composer(win), "");
    spin(1.0);
    if (g_getenv("SHOT_PREFS"))
        gtk_widget_activate_action(GTK_WIDGET(win), "win.preferences", NULL);
    if (g_getenv("SHOT_SCROLL"))
        herd_chat_view_scroll_to_bottom(herd_window_get_chat_view(win));
    spin(0.5);
    if (g_getenv("SHOT_PREFS")) {
        g_autofree char *c = g_strdup_printf("import -window root '%s'", out_path);
        status = system(c) == 0 ? 0 : 1;
        g_application_quit(G_APPLICATION(app));
        return G_SOURCE_REMOVE;
    }
    g_autofree char *cmd = g_strdup_printf("import -window root -crop %dx%d+0+0 +repage '%s'",
                                           gtk_widget_get_width(GTK_WIDGET(win)),
                                           gtk_widget_get_height(GTK_WIDGET(win)), out_path);
    status = system(cmd) == 0 ? 0 : 1;
    printf("%s %s\n", status ? "FAILED" : "wrote", out_path);
    g_application_quit(G_APPLICATION(app));
    return G_SOURCE_REMOVE;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: make-screenshot OUT.png\n");
        return 2;
    }
    out_path = argv[1];
    const char *src = g_getenv("HERD_SOURCE_DIR");
    image_path = g_build_filename(src ? src : ".", "tests/fixtures/images/large.png", NULL);
    g_autofree char *tmp = g_dir_make_tmp("herd-shot-XXXXXX", NULL);
    g_setenv("XDG_DATA_HOME", tmp, TRUE);
    g_setenv("XDG_CACHE_HOME", tmp, TRUE);
    g_setenv("GSETTINGS_BACKEND", "memory", TRUE);
    model_path = g_build_filename(tmp, "Llama-4-Scout-17B-16E-Instruct-Q4_K_M.gguf", NULL);
    g_file_set_contents(model_path, "", 0, NULL);
    g_autoptr(GSettings) settings = g_settings_new(HERD_APP_ID); /* the shared memory backend */
    const char *w = g_getenv("SHOT_WIDTH"), *h = g_getenv("SHOT_HEIGHT");
    g_settings_set_int(settings, "window-width", w ? atoi(w) : 1060);
    g_settings_set_int(settings, "window-height", h ? atoi(h) : 860);
    app = herd_application_new();
    g_application_set_flags(G_APPLICATION(app), G_APPLICATION_NON_UNIQUE);
    g_idle_add(run, NULL);
    char *args[] = { "herd", NULL };
    g_application_run(G_APPLICATION(app), 1, args);
    g_object_unref(app);
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmp);
    return status;
}
