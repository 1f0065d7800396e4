/* herd-store.c: SQLite history with versioned schema, crash recovery and content-addressed
 * image files. */
#define G_LOG_DOMAIN "Herd"

#include "herd-store.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <sqlite3.h>
#include <string.h>

struct _HerdStore {
    GObject parent_instance;
    GMutex lock;
    sqlite3 *db;
    char *path;
    char *images_dir;
    int version;
    gboolean fts;
    guint n_recovered;
};

G_DEFINE_TYPE(HerdStore, herd_store, G_TYPE_OBJECT)
G_DEFINE_QUARK(herd - store - error - quark, herd_store_error)

/* ---- schema ---- */

/* Each step takes the database from version i to i + 1, inside one transaction. */
static const char schema_v1[] =
    "CREATE TABLE conversations ("
    "  id INTEGER PRIMARY KEY,"
    "  title TEXT NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  updated INTEGER NOT NULL,"
    "  model_name TEXT,"
    "  model_path TEXT,"
    "  settings TEXT);"
    "CREATE TABLE messages ("
    "  id INTEGER PRIMARY KEY,"
    "  conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,"
    "  role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),"
    "  text TEXT NOT NULL DEFAULT '',"
    "  state TEXT NOT NULL DEFAULT 'complete'"
    "    CHECK (state IN ('complete', 'streaming', 'interrupted', 'error')),"
    "  created INTEGER NOT NULL,"
    "  model TEXT,"
    "  sampling TEXT);"
    "CREATE INDEX messages_by_conversation ON messages(conversation_id, id);"
    "CREATE TABLE images ("
    "  id INTEGER PRIMARY KEY,"
    "  message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,"
    "  position INTEGER NOT NULL,"
    "  file TEXT NOT NULL," /* name inside the images folder: <sha256>.<ext> */
    "  sha256 TEXT NOT NULL,"
    "  original_name TEXT,"
    "  width INTEGER NOT NULL DEFAULT 0,"
    "  height INTEGER NOT NULL DEFAULT 0,"
    "  mime TEXT NOT NULL,"
    "  size INTEGER NOT NULL DEFAULT 0,"
    "  UNIQUE (message_id, position));"
    "CREATE INDEX images_by_file ON images(file);";

/* v2: generation stats and error text per message, pinned conversations, full-text search. */
static const char schema_v2[] =
    "ALTER TABLE conversations ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE messages ADD COLUMN n_prompt_tokens INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE messages ADD COLUMN n_gen_tokens INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE messages ADD COLUMN ttft_ms REAL NOT NULL DEFAULT 0;"
    "ALTER TABLE messages ADD COLUMN tokens_per_s REAL NOT NULL DEFAULT 0;"
    "ALTER TABLE messages ADD COLUMN error TEXT;"
    "CREATE INDEX conversations_by_updated ON conversations(pinned DESC, updated DESC);";

static const char schema_v2_fts[] =
    "CREATE VIRTUAL TABLE messages_fts USING fts5(text, content='messages', content_rowid='id');"
    "INSERT INTO messages_fts(messages_fts) VALUES ('rebuild');"
    "CREATE TRIGGER messages_fts_ai AFTER INSERT ON messages BEGIN"
    "  INSERT INTO messages_fts(rowid, text) VALUES (new.id, new.text); END;"
    "CREATE TRIGGER messages_fts_ad AFTER DELETE ON messages BEGIN"
    "  INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.id, old.text);"
    "  END;"
    "CREATE TRIGGER messages_fts_au AFTER UPDATE OF text ON messages BEGIN"
    "  INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.id, old.text);"
    "  INSERT INTO messages_fts(rowid, text) VALUES (new.id, new.text); END;";

/* ---- helpers ---- */

static gboolean sql_error(HerdStore *self, GError **error, const char *what)
{
    g_set_error(error, HERD_STORE_ERROR, HERD_STORE_ERROR_SQL, "%s: %s (%s)", what,
                sqlite3_errmsg(self->db), self->path);
    return FALSE;
}

static gboolean exec(HerdStore *self, const char *sql, GError **error)
{
    char *msg = NULL;
    if (sqlite3_exec(self->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        g_set_error(error, HERD_STORE_ERROR, HERD_STORE_ERROR_SQL, "%s (%s)",
                    msg ? msg : "SQL error", self->path);
        sqlite3_free(msg);
        return FALSE;
    }
    return TRUE;
}

static sqlite3_stmt *prepare(HerdStore *self, const char *sql, GError **error)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(self->db, sql, -1, &st, NULL) != SQLITE_OK) {
        sql_error(self, error, "cannot prepare a statement");
        return NULL;
    }
    return st;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

static char *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? g_strdup((const char *)t) : NULL;
}

/* Runs a statement that returns no rows; finalizes it. */
static gboolean step_done(HerdStore *self, sqlite3_stmt *st, GError **error, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return sql_error(self, error, what);
    return TRUE;
}

static gboolean begin(HerdStore *self, GError **error)
{
    return exec(self, "BEGIN IMMEDIATE", error);
}

static gboolean commit(HerdStore *self, GError **error)
{
    if (exec(self, "COMMIT", error))
        return TRUE;
    exec(self, "ROLLBACK", NULL);
    return FALSE;
}

