/* tokenizer.h: the Llama 4 tokenizer (spec §5): byte-level BPE over the o200k pre-tokenizer regex.
 *
 * Loaded from a GGUF whose tokenizer.ggml.model is "gpt2" (tokens stored with the GPT-2
 * byte->unicode mapping, merges "A B" in priority order). Encoding follows Meta's tiktoken rules:
 * input cut like Meta's encoder (400000-char chunks, runs of more than 25000 whitespace or
 * non-whitespace chars cut), optional special-token splitting, the o200k regex of spec §5.2
 * matched by hand over code points (Unicode categories from utf8proc, \s = White_Space), then
 * rank BPE per piece (lowest-rank adjacent pair first, leftmost on ties). Invalid UTF-8 bytes are
 * kept: each one is a code point of its own that is neither letter, number, mark nor space, so
 * decode(encode(s)) == s for any bytes.
 *
 * A herd_tokenizer is immutable after loading: all calls below are thread-safe on a shared one
 * (the streaming detokenizer keeps its state in its own herd_detok).
 */
#pragma once

#include "gguf.h"
#include "herd-error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct herd_tokenizer herd_tokenizer;

/* GGUF token types (tokenizer.ggml.token_type); the numbers are the file format's. */
typedef enum herd_token_type {
    HERD_TOKEN_NORMAL = 1,
    HERD_TOKEN_UNKNOWN = 2,
    HERD_TOKEN_CONTROL = 3,      /* special: <|eot|>, <|patch|>, ... */
    HERD_TOKEN_USER_DEFINED = 4, /* special too */
    HERD_TOKEN_UNUSED = 5,       /* placeholders such as "[PAD201134]": never produced */
    HERD_TOKEN_BYTE = 6,
} herd_token_type;

/* Failures: HERD_ERR_UNSUPPORTED (tokenizer.ggml.model not "gpt2", or a pre-tokenizer other than
 * "llama4"/"gpt-4o"), HERD_ERR_FORMAT (missing or malformed token/merge arrays, special ids out of
 * range), HERD_ERR_NOMEM. The tokenizer copies what it needs: g may be closed afterwards. */
herd_tokenizer *herd_tokenizer_from_gguf(const herd_gguf *g, herd_error *err);
void herd_tokenizer_free(herd_tokenizer *t); /* NULL ok */

int32_t herd_tokenizer_n_vocab(const herd_tokenizer *t);
/* Special ids; -1 when the vocabulary has none. bos/eos/pad come from the GGUF metadata; eot and
 * eom are the tokens named "<|eot|>" / "<|eom|>" (metadata eot/eom ids when no such token);
 * end_of_text is "<|end_of_text|>". */
int32_t herd_tokenizer_bos(const herd_tokenizer *t);
int32_t herd_tokenizer_eos(const herd_tokenizer *t);
int32_t herd_tokenizer_eot(const herd_tokenizer *t);
int32_t herd_tokenizer_eom(const herd_tokenizer *t);
int32_t herd_tokenizer_end_of_text(const herd_tokenizer *t);
int32_t herd_tokenizer_pad(const herd_tokenizer *t);
bool herd_tokenizer_add_bos(const herd_tokenizer *t); /* tokenizer.ggml.add_bos_token */
/* Generation stops on any of {eos, <|eot|>, <|eom|>, <|end_of_text|>} (Meta's stop set, §6.3). */
bool herd_tokenizer_is_stop(const herd_tokenizer *t, int32_t id);
/* CONTROL or USER_DEFINED (or UNUSED): rendered as text only on request. */
bool herd_tokenizer_is_special(const herd_tokenizer *t, int32_t id);
herd_token_type herd_tokenizer_token_type(const herd_tokenizer *t, int32_t id); /* 0 if bad id */

/* Id of the token whose text is exactly `text` (NUL-terminated; specials by their "<|...|>"
 * name, others by their raw bytes), or -1. */
int32_t herd_tokenizer_find(const herd_tokenizer *t, const char *text);
int32_t herd_tokenizer_find_n(const herd_tokenizer *t, const char *text, size_t len);

/* Raw bytes of a token (a special token's text), not NUL-terminated; NULL and *len = 0 for a bad
 * id. Bytes of an ordinary token may be an incomplete piece of a UTF-8 character. */
const char *herd_token_bytes(const herd_tokenizer *t, int32_t id, size_t *len);

/* Encodes len bytes of text (any bytes; not NUL-terminated) into ids, without BOS (the caller adds
 * it). parse_special: text spelling a special token ("<|eot|>") becomes that token; otherwise
 * it is ordinary text. Writes at most n_max ids to out (out may be NULL when n_max is 0) and
 * returns the number of ids, or -(number needed) when n_max is too small (nothing useful is in out
 * then), or INT_MIN when memory runs out or the result would not fit an int. */
int herd_tokenize(const herd_tokenizer *t, const char *text, size_t len, bool parse_special,
                  int32_t *out, int n_max);

/* Concatenated raw bytes of ids (special tokens as their text when render_special, else
 * skipped; bad ids skipped). Writes at most cap bytes (no NUL) and returns the full length. No
 * UTF-8 repair: use herd_detok for text shown to people. */
size_t herd_detokenize(const herd_tokenizer *t, const int32_t *ids, size_t n, bool render_special,
                       char *out, size_t cap);

/* Streaming detokenizer: feed ids one by one, get back only whole, valid UTF-8 characters. An
 * incomplete trailing sequence (1-3 bytes) is held back until the next token; ill-formed bytes
 * become U+FFFD (one per maximal ill-formed subpart, as Python's errors="replace"), so the output
 * is always valid UTF-8. Special tokens are rendered as their text when render_special, else
 * skipped without touching the held-back bytes. */
typedef struct herd_detok herd_detok;
herd_detok *herd_detok_new(const herd_tokenizer *t, bool render_special); /* NULL: no memory */
void herd_detok_free(herd_detok *d);                                      /* NULL ok */
void herd_detok_reset(herd_detok *d);                                     /* drops held bytes */
/* Returns the text that became complete (valid until the next call on d; *len may be 0). */
const char *herd_detok_push(herd_detok *d, int32_t id, size_t *len);
/* End of stream: held-back bytes come out as U+FFFD. */
const char *herd_detok_flush(herd_detok *d, size_t *len);

#ifdef __cplusplus
}
#endif
