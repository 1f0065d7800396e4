/* chat.c: Llama 4 chat prompts as token ids. See chat.h. */
#include "chat.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

const char *herd_chat_role_name(herd_chat_role role)
{
    switch (role) {
    case HERD_CHAT_SYSTEM:
        return "system";
    case HERD_CHAT_USER:
        return "user";
    case HERD_CHAT_ASSISTANT:
        return "assistant";
    case HERD_CHAT_IPYTHON:
        return "ipython";
    }
    return NULL;
}

int herd_chat_image_tokens(int rows, int cols)
{
    if (rows < 1 || cols < 1 || rows > HERD_CHAT_MAX_TILES || cols > HERD_CHAT_MAX_TILES ||
        rows * cols > HERD_CHAT_MAX_TILES)
        return -1;
    int tiles = rows * cols;
    if (tiles == 1)
        return HERD_CHAT_PATCHES_PER_TILE + 3;
    return HERD_CHAT_PATCHES_PER_TILE * (tiles + 1) + tiles + 3;
}

typedef struct image_ids {
    int32_t start, end, image, patch, tile_x, tile_y;
} image_ids;

static bool find_image_ids(const herd_tokenizer *tok, image_ids *ids)
{
    ids->start = herd_tokenizer_find(tok, "<|image_start|>");
    ids->end = herd_tokenizer_find(tok, "<|image_end|>");
    ids->image = herd_tokenizer_find(tok, "<|image|>");
    ids->patch = herd_tokenizer_find(tok, "<|patch|>");
    ids->tile_x = herd_tokenizer_find(tok, "<|tile_x_separator|>");
    ids->tile_y = herd_tokenizer_find(tok, "<|tile_y_separator|>");
    return ids->start >= 0 && ids->end >= 0 && ids->image >= 0 && ids->patch >= 0 &&
           ids->tile_x >= 0 && ids->tile_y >= 0;
}

static int put_patches(int32_t *out, int k, int32_t patch)
{
    for (int i = 0; i < HERD_CHAT_PATCHES_PER_TILE; i++)
        out[k++] = patch;
    return k;
}

static int image_block(const image_ids *ids, int rows, int cols, int32_t *out)
{
    int k = 0;
    out[k++] = ids->start;
    if (rows * cols == 1) {
        out[k++] = ids->image;
        k = put_patches(out, k, ids->patch);
    } else {
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                k = put_patches(out, k, ids->patch);
                if (c < cols - 1)
                    out[k++] = ids->tile_x;
            }
            out[k++] = ids->tile_y; /* after every row, the last included */
        }
        out[k++] = ids->image; /* the global view comes last */
        k = put_patches(out, k, ids->patch);
    }
    out[k++] = ids->end;
    return k;
}

int herd_chat_image_block(const herd_tokenizer *tok, int rows, int cols, int32_t *out)
{
    image_ids ids;
    if (herd_chat_image_tokens(rows, cols) < 0 || !find_image_ids(tok, &ids))
        return -1;
    return image_block(&ids, rows, cols, out);
}

/* ------------------------------------------------------------------------------------------ */

typedef struct idbuf {
    int32_t *v;
    size_t n, cap;
} idbuf;

static bool reserve(idbuf *b, size_t extra)
{
    if (b->n + extra <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + extra)
        cap *= 2;
    int32_t *v = realloc(b->v, cap * sizeof *v);
    if (!v)
        return false;
    b->v = v;
    b->cap = cap;
    return true;
}

static bool put(idbuf *b, int32_t id)
{
    if (!reserve(b, 1))
        return false;
    b->v[b->n++] = id;
    return true;
}

static herd_status put_text(idbuf *b, const herd_tokenizer *tok, const char *s, size_t len,
                            herd_error *err)
{
    if (len == 0)
        return HERD_OK;
    size_t guess = len / 2 + 16;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (guess > INT_MAX || !reserve(b, guess))
            return herd_error_set(err, HERD_ERR_NOMEM, "out of memory rendering the chat");
        size_t room = b->cap - b->n;
        int k =
            herd_tokenize(tok, s, len, false, b->v + b->n, room > INT_MAX ? INT_MAX : (int)room);
        if (k == INT_MIN)
            return herd_error_set(err, HERD_ERR_NOMEM, "out of memory tokenizing chat text");
        if (k >= 0) {
            b->n += (size_t)k;
            return HERD_OK;
        }
        guess = (size_t) - (int64_t)k;
    }
    return herd_error_set(err, HERD_ERR_LIMIT, "chat text does not tokenize consistently");
}

