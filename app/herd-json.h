/* herd-json.h: a small JSON tree, parser and writer for the export/import format and the
 * settings columns (Debian 12 has json-glib, but the core keeps to GLib + SQLite).
 * Objects keep their keys in insertion order, so writing is deterministic. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
    HERD_JSON_NULL,
    HERD_JSON_BOOL,
    HERD_JSON_NUMBER,
    HERD_JSON_STRING,
    HERD_JSON_ARRAY,
    HERD_JSON_OBJECT,
} HerdJsonType;

typedef struct _HerdJson HerdJson;

#define HERD_JSON_ERROR (herd_json_error_quark())
GQuark herd_json_error_quark(void);
enum { HERD_JSON_ERROR_PARSE };

#define HERD_JSON_MAX_DEPTH 128

/* Parses a whole document (trailing garbage is an error). len < 0: NUL-terminated. */
HerdJson *herd_json_parse(const char *text, gssize len, GError **error);
void herd_json_free(HerdJson *node);
HerdJson *herd_json_copy(const HerdJson *node);

HerdJson *herd_json_new_null(void);
HerdJson *herd_json_new_bool(gboolean value);
HerdJson *herd_json_new_number(double value);
HerdJson *herd_json_new_string(const char *value); /* NULL gives a JSON null */
HerdJson *herd_json_new_array(void);
HerdJson *herd_json_new_object(void);

/* Take ownership of value; object_set replaces an existing key. */
void herd_json_array_add(HerdJson *array, HerdJson *value);
void herd_json_object_set(HerdJson *object, const char *key, HerdJson *value);

HerdJsonType herd_json_get_type(const HerdJson *node);
/* NULL when node is not an object or has no such key. */
HerdJson *herd_json_object_get(const HerdJson *object, const char *key);
guint herd_json_object_size(const HerdJson *object);
const char *herd_json_object_key(const HerdJson *object, guint index);
guint herd_json_array_length(const HerdJson *array);
HerdJson *herd_json_array_get(const HerdJson *array, guint index);
/* Typed reads: return the fallback when node is NULL or of another type. */
const char *herd_json_get_string(const HerdJson *node, const char *fallback);
double herd_json_get_number(const HerdJson *node, double fallback);
gboolean herd_json_get_bool(const HerdJson *node, gboolean fallback);

/* Appends the serialization; pretty = 2-space indentation and a newline per member. */
void herd_json_write(const HerdJson *node, GString *out, gboolean pretty);
char *herd_json_to_string(const HerdJson *node, gboolean pretty);
/* Appends a JSON string literal (quotes included). */
void herd_json_write_string(GString *out, const char *s);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(HerdJson, herd_json_free)

G_END_DECLS
