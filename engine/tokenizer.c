/* tokenizer.c: Llama 4 byte-level BPE (spec §5). See tokenizer.h for the contract. */
#include "tokenizer.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* Meta's encoder limits (llama-models tokenizer.py): TIKTOKEN_MAX_ENCODE_CHARS and
 * MAX_NO_WHITESPACES_CHARS, both in code points. */
#define MAX_ENCODE_CHARS 400000
#define MAX_RUN_CHARS    25000

/* Pieces up to this many bytes are merged with a plain array (tiktoken's own method); longer ones
 * with a heap over a linked list. */
#define SMALL_PIECE 64

/* ------------------------------------------------------------------------------------------
 * Hash maps: bytes -> id (open addressing over ids), and (left,right) -> (merged, rank).
 */

typedef struct strmap {
    int32_t *slots; /* -1 = empty */
    uint64_t mask;
} strmap;

typedef struct pair_entry {
    uint64_t key; /* left << 32 | right; UINT64_MAX = empty */
    int32_t merged;
    int32_t rank;
} pair_entry;

struct herd_tokenizer {
    int32_t n_vocab;
    uint8_t *types;    /* [n_vocab] herd_token_type */
    uint32_t *tok_off; /* [n_vocab + 1] into bytes */
    char *bytes;
    size_t max_len; /* longest token, bytes */

    int32_t byte_id[256];
    strmap normal;  /* NORMAL/BYTE tokens: the BPE vocabulary */
    strmap special; /* CONTROL/USER_DEFINED tokens: matched in text when parse_special */
    strmap other;   /* UNUSED/UNKNOWN tokens: only for herd_tokenizer_find */
    pair_entry *pairs;
    uint64_t pair_mask;

    bool special_first[256];  /* first bytes of special texts */
    int32_t special_lens[64]; /* distinct special text lengths, longest first */
    int n_special_lens;
    bool special_len_overflow; /* more distinct lengths than fit: try every length */
    size_t max_special_len;

    int32_t bos, eos, eot, eom, end_of_text, pad;
    bool add_bos;

    uint8_t ascii_flags[128];
};

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

static uint64_t hash_pair(uint64_t key)
{
    key *= 0x9E3779B97F4A7C15ull;
    return key ^ (key >> 31);
}

static const char *tok_ptr(const herd_tokenizer *t, int32_t id, size_t *len)
{
    *len = t->tok_off[id + 1] - t->tok_off[id];
    return t->bytes + t->tok_off[id];
}

static bool strmap_init(strmap *m, size_t count)
{
    uint64_t cap = 16;
    while (cap < 2 * (uint64_t)count + 1)
        cap <<= 1;
    m->slots = malloc(cap * sizeof *m->slots);
    if (!m->slots)
        return false;
    memset(m->slots, 0xff, cap * sizeof *m->slots);
    m->mask = cap - 1;
    return true;
}

static int32_t strmap_find(const herd_tokenizer *t, const strmap *m, const char *s, size_t n)
{
    if (!m->slots)
        return -1;
    for (uint64_t i = hash_bytes(s, n) & m->mask;; i = (i + 1) & m->mask) {
        int32_t id = m->slots[i];
        if (id < 0)
            return -1;
        size_t len;
        const char *p = tok_ptr(t, id, &len);
        if (len == n && !memcmp(p, s, n))
            return id;
    }
}

/* Inserts id unless a token with the same bytes is there already (first one wins). */
static void strmap_insert(herd_tokenizer *t, strmap *m, int32_t id)
{
    size_t n;
    const char *s = tok_ptr(t, id, &n);
    for (uint64_t i = hash_bytes(s, n) & m->mask;; i = (i + 1) & m->mask) {
        int32_t o = m->slots[i];
        if (o < 0) {
            m->slots[i] = id;
            return;
        }
        size_t len;
        const char *p = tok_ptr(t, o, &len);
        if (len == n && !memcmp(p, s, n))
            return;
    }
}

static inline const pair_entry *pair_find(const herd_tokenizer *t, int32_t a, int32_t b)
{
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    for (uint64_t i = hash_pair(key) & t->pair_mask;; i = (i + 1) & t->pair_mask) {
        const pair_entry *e = &t->pairs[i];
        if (e->key == key)
            return e;
        if (e->key == UINT64_MAX)
            return NULL;
    }
}

/* ------------------------------------------------------------------------------------------
 * Code point classes for the o200k regex.
 */

enum {
    CF_L = 1,        /* \p{L} */
    CF_N = 2,        /* \p{N} */
    CF_WS = 4,       /* \s = White_Space */
    CF_UP = 8,       /* [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}] */
    CF_LO = 16,      /* [\p{Ll}\p{Lm}\p{Lo}\p{M}] */
    CF_CRLF = 32,    /* \r or \n */
    CF_ISSPACE = 64, /* Python str.isspace(), used by Meta's run cutting */
};

