/* json.h: a small JSON reader for tests (no GLib). Whole document in, tree out.
 *
 *   json_value *v = json_parse_file(path, err, sizeof err);
 *   const json_value *cases = json_get(v, "cases");
 *   for (size_t i = 0; i < json_len(cases); i++) { const json_value *c = json_at(cases, i); ... }
 *   json_free(v);
 *
 * Strings are decoded (escapes, \uXXXX with surrogate pairs -> UTF-8; a lone surrogate becomes
 * U+FFFD), NUL-terminated and also carry their length (they may contain NUL). Numbers are
 * doubles. Nesting is limited to JSON_MAX_DEPTH. Accessors are NULL-safe: a missing key or a
 * wrong type gives NULL / 0.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define JSON_MAX_DEPTH 256

typedef enum json_type {
    JSON_NULL,
    JSON_BOOL,
    JSON_NUMBER,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT,
} json_type;

typedef struct json_value json_value;
struct json_value {
    json_type type;
    bool boolean;
    double number;
    char *str;         /* JSON_STRING */
    size_t len;        /* string length, or number of items */
    json_value *items; /* JSON_ARRAY / JSON_OBJECT values */
    char **keys;       /* JSON_OBJECT keys (NUL-terminated) */
};

/* NULL on error, with a message (with byte offset) in err. */
json_value *json_parse(const char *text, size_t len, char *err, size_t err_size);
json_value *json_parse_file(const char *path, char *err, size_t err_size);
void json_free(json_value *v);

const json_value *json_get(const json_value *obj, const char *key); /* object member */
const json_value *json_at(const json_value *arr, size_t i);         /* array item */
size_t json_len(const json_value *arr);                             /* items; 0 if not array */
const char *json_str(const json_value *v, size_t *len);             /* NULL if not a string */
double json_num(const json_value *v, double fallback);
bool json_bool(const json_value *v, bool fallback);