static void rollback(HerdStore *self)
{
    if (!sqlite3_get_autocommit(self->db))
        exec(self, "ROLLBACK", NULL);
}

static gint64 query_int(HerdStore *self, const char *sql, gint64 fallback)
{
    sqlite3_stmt *st = prepare(self, sql, NULL);
    gint64 v = fallback;
    if (st && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* ---- records ---- */

void herd_store_conversation_free(HerdStoreConversation *c)
{
    if (!c)
        return;
    g_free(c->title);
    g_free(c->model_name);
    g_free(c->model_path);
    g_free(c->settings_json);
    g_free(c);
}

void herd_store_image_free(HerdStoreImage *img)
{
    if (!img)
        return;
    g_free(img->path);
    g_free(img->sha256);
    g_free(img->original_name);
    g_free(img->mime);
    g_free(img);
}

void herd_store_message_free(HerdStoreMessage *m)
{
    if (!m)
        return;
    g_free(m->text);
    g_free(m->model);
    g_free(m->sampling_json);
    g_free(m->error_text);
    if (m->images)
        g_ptr_array_unref(m->images);
    g_free(m);
}

/* ---- object ---- */

static void herd_store_finalize(GObject *object)
{
    HerdStore *self = HERD_STORE(object);
    if (self->db)
        sqlite3_close_v2(self->db);
    g_free(self->path);
    g_free(self->images_dir);
    g_mutex_clear(&self->lock);
    G_OBJECT_CLASS(herd_store_parent_class)->finalize(object);
}

static void herd_store_class_init(HerdStoreClass *klass)
{
    G_OBJECT_CLASS(klass)->finalize = herd_store_finalize;
}

static void herd_store_init(HerdStore *self)
{
    g_mutex_init(&self->lock);
}

char *herd_store_default_path(void)
{
    return g_build_filename(g_get_user_data_dir(), "herd", "herd.db", NULL);
}

static gboolean migrate(HerdStore *self, int target, GError **error)
{
    int have = (int)query_int(self, "PRAGMA user_version", 0);
    if (have > HERD_STORE_SCHEMA_VERSION) {
        g_set_error(error, HERD_STORE_ERROR, HERD_STORE_ERROR_TOO_NEW,
                    "%s has schema version %d, newer than this Herd understands (%d); "
                    "it was left untouched",
                    self->path, have, HERD_STORE_SCHEMA_VERSION);
        return FALSE;
    }
    while (have < target) {
        int next = have + 1;
        if (!begin(self, error))
            return FALSE;
        gboolean ok = TRUE;
        if (next == 1) {
            ok = exec(self, schema_v1, error);
        } else if (next == 2) {
            ok = exec(self, schema_v2, error);
            if (ok && sqlite3_compileoption_used("ENABLE_FTS5"))
                ok = exec(self, schema_v2_fts, error);
        }
        char *pragma = g_strdup_printf("PRAGMA user_version = %d", next);
        ok = ok && exec(self, pragma, error);
        g_free(pragma);
        if (!ok) {
            rollback(self);
            g_prefix_error(error, "migrating the history to schema %d: ", next);
            return FALSE;
        }
        if (!commit(self, error))
            return FALSE;
        g_debug("%s: migrated to schema %d", self->path, next);
        have = next;
    }
    self->version = have;
    return TRUE;
}

HerdStore *herd_store_open_at_version(const char *db_path, int target_version, GError **error)
{
    g_return_val_if_fail(target_version >= 1 && target_version <= HERD_STORE_SCHEMA_VERSION, NULL);
    g_autoptr(HerdStore) self = g_object_new(HERD_TYPE_STORE, NULL);
    self->path = db_path ? g_strdup(db_path) : herd_store_default_path();
    g_autofree char *dir = g_path_get_dirname(self->path);
    self->images_dir = g_build_filename(dir, "images", NULL);
    if (g_mkdir_with_parents(self->images_dir, 0700) != 0) {
        int e = errno;
        g_set_error(error, HERD_STORE_ERROR, HERD_STORE_ERROR_OPEN, "cannot create %s: %s",
                    self->images_dir, g_strerror(e));
        return NULL;
    }
    int rc =
        sqlite3_open_v2(self->path, &self->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
    if (rc != SQLITE_OK) {
        g_set_error(error, HERD_STORE_ERROR, HERD_STORE_ERROR_OPEN, "cannot open %s: %s",
                    self->path, self->db ? sqlite3_errmsg(self->db) : sqlite3_errstr(rc));
        return NULL;
    }
    sqlite3_busy_timeout(self->db, 5000);
    sqlite3_extended_result_codes(self->db, 1);
    /* WAL: readers never block the writer, and a killed process leaves a database that
     * opens; synchronous=NORMAL keeps every committed transaction across a process crash. */
    if (!exec(self, "PRAGMA journal_mode = WAL", error) ||
        !exec(self, "PRAGMA synchronous = NORMAL", error) ||
        !exec(self, "PRAGMA foreign_keys = ON", error))
        return NULL;
    if (query_int(self, "PRAGMA foreign_keys", 0) != 1) {
        g_set_error(error, HERD_STORE_ERROR, HERD_STORE_ERROR_OPEN,
                    "this SQLite has no foreign key support");
        return NULL;
    }
    if (!migrate(self, target_version, error))
        return NULL;
    self->fts =
        query_int(self, "SELECT count(*) FROM sqlite_master WHERE name = 'messages_fts'", 0) == 1;
    if (self->version == HERD_STORE_SCHEMA_VERSION) {
        if (!exec(self, "UPDATE messages SET state = 'interrupted' WHERE state = 'streaming'",
                  error))
            return NULL;
        self->n_recovered = (guint)sqlite3_changes(self->db);
        if (self->n_recovered)
            g_message("%s: %u answer(s) cut off by a crash marked interrupted", self->path,
                      self->n_recovered);
    }
    return g_steal_pointer(&self);
}

HerdStore *herd_store_open(const char *db_path, GError **error)
{
    return herd_store_open_at_version(db_path, HERD_STORE_SCHEMA_VERSION, error);
}

const char *herd_store_get_path(HerdStore *self)
{
    return self->path;
}

const char *herd_store_get_images_dir(HerdStore *self)
{
    return self->images_dir;
}

int herd_store_get_schema_version(HerdStore *self)
{
    return self->version;
}

gboolean herd_store_has_fts(HerdStore *self)
{
    return self->fts;
}

guint herd_store_get_n_recovered(HerdStore *self)
{
    return self->n_recovered;
}

gboolean herd_store_check_integrity(HerdStore *self, GError **error)
{
    g_mutex_lock(&self->lock);
    sqlite3_stmt *st = prepare(self, "PRAGMA integrity_check", error);
    gboolean ok = FALSE;
    if (st && sqlite3_step(st) == SQLITE_ROW) {
        const char *r = (const char *)sqlite3_column_text(st, 0);
        ok = r && strcmp(r, "ok") == 0;
        if (!ok)
            g_set_error(error, HERD_STORE_ERROR, HERD_STORE_ERROR_SQL, "%s: integrity_check: %s",
                        self->path, r ? r : "?");
    } else if (st) {
        sql_error(self, error, "integrity_check");
    }
    sqlite3_finalize(st);
    g_mutex_unlock(&self->lock);
    return ok;
}

/* ---- conversations ---- */

#define CONV_COLUMNS "id, title, created, updated, model_name, model_path, settings, pinned"

static HerdStoreConversation *read_conversation(sqlite3_stmt *st)
{
    HerdStoreConversation *c = g_new0(HerdStoreConversation, 1);
    c->id = sqlite3_column_int64(st, 0);
    c->title = col_text(st, 1);
    c->created = sqlite3_column_int64(st, 2);
    c->updated = sqlite3_column_int64(st, 3);
    c->model_name = col_text(st, 4);
    c->model_path = col_text(st, 5);
    c->settings_json = col_text(st, 6);
    c->pinned = sqlite3_column_int(st, 7) != 0;
    if (!c->title)
        c->title = g_strdup("");
    return c;
}

gint64 herd_store_insert_conversation(HerdStore *self, const HerdStoreConversation *conv,
                                      GError **error)
{
    g_return_val_if_fail(HERD_IS_STORE(self) && conv, 0);
    gint64 now = g_get_real_time();
    g_mutex_lock(&self->lock);
    gint64 id = 0;
    sqlite3_stmt *st = prepare(self,
                               "INSERT INTO conversations (title, created, updated, model_name,"
                               " model_path, settings, pinned) VALUES (?, ?, ?, ?, ?, ?, ?)",
                               error);
    if (st) {
        bind_text(st, 1, conv->title ? conv->title : "");
        sqlite3_bind_int64(st, 2, conv->created ? conv->created : now);
        sqlite3_bind_int64(st, 3, conv->updated ? conv->updated : now);
        bind_text(st, 4, conv->model_name);
        bind_text(st, 5, conv->model_path);
        bind_text(st, 6, conv->settings_json);
        sqlite3_bind_int(st, 7, conv->pinned ? 1 : 0);
        if (step_done(self, st, error, "cannot create a conversation"))
            id = sqlite3_last_insert_rowid(self->db);
    }
    g_mutex_unlock(&self->lock);
    return id;
}

gint64 herd_store_create_conversation(HerdStore *self, const char *title, const char *model_name,
                                      const char *model_path, const char *settings_json,
                                      GError **error)
{
    HerdStoreConversation c = { 0 };
    c.title = (char *)title;
    c.model_name = (char *)model_name;
    c.model_path = (char *)model_path;
    c.settings_json = (char *)settings_json;
    return herd_store_insert_conversation(self, &c, error);
}

HerdStoreConversation *herd_store_get_conversation(HerdStore *self, gint64 id, GError **error)
{
    g_return_val_if_fail(HERD_IS_STORE(self), NULL);
    g_mutex_lock(&self->lock);
    HerdStoreConversation *c = NULL;
    sqlite3_stmt *st =
        prepare(self, "SELECT " CONV_COLUMNS " FROM conversations WHERE id = ?", error);
    if (st) {
        sqlite3_bind_int64(st, 1, id);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            c = read_conversation(st);
        else if (rc == SQLITE_DONE)
            g_set_error(error, HERD_STORE_ERROR, HERD_STORE_ERROR_NOT_FOUND,
                        "no conversation %" G_GINT64_FORMAT " in %s", id, self->path);
        else
            sql_error(self, error, "cannot read a conversation");
        sqlite3_finalize(st);
    }
    g_mutex_unlock(&self->lock);
    return c;
}

static GPtrArray *collect_conversations(HerdStore *self, sqlite3_stmt *st, GError **error)
{
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)herd_store_conversation_free);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        g_ptr_array_add(out, read_conversation(st));
    if (rc != SQLITE_DONE) {
        sql_error(self, error, "cannot list conversations");
        g_ptr_array_unref(out);
        out = NULL;
    }
    sqlite3_finalize(st);
    return out;
}

GPtrArray *herd_store_list_conversations(HerdStore *self, GError **error)
{
    g_return_val_if_fail(HERD_IS_STORE(self), NULL);
    g_mutex_lock(&self->lock);
    GPtrArray *out = NULL;
    sqlite3_stmt *st = prepare(self,
                               "SELECT " CONV_COLUMNS " FROM conversations"
                               " ORDER BY pinned DESC, updated DESC, id DESC",
                               error);
    if (st)
        out = collect_conversations(self, st, error);
    g_mutex_unlock(&self->lock);
    return out;
}

/* LIKE pattern for a substring, with %, _ and \ escaped (ESCAPE '\'). */
static char *like_pattern(const char *q)
{
    GString *s = g_string_new("%");
    for (const char *p = q; *p; p++) {
        if (*p == '%' || *p == '_' || *p == '\\')
            g_string_append_c(s, '\\');
        g_string_append_c(s, *p);
    }
    g_string_append_c(s, '%');
    return g_string_free(s, FALSE);
}

/* FTS5 query: every whitespace-separated word as a quoted prefix term, all required. */
static char *fts_query(const char *q)
{
    g_auto(GStrv) words = g_strsplit_set(q, " \t\n\r", -1);
    GString *s = g_string_new(NULL);
    for (char **w = words; *w; w++) {
        if (!**w)
            continue;
        if (s->len)
            g_string_append_c(s, ' ');
        g_string_append_c(s, '"');
        for (const char *p = *w; *p; p++) {
            if (*p == '"')
                g_string_append_c(s, '"');
            g_string_append_c(s, *p);
        }
        g_string_append(s, "\"*");
    }
    return g_string_free(s, FALSE);
}

GPtrArray *herd_store_search_conversations(HerdStore *self, const char *query, GError **error)
{
    g_return_val_if_fail(HERD_IS_STORE(self), NULL);
    g_autofree char *q = g_strstrip(g_strdup(query ? query : ""));
    if (!*q)
        return herd_store_list_conversations(self, error);
    g_autofree char *like = like_pattern(q);
    g_autofree char *fts = fts_query(q);
    g_mutex_lock(&self->lock);
    GPtrArray *out = NULL;
    sqlite3_stmt *st;
    if (self->fts)
        st = prepare(self,
                     "SELECT " CONV_COLUMNS " FROM conversations WHERE title LIKE ?1 ESCAPE '\\'"
                     " OR id IN (SELECT m.conversation_id FROM messages m JOIN messages_fts f"
                     "   ON f.rowid = m.id WHERE messages_fts MATCH ?2)"
                     " ORDER BY pinned DESC, updated DESC, id DESC",
                     error);
    else
        st = prepare(self,
                     "SELECT " CONV_COLUMNS " FROM conversations WHERE title LIKE ?1 ESCAPE '\\'"
                     " OR id IN (SELECT conversation_id FROM messages"
                     "   WHERE text LIKE ?1 ESCAPE '\\')"
                     " ORDER BY pinned DESC, updated DESC, id DESC",
                     error);
    if (st) {
        bind_text(st, 1, like);
        if (self->fts)
            bind_text(st, 2, fts);
        out = collect_conversations(self, st, error);
    }
    g_mutex_unlock(&self->lock);
    return out;
}

/* Runs an UPDATE of one row and reports NOT_FOUND when it changed nothing. */
static gboolean update_one(HerdStore *self, sqlite3_stmt *st, gint64 id, const char *kind,
                           GError **error)
{
    if (!step_done(self, st, error, "cannot update"))
        return FALSE;
    if (sqlite3_changes(self->db) == 0) {
        g_set_error(error, HERD_STORE_ERROR, HERD_STORE_ERROR_NOT_FOUND,
                    "no %s %" G_GINT64_FORMAT " in %s", kind, id, self->path);
        return FALSE;
    }
    return TRUE;
}

gboolean herd_store_rename_conversation(HerdStore *self, gint64 id, const char *title,
                                        GError **error)
{
    g_return_val_if_fail(HERD_IS_STORE(self) && title, FALSE);
    g_mutex_lock(&self->lock);
    gboolean ok = FALSE;
    sqlite3_stmt *st =
        prepare(self, "UPDATE conversations SET title = ?, updated = ? WHERE id = ?", error);
    if (st) {
        bind_text(st, 1, title);
        sqlite3_bind_int64(st, 2, g_get_real_time());
        sqlite3_bind_int64(st, 3, id);
        ok = update_one(self, st, id, "conversation", error);
    }
    g_mutex_unlock(&self->lock);
    return ok;
}

gboolean herd_store_set_conversation_pinned(HerdStore *self, gint64 id, gboolean pinned,
                                            GError **error)
{
    g_return_val_if_fail(HERD_IS_STORE(self), FALSE);
    g_mutex_lock(&self->lock);
    gboolean ok = FALSE;
    sqlite3_stmt *st = prepare(self, "UPDATE conversations SET pinned = ? WHERE id = ?", error);
    if (st) {
        sqlite3_bind_int(st, 1, pinned ? 1 : 0);
        sqlite3_bind_int64(st, 2, id);
        ok = update_one(self, st, id, "conversation", error);
    }
    g_mutex_unlock(&self->lock);
    return ok;
}

gboolean herd_store_set_conversation_model(HerdStore *self, gint64 id, const char *model_name,
                                           const char *model_path, GError **error)
{
    g_return_val_if_fail(HERD_IS_STORE(self), FALSE);
    g_mutex_lock(&self->lock);
    gboolean ok = FALSE;
    sqlite3_stmt *st = prepare(
        self, "UPDATE conversations SET model_name = ?, model_path = ? WHERE id = ?", error);
    if (st) {
        bind_text(st, 1, model_name);
        bind_text(st, 2, model_path);
        sqlite3_bind_int64(st, 3, id);
        ok = update_one(self, st, id, "conversation", error);
    }
    g_mutex_unlock(&self->lock);
    return ok;
}

gboolean herd_store_set_conversation_updated(HerdStore *self, gint64 id, gint64 updated,
                                             GError **error)
{
    g_return_val_if_fail(HERD_IS_STORE(self), FALSE);
    g_mutex_lock(&self->lock);
    gboolean ok = FALSE;
    sqlite3_stmt *st = prepare(self, "UPDATE conversations SET updated = ? WHERE id = ?", error);
    if (st) {
        sqlite3_bind_int64(st, 1, updated);
        sqlite3_bind_int64(st, 2, id);
        ok = update_one(self, st, id, "conversation", error);
    }
    g_mutex_unlock(&self->lock);
    return ok;
}

/* Deletes one row (with its cascade) and then the image files no longer referenced. */
static gboolean delete_with_images(HerdStore *self, const char *files_sql, const char *delete_sql,
                                   gint64 id, const char *kind, GError **error)
{
    g_mutex_lock(&self->lock);
    g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func(g_free);
    gboolean ok = begin(self, error);
    sqlite3_stmt *st = NULL;
    if (ok) {
        st = prepare(self, files_sql, error);
        ok = st != NULL;
    }
    if (ok) {
        sqlite3_bind_int64(st, 1, id);
        while (sqlite3_step(st) == SQLITE_ROW)
            g_ptr_array_add(files, col_text(st, 0));
        sqlite3_finalize(st);
        st = prepare(self, delete_sql, error);
        ok = st != NULL;
    }
    if (ok) {
        sqlite3_bind_int64(st, 1, id);
        ok = update_one(self, st, id, kind, error);
    }
    /* Files still referenced by other messages stay. */
    g_autoptr(GPtrArray) unused = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; ok && i < files->len; i++) {
        st = prepare(self, "SELECT count(*) FROM images WHERE file = ?", error);
        if (!(ok = st != NULL))
            break;
        bind_text(st, 1, files->pdata[i]);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) == 0)
            g_ptr_array_add(unused, g_strdup(files->pdata[i]));
        sqlite3_finalize(st);
    }
    if (ok)
        ok = commit(self, error);
    else
        rollback(self);
    /* Unlink after the commit: a crash in between leaves an orphan file, never a row
     * pointing at a missing file. */
    for (guint i = 0; ok && i < unused->len; i++) {
        g_autofree char *path = g_build_filename(self->images_dir, unused->pdata[i], NULL);
        if (g_unlink(path) != 0 && errno != ENOENT)
            g_warning("cannot remove %s: %s", path, g_strerror(errno));
    }
    g_mutex_unlock(&self->lock);
    return ok;
}

