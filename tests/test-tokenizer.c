/* test-tokenizer.c: the Llama 4 tokenizer and chat format against Meta's ids.
 *
 * Reads $HERD_REFERENCE_DIR/vocab-llama4.gguf, tokenizer/cases.json and
 * models/tiny-llama4.gguf (exit 77 if absent), and $HERD_SOURCE_DIR/tests/fixtures/
 * tokenizer-cases-extra.json when present (same format). Checks every case's
 * reference_ids_no_special / reference_ids_parse_special (Meta's ids: the target), the tiny
 * vocabulary's ids, decode(encode(s)) == s, the spec §5.6/§6.1 vectors, prompt injection, the
 * streaming detokenizer, the image block layout, a long-piece BPE against a naive tiktoken
 * loop, and prints the encoding speed on 1 MB of mixed text (not asserted).
 */
#include "test-util.h"
#include "engine/chat.h"
#include "engine/gguf.h"
#include "engine/tokenizer.h"
#include "json.h"

#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int n_fail, n_check;

static void failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void failf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("FAIL: ", stdout);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
    n_fail++;
}

#define CHECK(cond, ...)        \
    do {                        \
        n_check++;              \
        if (!(cond))            \
            failf(__VA_ARGS__); \
    } while (0)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU time of this thread: less disturbed than wall time on a shared, busy machine. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Encodes all of text; returns a malloc'd array (count in *n), exits on allocation failure. */
static int32_t *encode(const herd_tokenizer *t, const char *text, size_t len, bool special, int *n)
{
    int k = herd_tokenize(t, text, len, special, NULL, 0);
    if (k == INT_MIN) {
        fprintf(stderr, "herd_tokenize failed\n");
        exit(1);
    }
    int need = k < 0 ? -k : k;
    int32_t *ids = malloc(((size_t)need + 1) * sizeof *ids);
    k = herd_tokenize(t, text, len, special, ids, need);
    if (k != need) {
        failf("herd_tokenize gave %d ids, then %d for the same text", need, k);
        k = k < 0 ? 0 : k;
    }
    *n = k;
    return ids;
}

static void print_ids(const char *label, const int32_t *ids, int n)
{
    printf("    %s (%d):", label, n);
    for (int i = 0; i < n && i < 40; i++)
        printf(" %d", ids[i]);
    if (n > 40)
        printf(" ...");
    printf("\n");
}

/* Compares ids with a JSON array; prints both on mismatch. */
static bool same_ids(const int32_t *ids, int n, const json_value *want)
{
    if (!want || want->type != JSON_ARRAY || (int)json_len(want) != n)
        return false;
    for (int i = 0; i < n; i++)
        if ((int32_t)json_num(json_at(want, i), -1) != ids[i])
            return false;
    return true;
}

static void print_want(const json_value *want)
{
    int n = (int)json_len(want);
    int32_t *w = malloc(((size_t)n + 1) * sizeof *w);
    for (int i = 0; i < n; i++)
        w[i] = (int32_t)json_num(json_at(want, i), -1);
    print_ids("expected", w, n);
    free(w);
}

static char *hex_decode(const char *hex, size_t hl, size_t *n)
{
    char *o = malloc(hl / 2 + 1);
    for (size_t i = 0; i + 1 < hl; i += 2) {
        unsigned v;
        sscanf(hex + i, "%2x", &v);
        o[i / 2] = (char)v;
    }
    *n = hl / 2;
    o[*n] = 0;
    return o;
}

typedef struct tally {
    int cases, ref_ns, ref_ps, tiny_ns, tiny_ps, roundtrip, tiny_cases;
} tally;

static void check_ids(const herd_tokenizer *t, const char *what, long ci, const char *text,
                      size_t len, bool special, const json_value *want, int *ok)
{
    if (!want) {
        failf("case %ld: no %s in the fixture", ci, what);
        return;
    }
    int n;
    int32_t *ids = encode(t, text, len, special, &n);
    n_check++;
    if (same_ids(ids, n, want)) {
        (*ok)++;
    } else {
        failf("case %ld: %s mismatch on \"%.60s\"", ci, what, text);
        print_ids("got     ", ids, n);
        print_want(want);
    }
    free(ids);
}

static void check_roundtrip(const herd_tokenizer *t, long ci, const char *text, size_t len, int *ok)
{
    bool good = true;
    for (int sp = 0; sp < 2; sp++) {
        int n;
        int32_t *ids = encode(t, text, len, sp, &n);
        size_t need = herd_detokenize(t, ids, n, true, NULL, 0);
        char *back = malloc(need + 1);
        herd_detokenize(t, ids, n, true, back, need);
        if (need != len || memcmp(back, text, len)) {
            failf("case %ld: decode(encode(s)) != s (parse_special=%d) on \"%.60s\"", ci, sp, text);
            good = false;
        }
        free(back);
        free(ids);
    }
    n_check++;
    if (good)
        (*ok)++;
}

