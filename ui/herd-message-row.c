/* herd-message-row.c: one message. The body is Markdown: while the answer streams, the
 * finished blocks (text up to the last blank line outside a code fence) are rendered once into
 * `body` and only the open tail is rebuilt in `tail`, at most once per frame; when the answer
 * ends the whole text is rendered once more so lists and the like join up. */
#define G_LOG_DOMAIN "herd-message-row"

#include "herd-message-row.h"

#include "herd-markdown.h"
#include "herd-thumbnail.h"

#include <glib/gi18n.h>
#include <string.h>

struct _HerdMessageRow {
    GtkWidget parent_instance;

    GtkWidget *outer;
    GtkWidget *avatar;
    GtkWidget *author;
    GtkWidget *spinner;
    GtkWidget *state_note;
    GtkWidget *thumbs;
    GtkWidget *body;
    GtkWidget *tail;
    GtkWidget *error_label;
    GtkWidget *stats;
    GtkWidget *copy_button;
    GtkWidget *edit_button;
    GtkWidget *regenerate_button;

    HerdMessage *message;
    GString *rendered; /* source text as rendered */
    gsize stable_len;  /* bytes of `rendered` that are in `body` */
    gboolean final;    /* rendered whole after the stream ended */
    guint tick_id;
    guint idle_id;
    guint n_renders;
    GCancellable *cancellable;
};

G_DEFINE_FINAL_TYPE(HerdMessageRow, herd_message_row, GTK_TYPE_WIDGET)

enum { SIG_REGENERATE, SIG_EDIT, SIG_COPIED, N_SIGNALS };
static guint signals[N_SIGNALS];

static void clear_box(GtkWidget *box)
{
    GtkWidget *child;
    while ((child = gtk_widget_get_first_child(box)))
        gtk_box_remove(GTK_BOX(box), child);
}

static void render(HerdMessageRow *self)
{
    const char *text = herd_message_get_text(self->message);
    gsize len = strlen(text);
    gboolean streaming = herd_message_get_state(self->message) == HERD_MESSAGE_STATE_STREAMING;

    if (len == self->rendered->len && memcmp(text, self->rendered->str, len) == 0 &&
        (streaming || self->final))
        return;
    self->n_renders++;
    /* Not a pure append (an edit, a reload): start over. */
    if (len < self->rendered->len || memcmp(text, self->rendered->str, self->rendered->len) != 0 ||
        (!streaming && !self->final)) {
        clear_box(self->body);
        clear_box(self->tail);
        self->stable_len = 0;
        g_string_truncate(self->rendered, 0);
    }
    if (!streaming) {
        clear_box(self->body);
        clear_box(self->tail);
        herd_markdown_render(text, len, GTK_BOX(self->body));
        self->stable_len = len;
        self->final = TRUE;
    } else {
        self->final = FALSE;
        gsize stable = herd_markdown_stable_prefix(text, len, self->stable_len);
        if (stable > self->stable_len) {
            herd_markdown_render(text + self->stable_len, stable - self->stable_len,
                                 GTK_BOX(self->body));
            self->stable_len = stable;
        }
        clear_box(self->tail);
        if (len > self->stable_len)
            herd_markdown_render(text + self->stable_len, len - self->stable_len,
                                 GTK_BOX(self->tail));
    }
    g_string_assign(self->rendered, text);
}

static gboolean render_tick(GtkWidget *widget, GdkFrameClock *clock, gpointer data)
{
    HerdMessageRow *self = HERD_MESSAGE_ROW(widget);
    self->tick_id = 0;
    render(self);
    return G_SOURCE_REMOVE;
}

static gboolean render_idle(gpointer data)
{
    HerdMessageRow *self = data;
    self->idle_id = 0;
    render(self);
    return G_SOURCE_REMOVE;
}

static void schedule_render(HerdMessageRow *self)
{
    if (self->tick_id || self->idle_id)
        return;
    if (gtk_widget_get_mapped(GTK_WIDGET(self)))
        self->tick_id = gtk_widget_add_tick_callback(GTK_WIDGET(self), render_tick, NULL, NULL);
    else
        self->idle_id = g_idle_add_full(G_PRIORITY_DEFAULT_IDLE, render_idle, self, NULL);
}

void herd_message_row_flush(HerdMessageRow *self)
{
    g_return_if_fail(HERD_IS_MESSAGE_ROW(self));
    if (self->tick_id) {
        gtk_widget_remove_tick_callback(GTK_WIDGET(self), self->tick_id);
        self->tick_id = 0;
    }
    g_clear_handle_id(&self->idle_id, g_source_remove);
    render(self);
}

