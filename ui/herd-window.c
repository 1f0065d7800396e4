/* herd-window.c: the main window. Owns the worker (remade on each model load so thread and
 * context settings apply), the current conversation and the sidebar model. */
#define G_LOG_DOMAIN "herd-window"

#include "herd-window.h"

#include "herd-backend-engine.h"
#include "herd-conversation-list.h"
#include "herd-export.h"
#include "herd-preferences.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>

struct _HerdWindow {
    AdwApplicationWindow parent_instance;

    AdwToastOverlay *toast_overlay;
    AdwLeaflet *leaflet;
    GtkWidget *sidebar;
    GtkWidget *content;
    GtkWidget *search_entry;
    GtkWidget *sidebar_stack;
    GtkWidget *sidebar_empty;
    GtkWidget *conv_list;
    AdwWindowTitle *chat_title;
    GtkWidget *conv_menu_button;
    GtkWidget *model_button;
    GtkWidget *model_button_content;
    GtkWidget *main_stack;
    GtkWidget *welcome_page;
    GtkWidget *demo_button;
    GtkWidget *loading_page;
    GtkWidget *load_progress;
    GtkWidget *chat_area;
    HerdChatView *chat_view;
    HerdComposer *composer;

    HerdApplication *app; /* unowned */
    GSettings *settings;
    HerdStore *store;
    HerdWorker *worker;
    HerdBackendFactory factory;
    gpointer factory_data;

    HerdConversationList *conversations;
    GtkFilterListModel *filtered;
    GtkCustomFilter *filter;
    GtkSingleSelection *selection;
    GHashTable *pending_deletes; /* gint64* ids hidden until their toast goes */

    HerdConversation *conv;     /* shown; NULL = a new, unsaved one */
    HerdConversation *gen_conv; /* being answered */
    HerdMessage *reply;
    gboolean generating;
    gboolean loading;
    gboolean model_loaded;
    char *model_path;
    char *mmproj_path;
    char *model_name;
    int n_ctx;
    gboolean selecting; /* the sidebar selection is being set from code */
    gint64 live_t0;     /* first piece of the running answer */
    guint live_pieces0, live_first;
};

G_DEFINE_FINAL_TYPE(HerdWindow, herd_window, ADW_TYPE_APPLICATION_WINDOW)

void herd_window_toast(HerdWindow *self, const char *text)
{
    AdwToast *toast = adw_toast_new(text);
    adw_toast_set_timeout(toast, 4);
    adw_toast_overlay_add_toast(self->toast_overlay, toast);
}

static void update_title(HerdWindow *self)
{
    const char *title = self->conv ? herd_conversation_get_title(self->conv) : NULL;
    adw_window_title_set_title(self->chat_title, title && *title ? title : _("New Conversation"));

    gtk_widget_set_sensitive(self->conv_menu_button, self->conv != NULL);
}

static void update_context(HerdWindow *self)
{
    int used = 0;
    if (self->conv) {
        guint n = g_list_model_get_n_items(G_LIST_MODEL(self->conv));
        for (guint i = n; i > 0; i--) {
            HerdMessage *m = herd_conversation_get_message(self->conv, i - 1);
            if (herd_message_get_role(m) == HERD_MESSAGE_ROLE_ASSISTANT) {
                const HerdMessageStats *st = herd_message_get_stats(m);
                used = st->n_prompt_tokens + st->n_gen_tokens;
                break;
            }
        }
    }
    herd_composer_set_context(self->composer, used, self->n_ctx);
}

/* ---- sidebar ---- */

static gboolean filter_visible(gpointer item, gpointer data)
{
    HerdWindow *self = data;
    gint64 id = herd_conversation_info_get_id(item);
    return !g_hash_table_contains(self->pending_deletes, &id);
}

static void select_current(HerdWindow *self)
{
    gint64 id = self->conv ? herd_conversation_get_id(self->conv) : 0;
    guint n = g_list_model_get_n_items(G_LIST_MODEL(self->selection));
    guint pos = GTK_INVALID_LIST_POSITION;
    for (guint i = 0; i < n && id; i++) {
        g_autoptr(HerdConversationInfo) info =
            g_list_model_get_item(G_LIST_MODEL(self->selection), i);
        if (herd_conversation_info_get_id(info) == id)
            pos = i;
    }
    self->selecting = TRUE;
    gtk_single_selection_set_selected(self->selection, pos);
    self->selecting = FALSE;
}

static void update_sidebar_page(HerdWindow *self)
{
    gboolean any = g_list_model_get_n_items(G_LIST_MODEL(self->filtered)) > 0;
    gtk_stack_set_visible_child_name(GTK_STACK(self->sidebar_stack), any ? "list" : "empty");
    const char *q = gtk_editable_get_text(GTK_EDITABLE(self->search_entry));
    adw_status_page_set_title(ADW_STATUS_PAGE(self->sidebar_empty),
                              q && *q ? _("No Results") : _("No Conversations"));
}

static void reload_sidebar(HerdWindow *self)
{
    if (!self->conversations)
        return;
    g_autoptr(GError) error = NULL;
    if (!herd_conversation_list_reload(self->conversations, &error))
        herd_window_toast(self, error->message);
    select_current(self);
    update_sidebar_page(self);
}

static void on_search_changed(HerdWindow *self)
{
    if (!self->conversations)
        return;
    herd_conversation_list_set_search(self->conversations,
                                      gtk_editable_get_text(GTK_EDITABLE(self->search_entry)));
    select_current(self);
    update_sidebar_page(self);
}

static char *format_date(gint64 us)
{
    g_autoptr(GDateTime) dt = g_date_time_new_from_unix_local(us / G_USEC_PER_SEC);
    g_autoptr(GDateTime) now = g_date_time_new_now_local();
    if (!dt)
        return g_strdup("");
    if (g_date_time_get_year(dt) == g_date_time_get_year(now) &&
        g_date_time_get_day_of_year(dt) == g_date_time_get_day_of_year(now))
        return g_date_time_format(dt, "%H:%M");
    if (g_date_time_get_year(dt) == g_date_time_get_year(now))
        return g_date_time_format(dt, "%e %b");
    return g_date_time_format(dt, "%x");
}

static void row_setup(GtkSignalListItemFactory *f, GtkListItem *item, gpointer data)
{
    GtkWidget *box = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
    gtk_widget_add_css_class(box, "conv-row");
    GtkWidget *labels = gtk_box_new(GTK_ORIENTATION_VERTICAL, 2);
    gtk_widget_set_hexpand(labels, TRUE);
    GtkWidget *title = gtk_label_new(NULL);
    gtk_label_set_xalign(GTK_LABEL(title), 0.0f);
    gtk_label_set_ellipsize(GTK_LABEL(title), PANGO_ELLIPSIZE_END);
    gtk_widget_add_css_class(title, "conv-title");
    GtkWidget *date = gtk_label_new(NULL);
    gtk_label_set_xalign(GTK_LABEL(date), 0.0f);
    gtk_widget_add_css_class(date, "conv-date");
    gtk_widget_add_css_class(date, "dim-label");
    gtk_box_append(GTK_BOX(labels), title);
    gtk_box_append(GTK_BOX(labels), date);
    gtk_box_append(GTK_BOX(box), labels);
    GtkWidget *menu = gtk_menu_button_new();
    gtk_menu_button_set_icon_name(GTK_MENU_BUTTON(menu), "view-more-symbolic");
    gtk_widget_add_css_class(menu, "flat");
    gtk_widget_set_valign(menu, GTK_ALIGN_CENTER);
    gtk_widget_set_tooltip_text(menu, _("Conversation Menu"));
    gtk_box_append(GTK_BOX(box), menu);
    gtk_list_item_set_child(item, box);
}

