/* herd-export.c: Markdown, JSON and HTML export; JSON import. */
#define G_LOG_DOMAIN "Herd"

#include "herd-config.h"
#include "herd-export.h"

#include "herd-json.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <md4c-html.h>
#include <string.h>

G_DEFINE_QUARK(herd - export - error - quark, herd_export_error)

typedef struct {
    HerdStoreConversation *conv;
    GPtrArray *messages; /* HerdStoreMessage* */
} Loaded;

static void loaded_clear(Loaded *l)
{
    herd_store_conversation_free(l->conv);
    if (l->messages)
        g_ptr_array_unref(l->messages);
}

static gboolean load(HerdStore *store, gint64 id, Loaded *out, GError **error)
{
    out->conv = herd_store_get_conversation(store, id, error);
    if (!out->conv)
        return FALSE;
    out->messages = herd_store_load_messages(store, id, error);
    return out->messages != NULL;
}

static gboolean write_file(const char *path, const char *data, gsize len, GError **error)
{
    GError *e = NULL;
    if (!g_file_set_contents_full(path, data, (gssize)len, G_FILE_SET_CONTENTS_CONSISTENT, 0644,
                                  &e)) {
        g_set_error(error, HERD_EXPORT_ERROR, HERD_EXPORT_ERROR_IO, "%s", e->message);
        g_error_free(e);
        return FALSE;
    }
    return TRUE;
}

static char *iso8601(gint64 usec)
{
    g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(usec / G_USEC_PER_SEC);
    if (!dt)
        return g_strdup("1970-01-01T00:00:00.000000Z");
    g_autoptr(GDateTime) dt2 = g_date_time_add(dt, usec % G_USEC_PER_SEC);
    return g_date_time_format(dt2, "%Y-%m-%dT%H:%M:%S.%fZ");
}

static gboolean parse_iso8601(const char *s, gint64 *out)
{
    if (!s)
        return FALSE;
    g_autoptr(GDateTime) dt = g_date_time_new_from_iso8601(s, NULL);
    if (!dt)
        return FALSE;
    *out = g_date_time_to_unix(dt) * G_USEC_PER_SEC + g_date_time_get_microsecond(dt);
    return TRUE;
}

static const char *role_title(HerdMessageRole role)
{
    switch (role) {
    case HERD_MESSAGE_ROLE_SYSTEM:
        return "System";
    case HERD_MESSAGE_ROLE_USER:
        return "User";
    case HERD_MESSAGE_ROLE_ASSISTANT:
        return "Assistant";
    }
    return "User";
}

static char *stats_line(const HerdStoreMessage *m)
{
    if (m->stats.n_gen_tokens <= 0)
        return NULL;
    return g_strdup_printf(
        "%d prompt tokens · %d tokens · %.1f tokens/s · first token after %.0f ms",
        m->stats.n_prompt_tokens, m->stats.n_gen_tokens, m->stats.tokens_per_s, m->stats.ttft_ms);
}

char *herd_export_filename(const char *title, const char *ext)
{
    GString *s = g_string_new(NULL);
    for (const char *p = title ? title : ""; *p && g_utf8_strlen(s->str, -1) < 80;
         p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char_validated(p, -1);
        if (c == (gunichar)-1 || c == (gunichar)-2)
            break;
        if (c == '/' || c == '\\' || g_unichar_iscntrl(c) ||
            (s->len == 0 && (c == '.' || c == ' ')))
            continue;
        g_string_append_unichar(s, c == ':' ? '-' : c);
    }
    while (s->len && s->str[s->len - 1] == ' ')
        g_string_truncate(s, s->len - 1);
    if (!s->len)
        g_string_assign(s, "conversation");
    if (ext && *ext)
        g_string_append_printf(s, ".%s", ext);
    return g_string_free(s, FALSE);
}

/* ---- Markdown ---- */