static void update_state(HerdMessageRow *self)
{
    HerdMessage *m = self->message;
    HerdMessageRole role = herd_message_get_role(m);
    HerdMessageState state = herd_message_get_state(m);
    gboolean assistant = role == HERD_MESSAGE_ROLE_ASSISTANT;
    gboolean streaming = state == HERD_MESSAGE_STATE_STREAMING;

    gtk_widget_set_visible(self->spinner, streaming);
    gtk_spinner_set_spinning(GTK_SPINNER(self->spinner), streaming);
    gtk_widget_set_visible(self->regenerate_button, assistant && !streaming);
    gtk_widget_set_visible(self->edit_button, role == HERD_MESSAGE_ROLE_USER);
    gtk_widget_set_visible(self->copy_button, !streaming);

    const char *note = NULL;
    if (state == HERD_MESSAGE_STATE_INTERRUPTED)
        note = _("Stopped");
    else if (state == HERD_MESSAGE_STATE_ERROR)
        note = _("Failed");
    gtk_label_set_text(GTK_LABEL(self->state_note), note ? note : "");
    gtk_widget_set_visible(self->state_note, note != NULL);
    if (state == HERD_MESSAGE_STATE_ERROR)
        gtk_widget_add_css_class(GTK_WIDGET(self), "error");
    else
        gtk_widget_remove_css_class(GTK_WIDGET(self), "error");

    const char *error = herd_message_get_error_text(m);
    gboolean show_error = state == HERD_MESSAGE_STATE_ERROR && error && *error;
    gtk_label_set_text(GTK_LABEL(self->error_label), show_error ? error : "");
    gtk_widget_set_visible(self->error_label, show_error);

    const HerdMessageStats *st = herd_message_get_stats(m);
    g_autofree char *stats = NULL;
    if (assistant && streaming) {
        stats = g_strdup(herd_message_get_text(m)[0] ? _("Writing…") : _("Reading…"));
    } else if (assistant && st && st->n_gen_tokens > 0) {
        /* TRANSLATORS: answer statistics: speed · time to first token · token count */
        stats = g_strdup_printf(_("%.1f tokens/s · %.2f s to first token · %d tokens"),
                                st->tokens_per_s, st->ttft_ms / 1000.0, st->n_gen_tokens);
    }
    gtk_label_set_text(GTK_LABEL(self->stats), stats ? stats : "");

    const char *text = herd_message_get_text(m);
    g_autofree char *desc = g_utf8_substring(text, 0, MIN(g_utf8_strlen(text, -1), 400));
    gtk_accessible_update_property(GTK_ACCESSIBLE(self), GTK_ACCESSIBLE_PROPERTY_DESCRIPTION, desc,
                                   -1);
    if (!streaming)
        schedule_render(self);
}

static void on_text(HerdMessage *m, GParamSpec *pspec, HerdMessageRow *self)
{
    schedule_render(self);
    /* "Reading…" becomes "Writing…" with the first piece. */
    if (herd_message_get_role(m) == HERD_MESSAGE_ROLE_ASSISTANT &&
        herd_message_get_state(m) == HERD_MESSAGE_STATE_STREAMING &&
        g_str_has_prefix(gtk_label_get_text(GTK_LABEL(self->stats)), _("Reading…")))
        gtk_label_set_text(GTK_LABEL(self->stats), _("Writing…"));
}

static void on_state(HerdMessage *m, GParamSpec *pspec, HerdMessageRow *self)
{
    update_state(self);
}

static void on_copy(HerdMessageRow *self)
{
    gdk_clipboard_set_text(gtk_widget_get_clipboard(GTK_WIDGET(self)),
                           herd_message_get_text(self->message));
    g_signal_emit(self, signals[SIG_COPIED], 0);
}

static void on_edit(HerdMessageRow *self)
{
    g_signal_emit(self, signals[SIG_EDIT], 0);
}

static void on_regenerate(HerdMessageRow *self)
{
    g_signal_emit(self, signals[SIG_REGENERATE], 0);
}

static void thumb_loaded(GObject *src, GAsyncResult *res, gpointer data)
{
    g_autoptr(GtkWidget) picture = data; /* holds a ref while loading */
    g_autoptr(GError) error = NULL;
    HerdThumbnail *t = herd_thumbnail_load_finish(res, &error);
    if (!t) {
        if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
            gtk_widget_set_tooltip_text(picture, error->message);
        return;
    }
    gtk_picture_set_paintable(GTK_PICTURE(picture), GDK_PAINTABLE(t->thumbnail));
    herd_thumbnail_free(t);
}