static void row_bind(GtkSignalListItemFactory *f, GtkListItem *item, gpointer data)
{
    HerdConversationInfo *info = gtk_list_item_get_item(item);
    GtkWidget *box = gtk_list_item_get_child(item);
    GtkWidget *labels = gtk_widget_get_first_child(box);
    GtkWidget *title = gtk_widget_get_first_child(labels);
    GtkWidget *date = gtk_widget_get_next_sibling(title);
    GtkWidget *menu = gtk_widget_get_next_sibling(labels);
    const char *t = herd_conversation_info_get_title(info);
    gtk_label_set_text(GTK_LABEL(title), t && *t ? t : _("Untitled"));
    g_autofree char *d = format_date(herd_conversation_info_get_updated(info));
    gtk_label_set_text(GTK_LABEL(date), d);
    gtk_accessible_update_property(GTK_ACCESSIBLE(box), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                   t && *t ? t : _("Untitled"), -1);

    gint64 id = herd_conversation_info_get_id(info);
    g_autoptr(GMenu) model = g_menu_new();
    g_autoptr(GMenuItem) rename = g_menu_item_new(_("_Rename…"), NULL);
    g_menu_item_set_action_and_target_value(rename, "win.rename-conversation",
                                            g_variant_new_int64(id));
    g_menu_append_item(model, rename);
    g_autoptr(GMenuItem) del = g_menu_item_new(_("_Delete"), NULL);
    g_menu_item_set_action_and_target_value(del, "win.delete-conversation",
                                            g_variant_new_int64(id));
    g_menu_append_item(model, del);
    gtk_menu_button_set_menu_model(GTK_MENU_BUTTON(menu), G_MENU_MODEL(model));
    g_autofree char *mlabel = g_strdup_printf(_("Menu for %s"), t);
    gtk_accessible_update_property(GTK_ACCESSIBLE(menu), GTK_ACCESSIBLE_PROPERTY_LABEL, mlabel, -1);
}

static void show_conversation(HerdWindow *self, HerdConversation *conv)
{
    g_set_object(&self->conv, conv);
    herd_chat_view_set_conversation(self->chat_view, conv);
    if (self->generating && conv && conv == self->gen_conv)
        herd_chat_view_set_prompt_progress(self->chat_view, -1, 0);
    update_title(self);
    update_context(self);
    select_current(self);
    if (self->settings)
        g_settings_set_int64(self->settings, "last-conversation",
                             conv ? herd_conversation_get_id(conv) : 0);
    if (self->model_loaded)
        gtk_stack_set_visible_child_name(GTK_STACK(self->main_stack), "chat");
}

gboolean herd_window_open_conversation(HerdWindow *self, gint64 id)
{
    if (!self->store)
        return FALSE;
    if (self->conv && herd_conversation_get_id(self->conv) == id)
        return TRUE;
    if (self->gen_conv && herd_conversation_get_id(self->gen_conv) == id) {
        show_conversation(self, self->gen_conv);
        return TRUE;
    }
    g_autoptr(GError) error = NULL;
    g_autoptr(HerdConversation) conv = herd_conversation_load(self->store, id, &error);
    if (!conv) {
        herd_window_toast(self, error->message);
        return FALSE;
    }
    show_conversation(self, conv);
    return TRUE;
}

static void on_selection_changed(GtkSingleSelection *sel, GParamSpec *pspec, HerdWindow *self)
{
    if (self->selecting)
        return;
    HerdConversationInfo *info = gtk_single_selection_get_selected_item(sel);
    if (!info)
        return;
    herd_window_open_conversation(self, herd_conversation_info_get_id(info));
    adw_leaflet_navigate(self->leaflet, ADW_NAVIGATION_DIRECTION_FORWARD);
}

static void on_back_clicked(HerdWindow *self)
{
    adw_leaflet_navigate(self->leaflet, ADW_NAVIGATION_DIRECTION_BACK);
}

void herd_window_new_conversation(HerdWindow *self)
{
    show_conversation(self, NULL);
    adw_leaflet_navigate(self->leaflet, ADW_NAVIGATION_DIRECTION_FORWARD);
    herd_composer_grab_focus(self->composer);
}

/* ---- model loading ---- */

static void on_load_progress(HerdWorker *w, double fraction, HerdWindow *self)
{
    gtk_progress_bar_set_fraction(GTK_PROGRESS_BAR(self->load_progress), fraction);
    g_autofree char *text = g_strdup_printf("%d %%", (int)(fraction * 100 + 0.5));
    gtk_progress_bar_set_text(GTK_PROGRESS_BAR(self->load_progress), text);
}

static void update_model_button(HerdWindow *self)
{
    /* AdwButtonContent cannot ellipsize (1.2): shorten long file names here, and show only
     * the icon when the window is narrow. */
    g_autofree char *shown =
        g_strdup(self->model_loaded && self->model_name ? self->model_name : _("No Model"));
    if (g_utf8_strlen(shown, -1) > 20) {
        g_autofree char *cut = g_utf8_substring(shown, 0, 19);
        g_free(shown);
        shown = g_strconcat(cut, "…", NULL);
    }
    gboolean narrow = adw_leaflet_get_folded(self->leaflet);
    adw_button_content_set_label(ADW_BUTTON_CONTENT(self->model_button_content),
                                 narrow ? "" : shown);
    gtk_widget_set_tooltip_text(self->model_button, self->model_loaded && self->model_name
                                                        ? self->model_name
                                                        : _("Choose Model (Ctrl+M)"));
}

static void on_folded(AdwLeaflet *leaflet, GParamSpec *pspec, HerdWindow *self)
{
    update_model_button(self);
}

static char *plain_error(const GError *error)
{
    if (error->domain == HERD_WORKER_ERROR && error->code == HERD_ERR_ABORTED)
        return g_strdup(_("Loading was cancelled."));
    return g_strdup(error->message);
}

static void on_load_finished(HerdWorker *w, GError *error, HerdWindow *self)
{
    self->loading = FALSE;
    if (error) {
        self->model_loaded = FALSE;
        g_clear_pointer(&self->model_name, g_free);
        g_autofree char *msg = plain_error(error);
        g_autofree char *desc = g_strdup_printf(_("The model could not be loaded: %s"), msg);
        adw_status_page_set_title(ADW_STATUS_PAGE(self->welcome_page), _("No Model Loaded"));
        adw_status_page_set_description(ADW_STATUS_PAGE(self->welcome_page), desc);
        gtk_stack_set_visible_child_name(GTK_STACK(self->main_stack), "welcome");
        herd_window_toast(self, desc);
        update_model_button(self);
    } else {
        self->model_loaded = TRUE;
        g_free(self->model_name);
        self->model_name = g_strdup(herd_worker_get_model_name(w));
        if (!self->model_name || !*self->model_name) {
            g_free(self->model_name);
            self->model_name = g_path_get_basename(self->model_path);
        }
        if (g_str_has_suffix(self->model_name, ".gguf"))
            self->model_name[strlen(self->model_name) - 5] = '\0';
        g_autofree char *base = g_path_get_basename(self->model_path);
        if (!strcmp(base, "herd-demo.gguf")) {
            /* say what the bundled demo is, where the model's name is shown */
            g_free(self->model_name);
            self->model_name = g_strdup(_("Demo model"));
            herd_window_toast(self, _("This is Herd's tiny demo model: it knows only pictures of "
                                      "simple shapes (which shape, colour, how many, where). For "
                                      "real work, load a Llama 4 Scout or Maverick GGUF."));
        }
        /* AdwButtonContent cannot ellipsize (1.2): shorten long file names here. */
        update_model_button(self);
        gtk_stack_set_visible_child_name(GTK_STACK(self->main_stack), "chat");
        herd_composer_grab_focus(self->composer);
    }
    update_title(self);
}

