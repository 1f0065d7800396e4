/* herd-store.h: the chat history, an SQLite database ($XDG_DATA_HOME/herd/herd.db) with the
 * attached images copied beside it ($XDG_DATA_HOME/herd/images/<sha256>.<ext>, one file per
 * distinct content).
 *
 * The database runs in WAL mode with foreign keys on; every change is one transaction, so a
 * crash or SIGKILL loses at most the change in flight. The schema is versioned with
 * PRAGMA user_version and migrated forward on open, one transaction per step; a database from
 * a newer Herd is refused rather than touched. Messages left 'streaming' by a crash become
 * 'interrupted' on open.
 *
 * Thread safety: every call takes the store's lock, so a worker thread may save a growing
 * answer while the main thread reads. Times are microseconds since the Unix epoch (UTC). */
#pragma once

#include "herd-types.h"

#include <gio/gio.h>

G_BEGIN_DECLS

#define HERD_STORE_SCHEMA_VERSION 2

#define HERD_STORE_ERROR (herd_store_error_quark())
GQuark herd_store_error_quark(void);

typedef enum {
    HERD_STORE_ERROR_OPEN,      /* cannot open or create the database or its folders */
    HERD_STORE_ERROR_SQL,       /* SQLite reported an error */
    HERD_STORE_ERROR_TOO_NEW,   /* the database was written by a newer schema */
    HERD_STORE_ERROR_NOT_FOUND, /* no such conversation/message */
    HERD_STORE_ERROR_IO,        /* image file copy failed */
    HERD_STORE_ERROR_INVALID,   /* bad argument or bad imported data */
} HerdStoreError;

typedef struct {
    gint64 id;
    char *title;
    gint64 created;
    gint64 updated;
    char *model_name;    /* may be NULL */
    char *model_path;    /* may be NULL */
    char *settings_json; /* may be NULL; a JSON object as text */
    gboolean pinned;     /* schema v2 */
} HerdStoreConversation;

typedef struct {
    gint64 id;
    gint64 message_id;
    gint position;       /* order within the message, from 0 */
    char *path;          /* absolute path of the stored copy */
    char *sha256;        /* hex digest of the content */
    char *original_name; /* the name the user attached, may be NULL */
    gint width, height;  /* pixels, 0 when unknown */
    char *mime;
    gint64 size; /* bytes */
} HerdStoreImage;

typedef struct {
    gint64 id;
    gint64 conversation_id;
    HerdMessageRole role;
    char *text;
    HerdMessageState state;
    gint64 created;
    char *model;            /* model that wrote an assistant message, may be NULL */
    char *sampling_json;    /* sampling settings as a JSON object, may be NULL */
    char *error_text;       /* why state is ERROR, may be NULL (schema v2) */
    HerdMessageStats stats; /* schema v2 */
    GPtrArray *images;      /* HerdStoreImage*, by position; never NULL when loaded */
} HerdStoreMessage;

void herd_store_conversation_free(HerdStoreConversation *c);
void herd_store_message_free(HerdStoreMessage *m);
void herd_store_image_free(HerdStoreImage *img);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HerdStoreConversation, herd_store_conversation_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HerdStoreMessage, herd_store_message_free)

#define HERD_TYPE_STORE (herd_store_get_type())
G_DECLARE_FINAL_TYPE(HerdStore, herd_store, HERD, STORE, GObject)

/* db_path NULL: $XDG_DATA_HOME/herd/herd.db. Images go to "images/" beside the database. */
HerdStore *herd_store_open(const char *db_path, GError **error);
/* For tests: migrate only up to target_version (1..HERD_STORE_SCHEMA_VERSION), and skip crash
 * recovery when target_version is below the current one. */
