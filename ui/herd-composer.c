/* herd-composer.c: the message entry and its attachments. Every way in (file chooser, drop,
 * paste, command line) ends in herd_composer_add_file or herd_composer_add_texture; files are
 * decoded on a thread with the model's own decoder, so a broken or unsupported file is
 * reported inline before it can reach the model. */
#define G_LOG_DOMAIN "herd-composer"

#include "herd-composer.h"

#include "herd-thumbnail.h"
#include "image.h"

#include <adwaita.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <string.h>

#define THUMB_SIZE 72

typedef struct {
    HerdComposer *composer; /* unowned */
    HerdMessageImage image;
    GtkWidget *widget;
    GtkWidget *picture;
    gboolean pending;
} Attachment;

struct _HerdComposer {
    GtkWidget parent_instance;

    GtkWidget *error_revealer;
    GtkWidget *error_label;
    GtkWidget *strip_revealer;
    GtkWidget *strip;
    GtkWidget *text_view;
    GtkWidget *placeholder;
    GtkWidget *action_stack;
    GtkWidget *send_button;
    GtkWidget *stop_button;
    GtkWidget *attach_button;
    GtkWidget *context_bar;
    GtkWidget *context_label;

    GPtrArray *attachments; /* Attachment* */
    GCancellable *cancellable;
    char *error;
    guint n_pasted;
};

G_DEFINE_FINAL_TYPE(HerdComposer, herd_composer, GTK_TYPE_WIDGET)

enum { SIG_SEND, SIG_STOP, N_SIGNALS };
static guint signals[N_SIGNALS];

static void attachment_free(Attachment *a)
{
    g_free(a->image.path);
    g_free(a->image.name);
    g_free(a->image.mime);
    g_free(a);
}

void herd_composer_show_error(HerdComposer *self, const char *text)
{
    g_free(self->error);
    self->error = g_strdup(text);
    gtk_label_set_text(GTK_LABEL(self->error_label), text ? text : "");
    gtk_revealer_set_reveal_child(GTK_REVEALER(self->error_revealer), text != NULL);
}

const char *herd_composer_get_error(HerdComposer *self)
{
    return self->error;
}

static void on_dismiss_error(HerdComposer *self)
{
    herd_composer_show_error(self, NULL);
}

static void update_strip(HerdComposer *self)
{
    gtk_revealer_set_reveal_child(GTK_REVEALER(self->strip_revealer), self->attachments->len > 0);
}

static void remove_attachment(HerdComposer *self, Attachment *a)
{
    gtk_box_remove(GTK_BOX(self->strip), a->widget);
    g_ptr_array_remove(self->attachments, a); /* frees a */
    update_strip(self);
}

static void on_remove_clicked(GtkButton *button, Attachment *a)
{
    remove_attachment(a->composer, a);
}

static Attachment *new_attachment(HerdComposer *self, const char *path, const char *name)
{
    Attachment *a = g_new0(Attachment, 1);
    a->composer = self;
    a->image.path = g_strdup(path);
    a->image.name = g_strdup(name);
    a->pending = TRUE;

    GtkWidget *overlay = gtk_overlay_new();
    gtk_widget_set_tooltip_text(overlay, name);
    a->picture = gtk_picture_new();
    gtk_widget_set_size_request(a->picture, THUMB_SIZE, THUMB_SIZE);
    gtk_widget_add_css_class(a->picture, "thumb");
    gtk_widget_add_css_class(a->picture, "card");
    gtk_widget_set_overflow(a->picture, GTK_OVERFLOW_HIDDEN);
    g_autofree char *label = g_strdup_printf(_("Image %s"), name);
    gtk_accessible_update_property(GTK_ACCESSIBLE(a->picture), GTK_ACCESSIBLE_PROPERTY_LABEL, label,
                                   -1);
    gtk_overlay_set_child(GTK_OVERLAY(overlay), a->picture);

    GtkWidget *remove = gtk_button_new_from_icon_name("window-close-symbolic");
    gtk_widget_add_css_class(remove, "osd");
    gtk_widget_add_css_class(remove, "circular");
    gtk_widget_set_halign(remove, GTK_ALIGN_END);
    gtk_widget_set_valign(remove, GTK_ALIGN_START);
    gtk_widget_set_margin_top(remove, 2);
    gtk_widget_set_margin_end(remove, 2);
    g_autofree char *rlabel = g_strdup_printf(_("Remove %s"), name);
    gtk_widget_set_tooltip_text(remove, _("Remove"));
    gtk_accessible_update_property(GTK_ACCESSIBLE(remove), GTK_ACCESSIBLE_PROPERTY_LABEL, rlabel,
                                   -1);
    g_signal_connect(remove, "clicked", G_CALLBACK(on_remove_clicked), a);
    gtk_overlay_add_overlay(GTK_OVERLAY(overlay), remove);

    a->widget = overlay;
    gtk_box_append(GTK_BOX(self->strip), overlay);
    g_ptr_array_add(self->attachments, a);
    update_strip(self);
    return a;
}