gboolean herd_store_delete_conversation(HerdStore *self, gint64 id, GError **error)
{
    g_return_val_if_fail(HERD_IS_STORE(self), FALSE);
    return delete_with_images(self,
                              "SELECT DISTINCT i.file FROM images i JOIN messages m"
                              " ON m.id = i.message_id WHERE m.conversation_id = ?",
                              "DELETE FROM conversations WHERE id = ?", id, "conversation", error);
}

gboolean herd_store_delete_message(HerdStore *self, gint64 message_id, GError **error)
{
    g_return_val_if_fail(HERD_IS_STORE(self), FALSE);
    return delete_with_images(self, "SELECT DISTINCT file FROM images WHERE message_id = ?",
                              "DELETE FROM messages WHERE id = ?", message_id, "message", error);
}

/* ---- messages ---- */

gint64 herd_store_append_message(HerdStore *self, gint64 conversation_id,
                                 const HerdStoreMessage *msg, GError **error)
{
    g_return_val_if_fail(HERD_IS_STORE(self) && msg, 0);
    gint64 now = g_get_real_time();
    gint64 created = msg->created ? msg->created : now;
    g_mutex_lock(&self->lock);
    gint64 id = 0;
    gboolean ok = begin(self, error);
    sqlite3_stmt *st = NULL;
    if (ok) {
        st = prepare(self,
                     "INSERT INTO messages (conversation_id, role, text, state, created, model,"
                     " sampling, error, n_prompt_tokens, n_gen_tokens, ttft_ms, tokens_per_s)"
                     " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     error);
        ok = st != NULL;
    }
    if (ok) {
        sqlite3_bind_int64(st, 1, conversation_id);
        bind_text(st, 2, herd_message_role_to_nick(msg->role));
        bind_text(st, 3, msg->text ? msg->text : "");
        bind_text(st, 4, herd_message_state_to_nick(msg->state));
        sqlite3_bind_int64(st, 5, created);
        bind_text(st, 6, msg->model);
        bind_text(st, 7, msg->sampling_json);
        bind_text(st, 8, msg->error_text);
        sqlite3_bind_int(st, 9, msg->stats.n_prompt_tokens);
        sqlite3_bind_int(st, 10, msg->stats.n_gen_tokens);
        sqlite3_bind_double(st, 11, msg->stats.ttft_ms);
        sqlite3_bind_double(st, 12, msg->stats.tokens_per_s);
        int rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
            g_set_error(error, HERD_STORE_ERROR, HERD_STORE_ERROR_NOT_FOUND,
                        "no conversation %" G_GINT64_FORMAT " in %s", conversation_id, self->path);
            ok = FALSE;
        } else if (rc != SQLITE_DONE) {
            ok = sql_error(self, error, "cannot add a message");
        } else {
            id = sqlite3_last_insert_rowid(self->db);
        }
    }
    if (ok) {
        st =
            prepare(self, "UPDATE conversations SET updated = max(updated, ?) WHERE id = ?", error);
        ok = st != NULL;
        if (ok) {
            sqlite3_bind_int64(st, 1, created);
            sqlite3_bind_int64(st, 2, conversation_id);
            ok = step_done(self, st, error, "cannot touch the conversation");
        }
    }
    if (ok)
        ok = commit(self, error);
    else
        rollback(self);
    g_mutex_unlock(&self->lock);
    return ok ? id : 0;
}

