/* herd-preferences.c: every control is bound to its GSettings key (g_settings_bind), so the
 * window holds no state of its own. */
#define G_LOG_DOMAIN "herd-preferences"

#include "herd-preferences.h"

#include <glib/gi18n.h>

struct _HerdPreferences {
    AdwPreferencesWindow parent_instance;

    GtkWidget *model_row;
    GtkWidget *mmproj_row;
    GtkWidget *facts_row;
    GtkWidget *backend_row;
    GtkWidget *system_prompt_row;
    GtkAdjustment *threads_adj;
    GtkAdjustment *context_adj;
    GtkAdjustment *temperature_adj;
    GtkAdjustment *top_p_adj;
    GtkAdjustment *max_tokens_adj;
    GtkAdjustment *tiles_adj;

    GSettings *settings;
};

G_DEFINE_FINAL_TYPE(HerdPreferences, herd_preferences, ADW_TYPE_PREFERENCES_WINDOW)

/* The backends this build has, as GSettings nicks and labels. */
static const struct {
    const char *nick;
    const char *label;
} backends[] = {
    { "auto", N_("Automatic") },
    { "cpu", N_("CPU") },
#ifdef HERD_UI_HAVE_VULKAN
    { "vulkan", N_("Vulkan") },
#endif
#ifdef HERD_UI_HAVE_CUDA
    { "cuda", N_("CUDA") },
#endif
};

static gboolean backend_get(GValue *value, GVariant *variant, gpointer data)
{
    const char *nick = g_variant_get_string(variant, NULL);
    for (guint i = 0; i < G_N_ELEMENTS(backends); i++)
        if (g_strcmp0(nick, backends[i].nick) == 0) {
            g_value_set_uint(value, i);
            return TRUE;
        }
    g_value_set_uint(value, 0);
    return TRUE;
}

static GVariant *backend_set(const GValue *value, const GVariantType *type, gpointer data)
{
    guint i = g_value_get_uint(value);
    return g_variant_new_string(backends[i < G_N_ELEMENTS(backends) ? i : 0].nick);
}

static void update_paths(HerdPreferences *self)
{
    g_autofree char *model = g_settings_get_string(self->settings, "model-path");
    g_autofree char *mmproj = g_settings_get_string(self->settings, "mmproj-path");
    adw_action_row_set_subtitle(ADW_ACTION_ROW(self->model_row), *model ? model : _("None chosen"));
    adw_action_row_set_subtitle(ADW_ACTION_ROW(self->mmproj_row),
                                *mmproj ? mmproj : _("None: images cannot be used"));
}

static void on_path_changed(GSettings *settings, const char *key, HerdPreferences *self)
{
    update_paths(self);
}

GtkWidget *herd_preferences_new(GtkWindow *parent, GSettings *settings, const char *model_facts)
{
    HerdPreferences *self =
        g_object_new(HERD_TYPE_PREFERENCES, "transient-for", parent, "modal", TRUE, NULL);
    self->settings = g_object_ref(settings);
    g_settings_bind(settings, "threads", self->threads_adj, "value", G_SETTINGS_BIND_DEFAULT);
    g_settings_bind(settings, "context-size", self->context_adj, "value", G_SETTINGS_BIND_DEFAULT);
    g_settings_bind(settings, "temperature", self->temperature_adj, "value",
                    G_SETTINGS_BIND_DEFAULT);
    g_settings_bind(settings, "top-p", self->top_p_adj, "value", G_SETTINGS_BIND_DEFAULT);
    g_settings_bind(settings, "max-tokens", self->max_tokens_adj, "value", G_SETTINGS_BIND_DEFAULT);
    g_settings_bind(settings, "image-tile-limit", self->tiles_adj, "value",
                    G_SETTINGS_BIND_DEFAULT);
    g_settings_bind(settings, "system-prompt", self->system_prompt_row, "text",
                    G_SETTINGS_BIND_DEFAULT);
    g_settings_bind_with_mapping(settings, "backend", self->backend_row, "selected",
                                 G_SETTINGS_BIND_DEFAULT, backend_get, backend_set, NULL, NULL);
    g_signal_connect_object(settings, "changed::model-path", G_CALLBACK(on_path_changed), self, 0);
    g_signal_connect_object(settings, "changed::mmproj-path", G_CALLBACK(on_path_changed), self, 0);
    update_paths(self);
    if (model_facts && *model_facts) {
        adw_action_row_set_subtitle(ADW_ACTION_ROW(self->facts_row), model_facts);
        gtk_widget_set_visible(self->facts_row, TRUE);
    }
    return GTK_WIDGET(self);
}

/* The choosers belong to the main window (it loads the model): forward there. */
static void action_choose(GtkWidget *widget, const char *name, GVariant *param)
{
    GtkWindow *parent = gtk_window_get_transient_for(GTK_WINDOW(widget));
    if (parent)
        gtk_widget_activate_action(
            GTK_WIDGET(parent),
            g_str_equal(name, "prefs.choose-model") ? "win.open-model" : "win.open-mmproj", NULL);
}

static void herd_preferences_dispose(GObject *object)
{
    HerdPreferences *self = HERD_PREFERENCES(object);
    g_clear_object(&self->settings);
    G_OBJECT_CLASS(herd_preferences_parent_class)->dispose(object);
}

static void herd_preferences_class_init(HerdPreferencesClass *klass)
{
    GObjectClass *object_class = G_OBJECT_CLASS(klass);
    GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);
    object_class->dispose = herd_preferences_dispose;
    gtk_widget_class_set_template_from_resource(widget_class,
                                                "/io/github/herdapp/Herd/ui/herd-preferences.ui");
    gtk_widget_class_bind_template_child(widget_class, HerdPreferences, model_row);
    gtk_widget_class_bind_template_child(widget_class, HerdPreferences, mmproj_row);
    gtk_widget_class_bind_template_child(widget_class, HerdPreferences, facts_row);
    gtk_widget_class_bind_template_child(widget_class, HerdPreferences, backend_row);
    gtk_widget_class_bind_template_child(widget_class, HerdPreferences, system_prompt_row);
    gtk_widget_class_bind_template_child(widget_class, HerdPreferences, threads_adj);
    gtk_widget_class_bind_template_child(widget_class, HerdPreferences, context_adj);
    gtk_widget_class_bind_template_child(widget_class, HerdPreferences, temperature_adj);
    gtk_widget_class_bind_template_child(widget_class, HerdPreferences, top_p_adj);
    gtk_widget_class_bind_template_child(widget_class, HerdPreferences, max_tokens_adj);
    gtk_widget_class_bind_template_child(widget_class, HerdPreferences, tiles_adj);
    gtk_widget_class_install_action(widget_class, "prefs.choose-model", NULL, action_choose);
    gtk_widget_class_install_action(widget_class, "prefs.choose-mmproj", NULL, action_choose);
}

static void herd_preferences_init(HerdPreferences *self)
{
    gtk_widget_init_template(GTK_WIDGET(self));
    /* Only what this build has (the engine picks among these at load time). */
    GtkStringList *list = gtk_string_list_new(NULL);
    for (guint i = 0; i < G_N_ELEMENTS(backends); i++)
        gtk_string_list_append(list, _(backends[i].label));
    adw_combo_row_set_model(ADW_COMBO_ROW(self->backend_row), G_LIST_MODEL(list));
    g_object_unref(list);
}
