/* herd-json.c: recursive-descent JSON parser (RFC 8259, depth-limited) and writer. */
#define G_LOG_DOMAIN "Herd"

#include "herd-json.h"

#include <math.h>
#include <string.h>

struct _HerdJson {
    HerdJsonType type;
    gboolean boolean;
    double number;
    char *string;
    GPtrArray *items; /* array: HerdJson*; object: values, parallel to keys */
    GPtrArray *keys;  /* object only: char* */
};

G_DEFINE_QUARK(herd - json - error - quark, herd_json_error)

static HerdJson *node_new(HerdJsonType type)
{
    HerdJson *n = g_new0(HerdJson, 1);
    n->type = type;
    if (type == HERD_JSON_ARRAY || type == HERD_JSON_OBJECT)
        n->items = g_ptr_array_new_with_free_func((GDestroyNotify)herd_json_free);
    if (type == HERD_JSON_OBJECT)
        n->keys = g_ptr_array_new_with_free_func(g_free);
    return n;
}

void herd_json_free(HerdJson *node)
{
    if (!node)
        return;
    g_free(node->string);
    if (node->items)
        g_ptr_array_unref(node->items);
    if (node->keys)
        g_ptr_array_unref(node->keys);
    g_free(node);
}

HerdJson *herd_json_copy(const HerdJson *node)
{
    if (!node)
        return NULL;
    HerdJson *c = node_new(node->type);
    c->boolean = node->boolean;
    c->number = node->number;
    c->string = g_strdup(node->string);
    for (guint i = 0; node->items && i < node->items->len; i++) {
        g_ptr_array_add(c->items, herd_json_copy(node->items->pdata[i]));
        if (node->keys)
            g_ptr_array_add(c->keys, g_strdup(node->keys->pdata[i]));
    }
    return c;
}

HerdJson *herd_json_new_null(void)
{
    return node_new(HERD_JSON_NULL);
}

HerdJson *herd_json_new_bool(gboolean value)
{
    HerdJson *n = node_new(HERD_JSON_BOOL);
    n->boolean = !!value;
    return n;
}

HerdJson *herd_json_new_number(double value)
{
    HerdJson *n = node_new(HERD_JSON_NUMBER);
    n->number = isfinite(value) ? value : 0.0; /* JSON has no NaN/Inf */
    return n;
}

HerdJson *herd_json_new_string(const char *value)
{
    if (!value)
        return herd_json_new_null();
    HerdJson *n = node_new(HERD_JSON_STRING);
    n->string = g_strdup(value);
    return n;
}

HerdJson *herd_json_new_array(void)
{
    return node_new(HERD_JSON_ARRAY);
}

HerdJson *herd_json_new_object(void)
{
    return node_new(HERD_JSON_OBJECT);
}

void herd_json_array_add(HerdJson *array, HerdJson *value)
{
    g_return_if_fail(array && array->type == HERD_JSON_ARRAY && value);
    g_ptr_array_add(array->items, value);
}

void herd_json_object_set(HerdJson *object, const char *key, HerdJson *value)
{
    g_return_if_fail(object && object->type == HERD_JSON_OBJECT && key && value);
    for (guint i = 0; i < object->keys->len; i++) {
        if (strcmp(object->keys->pdata[i], key) == 0) {
            herd_json_free(object->items->pdata[i]);
            object->items->pdata[i] = value;
            return;
        }
    }
    g_ptr_array_add(object->keys, g_strdup(key));
    g_ptr_array_add(object->items, value);
}

HerdJsonType herd_json_get_type(const HerdJson *node)
{
    return node ? node->type : HERD_JSON_NULL;
}

HerdJson *herd_json_object_get(const HerdJson *object, const char *key)
{
    if (!object || object->type != HERD_JSON_OBJECT)
        return NULL;
    for (guint i = 0; i < object->keys->len; i++)
        if (strcmp(object->keys->pdata[i], key) == 0)
            return object->items->pdata[i];
    return NULL;
}