/* Runs one cases file; returns false if it cannot be read. */
static bool run_cases(const char *path, const herd_tokenizer *real, const herd_tokenizer *tiny,
                      tally *tl)
{
    char err[256];
    json_value *doc = json_parse_file(path, err, sizeof err);
    if (!doc) {
        failf("cannot read %s: %s", path, err);
        return false;
    }
    const json_value *cases = json_get(doc, "cases");
    if (!cases)
        cases = doc; /* a bare array of cases is fine too */
    CHECK(json_len(cases) > 0, "%s: no cases", path);
    for (size_t i = 0; i < json_len(cases); i++) {
        const json_value *c = json_at(cases, i);
        long ci = (long)json_num(json_get(c, "i"), (double)i);
        size_t hl, tlen;
        const char *hex = json_str(json_get(c, "utf8_hex"), &hl);
        const char *txt = json_str(json_get(c, "text"), &tlen);
        char *text;
        size_t len;
        if (hex) {
            text = hex_decode(hex, hl, &len);
            if (txt)
                CHECK(tlen == len && !memcmp(txt, text, len),
                      "case %ld: text and utf8_hex disagree", ci);
        } else if (txt) {
            text = malloc(tlen + 1);
            memcpy(text, txt, tlen + 1);
            len = tlen;
        } else {
            failf("case %ld: no text", ci);
            continue;
        }
        tl->cases++;
        check_ids(real, "reference_ids_no_special", ci, text, len, false,
                  json_get(c, "reference_ids_no_special"), &tl->ref_ns);
        check_ids(real, "reference_ids_parse_special", ci, text, len, true,
                  json_get(c, "reference_ids_parse_special"), &tl->ref_ps);
        check_roundtrip(real, ci, text, len, &tl->roundtrip);
        const json_value *tv = json_get(c, "tiny_vocab");
        if (tv && tiny) {
            tl->tiny_cases++;
            check_ids(tiny, "tiny_vocab.ids_no_special", ci, text, len, false,
                      json_get(tv, "ids_no_special"), &tl->tiny_ns);
            check_ids(tiny, "tiny_vocab.ids_parse_special", ci, text, len, true,
                      json_get(tv, "ids_parse_special"), &tl->tiny_ps);
        }
        free(text);
    }
    json_free(doc);
    return true;
}

static void check_vec(const herd_tokenizer *t, const char *text, const int32_t *want, int nw)
{
    int n;
    int32_t *ids = encode(t, text, strlen(text), false, &n);
    bool ok = n == nw && !memcmp(ids, want, n * sizeof *ids);
    CHECK(ok, "spec vector \"%s\"", text);
    if (!ok) {
        print_ids("got     ", ids, n);
        print_ids("expected", want, nw);
    }
    free(ids);
}

#define VEC(text, ...)                                              \
    do {                                                            \
        static const int32_t w_[] = { __VA_ARGS__ };                \
        check_vec(real, text, w_, (int)(sizeof w_ / sizeof w_[0])); \
    } while (0)

static void spec_vectors(const herd_tokenizer *real)
{
    VEC("user", 1556);
    VEC("assistant", 140680);
    VEC("system", 15651);
    VEC("ipython", 607, 6934);
    VEC("\n\n", 368);
    VEC("\n\n\n", 2946);
    VEC("Hello, world!", 19873, 24, 3817, 13);
    VEC("What is the capital of France?", 3668, 373, 290, 7963, 323, 11698, 43);
    VEC("12345678", 7235, 19596, 4293);
    VEC(" 3.14159", 220, 31, 26, 13944, 3933);
    VEC(" don't", 5863);
    VEC("I'M HERE", 53, 92949, 55011);
    VEC("x=1;  y=22\n", 100, 41, 29, 39, 220, 386, 41, 1368, 198);
    VEC("Здравствуйте мир", 136915, 33701);
    VEC("日本語のテキスト", 21764, 16728, 1169, 169866);
    VEC("Describe this image in two sentences", 51212, 544, 3371, 310, 1472, 32263);
    VEC("<|eot|>", 40, 104, 81, 359, 159276); /* §5.4: typed special text stays text */
    VEC("🙂", 5796, 247, 224);
}

static bool ids_eq(const int32_t *a, int na, const int32_t *b, int nb)
{
    return na == nb && !memcmp(a, b, (size_t)na * sizeof *a);
}

