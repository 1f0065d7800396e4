/* herd-application.c: app-wide actions, accelerators, GSettings, the history store and the
 * command line (libadwaita demo pattern: main() only runs this). */
#define G_LOG_DOMAIN "herd-application"

#include "herd-application.h"

#include "herd-resources.h"
#include "herd-window.h"

#include <glib/gi18n.h>

struct _HerdApplication {
    AdwApplication parent_instance;

    GSettings *settings;
    HerdStore *store;
    char *store_error;
};

G_DEFINE_FINAL_TYPE(HerdApplication, herd_application, ADW_TYPE_APPLICATION)

static const GOptionEntry options[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, NULL, N_("Load this Llama 4 GGUF model"),
      N_("TEXT.gguf") },
    { "mmproj", 0, 0, G_OPTION_ARG_FILENAME, NULL, N_("Use this vision projector GGUF"),
      N_("VISION.gguf") },
    { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, NULL, NULL, N_("[IMAGE…]") },
    { NULL, 0, 0, 0, NULL, NULL, NULL },
};

HerdApplication *herd_application_new(void)
{
    return g_object_new(HERD_TYPE_APPLICATION, "application-id", HERD_APP_ID, "flags",
                        G_APPLICATION_HANDLES_COMMAND_LINE, "resource-base-path",
                        "/io/github/herdapp/Herd", NULL);
}

GSettings *herd_application_get_settings(HerdApplication *self)
{
    return self->settings;
}

HerdStore *herd_application_get_store(HerdApplication *self)
{
    return self->store;
}

const char *herd_application_get_store_error(HerdApplication *self)
{
    return self->store_error;
}

HerdWindow *herd_application_get_window(HerdApplication *self)
{
    GList *windows = gtk_application_get_windows(GTK_APPLICATION(self));
    for (GList *l = windows; l; l = l->next)
        if (HERD_IS_WINDOW(l->data))
            return l->data;
    return NULL;
}

static HerdWindow *ensure_window(HerdApplication *self, gboolean *created)
{
    HerdWindow *win = herd_application_get_window(self);
    *created = win == NULL;
    if (!win)
        win = herd_window_new(self);
    return win;
}

static void load_remembered(HerdApplication *self, HerdWindow *win)
{
    g_autofree char *model = g_settings_get_string(self->settings, "model-path");
    g_autofree char *mmproj = g_settings_get_string(self->settings, "mmproj-path");
    if (*model && g_file_test(model, G_FILE_TEST_IS_REGULAR))
        herd_window_load_model(win, model, *mmproj ? mmproj : NULL, FALSE);
    else if (!*model)
        herd_window_load_demo(win); /* no model chosen yet: start with the bundled demo */
}

static void herd_application_activate(GApplication *app)
{
    HerdApplication *self = HERD_APPLICATION(app);
    gboolean created;
    HerdWindow *win = ensure_window(self, &created);
    if (created)
        load_remembered(self, win);
    gtk_window_present(GTK_WINDOW(win));
}

static int herd_application_command_line(GApplication *app, GApplicationCommandLine *cmd)
{
    HerdApplication *self = HERD_APPLICATION(app);
    GVariantDict *opts = g_application_command_line_get_options_dict(cmd);
    g_autofree char *model = NULL, *mmproj = NULL;
    g_autofree char **images = NULL;
    g_variant_dict_lookup(opts, "model", "^ay", &model);
    g_variant_dict_lookup(opts, "mmproj", "^ay", &mmproj);
    g_variant_dict_lookup(opts, G_OPTION_REMAINING, "^a&ay", &images);

    gboolean created;
    HerdWindow *win = ensure_window(self, &created);
    if (model) {
        g_autoptr(GFile) mf = g_application_command_line_create_file_for_arg(cmd, model);
        g_autofree char *mpath = g_file_get_path(mf);
        g_autofree char *ppath = NULL;
        if (mmproj) {
            g_autoptr(GFile) pf = g_application_command_line_create_file_for_arg(cmd, mmproj);
            ppath = g_file_get_path(pf);
        }
        herd_window_load_model(win, mpath, ppath, FALSE);
    } else if (created) {
        load_remembered(self, win);
    }
    if (images && images[0]) {
        herd_window_new_conversation(win);
        for (guint i = 0; images[i]; i++) {
            g_autoptr(GFile) f = g_application_command_line_create_file_for_arg(cmd, images[i]);
            herd_composer_add_file(herd_window_get_composer(win), f);
        }
    }
    gtk_window_present(GTK_WINDOW(win));
    return 0;
}

