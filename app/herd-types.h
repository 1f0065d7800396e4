/* herd-types.h: forward typedefs and the enums shared by the app/ core (GLib, no GTK). */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

typedef struct _HerdConversation HerdConversation;
typedef struct _HerdConversationInfo HerdConversationInfo;
typedef struct _HerdConversationList HerdConversationList;
typedef struct _HerdMessage HerdMessage;
typedef struct _HerdStore HerdStore;
typedef struct _HerdWorker HerdWorker;

/* Who wrote a message. The nicks are what the database and the JSON export store. */
typedef enum {
    HERD_MESSAGE_ROLE_SYSTEM,
    HERD_MESSAGE_ROLE_USER,
    HERD_MESSAGE_ROLE_ASSISTANT,
} HerdMessageRole;

/* Where a message is in its life. STREAMING is only ever seen while a worker writes it;
 * a message found STREAMING when the store opens was cut off by a crash and becomes
 * INTERRUPTED, as does an answer the user stopped. */
typedef enum {
    HERD_MESSAGE_STATE_COMPLETE,
    HERD_MESSAGE_STATE_STREAMING,
    HERD_MESSAGE_STATE_INTERRUPTED,
    HERD_MESSAGE_STATE_ERROR,
} HerdMessageState;

#define HERD_TYPE_MESSAGE_ROLE  (herd_message_role_get_type())
#define HERD_TYPE_MESSAGE_STATE (herd_message_state_get_type())
GType herd_message_role_get_type(void);
GType herd_message_state_get_type(void);

/* Nick <-> value; from_nick returns FALSE for an unknown nick. */
const char *herd_message_role_to_nick(HerdMessageRole role);
gboolean herd_message_role_from_nick(const char *nick, HerdMessageRole *out);
const char *herd_message_state_to_nick(HerdMessageState state);
gboolean herd_message_state_from_nick(const char *nick, HerdMessageState *out);

/* Generation statistics kept with an assistant message (zeros when unknown). */
typedef struct {
    gint n_prompt_tokens;
    gint n_gen_tokens;
    double ttft_ms;      /* request start to first piece */
    double tokens_per_s; /* generated tokens / generation time */
} HerdMessageStats;

G_END_DECLS
