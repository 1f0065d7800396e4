/* herd-chat-view.h: the messages of one conversation, newest at the bottom, with autoscroll
 * that lets go when the user scrolls up, and the prompt-reading progress bar. */
#pragma once

#include <gtk/gtk.h>

#include "herd-conversation.h"
#include "herd-message-row.h"

G_BEGIN_DECLS

#define HERD_TYPE_CHAT_VIEW (herd_chat_view_get_type())
G_DECLARE_FINAL_TYPE(HerdChatView, herd_chat_view, HERD, CHAT_VIEW, GtkWidget)

/* Signals: "regenerate" (HerdMessage *), "edit" (HerdMessage *), "copied" (). */
void herd_chat_view_set_conversation(HerdChatView *self, HerdConversation *conv);
HerdConversation *herd_chat_view_get_conversation(HerdChatView *self);
guint herd_chat_view_get_n_rows(HerdChatView *self);
HerdMessageRow *herd_chat_view_get_row(HerdChatView *self, guint index);
HerdMessageRow *herd_chat_view_get_last_row(HerdChatView *self);
/* done < 0 hides the bar. */
void herd_chat_view_set_prompt_progress(HerdChatView *self, int done, int total);
gboolean herd_chat_view_get_autoscroll(HerdChatView *self);
void herd_chat_view_scroll_to_bottom(HerdChatView *self);

G_END_DECLS