typedef struct {
    HerdComposer *self; /* ref */
    Attachment *a;      /* valid while in self->attachments */
} CheckJob;

static void check_done(GObject *src, GAsyncResult *res, gpointer data)
{
    CheckJob *job = data;
    HerdComposer *self = job->self;
    g_autoptr(GError) error = NULL;
    HerdThumbnail *t = herd_thumbnail_load_finish(res, &error);
    gboolean alive = g_ptr_array_find(self->attachments, job->a, NULL);
    if (alive) {
        Attachment *a = job->a;
        if (!t) {
            if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
                herd_composer_show_error(self, error->message);
            remove_attachment(self, a);
        } else {
            a->pending = FALSE;
            a->image.width = t->width;
            a->image.height = t->height;
            a->image.mime = g_strdup(t->mime);
            gtk_picture_set_paintable(GTK_PICTURE(a->picture), GDK_PAINTABLE(t->thumbnail));
            g_autofree char *tip =
                g_strdup_printf("%s — %d × %d", a->image.name, t->width, t->height);
            gtk_widget_set_tooltip_text(a->widget, tip);
        }
    }
    herd_thumbnail_free(t);
    g_object_unref(job->self);
    g_free(job);
}

void herd_composer_add_file(HerdComposer *self, GFile *file)
{
    g_return_if_fail(HERD_IS_COMPOSER(self));
    g_autofree char *path = g_file_get_path(file);
    g_autofree char *name = g_file_get_basename(file);
    if (!path) {
        g_autofree char *uri = g_file_get_uri(file);
        g_autofree char *msg = g_strdup_printf(_("“%s” is not a local file."), uri);
        herd_composer_show_error(self, msg);
        return;
    }
    if (!g_file_test(path, G_FILE_TEST_IS_REGULAR)) {
        g_autofree char *msg =
            g_strdup_printf(_("“%s” cannot be attached: it is not a file."), name);
        herd_composer_show_error(self, msg);
        return;
    }
    Attachment *a = new_attachment(self, path, name);
    CheckJob *job = g_new0(CheckJob, 1);
    job->self = g_object_ref(self);
    job->a = a;
    herd_thumbnail_load_async(path, THUMB_SIZE * 2, self->cancellable, check_done, job);
}

/* GdkTexture → straight RGBA8 (gdk_texture_download gives premultiplied B8G8R8A8 or A8R8G8B8
 * in memory order, i.e. cairo's native ARGB32). */
static guint8 *texture_to_rgba(GdkTexture *texture, int *w, int *h)
{
    *w = gdk_texture_get_width(texture);
    *h = gdk_texture_get_height(texture);
    gsize stride = (gsize)*w * 4;
    guint8 *buf = g_malloc(stride * *h);
    gdk_texture_download(texture, buf, stride);
    for (gsize i = 0; i < stride * *h; i += 4) {
        guint32 px;
        memcpy(&px, buf + i, 4);
        guint a = px >> 24, r = (px >> 16) & 0xff, g = (px >> 8) & 0xff, b = px & 0xff;
        if (a && a < 255) {
            r = MIN(255u, (r * 255 + a / 2) / a);
            g = MIN(255u, (g * 255 + a / 2) / a);
            b = MIN(255u, (b * 255 + a / 2) / a);
        }
        buf[i] = (guint8)r;
        buf[i + 1] = (guint8)g;
        buf[i + 2] = (guint8)b;
        buf[i + 3] = (guint8)a;
    }
    return buf;
}