static void on_prompt_progress(HerdWorker *w, HerdMessage *reply, int done, int total,
                               HerdWindow *self)
{
    if (self->conv && self->conv == self->gen_conv)
        herd_chat_view_set_prompt_progress(self->chat_view, done, total);
}

static void on_piece(HerdWorker *w, HerdMessage *reply, const char *text, HerdWindow *self)
{
    /* The row follows its message's text; the first piece ends prompt reading. Pieces are
     * tokens (coalesced per main-loop turn), so the worker's counter gives a live speed. */
    herd_chat_view_set_prompt_progress(self->chat_view, -1, 0);
    guint n_pieces = 0;
    herd_worker_get_counters(w, NULL, &n_pieces);
    gint64 now = g_get_monotonic_time();
    if (!self->live_t0) {
        self->live_t0 = now;
        self->live_first = n_pieces;
    }
    HerdMessageRow *row = herd_chat_view_get_last_row(self->chat_view);
    if (row && herd_message_row_get_message(row) == reply) {
        guint n = n_pieces - self->live_pieces0;
        double secs = (now - self->live_t0) / 1e6;
        herd_message_row_set_live_stats(row, n,
                                        secs > 0.2 ? (n_pieces - self->live_first) / secs : 0.0);
    }
}

static void on_finished(HerdWorker *w, HerdMessage *reply, GError *error, HerdWindow *self)
{
    self->generating = FALSE;
    gtk_widget_action_set_enabled(GTK_WIDGET(self), "win.stop", FALSE);
    herd_composer_set_generating(self->composer, FALSE);
    herd_chat_view_set_prompt_progress(self->chat_view, -1, 0);
    guint cookie = GPOINTER_TO_UINT(g_object_get_data(G_OBJECT(self), "inhibit"));
    if (cookie) /* 0 where no session manager answers */
        gtk_application_uninhibit(GTK_APPLICATION(self->app), cookie);
    g_object_set_data(G_OBJECT(self), "inhibit", NULL);
    if (error && !(error->domain == HERD_WORKER_ERROR && error->code == HERD_ERR_ABORTED)) {
        g_autofree char *msg = g_strdup_printf(_("The answer failed: %s"), error->message);
        herd_window_toast(self, msg);
    }
    if (!error && !gtk_window_is_active(GTK_WINDOW(self))) {
        g_autoptr(GNotification) n = g_notification_new(_("Answer ready"));
        const char *text = herd_message_get_text(reply);
        g_autofree char *body = g_utf8_substring(text, 0, MIN(g_utf8_strlen(text, -1), 200));
        g_notification_set_body(n, body);
        g_application_send_notification(G_APPLICATION(self->app), "answer", n);
    }
    g_clear_object(&self->reply);
    g_clear_object(&self->gen_conv);
    update_context(self);
    reload_sidebar(self);
}

static HerdWorker *make_worker(HerdWindow *self)
{
    HerdBackend backend;
    if (self->factory) {
        backend = self->factory(self->factory_data);
    } else {
        herd_engine_backend_config cfg = { 0 };
        cfg.n_threads = self->settings ? g_settings_get_int(self->settings, "threads") : 0;
        cfg.n_ctx = self->n_ctx;
        /* The schema's enum values are engine/backend.h's herd_backend_kind values. */
        cfg.backend = self->settings ? g_settings_get_enum(self->settings, "backend") : 0;
        cfg.max_tiles = self->settings ? g_settings_get_int(self->settings, "image-tile-limit") : 0;
        backend = herd_engine_backend_new(&cfg);
    }
    HerdWorker *w = herd_worker_new(backend, self->store);
    g_signal_connect(w, "load-progress", G_CALLBACK(on_load_progress), self);
    g_signal_connect(w, "load-finished", G_CALLBACK(on_load_finished), self);
    g_signal_connect(w, "prompt-progress", G_CALLBACK(on_prompt_progress), self);
    g_signal_connect(w, "piece", G_CALLBACK(on_piece), self);
    g_signal_connect(w, "finished", G_CALLBACK(on_finished), self);
    return w;
}

static void drop_worker(HerdWindow *self)
{
    if (!self->worker)
        return;
    herd_worker_stop(self->worker);
    g_signal_handlers_disconnect_by_data(self->worker, self);
    g_clear_object(&self->worker);
    self->generating = FALSE;
    gtk_widget_action_set_enabled(GTK_WIDGET(self), "win.stop", FALSE);
    g_clear_object(&self->reply);
    g_clear_object(&self->gen_conv);
}

void herd_window_load_model(HerdWindow *self, const char *model_path, const char *mmproj_path,
                            gboolean remember)
{
    g_return_if_fail(model_path != NULL);
    if (remember && self->settings) {
        g_settings_set_string(self->settings, "model-path", model_path);
        g_settings_set_string(self->settings, "mmproj-path", mmproj_path ? mmproj_path : "");
    }
    g_free(self->model_path);
    self->model_path = g_strdup(model_path);
    g_free(self->mmproj_path);
    self->mmproj_path = mmproj_path && *mmproj_path ? g_strdup(mmproj_path) : NULL;
    /* 0: the engine's default, min(model maximum, 8192). */
    self->n_ctx = self->settings ? g_settings_get_int(self->settings, "context-size") : 0;

    drop_worker(self);
    self->worker = make_worker(self);
    self->loading = TRUE;
    self->model_loaded = FALSE;
    g_autofree char *base = g_path_get_basename(model_path);
    adw_status_page_set_description(ADW_STATUS_PAGE(self->loading_page), base);
    on_load_progress(self->worker, 0.0, self);
    gtk_stack_set_visible_child_name(GTK_STACK(self->main_stack), "loading");
    herd_worker_load_model(self->worker, self->model_path, self->mmproj_path);
}

static char *find_mmproj_beside(const char *model_path)
{
    g_autofree char *dir = g_path_get_dirname(model_path);
    g_autofree char *base = g_path_get_basename(model_path);
    if (strstr(base, "mmproj"))
        return NULL;
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    if (!d)
        return NULL;
    const char *name;
    char *best = NULL;
    while ((name = g_dir_read_name(d))) {
        if (strstr(name, "mmproj") && g_str_has_suffix(name, ".gguf")) {
            /* Prefer the projector whose name shares the model's prefix (tiny-… ↔ tiny-…). */
            char *full = g_build_filename(dir, name, NULL);
            if (!best || strncmp(name, base, 4) == 0) {
                g_free(best);
                best = full;
            } else {
                g_free(full);
            }
        }
    }
    return best;
}

static GtkFileFilter *gguf_filter(void)
{
    GtkFileFilter *filter = gtk_file_filter_new();
    gtk_file_filter_set_name(filter, _("GGUF models"));
    gtk_file_filter_add_pattern(filter, "*.gguf");
    gtk_file_filter_add_pattern(filter, "*.GGUF");
    return filter;
}

