/* herd-conversation.h: a conversation as a GListModel of HerdMessage, backed by the store.
 * Every change made through this API is written to the store first, then to the model. */
#pragma once

#include "herd-message.h"
#include "herd-store.h"

#include <gio/gio.h>

G_BEGIN_DECLS

#define HERD_TYPE_CONVERSATION (herd_conversation_get_type())
G_DECLARE_FINAL_TYPE(HerdConversation, herd_conversation, HERD, CONVERSATION, GObject)

/* A new, empty conversation saved in store. */
HerdConversation *herd_conversation_new(HerdStore *store, const char *title, GError **error);
/* Loads a conversation and all its messages and images. */
HerdConversation *herd_conversation_load(HerdStore *store, gint64 id, GError **error);

HerdStore *herd_conversation_get_store(HerdConversation *self);
gint64 herd_conversation_get_id(HerdConversation *self);
const char *herd_conversation_get_title(HerdConversation *self);
gboolean herd_conversation_set_title(HerdConversation *self, const char *title, GError **error);
gboolean herd_conversation_get_pinned(HerdConversation *self);
gboolean herd_conversation_set_pinned(HerdConversation *self, gboolean pinned, GError **error);
const char *herd_conversation_get_model_name(HerdConversation *self);
gint64 herd_conversation_get_created(HerdConversation *self);
gint64 herd_conversation_get_updated(HerdConversation *self);
HerdMessage *herd_conversation_get_message(HerdConversation *self, guint index);
HerdMessage *herd_conversation_get_last(HerdConversation *self);

/* Saves a complete message with n_images attachments (copied into the store; see
 * HerdMessageImage for the fields used) and appends it. Returns it (owned by self). */
HerdMessage *herd_conversation_add_message(HerdConversation *self, HerdMessageRole role,
                                           const char *text, const HerdMessageImage *images,
                                           guint n_images, GError **error);
/* Deletes msg from the store (with image files nothing else uses) and from the model, e.g. to
 * regenerate the last answer. Don't remove a reply a worker is still writing: stop it and wait
 * for "finished" first. */
gboolean herd_conversation_remove_message(HerdConversation *self, HerdMessage *msg, GError **error);
/* Saves and appends an empty assistant message in state STREAMING (the worker fills it). */
HerdMessage *herd_conversation_begin_reply(HerdConversation *self, const char *model,
                                           const char *sampling_json, GError **error);

G_END_DECLS