static void thumb_clicked(GtkGestureClick *gesture, int n, double x, double y, gpointer data)
{
    GtkWidget *w = gtk_event_controller_get_widget(GTK_EVENT_CONTROLLER(gesture));
    const char *path = g_object_get_data(G_OBJECT(w), "path");
    g_autofree char *uri = g_filename_to_uri(path, NULL, NULL);
    if (uri)
        gtk_show_uri(GTK_WINDOW(gtk_widget_get_root(w)), uri, GDK_CURRENT_TIME);
}

static void add_thumbnails(HerdMessageRow *self)
{
    guint n = herd_message_get_n_images(self->message);
    gtk_widget_set_visible(self->thumbs, n > 0);
    for (guint i = 0; i < n; i++) {
        const HerdMessageImage *img = herd_message_get_image(self->message, i);
        GtkWidget *picture = gtk_picture_new();
        gtk_widget_set_size_request(picture, 120, 120);
        gtk_picture_set_can_shrink(GTK_PICTURE(picture), TRUE);
        gtk_widget_add_css_class(picture, "thumb");
        gtk_widget_set_overflow(picture, GTK_OVERFLOW_HIDDEN);
        const char *name = img->name ? img->name : img->path;
        g_autofree char *label = g_strdup_printf(_("Attached image %s"), name);
        gtk_accessible_update_property(GTK_ACCESSIBLE(picture), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                       label, -1);
        gtk_widget_set_tooltip_text(picture, name);
        g_object_set_data_full(G_OBJECT(picture), "path", g_strdup(img->path), g_free);
        GtkGesture *click = gtk_gesture_click_new();
        g_signal_connect(click, "released", G_CALLBACK(thumb_clicked), NULL);
        gtk_widget_add_controller(picture, GTK_EVENT_CONTROLLER(click));
        gtk_box_append(GTK_BOX(self->thumbs), picture);
        herd_thumbnail_load_async(img->path, 240, self->cancellable, thumb_loaded,
                                  g_object_ref(picture));
    }
}

GtkWidget *herd_message_row_new(HerdMessage *message)
{
    g_return_val_if_fail(HERD_IS_MESSAGE(message), NULL);
    HerdMessageRow *self = g_object_new(HERD_TYPE_MESSAGE_ROW, NULL);
    self->message = g_object_ref(message);
    HerdMessageRole role = herd_message_get_role(message);
    gboolean user = role == HERD_MESSAGE_ROLE_USER;
    gtk_widget_add_css_class(GTK_WIDGET(self), user ? "user" : "assistant");
    if (user) {
        gtk_label_set_text(GTK_LABEL(self->author), _("You"));
        gtk_image_set_from_icon_name(GTK_IMAGE(self->avatar), "avatar-default-symbolic");
        gtk_widget_set_halign(self->outer, GTK_ALIGN_END);
        gtk_widget_set_margin_start(self->outer, 48);
        gtk_widget_set_halign(self->author, GTK_ALIGN_END);
    } else {
        const char *model = herd_message_get_model(message);
        g_autofree char *shown = model && *model ? g_strdup(model) : g_strdup(_("Assistant"));
        if (g_str_has_suffix(shown, ".gguf"))
            shown[strlen(shown) - 5] = '\0';
        gtk_label_set_text(GTK_LABEL(self->author), shown);
        gtk_image_set_from_icon_name(GTK_IMAGE(self->avatar), "io.github.herdapp.Herd-symbolic");
    }
    g_autofree char *label = g_strdup(user ? _("Your message") : _("Answer"));
    gtk_accessible_update_property(GTK_ACCESSIBLE(self), GTK_ACCESSIBLE_PROPERTY_LABEL, label, -1);
    add_thumbnails(self);
    g_signal_connect_object(message, "notify::text", G_CALLBACK(on_text), self, 0);
    g_signal_connect_object(message, "notify::state", G_CALLBACK(on_state), self, 0);
    g_signal_connect_object(message, "notify::tokens-per-s", G_CALLBACK(on_state), self, 0);
    g_signal_connect_object(message, "notify::error-text", G_CALLBACK(on_state), self, 0);
    update_state(self);
    render(self);
    return GTK_WIDGET(self);
}

HerdMessage *herd_message_row_get_message(HerdMessageRow *self)
{
    g_return_val_if_fail(HERD_IS_MESSAGE_ROW(self), NULL);
    return self->message;
}

const char *herd_message_row_get_source_text(HerdMessageRow *self)
{
    g_return_val_if_fail(HERD_IS_MESSAGE_ROW(self), NULL);
    return self->rendered->str;
}

static void collect_text(GtkWidget *w, GString *out)
{
    if (GTK_IS_LABEL(w) && gtk_widget_get_visible(w)) {
        const char *t = gtk_label_get_text(GTK_LABEL(w));
        if (t && *t) {
            if (out->len)
                g_string_append_c(out, '\n');
            g_string_append(out, t);
        }
    }
    for (GtkWidget *c = gtk_widget_get_first_child(w); c; c = gtk_widget_get_next_sibling(c))
        collect_text(c, out);
}