static void model_chosen(GtkNativeDialog *dialog, int response, gpointer data)
{
    HerdWindow *self = data;
    if (response == GTK_RESPONSE_ACCEPT) {
        g_autoptr(GFile) file = gtk_file_chooser_get_file(GTK_FILE_CHOOSER(dialog));
        g_autofree char *path = g_file_get_path(file);
        if (path) {
            g_autofree char *mmproj = find_mmproj_beside(path);
            herd_window_load_model(self, path, mmproj, TRUE);
            if (!mmproj)
                herd_window_toast(self, _("No vision projector was found beside the model: "
                                          "images cannot be used until you choose one in "
                                          "Preferences."));
        }
    }
    g_object_unref(dialog);
}

static void action_open_model(GtkWidget *widget, const char *name, GVariant *param)
{
    HerdWindow *self = HERD_WINDOW(widget);
    GtkFileChooserNative *dialog =
        gtk_file_chooser_native_new(_("Choose a Llama 4 Model"), GTK_WINDOW(self),
                                    GTK_FILE_CHOOSER_ACTION_OPEN, _("_Open"), _("_Cancel"));
    GtkFileFilter *filter = gguf_filter();
    gtk_file_chooser_add_filter(GTK_FILE_CHOOSER(dialog), filter);
    g_object_unref(filter);
    gtk_native_dialog_set_modal(GTK_NATIVE_DIALOG(dialog), TRUE);
    g_signal_connect(dialog, "response", G_CALLBACK(model_chosen), self);
    gtk_native_dialog_show(GTK_NATIVE_DIALOG(dialog));
}

static void mmproj_chosen(GtkNativeDialog *dialog, int response, gpointer data)
{
    HerdWindow *self = data;
    if (response == GTK_RESPONSE_ACCEPT) {
        g_autoptr(GFile) file = gtk_file_chooser_get_file(GTK_FILE_CHOOSER(dialog));
        g_autofree char *path = g_file_get_path(file);
        if (path && self->settings)
            g_settings_set_string(self->settings, "mmproj-path", path);
        if (path && self->model_path) {
            g_autofree char *model = g_strdup(self->model_path);
            herd_window_load_model(self, model, path, TRUE);
        }
    }
    g_object_unref(dialog);
}

static void action_open_mmproj(GtkWidget *widget, const char *name, GVariant *param)
{
    HerdWindow *self = HERD_WINDOW(widget);
    GtkWindow *parent = gtk_application_get_active_window(GTK_APPLICATION(self->app));
    GtkFileChooserNative *dialog = gtk_file_chooser_native_new(
        _("Choose the Vision Projector"), parent ? parent : GTK_WINDOW(self),
        GTK_FILE_CHOOSER_ACTION_OPEN, _("_Open"), _("_Cancel"));
    GtkFileFilter *filter = gguf_filter();
    gtk_file_chooser_add_filter(GTK_FILE_CHOOSER(dialog), filter);
    g_object_unref(filter);
    gtk_native_dialog_set_modal(GTK_NATIVE_DIALOG(dialog), TRUE);
    g_signal_connect(dialog, "response", G_CALLBACK(mmproj_chosen), self);
    gtk_native_dialog_show(GTK_NATIVE_DIALOG(dialog));
}

static char *demo_model_path(void)
{
    const char *dirs[] = { HERD_PKGDATADIR "/models", HERD_SOURCE_RESOURCES "/models" };
    for (guint i = 0; i < G_N_ELEMENTS(dirs); i++) {
        char *p = g_build_filename(dirs[i], "herd-demo.gguf", NULL);
        if (g_file_test(p, G_FILE_TEST_IS_REGULAR))
            return p;
        g_free(p);
    }
    return NULL;
}

gboolean herd_window_load_demo(HerdWindow *self)
{
    g_autofree char *path = demo_model_path();
    if (!path)
        return FALSE;
    g_autofree char *mmproj = find_mmproj_beside(path);
    /* not remembered: a model the user picks later takes over for good */
    herd_window_load_model(self, path, mmproj, FALSE);
    return TRUE;
}

static void action_use_demo(GtkWidget *widget, const char *name, GVariant *param)
{
    herd_window_load_demo(HERD_WINDOW(widget));
}

static void action_cancel_load(GtkWidget *widget, const char *name, GVariant *param)
{
    HerdWindow *self = HERD_WINDOW(widget);
    if (self->worker && self->loading)
        herd_worker_stop(self->worker);
}

/* ---- sending ---- */

static char *title_from(const char *text, guint n_images)
{
    g_autofree char *line = g_strstrip(g_strdup(text));
    char *nl = strchr(line, '\n');
    if (nl)
        *nl = '\0';
    if (!*line)
        return g_strdup(n_images ? _("Image question") : _("New Conversation"));
    glong n = g_utf8_strlen(line, -1);
    if (n <= 48)
        return g_strdup(line);
    g_autofree char *cut = g_utf8_substring(line, 0, 47);
    return g_strconcat(g_strchomp(cut), "…", NULL);
}

static HerdSampling sampling_from_settings(HerdWindow *self)
{
    HerdSampling s = { 0 };
    s.temperature = 0.6f;
    s.top_p = 0.9f;
    if (self->settings) {
        s.temperature = (float)g_settings_get_double(self->settings, "temperature");
        s.top_p = (float)g_settings_get_double(self->settings, "top-p");
        s.max_tokens = g_settings_get_int(self->settings, "max-tokens");
    }
    s.seed = (uint64_t)g_get_real_time();
    return s;
}

static gboolean start_generation(HerdWindow *self, HerdConversation *conv)
{
    HerdSampling s = sampling_from_settings(self);
    g_autoptr(GError) error = NULL;
    HerdMessage *reply = herd_worker_generate(self->worker, conv, &s, &error);
    if (!reply) {
        herd_window_toast(self, error->message);
        return FALSE;
    }
    self->generating = TRUE;
    /* Escape is the Stop accelerator only while answering: otherwise it stays with the
     * focused widget (search entry, popovers). */
    gtk_widget_action_set_enabled(GTK_WIDGET(self), "win.stop", TRUE);
    self->live_t0 = 0;
    herd_worker_get_counters(self->worker, NULL, &self->live_pieces0);
    g_set_object(&self->reply, reply);
    g_set_object(&self->gen_conv, conv);
    herd_composer_set_generating(self->composer, TRUE);
    guint cookie = gtk_application_inhibit(GTK_APPLICATION(self->app), GTK_WINDOW(self),
                                           GTK_APPLICATION_INHIBIT_SUSPEND, _("Writing an answer"));
    g_object_set_data(G_OBJECT(self), "inhibit", GUINT_TO_POINTER(cookie));
    return TRUE;
}