gboolean herd_store_update_message_text(HerdStore *self, gint64 message_id, const char *text,
                                        GError **error)
{
    g_return_val_if_fail(HERD_IS_STORE(self) && text, FALSE);
    g_mutex_lock(&self->lock);
    gboolean ok = FALSE;
    sqlite3_stmt *st = prepare(self, "UPDATE messages SET text = ? WHERE id = ?", error);
    if (st) {
        bind_text(st, 1, text);
        sqlite3_bind_int64(st, 2, message_id);
        ok = update_one(self, st, message_id, "message", error);
    }
    g_mutex_unlock(&self->lock);
    return ok;
}

gboolean herd_store_set_message_state(HerdStore *self, gint64 message_id, HerdMessageState state,
                                      const char *error_text, GError **error)
{
    return herd_store_finish_message(self, message_id, NULL, state, error_text, NULL, NULL, error);
}

gboolean herd_store_finish_message(HerdStore *self, gint64 message_id, const char *text,
                                   HerdMessageState state, const char *error_text,
                                   const char *model, const HerdMessageStats *stats, GError **error)
{
    g_return_val_if_fail(HERD_IS_STORE(self), FALSE);
    g_mutex_lock(&self->lock);
    gboolean ok = FALSE;
    sqlite3_stmt *st =
        prepare(self,
                "UPDATE messages SET text = coalesce(?1, text), state = ?2, error = ?3,"
                " n_prompt_tokens = CASE WHEN ?4 THEN ?5 ELSE n_prompt_tokens END,"
                " n_gen_tokens = CASE WHEN ?4 THEN ?6 ELSE n_gen_tokens END,"
                " ttft_ms = CASE WHEN ?4 THEN ?7 ELSE ttft_ms END,"
                " tokens_per_s = CASE WHEN ?4 THEN ?8 ELSE tokens_per_s END,"
                " model = coalesce(?10, model)"
                " WHERE id = ?9",
                error);
    if (st) {
        bind_text(st, 1, text);
        bind_text(st, 2, herd_message_state_to_nick(state));
        bind_text(st, 3, error_text);
        sqlite3_bind_int(st, 4, stats != NULL);
        sqlite3_bind_int(st, 5, stats ? stats->n_prompt_tokens : 0);
        sqlite3_bind_int(st, 6, stats ? stats->n_gen_tokens : 0);
        sqlite3_bind_double(st, 7, stats ? stats->ttft_ms : 0);
        sqlite3_bind_double(st, 8, stats ? stats->tokens_per_s : 0);
        sqlite3_bind_int64(st, 9, message_id);
        bind_text(st, 10, model);
        ok = update_one(self, st, message_id, "message", error);
    }
    g_mutex_unlock(&self->lock);
    return ok;
}