char *herd_message_row_get_rendered_text(HerdMessageRow *self)
{
    g_return_val_if_fail(HERD_IS_MESSAGE_ROW(self), NULL);
    GString *out = g_string_new(NULL);
    collect_text(self->body, out);
    collect_text(self->tail, out);
    return g_string_free(out, FALSE);
}

void herd_message_row_set_live_stats(HerdMessageRow *self, guint n_tokens, double tokens_per_s)
{
    g_return_if_fail(HERD_IS_MESSAGE_ROW(self));
    if (herd_message_get_state(self->message) != HERD_MESSAGE_STATE_STREAMING)
        return;
    g_autofree char *text =
        tokens_per_s > 0
            ? g_strdup_printf(_("Writing… %u tokens · %.1f tokens/s"), n_tokens, tokens_per_s)
            : g_strdup_printf(_("Writing… %u tokens"), n_tokens);
    gtk_label_set_text(GTK_LABEL(self->stats), text);
}

guint herd_message_row_get_n_renders(HerdMessageRow *self)
{
    return self->n_renders;
}

static void herd_message_row_dispose(GObject *object)
{
    HerdMessageRow *self = HERD_MESSAGE_ROW(object);
    g_cancellable_cancel(self->cancellable);
    if (self->tick_id) {
        gtk_widget_remove_tick_callback(GTK_WIDGET(self), self->tick_id);
        self->tick_id = 0;
    }
    g_clear_handle_id(&self->idle_id, g_source_remove);
    gtk_widget_dispose_template(GTK_WIDGET(self), HERD_TYPE_MESSAGE_ROW);
    g_clear_object(&self->message);
    G_OBJECT_CLASS(herd_message_row_parent_class)->dispose(object);
}

static void herd_message_row_finalize(GObject *object)
{
    HerdMessageRow *self = HERD_MESSAGE_ROW(object);
    g_string_free(self->rendered, TRUE);
    g_clear_object(&self->cancellable);
    G_OBJECT_CLASS(herd_message_row_parent_class)->finalize(object);
}

static void herd_message_row_class_init(HerdMessageRowClass *klass)
{
    GObjectClass *object_class = G_OBJECT_CLASS(klass);
    GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);
    object_class->dispose = herd_message_row_dispose;
    object_class->finalize = herd_message_row_finalize;

    signals[SIG_REGENERATE] = g_signal_new("regenerate", G_TYPE_FROM_CLASS(klass),
                                           G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 0);
    signals[SIG_EDIT] = g_signal_new("edit", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
                                     NULL, NULL, G_TYPE_NONE, 0);
    signals[SIG_COPIED] = g_signal_new("copied", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
                                       NULL, NULL, NULL, G_TYPE_NONE, 0);

    gtk_widget_class_set_template_from_resource(widget_class,
                                                "/io/github/herdapp/Herd/ui/herd-message-row.ui");
    gtk_widget_class_bind_template_child(widget_class, HerdMessageRow, outer);
    gtk_widget_class_bind_template_child(widget_class, HerdMessageRow, avatar);
    gtk_widget_class_bind_template_child(widget_class, HerdMessageRow, author);
    gtk_widget_class_bind_template_child(widget_class, HerdMessageRow, spinner);
    gtk_widget_class_bind_template_child(widget_class, HerdMessageRow, state_note);
    gtk_widget_class_bind_template_child(widget_class, HerdMessageRow, thumbs);
    gtk_widget_class_bind_template_child(widget_class, HerdMessageRow, body);
    gtk_widget_class_bind_template_child(widget_class, HerdMessageRow, tail);
    gtk_widget_class_bind_template_child(widget_class, HerdMessageRow, error_label);
    gtk_widget_class_bind_template_child(widget_class, HerdMessageRow, stats);
    gtk_widget_class_bind_template_child(widget_class, HerdMessageRow, copy_button);
    gtk_widget_class_bind_template_child(widget_class, HerdMessageRow, edit_button);
    gtk_widget_class_bind_template_child(widget_class, HerdMessageRow, regenerate_button);
    gtk_widget_class_bind_template_callback(widget_class, on_copy);
    gtk_widget_class_bind_template_callback(widget_class, on_edit);
    gtk_widget_class_bind_template_callback(widget_class, on_regenerate);
    gtk_widget_class_set_layout_manager_type(widget_class, GTK_TYPE_BIN_LAYOUT);
}

static void herd_message_row_init(HerdMessageRow *self)
{
    gtk_widget_init_template(GTK_WIDGET(self));
    self->rendered = g_string_new(NULL);
    self->cancellable = g_cancellable_new();
}