gboolean herd_window_send(HerdWindow *self)
{
    if (!self->store) {
        herd_window_toast(self, _("The history could not be opened, so nothing can be sent."));
        return FALSE;
    }
    if (self->generating) {
        herd_window_toast(self, _("Wait for the answer, or stop it first."));
        return FALSE;
    }
    if (!self->model_loaded || !self->worker) {
        herd_window_toast(self, self->loading ? _("The model is still loading.")
                                              : _("Choose a model first."));
        return FALSE;
    }
    if (herd_composer_get_n_pending(self->composer) > 0) {
        herd_window_toast(self, _("An image is still being checked."));
        return FALSE;
    }
    g_autofree char *text = herd_composer_get_text(self->composer);
    g_autoptr(GPtrArray) images = herd_composer_get_images(self->composer);
    g_strstrip(text);
    if (!*text && images->len == 0)
        return FALSE;

    g_autoptr(GError) error = NULL;
    if (!self->conv) {
        g_autofree char *title = title_from(text, images->len);
        g_autoptr(HerdConversation) conv = herd_conversation_new(self->store, title, &error);
        if (!conv) {
            herd_window_toast(self, error->message);
            return FALSE;
        }
        g_autofree char *system =
            self->settings ? g_settings_get_string(self->settings, "system-prompt") : g_strdup("");
        g_strstrip(system);
        if (*system && !herd_conversation_add_message(conv, HERD_MESSAGE_ROLE_SYSTEM, system, NULL,
                                                      0, &error)) {
            herd_window_toast(self, error->message);
            return FALSE;
        }
        show_conversation(self, conv);
    }
    HerdMessageImage *imgs = g_new0(HerdMessageImage, MAX(images->len, 1));
    for (guint i = 0; i < images->len; i++)
        imgs[i] = *(HerdMessageImage *)images->pdata[i];
    HerdMessage *user = herd_conversation_add_message(self->conv, HERD_MESSAGE_ROLE_USER, text,
                                                      imgs, images->len, &error);
    g_free(imgs);
    if (!user) {
        herd_window_toast(self, error->message);
        return FALSE;
    }
    herd_composer_clear(self->composer);
    herd_chat_view_scroll_to_bottom(self->chat_view);
    gboolean ok = start_generation(self, self->conv);
    reload_sidebar(self);
    return ok;
}

void herd_window_stop(HerdWindow *self)
{
    if (self->worker && self->generating)
        herd_worker_stop(self->worker);
}

static void on_composer_send(HerdComposer *composer, HerdWindow *self)
{
    herd_window_send(self);
}

static void on_composer_stop(HerdComposer *composer, HerdWindow *self)
{
    herd_window_stop(self);
}

/* Removes the messages from index `from` on (store first), then shows the reloaded
 * conversation. */
static gboolean truncate_conversation(HerdWindow *self, guint from)
{
    g_autoptr(GError) error = NULL;
    guint n = g_list_model_get_n_items(G_LIST_MODEL(self->conv));
    for (guint i = n; i > from; i--) {
        HerdMessage *m = herd_conversation_get_message(self->conv, i - 1);
        if (!herd_store_delete_message(self->store, herd_message_get_id(m), &error)) {
            herd_window_toast(self, error->message);
            return FALSE;
        }
    }
    gint64 id = herd_conversation_get_id(self->conv);
    g_autoptr(HerdConversation) conv = herd_conversation_load(self->store, id, &error);
    if (!conv) {
        herd_window_toast(self, error->message);
        return FALSE;
    }
    show_conversation(self, conv);
    return TRUE;
}

static gboolean find_index(HerdConversation *conv, HerdMessage *m, guint *out)
{
    guint n = g_list_model_get_n_items(G_LIST_MODEL(conv));
    for (guint i = 0; i < n; i++)
        if (herd_conversation_get_message(conv, i) == m) {
            *out = i;
            return TRUE;
        }
    return FALSE;
}

static void on_regenerate(HerdChatView *view, HerdMessage *m, HerdWindow *self)
{
    guint index;
    if (self->generating) {
        herd_window_toast(self, _("Wait for the answer, or stop it first."));
        return;
    }
    if (!self->model_loaded) {
        herd_window_toast(self, _("Choose a model first."));
        return;
    }
    if (!self->conv || !find_index(self->conv, m, &index))
        return;
    if (truncate_conversation(self, index))
        start_generation(self, self->conv);
}

static void on_edit(HerdChatView *view, HerdMessage *m, HerdWindow *self)
{
    guint index;
    if (self->generating) {
        herd_window_toast(self, _("Wait for the answer, or stop it first."));
        return;
    }
    if (!self->conv || !find_index(self->conv, m, &index))
        return;
    /* The images are deleted with the message once nothing else uses them: keep copies. */
    g_autofree char *text = g_strdup(herd_message_get_text(m));
    g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func(g_object_unref);
    g_autofree char *dir = g_build_filename(g_get_user_cache_dir(), "herd", "edit", NULL);
    g_mkdir_with_parents(dir, 0700);
    for (guint i = 0; i < herd_message_get_n_images(m); i++) {
        const HerdMessageImage *img = herd_message_get_image(m, i);
        g_autofree char *base = g_path_get_basename(img->name ? img->name : img->path);
        g_autofree char *dest = g_build_filename(dir, base, NULL);
        g_autoptr(GFile) src = g_file_new_for_path(img->path);
        GFile *dst = g_file_new_for_path(dest);
        if (g_file_copy(src, dst, G_FILE_COPY_OVERWRITE, NULL, NULL, NULL, NULL))
            g_ptr_array_add(files, dst);
        else
            g_object_unref(dst);
    }
    if (!truncate_conversation(self, index))
        return;
    herd_composer_clear(self->composer);
    herd_composer_set_text(self->composer, text);
    for (guint i = 0; i < files->len; i++)
        herd_composer_add_file(self->composer, files->pdata[i]);
    herd_composer_grab_focus(self->composer);
}

static void on_copied(HerdChatView *view, HerdWindow *self)
{
    herd_window_toast(self, _("Copied"));
}

/* ---- drops ---- */

gboolean herd_window_handle_drop(HerdWindow *self, const GValue *value)
{
    gboolean ok = herd_composer_handle_drop(self->composer, value);
    if (ok && self->model_loaded)
        gtk_stack_set_visible_child_name(GTK_STACK(self->main_stack), "chat");
    return ok;
}

static gboolean on_drop(GtkDropTarget *target, const GValue *value, double x, double y,
                        HerdWindow *self)
{
    gtk_widget_remove_css_class(self->chat_area, "drop-highlight");
    return herd_window_handle_drop(self, value);
}

static GdkDragAction on_drop_enter(GtkDropTarget *t, double x, double y, HerdWindow *self)
{
    gtk_widget_add_css_class(self->chat_area, "drop-highlight");
    return GDK_ACTION_COPY;
}

static void on_drop_leave(GtkDropTarget *t, HerdWindow *self)
{
    gtk_widget_remove_css_class(self->chat_area, "drop-highlight");
}

/* ---- export ---- */

gboolean herd_window_export_to(HerdWindow *self, const char *path, HerdExportFormat format,
                               GError **error)
{
    if (!self->conv) {
        g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                            _("There is no conversation to export yet."));
        return FALSE;
    }
    gint64 id = herd_conversation_get_id(self->conv);
    switch (format) {
    case HERD_EXPORT_JSON:
        return herd_export_json_file(self->store, id, path, error);
    case HERD_EXPORT_HTML:
        return herd_export_html_file(self->store, id, path, error);
    case HERD_EXPORT_MARKDOWN:
    default:
        return herd_export_markdown_file(self->store, id, path, error);
    }
}