void herd_composer_add_texture(HerdComposer *self, GdkTexture *texture)
{
    g_return_if_fail(HERD_IS_COMPOSER(self));
    g_return_if_fail(GDK_IS_TEXTURE(texture));
    int w, h;
    g_autofree guint8 *rgba = texture_to_rgba(texture, &w, &h);
    /* The same check the model's input goes through (composited over white like a file). */
    herd_image img = { 0 };
    herd_error err = { 0 };
    if (herd_image_from_rgba((uint32_t)w, (uint32_t)h, (size_t)w * 4, rgba, &img, &err) !=
        HERD_OK) {
        g_autofree char *msg = g_strdup_printf(_("The pasted image cannot be used: %s"), err.msg);
        herd_composer_show_error(self, msg);
        return;
    }
    herd_image_free(&img);

    g_autofree char *dir = g_build_filename(g_get_user_cache_dir(), "herd", "pasted", NULL);
    g_mkdir_with_parents(dir, 0700);
    g_autofree char *file =
        g_strdup_printf("pasted-%" G_GINT64_FORMAT "-%u.png", g_get_real_time(), ++self->n_pasted);
    g_autofree char *path = g_build_filename(dir, file, NULL);
    if (!gdk_texture_save_to_png(texture, path)) {
        herd_composer_show_error(self, _("The pasted image could not be saved for sending."));
        return;
    }
    g_autofree char *name = g_strdup_printf(_("Pasted image %u.png"), self->n_pasted);
    Attachment *a = new_attachment(self, path, name);
    a->pending = FALSE;
    a->image.width = w;
    a->image.height = h;
    a->image.mime = g_strdup("image/png");
    gtk_picture_set_paintable(GTK_PICTURE(a->picture), GDK_PAINTABLE(texture));
}

gboolean herd_composer_handle_drop(HerdComposer *self, const GValue *value)
{
    g_return_val_if_fail(HERD_IS_COMPOSER(self), FALSE);
    if (G_VALUE_HOLDS(value, GDK_TYPE_FILE_LIST)) {
        GdkFileList *list = g_value_get_boxed(value);
        GSList *files = list ? gdk_file_list_get_files(list) : NULL;
        for (GSList *l = files; l; l = l->next)
            herd_composer_add_file(self, l->data);
        gboolean any = files != NULL;
        g_slist_free(files);
        return any;
    }
    if (G_VALUE_HOLDS(value, GDK_TYPE_TEXTURE)) {
        GdkTexture *t = g_value_get_object(value);
        if (!t)
            return FALSE;
        herd_composer_add_texture(self, t);
        return TRUE;
    }
    return FALSE;
}

guint herd_composer_get_n_pending(HerdComposer *self)
{
    guint n = 0;
    for (guint i = 0; i < self->attachments->len; i++)
        n += ((Attachment *)self->attachments->pdata[i])->pending;
    return n;
}

GPtrArray *herd_composer_get_images(HerdComposer *self)
{
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)herd_message_image_free);
    for (guint i = 0; i < self->attachments->len; i++) {
        Attachment *a = self->attachments->pdata[i];
        if (!a->pending)
            g_ptr_array_add(out, herd_message_image_copy(&a->image));
    }
    return out;
}

char *herd_composer_get_text(HerdComposer *self)
{
    GtkTextBuffer *buf = gtk_text_view_get_buffer(GTK_TEXT_VIEW(self->text_view));
    GtkTextIter a, b;
    gtk_text_buffer_get_bounds(buf, &a, &b);
    return gtk_text_buffer_get_text(buf, &a, &b, FALSE);
}

void herd_composer_set_text(HerdComposer *self, const char *text)
{
    gtk_text_buffer_set_text(gtk_text_view_get_buffer(GTK_TEXT_VIEW(self->text_view)),
                             text ? text : "", -1);
}

void herd_composer_clear(HerdComposer *self)
{
    herd_composer_set_text(self, "");
    GtkWidget *child;
    while ((child = gtk_widget_get_first_child(self->strip)))
        gtk_box_remove(GTK_BOX(self->strip), child);
    g_ptr_array_set_size(self->attachments, 0);
    update_strip(self);
    herd_composer_show_error(self, NULL);
}

void herd_composer_set_generating(HerdComposer *self, gboolean generating)
{
    gtk_stack_set_visible_child_name(GTK_STACK(self->action_stack), generating ? "stop" : "send");
}

void herd_composer_set_context(HerdComposer *self, int used, int total)
{
    gboolean show = used > 0;
    gtk_widget_set_visible(self->context_bar, show && total > 0);
    gtk_widget_set_visible(self->context_label, show);
    if (!show)
        return;
    if (total <= 0) { /* the model's own context size, which the app is not told */
        g_autofree char *text = g_strdup_printf(_("%d tokens in context"), used);
        gtk_label_set_text(GTK_LABEL(self->context_label), text);
        return;
    }
    gtk_level_bar_set_value(GTK_LEVEL_BAR(self->context_bar), MIN(1.0, (double)used / total));
    /* TRANSLATORS: context fill: tokens used of the context size */
    g_autofree char *text = g_strdup_printf(_("%d / %d tokens"), used, total);
    gtk_label_set_text(GTK_LABEL(self->context_label), text);
    g_autofree char *tip = g_strdup_printf(_("The conversation uses %d%% of the model’s context"),
                                           (int)(100.0 * used / total + 0.5));
    gtk_widget_set_tooltip_text(self->context_label, tip);
    gtk_widget_set_tooltip_text(self->context_bar, tip);
}