static void action_quit(GSimpleAction *a, GVariant *p, gpointer data)
{
    GList *windows = gtk_application_get_windows(GTK_APPLICATION(data));
    while (windows) {
        GtkWindow *w = windows->data;
        windows = windows->next;
        gtk_window_destroy(w);
    }
    g_application_quit(G_APPLICATION(data));
}

static void action_about(GSimpleAction *a, GVariant *p, gpointer data)
{
    HerdApplication *self = data;
    const char *developers[] = { "The Herd developers", NULL };
    GtkWidget *about =
        g_object_new(ADW_TYPE_ABOUT_WINDOW, "transient-for", herd_application_get_window(self),
                     "application-name", "Herd", "application-icon", HERD_APP_ID, "version",
                     HERD_VERSION_STRING, "developer-name", "The Herd developers", "developers",
                     developers, "license-type", GTK_LICENSE_MIT_X11, "comments",
                     _("Chat with Llama 4 about text and images, "
                       "entirely on your computer."),
                     "website", "https://github.com/herdapp/herd", NULL);
    gtk_window_present(GTK_WINDOW(about));
}

static const GActionEntry app_actions[] = {
    { "quit", action_quit, NULL, NULL, NULL, { 0 } },
    { "about", action_about, NULL, NULL, NULL, { 0 } },
};

static void herd_application_startup(GApplication *app)
{
    HerdApplication *self = HERD_APPLICATION(app);
    G_APPLICATION_CLASS(herd_application_parent_class)->startup(app);

    g_action_map_add_action_entries(G_ACTION_MAP(app), app_actions, G_N_ELEMENTS(app_actions), app);
    static const struct {
        const char *action;
        const char *accels[3];
    } accels[] = {
        { "app.quit", { "<Control>q", NULL } },
        { "win.new-conversation", { "<Control>n", NULL } },
        { "win.search", { "<Control>f", NULL } },
        { "win.rename-current", { "F2", NULL } },
        { "win.export", { "<Control>e", NULL } },
        { "win.toggle-sidebar", { "F9", NULL } },
        { "win.attach", { "<Control>o", NULL } },
        { "win.stop", { "Escape", NULL } },
        { "win.open-model", { "<Control>m", NULL } },
        { "win.preferences", { "<Control>comma", NULL } },
        { "win.show-help-overlay", { "<Control>question", NULL } },
    };
    for (guint i = 0; i < G_N_ELEMENTS(accels); i++)
        gtk_application_set_accels_for_action(GTK_APPLICATION(app), accels[i].action,
                                              accels[i].accels);

    self->settings = g_settings_new(HERD_APP_ID);
    g_autoptr(GError) error = NULL;
    self->store = herd_store_open(NULL, &error);
    if (!self->store)
        self->store_error = g_strdup(error->message);
}

static void herd_application_dispose(GObject *object)
{
    HerdApplication *self = HERD_APPLICATION(object);
    g_clear_object(&self->store);
    g_clear_object(&self->settings);
    G_OBJECT_CLASS(herd_application_parent_class)->dispose(object);
}

static void herd_application_finalize(GObject *object)
{
    HerdApplication *self = HERD_APPLICATION(object);
    g_free(self->store_error);
    G_OBJECT_CLASS(herd_application_parent_class)->finalize(object);
}

static void herd_application_class_init(HerdApplicationClass *klass)
{
    GObjectClass *object_class = G_OBJECT_CLASS(klass);
    GApplicationClass *app_class = G_APPLICATION_CLASS(klass);
    object_class->dispose = herd_application_dispose;
    object_class->finalize = herd_application_finalize;
    app_class->startup = herd_application_startup;
    app_class->activate = herd_application_activate;
    app_class->command_line = herd_application_command_line;
    /* The bundle is linked from a static library: refer to it so it is kept. */
    (void)herd_get_resource();
}

static void herd_application_init(HerdApplication *self)
{
    bindtextdomain(GETTEXT_PACKAGE, HERD_LOCALEDIR);
    bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8");
    textdomain(GETTEXT_PACKAGE);
    g_application_add_main_option_entries(G_APPLICATION(self), options);
    g_application_set_option_context_summary(
        G_APPLICATION(self), _("Chat with Llama 4 about text and images, on this computer."));
}