static void md_escape_inline(GString *out, const char *s)
{
    for (const char *p = s; *p; p++) {
        if (strchr("\\`*_[]<>#!|", *p))
            g_string_append_c(out, '\\');
        g_string_append_c(out, *p);
    }
}

gboolean herd_export_markdown_file(HerdStore *store, gint64 conversation_id, const char *path,
                                   GError **error)
{
    g_return_val_if_fail(HERD_IS_STORE(store) && path, FALSE);
    Loaded l = { 0 };
    gboolean ok = load(store, conversation_id, &l, error);
    if (!ok) {
        loaded_clear(&l);
        return FALSE;
    }
    g_autofree char *dir = g_path_get_dirname(path);
    g_autofree char *base = g_path_get_basename(path);
    if (g_str_has_suffix(base, ".md"))
        base[strlen(base) - 3] = '\0';
    g_autofree char *files_name = g_strconcat(base, "_files", NULL);
    g_autofree char *files_dir = g_build_filename(dir, files_name, NULL);

    GString *md = g_string_new("# ");
    md_escape_inline(md, l.conv->title[0] ? l.conv->title : "Conversation");
    g_autofree char *created = iso8601(l.conv->created);
    g_string_append_printf(md, "\n\n*Exported from Herd. Started %.10s %.5s UTC", created,
                           created + 11);
    if (l.conv->model_name) {
        g_string_append(md, ", model ");
        md_escape_inline(md, l.conv->model_name);
    }
    g_string_append(md, ".*\n");

    for (guint i = 0; ok && i < l.messages->len; i++) {
        HerdStoreMessage *m = l.messages->pdata[i];
        g_string_append_printf(md, "\n## %s\n\n", role_title(m->role));
        for (guint k = 0; ok && k < m->images->len; k++) {
            HerdStoreImage *img = m->images->pdata[k];
            g_autofree char *file = g_path_get_basename(img->path);
            g_autofree char *dest = g_build_filename(files_dir, file, NULL);
            if (g_mkdir_with_parents(files_dir, 0755) != 0) {
                int e = errno;
                g_set_error(error, HERD_EXPORT_ERROR, HERD_EXPORT_ERROR_IO, "cannot create %s: %s",
                            files_dir, g_strerror(e));
                ok = FALSE;
                break;
            }
            g_autofree char *data = NULL;
            gsize len = 0;
            GError *e = NULL;
            if (!g_file_get_contents(img->path, &data, &len, &e)) {
                g_set_error(error, HERD_EXPORT_ERROR, HERD_EXPORT_ERROR_IO, "%s", e->message);
                g_error_free(e);
                ok = FALSE;
                break;
            }
            ok = write_file(dest, data, len, error);
            g_autofree char *rel = g_build_filename(files_name, file, NULL);
            g_autofree char *url = g_uri_escape_string(rel, "/", FALSE);
            g_string_append(md, "![");
            md_escape_inline(md, img->original_name ? img->original_name : file);
            g_string_append_printf(md, "](%s)\n\n", url);
        }
        g_string_append(md, m->text);
        if (m->text[0] && m->text[strlen(m->text) - 1] != '\n')
            g_string_append_c(md, '\n');
        if (m->state == HERD_MESSAGE_STATE_INTERRUPTED || m->state == HERD_MESSAGE_STATE_STREAMING)
            g_string_append(md, "\n*(answer interrupted)*\n");
        else if (m->state == HERD_MESSAGE_STATE_ERROR) {
            g_string_append(md, "\n*(error: ");
            md_escape_inline(md, m->error_text ? m->error_text : "unknown");
            g_string_append(md, ")*\n");
        }
        g_autofree char *stats = stats_line(m);
        if (stats)
            g_string_append_printf(md, "\n<sub>%s</sub>\n", stats);
    }
    if (ok)
        ok = write_file(path, md->str, md->len, error);
    g_string_free(md, TRUE);
    loaded_clear(&l);
    return ok;
}