static uint8_t cp_flags(int32_t cp)
{
    uint8_t f = 0;
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LT:
        f = CF_L | CF_UP;
        break;
    case UTF8PROC_CATEGORY_LL:
        f = CF_L | CF_LO;
        break;
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
        f = CF_L | CF_UP | CF_LO;
        break;
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
        f = CF_UP | CF_LO;
        break;
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
        f = CF_N;
        break;
    case UTF8PROC_CATEGORY_ZS:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
        f = CF_WS | CF_ISSPACE;
        break;
    default:
        break;
    }
    /* White_Space = Zs + Zl + Zp + U+0009..U+000D + U+0085. isspace() adds U+001C..U+001F. */
    if ((cp >= 0x09 && cp <= 0x0d) || cp == 0x85)
        f |= CF_WS | CF_ISSPACE;
    if (cp >= 0x1c && cp <= 0x1f)
        f |= CF_ISSPACE;
    if (cp == '\r' || cp == '\n')
        f |= CF_CRLF;
    return f;
}

/* Length of the well-formed UTF-8 sequence at s (Unicode Table 3-7), 0 if ill-formed or cut. */
static int utf8_seq(const uint8_t *s, size_t avail, int32_t *cp)
{
    uint8_t b = s[0];
    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    int need;
    uint8_t lo = 0x80, hi = 0xbf;
    int32_t c;
    if (b >= 0xc2 && b <= 0xdf) {
        need = 2;
        c = b & 0x1f;
    } else if (b >= 0xe0 && b <= 0xef) {
        need = 3;
        c = b & 0x0f;
        if (b == 0xe0)
            lo = 0xa0;
        else if (b == 0xed)
            hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
        need = 4;
        c = b & 0x07;
        if (b == 0xf0)
            lo = 0x90;
        else if (b == 0xf4)
            hi = 0x8f;
    } else {
        return 0;
    }
    if ((size_t)need > avail)
        return 0;
    for (int i = 1; i < need; i++) {
        uint8_t x = s[i];
        if (x < lo || x > hi)
            return 0;
        lo = 0x80;
        hi = 0xbf;
        c = c << 6 | (x & 0x3f);
    }
    *cp = c;
    return need;
}

/* ------------------------------------------------------------------------------------------
 * The o200k pre-tokenizer (spec §5.2), as a backtracking matcher specialised to its seven
 * alternatives. Works on code point indices [s, e) of one segment; fl[] are CF_ flags, off[]
 * byte offsets (off[k + 1] - off[k] = bytes of code point k), txt the bytes. Returns the number
 * of code points of the match at s (always >= 1).
 */

typedef struct cps {
    const uint8_t *txt;
    const uint8_t *fl;
    const uint32_t *off;
} cps;

static inline bool is_ascii(const cps *c, int k, uint8_t ch)
{
    return c->off[k + 1] - c->off[k] == 1 && c->txt[c->off[k]] == ch;
}

/* ASCII letter at k folded to lower case; U+017F LATIN SMALL LETTER LONG S folds to 's'. */
static inline int folded(const cps *c, int k)
{
    const uint8_t *p = c->txt + c->off[k];
    uint32_t n = c->off[k + 1] - c->off[k];
    if (n == 1)
        return (*p >= 'A' && *p <= 'Z') ? *p + 32 : *p;
    if (n == 2 && p[0] == 0xc5 && p[1] == 0xbf)
        return 's';
    return -1;
}

/* (?i:'s|'t|'re|'ve|'m|'ll|'d)? at k: code points matched. */
static int contraction(const cps *c, int k, int e)
{
    if (k + 1 >= e || !is_ascii(c, k, '\''))
        return 0;
    int a = folded(c, k + 1);
    if (a == 's' || a == 't' || a == 'm' || a == 'd')
        return 2;
    if (k + 2 >= e)
        return 0;
    int b = folded(c, k + 2);
    if ((a == 'r' || a == 'v') && b == 'e')
        return 3;
    if (a == 'l' && b == 'l')
        return 3;
    return 0;
}

static inline bool is_prefix(uint8_t f) /* [^\r\n\p{L}\p{N}] */
{
    return !(f & (CF_CRLF | CF_L | CF_N));
}

static inline bool is_punct(uint8_t f) /* [^\s\p{L}\p{N}] */
{
    return !(f & (CF_WS | CF_L | CF_N));
}

static int match_at(const cps *c, int s, int e)
{
    const uint8_t *fl = c->fl;
    int p0 = is_prefix(fl[s]) ? 1 : 0;

    /* 1: [^\r\n\p{L}\p{N}]?[UP]*[LO]+(contraction)? */
    for (int p = p0; p >= 0; p--) {
        int i = s + p, j = i;
        while (j < e && (fl[j] & CF_UP))
            j++;
        for (int u = j; u >= i; u--) {
            if (u < e && (fl[u] & CF_LO)) {
                int k = u + 1;
                while (k < e && (fl[k] & CF_LO))
                    k++;
                return k + contraction(c, k, e) - s;
            }
        }
    }
    /* 2: [^\r\n\p{L}\p{N}]?[UP]+[LO]*(contraction)? */
    for (int p = p0; p >= 0; p--) {
        int i = s + p, j = i;
        while (j < e && (fl[j] & CF_UP))
            j++;
        if (j > i) {
            while (j < e && (fl[j] & CF_LO))
                j++;
            return j + contraction(c, j, e) - s;
        }
    }
    /* 3: \p{N}{1,3} */
    if (fl[s] & CF_N) {
        int j = s + 1;
        while (j < e && j < s + 3 && (fl[j] & CF_N))
            j++;
        return j - s;
    }
    /* 4: ' '?[^\s\p{L}\p{N}]+[\r\n/]* */
    {
        int i = s;
        if (is_ascii(c, s, ' ') && s + 1 < e && is_punct(fl[s + 1]))
            i = s + 1;
        if (is_punct(fl[i])) {
            int j = i + 1;
            while (j < e && is_punct(fl[j]))
                j++;
            while (j < e && ((fl[j] & CF_CRLF) || is_ascii(c, j, '/')))
                j++;
            return j - s;
        }
    }
    /* 5: \s*[\r\n]+   6: \s+(?!\S)   7: \s+ */
    if (fl[s] & CF_WS) {
        int j = s + 1;
        while (j < e && (fl[j] & CF_WS))
            j++;
        for (int k = j - 1; k >= s; k--)
            if (fl[k] & CF_CRLF)
                return k + 1 - s;
        if (j == e)
            return j - s;
        if (j - s >= 2)
            return j - 1 - s;
        return 1;
    }
    return 1; /* unreachable: every code point is L, N, \s or [^\s\p{L}\p{N}] */
}