#define MSG_COLUMNS                                                            \
    "id, conversation_id, role, text, state, created, model, sampling, error," \
    " n_prompt_tokens, n_gen_tokens, ttft_ms, tokens_per_s"

static HerdStoreMessage *read_message(sqlite3_stmt *st)
{
    HerdStoreMessage *m = g_new0(HerdStoreMessage, 1);
    m->id = sqlite3_column_int64(st, 0);
    m->conversation_id = sqlite3_column_int64(st, 1);
    if (!herd_message_role_from_nick((const char *)sqlite3_column_text(st, 2), &m->role))
        m->role = HERD_MESSAGE_ROLE_USER;
    m->text = col_text(st, 3);
    if (!m->text)
        m->text = g_strdup("");
    if (!herd_message_state_from_nick((const char *)sqlite3_column_text(st, 4), &m->state))
        m->state = HERD_MESSAGE_STATE_ERROR;
    m->created = sqlite3_column_int64(st, 5);
    m->model = col_text(st, 6);
    m->sampling_json = col_text(st, 7);
    m->error_text = col_text(st, 8);
    m->stats.n_prompt_tokens = sqlite3_column_int(st, 9);
    m->stats.n_gen_tokens = sqlite3_column_int(st, 10);
    m->stats.ttft_ms = sqlite3_column_double(st, 11);
    m->stats.tokens_per_s = sqlite3_column_double(st, 12);
    m->images = g_ptr_array_new_with_free_func((GDestroyNotify)herd_store_image_free);
    return m;
}

