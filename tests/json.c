/* json.c: see json.h. Recursive descent over the whole buffer. */
#include "json.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct parser {
    const char *s;
    size_t n, i;
    char *err;
    size_t err_size;
    bool failed;
} parser;

static void fail(parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(parser *p, const char *fmt, ...)
{
    if (p->failed)
        return;
    p->failed = true;
    if (!p->err || !p->err_size)
        return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(p->err, p->err_size, fmt, ap);
    va_end(ap);
    if (k >= 0 && (size_t)k < p->err_size)
        snprintf(p->err + k, p->err_size - k, " at byte %zu", p->i);
}

static void skip_ws(parser *p)
{
    while (p->i < p->n &&
           (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r'))
        p->i++;
}

static bool lit(parser *p, const char *w)
{
    size_t k = strlen(w);
    if (p->n - p->i >= k && !memcmp(p->s + p->i, w, k)) {
        p->i += k;
        return true;
    }
    return false;
}

static void free_inner(json_value *v)
{
    if (v->type == JSON_STRING) {
        free(v->str);
    } else if (v->type == JSON_ARRAY || v->type == JSON_OBJECT) {
        for (size_t i = 0; i < v->len; i++) {
            free_inner(&v->items[i]);
            if (v->keys)
                free(v->keys[i]);
        }
        free(v->items);
        free(v->keys);
    }
}

static int hex4(parser *p)
{
    if (p->n - p->i < 4)
        return -1;
    int v = 0;
    for (int k = 0; k < 4; k++) {
        char c = p->s[p->i + k];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else
            return -1;
    }
    p->i += 4;
    return v;
}

static size_t put_utf8(char *o, uint32_t c)
{
    if (c < 0x80) {
        o[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (char)(0xc0 | c >> 6);
        o[1] = (char)(0x80 | (c & 0x3f));
        return 2;
    }
    if (c < 0x10000) {
        o[0] = (char)(0xe0 | c >> 12);
        o[1] = (char)(0x80 | ((c >> 6) & 0x3f));
        o[2] = (char)(0x80 | (c & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | c >> 18);
    o[1] = (char)(0x80 | ((c >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((c >> 6) & 0x3f));
    o[3] = (char)(0x80 | (c & 0x3f));
    return 4;
}

/* At the opening quote. Output is never longer than the input span (an escape of 6 or 12 chars
 * gives at most 4 bytes), so one allocation of the raw length suffices. */
static char *parse_string(parser *p, size_t *len)
{
    p->i++;
    size_t start = p->i;
    while (p->i < p->n && p->s[p->i] != '"')
        p->i += p->s[p->i] == '\\' ? 2 : 1;
    if (p->i >= p->n) {
        fail(p, "unterminated string");
        return NULL;
    }
    size_t end = p->i;
    char *o = malloc(end - start + 1);
    if (!o) {
        fail(p, "out of memory");
        return NULL;
    }
    size_t k = 0;
    p->i = start;
    while (p->i < end) {
        char c = p->s[p->i++];
        if ((unsigned char)c < 0x20) {
            fail(p, "control character in string");
            free(o);
            return NULL;
        }
        if (c != '\\') {
            o[k++] = c;
            continue;
        }
        char e = p->s[p->i++];
        switch (e) {
        case '"':
            o[k++] = '"';
            break;
        case '\\':
            o[k++] = '\\';
            break;
        case '/':
            o[k++] = '/';
            break;
        case 'b':
            o[k++] = '\b';
            break;
        case 'f':
            o[k++] = '\f';
            break;
        case 'n':
            o[k++] = '\n';
            break;
        case 'r':
            o[k++] = '\r';
            break;
        case 't':
            o[k++] = '\t';
            break;
        case 'u': {
            int u = hex4(p);
            if (u < 0 || p->i > end) {
                fail(p, "bad \\u escape");
                free(o);
                return NULL;
            }
            uint32_t cp = (uint32_t)u;
            if (cp >= 0xd800 && cp <= 0xdbff && end - p->i >= 6 && p->s[p->i] == '\\' &&
                p->s[p->i + 1] == 'u') {
                size_t save = p->i;
                p->i += 2;
                int lo = hex4(p);
                if (lo >= 0xdc00 && lo <= 0xdfff)
                    cp = 0x10000 + ((cp - 0xd800) << 10) + ((uint32_t)lo - 0xdc00);
                else
                    p->i = save;
            }
            if (cp >= 0xd800 && cp <= 0xdfff)
                cp = 0xfffd;
            k += put_utf8(o + k, cp);
            break;
        }
        default:
            fail(p, "bad escape");
            free(o);
            return NULL;
        }
    }
    p->i = end + 1;
    o[k] = 0;
    *len = k;
    return o;
}

static bool parse_value(parser *p, json_value *v, int depth);

static bool push(parser *p, json_value *v, size_t *cap, char *key)
{
    if (v->len == *cap) {
        size_t nc = *cap ? 2 * *cap : 8;
        json_value *ni = realloc(v->items, nc * sizeof *ni);
        if (!ni) {
            fail(p, "out of memory");
            return false;
        }
        v->items = ni;
        if (v->type == JSON_OBJECT) {
            char **nk = realloc(v->keys, nc * sizeof *nk);
            if (!nk) {
                fail(p, "out of memory");
                return false;
            }
            v->keys = nk;
        }
        *cap = nc;
    }
    memset(&v->items[v->len], 0, sizeof v->items[0]);
    if (v->type == JSON_OBJECT)
        v->keys[v->len] = key;
    v->len++;
    return true;
}

static bool parse_container(parser *p, json_value *v, int depth)
{
    bool obj = p->s[p->i] == '{';
    char close = obj ? '}' : ']';
    v->type = obj ? JSON_OBJECT : JSON_ARRAY;
    p->i++;
    size_t cap = 0;
    skip_ws(p);
    if (p->i < p->n && p->s[p->i] == close) {
        p->i++;
        return true;
    }
    for (;;) {
        skip_ws(p);
        char *key = NULL;
        if (obj) {
            size_t kl;
            if (p->i >= p->n || p->s[p->i] != '"') {
                fail(p, "expected a key");
                return false;
            }
            if (!(key = parse_string(p, &kl)))
                return false;
            skip_ws(p);
            if (p->i >= p->n || p->s[p->i] != ':') {
                free(key);
                fail(p, "expected ':'");
                return false;
            }
            p->i++;
        }
        if (!push(p, v, &cap, key)) {
            free(key);
            return false;
        }
        if (!parse_value(p, &v->items[v->len - 1], depth + 1))
            return false;
        skip_ws(p);
        if (p->i < p->n && p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->i < p->n && p->s[p->i] == close) {
            p->i++;
            return true;
        }
        fail(p, "expected ',' or '%c'", close);
        return false;
    }
}

static bool parse_value(parser *p, json_value *v, int depth)
{
    if (depth > JSON_MAX_DEPTH) {
        fail(p, "nesting deeper than %d", JSON_MAX_DEPTH);
        return false;
    }
    skip_ws(p);
    if (p->i >= p->n) {
        fail(p, "unexpected end");
        return false;
    }
    char c = p->s[p->i];
    if (c == '{' || c == '[')
        return parse_container(p, v, depth);
    if (c == '"') {
        v->type = JSON_STRING;
        return (v->str = parse_string(p, &v->len)) != NULL;
    }
    if (lit(p, "true") || lit(p, "false")) {
        v->type = JSON_BOOL;
        v->boolean = p->s[p->i - 1] == 'e' && p->s[p->i - 2] == 'u';
        return true;
    }
    if (lit(p, "null")) {
        v->type = JSON_NULL;
        return true;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        char buf[64];
        size_t k = 0;
        while (p->i < p->n && k < sizeof buf - 1 && strchr("+-0123456789.eE", p->s[p->i]))
            buf[k++] = p->s[p->i++];
        buf[k] = 0;
        char *endp;
        errno = 0;
        v->type = JSON_NUMBER;
        v->number = strtod(buf, &endp);
        if (*endp || k == 0) {
            fail(p, "bad number");
            return false;
        }
        return true;
    }
    fail(p, "unexpected character '%c'", c);
    return false;
}

json_value *json_parse(const char *text, size_t len, char *err, size_t err_size)
{
    parser p = { text, len, 0, err, err_size, false };
    json_value *v = calloc(1, sizeof *v);
    if (!v) {
        fail(&p, "out of memory");
        return NULL;
    }
    if (parse_value(&p, v, 0)) {
        skip_ws(&p);
        if (p.i != p.n)
            fail(&p, "trailing garbage");
    }
    if (p.failed) {
        json_free(v);
        return NULL;
    }
    return v;
}

json_value *json_parse_file(const char *path, char *err, size_t err_size)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_size, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        char *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    bool rerr = ferror(f);
    fclose(f);
    if (!buf || rerr) {
        snprintf(err, err_size, "%s: %s", path, buf ? "read error" : "out of memory");
        free(buf);
        return NULL;
    }
    json_value *v = json_parse(buf, n, err, err_size);
    free(buf);
    return v;
}

void json_free(json_value *v)
{
    if (!v)
        return;
    free_inner(v);
    free(v);
}

const json_value *json_get(const json_value *obj, const char *key)
{
    if (!obj || obj->type != JSON_OBJECT)
        return NULL;
    for (size_t i = 0; i < obj->len; i++)
        if (!strcmp(obj->keys[i], key))
            return &obj->items[i];
    return NULL;
}

const json_value *json_at(const json_value *arr, size_t i)
{
    if (!arr || arr->type != JSON_ARRAY || i >= arr->len)
        return NULL;
    return &arr->items[i];
}

size_t json_len(const json_value *arr)
{
    return arr && arr->type == JSON_ARRAY ? arr->len : 0;
}

const char *json_str(const json_value *v, size_t *len)
{
    if (!v || v->type != JSON_STRING)
        return NULL;
    if (len)
        *len = v->len;
    return v->str;
}

double json_num(const json_value *v, double fallback)
{
    return v && v->type == JSON_NUMBER ? v->number : fallback;
}

bool json_bool(const json_value *v, bool fallback)
{
    return v && v->type == JSON_BOOL ? v->boolean : fallback;
}