/* ------------------------------------------------------------------------------------------
 * BPE.
 */

typedef struct enc_out {
    int32_t *out;
    int n_max;
    int64_t count;
    bool failed; /* out of memory */
} enc_out;

static inline void emit(enc_out *o, int32_t id)
{
    if (o->count < o->n_max)
        o->out[o->count] = id;
    o->count++;
}

static void bpe_small(const herd_tokenizer *t, const uint8_t *b, int n, enc_out *o)
{
    int32_t ids[SMALL_PIECE], mg[SMALL_PIECE], rk[SMALL_PIECE];
    int m = n;
    for (int i = 0; i < n; i++)
        ids[i] = t->byte_id[b[i]];
    for (int i = 0; i + 1 < m; i++) {
        const pair_entry *e = pair_find(t, ids[i], ids[i + 1]);
        rk[i] = e ? e->rank : INT32_MAX;
        mg[i] = e ? e->merged : -1;
    }
    while (m > 1) {
        int best = -1;
        int32_t br = INT32_MAX;
        for (int i = 0; i + 1 < m; i++)
            if (rk[i] < br) {
                br = rk[i];
                best = i;
            }
        if (best < 0)
            break;
        ids[best] = mg[best];
        int tail = m - best - 2;
        memmove(ids + best + 1, ids + best + 2, tail * sizeof *ids);
        memmove(rk + best + 1, rk + best + 2, tail * sizeof *rk);
        memmove(mg + best + 1, mg + best + 2, tail * sizeof *mg);
        m--;
        for (int i = best - 1; i <= best; i++) {
            if (i < 0 || i + 1 >= m)
                continue;
            const pair_entry *e = pair_find(t, ids[i], ids[i + 1]);
            rk[i] = e ? e->rank : INT32_MAX;
            mg[i] = e ? e->merged : -1;
        }
    }
    for (int i = 0; i < m; i++)
        emit(o, ids[i]);
}

typedef struct heap_ent {
    int32_t rank, pos, ver, merged;
} heap_ent;

static inline bool heap_less(const heap_ent *a, const heap_ent *b)
{
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void heap_push(heap_ent *h, int *n, heap_ent v)
{
    int i = (*n)++;
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!heap_less(&v, &h[p]))
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = v;
}

static heap_ent heap_pop(heap_ent *h, int *n)
{
    heap_ent top = h[0], v = h[--(*n)];
    int i = 0;
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        const heap_ent *mv = &v;
        if (l < *n && heap_less(&h[l], mv)) {
            m = l;
            mv = &h[l];
        }
        if (r < *n && heap_less(&h[r], mv))
            m = r;
        if (m == i)
            break;
        h[i] = h[m];
        i = m;
    }
    if (*n > 0)
        h[i] = v;
    return top;
}

/* Same merges as bpe_small in O(n log n): linked list of parts, heap of candidate pairs keyed by
 * (rank, position); an entry is stale once its left part's version changed. */
static void bpe_large(const herd_tokenizer *t, const uint8_t *b, int n, enc_out *o)
{
    int32_t *id = malloc((size_t)n * 5 * sizeof(int32_t));
    heap_ent *h = malloc((size_t)3 * n * sizeof *h);
    if (!id || !h) {
        free(id);
        free(h);
        o->failed = true;
        return;
    }
    int32_t *next = id + n, *prev = id + 2 * n, *ver = id + 3 * n, *alive = id + 4 * n;
    int hn = 0;
    for (int i = 0; i < n; i++) {
        id[i] = t->byte_id[b[i]];
        next[i] = i + 1 < n ? i + 1 : -1;
        prev[i] = i - 1;
        ver[i] = 0;
        alive[i] = 1;
    }
#define PUSH_PAIR(i)                                                            \
    do {                                                                        \
        const pair_entry *e_ = pair_find(t, id[i], id[next[i]]);                \
        if (e_)                                                                 \
            heap_push(h, &hn, (heap_ent){ e_->rank, (i), ver[i], e_->merged }); \
    } while (0)
    for (int i = 0; i + 1 < n; i++)
        PUSH_PAIR(i);
    while (hn > 0) {
        heap_ent top = heap_pop(h, &hn);
        int i = top.pos;
        if (!alive[i] || ver[i] != top.ver || next[i] < 0)
            continue;
        int j = next[i];
        id[i] = top.merged;
        alive[j] = 0;
        next[i] = next[j];
        if (next[j] >= 0)
            prev[next[j]] = i;
        ver[i]++;
        if (prev[i] >= 0) {
            ver[prev[i]]++;
            PUSH_PAIR(prev[i]);
        }
        if (next[i] >= 0)
            PUSH_PAIR(i);
    }
#undef PUSH_PAIR
    for (int i = 0; i >= 0; i = next[i])
        emit(o, id[i]);
    free(id);
    free(h);
}

