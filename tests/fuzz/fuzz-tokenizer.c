/* fuzz-tokenizer.c: any bytes through the Llama 4 tokenizer, detokenizers and chat renderer.
 *
 * Loads $HERD_REFERENCE_DIR/vocab-llama4.gguf (or models/tiny-llama4.gguf); without either every
 * input is a no-op. Input: byte 0 picks the mode (bit 0: parse_special), the rest is the text.
 * Aborts when: the count-then-fill protocol disagrees, decode(encode(s)) != s, the streaming
 * detokenizer emits invalid UTF-8, or user text rendered into a chat adds special tokens. */
#include "../test-util.h"
#include "engine/chat.h"
#include "engine/gguf.h"
#include "engine/tokenizer.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static herd_gguf *g_gguf;
static herd_tokenizer *g_tok;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *ref = getenv("HERD_REFERENCE_DIR");
    const char *files[] = { "vocab-llama4.gguf", "models/tiny-llama4.gguf" };
    for (int i = 0; ref && i < 2 && !g_tok; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", ref, files[i]);
        herd_error err;
        g_gguf = herd_gguf_open(path, &err);
        if (g_gguf)
            g_tok = herd_tokenizer_from_gguf(g_gguf, &err);
    }
    if (!g_tok)
        fprintf(stderr, "fuzz-tokenizer: no reference vocabulary (HERD_REFERENCE_DIR): inputs "
                        "are not exercised\n");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_tok || size == 0)
        return 0;
    bool special = data[0] & 1;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;

    int need = herd_tokenize(g_tok, text, len, special, NULL, 0);
    if (need == INT_MIN)
        return 0;
    need = need < 0 ? -need : need;
    int32_t *ids = malloc(((size_t)need + 1) * sizeof *ids);
    int n = herd_tokenize(g_tok, text, len, special, ids, need);
    if (n != need)
        abort();
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= herd_tokenizer_n_vocab(g_tok))
            abort();

    char *back = malloc(len + 1);
    if (herd_detokenize(g_tok, ids, n, true, back, len) != len || memcmp(back, text, len))
        abort();

    herd_detok *d = herd_detok_new(g_tok, data[0] & 2);
    size_t cap = 3 * (len + 16), o = 0, k;
    uint8_t *out = malloc(cap);
    for (int i = 0; i < n; i++) {
        const char *s = herd_detok_push(d, ids[i], &k);
        if (o + k > cap)
            abort();
        memcpy(out + o, s, k);
        o += k;
    }
    const char *s = herd_detok_flush(d, &k);
    memcpy(out + o, s, k);
    o += k;
    if (!utf8_valid(out, o))
        abort();
    herd_detok_free(d);

    /* User text in a chat never adds structure: BOS + 2 headers x (start, end) + eot. */
    herd_chat_part part = { .type = HERD_CHAT_TEXT, .text = text, .len = len };
    herd_chat_msg msg = { .role = HERD_CHAT_USER, .parts = &part, .n_parts = 1 };
    int32_t *chat;
    int nc;
    herd_error err;
    if (herd_chat_render(g_tok, &msg, 1, true, &chat, &nc, &err) == HERD_OK) {
        int specials = 0;
        for (int i = 0; i < nc; i++)
            specials += herd_tokenizer_is_special(g_tok, chat[i]);
        if (specials != 6)
            abort();
        free(chat);
    }
    free(out);
    free(back);
    free(ids);
    return 0;
}