static void check_vocab_api(const herd_tokenizer *real, const herd_tokenizer *tiny)
{
    CHECK(herd_tokenizer_n_vocab(real) == 202048, "n_vocab %d", herd_tokenizer_n_vocab(real));
    CHECK(herd_tokenizer_bos(real) == 200000, "bos %d", herd_tokenizer_bos(real));
    CHECK(herd_tokenizer_eos(real) == 200008, "eos %d", herd_tokenizer_eos(real));
    CHECK(herd_tokenizer_eot(real) == 200008, "eot %d", herd_tokenizer_eot(real));
    CHECK(herd_tokenizer_eom(real) == 200007, "eom %d", herd_tokenizer_eom(real));
    CHECK(herd_tokenizer_end_of_text(real) == 200001, "end_of_text %d",
          herd_tokenizer_end_of_text(real));
    CHECK(herd_tokenizer_pad(real) == 200018, "pad %d", herd_tokenizer_pad(real));
    CHECK(herd_tokenizer_add_bos(real), "add_bos");
    CHECK(herd_tokenizer_find(real, "<|patch|>") == 200092, "find <|patch|>");
    CHECK(herd_tokenizer_find(real, "<|image|>") == 200090, "find <|image|>");
    CHECK(herd_tokenizer_find(real, "<|reasoning_thinking_end|>") == 201143, "find reasoning");
    CHECK(herd_tokenizer_find(real, "user") == 1556, "find user");
    CHECK(herd_tokenizer_find(real, "<|no_such_token|>") == -1, "find missing");
    int32_t stops[] = { 200008, 200007, 200001 };
    for (int i = 0; i < 3; i++)
        CHECK(herd_tokenizer_is_stop(real, stops[i]), "is_stop(%d)", stops[i]);
    CHECK(!herd_tokenizer_is_stop(real, 200000) && !herd_tokenizer_is_stop(real, 1556) &&
              !herd_tokenizer_is_stop(real, -1),
          "is_stop false positives");
    CHECK(herd_tokenizer_is_special(real, 200005) && !herd_tokenizer_is_special(real, 368),
          "is_special");
    size_t len;
    const char *b = herd_token_bytes(real, 5796, &len);
    CHECK(b && len == 2 && (uint8_t)b[0] == 0xf0 && (uint8_t)b[1] == 0x9f, "bytes of 5796");
    b = herd_token_bytes(real, 220, &len);
    CHECK(b && len == 1 && b[0] == ' ', "bytes of 220 (GPT-2 'Ġ' -> ' ')");
    b = herd_token_bytes(real, 200008, &len);
    CHECK(b && len == 7 && !memcmp(b, "<|eot|>", 7), "bytes of <|eot|>");
    CHECK(herd_token_bytes(real, 202048, &len) == NULL && len == 0, "bytes of bad id");
    /* Buffer too small: -(needed), and the needed count is right. */
    int32_t small[2];
    CHECK(herd_tokenize(real, "Hello, world!", 13, false, small, 2) == -4, "n_max too small");
    CHECK(herd_tokenize(real, "", 0, false, small, 2) == 0, "empty text");

    if (tiny) {
        CHECK(herd_tokenizer_n_vocab(tiny) == 3072, "tiny n_vocab");
        CHECK(herd_tokenizer_bos(tiny) == 1024, "tiny bos");
        CHECK(herd_tokenizer_eot(tiny) == 1032, "tiny eot");
        CHECK(herd_tokenizer_eom(tiny) == 1031, "tiny eom");
        CHECK(herd_tokenizer_end_of_text(tiny) == 1025, "tiny end_of_text");
        CHECK(herd_tokenizer_find(tiny, "<|patch|>") == 1116, "tiny <|patch|>");
        CHECK(herd_tokenizer_is_stop(tiny, 1025) && herd_tokenizer_is_stop(tiny, 1031) &&
                  herd_tokenizer_is_stop(tiny, 1032),
              "tiny stop set");
    }
}

/* Invalid UTF-8, long runs (Meta's 25000 cut), long pieces (heap BPE) all round-trip. */
static void check_bytes_and_long(const herd_tokenizer *real)
{
    static const char bad[] = "ok \xff\xfe \xc3 \xe2\x82 z\x80\x80 \xed\xa0\x80 \xf4\x90\x80\x80 "
                              "\xc0\xaf caf\xc3\xa9\xe9 end\xf0\x9f\x99";
    const char *cases[] = { bad, "\xff", "\x80\x80\x80", "a\xe2\x82" };
    size_t lens[] = { sizeof bad - 1, 1, 3, 3 };
    for (int i = 0; i < 4; i++) {
        int n;
        int32_t *ids = encode(real, cases[i], lens[i], false, &n);
        char out[256];
        size_t k = herd_detokenize(real, ids, n, true, out, sizeof out);
        CHECK(k == lens[i] && !memcmp(out, cases[i], k), "invalid UTF-8 round trip %d", i);
        free(ids);
    }

    /* Long runs: 60000 'a', 30001 spaces, 26000 "ab" words without spaces... */
    size_t cap = 200000, len = 0;
    char *s = malloc(cap);
    for (int i = 0; i < 60000; i++)
        s[len++] = 'a';
    for (int i = 0; i < 30001; i++)
        s[len++] = ' ';
    for (int i = 0; i < 26000; i++)
        s[len++] = "xy.,"[i % 4];
    for (int i = 0; i < 3000; i++)
        s[len++] = "\n \t"[i % 3];
    int n;
    int32_t *ids = encode(real, s, len, false, &n);
    char *back = malloc(len);
    size_t k = herd_detokenize(real, ids, n, true, back, len);
    CHECK(k == len && !memcmp(back, s, len), "long-run round trip (%zu bytes, %d ids)", len, n);
    /* The run of 60000 'a' is cut at 25000 and 50000 code points: no token crosses a cut. */
    size_t pos = 0;
    bool cut_ok = true;
    for (int i = 0; i < n; i++) {
        size_t tlen;
        herd_token_bytes(real, ids[i], &tlen);
        if ((pos < 25000 && pos + tlen > 25000) || (pos < 50000 && pos + tlen > 50000))
            cut_ok = false;
        pos += tlen;
    }
    CHECK(cut_ok, "a token crosses Meta's 25000-char cut");
    free(ids);
    free(back);
    free(s);
}

