/* herd-types.c: the shared enums' GTypes and nicks. */
#define G_LOG_DOMAIN "Herd"

#include "herd-types.h"

#include <string.h>

G_DEFINE_ENUM_TYPE(HerdMessageRole, herd_message_role,
                   G_DEFINE_ENUM_VALUE(HERD_MESSAGE_ROLE_SYSTEM, "system"),
                   G_DEFINE_ENUM_VALUE(HERD_MESSAGE_ROLE_USER, "user"),
                   G_DEFINE_ENUM_VALUE(HERD_MESSAGE_ROLE_ASSISTANT, "assistant"))

G_DEFINE_ENUM_TYPE(HerdMessageState, herd_message_state,
                   G_DEFINE_ENUM_VALUE(HERD_MESSAGE_STATE_COMPLETE, "complete"),
                   G_DEFINE_ENUM_VALUE(HERD_MESSAGE_STATE_STREAMING, "streaming"),
                   G_DEFINE_ENUM_VALUE(HERD_MESSAGE_STATE_INTERRUPTED, "interrupted"),
                   G_DEFINE_ENUM_VALUE(HERD_MESSAGE_STATE_ERROR, "error"))

static const char *const role_nicks[] = { "system", "user", "assistant" };
static const char *const state_nicks[] = { "complete", "streaming", "interrupted", "error" };

const char *herd_message_role_to_nick(HerdMessageRole role)
{
    return (unsigned)role < G_N_ELEMENTS(role_nicks) ? role_nicks[role] : "user";
}

gboolean herd_message_role_from_nick(const char *nick, HerdMessageRole *out)
{
    for (guint i = 0; nick && i < G_N_ELEMENTS(role_nicks); i++) {
        if (strcmp(nick, role_nicks[i]) == 0) {
            *out = (HerdMessageRole)i;
            return TRUE;
        }
    }
    return FALSE;
}

const char *herd_message_state_to_nick(HerdMessageState state)
{
    return (unsigned)state < G_N_ELEMENTS(state_nicks) ? state_nicks[state] : "error";
}

gboolean herd_message_state_from_nick(const char *nick, HerdMessageState *out)
{
    for (guint i = 0; nick && i < G_N_ELEMENTS(state_nicks); i++) {
        if (strcmp(nick, state_nicks[i]) == 0) {
            *out = (HerdMessageState)i;
            return TRUE;
        }
    }
    return FALSE;
}