HerdStore *herd_store_open_at_version(const char *db_path, int target_version, GError **error);
char *herd_store_default_path(void);
const char *herd_store_get_path(HerdStore *self);
const char *herd_store_get_images_dir(HerdStore *self);
int herd_store_get_schema_version(HerdStore *self);
gboolean herd_store_has_fts(HerdStore *self);
/* Number of messages turned from 'streaming' to 'interrupted' when this store opened. */
guint herd_store_get_n_recovered(HerdStore *self);
/* PRAGMA integrity_check == "ok". */
gboolean herd_store_check_integrity(HerdStore *self, GError **error);

/* Conversations. Lists are GPtrArray of HerdStoreConversation*, pinned first, then the most
 * recently updated first. */
gint64 herd_store_create_conversation(HerdStore *self, const char *title, const char *model_name,
                                      const char *model_path, const char *settings_json,
                                      GError **error);
/* The full-fidelity form used by import: keeps created/updated/pinned of conv (id ignored). */
gint64 herd_store_insert_conversation(HerdStore *self, const HerdStoreConversation *conv,
                                      GError **error);
HerdStoreConversation *herd_store_get_conversation(HerdStore *self, gint64 id, GError **error);
GPtrArray *herd_store_list_conversations(HerdStore *self, GError **error);
/* Matches titles (substring, case-insensitive for ASCII) and message text (FTS5 prefix match
 * of every word, or substring without FTS5). Empty/NULL query = list. */
GPtrArray *herd_store_search_conversations(HerdStore *self, const char *query, GError **error);
gboolean herd_store_rename_conversation(HerdStore *self, gint64 id, const char *title,
                                        GError **error);
gboolean herd_store_set_conversation_pinned(HerdStore *self, gint64 id, gboolean pinned,
                                            GError **error);
gboolean herd_store_set_conversation_model(HerdStore *self, gint64 id, const char *model_name,
                                           const char *model_path, GError **error);
/* Sets 'updated' (import keeps the exported time). */
gboolean herd_store_set_conversation_updated(HerdStore *self, gint64 id, gint64 updated,
                                             GError **error);
/* Removes the conversation, its messages and image rows, and then every image file that no
 * other message references. */
gboolean herd_store_delete_conversation(HerdStore *self, gint64 id, GError **error);

/* Messages. append uses role/text/state/created (0 = now)/model/sampling_json/error_text/stats
 * of msg (id, conversation_id and images ignored) and bumps the conversation's 'updated'. */
gint64 herd_store_append_message(HerdStore *self, gint64 conversation_id,
                                 const HerdStoreMessage *msg, GError **error);
/* The cheap per-second save of a growing answer. */
gboolean herd_store_update_message_text(HerdStore *self, gint64 message_id, const char *text,
                                        GError **error);
gboolean herd_store_set_message_state(HerdStore *self, gint64 message_id, HerdMessageState state,
                                      const char *error_text, GError **error);
/* End of a generation in one statement: final text, state, error text, model and stats
 * (text, model, stats NULL: keep them). */
gboolean herd_store_finish_message(HerdStore *self, gint64 message_id, const char *text,
                                   HerdMessageState state, const char *error_text,
                                   const char *model, const HerdMessageStats *stats,
                                   GError **error);
/* Removes a message, its image rows, and image files nothing else references. */
gboolean herd_store_delete_message(HerdStore *self, gint64 message_id, GError **error);
HerdStoreMessage *herd_store_get_message(HerdStore *self, gint64 message_id, GError **error);
/* Oldest first, each with its images. */
GPtrArray *herd_store_load_messages(HerdStore *self, gint64 conversation_id, GError **error);

/* Images: the content is copied into the images folder under its SHA-256 (kept if already
 * there). mime NULL: guessed from the name and content. Returns the image row id. */
gint64 herd_store_add_image_file(HerdStore *self, gint64 message_id, gint position,
                                 const char *path, const char *original_name, gint width,
                                 gint height, const char *mime, GError **error);
gint64 herd_store_add_image_bytes(HerdStore *self, gint64 message_id, gint position, GBytes *data,
                                  const char *original_name, gint width, gint height,
                                  const char *mime, GError **error);

G_END_DECLS