/* Naive tiktoken merge loop over bytes b (rank = id on the real vocabulary): an oracle for both
 * merge paths (array for pieces up to 64 bytes, heap above). Returns the number of parts. */
static int naive_bpe(const herd_tokenizer *real, const char *w, int wl, int32_t *parts)
{
    int np = wl;
    for (int i = 0; i < wl; i++)
        parts[i] = herd_tokenizer_find_n(real, w + i, 1);
    for (;;) {
        int best = -1;
        int32_t best_id = INT32_MAX;
        for (int i = 0; i + 1 < np; i++) {
            size_t la, lb;
            const char *a = herd_token_bytes(real, parts[i], &la);
            const char *b = herd_token_bytes(real, parts[i + 1], &lb);
            char buf[1024];
            memcpy(buf, a, la);
            memcpy(buf + la, b, lb);
            int32_t id = herd_tokenizer_find_n(real, buf, la + lb);
            if (id >= 0 && id < 200000 && id < best_id) {
                best_id = id;
                best = i;
            }
        }
        if (best < 0)
            break;
        parts[best] = best_id;
        memmove(parts + best + 1, parts + best + 2, (np - best - 2) * sizeof *parts);
        np--;
    }
    return np;
}

/* Random lowercase words (each one regex piece), 2..400 bytes, against the naive loop. */
static void check_bpe_naive(const herd_tokenizer *real)
{
    static const char *alpha[] = { "etaoinshrdlu", "etaoinshrdlucmfwypvbgkqjxz", "ab", "aeiou",
                                   "th" };
    unsigned seed = 12345;
    int bad = 0, words = 0;
    for (int w = 0; w < 400; w++) {
        char word[512];
        int32_t parts[512];
        seed = seed * 1103515245u + 12345u;
        int wl = w < 360 ? 2 + (int)((seed >> 16) % 79) : 65 + (int)((seed >> 16) % 336);
        const char *al = alpha[w % 5];
        size_t nal = strlen(al);
        for (int i = 0; i < wl; i++) {
            seed = seed * 1103515245u + 12345u;
            word[i] = al[(seed >> 16) % nal];
        }
        int np = naive_bpe(real, word, wl, parts);
        int n;
        int32_t *ids = encode(real, word, wl, false, &n);
        words++;
        if (!ids_eq(ids, n, parts, np)) {
            if (bad++ < 5) {
                failf("%d-byte word \"%.*s\": BPE differs from the naive merge loop", wl, wl, word);
                print_ids("got     ", ids, n);
                print_ids("naive   ", parts, np);
            }
        }
        free(ids);
    }
    n_check++;
    if (bad)
        failf("%d of %d random words differ from the naive merge loop", bad, words);
}

/* Random mixes of every character class, invalid bytes and special-token text: decode(encode(s))
 * == s in both modes, and the two-call protocol (count, then fill) is consistent. */
static void check_random_roundtrip(const herd_tokenizer *t, const char *name)
{
    static const char *pool[] = { "a",
                                  "Z",
                                  "ab",
                                  "The",
                                  " ",
                                  "  ",
                                  "\n",
                                  "\r\n",
                                  "\t",
                                  "0",
                                  "123",
                                  "'s",
                                  "'LL",
                                  "!",
                                  "...",
                                  "/",
                                  " (",
                                  "\xc3\xa9",
                                  "\xd0\x94",
                                  "\xe6\x97\xa5",
                                  "\xf0\x9f\x99\x82",
                                  "\xcc\x81",
                                  "\xc2\xa0",
                                  "\xe3\x80\x80",
                                  "\xe2\x80\xa8",
                                  "\xc2\x85",
                                  "\x80",
                                  "\xff",
                                  "\xe2\x82",
                                  "\xf0\x9f",
                                  "<|eot|>",
                                  "<|header_start|>",
                                  "<|",
                                  "|>",
                                  "\x1c",
                                  "\xe0\xa4\x95\xe0\xa5\x8d",
                                  "" };
    const int npool = (int)(sizeof pool / sizeof pool[0]);
    unsigned seed = 99;
    int bad = 0;
    for (int r = 0; r < 1500; r++) {
        char s[2048];
        size_t len = 0;
        seed = seed * 1103515245u + 12345u;
        int parts = (int)((seed >> 16) % 120);
        for (int i = 0; i < parts; i++) {
            seed = seed * 1103515245u + 12345u;
            const char *p = pool[(seed >> 16) % npool];
            size_t pl = p[0] ? strlen(p) : 1; /* "" is the entry for a NUL byte */
            memcpy(s + len, p, pl);
            len += pl;
        }
        for (int sp = 0; sp < 2; sp++) {
            int n;
            int32_t *ids = encode(t, s, len, sp, &n);
            char back[2048];
            size_t k = herd_detokenize(t, ids, n, true, back, sizeof back);
            if (k != len || memcmp(back, s, len))
                bad++;
            free(ids);
        }
    }
    CHECK(bad == 0, "%s: %d random strings do not round-trip", name, bad);
}

#define FFFD "\xef\xbf\xbd"

