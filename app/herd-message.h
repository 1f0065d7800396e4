/* herd-message.h: one chat message as the UI binds to it. Lives on the main thread.
 * "text" and "state" are EXPLICIT_NOTIFY: notify fires only on a real change, and once per
 * coalesced batch of streamed pieces. */
#pragma once

#include "herd-store.h"
#include "herd-types.h"

G_BEGIN_DECLS

/* An attached image as stored (path is the store's copy). Also the input type for attaching:
 * path, name (NULL = basename), mime (NULL = guessed), width/height (0 = unknown). */
typedef struct {
    char *path;
    char *name;
    char *mime;
    gint width;
    gint height;
    gint64 size; /* bytes, filled by the store */
} HerdMessageImage;

#define HERD_TYPE_MESSAGE_IMAGE (herd_message_image_get_type())
GType herd_message_image_get_type(void);
HerdMessageImage *herd_message_image_copy(const HerdMessageImage *img);
void herd_message_image_free(HerdMessageImage *img);

#define HERD_TYPE_MESSAGE (herd_message_get_type())
G_DECLARE_FINAL_TYPE(HerdMessage, herd_message, HERD, MESSAGE, GObject)

HerdMessage *herd_message_new(HerdMessageRole role, const char *text);
HerdMessage *herd_message_new_from_record(const HerdStoreMessage *rec);

gint64 herd_message_get_id(HerdMessage *self);
void herd_message_set_id(HerdMessage *self, gint64 id);
HerdMessageRole herd_message_get_role(HerdMessage *self);
const char *herd_message_get_text(HerdMessage *self);
void herd_message_set_text(HerdMessage *self, const char *text);
/* Appends len bytes (len < 0: NUL-terminated) and notifies "text" once. */
void herd_message_append_text(HerdMessage *self, const char *piece, gssize len);
HerdMessageState herd_message_get_state(HerdMessage *self);
void herd_message_set_state(HerdMessage *self, HerdMessageState state);
gint64 herd_message_get_created(HerdMessage *self);
const char *herd_message_get_model(HerdMessage *self);
void herd_message_set_model(HerdMessage *self, const char *model);
const char *herd_message_get_error_text(HerdMessage *self);
void herd_message_set_error_text(HerdMessage *self, const char *text);
const char *herd_message_get_sampling_json(HerdMessage *self);
const HerdMessageStats *herd_message_get_stats(HerdMessage *self);
/* Notifies each stats property that changed. */
void herd_message_set_stats(HerdMessage *self, const HerdMessageStats *stats);
guint herd_message_get_n_images(HerdMessage *self);
const HerdMessageImage *herd_message_get_image(HerdMessage *self, guint index);
void herd_message_add_image(HerdMessage *self, const HerdMessageImage *img);

G_END_DECLS