static void export_chosen(GtkNativeDialog *dialog, int response, gpointer data)
{
    HerdWindow *self = data;
    if (response == GTK_RESPONSE_ACCEPT) {
        g_autoptr(GFile) file = gtk_file_chooser_get_file(GTK_FILE_CHOOSER(dialog));
        g_autofree char *path = g_file_get_path(file);
        HerdExportFormat format = HERD_EXPORT_MARKDOWN;
        GtkFileFilter *filter = gtk_file_chooser_get_filter(GTK_FILE_CHOOSER(dialog));
        const char *fname = filter ? gtk_file_filter_get_name(filter) : NULL;
        if (path && (g_str_has_suffix(path, ".json") || g_strcmp0(fname, "JSON") == 0))
            format = HERD_EXPORT_JSON;
        else if (path && (g_str_has_suffix(path, ".html") || g_str_has_suffix(path, ".htm") ||
                          g_strcmp0(fname, "HTML") == 0))
            format = HERD_EXPORT_HTML;
        g_autoptr(GError) error = NULL;
        if (!path)
            herd_window_toast(self, _("Export needs a local file."));
        else if (!herd_window_export_to(self, path, format, &error))
            herd_window_toast(self, error->message);
        else {
            g_autofree char *base = g_path_get_basename(path);
            g_autofree char *msg = g_strdup_printf(_("Exported to “%s”"), base);
            herd_window_toast(self, msg);
        }
    }
    g_object_unref(dialog);
}

static void action_export(GtkWidget *widget, const char *name, GVariant *param)
{
    HerdWindow *self = HERD_WINDOW(widget);
    if (!self->conv) {
        herd_window_toast(self, _("There is no conversation to export yet."));
        return;
    }
    GtkFileChooserNative *dialog =
        gtk_file_chooser_native_new(_("Export Conversation"), GTK_WINDOW(self),
                                    GTK_FILE_CHOOSER_ACTION_SAVE, _("_Export"), _("_Cancel"));
    const struct {
        const char *name, *pattern;
    } kinds[] = { { "Markdown", "*.md" }, { "JSON", "*.json" }, { "HTML", "*.html" } };
    for (guint i = 0; i < G_N_ELEMENTS(kinds); i++) {
        GtkFileFilter *f = gtk_file_filter_new();
        gtk_file_filter_set_name(f, kinds[i].name);
        gtk_file_filter_add_pattern(f, kinds[i].pattern);
        gtk_file_chooser_add_filter(GTK_FILE_CHOOSER(dialog), f);
        g_object_unref(f);
    }
    g_autofree char *fname = herd_export_filename(herd_conversation_get_title(self->conv), "md");
    gtk_file_chooser_set_current_name(GTK_FILE_CHOOSER(dialog), fname);
    gtk_native_dialog_set_modal(GTK_NATIVE_DIALOG(dialog), TRUE);
    g_signal_connect(dialog, "response", G_CALLBACK(export_chosen), self);
    gtk_native_dialog_show(GTK_NATIVE_DIALOG(dialog));
}

/* ---- rename / delete ---- */

static void rename_response(AdwMessageDialog *dialog, const char *response, HerdWindow *self)
{
    if (g_strcmp0(response, "rename") != 0)
        return;
    GtkWidget *entry = adw_message_dialog_get_extra_child(dialog);
    gint64 id = GPOINTER_TO_SIZE(g_object_get_data(G_OBJECT(dialog), "id"));
    const char *title = gtk_editable_get_text(GTK_EDITABLE(entry));
    g_autoptr(GError) error = NULL;
    gboolean ok;
    if (self->conv && herd_conversation_get_id(self->conv) == id)
        ok = herd_conversation_set_title(self->conv, title, &error);
    else
        ok = herd_store_rename_conversation(self->store, id, title, &error);
    if (!ok)
        herd_window_toast(self, error->message);
    update_title(self);
    reload_sidebar(self);
}

static void rename_activate(GtkEntry *entry, AdwMessageDialog *dialog)
{
    adw_message_dialog_response(dialog, "rename");
    gtk_window_close(GTK_WINDOW(dialog));
}

static void rename_conversation(HerdWindow *self, gint64 id)
{
    g_autoptr(HerdStoreConversation) c = herd_store_get_conversation(self->store, id, NULL);
    if (!c)
        return;
    GtkWidget *dialog = adw_message_dialog_new(GTK_WINDOW(self), _("Rename Conversation"), NULL);
    adw_message_dialog_add_responses(ADW_MESSAGE_DIALOG(dialog), "cancel", _("_Cancel"), "rename",
                                     _("_Rename"), NULL);
    adw_message_dialog_set_response_appearance(ADW_MESSAGE_DIALOG(dialog), "rename",
                                               ADW_RESPONSE_SUGGESTED);
    adw_message_dialog_set_default_response(ADW_MESSAGE_DIALOG(dialog), "rename");
    adw_message_dialog_set_close_response(ADW_MESSAGE_DIALOG(dialog), "cancel");
    GtkWidget *entry = gtk_entry_new();
    gtk_editable_set_text(GTK_EDITABLE(entry), c->title ? c->title : "");
    gtk_accessible_update_property(GTK_ACCESSIBLE(entry), GTK_ACCESSIBLE_PROPERTY_LABEL, _("Title"),
                                   -1);
    g_signal_connect(entry, "activate", G_CALLBACK(rename_activate), dialog);
    adw_message_dialog_set_extra_child(ADW_MESSAGE_DIALOG(dialog), entry);
    g_object_set_data(G_OBJECT(dialog), "id", GSIZE_TO_POINTER((gsize)id));
    g_signal_connect(dialog, "response", G_CALLBACK(rename_response), self);
    gtk_window_present(GTK_WINDOW(dialog));
}

static void commit_delete(HerdWindow *self, gint64 id)
{
    if (!g_hash_table_remove(self->pending_deletes, &id))
        return; /* undone, or already done */
    g_autoptr(GError) error = NULL;
    if (self->store && !herd_store_delete_conversation(self->store, id, &error))
        g_warning("delete conversation %" G_GINT64_FORMAT ": %s", id, error->message);
}

static void on_delete_dismissed(AdwToast *toast, HerdWindow *self)
{
    gint64 id = GPOINTER_TO_SIZE(g_object_get_data(G_OBJECT(toast), "id"));
    commit_delete(self, id);
    gtk_filter_changed(GTK_FILTER(self->filter), GTK_FILTER_CHANGE_MORE_STRICT);
}

static void on_delete_undo(AdwToast *toast, HerdWindow *self)
{
    gint64 id = GPOINTER_TO_SIZE(g_object_get_data(G_OBJECT(toast), "id"));
    g_hash_table_remove(self->pending_deletes, &id);
    gtk_filter_changed(GTK_FILTER(self->filter), GTK_FILTER_CHANGE_LESS_STRICT);
    update_sidebar_page(self);
    herd_window_open_conversation(self, id);
}

static void delete_conversation(HerdWindow *self, gint64 id)
{
    if (self->gen_conv && herd_conversation_get_id(self->gen_conv) == id && self->worker)
        herd_worker_stop(self->worker);
    gint64 *key = g_new(gint64, 1);
    *key = id;
    g_hash_table_add(self->pending_deletes, key);
    gtk_filter_changed(GTK_FILTER(self->filter), GTK_FILTER_CHANGE_MORE_STRICT);
    update_sidebar_page(self);
    if (self->conv && herd_conversation_get_id(self->conv) == id)
        show_conversation(self, NULL);
    AdwToast *toast = adw_toast_new(_("Conversation deleted"));
    adw_toast_set_button_label(toast, _("_Undo"));
    adw_toast_set_timeout(toast, 6);
    g_object_set_data(G_OBJECT(toast), "id", GSIZE_TO_POINTER((gsize)id));
    g_signal_connect(toast, "button-clicked", G_CALLBACK(on_delete_undo), self);
    g_signal_connect(toast, "dismissed", G_CALLBACK(on_delete_dismissed), self);
    adw_toast_overlay_add_toast(self->toast_overlay, toast);
}