static void bpe_piece(const herd_tokenizer *t, const uint8_t *b, int n, enc_out *o)
{
    if (n == 1) {
        emit(o, t->byte_id[b[0]]);
        return;
    }
    /* A piece that is a token is that token (tiktoken's shortcut; BPE would reach it too). */
    if ((size_t)n <= t->max_len) {
        int32_t id = strmap_find(t, &t->normal, (const char *)b, n);
        if (id >= 0) {
            emit(o, id);
            return;
        }
    }
    if (n <= SMALL_PIECE)
        bpe_small(t, b, n, o);
    else
        bpe_large(t, b, n, o);
}

/* Regex + BPE over code points [a, b). */
static void encode_plain(const herd_tokenizer *t, const cps *c, int a, int b, enc_out *o)
{
    for (int s = a; s < b && !o->failed;) {
        int m = match_at(c, s, b);
        bpe_piece(t, c->txt + c->off[s], (int)(c->off[s + m] - c->off[s]), o);
        s += m;
    }
}

/* Longest special token text at code point k (within [k, b)), or -1; *kend = code point after. */
static int32_t special_at(const herd_tokenizer *t, const cps *c, int k, int b, int *kend)
{
    const char *p = (const char *)c->txt + c->off[k];
    size_t avail = c->off[b] - c->off[k];
    if (t->special_len_overflow) {
        for (size_t len = t->max_special_len < avail ? t->max_special_len : avail; len > 0; len--) {
            int32_t id = strmap_find(t, &t->special, p, len);
            if (id >= 0) {
                int ke = k;
                while (ke < b && c->off[ke] - c->off[k] < len)
                    ke++;
                if (c->off[ke] - c->off[k] == len) {
                    *kend = ke;
                    return id;
                }
            }
        }
        return -1;
    }
    for (int i = 0; i < t->n_special_lens; i++) {
        size_t len = (size_t)t->special_lens[i];
        if (len > avail)
            continue;
        int32_t id = strmap_find(t, &t->special, p, len);
        if (id < 0)
            continue;
        int ke = k;
        while (ke < b && c->off[ke] - c->off[k] < len)
            ke++;
        if (c->off[ke] - c->off[k] == len) { /* ends on a code point boundary */
            *kend = ke;
            return id;
        }
    }
    return -1;
}

/* One of Meta's substrings [a, b): special-token splitting, then regex + BPE. */
static void encode_substr(const herd_tokenizer *t, const cps *c, int a, int b, bool parse_special,
                          enc_out *o)
{
    if (!parse_special || !t->special.slots) {
        encode_plain(t, c, a, b, o);
        return;
    }
    int seg = a;
    for (int k = a; k < b;) {
        int kend;
        int32_t id;
        if (t->special_first[c->txt[c->off[k]]] && (id = special_at(t, c, k, b, &kend)) >= 0) {
            encode_plain(t, c, seg, k, o);
            emit(o, id);
            seg = k = kend;
        } else {
            k++;
        }
    }
    encode_plain(t, c, seg, b, o);
}

int herd_tokenize(const herd_tokenizer *t, const char *text, size_t len, bool parse_special,
                  int32_t *out, int n_max)
{
    if (len == 0)
        return 0;
    if (len >= (size_t)INT_MAX - 1)
        return INT_MIN;
    enc_out o = { out, out ? (n_max > 0 ? n_max : 0) : 0, 0, false };

    /* Decode to code points: flags + byte offsets. */
    enum { STACK_CPS = 512 };
    uint8_t fl_stack[STACK_CPS];
    uint32_t off_stack[STACK_CPS + 1];
    uint8_t *fl = fl_stack;
    uint32_t *off = off_stack;
    if (len > STACK_CPS) {
        fl = malloc(len);
        off = malloc((len + 1) * sizeof *off);
        if (!fl || !off) {
            free(fl);
            free(off);
            return INT_MIN;
        }
    }
    const uint8_t *txt = (const uint8_t *)text;
    int n = 0;
    for (size_t i = 0; i < len;) {
        uint8_t b = txt[i];
        off[n] = (uint32_t)i;
        if (b < 0x80) {
            fl[n++] = t->ascii_flags[b];
            i++;
            continue;
        }
        int32_t cp;
        int k = utf8_seq(txt + i, len - i, &cp);
        if (k == 0) { /* ill-formed byte: a code point of its own, category "other" */
            fl[n++] = 0;
            i++;
        } else {
            fl[n++] = cp_flags(cp);
            i += k;
        }
    }
    off[n] = (uint32_t)len;
    cps c = { txt, fl, off };

    /* Meta's cutting: 400000-char chunks, each split where a run of whitespace (isspace) or of
     * non-whitespace exceeds 25000 chars; each substring is encoded independently. */
    for (int chunk = 0; chunk < n && !o.failed; chunk += MAX_ENCODE_CHARS) {
        int cend = n - chunk > MAX_ENCODE_CHARS ? chunk + MAX_ENCODE_CHARS : n;
        bool run_space = (fl[chunk] & CF_ISSPACE) != 0;
        int run_len = 0, start = chunk;
        for (int i = chunk; i < cend; i++) {
            bool sp = (fl[i] & CF_ISSPACE) != 0;
            if (sp != run_space) {
                run_len = 1;
                run_space = sp;
            } else if (++run_len > MAX_RUN_CHARS) {
                encode_substr(t, &c, start, i, parse_special, &o);
                start = i;
                run_len = 1;
            }
        }
        encode_substr(t, &c, start, cend, parse_special, &o);
    }

    if (fl != fl_stack) {
        free(fl);
        free(off);
    }
    if (o.failed || o.count > INT_MAX)
        return INT_MIN;
    if (o.count > o.n_max)
        return -(int)o.count;
    return (int)o.count;
}