/* ---- JSON ---- */

static HerdJson *json_or_string(const char *text)
{
    if (!text)
        return herd_json_new_null();
    HerdJson *j = herd_json_parse(text, -1, NULL);
    return j ? j : herd_json_new_string(text); /* keep unparsable settings as they were */
}

static HerdJson *json_time(gint64 usec)
{
    g_autofree char *s = iso8601(usec);
    return herd_json_new_string(s);
}

static HerdJson *build_json(const Loaded *l, GError **error)
{
    HerdJson *root = herd_json_new_object();
    herd_json_object_set(root, "schema", herd_json_new_string(HERD_EXPORT_JSON_SCHEMA));
    herd_json_object_set(root, "generator", herd_json_new_string("Herd " HERD_VERSION));
    HerdJson *c = herd_json_new_object();
    herd_json_object_set(c, "title", herd_json_new_string(l->conv->title));
    herd_json_object_set(c, "created", json_time((l->conv->created)));
    herd_json_object_set(c, "updated", json_time((l->conv->updated)));
    herd_json_object_set(c, "pinned", herd_json_new_bool(l->conv->pinned));
    herd_json_object_set(c, "model_name", herd_json_new_string(l->conv->model_name));
    herd_json_object_set(c, "model_path", herd_json_new_string(l->conv->model_path));
    herd_json_object_set(c, "settings", json_or_string(l->conv->settings_json));
    herd_json_object_set(root, "conversation", c);
    HerdJson *msgs = herd_json_new_array();
    herd_json_object_set(root, "messages", msgs);
    for (guint i = 0; i < l->messages->len; i++) {
        HerdStoreMessage *m = l->messages->pdata[i];
        HerdJson *o = herd_json_new_object();
        herd_json_object_set(o, "role", herd_json_new_string(herd_message_role_to_nick(m->role)));
        herd_json_object_set(o, "text", herd_json_new_string(m->text));
        herd_json_object_set(o, "state",
                             herd_json_new_string(herd_message_state_to_nick(m->state)));
        herd_json_object_set(o, "created", json_time((m->created)));
        herd_json_object_set(o, "model", herd_json_new_string(m->model));
        herd_json_object_set(o, "error", herd_json_new_string(m->error_text));
        herd_json_object_set(o, "sampling", json_or_string(m->sampling_json));
        HerdJson *st = herd_json_new_object();
        herd_json_object_set(st, "n_prompt_tokens", herd_json_new_number(m->stats.n_prompt_tokens));
        herd_json_object_set(st, "n_gen_tokens", herd_json_new_number(m->stats.n_gen_tokens));
        herd_json_object_set(st, "ttft_ms", herd_json_new_number(m->stats.ttft_ms));
        herd_json_object_set(st, "tokens_per_s", herd_json_new_number(m->stats.tokens_per_s));
        herd_json_object_set(o, "stats", st);
        HerdJson *imgs = herd_json_new_array();
        for (guint k = 0; k < m->images->len; k++) {
            HerdStoreImage *img = m->images->pdata[k];
            g_autofree char *data = NULL;
            gsize len = 0;
            GError *e = NULL;
            if (!g_file_get_contents(img->path, &data, &len, &e)) {
                g_set_error(error, HERD_EXPORT_ERROR, HERD_EXPORT_ERROR_IO, "%s", e->message);
                g_error_free(e);
                herd_json_free(o);
                herd_json_free(imgs);
                herd_json_free(root);
                return NULL;
            }
            HerdJson *io = herd_json_new_object();
            herd_json_object_set(io, "name", herd_json_new_string(img->original_name));
            herd_json_object_set(io, "mime", herd_json_new_string(img->mime));
            herd_json_object_set(io, "width", herd_json_new_number(img->width));
            herd_json_object_set(io, "height", herd_json_new_number(img->height));
            herd_json_object_set(io, "size", herd_json_new_number((double)len));
            herd_json_object_set(io, "sha256", herd_json_new_string(img->sha256));
            g_autofree char *b64 = g_base64_encode((const guchar *)data, len);
            herd_json_object_set(io, "data", herd_json_new_string(b64));
            herd_json_array_add(imgs, io);
        }
        herd_json_object_set(o, "images", imgs);
        herd_json_array_add(msgs, o);
    }
    return root;
}