guint herd_json_object_size(const HerdJson *object)
{
    return object && object->type == HERD_JSON_OBJECT ? object->items->len : 0;
}

const char *herd_json_object_key(const HerdJson *object, guint index)
{
    return index < herd_json_object_size(object) ? object->keys->pdata[index] : NULL;
}

guint herd_json_array_length(const HerdJson *array)
{
    return array && array->type == HERD_JSON_ARRAY ? array->items->len : 0;
}

HerdJson *herd_json_array_get(const HerdJson *array, guint index)
{
    return index < herd_json_array_length(array) ? array->items->pdata[index] : NULL;
}

const char *herd_json_get_string(const HerdJson *node, const char *fallback)
{
    return node && node->type == HERD_JSON_STRING ? node->string : fallback;
}

double herd_json_get_number(const HerdJson *node, double fallback)
{
    return node && node->type == HERD_JSON_NUMBER ? node->number : fallback;
}

gboolean herd_json_get_bool(const HerdJson *node, gboolean fallback)
{
    return node && node->type == HERD_JSON_BOOL ? node->boolean : fallback;
}

/* ---- parser ---- */

typedef struct {
    const char *p, *end, *start;
    GError **error;
} Parser;

static gboolean fail(Parser *ps, const char *what)
{
    g_set_error(ps->error, HERD_JSON_ERROR, HERD_JSON_ERROR_PARSE,
                "JSON: %s at byte %" G_GSIZE_FORMAT, what, (gsize)(ps->p - ps->start));
    return FALSE;
}

static void skip_ws(Parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static gboolean literal(Parser *ps, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
        return fail(ps, "unexpected token");
    ps->p += n;
    return TRUE;
}

static int hex4(const char *s)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int d = g_ascii_xdigit_value(s[i]);
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

static char *parse_string(Parser *ps)
{
    ps->p++; /* opening quote */
    GString *s = g_string_new(NULL);
    while (ps->p < ps->end && *ps->p != '"') {
        unsigned char c = (unsigned char)*ps->p;
        if (c < 0x20) {
            fail(ps, "control character in string");
            goto bad;
        }
        if (c != '\\') {
            g_string_append_c(s, (char)c);
            ps->p++;
            continue;
        }
        if (ps->end - ps->p < 2) {
            fail(ps, "unterminated escape");
            goto bad;
        }
        char e = ps->p[1];
        ps->p += 2;
        switch (e) {
        case '"':
            g_string_append_c(s, '"');
            break;
        case '\\':
            g_string_append_c(s, '\\');
            break;
        case '/':
            g_string_append_c(s, '/');
            break;
        case 'b':
            g_string_append_c(s, '\b');
            break;
        case 'f':
            g_string_append_c(s, '\f');
            break;
        case 'n':
            g_string_append_c(s, '\n');
            break;
        case 'r':
            g_string_append_c(s, '\r');
            break;
        case 't':
            g_string_append_c(s, '\t');
            break;
        case 'u': {
            int cp = ps->end - ps->p >= 4 ? hex4(ps->p) : -1;
            if (cp < 0) {
                fail(ps, "bad \\u escape");
                goto bad;
            }
            ps->p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                int lo = ps->end - ps->p >= 6 && ps->p[0] == '\\' && ps->p[1] == 'u'
                             ? hex4(ps->p + 2)
                             : -1;
                if (lo < 0xDC00 || lo > 0xDFFF) {
                    fail(ps, "unpaired surrogate");
                    goto bad;
                }
                ps->p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                fail(ps, "unpaired surrogate");
                goto bad;
            }
            if (cp == 0) {
                fail(ps, "NUL in string");
                goto bad;
            }
            g_string_append_unichar(s, (gunichar)cp);
            break;
        }
        default:
            fail(ps, "bad escape");
            goto bad;
        }
    }
    if (ps->p >= ps->end) {
        fail(ps, "unterminated string");
        goto bad;
    }
    ps->p++;
    if (!g_utf8_validate_len(s->str, s->len, NULL)) {
        fail(ps, "string is not UTF-8");
        goto bad;
    }
    return g_string_free(s, FALSE);
bad:
    g_string_free(s, TRUE);
    return NULL;
}