static void chooser_response(GtkNativeDialog *dialog, int response, gpointer data)
{
    HerdComposer *self = data;
    if (response == GTK_RESPONSE_ACCEPT) {
        g_autoptr(GListModel) files = gtk_file_chooser_get_files(GTK_FILE_CHOOSER(dialog));
        for (guint i = 0; i < g_list_model_get_n_items(files); i++) {
            g_autoptr(GFile) f = g_list_model_get_item(files, i);
            herd_composer_add_file(self, f);
        }
    }
    g_object_unref(dialog);
    g_object_unref(self);
}

void herd_composer_open_file_chooser(HerdComposer *self)
{
    GtkWindow *parent = GTK_WINDOW(gtk_widget_get_root(GTK_WIDGET(self)));
    GtkFileChooserNative *dialog = gtk_file_chooser_native_new(
        _("Attach Images"), parent, GTK_FILE_CHOOSER_ACTION_OPEN, _("_Attach"), _("_Cancel"));
    gtk_file_chooser_set_select_multiple(GTK_FILE_CHOOSER(dialog), TRUE);
    GtkFileFilter *filter = gtk_file_filter_new();
    gtk_file_filter_set_name(filter, _("Images (PNG, JPEG)"));
    gtk_file_filter_add_mime_type(filter, "image/png");
    gtk_file_filter_add_mime_type(filter, "image/jpeg");
    gtk_file_chooser_add_filter(GTK_FILE_CHOOSER(dialog), filter);
    g_object_unref(filter);
    gtk_native_dialog_set_modal(GTK_NATIVE_DIALOG(dialog), TRUE);
    g_signal_connect(dialog, "response", G_CALLBACK(chooser_response), g_object_ref(self));
    gtk_native_dialog_show(GTK_NATIVE_DIALOG(dialog));
}

void herd_composer_grab_focus(HerdComposer *self)
{
    gtk_widget_grab_focus(self->text_view);
}

static void on_send_clicked(HerdComposer *self)
{
    g_signal_emit(self, signals[SIG_SEND], 0);
}

static void on_stop_clicked(HerdComposer *self)
{
    g_signal_emit(self, signals[SIG_STOP], 0);
}

static gboolean on_key(GtkEventControllerKey *key, guint keyval, guint keycode,
                       GdkModifierType state, HerdComposer *self)
{
    if ((keyval == GDK_KEY_Return || keyval == GDK_KEY_KP_Enter || keyval == GDK_KEY_ISO_Enter) &&
        !(state & (GDK_SHIFT_MASK | GDK_CONTROL_MASK | GDK_ALT_MASK))) {
        g_signal_emit(self, signals[SIG_SEND], 0);
        return TRUE;
    }
    return FALSE;
}

static void texture_read(GObject *src, GAsyncResult *res, gpointer data)
{
    g_autoptr(HerdComposer) self = data;
    g_autoptr(GError) error = NULL;
    g_autoptr(GdkTexture) texture =
        gdk_clipboard_read_texture_finish(GDK_CLIPBOARD(src), res, &error);
    if (!texture) {
        g_autofree char *msg =
            g_strdup_printf(_("The clipboard image cannot be read: %s"), error->message);
        herd_composer_show_error(self, msg);
        return;
    }
    herd_composer_add_texture(self, texture);
}

static void files_read(GObject *src, GAsyncResult *res, gpointer data)
{
    g_autoptr(HerdComposer) self = data;
    g_autoptr(GError) error = NULL;
    const GValue *value = gdk_clipboard_read_value_finish(GDK_CLIPBOARD(src), res, &error);
    if (value)
        herd_composer_handle_drop(self, value);
}

/* Ctrl+V: an image (or copied image files) becomes an attachment; text pastes as usual. */
static void on_paste(GtkTextView *view, HerdComposer *self)
{
    GdkClipboard *clip = gtk_widget_get_clipboard(GTK_WIDGET(view));
    GdkContentFormats *formats = gdk_clipboard_get_formats(clip);
    if (gdk_content_formats_contain_gtype(formats, GDK_TYPE_TEXTURE)) {
        g_signal_stop_emission_by_name(view, "paste-clipboard");
        gdk_clipboard_read_texture_async(clip, self->cancellable, texture_read, g_object_ref(self));
    } else if (gdk_content_formats_contain_gtype(formats, GDK_TYPE_FILE_LIST)) {
        g_signal_stop_emission_by_name(view, "paste-clipboard");
        gdk_clipboard_read_value_async(clip, GDK_TYPE_FILE_LIST, G_PRIORITY_DEFAULT,
                                       self->cancellable, files_read, g_object_ref(self));
    }
}