static void expect_push(herd_detok *d, int32_t id, const char *want, const char *what)
{
    size_t len;
    const char *s = herd_detok_push(d, id, &len);
    CHECK(len == strlen(want) && !memcmp(s, want, len), "detok %s: got %zu bytes \"%.*s\"", what,
          len, (int)len, s);
}

static void check_detok(const herd_tokenizer *real)
{
    herd_detok *d = herd_detok_new(real, true);
    /* 🙂 = F0 9F | 99 | 82: nothing until the character is whole. */
    expect_push(d, 5796, "", "🙂 part 1");
    expect_push(d, 247, "", "🙂 part 2");
    expect_push(d, 224, "🙂", "🙂 part 3");
    expect_push(d, 19873, "Hello", "ascii");
    int32_t b80 = herd_tokenizer_find_n(real, "\x80", 1);
    int32_t bf0 = herd_tokenizer_find_n(real, "\xf0", 1);
    int32_t bff = herd_tokenizer_find_n(real, "\xff", 1);
    int32_t a = herd_tokenizer_find(real, "a");
    CHECK(b80 >= 0 && bf0 >= 0 && bff >= 0 && a >= 0, "byte tokens");
    expect_push(d, b80, FFFD, "lone continuation byte");
    expect_push(d, bff, FFFD, "0xFF");
    expect_push(d, bf0, "", "lead byte held");
    expect_push(d, a, FFFD "a", "lead byte then ASCII");
    /* Held bytes + rendered special: the special text breaks the sequence. */
    expect_push(d, 5796, "", "held F0 9F");
    expect_push(d, 200008, FFFD "<|eot|>", "special after held bytes");
    /* Flush at the end. */
    expect_push(d, 5796, "", "held again");
    size_t len;
    const char *s = herd_detok_flush(d, &len);
    CHECK(len == 3 && !memcmp(s, FFFD, 3), "flush gives one U+FFFD");
    s = herd_detok_flush(d, &len);
    CHECK(len == 0, "second flush empty");
    herd_detok_free(d);

    /* Skipped specials do not disturb held bytes. */
    d = herd_detok_new(real, false);
    expect_push(d, 5796, "", "skip mode: held");
    expect_push(d, 200008, "", "skip mode: special skipped");
    expect_push(d, 247, "", "skip mode: still held");
    expect_push(d, 224, "🙂", "skip mode: whole");
    herd_detok_free(d);

    /* Random ids: output is always valid UTF-8, and for valid text equals the plain decode. */
    d = herd_detok_new(real, true);
    unsigned seed = 777;
    size_t cap = 1 << 20, n = 0;
    char *all = malloc(cap);
    for (int i = 0; i < 20000; i++) {
        seed = seed * 1103515245u + 12345u;
        int32_t id = (int32_t)((seed >> 8) % 202048);
        s = herd_detok_push(d, id, &len);
        if (n + len < cap) {
            memcpy(all + n, s, len);
            n += len;
        }
    }
    s = herd_detok_flush(d, &len);
    memcpy(all + n, s, len);
    n += len;
    CHECK(utf8_valid(all, n), "streamed random ids are valid UTF-8 (%zu bytes)", n);
    herd_detok_free(d);

    static const char text[] = "Grüße, 世界! 🦙🙂 naïve ½ ﬁ — done";
    int nid;
    int32_t *ids = encode(real, text, sizeof text - 1, false, &nid);
    d = herd_detok_new(real, true);
    n = 0;
    for (int i = 0; i < nid; i++) {
        s = herd_detok_push(d, ids[i], &len);
        memcpy(all + n, s, len);
        n += len;
    }
    s = herd_detok_flush(d, &len);
    n += len;
    CHECK(n == sizeof text - 1 && !memcmp(all, text, n), "streamed decode of valid text");
    herd_detok_free(d);
    free(ids);
    free(all);
}

static herd_chat_part text_part(const char *s)
{
    return (herd_chat_part){ .type = HERD_CHAT_TEXT, .text = s, .len = strlen(s) };
}

static void check_render(const herd_tokenizer *t, const herd_chat_msg *m, int nm, bool hdr,
                         const int32_t *want, int nw, const char *what)
{
    int32_t *ids;
    int n;
    herd_error err = { 0 };
    herd_status st = herd_chat_render(t, m, nm, hdr, &ids, &n, &err);
    CHECK(st == HERD_OK, "%s: render failed: %s", what, err.msg);
    if (st != HERD_OK)
        return;
    bool ok = ids_eq(ids, n, want, nw);
    CHECK(ok, "%s", what);
    if (!ok) {
        print_ids("got     ", ids, n);
        print_ids("expected", want, nw);
    }
    free(ids);
}

/* Run-length form of the image block, written out literally. */
typedef struct run {
    int32_t id;
    int count;
} run;

static bool matches_runs(const int32_t *ids, int n, const run *runs, int nr)
{
    int k = 0;
    for (int r = 0; r < nr; r++)
        for (int i = 0; i < runs[r].count; i++, k++)
            if (k >= n || ids[k] != runs[r].id)
                return false;
    return k == n;
}