/* Fills m->images for every message in msgs (caller holds the lock). */
static gboolean load_images(HerdStore *self, GPtrArray *msgs, const char *where, gint64 key,
                            GError **error)
{
    g_autofree char *sql = g_strdup_printf(
        "SELECT i.message_id, i.position, i.file, i.sha256, i.original_name, i.width, i.height,"
        " i.mime, i.size FROM images i JOIN messages m ON m.id = i.message_id WHERE %s"
        " ORDER BY i.message_id, i.position",
        where);
    sqlite3_stmt *st = prepare(self, sql, error);
    if (!st)
        return FALSE;
    sqlite3_bind_int64(st, 1, key);
    GHashTable *by_id = g_hash_table_new(g_int64_hash, g_int64_equal);
    for (guint i = 0; i < msgs->len; i++) {
        HerdStoreMessage *m = msgs->pdata[i];
        g_hash_table_insert(by_id, &m->id, m);
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        gint64 mid = sqlite3_column_int64(st, 0);
        HerdStoreMessage *m = g_hash_table_lookup(by_id, &mid);
        if (!m)
            continue;
        HerdStoreImage *img = g_new0(HerdStoreImage, 1);
        img->message_id = mid;
        img->position = sqlite3_column_int(st, 1);
        img->path =
            g_build_filename(self->images_dir, (const char *)sqlite3_column_text(st, 2), NULL);
        img->sha256 = col_text(st, 3);
        img->original_name = col_text(st, 4);
        img->width = sqlite3_column_int(st, 5);
        img->height = sqlite3_column_int(st, 6);
        img->mime = col_text(st, 7);
        img->size = sqlite3_column_int64(st, 8);
        g_ptr_array_add(m->images, img);
    }
    g_hash_table_destroy(by_id);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return sql_error(self, error, "cannot read images");
    return TRUE;
}

