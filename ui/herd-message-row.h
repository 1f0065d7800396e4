/* herd-message-row.h: one message: author, image thumbnails, Markdown body, stop/error note,
 * answer statistics, and copy / regenerate / edit buttons. While the message streams only
 * this row re-renders, at most once per frame, and only its unfinished last block. */
#pragma once

#include <gtk/gtk.h>

#include "herd-message.h"

G_BEGIN_DECLS

#define HERD_TYPE_MESSAGE_ROW (herd_message_row_get_type())
G_DECLARE_FINAL_TYPE(HerdMessageRow, herd_message_row, HERD, MESSAGE_ROW, GtkWidget)

/* Signals: "regenerate", "edit", "copied". */
GtkWidget *herd_message_row_new(HerdMessage *message);
HerdMessage *herd_message_row_get_message(HerdMessageRow *self);
/* The Markdown source the row shows (the message text as last rendered). */
const char *herd_message_row_get_source_text(HerdMessageRow *self);
/* The visible text of the rendered body (all labels, in order). */
char *herd_message_row_get_rendered_text(HerdMessageRow *self);
/* Renders now what is pending (tests; normally done on the next frame). */
void herd_message_row_flush(HerdMessageRow *self);
guint herd_message_row_get_n_renders(HerdMessageRow *self);
/* While streaming: tokens so far and the speed since the first one. */
void herd_message_row_set_live_stats(HerdMessageRow *self, guint n_tokens, double tokens_per_s);

G_END_DECLS