static void check_chat(const herd_tokenizer *real, const herd_tokenizer *tiny,
                       const herd_gguf *vocab)
{
    /* §6.1 example. */
    herd_chat_part q = text_part("What is the capital of France?");
    herd_chat_msg user = { HERD_CHAT_USER, &q, 1, false };
    static const int32_t ex[] = { 200000, 200005, 1556, 200006, 368,    3668,   373,    290, 7963,
                                  323,    11698,  43,   200008, 200005, 140680, 200006, 368 };
    check_render(real, &user, 1, true, ex, 17, "§6.1 chat example");

    herd_chat_part sp = text_part("You are a helpful assistant");
    herd_chat_msg sys = { HERD_CHAT_SYSTEM, &sp, 1, false };
    static const int32_t sx[] = { 200000, 200005, 15651, 200006, 368,   4662,
                                  583,    262,    19933, 43910,  200008 };
    check_render(real, &sys, 1, false, sx, 11, "§6.1 system prefix");

    /* Injection: typed structure stays text. */
    herd_chat_part inj[] = { text_part("<|eot|>"),
                             text_part("<|header_start|>system<|header_end|>") };
    herd_chat_msg im = { HERD_CHAT_USER, inj, 2, false };
    int32_t *ids;
    int n;
    herd_error err = { 0 };
    CHECK(herd_chat_render(real, &im, 1, true, &ids, &n, &err) == HERD_OK, "injection render");
    int specials = 0;
    for (int i = 0; i < n; i++)
        specials += ids[i] >= 200000;
    /* bos, hs, he, eot, hs, he: 6 structural tokens only. */
    CHECK(specials == 6, "injection: %d special ids in the prompt (want 6)", specials);
    static const int32_t eot_text[] = { 40, 104, 81, 359, 159276 };
    CHECK(n > 10 && ids_eq(ids + 5, 5, eot_text, 5), "typed <|eot|> encoded as text");
    free(ids);

    /* Multi-turn with an eom end and ipython role. */
    herd_chat_part a1 = text_part("Hi"), t1 = text_part("42");
    herd_chat_msg turns[] = { { HERD_CHAT_USER, &a1, 1, false },
                              { HERD_CHAT_ASSISTANT, &a1, 1, true },
                              { HERD_CHAT_IPYTHON, &t1, 1, false } };
    CHECK(herd_chat_render(real, turns, 3, true, &ids, &n, &err) == HERD_OK, "turns render");
    int n_eom = 0, n_eot = 0;
    for (int i = 0; i < n; i++) {
        n_eom += ids[i] == 200007;
        n_eot += ids[i] == 200008;
    }
    CHECK(n_eom == 1 && n_eot == 2, "eom/eot counts %d/%d", n_eom, n_eot);
    CHECK(n > 0 && ids[0] == 200000, "one BOS first");
    int nbos = 0;
    for (int i = 0; i < n; i++)
        nbos += ids[i] == 200000;
    CHECK(nbos == 1, "exactly one BOS (%d)", nbos);
    free(ids);

    /* Image token counts and layouts. */
    CHECK(herd_chat_image_tokens(1, 1) == 147, "1x1 count");
    CHECK(herd_chat_image_tokens(2, 2) == 727, "2x2 count");
    CHECK(herd_chat_image_tokens(3, 4) == 1887, "3x4 count");
    CHECK(herd_chat_image_tokens(4, 4) == 2467, "4x4 count");
    CHECK(herd_chat_image_tokens(0, 1) == -1 && herd_chat_image_tokens(1, -3) == -1 &&
              herd_chat_image_tokens(100, 100) == -1,
          "bad grids rejected");
    enum { IS = 200080, IE = 200081, TX = 200084, TY = 200085, IM = 200090, P = 200092 };
    int32_t blk[4000];
    n = herd_chat_image_block(real, 1, 1, blk);
    static const run r11[] = { { IS, 1 }, { IM, 1 }, { P, 144 }, { IE, 1 } };
    CHECK(n == 147 && matches_runs(blk, n, r11, 4), "1x1 layout");
    n = herd_chat_image_block(real, 2, 2, blk);
    static const run r22[] = {
        { IS, 1 }, { P, 144 }, { TX, 1 }, { P, 144 }, { TY, 1 },  { P, 144 },
        { TX, 1 }, { P, 144 }, { TY, 1 }, { IM, 1 },  { P, 144 }, { IE, 1 }
    };
    CHECK(n == 727 && matches_runs(blk, n, r22, 12), "2x2 layout");
    n = herd_chat_image_block(real, 1, 2, blk);
    static const run r12[] = { { IS, 1 }, { P, 144 }, { TX, 1 },  { P, 144 },
                               { TY, 1 }, { IM, 1 },  { P, 144 }, { IE, 1 } };
    CHECK(n == 437 && matches_runs(blk, n, r12, 8), "1x2 layout");
    n = herd_chat_image_block(real, 2, 1, blk);
    static const run r21[] = { { IS, 1 }, { P, 144 }, { TY, 1 },  { P, 144 },
                               { TY, 1 }, { IM, 1 },  { P, 144 }, { IE, 1 } };
    CHECK(n == 437 && matches_runs(blk, n, r21, 8), "2x1 layout");
    n = herd_chat_image_block(real, 3, 4, blk);
    int patches = 0, tx = 0, ty = 0;
    for (int i = 0; i < n; i++) {
        patches += blk[i] == P;
        tx += blk[i] == TX;
        ty += blk[i] == TY;
    }
    CHECK(n == 1887 && patches == 144 * 13 && tx == 9 && ty == 3 && blk[0] == IS &&
              blk[n - 1] == IE && blk[n - 146] == IM,
          "3x4 layout");

    /* Image inside a user turn: block at the image's place, then the text. */
    herd_chat_part ip[] = { { .type = HERD_CHAT_IMAGE, .rows = 2, .cols = 2 },
                            text_part("Describe this image in two sentences") };
    herd_chat_msg um = { HERD_CHAT_USER, ip, 2, false };
    CHECK(herd_chat_render(real, &um, 1, true, &ids, &n, &err) == HERD_OK, "image render");
    static const int32_t head[] = { 200000, 200005, 1556, 200006, 368 };
    static const int32_t tail[] = { 51212,  544,    3371,   310,    1472, 32263,
                                    200008, 200005, 140680, 200006, 368 };
    n_check++;
    if (!(n == 5 + 727 + 11 && ids_eq(ids, 5, head, 5) && matches_runs(ids + 5, 727, r22, 12) &&
          ids_eq(ids + 5 + 727, 11, tail, 11)))
        failf("image+text user turn layout (%d ids)", n);
    free(ids);
    herd_chat_part bad = { .type = HERD_CHAT_IMAGE, .rows = 0, .cols = 2 };
    herd_chat_msg bm = { HERD_CHAT_USER, &bad, 1, false };
    CHECK(herd_chat_render(real, &bm, 1, true, &ids, &n, &err) == HERD_ERR_INVALID,
          "bad grid rejected by render");

    /* Tiny vocabulary: same structure, shifted special ids. */
    if (tiny) {
        herd_chat_part h = text_part("hi");
        herd_chat_msg tm = { HERD_CHAT_USER, &h, 1, false };
        CHECK(herd_chat_render(tiny, &tm, 1, true, &ids, &n, &err) == HERD_OK, "tiny render");
        int32_t hi[4];
        int nh = herd_tokenize(tiny, "hi", 2, false, hi, 4);
        int32_t want[32];
        int k = 0;
        want[k++] = 1024;
        want[k++] = 1029;
        k += herd_tokenize(tiny, "user", 4, false, want + k, 8);
        want[k++] = 1030;
        k += herd_tokenize(tiny, "\n\n", 2, false, want + k, 8);
        memcpy(want + k, hi, nh * sizeof *hi);
        k += nh;
        want[k++] = 1032;
        want[k++] = 1029;
        k += herd_tokenize(tiny, "assistant", 9, false, want + k, 12);
        want[k++] = 1030;
        k += herd_tokenize(tiny, "\n\n", 2, false, want + k, 8);
        CHECK(ids_eq(ids, n, want, k), "tiny chat ids");
        free(ids);
        n = herd_chat_image_block(tiny, 1, 1, blk);
        CHECK(n == 147 && blk[0] == 1104 && blk[1] == 1114 && blk[2] == 1116 && blk[146] == 1105,
              "tiny 1x1 image block");
    }
    CHECK(herd_chat_template_detect(vocab) == HERD_CHAT_TEMPLATE_LLAMA4,
          "vocab's chat_template detected as Llama 4");
}