static HerdJson *parse_value(Parser *ps, int depth);

static HerdJson *parse_number(Parser *ps)
{
    const char *q = ps->p;
    if (q < ps->end && *q == '-')
        q++;
    if (q >= ps->end || !g_ascii_isdigit(*q))
        return fail(ps, "bad number"), NULL;
    if (*q == '0')
        q++;
    else
        while (q < ps->end && g_ascii_isdigit(*q))
            q++;
    if (q < ps->end && *q == '.') {
        q++;
        if (q >= ps->end || !g_ascii_isdigit(*q))
            return fail(ps, "bad number"), NULL;
        while (q < ps->end && g_ascii_isdigit(*q))
            q++;
    }
    if (q < ps->end && (*q == 'e' || *q == 'E')) {
        q++;
        if (q < ps->end && (*q == '+' || *q == '-'))
            q++;
        if (q >= ps->end || !g_ascii_isdigit(*q))
            return fail(ps, "bad number"), NULL;
        while (q < ps->end && g_ascii_isdigit(*q))
            q++;
    }
    char *tmp = g_strndup(ps->p, (gsize)(q - ps->p));
    double v = g_ascii_strtod(tmp, NULL);
    g_free(tmp);
    ps->p = q;
    return herd_json_new_number(v);
}

static HerdJson *parse_value(Parser *ps, int depth)
{
    if (depth > HERD_JSON_MAX_DEPTH)
        return fail(ps, "nested too deep"), NULL;
    skip_ws(ps);
    if (ps->p >= ps->end)
        return fail(ps, "unexpected end"), NULL;
    switch (*ps->p) {
    case 'n':
        return literal(ps, "null") ? herd_json_new_null() : NULL;
    case 't':
        return literal(ps, "true") ? herd_json_new_bool(TRUE) : NULL;
    case 'f':
        return literal(ps, "false") ? herd_json_new_bool(FALSE) : NULL;
    case '"': {
        char *s = parse_string(ps);
        if (!s)
            return NULL;
        HerdJson *n = node_new(HERD_JSON_STRING);
        n->string = s;
        return n;
    }
    case '[': {
        HerdJson *a = herd_json_new_array();
        ps->p++;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ']') {
            ps->p++;
            return a;
        }
        for (;;) {
            HerdJson *v = parse_value(ps, depth + 1);
            if (!v)
                goto bad_a;
            herd_json_array_add(a, v);
            skip_ws(ps);
            if (ps->p < ps->end && *ps->p == ',') {
                ps->p++;
                continue;
            }
            if (ps->p < ps->end && *ps->p == ']') {
                ps->p++;
                return a;
            }
            fail(ps, "expected , or ]");
            goto bad_a;
        }
    bad_a:
        herd_json_free(a);
        return NULL;
    }
    case '{': {
        HerdJson *o = herd_json_new_object();
        ps->p++;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == '}') {
            ps->p++;
            return o;
        }
        for (;;) {
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != '"') {
                fail(ps, "expected a key");
                goto bad_o;
            }
            char *key = parse_string(ps);
            if (!key)
                goto bad_o;
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') {
                g_free(key);
                fail(ps, "expected :");
                goto bad_o;
            }
            ps->p++;
            HerdJson *v = parse_value(ps, depth + 1);
            if (!v) {
                g_free(key);
                goto bad_o;
            }
            herd_json_object_set(o, key, v);
            g_free(key);
            skip_ws(ps);
            if (ps->p < ps->end && *ps->p == ',') {
                ps->p++;
                continue;
            }
            if (ps->p < ps->end && *ps->p == '}') {
                ps->p++;
                return o;
            }
            fail(ps, "expected , or }");
            goto bad_o;
        }
    bad_o:
        herd_json_free(o);
        return NULL;
    }
    default:
        return parse_number(ps);
    }
}