HerdStoreMessage *herd_store_get_message(HerdStore *self, gint64 message_id, GError **error)
{
    g_return_val_if_fail(HERD_IS_STORE(self), NULL);
    g_mutex_lock(&self->lock);
    g_autoptr(GPtrArray) msgs =
        g_ptr_array_new_with_free_func((GDestroyNotify)herd_store_message_free);
    sqlite3_stmt *st = prepare(self, "SELECT " MSG_COLUMNS " FROM messages WHERE id = ?", error);
    HerdStoreMessage *out = NULL;
    if (st) {
        sqlite3_bind_int64(st, 1, message_id);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            g_ptr_array_add(msgs, read_message(st));
        else if (rc == SQLITE_DONE)
            g_set_error(error, HERD_STORE_ERROR, HERD_STORE_ERROR_NOT_FOUND,
                        "no message %" G_GINT64_FORMAT " in %s", message_id, self->path);
        else
            sql_error(self, error, "cannot read a message");
        sqlite3_finalize(st);
        if (msgs->len && load_images(self, msgs, "m.id = ?", message_id, error))
            out = g_ptr_array_steal_index(msgs, 0);
    }
    g_mutex_unlock(&self->lock);
    return out;
}

GPtrArray *herd_store_load_messages(HerdStore *self, gint64 conversation_id, GError **error)
{
    g_return_val_if_fail(HERD_IS_STORE(self), NULL);
    g_mutex_lock(&self->lock);
    GPtrArray *msgs = g_ptr_array_new_with_free_func((GDestroyNotify)herd_store_message_free);
    sqlite3_stmt *st = prepare(self,
                               "SELECT " MSG_COLUMNS " FROM messages WHERE conversation_id = ?"
                               " ORDER BY id",
                               error);
    gboolean ok = st != NULL;
    if (ok) {
        sqlite3_bind_int64(st, 1, conversation_id);
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            g_ptr_array_add(msgs, read_message(st));
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE)
            ok = sql_error(self, error, "cannot read messages");
    }
    if (ok)
        ok = load_images(self, msgs, "m.conversation_id = ?", conversation_id, error);
    g_mutex_unlock(&self->lock);
    if (!ok)
        g_clear_pointer(&msgs, g_ptr_array_unref);
    return msgs;
}