char *herd_export_json(HerdStore *store, gint64 conversation_id, GError **error)
{
    g_return_val_if_fail(HERD_IS_STORE(store), NULL);
    Loaded l = { 0 };
    char *out = NULL;
    if (load(store, conversation_id, &l, error)) {
        g_autoptr(HerdJson) root = build_json(&l, error);
        if (root)
            out = herd_json_to_string(root, TRUE);
    }
    loaded_clear(&l);
    return out;
}

gboolean herd_export_json_file(HerdStore *store, gint64 conversation_id, const char *path,
                               GError **error)
{
    g_autofree char *json = herd_export_json(store, conversation_id, error);
    return json && write_file(path, json, strlen(json), error);
}

/* ---- import ---- */

typedef struct {
    HerdStoreMessage msg;
    GPtrArray *images; /* ImportImage* */
} ImportMessage;

typedef struct {
    GBytes *data;
    char *name, *mime;
    gint width, height;
} ImportImage;

static void import_image_free(ImportImage *ii)
{
    g_bytes_unref(ii->data);
    g_free(ii->name);
    g_free(ii->mime);
    g_free(ii);
}

static void import_message_free(ImportMessage *im)
{
    g_free(im->msg.text);
    g_free(im->msg.model);
    g_free(im->msg.sampling_json);
    g_free(im->msg.error_text);
    g_ptr_array_unref(im->images);
    g_free(im);
}