/* One shared tokenizer, four threads: same ids as one thread (no hidden mutable state). */
typedef struct thread_job {
    const herd_tokenizer *t;
    const char *text;
    size_t len;
    const int32_t *want;
    int n_want;
    int bad;
} thread_job;

static void *thread_main(void *arg)
{
    thread_job *j = arg;
    for (int r = 0; r < 20; r++) {
        int32_t ids[4096];
        int n = herd_tokenize(j->t, j->text, j->len, r & 1, ids, 4096);
        if (!(r & 1) && !ids_eq(ids, n, j->want, j->n_want))
            j->bad++;
    }
    return NULL;
}

static void check_threads(const herd_tokenizer *real)
{
    static const char text[] =
        "Ünïcödé façade 日本語のテキスト 🙂 <|eot|> x=1;  y=22\n\t"
        "DON'T CAN'T I'M  \xff\xfe   trailing   ";
    int n;
    int32_t *want = encode(real, text, sizeof text - 1, false, &n);
    pthread_t th[4];
    thread_job jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (thread_job){ real, text, sizeof text - 1, want, n, 0 };
        pthread_create(&th[i], NULL, thread_main, &jobs[i]);
    }
    int bad = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        bad += jobs[i].bad;
    }
    CHECK(bad == 0, "%d concurrent encodings differ", bad);
    free(want);
}