/* ---- images ---- */

static const char *ext_for_mime(const char *mime)
{
    static const struct {
        const char *mime, *ext;
    } map[] = {
        { "image/png", "png" },   { "image/jpeg", "jpg" }, { "image/gif", "gif" },
        { "image/webp", "webp" }, { "image/bmp", "bmp" },  { "image/tiff", "tiff" },
    };
    for (guint i = 0; i < G_N_ELEMENTS(map); i++)
        if (g_strcmp0(mime, map[i].mime) == 0)
            return map[i].ext;
    return "bin";
}

static char *guess_mime(const char *name, GBytes *data)
{
    gsize len;
    const guchar *p = g_bytes_get_data(data, &len);
    if (len >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0)
        return g_strdup("image/png");
    if (len >= 3 && memcmp(p, "\xff\xd8\xff", 3) == 0)
        return g_strdup("image/jpeg");
    gboolean uncertain;
    g_autofree char *ct = g_content_type_guess(name, p, len, &uncertain);
    char *mime = ct ? g_content_type_get_mime_type(ct) : NULL;
    return mime ? mime : g_strdup("application/octet-stream");
}

/* Writes data to images_dir/<file> unless a file of that name (same hash) is there already;
 * via a temporary file and rename so a crash never leaves a half-written image under the
 * final name. */
static gboolean write_image_file(HerdStore *self, const char *file, GBytes *data, GError **error)
{
    g_autofree char *dest = g_build_filename(self->images_dir, file, NULL);
    gsize len;
    const char *p = g_bytes_get_data(data, &len);
    GStatBuf sb;
    if (g_stat(dest, &sb) == 0 && (gsize)sb.st_size == len)
        return TRUE;
    GError *e = NULL;
    if (!g_file_set_contents_full(dest, p, (gssize)len, G_FILE_SET_CONTENTS_CONSISTENT, 0600, &e)) {
        g_set_error(error, HERD_STORE_ERROR, HERD_STORE_ERROR_IO, "cannot store image: %s",
                    e->message);
        g_error_free(e);
        return FALSE;
    }
    return TRUE;
}

gint64 herd_store_add_image_bytes(HerdStore *self, gint64 message_id, gint position, GBytes *data,
                                  const char *original_name, gint width, gint height,
                                  const char *mime, GError **error)
{
    g_return_val_if_fail(HERD_IS_STORE(self) && data, 0);
    if (position < 0 || width < 0 || height < 0) {
        g_set_error(error, HERD_STORE_ERROR, HERD_STORE_ERROR_INVALID,
                    "bad image position or size");
        return 0;
    }
    gsize len;
    const guchar *p = g_bytes_get_data(data, &len);
    g_autofree char *sha = g_compute_checksum_for_data(G_CHECKSUM_SHA256, p, len);
    g_autofree char *m = mime ? g_strdup(mime) : guess_mime(original_name, data);
    g_autofree char *file = g_strdup_printf("%s.%s", sha, ext_for_mime(m));
    g_mutex_lock(&self->lock);
    gint64 id = 0;
    /* The file first, then the row: a crash between them leaves an unreferenced file. */
    if (write_image_file(self, file, data, error)) {
        sqlite3_stmt *st = prepare(self,
                                   "INSERT INTO images (message_id, position, file, sha256,"
                                   " original_name, width, height, mime, size)"
                                   " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                   error);
        if (st) {
            sqlite3_bind_int64(st, 1, message_id);
            sqlite3_bind_int(st, 2, position);
            bind_text(st, 3, file);
            bind_text(st, 4, sha);
            bind_text(st, 5, original_name);
            sqlite3_bind_int(st, 6, width);
            sqlite3_bind_int(st, 7, height);
            bind_text(st, 8, m);
            sqlite3_bind_int64(st, 9, (gint64)len);
            int rc = sqlite3_step(st);
            sqlite3_finalize(st);
            if (rc == SQLITE_DONE)
                id = sqlite3_last_insert_rowid(self->db);
            else if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
                g_set_error(error, HERD_STORE_ERROR, HERD_STORE_ERROR_NOT_FOUND,
                            "no message %" G_GINT64_FORMAT " in %s", message_id, self->path);
            else
                sql_error(self, error, "cannot add an image");
        }
    }
    g_mutex_unlock(&self->lock);
    return id;
}

gint64 herd_store_add_image_file(HerdStore *self, gint64 message_id, gint position,
                                 const char *path, const char *original_name, gint width,
                                 gint height, const char *mime, GError **error)
{
    g_return_val_if_fail(HERD_IS_STORE(self) && path, 0);
    g_autoptr(GMappedFile) mf = NULL;
    GError *e = NULL;
    mf = g_mapped_file_new(path, FALSE, &e);
    if (!mf) {
        g_set_error(error, HERD_STORE_ERROR, HERD_STORE_ERROR_IO, "cannot read image: %s",
                    e->message);
        g_error_free(e);
        return 0;
    }
    g_autoptr(GBytes) data = g_mapped_file_get_bytes(mf);
    g_autofree char *base = g_path_get_basename(path);
    return herd_store_add_image_bytes(self, message_id, position, data,
                                      original_name ? original_name : base, width, height, mime,
                                      error);
}
