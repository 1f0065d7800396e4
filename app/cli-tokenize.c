/* cli-tokenize.c: `herd-cli tokenize -m FILE.gguf [--no-special] [--bos] [--json] TEXT|-`.
 *
 * Encodes text with a GGUF's tokenizer (a model or a vocabulary-only file) and prints the ids,
 * one "id<TAB>piece" line per token or one JSON array. Errors: one line "herd-cli: ..." on
 * stderr, exit 1 (2 for usage errors). */
#include "cli.h"
#include "engine/gguf.h"
#include "engine/tokenizer.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void tokenize_usage(FILE *f)
{
    fprintf(f,
            "usage: herd-cli tokenize -m FILE.gguf [--no-special] [--bos] [--json] TEXT|-\n\n"
            "Encode TEXT with the model's tokenizer and print the token ids. '-' reads the text\n"
            "from stdin, byte for byte (no newline is stripped).\n\n"
            "  -m, --model FILE  GGUF file holding the tokenizer (a model or a vocab-only file)\n"
            "  --no-special      treat text such as \"<|eot|>\" as plain text (default: text that\n"
            "                    names a special token becomes that token)\n"
            "  --bos             prepend <|begin_of_text|> (default: no BOS)\n"
            "  --json            print one JSON array of ids, e.g. [200000, 19873, 24]\n"
            "  --help            show this help\n\n"
            "Default output: one line per token, \"ID<TAB>PIECE\". PIECE is the token's bytes:\n"
            "UTF-8 characters as they are, \\\\ \\t \\n \\r escaped, other control characters\n"
            "and bytes that are not a whole UTF-8 character inside the token as \\xHH; special\n"
            "tokens as their name (<|eot|>).\n");
}

/* Length of the well-formed UTF-8 character at s (within n bytes), 0 if none. */
static int utf8_len(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char b = s[0];
    int k;
    unsigned char lo = 0x80, hi = 0xbf;
    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    if (b >= 0xc2 && b <= 0xdf)
        k = 2, *cp = b & 0x1f;
    else if (b >= 0xe0 && b <= 0xef)
        k = 3, *cp = b & 0x0f, lo = b == 0xe0 ? 0xa0 : 0x80, hi = b == 0xed ? 0x9f : 0xbf;
    else if (b >= 0xf0 && b <= 0xf4)
        k = 4, *cp = b & 0x07, lo = b == 0xf0 ? 0x90 : 0x80, hi = b == 0xf4 ? 0x8f : 0xbf;
    else
        return 0;
    if ((size_t)k > n)
        return 0;
    for (int i = 1; i < k; i++) {
        if (s[i] < lo || s[i] > hi)
            return 0;
        *cp = *cp << 6 | (s[i] & 0x3f);
        lo = 0x80, hi = 0xbf;
    }
    return k;
}

static void print_piece(const char *p, size_t n)
{
    const unsigned char *s = (const unsigned char *)p;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int k = utf8_len(s + i, n - i, &cp);
        if (k == 1 && (s[i] == '\\' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) {
            fputs(s[i] == '\\'   ? "\\\\"
                  : s[i] == '\t' ? "\\t"
                  : s[i] == '\n' ? "\\n"
                                 : "\\r",
                  stdout);
        } else if (k == 0 || cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0)) {
            int m = k ? k : 1;
            for (int j = 0; j < m; j++)
                printf("\\x%02X", s[i + j]);
            i += m;
            continue;
        } else {
            fwrite(s + i, 1, k, stdout);
        }
        i += k;
    }
}

static char *read_stdin(size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, stdin);
        if (n < cap)
            break;
        char *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            return NULL;
        }
        buf = nb;
        cap *= 2;
    }
    if (buf && ferror(stdin)) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

int cli_tokenize(int argc, char **argv)
{
    const char *model = NULL, *text_arg = NULL;
    bool special = true, bos = false, json = false, opts_done = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!opts_done && (!strcmp(a, "--help") || !strcmp(a, "-h"))) {
            tokenize_usage(stdout);
            return 0;
        } else if (!opts_done && (!strcmp(a, "-m") || !strcmp(a, "--model"))) {
            if (++i >= argc) {
                cli_error("tokenize: %s needs a file (see 'herd-cli tokenize --help')", a);
                return 2;
            }
            model = argv[i];
        } else if (!opts_done && !strcmp(a, "--no-special")) {
            special = false;
        } else if (!opts_done && !strcmp(a, "--bos")) {
            bos = true;
        } else if (!opts_done && !strcmp(a, "--json")) {
            json = true;
        } else if (!opts_done && !strcmp(a, "--")) {
            opts_done = true;
        } else if (!opts_done && a[0] == '-' && a[1]) {
            cli_error("tokenize: unknown option '%s' (see 'herd-cli tokenize --help')", a);
            return 2;
        } else if (text_arg) {
            cli_error("tokenize: one TEXT only (quote it, or use '-' for stdin)");
            return 2;
        } else {
            text_arg = a;
        }
    }
    if (!model || !text_arg) {
        cli_error("tokenize: %s (see 'herd-cli tokenize --help')",
                  !model ? "no model: use -m FILE.gguf" : "no TEXT (use '-' for stdin)");
        return 2;
    }

    size_t len;
    char *text = NULL;
    if (!strcmp(text_arg, "-")) {
        text = read_stdin(&len);
        if (!text) {
            cli_error("tokenize: cannot read stdin");
            return 1;
        }
    } else {
        len = strlen(text_arg);
    }

    herd_error err = { 0 };
    herd_gguf *g = herd_gguf_open(model, &err);
    herd_tokenizer *tok = g ? herd_tokenizer_from_gguf(g, &err) : NULL;
    int status = 1;
    int32_t *ids = NULL;
    if (!tok) {
        cli_error("%s", err.msg);
        goto out;
    }
    const char *src = text ? text : text_arg;
    int need = herd_tokenize(tok, src, len, special, NULL, 0);
    if (need == INT_MIN) {
        cli_error("tokenize: out of memory");
        goto out;
    }
    need = need < 0 ? -need : need;
    ids = malloc(((size_t)need + 1) * sizeof *ids);
    if (!ids) {
        cli_error("tokenize: out of memory");
        goto out;
    }
    int n = 0;
    if (bos) {
        if (herd_tokenizer_bos(tok) < 0) {
            cli_error("tokenize: %s has no BOS token", model);
            goto out;
        }
        ids[n++] = herd_tokenizer_bos(tok);
    }
    int k = herd_tokenize(tok, src, len, special, ids + n, need);
    if (k < 0) {
        cli_error("tokenize: tokenization failed");
        goto out;
    }
    n += k;
    if (json) {
        putchar('[');
        for (int i = 0; i < n; i++)
            printf(i ? ", %d" : "%d", ids[i]);
        puts("]");
    } else {
        for (int i = 0; i < n; i++) {
            size_t pl;
            const char *p = herd_token_bytes(tok, ids[i], &pl);
            printf("%d\t", ids[i]);
            print_piece(p, pl);
            putchar('\n');
        }
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_error("tokenize: cannot write the output");
        goto out;
    }
    status = 0;
out:
    free(ids);
    free(text);
    herd_tokenizer_free(tok);
    herd_gguf_close(g);
    return status;
}
