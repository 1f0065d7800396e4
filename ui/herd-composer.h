/* herd-composer.h: the message entry: multi-line text (Enter sends, Shift+Enter adds a line),
 * image attachments from a file chooser, drops and pasted textures, with thumbnails and
 * remove buttons; broken files are reported inline. Send/Stop button. */
#pragma once

#include <gtk/gtk.h>

#include "herd-message.h"

G_BEGIN_DECLS

#define HERD_TYPE_COMPOSER (herd_composer_get_type())
G_DECLARE_FINAL_TYPE(HerdComposer, herd_composer, HERD, COMPOSER, GtkWidget)

/* Signals: "send" (), "stop" (). */
char *herd_composer_get_text(HerdComposer *self);
void herd_composer_set_text(HerdComposer *self, const char *text);
/* Copies of the checked attachments (HerdMessageImage*), in order; free with g_ptr_array_unref. */
GPtrArray *herd_composer_get_images(HerdComposer *self);
void herd_composer_clear(HerdComposer *self);
/* Validates and attaches (decoding runs on a thread; errors show inline). */
void herd_composer_add_file(HerdComposer *self, GFile *file);
void herd_composer_add_texture(HerdComposer *self, GdkTexture *texture);
/* GdkFileList or GdkTexture; TRUE if the value held something to attach. */
gboolean herd_composer_handle_drop(HerdComposer *self, const GValue *value);
/* What Ctrl+V in the text does: an image (or copied image files) on the clipboard is
 * attached, text is pasted. */
void herd_composer_paste(HerdComposer *self);
/* Attachments still being checked. */
guint herd_composer_get_n_pending(HerdComposer *self);
const char *herd_composer_get_error(HerdComposer *self);
void herd_composer_show_error(HerdComposer *self, const char *text);
void herd_composer_set_generating(HerdComposer *self, gboolean generating);
void herd_composer_set_context(HerdComposer *self, int used, int total);
void herd_composer_open_file_chooser(HerdComposer *self);
void herd_composer_grab_focus(HerdComposer *self);

G_END_DECLS