static void action_rename_conversation(GtkWidget *widget, const char *name, GVariant *param)
{
    rename_conversation(HERD_WINDOW(widget), g_variant_get_int64(param));
}

static void action_delete_conversation(GtkWidget *widget, const char *name, GVariant *param)
{
    delete_conversation(HERD_WINDOW(widget), g_variant_get_int64(param));
}

static void action_rename_current(GtkWidget *widget, const char *name, GVariant *param)
{
    HerdWindow *self = HERD_WINDOW(widget);
    if (self->conv)
        rename_conversation(self, herd_conversation_get_id(self->conv));
}

static void action_delete_current(GtkWidget *widget, const char *name, GVariant *param)
{
    HerdWindow *self = HERD_WINDOW(widget);
    if (self->conv)
        delete_conversation(self, herd_conversation_get_id(self->conv));
}

/* ---- other actions ---- */

static void action_new_conversation(GtkWidget *widget, const char *name, GVariant *param)
{
    herd_window_new_conversation(HERD_WINDOW(widget));
}

static void action_stop(GtkWidget *widget, const char *name, GVariant *param)
{
    herd_window_stop(HERD_WINDOW(widget));
}

static void action_search(GtkWidget *widget, const char *name, GVariant *param)
{
    HerdWindow *self = HERD_WINDOW(widget);
    adw_leaflet_navigate(self->leaflet, ADW_NAVIGATION_DIRECTION_BACK);
    gtk_widget_grab_focus(self->search_entry);
}

static void action_attach(GtkWidget *widget, const char *name, GVariant *param)
{
    herd_composer_open_file_chooser(HERD_WINDOW(widget)->composer);
}

static void action_toggle_sidebar(GtkWidget *widget, const char *name, GVariant *param)
{
    HerdWindow *self = HERD_WINDOW(widget);
    if (adw_leaflet_get_folded(self->leaflet)) {
        gboolean on_sidebar = adw_leaflet_get_visible_child(self->leaflet) == self->sidebar;
        adw_leaflet_navigate(self->leaflet, on_sidebar ? ADW_NAVIGATION_DIRECTION_FORWARD
                                                       : ADW_NAVIGATION_DIRECTION_BACK);
    } else {
        gtk_widget_set_visible(self->sidebar, !gtk_widget_get_visible(self->sidebar));
    }
}

static void action_preferences(GtkWidget *widget, const char *name, GVariant *param)
{
    HerdWindow *self = HERD_WINDOW(widget);
    if (!self->settings)
        return;
    g_autofree char *facts = NULL;
    if (self->model_loaded) {
        GStatBuf st;
        double gib = g_stat(self->model_path, &st) == 0 ? st.st_size / (1024.0 * 1024 * 1024) : 0;
        g_autofree char *ctx = self->n_ctx > 0
                                   ? g_strdup_printf(_("context %d tokens"), self->n_ctx)
                                   : g_strdup(_("the model’s context (up to 8192)"));
        facts = g_strdup_printf(_("%s\n%.2f GiB · %s · images %s"), self->model_name, gib, ctx,
                                self->mmproj_path ? _("on") : _("off"));
    }
    GtkWidget *prefs = herd_preferences_new(GTK_WINDOW(self), self->settings, facts);
    gtk_window_present(GTK_WINDOW(prefs));
}

static gboolean on_close_request(GtkWindow *window)
{
    HerdWindow *self = HERD_WINDOW(window);
    if (self->settings) {
        int w, h;
        gtk_window_get_default_size(window, &w, &h);
        g_settings_set_int(self->settings, "window-width", w);
        g_settings_set_int(self->settings, "window-height", h);
        g_settings_set_boolean(self->settings, "window-maximized", gtk_window_is_maximized(window));
    }
    return FALSE;
}

HerdWindow *herd_window_new(HerdApplication *app)
{
    HerdWindow *self = g_object_new(HERD_TYPE_WINDOW, "application", app, NULL);
    self->app = app;
    self->settings = g_object_ref(herd_application_get_settings(app));
    self->store = herd_application_get_store(app);
    if (self->store)
        g_object_ref(self->store);
    self->n_ctx = g_settings_get_int(self->settings, "context-size");
    gtk_window_set_default_size(GTK_WINDOW(self),
                                g_settings_get_int(self->settings, "window-width"),
                                g_settings_get_int(self->settings, "window-height"));
    if (g_settings_get_boolean(self->settings, "window-maximized"))
        gtk_window_maximize(GTK_WINDOW(self));

    g_autofree char *demo = demo_model_path();
    gtk_widget_set_visible(self->demo_button, demo != NULL);

    if (!self->store) {
        const char *why = herd_application_get_store_error(app);
        adw_status_page_set_title(ADW_STATUS_PAGE(self->welcome_page),
                                  _("The History Cannot Be Opened"));
        adw_status_page_set_description(ADW_STATUS_PAGE(self->welcome_page), why);
        return self;
    }
    self->conversations = herd_conversation_list_new(self->store);
    self->filter = gtk_custom_filter_new(filter_visible, self, NULL);
    self->filtered = gtk_filter_list_model_new(g_object_ref(G_LIST_MODEL(self->conversations)),
                                               g_object_ref(GTK_FILTER(self->filter)));
    self->selection = gtk_single_selection_new(g_object_ref(G_LIST_MODEL(self->filtered)));
    gtk_single_selection_set_autoselect(self->selection, FALSE);
    gtk_single_selection_set_can_unselect(self->selection, TRUE);
    gtk_single_selection_set_selected(self->selection, GTK_INVALID_LIST_POSITION);
    g_signal_connect(self->selection, "notify::selected", G_CALLBACK(on_selection_changed), self);
    GtkListItemFactory *factory = gtk_signal_list_item_factory_new();
    g_signal_connect(factory, "setup", G_CALLBACK(row_setup), self);
    g_signal_connect(factory, "bind", G_CALLBACK(row_bind), self);
    gtk_list_view_set_factory(GTK_LIST_VIEW(self->conv_list), factory);
    g_object_unref(factory);
    gtk_list_view_set_model(GTK_LIST_VIEW(self->conv_list), GTK_SELECTION_MODEL(self->selection));
    reload_sidebar(self);

    gint64 last = g_settings_get_int64(self->settings, "last-conversation");
    if (last > 0) {
        g_autoptr(HerdStoreConversation) c = herd_store_get_conversation(self->store, last, NULL);
        if (c)
            herd_window_open_conversation(self, last);
    }
    update_title(self);
    return self;
}

HerdWorker *herd_window_get_worker(HerdWindow *self)
{
    return self->worker;
}

HerdChatView *herd_window_get_chat_view(HerdWindow *self)
{
    return self->chat_view;
}

HerdComposer *herd_window_get_composer(HerdWindow *self)
{
    return self->composer;
}

HerdConversation *herd_window_get_conversation(HerdWindow *self)
{
    return self->conv;
}

GListModel *herd_window_get_sidebar_model(HerdWindow *self)
{
    return self->selection ? G_LIST_MODEL(self->selection) : NULL;
}

gboolean herd_window_get_model_loaded(HerdWindow *self)
{
    return self->model_loaded;
}