void herd_composer_paste(HerdComposer *self)
{
    g_return_if_fail(HERD_IS_COMPOSER(self));
    g_signal_emit_by_name(self->text_view, "paste-clipboard");
}

static void on_buffer_changed(GtkTextBuffer *buf, HerdComposer *self)
{
    gtk_widget_set_visible(self->placeholder, gtk_text_buffer_get_char_count(buf) == 0);
}

static void herd_composer_dispose(GObject *object)
{
    HerdComposer *self = HERD_COMPOSER(object);
    g_cancellable_cancel(self->cancellable);
    gtk_widget_dispose_template(GTK_WIDGET(self), HERD_TYPE_COMPOSER);
    G_OBJECT_CLASS(herd_composer_parent_class)->dispose(object);
}

static void herd_composer_finalize(GObject *object)
{
    HerdComposer *self = HERD_COMPOSER(object);
    g_ptr_array_unref(self->attachments);
    g_clear_object(&self->cancellable);
    g_free(self->error);
    G_OBJECT_CLASS(herd_composer_parent_class)->finalize(object);
}

static void herd_composer_class_init(HerdComposerClass *klass)
{
    GObjectClass *object_class = G_OBJECT_CLASS(klass);
    GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);
    object_class->dispose = herd_composer_dispose;
    object_class->finalize = herd_composer_finalize;

    signals[SIG_SEND] = g_signal_new("send", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
                                     NULL, NULL, G_TYPE_NONE, 0);
    signals[SIG_STOP] = g_signal_new("stop", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
                                     NULL, NULL, G_TYPE_NONE, 0);

    gtk_widget_class_set_template_from_resource(widget_class,
                                                "/io/github/herdapp/Herd/ui/herd-composer.ui");
    gtk_widget_class_bind_template_child(widget_class, HerdComposer, error_revealer);
    gtk_widget_class_bind_template_child(widget_class, HerdComposer, error_label);
    gtk_widget_class_bind_template_child(widget_class, HerdComposer, strip_revealer);
    gtk_widget_class_bind_template_child(widget_class, HerdComposer, strip);
    gtk_widget_class_bind_template_child(widget_class, HerdComposer, text_view);
    gtk_widget_class_bind_template_child(widget_class, HerdComposer, placeholder);
    gtk_widget_class_bind_template_child(widget_class, HerdComposer, action_stack);
    gtk_widget_class_bind_template_child(widget_class, HerdComposer, send_button);
    gtk_widget_class_bind_template_child(widget_class, HerdComposer, stop_button);
    gtk_widget_class_bind_template_child(widget_class, HerdComposer, attach_button);
    gtk_widget_class_bind_template_child(widget_class, HerdComposer, context_bar);
    gtk_widget_class_bind_template_child(widget_class, HerdComposer, context_label);
    gtk_widget_class_bind_template_callback(widget_class, on_dismiss_error);
    gtk_widget_class_bind_template_callback(widget_class, on_send_clicked);
    gtk_widget_class_bind_template_callback(widget_class, on_stop_clicked);
    gtk_widget_class_bind_template_callback(widget_class, herd_composer_open_file_chooser);
    gtk_widget_class_set_layout_manager_type(widget_class, GTK_TYPE_BIN_LAYOUT);
}

static void herd_composer_init(HerdComposer *self)
{
    g_type_ensure(ADW_TYPE_CLAMP);
    gtk_widget_init_template(GTK_WIDGET(self));
    self->attachments = g_ptr_array_new_with_free_func((GDestroyNotify)attachment_free);
    self->cancellable = g_cancellable_new();

    GtkEventController *key = gtk_event_controller_key_new();
    gtk_event_controller_set_propagation_phase(key, GTK_PHASE_CAPTURE);
    g_signal_connect(key, "key-pressed", G_CALLBACK(on_key), self);
    gtk_widget_add_controller(self->text_view, key);
    g_signal_connect(self->text_view, "paste-clipboard", G_CALLBACK(on_paste), self);
    g_signal_connect(gtk_text_view_get_buffer(GTK_TEXT_VIEW(self->text_view)), "changed",
                     G_CALLBACK(on_buffer_changed), self);
}