static gboolean bad(GError **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static gboolean bad(GError **error, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(error, HERD_EXPORT_ERROR, HERD_EXPORT_ERROR_FORMAT, "import: %s", msg);
    return FALSE;
}

/* Optional string field: NULL/absent -> NULL; another type -> error. */
static gboolean opt_string(const HerdJson *obj, const char *key, char **out, GError **error)
{
    HerdJson *v = herd_json_object_get(obj, key);
    *out = NULL;
    if (!v || herd_json_get_type(v) == HERD_JSON_NULL)
        return TRUE;
    if (herd_json_get_type(v) != HERD_JSON_STRING)
        return bad(error, "\"%s\" is not a string", key);
    *out = g_strdup(herd_json_get_string(v, NULL));
    return TRUE;
}

static gboolean opt_json_text(const HerdJson *obj, const char *key, char **out, GError **error)
{
    HerdJson *v = herd_json_object_get(obj, key);
    *out = NULL;
    if (!v || herd_json_get_type(v) == HERD_JSON_NULL)
        return TRUE;
    if (herd_json_get_type(v) == HERD_JSON_STRING)
        *out = g_strdup(herd_json_get_string(v, NULL));
    else if (herd_json_get_type(v) == HERD_JSON_OBJECT)
        *out = herd_json_to_string(v, FALSE);
    else
        return bad(error, "\"%s\" is neither an object nor a string", key);
    return TRUE;
}

static gboolean opt_int(const HerdJson *obj, const char *key, gint *out, GError **error)
{
    double d = herd_json_get_number(herd_json_object_get(obj, key), 0);
    if (d < 0 || d > G_MAXINT || d != (gint)d)
        return bad(error, "\"%s\" is not a count", key);
    *out = (gint)d;
    return TRUE;
}

static gboolean req_time(const HerdJson *obj, const char *key, gint64 *out, GError **error)
{
    const char *s = herd_json_get_string(herd_json_object_get(obj, key), NULL);
    if (!parse_iso8601(s, out))
        return bad(error, "\"%s\" is not an ISO 8601 time", key);
    return TRUE;
}

static ImportMessage *parse_message(const HerdJson *o, guint index, GError **error)
{
    if (herd_json_get_type(o) != HERD_JSON_OBJECT)
        return bad(error, "message %u is not an object", index), NULL;
    ImportMessage *im = g_new0(ImportMessage, 1);
    im->images = g_ptr_array_new_with_free_func((GDestroyNotify)import_image_free);
    const char *role = herd_json_get_string(herd_json_object_get(o, "role"), NULL);
    const char *state = herd_json_get_string(herd_json_object_get(o, "state"), "complete");
    const char *text = herd_json_get_string(herd_json_object_get(o, "text"), NULL);
    const HerdJson *stats = herd_json_object_get(o, "stats");
    const HerdJson *imgs = herd_json_object_get(o, "images");
    if (!herd_message_role_from_nick(role, &im->msg.role)) {
        bad(error, "message %u has no valid role", index);
        goto fail;
    }
    if (!herd_message_state_from_nick(state, &im->msg.state)) {
        bad(error, "message %u has an unknown state", index);
        goto fail;
    }
    if (!text) {
        bad(error, "message %u has no text", index);
        goto fail;
    }
    im->msg.text = g_strdup(text);
    if (!req_time(o, "created", &im->msg.created, error) ||
        !opt_string(o, "model", &im->msg.model, error) ||
        !opt_string(o, "error", &im->msg.error_text, error) ||
        !opt_json_text(o, "sampling", &im->msg.sampling_json, error))
        goto fail;
    if (stats) {
        if (!opt_int(stats, "n_prompt_tokens", &im->msg.stats.n_prompt_tokens, error) ||
            !opt_int(stats, "n_gen_tokens", &im->msg.stats.n_gen_tokens, error))
            goto fail;
        im->msg.stats.ttft_ms = herd_json_get_number(herd_json_object_get(stats, "ttft_ms"), 0);
        im->msg.stats.tokens_per_s =
            herd_json_get_number(herd_json_object_get(stats, "tokens_per_s"), 0);
    }
    if (imgs && herd_json_get_type(imgs) != HERD_JSON_ARRAY) {
        bad(error, "message %u: \"images\" is not an array", index);
        goto fail;
    }
    for (guint k = 0; k < herd_json_array_length(imgs); k++) {
        const HerdJson *io = herd_json_array_get(imgs, k);
        const char *b64 = herd_json_get_string(herd_json_object_get(io, "data"), NULL);
        const char *sha = herd_json_get_string(herd_json_object_get(io, "sha256"), NULL);
        if (!b64) {
            bad(error, "message %u image %u has no data", index, k);
            goto fail;
        }
        gsize len = 0;
        guchar *raw = g_base64_decode(b64, &len);
        GBytes *bytes = g_bytes_new_take(raw, len);
        g_autofree char *digest = g_compute_checksum_for_bytes(G_CHECKSUM_SHA256, bytes);
        if (sha && g_ascii_strcasecmp(sha, digest) != 0) {
            g_bytes_unref(bytes);
            bad(error, "message %u image %u: data does not match its sha256", index, k);
            goto fail;
        }
        ImportImage *ii = g_new0(ImportImage, 1);
        ii->data = bytes;
        g_ptr_array_add(im->images, ii);
        if (!opt_string(io, "name", &ii->name, error) ||
            !opt_string(io, "mime", &ii->mime, error) || !opt_int(io, "width", &ii->width, error) ||
            !opt_int(io, "height", &ii->height, error))
            goto fail;
    }
    return im;
fail:
    import_message_free(im);
    return NULL;
}

gint64 herd_import_json(HerdStore *store, const char *json, gssize len, GError **error)
{
    g_return_val_if_fail(HERD_IS_STORE(store) && json, 0);
    GError *e = NULL;
    g_autoptr(HerdJson) root = herd_json_parse(json, len, &e);
    if (!root) {
        bad(error, "%s", e->message);
        g_error_free(e);
        return 0;
    }
    const char *schema = herd_json_get_string(herd_json_object_get(root, "schema"), NULL);
    if (g_strcmp0(schema, HERD_EXPORT_JSON_SCHEMA) != 0)
        return bad(error, "schema is \"%s\", expected \"%s\"", schema ? schema : "(none)",
                   HERD_EXPORT_JSON_SCHEMA),
               0;
    const HerdJson *c = herd_json_object_get(root, "conversation");
    const HerdJson *msgs = herd_json_object_get(root, "messages");
    if (herd_json_get_type(c) != HERD_JSON_OBJECT || herd_json_get_type(msgs) != HERD_JSON_ARRAY)
        return bad(error, "\"conversation\" or \"messages\" is missing"), 0;

    /* Validate everything before writing anything. */
    HerdStoreConversation conv = { 0 };
    g_autoptr(GPtrArray) parsed =
        g_ptr_array_new_with_free_func((GDestroyNotify)import_message_free);
    gint64 id = 0;
    if (!opt_string(c, "title", &conv.title, error) ||
        !req_time(c, "created", &conv.created, error) ||
        !req_time(c, "updated", &conv.updated, error) ||
        !opt_string(c, "model_name", &conv.model_name, error) ||
        !opt_string(c, "model_path", &conv.model_path, error) ||
        !opt_json_text(c, "settings", &conv.settings_json, error))
        goto out;
    conv.pinned = herd_json_get_bool(herd_json_object_get(c, "pinned"), FALSE);
    for (guint i = 0; i < herd_json_array_length(msgs); i++) {
        ImportMessage *im = parse_message(herd_json_array_get(msgs, i), i, error);
        if (!im)
            goto out;
        g_ptr_array_add(parsed, im);
    }

    id = herd_store_insert_conversation(store, &conv, error);
    for (guint i = 0; id && i < parsed->len; i++) {
        ImportMessage *im = parsed->pdata[i];
        gint64 mid = herd_store_append_message(store, id, &im->msg, error);
        for (guint k = 0; mid && k < im->images->len; k++) {
            ImportImage *ii = im->images->pdata[k];
            if (!herd_store_add_image_bytes(store, mid, (gint)k, ii->data, ii->name, ii->width,
                                            ii->height, ii->mime, error))
                mid = 0;
        }
        if (!mid) {
            herd_store_delete_conversation(store, id, NULL);
            id = 0;
        }
    }
    if (id && !herd_store_set_conversation_updated(store, id, conv.updated, error)) {
        herd_store_delete_conversation(store, id, NULL);
        id = 0;
    }
out:
    g_free(conv.title);
    g_free(conv.model_name);
    g_free(conv.model_path);
    g_free(conv.settings_json);
    return id;
}

gint64 herd_import_json_file(HerdStore *store, const char *path, GError **error)
{
    g_autofree char *data = NULL;
    gsize len = 0;
    GError *e = NULL;
    if (!g_file_get_contents(path, &data, &len, &e)) {
        g_set_error(error, HERD_EXPORT_ERROR, HERD_EXPORT_ERROR_IO, "%s", e->message);
        g_error_free(e);
        return 0;
    }
    return herd_import_json(store, data, (gssize)len, error);
}

/* ---- HTML ---- */

static const char html_css[] =
    ":root{color-scheme:light dark;--fg:#1e1e1e;--bg:#fafafa;--card:#fff;--muted:#6e6e6e;"
    "--user:#e8f0fe;--border:#ddd;--code:#f2f2f2}"
    "@media (prefers-color-scheme:dark){:root{--fg:#eee;--bg:#1e1e1e;--card:#2a2a2a;"
    "--muted:#aaa;--user:#243447;--border:#444;--code:#333}}"
    "body{margin:0;background:var(--bg);color:var(--fg);"
    "font:16px/1.5 Cantarell,'Noto Sans',system-ui,sans-serif}"
    "header,main{max-width:52rem;margin:0 auto;padding:0 1rem}"
    "header h1{margin:1.5rem 0 .25rem}.meta,.stats,.state{color:var(--muted);font-size:.85em}"
    "article{background:var(--card);border:1px solid var(--border);border-radius:12px;"
    "padding:.5rem 1rem;margin:1rem 0}article.user{background:var(--user)}"
    "article h2{font-size:.8em;text-transform:uppercase;letter-spacing:.05em;"
    "color:var(--muted);margin:.5rem 0}"
    "pre,code{font-family:'Source Code Pro',monospace;background:var(--code);border-radius:6px}"
    "pre{padding:.75rem;overflow-x:auto}code{padding:0 .2em}pre code{padding:0}"
    "table{border-collapse:collapse}td,th{border:1px solid var(--border);padding:.25rem .5rem}"
    "figure{display:inline-block;margin:.25rem .5rem .25rem 0}"
    "figure img{max-width:100%;max-height:24rem;height:auto;border-radius:8px}"
    "figcaption{font-size:.8em;color:var(--muted)}"
    "@media print{body{background:#fff;color:#000}article{break-inside:avoid}}";

static void md_out(const MD_CHAR *text, MD_SIZE size, void *user)
{
    g_string_append_len(user, text, (gssize)size);
}

/* md4c renders Markdown images as <img src="URL" alt="ALT"[ title="T"] />. An image the model
 * wrote would be fetched from wherever it points when the file is opened, so the export would
 * neither be self-contained nor private: such images become plain links. */
static void images_to_links(GString *out, const char *html)
{
    const char *p = html, *img;
    while ((img = strstr(p, "<img src=\""))) {
        const char *url = img + strlen("<img src=\"");
        const char *url_end = strchr(url, '"');
        const char *alt = url_end && g_str_has_prefix(url_end, "\" alt=\"") ? url_end + 7 : NULL;
        const char *alt_end = alt ? strchr(alt, '"') : NULL;
        const char *close = alt_end ? strstr(alt_end, " />") : NULL;
        if (!close) {
            p = img + 1;
            continue;
        }
        g_string_append_len(out, p, img - p);
        g_string_append(out, "<a class=\"image-link\" href=\"");
        g_string_append_len(out, url, url_end - url);
        g_string_append(out, "\">[image: ");
        g_string_append_len(out, alt, alt_end - alt);
        g_string_append(out, "]</a>");
        p = close + 3;
    }
    g_string_append(out, p);
}

static gboolean render_markdown(GString *out, const char *text, GError **error)
{
    unsigned parser_flags = MD_DIALECT_GITHUB | MD_FLAG_NOHTML;
    g_autoptr(GString) html = g_string_new(NULL);
    if (md_html(text, (MD_SIZE)strlen(text), md_out, html, parser_flags,
                MD_HTML_FLAG_XHTML | MD_HTML_FLAG_SKIP_UTF8_BOM) != 0) {
        g_set_error(error, HERD_EXPORT_ERROR, HERD_EXPORT_ERROR_MARKDOWN,
                    "md4c could not render a message");
        return FALSE;
    }
    images_to_links(out, html->str);
    return TRUE;
}

static void append_escaped(GString *out, const char *s)
{
    g_autofree char *e = g_markup_escape_text(s, -1);
    g_string_append(out, e);
}

char *herd_export_html(HerdStore *store, gint64 conversation_id, GError **error)
{
    g_return_val_if_fail(HERD_IS_STORE(store), NULL);
    Loaded l = { 0 };
    if (!load(store, conversation_id, &l, error)) {
        loaded_clear(&l);
        return NULL;
    }
    const char *title = l.conv->title[0] ? l.conv->title : "Conversation";
    GString *h =
        g_string_new("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\" />\n"
                     "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\" />\n"
                     "<meta name=\"generator\" content=\"Herd " HERD_VERSION "\" />\n<title>");
    append_escaped(h, title);
    g_string_append_printf(h, "</title>\n<style>%s</style>\n</head>\n<body>\n<header>\n<h1>",
                           html_css);
    append_escaped(h, title);
    g_autofree char *created = iso8601(l.conv->created);
    g_string_append_printf(
        h, "</h1>\n<p class=\"meta\">Started <time datetime=\"%s\">%.10s %.5s UTC</time>", created,
        created, created + 11);
    if (l.conv->model_name) {
        g_string_append(h, " · model ");
        append_escaped(h, l.conv->model_name);
    }
    g_string_append(h, "</p>\n</header>\n<main>\n");
    gboolean ok = TRUE;
    for (guint i = 0; ok && i < l.messages->len; i++) {
        HerdStoreMessage *m = l.messages->pdata[i];
        g_string_append_printf(h, "<article class=\"message %s\" id=\"message-%u\">\n<h2>%s</h2>\n",
                               herd_message_role_to_nick(m->role), i + 1, role_title(m->role));
        if (m->images->len)
            g_string_append(h, "<div class=\"images\">\n");
        for (guint k = 0; ok && k < m->images->len; k++) {
            HerdStoreImage *img = m->images->pdata[k];
            g_autofree char *data = NULL;
            gsize len = 0;
            GError *e = NULL;
            if (!g_file_get_contents(img->path, &data, &len, &e)) {
                g_set_error(error, HERD_EXPORT_ERROR, HERD_EXPORT_ERROR_IO, "%s", e->message);
                g_error_free(e);
                ok = FALSE;
                break;
            }
            g_autofree char *b64 = g_base64_encode((const guchar *)data, len);
            const char *name = img->original_name ? img->original_name : "image";
            g_string_append(h, "<figure><img src=\"data:");
            append_escaped(h, img->mime);
            g_string_append_printf(h, ";base64,%s\" alt=\"", b64);
            append_escaped(h, name);
            g_string_append_c(h, '"');
            if (img->width > 0 && img->height > 0)
                g_string_append_printf(h, " width=\"%d\" height=\"%d\"", img->width, img->height);
            g_string_append(h, " /><figcaption>");
            append_escaped(h, name);
            g_string_append(h, "</figcaption></figure>\n");
        }
        if (m->images->len)
            g_string_append(h, "</div>\n");
        g_string_append(h, "<div class=\"body\">\n");
        ok = ok && render_markdown(h, m->text, error);
        g_string_append(h, "</div>\n");
        if (m->state == HERD_MESSAGE_STATE_INTERRUPTED || m->state == HERD_MESSAGE_STATE_STREAMING)
            g_string_append(h, "<p class=\"state\">Answer interrupted</p>\n");
        else if (m->state == HERD_MESSAGE_STATE_ERROR) {
            g_string_append(h, "<p class=\"state\">Error: ");
            append_escaped(h, m->error_text ? m->error_text : "unknown");
            g_string_append(h, "</p>\n");
        }
        g_autofree char *stats = stats_line(m);
        if (stats)
            g_string_append_printf(h, "<p class=\"stats\">%s</p>\n", stats);
        g_string_append(h, "</article>\n");
    }
    g_string_append(h, "</main>\n</body>\n</html>\n");
    loaded_clear(&l);
    if (!ok) {
        g_string_free(h, TRUE);
        return NULL;
    }
    return g_string_free(h, FALSE);
}

gboolean herd_export_html_file(HerdStore *store, gint64 conversation_id, const char *path,
                               GError **error)
{
    g_autofree char *html = herd_export_html(store, conversation_id, error);
    return html && write_file(path, html, strlen(html), error);
}