/* ------------------------------------------------------------------------------------------
 * Loading.
 */

/* GPT-2 bytes_to_unicode, inverted: code point (< 324) -> byte, -1 if not in the mapping. */
static void gpt2_unicode_to_byte(int16_t inv[324])
{
    for (int i = 0; i < 324; i++)
        inv[i] = -1;
    int extra = 0;
    for (int b = 0; b < 256; b++) {
        bool printable = (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || (b >= 0xae);
        if (printable)
            inv[b] = (int16_t)b;
        else
            inv[256 + extra++] = (int16_t)b;
    }
}

/* Mapped token text -> raw bytes (dst has room for n bytes: never longer than the text).
 * Characters outside the mapping are kept as they are. */
static size_t gpt2_decode(const int16_t inv[324], const char *s, size_t n, char *dst)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        int32_t cp;
        int k = utf8_seq((const uint8_t *)s + i, n - i, &cp);
        if (k > 0 && cp < 324 && inv[cp] >= 0) {
            dst[o++] = (char)inv[cp];
            i += k;
        } else {
            if (k == 0)
                k = 1;
            memcpy(dst + o, s + i, k);
            o += k;
            i += k;
        }
    }
    return o;
}

static bool read_int_array(const herd_gguf *g, const char *key, uint64_t n, int32_t *dst)
{
    herd_gguf_vtype et;
    uint64_t cnt;
    const void *data;
    if (!herd_gguf_get_arr(g, key, &et, &cnt, &data) || cnt != n)
        return false;
    const uint8_t *p = data;
    for (uint64_t i = 0; i < n; i++) {
        switch (et) {
        case HERD_GGUF_I32:
        case HERD_GGUF_U32: {
            int32_t v;
            memcpy(&v, p + 4 * i, 4);
            dst[i] = v;
            break;
        }
        case HERD_GGUF_I8:
        case HERD_GGUF_U8:
            dst[i] = (int8_t)p[i];
            break;
        default:
            return false;
        }
    }
    return true;
}

static bool str_is(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && !memcmp(s, lit, n);
}

