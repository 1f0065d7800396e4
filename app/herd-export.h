/* herd-export.h: a stored conversation as Markdown (with a sibling image folder), as complete
 * JSON (schema "herd-conversation/1", importable), or as one self-contained HTML file; and
 * JSON import back into the store.
 *
 * JSON layout (docs: this header is the reference):
 *   { "schema": "herd-conversation/1", "generator": "Herd <version>",
 *     "conversation": { "title", "created", "updated" (ISO 8601 UTC, microseconds),
 *                       "pinned", "model_name", "model_path", "settings" (object|null) },
 *     "messages": [ { "role": "system|user|assistant", "text",
 *                     "state": "complete|streaming|interrupted|error", "created", "model",
 *                     "error", "sampling" (object|null),
 *                     "stats": { "n_prompt_tokens", "n_gen_tokens", "ttft_ms", "tokens_per_s" },
 *                     "images": [ { "name", "mime", "width", "height", "size", "sha256",
 *                                   "data" (base64) } ] } ] }
 * No database ids or local paths are written, so export → import → export gives the same
 * bytes apart from "generator". */
#pragma once

#include "herd-store.h"

G_BEGIN_DECLS

#define HERD_EXPORT_JSON_SCHEMA "herd-conversation/1"

#define HERD_EXPORT_ERROR (herd_export_error_quark())
GQuark herd_export_error_quark(void);
typedef enum {
    HERD_EXPORT_ERROR_IO,      /* cannot write/read a file */
    HERD_EXPORT_ERROR_FORMAT,  /* import: not JSON, wrong schema, bad field */
    HERD_EXPORT_ERROR_MARKDOWN /* md4c failed to render */
} HerdExportError;

/* Writes path (e.g. "chat.md") and, when the conversation has images, copies them into
 * "<stem>_files/" beside it (stem = path's basename without ".md"), linked relatively. */
gboolean herd_export_markdown_file(HerdStore *store, gint64 conversation_id, const char *path,
                                   GError **error);
char *herd_export_json(HerdStore *store, gint64 conversation_id, GError **error);
gboolean herd_export_json_file(HerdStore *store, gint64 conversation_id, const char *path,
                               GError **error);
/* One HTML5 file (XHTML-style syntax, so it is also well-formed XML): CSS inline, images as
 * data: URIs, message Markdown rendered by md4c with raw HTML disabled. */
char *herd_export_html(HerdStore *store, gint64 conversation_id, GError **error);
gboolean herd_export_html_file(HerdStore *store, gint64 conversation_id, const char *path,
                               GError **error);

/* Creates a new conversation from a herd-conversation/1 document (images are stored like
 * attachments; a sha256 that does not match the data is an error). Nothing is written unless
 * the whole document is valid. Returns the new conversation id, 0 on error. */
gint64 herd_import_json(HerdStore *store, const char *json, gssize len, GError **error);
gint64 herd_import_json_file(HerdStore *store, const char *path, GError **error);

/* A file name from a title: no '/', no leading dot, control characters dropped, at most 80
 * characters, "conversation" when empty; ext (without the dot) appended. */
char *herd_export_filename(const char *title, const char *ext);

G_END_DECLS
