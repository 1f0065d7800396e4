/* model-save.c: write a model as a llama4 GGUF (v3), so a synthetic benchmark model can be
 * measured by other engines on the very same weights. The vocabulary written for a model without
 * a tokenizer is a byte-level one: the 256 byte tokens (GPT-2 byte→unicode form), placeholders,
 * and the 2048 Llama 4 special tokens at the end when the vocabulary is large enough. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

typedef struct wr {
    FILE *f;
    bool ok;
} wr;

static void w_bytes(wr *w, const void *p, size_t n)
{
    if (w->ok && n && fwrite(p, 1, n, w->f) != n)
        w->ok = false;
}
static void w_u32(wr *w, uint32_t v)
{
    w_bytes(w, &v, 4);
}
static void w_u64(wr *w, uint64_t v)
{
    w_bytes(w, &v, 8);
}
static void w_str(wr *w, const char *s, size_t n)
{
    w_u64(w, n);
    w_bytes(w, s, n);
}
static void kv_u32(wr *w, const char *k, uint32_t v)
{
    w_str(w, k, strlen(k));
    w_u32(w, 4);
    w_u32(w, v);
}
static void kv_f32(wr *w, const char *k, float v)
{
    w_str(w, k, strlen(k));
    w_u32(w, 6);
    w_bytes(w, &v, 4);
}
static void kv_bool(wr *w, const char *k, bool v)
{
    uint8_t b = v;
    w_str(w, k, strlen(k));
    w_u32(w, 7);
    w_bytes(w, &b, 1);
}
static void kv_strv(wr *w, const char *k, const char *v)
{
    w_str(w, k, strlen(k));
    w_u32(w, 8);
    w_str(w, v, strlen(v));
}

/* GPT-2 byte→unicode: printable bytes map to themselves, the rest to U+0100.. in order */
static int byte_unicode(int b, char out[4])
{
    int cp;
    if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) {
        cp = b;
    } else {
        int n = 0;
        for (int x = 0; x < b; x++)
            if (!((x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF)))
                n++;
        cp = 256 + n;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

static const char *special_name(int i, char *buf, size_t n)
{
    static const char *named[] = {
        [0] = "<|begin_of_text|>",     [1] = "<|end_of_text|>", [5] = "<|header_start|>",
        [6] = "<|header_end|>",        [7] = "<|eom|>",         [8] = "<|eot|>",
        [80] = "<|image_start|>",      [81] = "<|image_end|>",  [84] = "<|tile_x_separator|>",
        [85] = "<|tile_y_separator|>", [90] = "<|image|>",      [92] = "<|patch|>",
    };
    if (i < (int)(sizeof named / sizeof named[0]) && named[i])
        return named[i];
    snprintf(buf, n, "<|reserved_special_token_%d|>", i);
    return buf;
}

herd_status herd_model_save(const herd_model *m, const char *path, herd_error *err)
{
    const llama4_hparams *hp = &m->hp;
    FILE *f = fopen(path, "wb");
    if (!f)
        return herd_error_set(err, HERD_ERR_IO, "cannot create %s", path);
    wr w = { f, true };
    const int V = hp->n_vocab;
    const int n_special = V >= 2048 + 256 ? 2048 : 0;
    const int first_special = V - n_special;
    int n_kv = 25; /* keep in step with the kv_* and array writes below */
    w_u32(&w, 0x46554747u);
    w_u32(&w, 3);
    w_u64(&w, (uint64_t)m->n_weights);
    w_u64(&w, (uint64_t)n_kv);
    kv_strv(&w, "general.architecture", "llama4");
    kv_strv(&w, "general.name", m->info.name);
    kv_u32(&w, "general.alignment", 32);
    kv_u32(&w, "llama4.vocab_size", (uint32_t)V);
    kv_u32(&w, "llama4.context_length", (uint32_t)hp->n_ctx_train);
    kv_u32(&w, "llama4.embedding_length", (uint32_t)hp->n_embd);
    kv_u32(&w, "llama4.block_count", (uint32_t)hp->n_layer);
    kv_u32(&w, "llama4.feed_forward_length", (uint32_t)hp->n_ff_dense);
    kv_u32(&w, "llama4.expert_feed_forward_length", (uint32_t)hp->n_ff_expert);
    kv_u32(&w, "llama4.expert_count", (uint32_t)hp->n_expert);
    kv_u32(&w, "llama4.expert_used_count", (uint32_t)hp->n_expert_used);
    kv_u32(&w, "llama4.interleave_moe_layer_step", (uint32_t)hp->moe_step);
    kv_u32(&w, "llama4.attention.head_count", (uint32_t)hp->n_head);
    kv_u32(&w, "llama4.attention.head_count_kv", (uint32_t)hp->n_head_kv);
    kv_u32(&w, "llama4.attention.key_length", (uint32_t)hp->head_dim);
    kv_u32(&w, "llama4.attention.value_length", (uint32_t)hp->head_dim);
    kv_f32(&w, "llama4.attention.layer_norm_rms_epsilon", hp->rms_eps);
    kv_f32(&w, "llama4.rope.freq_base", hp->rope_theta);
    kv_u32(&w, "llama4.rope.dimension_count", (uint32_t)hp->rope_dims);
    kv_bool(&w, "llama4.use_qk_norm", hp->qk_norm);
    kv_strv(&w, "tokenizer.ggml.model", "gpt2");
    kv_strv(&w, "tokenizer.ggml.pre", "llama4");
    /* tokens */
    w_str(&w, "tokenizer.ggml.tokens", strlen("tokenizer.ggml.tokens"));
    w_u32(&w, 9);
    w_u32(&w, 8);
    w_u64(&w, (uint64_t)V);
    for (int i = 0; i < V; i++) {
        char buf[64];
        if (m->tok) {
            size_t len;
            const char *b = herd_token_bytes(m->tok, i, &len);
            /* re-encode raw bytes in byte-unicode form (specials are plain text) */
            if (herd_tokenizer_is_special(m->tok, i)) {
                w_str(&w, b, len);
                continue;
            }
            char *tmp = malloc(len * 2 + 1);
            size_t n = 0;
            for (size_t j = 0; tmp && j < len; j++)
                n += (size_t)byte_unicode((uint8_t)b[j], tmp + n);
            w_str(&w, tmp ? tmp : "", tmp ? n : 0);
            free(tmp);
        } else if (i < 256) {
            int n = byte_unicode(i, buf);
            w_str(&w, buf, (size_t)n);
        } else if (i >= first_special) {
            const char *s = special_name(i - first_special, buf, sizeof buf);
            w_str(&w, s, strlen(s));
        } else {
            int n = snprintf(buf, sizeof buf, "[PAD%d]", i);
            w_str(&w, buf, (size_t)n);
        }
    }
    w_str(&w, "tokenizer.ggml.token_type", strlen("tokenizer.ggml.token_type"));
    w_u32(&w, 9);
    w_u32(&w, 5);
    w_u64(&w, (uint64_t)V);
    for (int i = 0; i < V; i++) {
        int32_t t = 1;
        if (m->tok)
            t = herd_tokenizer_is_special(m->tok, i) ? 3 : 1;
        else if (i >= first_special)
            t = 3;
        else if (i >= 256)
            t = 5;
        w_bytes(&w, &t, 4);
    }
    kv_u32(&w, "tokenizer.ggml.bos_token_id",
           (uint32_t)(m->tok ? herd_tokenizer_bos(m->tok) : (n_special ? first_special : 0)));
    /* tensor infos */
    uint64_t off = 0;
    for (int i = 0; i < m->n_weights; i++) {
        const herd_tensor *t = m->all_weights[i];
        int nd = t->ne[2] > 1 ? 3 : t->ne[1] > 1 ? 2 : 1;
        w_str(&w, t->name, strlen(t->name));
        w_u32(&w, (uint32_t)nd);
        for (int d = 0; d < nd; d++)
            w_u64(&w, (uint64_t)t->ne[d]);
        w_u32(&w, (uint32_t)t->type);
        w_u64(&w, off);
        off += (herd_tensor_nbytes(t) + 31) / 32 * 32;
    }
    static const uint8_t zeros[32];
    long pos = ftell(f);
    if (pos >= 0 && pos % 32)
        w_bytes(&w, zeros, (size_t)(32 - pos % 32));
    for (int i = 0; i < m->n_weights && w.ok; i++) {
        const herd_tensor *t = m->all_weights[i];
        size_t n = herd_tensor_nbytes(t);
        if (!t->data) {
            fclose(f);
            return herd_error_set(err, HERD_ERR_UNSUPPORTED,
                                  "tensor '%s' has no host copy (device-only weights)", t->name);
        }
        w_bytes(&w, t->data, n);
        if (n % 32)
            w_bytes(&w, zeros, 32 - n % 32);
    }
    if (fclose(f) || !w.ok)
        return herd_error_set(err, HERD_ERR_IO, "writing %s failed (disk full?)", path);
    return HERD_OK;
}