herd_tokenizer *herd_tokenizer_from_gguf(const herd_gguf *g, herd_error *err)
{
    const char *s;
    size_t sn;
    if (!herd_gguf_get_str(g, "tokenizer.ggml.model", &s, &sn)) {
        herd_error_set(err, HERD_ERR_FORMAT, "%s: no tokenizer.ggml.model", herd_gguf_path(g));
        return NULL;
    }
    if (!str_is(s, sn, "gpt2")) {
        herd_error_set(err, HERD_ERR_UNSUPPORTED, "%s: tokenizer model '%.*s' (only gpt2 BPE)",
                       herd_gguf_path(g), (int)(sn > 64 ? 64 : sn), s);
        return NULL;
    }
    if (herd_gguf_get_str(g, "tokenizer.ggml.pre", &s, &sn) && !str_is(s, sn, "llama4") &&
        !str_is(s, sn, "gpt-4o")) {
        herd_error_set(err, HERD_ERR_UNSUPPORTED,
                       "%s: pre-tokenizer '%.*s' (only llama4's o200k regex)", herd_gguf_path(g),
                       (int)(sn > 64 ? 64 : sn), s);
        return NULL;
    }
    herd_gguf_vtype et;
    uint64_t n;
    if (!herd_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n, NULL) || et != HERD_GGUF_STRING ||
        n == 0 || n > (1u << 30)) {
        herd_error_set(err, HERD_ERR_FORMAT,
                       "%s: tokenizer.ggml.tokens missing or not a string "
                       "array of sane size",
                       herd_gguf_path(g));
        return NULL;
    }

    herd_tokenizer *t = calloc(1, sizeof *t);
    const char **ptrs = malloc(n * sizeof *ptrs);
    uint64_t *lens = malloc(n * sizeof *lens);
    int32_t *types = malloc(n * sizeof *types);
    const char **mptrs = NULL;
    uint64_t *mlens = NULL;
    char *tmp = NULL;
    if (!t || !ptrs || !lens || !types)
        goto nomem;
    t->n_vocab = (int32_t)n;
    if (!herd_gguf_get_arr_str(g, "tokenizer.ggml.tokens", ptrs, lens, n)) {
        herd_error_set(err, HERD_ERR_FORMAT, "%s: unreadable tokenizer.ggml.tokens",
                       herd_gguf_path(g));
        goto fail;
    }
    if (herd_gguf_find_key(g, "tokenizer.ggml.token_type") >= 0) {
        if (!read_int_array(g, "tokenizer.ggml.token_type", n, types)) {
            herd_error_set(err, HERD_ERR_FORMAT,
                           "%s: tokenizer.ggml.token_type is not an integer "
                           "array of %llu elements",
                           herd_gguf_path(g), (unsigned long long)n);
            goto fail;
        }
    } else {
        for (uint64_t i = 0; i < n; i++)
            types[i] = HERD_TOKEN_NORMAL;
    }

    /* Token bytes. */
    uint64_t total = 0;
    for (uint64_t i = 0; i < n; i++)
        total += lens[i];
    if (total >= UINT32_MAX) {
        herd_error_set(err, HERD_ERR_LIMIT, "%s: token texts too large", herd_gguf_path(g));
        goto fail;
    }
    t->types = malloc(n);
    t->tok_off = malloc((n + 1) * sizeof *t->tok_off);
    t->bytes = malloc(total ? total : 1);
    if (!t->types || !t->tok_off || !t->bytes)
        goto nomem;
    int16_t inv[324];
    gpt2_unicode_to_byte(inv);
    uint32_t pos = 0;
    size_t n_special = 0, n_normal = 0, n_other = 0;
    for (uint64_t i = 0; i < n; i++) {
        int32_t ty = types[i];
        if (ty < HERD_TOKEN_NORMAL || ty > HERD_TOKEN_BYTE)
            ty = HERD_TOKEN_NORMAL;
        t->types[i] = (uint8_t)ty;
        t->tok_off[i] = pos;
        if (ty == HERD_TOKEN_NORMAL || ty == HERD_TOKEN_BYTE) {
            pos += (uint32_t)gpt2_decode(inv, ptrs[i], lens[i], t->bytes + pos);
            n_normal++;
        } else {
            memcpy(t->bytes + pos, ptrs[i], lens[i]);
            pos += (uint32_t)lens[i];
            if (ty == HERD_TOKEN_CONTROL || ty == HERD_TOKEN_USER_DEFINED)
                n_special++;
            else
                n_other++;
        }
        size_t tl = pos - t->tok_off[i];
        if (tl > t->max_len)
            t->max_len = tl;
    }
    t->tok_off[n] = pos;

    if (!strmap_init(&t->normal, n_normal))
        goto nomem;
    if (n_special && !strmap_init(&t->special, n_special))
        goto nomem;
    if (n_other && !strmap_init(&t->other, n_other))
        goto nomem;
    for (int32_t i = 0; i < t->n_vocab; i++) {
        size_t tl = t->tok_off[i + 1] - t->tok_off[i];
        uint8_t ty = t->types[i];
        if (tl == 0)
            continue;
        if (ty == HERD_TOKEN_NORMAL || ty == HERD_TOKEN_BYTE) {
            strmap_insert(t, &t->normal, i);
        } else if (ty == HERD_TOKEN_CONTROL || ty == HERD_TOKEN_USER_DEFINED) {
            strmap_insert(t, &t->special, i);
            t->special_first[(uint8_t)t->bytes[t->tok_off[i]]] = true;
            if (tl > t->max_special_len)
                t->max_special_len = tl;
            int k = 0;
            while (k < t->n_special_lens && t->special_lens[k] != (int32_t)tl)
                k++;
            if (k == t->n_special_lens) {
                if (k < (int)(sizeof t->special_lens / sizeof t->special_lens[0]))
                    t->special_lens[t->n_special_lens++] = (int32_t)tl;
                else
                    t->special_len_overflow = true;
            }
        } else {
            strmap_insert(t, &t->other, i);
        }
    }
    /* Longest first: a special whose text starts with another's wins. */
    for (int i = 1; i < t->n_special_lens; i++)
        for (int j = i; j > 0 && t->special_lens[j] > t->special_lens[j - 1]; j--) {
            int32_t x = t->special_lens[j];
            t->special_lens[j] = t->special_lens[j - 1];
            t->special_lens[j - 1] = x;
        }
    for (int b = 0; b < 256; b++) {
        char ch = (char)b;
        t->byte_id[b] = strmap_find(t, &t->normal, &ch, 1);
        if (t->byte_id[b] < 0) {
            herd_error_set(err, HERD_ERR_FORMAT, "%s: vocabulary has no token for byte 0x%02x",
                           herd_gguf_path(g), b);
            goto fail;
        }
    }

    /* Merges: "A B" in priority order; rank = index. */
    uint64_t nm = 0;
    if (herd_gguf_find_key(g, "tokenizer.ggml.merges") >= 0 &&
        (!herd_gguf_get_arr(g, "tokenizer.ggml.merges", &et, &nm, NULL) || et != HERD_GGUF_STRING ||
         nm >= INT32_MAX)) {
        herd_error_set(err, HERD_ERR_FORMAT, "%s: tokenizer.ggml.merges is not a string array",
                       herd_gguf_path(g));
        goto fail;
    }
    uint64_t cap = 16;
    while (cap < 2 * nm + 1)
        cap <<= 1;
    t->pairs = malloc(cap * sizeof *t->pairs);
    if (!t->pairs)
        goto nomem;
    for (uint64_t i = 0; i < cap; i++)
        t->pairs[i].key = UINT64_MAX;
    t->pair_mask = cap - 1;
    if (nm) {
        mptrs = malloc(nm * sizeof *mptrs);
        mlens = malloc(nm * sizeof *mlens);
        if (!mptrs || !mlens)
            goto nomem;
        if (!herd_gguf_get_arr_str(g, "tokenizer.ggml.merges", mptrs, mlens, nm)) {
            herd_error_set(err, HERD_ERR_FORMAT, "%s: unreadable tokenizer.ggml.merges",
                           herd_gguf_path(g));
            goto fail;
        }
        uint64_t maxm = 0;
        for (uint64_t i = 0; i < nm; i++)
            if (mlens[i] > maxm)
                maxm = mlens[i];
        tmp = malloc(maxm + 1);
        if (!tmp)
            goto nomem;
        for (uint64_t i = 0; i < nm; i++) {
            const char *m = mptrs[i];
            size_t ml = mlens[i], sp = 1;
            while (sp < ml && m[sp] != ' ')
                sp++;
            if (sp >= ml)
                continue; /* malformed merge: ignored, as other loaders do */
            size_t la = gpt2_decode(inv, m, sp, tmp);
            size_t lb = gpt2_decode(inv, m + sp + 1, ml - sp - 1, tmp + la);
            int32_t a = strmap_find(t, &t->normal, tmp, la);
            int32_t b = strmap_find(t, &t->normal, tmp + la, lb);
            int32_t ab = strmap_find(t, &t->normal, tmp, la + lb);
            if (a < 0 || b < 0 || ab < 0)
                continue;
            uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
            for (uint64_t k = hash_pair(key) & t->pair_mask;; k = (k + 1) & t->pair_mask) {
                pair_entry *e = &t->pairs[k];
                if (e->key == key)
                    break; /* duplicate merge: the first (higher priority) stays */
                if (e->key == UINT64_MAX) {
                    *e = (pair_entry){ key, ab, (int32_t)i };
                    break;
                }
            }
        }
    }

    /* Special ids. */
    t->bos = t->eos = t->eot = t->eom = t->end_of_text = t->pad = -1;
    struct {
        const char *key;
        int32_t *dst;
    } ids[] = {
        { "tokenizer.ggml.bos_token_id", &t->bos },     { "tokenizer.ggml.eos_token_id", &t->eos },
        { "tokenizer.ggml.eot_token_id", &t->eot },     { "tokenizer.ggml.eom_token_id", &t->eom },
        { "tokenizer.ggml.padding_token_id", &t->pad },
    };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        uint32_t v;
        if (!herd_gguf_get_u32(g, ids[i].key, &v))
            continue;
        if (v >= n) {
            herd_error_set(err, HERD_ERR_FORMAT, "%s: %s = %u is outside the vocabulary (%llu)",
                           herd_gguf_path(g), ids[i].key, v, (unsigned long long)n);
            goto fail;
        }
        *ids[i].dst = (int32_t)v;
    }
    int32_t id;
    if ((id = herd_tokenizer_find(t, "<|eot|>")) >= 0)
        t->eot = id;
    if ((id = herd_tokenizer_find(t, "<|eom|>")) >= 0)
        t->eom = id;
    t->end_of_text = herd_tokenizer_find(t, "<|end_of_text|>");
    bool add_bos = true;
    if (herd_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &add_bos))
        t->add_bos = add_bos;
    else
        t->add_bos = t->bos >= 0;

    for (int c = 0; c < 128; c++)
        t->ascii_flags[c] = cp_flags(c);

    free(ptrs);
    free(lens);
    free(types);
    free(mptrs);
    free(mlens);
    free(tmp);
    return t;