gboolean herd_window_get_loading(HerdWindow *self)
{
    return self->loading;
}

void herd_window_set_backend_factory(HerdWindow *self, HerdBackendFactory factory,
                                     gpointer user_data)
{
    self->factory = factory;
    self->factory_data = user_data;
}

static void herd_window_dispose(GObject *object)
{
    HerdWindow *self = HERD_WINDOW(object);
    /* Deletions whose undo toast is still up happen now. */
    if (self->pending_deletes) {
        GList *keys = g_hash_table_get_keys(self->pending_deletes);
        GArray *ids = g_array_new(FALSE, FALSE, sizeof(gint64));
        for (GList *l = keys; l; l = l->next)
            g_array_append_val(ids, *(gint64 *)l->data);
        g_list_free(keys);
        for (guint i = 0; i < ids->len; i++)
            commit_delete(self, g_array_index(ids, gint64, i));
        g_array_free(ids, TRUE);
    }
    drop_worker(self);
    if (self->selection)
        g_signal_handlers_disconnect_by_data(self->selection, self);
    gtk_widget_dispose_template(GTK_WIDGET(self), HERD_TYPE_WINDOW);
    g_clear_object(&self->selection);
    g_clear_object(&self->filtered);
    g_clear_object(&self->filter);
    g_clear_object(&self->conversations);
    g_clear_object(&self->conv);
    g_clear_object(&self->store);
    g_clear_object(&self->settings);
    G_OBJECT_CLASS(herd_window_parent_class)->dispose(object);
}

static void herd_window_finalize(GObject *object)
{
    HerdWindow *self = HERD_WINDOW(object);
    g_clear_pointer(&self->pending_deletes, g_hash_table_unref);
    g_free(self->model_path);
    g_free(self->mmproj_path);
    g_free(self->model_name);
    G_OBJECT_CLASS(herd_window_parent_class)->finalize(object);
}

static void herd_window_class_init(HerdWindowClass *klass)
{
    GObjectClass *object_class = G_OBJECT_CLASS(klass);
    GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);
    GtkWindowClass *window_class = GTK_WINDOW_CLASS(klass);
    object_class->dispose = herd_window_dispose;
    object_class->finalize = herd_window_finalize;
    window_class->close_request = on_close_request;

    g_type_ensure(HERD_TYPE_CHAT_VIEW);
    g_type_ensure(HERD_TYPE_COMPOSER);
    gtk_widget_class_set_template_from_resource(widget_class,
                                                "/io/github/herdapp/Herd/ui/herd-window.ui");
    gtk_widget_class_bind_template_child(widget_class, HerdWindow, toast_overlay);
    gtk_widget_class_bind_template_child(widget_class, HerdWindow, leaflet);
    gtk_widget_class_bind_template_child(widget_class, HerdWindow, sidebar);
    gtk_widget_class_bind_template_child(widget_class, HerdWindow, content);
    gtk_widget_class_bind_template_child(widget_class, HerdWindow, search_entry);
    gtk_widget_class_bind_template_child(widget_class, HerdWindow, sidebar_stack);
    gtk_widget_class_bind_template_child(widget_class, HerdWindow, sidebar_empty);
    gtk_widget_class_bind_template_child(widget_class, HerdWindow, conv_list);
    gtk_widget_class_bind_template_child(widget_class, HerdWindow, chat_title);
    gtk_widget_class_bind_template_child(widget_class, HerdWindow, conv_menu_button);
    gtk_widget_class_bind_template_child(widget_class, HerdWindow, model_button);
    gtk_widget_class_bind_template_child(widget_class, HerdWindow, model_button_content);
    gtk_widget_class_bind_template_child(widget_class, HerdWindow, main_stack);
    gtk_widget_class_bind_template_child(widget_class, HerdWindow, welcome_page);
    gtk_widget_class_bind_template_child(widget_class, HerdWindow, demo_button);
    gtk_widget_class_bind_template_child(widget_class, HerdWindow, loading_page);
    gtk_widget_class_bind_template_child(widget_class, HerdWindow, load_progress);
    gtk_widget_class_bind_template_child(widget_class, HerdWindow, chat_area);
    gtk_widget_class_bind_template_child(widget_class, HerdWindow, chat_view);
    gtk_widget_class_bind_template_child(widget_class, HerdWindow, composer);
    gtk_widget_class_bind_template_callback(widget_class, on_search_changed);
    gtk_widget_class_bind_template_callback(widget_class, on_back_clicked);

    gtk_widget_class_install_action(widget_class, "win.new-conversation", NULL,
                                    action_new_conversation);
    gtk_widget_class_install_action(widget_class, "win.open-model", NULL, action_open_model);
    gtk_widget_class_install_action(widget_class, "win.open-mmproj", NULL, action_open_mmproj);
    gtk_widget_class_install_action(widget_class, "win.use-demo", NULL, action_use_demo);
    gtk_widget_class_install_action(widget_class, "win.cancel-load", NULL, action_cancel_load);
    gtk_widget_class_install_action(widget_class, "win.stop", NULL, action_stop);
    gtk_widget_class_install_action(widget_class, "win.export", NULL, action_export);
    gtk_widget_class_install_action(widget_class, "win.search", NULL, action_search);
    gtk_widget_class_install_action(widget_class, "win.attach", NULL, action_attach);
    gtk_widget_class_install_action(widget_class, "win.toggle-sidebar", NULL,
                                    action_toggle_sidebar);
    gtk_widget_class_install_action(widget_class, "win.preferences", NULL, action_preferences);
    gtk_widget_class_install_action(widget_class, "win.rename-current", NULL,
                                    action_rename_current);
    gtk_widget_class_install_action(widget_class, "win.delete-current", NULL,
                                    action_delete_current);
    gtk_widget_class_install_action(widget_class, "win.rename-conversation", "x",
                                    action_rename_conversation);
    gtk_widget_class_install_action(widget_class, "win.delete-conversation", "x",
                                    action_delete_conversation);
}

static void herd_window_init(HerdWindow *self)
{
    gtk_widget_init_template(GTK_WIDGET(self));
    self->pending_deletes = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
    gtk_widget_action_set_enabled(GTK_WIDGET(self), "win.stop", FALSE);
    g_signal_connect(self->composer, "send", G_CALLBACK(on_composer_send), self);
    g_signal_connect(self->composer, "stop", G_CALLBACK(on_composer_stop), self);
    g_signal_connect(self->chat_view, "regenerate", G_CALLBACK(on_regenerate), self);
    g_signal_connect(self->chat_view, "edit", G_CALLBACK(on_edit), self);
    g_signal_connect(self->chat_view, "copied", G_CALLBACK(on_copied), self);
    g_signal_connect(self->leaflet, "notify::folded", G_CALLBACK(on_folded), self);

    GtkDropTarget *drop = gtk_drop_target_new(G_TYPE_INVALID, GDK_ACTION_COPY);
    GType types[] = { GDK_TYPE_FILE_LIST, GDK_TYPE_TEXTURE };
    gtk_drop_target_set_gtypes(drop, types, G_N_ELEMENTS(types));
    g_signal_connect(drop, "drop", G_CALLBACK(on_drop), self);
    g_signal_connect(drop, "enter", G_CALLBACK(on_drop_enter), self);
    g_signal_connect(drop, "leave", G_CALLBACK(on_drop_leave), self);
    gtk_widget_add_controller(GTK_WIDGET(self), GTK_EVENT_CONTROLLER(drop));
}