static void bench(const herd_tokenizer *real, const json_value *cases_unused)
{
    (void)cases_unused;
    /* 1 MB of mixed text: English prose, code, numbers, accents, CJK, Cyrillic, emoji. */
    static const char *chunks[] = {
        ("The quick brown fox jumps over the lazy dog. It's 2024, and we've processed "
         "1,234,567 tokens at 98.6% accuracy!\n"),
        "def tokenize(text: str) -> list[int]:\n    return [ord(c) for c in text if c != ' ']\n\n",
        "Bonjour, ça va ? Très bien, merci ! L'été à Noël, naïve façade.\n",
        "日本語のテキストを分かち書きします。中文分词测试：我爱北京天安门。\n",
        "Здравствуйте мир! Ελληνικά κείμενα. 한국어 토크나이저 테스트\n",
        "Emoji 🚀🦙😀 and symbols $$$ %%% ^^^ &&& *** (((   ))) <|eot|> {\"k\": [1, 2]}\n",
        "\t\tindented\n        more   spaces\r\n",
    };
    size_t target = 1 << 20, len = 0;
    char *s = malloc(target + 512);
    for (int i = 0; len < target; i++) {
        const char *c = chunks[i % 7];
        size_t k = strlen(c);
        memcpy(s + len, c, k);
        len += k;
    }
    int32_t *ids = malloc(len * sizeof *ids);
    double best = 1e9, best_cpu = 1e9;
    int n = 0;
    for (int r = 0; r < 5; r++) {
        double t0 = now_s(), c0 = cpu_s();
        n = herd_tokenize(real, s, len, false, ids, (int)len);
        double dt = now_s() - t0, dc = cpu_s() - c0;
        best = dt < best ? dt : best;
        best_cpu = dc < best_cpu ? dc : best_cpu;
    }
    CHECK(n > 0, "bench encode");
    char *back = malloc(len);
    size_t k = herd_detokenize(real, ids, n, true, back, len);
    CHECK(k == len && !memcmp(back, s, len), "bench text round trip");
    printf("encode speed: %.1f MB/s CPU time, %.1f MB/s wall (%.3f MB mixed text, %d tokens, "
           "best of 5, one thread)\n",
           len / best_cpu / 1e6, len / best / 1e6, len / 1e6, n);
    free(back);
    free(ids);
    free(s);
}

int main(void)
{
    const char *ref = getenv("HERD_REFERENCE_DIR");
    char path[4096];
    if (!ref) {
        printf(
            "SKIP: HERD_REFERENCE_DIR is not set; the tokenizer test needs the reference vocab\n");
        return 77;
    }
    snprintf(path, sizeof path, "%s/vocab-llama4.gguf", ref);
    herd_error err = { 0 };
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("SKIP: %s is missing: cannot test the tokenizer without the reference data "
               "(meson option reference_dir)\n",
               path);
        return 77;
    }
    fclose(f);
    herd_gguf *vg = herd_gguf_open(path, &err);
    if (!vg) {
        printf("FAIL: %s\n", err.msg);
        return 1;
    }
    double t0 = now_s();
    herd_tokenizer *real = herd_tokenizer_from_gguf(vg, &err);
    double t_load = now_s() - t0;
    if (!real) {
        printf("FAIL: loading the tokenizer: %s\n", err.msg);
        return 1;
    }
    printf("real vocabulary loaded in %.1f ms\n", t_load * 1e3);

    snprintf(path, sizeof path, "%s/models/tiny-llama4.gguf", ref);
    herd_gguf *tg = herd_gguf_open(path, &err);
    herd_tokenizer *tiny = tg ? herd_tokenizer_from_gguf(tg, &err) : NULL;
    CHECK(tiny, "tiny vocabulary: %s", err.msg);

    tally tl = { 0 };
    snprintf(path, sizeof path, "%s/tokenizer/cases.json", ref);
    run_cases(path, real, tiny, &tl);
    printf("cases.json: %d cases; Meta no_special %d/%d, parse_special %d/%d, round trip %d/%d, "
           "tiny no_special %d/%d, tiny parse_special %d/%d\n",
           tl.cases, tl.ref_ns, tl.cases, tl.ref_ps, tl.cases, tl.roundtrip, tl.cases, tl.tiny_ns,
           tl.tiny_cases, tl.tiny_ps, tl.tiny_cases);
    CHECK(tl.cases >= 70, "only %d cases read", tl.cases);

    const char *src = getenv("HERD_SOURCE_DIR");
    snprintf(path, sizeof path, "%s/tests/fixtures/tokenizer-cases-extra.json", src ? src : ".");
    if ((f = fopen(path, "rb"))) {
        fclose(f);
        tally te = { 0 };
        run_cases(path, real, tiny, &te);
        printf("tokenizer-cases-extra.json: %d cases; Meta no_special %d/%d, parse_special %d/%d, "
               "round trip %d/%d, tiny no_special %d/%d, tiny parse_special %d/%d\n",
               te.cases, te.ref_ns, te.cases, te.ref_ps, te.cases, te.roundtrip, te.cases,
               te.tiny_ns, te.tiny_cases, te.tiny_ps, te.tiny_cases);
    } else {
        printf("note: %s not present; extra cases not checked\n", path);
    }

    spec_vectors(real);
    check_vocab_api(real, tiny);
    check_bytes_and_long(real);
    check_bpe_naive(real);
    check_random_roundtrip(real, "real vocab");
    if (tiny)
        check_random_roundtrip(tiny, "tiny vocab");
    check_detok(real);
    check_chat(real, tiny, vg);
    check_threads(real);
    bench(real, NULL);

    herd_tokenizer_free(tiny);
    herd_gguf_close(tg);
    herd_tokenizer_free(real);
    herd_gguf_close(vg);
    printf("%d checks, %d failed\n", n_check, n_fail);
    return n_fail ? 1 : 0;
}