nomem:
    herd_error_set(err, HERD_ERR_NOMEM, "out of memory loading the tokenizer");
fail:
    free(ptrs);
    free(lens);
    free(types);
    free(mptrs);
    free(mlens);
    free(tmp);
    herd_tokenizer_free(t);
    return NULL;
}

void herd_tokenizer_free(herd_tokenizer *t)
{
    if (!t)
        return;
    free(t->types);
    free(t->tok_off);
    free(t->bytes);
    free(t->normal.slots);
    free(t->special.slots);
    free(t->other.slots);
    free(t->pairs);
    free(t);
}

/* ------------------------------------------------------------------------------------------
 * Queries.
 */

int32_t herd_tokenizer_n_vocab(const herd_tokenizer *t)
{
    return t->n_vocab;
}
int32_t herd_tokenizer_bos(const herd_tokenizer *t)
{
    return t->bos;
}
int32_t herd_tokenizer_eos(const herd_tokenizer *t)
{
    return t->eos;
}
int32_t herd_tokenizer_eot(const herd_tokenizer *t)
{
    return t->eot;
}
int32_t herd_tokenizer_eom(const herd_tokenizer *t)
{
    return t->eom;
}
int32_t herd_tokenizer_end_of_text(const herd_tokenizer *t)
{
    return t->end_of_text;
}
int32_t herd_tokenizer_pad(const herd_tokenizer *t)
{
    return t->pad;
}
bool herd_tokenizer_add_bos(const herd_tokenizer *t)
{
    return t->add_bos;
}