herd_status herd_chat_render(const herd_tokenizer *tok, const herd_chat_msg *msgs, int n_msgs,
                             bool add_assistant_header, int32_t **out, int *n_out, herd_error *err)
{
    *out = NULL;
    *n_out = 0;
    if (n_msgs < 0 || (n_msgs > 0 && !msgs))
        return herd_error_set(err, HERD_ERR_INVALID, "bad message list");
    int32_t bos = herd_tokenizer_find(tok, "<|begin_of_text|>");
    int32_t hs = herd_tokenizer_find(tok, "<|header_start|>");
    int32_t he = herd_tokenizer_find(tok, "<|header_end|>");
    int32_t eot = herd_tokenizer_find(tok, "<|eot|>");
    int32_t eom = herd_tokenizer_find(tok, "<|eom|>");
    if (bos < 0 || hs < 0 || he < 0 || eot < 0)
        return herd_error_set(err, HERD_ERR_UNSUPPORTED,
                              "vocabulary lacks the Llama 4 chat tokens (<|begin_of_text|>, "
                              "<|header_start|>, <|header_end|>, <|eot|>)");
    image_ids img;
    bool have_img = find_image_ids(tok, &img);

    idbuf b = { 0 };
    herd_status st = HERD_OK;
    if (!put(&b, bos))
        goto nomem;
    for (int m = 0; m < n_msgs; m++) {
        const herd_chat_msg *msg = &msgs[m];
        const char *role = herd_chat_role_name(msg->role);
        if (!role) {
            st =
                herd_error_set(err, HERD_ERR_INVALID, "message %d: bad role %d", m, (int)msg->role);
            goto fail;
        }
        if (msg->n_parts < 0 || (msg->n_parts > 0 && !msg->parts)) {
            st = herd_error_set(err, HERD_ERR_INVALID, "message %d: bad part list", m);
            goto fail;
        }
        if (msg->end_with_eom && eom < 0) {
            st = herd_error_set(err, HERD_ERR_UNSUPPORTED, "vocabulary lacks <|eom|>");
            goto fail;
        }
        if (!put(&b, hs))
            goto nomem;
        if ((st = put_text(&b, tok, role, strlen(role), err)) != HERD_OK)
            goto fail;
        if (!put(&b, he))
            goto nomem;
        if ((st = put_text(&b, tok, "\n\n", 2, err)) != HERD_OK)
            goto fail;
        for (int p = 0; p < msg->n_parts; p++) {
            const herd_chat_part *part = &msg->parts[p];
            if (part->type == HERD_CHAT_TEXT) {
                if (part->len && !part->text) {
                    st = herd_error_set(err, HERD_ERR_INVALID, "message %d part %d: no text", m, p);
                    goto fail;
                }
                if ((st = put_text(&b, tok, part->text, part->len, err)) != HERD_OK)
                    goto fail;
            } else if (part->type == HERD_CHAT_IMAGE) {
                int k = herd_chat_image_tokens(part->rows, part->cols);
                if (k < 0) {
                    st = herd_error_set(err, HERD_ERR_INVALID,
                                        "message %d part %d: bad tile grid %dx%d", m, p, part->rows,
                                        part->cols);
                    goto fail;
                }
                if (!have_img) {
                    st = herd_error_set(err, HERD_ERR_UNSUPPORTED,
                                        "vocabulary lacks the image tokens");
                    goto fail;
                }
                if (!reserve(&b, (size_t)k))
                    goto nomem;
                b.n += (size_t)image_block(&img, part->rows, part->cols, b.v + b.n);
            } else {
                st = herd_error_set(err, HERD_ERR_INVALID, "message %d part %d: bad type %d", m, p,
                                    (int)part->type);
                goto fail;
            }
        }
        if (!put(&b, msg->end_with_eom ? eom : eot))
            goto nomem;
    }
    if (add_assistant_header) {
        if (!put(&b, hs))
            goto nomem;
        if ((st = put_text(&b, tok, "assistant", 9, err)) != HERD_OK)
            goto fail;
        if (!put(&b, he))
            goto nomem;
        if ((st = put_text(&b, tok, "\n\n", 2, err)) != HERD_OK)
            goto fail;
    }
    if (b.n > INT_MAX) {
        st = herd_error_set(err, HERD_ERR_LIMIT, "chat prompt of %zu tokens", b.n);
        goto fail;
    }
    *out = b.v;
    *n_out = (int)b.n;
    return HERD_OK;

nomem:
    st = herd_error_set(err, HERD_ERR_NOMEM, "out of memory rendering the chat");
fail:
    free(b.v);
    return st;
}

static bool contains(const char *s, size_t n, const char *w)
{
    size_t k = strlen(w);
    for (size_t i = 0; i + k <= n; i++)
        if (!memcmp(s + i, w, k))
            return true;
    return false;
}

herd_chat_template herd_chat_template_detect(const herd_gguf *g)
{
    const char *s;
    size_t n;
    if (!herd_gguf_get_str(g, "tokenizer.chat_template", &s, &n))
        return HERD_CHAT_TEMPLATE_NONE;
    if (contains(s, n, "<|header_start|>") && contains(s, n, "<|header_end|>"))
        return HERD_CHAT_TEMPLATE_LLAMA4;
    return HERD_CHAT_TEMPLATE_OTHER;
}
