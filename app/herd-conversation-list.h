/* herd-conversation-list.h: the sidebar's model. HerdConversationList is a GListModel of
 * HerdConversationInfo (one row per conversation: pinned first, then most recently updated),
 * filtered by the "search" property (titles and message text, see
 * herd_store_search_conversations). It re-reads the store on reload() and whenever "search"
 * changes, and emits one items-changed for the whole difference. */
#pragma once

#include "herd-store.h"

#include <gio/gio.h>

G_BEGIN_DECLS

#define HERD_TYPE_CONVERSATION_INFO (herd_conversation_info_get_type())
G_DECLARE_FINAL_TYPE(HerdConversationInfo, herd_conversation_info, HERD, CONVERSATION_INFO, GObject)

gint64 herd_conversation_info_get_id(HerdConversationInfo *self);
const char *herd_conversation_info_get_title(HerdConversationInfo *self);
gint64 herd_conversation_info_get_updated(HerdConversationInfo *self);
gboolean herd_conversation_info_get_pinned(HerdConversationInfo *self);
const char *herd_conversation_info_get_model_name(HerdConversationInfo *self);

#define HERD_TYPE_CONVERSATION_LIST (herd_conversation_list_get_type())
G_DECLARE_FINAL_TYPE(HerdConversationList, herd_conversation_list, HERD, CONVERSATION_LIST, GObject)

HerdConversationList *herd_conversation_list_new(HerdStore *store);
gboolean herd_conversation_list_reload(HerdConversationList *self, GError **error);
const char *herd_conversation_list_get_search(HerdConversationList *self);
/* Sets the filter and reloads; NULL or "" shows everything. */
void herd_conversation_list_set_search(HerdConversationList *self, const char *search);

G_END_DECLS