bool herd_tokenizer_is_stop(const herd_tokenizer *t, int32_t id)
{
    return id >= 0 && (id == t->eos || id == t->eot || id == t->eom || id == t->end_of_text);
}

herd_token_type herd_tokenizer_token_type(const herd_tokenizer *t, int32_t id)
{
    if (id < 0 || id >= t->n_vocab)
        return 0;
    return (herd_token_type)t->types[id];
}

bool herd_tokenizer_is_special(const herd_tokenizer *t, int32_t id)
{
    herd_token_type ty = herd_tokenizer_token_type(t, id);
    return ty == HERD_TOKEN_CONTROL || ty == HERD_TOKEN_USER_DEFINED || ty == HERD_TOKEN_UNUSED;
}

int32_t herd_tokenizer_find_n(const herd_tokenizer *t, const char *text, size_t len)
{
    int32_t id = strmap_find(t, &t->special, text, len);
    if (id < 0)
        id = strmap_find(t, &t->normal, text, len);
    if (id < 0)
        id = strmap_find(t, &t->other, text, len);
    return id;
}

int32_t herd_tokenizer_find(const herd_tokenizer *t, const char *text)
{
    return herd_tokenizer_find_n(t, text, strlen(text));
}

const char *herd_token_bytes(const herd_tokenizer *t, int32_t id, size_t *len)
{
    if (id < 0 || id >= t->n_vocab) {
        *len = 0;
        return NULL;
    }
    return tok_ptr(t, id, len);
}

size_t herd_detokenize(const herd_tokenizer *t, const int32_t *ids, size_t n, bool render_special,
                       char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->n_vocab)
            continue;
        if (!render_special && herd_tokenizer_is_special(t, ids[i]))
            continue;
        size_t tl;
        const char *p = tok_ptr(t, ids[i], &tl);
        if (o < cap)
            memcpy(out + o, p, tl < cap - o ? tl : cap - o);
        o += tl;
    }
    return o;
}

/* ------------------------------------------------------------------------------------------
 * Streaming detokenizer.
 */

struct herd_detok {
    const herd_tokenizer *t;
    bool render_special;
    uint8_t held[4];
    int n_held;
    uint8_t *in; /* held + token bytes */
    char *out;   /* at most 3 bytes per input byte */
    size_t cap_in;
};

herd_detok *herd_detok_new(const herd_tokenizer *t, bool render_special)
{
    herd_detok *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->t = t;
    d->render_special = render_special;
    d->cap_in = t->max_len + 4;
    d->in = malloc(d->cap_in);
    d->out = malloc(3 * d->cap_in);
    if (!d->in || !d->out) {
        herd_detok_free(d);
        return NULL;
    }
    return d;
}

void herd_detok_free(herd_detok *d)
{
    if (!d)
        return;
    free(d->in);
    free(d->out);
    free(d);
}

void herd_detok_reset(herd_detok *d)
{
    d->n_held = 0;
}

static size_t put_fffd(char *o)
{
    o[0] = (char)0xef;
    o[1] = (char)0xbf;
    o[2] = (char)0xbd;
    return 3;
}

const char *herd_detok_push(herd_detok *d, int32_t id, size_t *len)
{
    *len = 0;
    if (id < 0 || id >= d->t->n_vocab)
        return d->out;
    if (!d->render_special && herd_tokenizer_is_special(d->t, id))
        return d->out;
    size_t tl;
    const char *p = tok_ptr(d->t, id, &tl);
    memcpy(d->in, d->held, d->n_held);
    memcpy(d->in + d->n_held, p, tl);
    size_t n = d->n_held + tl, o = 0, i = 0;
    d->n_held = 0;
    const uint8_t *s = d->in;
    while (i < n) {
        uint8_t b = s[i];
        if (b < 0x80) {
            d->out[o++] = (char)b;
            i++;
            continue;
        }
        int need = 0;
        uint8_t lo = 0x80, hi = 0xbf;
        if (b >= 0xc2 && b <= 0xdf) {
            need = 2;
        } else if (b >= 0xe0 && b <= 0xef) {
            need = 3;
            lo = b == 0xe0 ? 0xa0 : 0x80;
            hi = b == 0xed ? 0x9f : 0xbf;
        } else if (b >= 0xf0 && b <= 0xf4) {
            need = 4;
            lo = b == 0xf0 ? 0x90 : 0x80;
            hi = b == 0xf4 ? 0x8f : 0xbf;
        }
        if (!need) {
            o += put_fffd(d->out + o);
            i++;
            continue;
        }
        int j = 1;
        while (j < need && i + j < n && s[i + j] >= lo && s[i + j] <= hi) {
            lo = 0x80;
            hi = 0xbf;
            j++;
        }
        if (j == need) {
            memcpy(d->out + o, s + i, need);
            o += need;
            i += need;
        } else if (i + j == n) { /* valid so far, cut by the end: hold back */
            memcpy(d->held, s + i, j);
            d->n_held = j;
            i = n;
        } else { /* maximal ill-formed subpart s[i..i+j) */
            o += put_fffd(d->out + o);
            i += j;
        }
    }
    *len = o;
    return d->out;
}

const char *herd_detok_flush(herd_detok *d, size_t *len)
{
    *len = 0;
    if (d->n_held) {
        *len = put_fffd(d->out);
        d->n_held = 0;
    }
    return d->out;
}