HerdJson *herd_json_parse(const char *text, gssize len, GError **error)
{
    g_return_val_if_fail(text, NULL);
    if (len < 0)
        len = (gssize)strlen(text);
    Parser ps = { text, text + len, text, error };
    HerdJson *root = parse_value(&ps, 0);
    if (!root)
        return NULL;
    skip_ws(&ps);
    if (ps.p != ps.end) {
        fail(&ps, "trailing data");
        herd_json_free(root);
        return NULL;
    }
    return root;
}

/* ---- writer ---- */

void herd_json_write_string(GString *out, const char *s)
{
    g_string_append_c(out, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
            g_string_append(out, "\\\"");
            break;
        case '\\':
            g_string_append(out, "\\\\");
            break;
        case '\n':
            g_string_append(out, "\\n");
            break;
        case '\r':
            g_string_append(out, "\\r");
            break;
        case '\t':
            g_string_append(out, "\\t");
            break;
        default:
            if (*p < 0x20)
                g_string_append_printf(out, "\\u%04x", *p);
            else
                g_string_append_c(out, (char)*p);
        }
    }
    g_string_append_c(out, '"');
}

static void write_number(GString *out, double v)
{
    char buf[G_ASCII_DTOSTR_BUF_SIZE];
    if (v == floor(v) && fabs(v) < 1e15) {
        g_string_append_printf(out, "%" G_GINT64_FORMAT, (gint64)v);
        return;
    }
    /* Shortest of %.15g / %.17g that reads back to the same double. */
    g_ascii_formatd(buf, sizeof buf, "%.15g", v);
    if (g_ascii_strtod(buf, NULL) != v)
        g_ascii_formatd(buf, sizeof buf, "%.17g", v);
    g_string_append(out, buf);
}

static void indent(GString *out, gboolean pretty, int level)
{
    if (!pretty)
        return;
    g_string_append_c(out, '\n');
    for (int i = 0; i < level; i++)
        g_string_append(out, "  ");
}

static void write_node(const HerdJson *n, GString *out, gboolean pretty, int level)
{
    switch (n->type) {
    case HERD_JSON_NULL:
        g_string_append(out, "null");
        break;
    case HERD_JSON_BOOL:
        g_string_append(out, n->boolean ? "true" : "false");
        break;
    case HERD_JSON_NUMBER:
        write_number(out, n->number);
        break;
    case HERD_JSON_STRING:
        herd_json_write_string(out, n->string);
        break;
    case HERD_JSON_ARRAY:
    case HERD_JSON_OBJECT: {
        gboolean obj = n->type == HERD_JSON_OBJECT;
        g_string_append_c(out, obj ? '{' : '[');
        for (guint i = 0; i < n->items->len; i++) {
            if (i)
                g_string_append_c(out, ',');
            indent(out, pretty, level + 1);
            if (obj) {
                herd_json_write_string(out, n->keys->pdata[i]);
                g_string_append(out, pretty ? ": " : ":");
            }
            write_node(n->items->pdata[i], out, pretty, level + 1);
        }
        if (n->items->len)
            indent(out, pretty, level);
        g_string_append_c(out, obj ? '}' : ']');
        break;
    }
    }
}

void herd_json_write(const HerdJson *node, GString *out, gboolean pretty)
{
    write_node(node, out, pretty, 0);
}

char *herd_json_to_string(const HerdJson *node, gboolean pretty)
{
    GString *s = g_string_new(NULL);
    herd_json_write(node, s, pretty);
    if (pretty)
        g_string_append_c(s, '\n');
    return g_string_free(s, FALSE);
}
