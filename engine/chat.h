/* chat.h: the Llama 4 instruct prompt format (spec §6.1), rendered straight to token ids.
 *
 *   prompt  := <|begin_of_text|> message* [<|header_start|>assistant<|header_end|> "\n\n"]
 *   message := <|header_start|> ROLE <|header_end|> "\n\n" CONTENT (<|eot|> | <|eom|>)
 *
 * Structural tokens are inserted by id (looked up by name in the vocabulary, so the tiny test
 * vocabulary with its shifted ids works too); ROLE and "\n\n" are BPE-encoded on their own, as
 * Meta's ChatFormat does; CONTENT text is encoded with special-token parsing OFF, so text a user
 * types such as "<|eot|>" stays text and cannot forge structure. Exactly one BOS. No trimming and
 * no default system prompt. An image part expands in place to the §4.1 block.
 *
 * tokenizer.chat_template: we do not run Jinja. A GGUF's template is only inspected:
 * herd_chat_template_detect() recognises Llama 4's by its <|header_start|>/<|header_end|>
 * markers (the same test llama.cpp uses), and for such files this id-level renderer is the
 * template. A file whose template is something else (or absent) still gets this format; callers
 * may warn (herd-cli does). Differences from the HF Jinja template on purpose (spec §6.2): "\n\n"
 * is encoded apart from the content, and user text never becomes special tokens.
 */
#pragma once

#include "gguf.h"
#include "herd-error.h"
#include "tokenizer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum herd_chat_role {
    HERD_CHAT_SYSTEM,
    HERD_CHAT_USER,
    HERD_CHAT_ASSISTANT,
    HERD_CHAT_IPYTHON, /* tool results */
} herd_chat_role;

typedef enum herd_chat_part_type {
    HERD_CHAT_TEXT,
    HERD_CHAT_IMAGE,
} herd_chat_part_type;

typedef struct herd_chat_part {
    herd_chat_part_type type;
    const char *text; /* HERD_CHAT_TEXT: bytes, not NUL-terminated */
    size_t len;
    int rows, cols; /* HERD_CHAT_IMAGE: tile grid (1x1 = one tile, no global view) */
} herd_chat_part;

typedef struct herd_chat_msg {
    herd_chat_role role;
    const herd_chat_part *parts;
    int n_parts;
    bool end_with_eom; /* end with <|eom|> instead of <|eot|> (tool call pending) */
} herd_chat_msg;

#define HERD_CHAT_PATCHES_PER_TILE 144
#define HERD_CHAT_MAX_TILES        64 /* per image, a sanity bound on rows*cols */

const char *herd_chat_role_name(herd_chat_role role); /* "user", ...; NULL if bad */

/* Number of tokens an image block of rows x cols tiles takes: 144*(R*C + 1) + R*C + 3 for more
 * than one tile, 147 for one; -1 if rows/cols are out of range (< 1, or more than
 * HERD_CHAT_MAX_TILES tiles). */
int herd_chat_image_tokens(int rows, int cols);

/* Appends the image block (spec §4.1) to out (room for herd_chat_image_tokens() ids). Returns
 * the count, or -1 for a bad grid or a vocabulary without the image tokens. */
int herd_chat_image_block(const herd_tokenizer *tok, int rows, int cols, int32_t *out);

/* Renders msgs to *out (malloc'd; the caller frees it) and *n_out. add_assistant_header: end
 * with the header of the assistant turn to generate. Failures: HERD_ERR_INVALID (bad role,
 * part, grid), HERD_ERR_UNSUPPORTED (vocabulary lacks a structural token), HERD_ERR_NOMEM,
 * HERD_ERR_LIMIT (more than INT_MAX tokens). */
herd_status herd_chat_render(const herd_tokenizer *tok, const herd_chat_msg *msgs, int n_msgs,
                             bool add_assistant_header, int32_t **out, int *n_out, herd_error *err);

typedef enum herd_chat_template {
    HERD_CHAT_TEMPLATE_NONE,   /* no tokenizer.chat_template */
    HERD_CHAT_TEMPLATE_LLAMA4, /* has <|header_start|> and <|header_end|> */
    HERD_CHAT_TEMPLATE_OTHER,
} herd_chat_template;

herd_chat_template herd_chat_template_detect(const herd_gguf *g);

#ifdef __cplusplus
}
#endif
