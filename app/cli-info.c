/* cli-info.c: `herd-cli info FILE.gguf`: what a GGUF holds, and whether Herd's engine can load it.
 *
 * Prints the header, every KV (long values abbreviated), the architecture's hyperparameters,
 * per-type tensor totals, parameter count, vocabulary size and special tokens. Opening already
 * validates every tensor's type, shape and extent; for llama4 and clip files it also checks that
 * the tensors the engine needs exist with consistent shapes and computable types. On failure
 * exactly one line "herd-cli: <message>" goes to stderr (after whatever report was printed). */
#include "cli.h"
#include "engine/gguf.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void info_usage(FILE *f)
{
    fprintf(f, "usage: herd-cli info FILE.gguf\n\n"
               "Print a GGUF file's metadata, hyperparameters and tensor summary, and check that\n"
               "Herd's engine can load it (tensor types, shapes, extents; for llama4 text models\n"
               "and clip vision projectors, the expected tensors and their shapes).\n"
               "Exit status: 0 if the file is loadable, 1 if not, 2 on usage errors.\n\n"
               "  --help    show this help\n");
}

/* ---------------------------------------------------------------------------------------------
 * Checks: each fills `msg` and returns false on the first problem. */

typedef struct checker {
    const herd_gguf *g;
    char msg[512];
    bool failed;
} checker;

__attribute__((format(printf, 2, 3))) static bool check_fail(checker *c, const char *fmt, ...)
{
    if (c->failed)
        return false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->msg, sizeof c->msg, fmt, ap);
    va_end(ap);
    c->failed = true;
    return false;
}

/* Required unsigned hyperparameter in [lo, hi]. */
static bool need_u32(checker *c, const char *key, uint32_t lo, uint32_t hi, uint32_t *out)
{
    if (herd_gguf_find_key(c->g, key) < 0)
        return check_fail(c, "%s: missing key '%s'", herd_gguf_path(c->g), key);
    if (!herd_gguf_get_u32(c->g, key, out))
        return check_fail(c, "%s: key '%s' is not an unsigned 32-bit integer", herd_gguf_path(c->g),
                          key);
    if (*out < lo || *out > hi)
        return check_fail(c, "%s: key '%s' = %u is out of range (%u..%u)", herd_gguf_path(c->g),
                          key, *out, lo, hi);
    return true;
}

/* Optional: absent -> def; present must be a u32 in [lo, hi]. */
static bool opt_u32(checker *c, const char *key, uint32_t def, uint32_t lo, uint32_t hi,
                    uint32_t *out)
{
    if (herd_gguf_find_key(c->g, key) < 0) {
        *out = def;
        return true;
    }
    return need_u32(c, key, lo, hi, out);
}

static void fmt_shape(char *buf, size_t n, const int64_t ne[4], uint32_t n_dims)
{
    size_t len = 0;
    len += (size_t)snprintf(buf, n, "[");
    for (uint32_t d = 0; d < n_dims && len < n; d++)
        len += (size_t)snprintf(buf + len, n - len, "%s%" PRId64, d ? ", " : "", ne[d]);
    if (len < n)
        snprintf(buf + len, n - len, "]");
}

/* The tensor must exist, have exactly this shape (unused dims 1) and a type the engine computes. */
static const herd_gguf_tensor *need_tensor(checker *c, const char *name, int64_t ne0, int64_t ne1,
                                           int64_t ne2)
{
    if (c->failed)
        return NULL;
    const herd_gguf_tensor *t = herd_gguf_find_tensor(c->g, name);
    if (!t) {
        check_fail(c, "%s: missing tensor '%s'", herd_gguf_path(c->g), name);
        return NULL;
    }
    const int64_t want[4] = { ne0, ne1, ne2, 1 };
    uint32_t want_dims = ne2 > 1 ? 3 : ne1 > 1 ? 2 : 1;
    if (memcmp(t->ne, want, sizeof want) != 0) {
        char have_s[96], want_s[96];
        fmt_shape(have_s, sizeof have_s, t->ne, t->n_dims > want_dims ? t->n_dims : want_dims);
        fmt_shape(want_s, sizeof want_s, want, want_dims);
        check_fail(c, "%s: tensor '%s' has shape %s, expected %s", herd_gguf_path(c->g), name,
                   have_s, want_s);
        return NULL;
    }
    return t;
}

static bool check_llama4(checker *c, int64_t n_vocab_tokens)
{
    const char *path = herd_gguf_path(c->g);
    uint32_t n_embd, n_layer, n_head, n_head_kv, d_k, d_v, n_ff = 0, n_ff_exp = 0, n_expert,
                                                           n_expert_used, step, rot;
    int64_t n_tensors = herd_gguf_n_tensors(c->g);
    const uint32_t big = 1u << 20;

    /* each block has at least 6 tensors: a huge block_count cannot make us loop for long */
    uint32_t max_layers = n_tensors / 6 > 0 ? (uint32_t)(n_tensors / 6) : 1;
    if (!need_u32(c, "llama4.embedding_length", 1, big, &n_embd) ||
        !need_u32(c, "llama4.block_count", 1, max_layers, &n_layer) ||
        !need_u32(c, "llama4.attention.head_count", 1, n_embd, &n_head) ||
        !need_u32(c, "llama4.attention.head_count_kv", 1, n_head, &n_head_kv) ||
        !opt_u32(c, "llama4.attention.key_length", n_embd / n_head, 1, big, &d_k) ||
        !opt_u32(c, "llama4.attention.value_length", n_embd / n_head, 1, big, &d_v) ||
        !opt_u32(c, "llama4.rope.dimension_count", d_k, 0, d_k, &rot) ||
        !opt_u32(c, "llama4.expert_count", 0, 0, 4096, &n_expert) ||
        !opt_u32(c, "llama4.expert_used_count", n_expert ? 1 : 0, 0, n_expert, &n_expert_used) ||
        !opt_u32(c, "llama4.interleave_moe_layer_step", 1, 1, n_layer, &step))
        return false;
    if (n_head % n_head_kv)
        return check_fail(c, "%s: head_count %u is not a multiple of head_count_kv %u", path,
                          n_head, n_head_kv);
    if (n_expert && n_expert_used == 0)
        return check_fail(c, "%s: key 'llama4.expert_used_count' is 0 with %u experts", path,
                          n_expert);
    if (rot % 2)
        return check_fail(c, "%s: key 'llama4.rope.dimension_count' = %u is odd", path, rot);

    int n_dense = 0, n_moe = 0;
    for (uint32_t l = 0; l < n_layer; l++) {
        if (n_expert && (l + 1) % step == 0)
            n_moe++;
        else
            n_dense++;
    }
    if (n_dense && !need_u32(c, "llama4.feed_forward_length", 1, big, &n_ff))
        return false;
    if (n_moe && !need_u32(c, "llama4.expert_feed_forward_length", 1, big, &n_ff_exp))
        return false;

    const herd_gguf_tensor *emb = herd_gguf_find_tensor(c->g, "token_embd.weight");
    if (!emb)
        return check_fail(c, "%s: missing tensor 'token_embd.weight'", path);
    int64_t n_vocab = emb->ne[1];
    if (!need_tensor(c, "token_embd.weight", n_embd, n_vocab, 1) ||
        !need_tensor(c, "output_norm.weight", n_embd, 1, 1) ||
        !need_tensor(c, "output.weight", n_embd, n_vocab, 1))
        return false;
    uint32_t vocab_key;
    if (herd_gguf_find_key(c->g, "llama4.vocab_size") >= 0 &&
        (!herd_gguf_get_u32(c->g, "llama4.vocab_size", &vocab_key) || vocab_key != n_vocab))
        return check_fail(c,
                          "%s: key 'llama4.vocab_size' disagrees with tensor "
                          "'token_embd.weight' (%" PRId64 " rows)",
                          path, n_vocab);
    if (n_vocab_tokens >= 0 && n_vocab_tokens != n_vocab)
        return check_fail(c,
                          "%s: key 'tokenizer.ggml.tokens' has %" PRId64 " entries but "
                          "tensor 'token_embd.weight' has %" PRId64 " rows",
                          path, n_vocab_tokens, n_vocab);
    if (herd_gguf_find_tensor(c->g, "rope_freqs.weight") &&
        !need_tensor(c, "rope_freqs.weight", rot / 2, 1, 1))
        return false;

    const int64_t q = (int64_t)n_head * d_k, k = (int64_t)n_head_kv * d_k,
                  v = (int64_t)n_head_kv * d_v, o = (int64_t)n_head * d_v;
    char name[96];
#define T(suffix, a, b, e) \
    (snprintf(name, sizeof name, "blk.%u." suffix ".weight", l), need_tensor(c, name, a, b, e))
    for (uint32_t l = 0; l < n_layer; l++) {
        if (!T("attn_norm", n_embd, 1, 1) || !T("attn_q", n_embd, q, 1) ||
            !T("attn_k", n_embd, k, 1) || !T("attn_v", n_embd, v, 1) ||
            !T("attn_output", o, n_embd, 1) || !T("ffn_norm", n_embd, 1, 1))
            return false;
        if (n_expert && (l + 1) % step == 0) {
            if (!T("ffn_gate_inp", n_embd, n_expert, 1) ||
                !T("ffn_gate_exps", n_embd, n_ff_exp, n_expert) ||
                !T("ffn_up_exps", n_embd, n_ff_exp, n_expert) ||
                !T("ffn_down_exps", n_ff_exp, n_embd, n_expert) ||
                !T("ffn_gate_shexp", n_embd, n_ff_exp, 1) ||
                !T("ffn_up_shexp", n_embd, n_ff_exp, 1) ||
                !T("ffn_down_shexp", n_ff_exp, n_embd, 1))
                return false;
        } else {
            if (!T("ffn_gate", n_embd, n_ff, 1) || !T("ffn_up", n_embd, n_ff, 1) ||
                !T("ffn_down", n_ff, n_embd, 1))
                return false;
        }
    }
#undef T
    printf("\nllama4 layout: ok (%u layers: %d dense, %d MoE; vocab %" PRId64
           "; head dim %u; %u/%u heads)\n",
           n_layer, n_dense, n_moe, n_vocab, d_k, n_head, n_head_kv);
    printf("  layers:");
    for (uint32_t l = 0; l < n_layer && l < 64; l++)
        printf(" %u:%s%s", l, (l + 1) % 4 == 0 ? "NoPE+" : "RoPE+",
               n_expert && (l + 1) % step == 0 ? "MoE" : "dense");
    printf("%s\n", n_layer > 64 ? " ..." : "");
    return true;
}

static bool check_clip(checker *c)
{
    const char *path = herd_gguf_path(c->g);
    uint32_t n_embd, n_ff, n_layer, n_head, img, patch, proj;
    int64_t n_tensors = herd_gguf_n_tensors(c->g);
    uint32_t max_layers = n_tensors / 8 > 0 ? (uint32_t)(n_tensors / 8) : 1;
    const uint32_t big = 1u << 20;
    if (!need_u32(c, "clip.vision.embedding_length", 1, big, &n_embd) ||
        !need_u32(c, "clip.vision.feed_forward_length", 1, big, &n_ff) ||
        !need_u32(c, "clip.vision.block_count", 1, max_layers, &n_layer) ||
        !need_u32(c, "clip.vision.attention.head_count", 1, n_embd, &n_head) ||
        !need_u32(c, "clip.vision.image_size", 1, 1u << 14, &img) ||
        !need_u32(c, "clip.vision.patch_size", 1, img, &patch) ||
        !need_u32(c, "clip.vision.projection_dim", 1, big, &proj))
        return false;
    if (n_embd % n_head)
        return check_fail(c,
                          "%s: clip.vision.embedding_length %u is not a multiple of "
                          "head_count %u",
                          path, n_embd, n_head);
    if (img % patch)
        return check_fail(c, "%s: clip.vision.image_size %u is not a multiple of patch_size %u",
                          path, img, patch);
    int64_t n_patches = (int64_t)(img / patch) * (img / patch);
    if (!need_tensor(c, "v.patch_embd.weight", 3 * patch * patch, n_embd, 1) ||
        !need_tensor(c, "v.class_embd", n_embd, 1, 1) ||
        !need_tensor(c, "v.position_embd.weight", n_embd, n_patches + 1, 1) ||
        !need_tensor(c, "v.pre_ln.weight", n_embd, 1, 1) ||
        !need_tensor(c, "v.post_ln.weight", n_embd, 1, 1))
        return false;
    char name[96];
    for (uint32_t l = 0; l < n_layer; l++) {
        static const char *const sq[] = { "attn_q", "attn_k", "attn_v", "attn_out" };
        for (int i = 0; i < 4; i++) {
            snprintf(name, sizeof name, "v.blk.%u.%s.weight", l, sq[i]);
            if (!need_tensor(c, name, n_embd, n_embd, 1))
                return false;
        }
        snprintf(name, sizeof name, "v.blk.%u.ln1.weight", l);
        if (!need_tensor(c, name, n_embd, 1, 1))
            return false;
        snprintf(name, sizeof name, "v.blk.%u.ln2.weight", l);
        if (!herd_gguf_find_tensor(c->g, name))
            snprintf(name, sizeof name, "v.blk.%u.attn_post_norm.weight", l);
        if (!need_tensor(c, name, n_embd, 1, 1))
            return false;
        snprintf(name, sizeof name, "v.blk.%u.ffn_up.weight", l);
        if (!need_tensor(c, name, n_embd, n_ff, 1))
            return false;
        snprintf(name, sizeof name, "v.blk.%u.ffn_down.weight", l);
        if (!need_tensor(c, name, n_ff, n_embd, 1))
            return false;
    }
    /* adapter and projector: shapes depend on the pixel shuffle; check that they chain */
    const herd_gguf_tensor *m1 = herd_gguf_find_tensor(c->g, "mm.model.mlp.1.weight");
    const herd_gguf_tensor *m2 = herd_gguf_find_tensor(c->g, "mm.model.mlp.2.weight");
    const herd_gguf_tensor *fc = herd_gguf_find_tensor(c->g, "mm.model.fc.weight");
    if (!m1 || !m2 || !fc)
        return check_fail(c, "%s: missing tensor '%s'", path,
                          !m1   ? "mm.model.mlp.1.weight"
                          : !m2 ? "mm.model.mlp.2.weight"
                                : "mm.model.fc.weight");
    if (!need_tensor(c, "mm.model.mlp.2.weight", m1->ne[1], m2->ne[1], 1) ||
        !need_tensor(c, "mm.model.fc.weight", m2->ne[1], proj, 1))
        return false;
    printf("\nclip layout: ok (%u blocks, embedding %u, %u heads, %ux%u px, patch %u, "
           "projection %u)\n",
           n_layer, n_embd, n_head, img, img, patch, proj);
    return true;
}

/* ---------------------------------------------------------------------------------------------
 * Report */

static void print_size(uint64_t bytes)
{
    if (bytes >= 1000000000ull)
        printf("%.2f GB", bytes / 1e9);
    else if (bytes >= 1000000ull)
        printf("%.2f MB", bytes / 1e6);
    else if (bytes >= 1000ull)
        printf("%.2f kB", bytes / 1e3);
    else
        printf("%" PRIu64 " B", bytes);
}

static void print_kvs(const herd_gguf *g)
{
    char val[1024], type[48];
    printf("\nmetadata (%" PRId64 " keys):\n", herd_gguf_n_kv(g));
    for (int64_t i = 0; i < herd_gguf_n_kv(g); i++) {
        herd_gguf_vtype t = herd_gguf_kv_type(g, i), et;
        uint64_t n;
        if (herd_gguf_kv_arr(g, i, &et, &n, NULL))
            snprintf(type, sizeof type, "%s[%" PRIu64 "]", herd_gguf_vtype_name(et), n);
        else
            snprintf(type, sizeof type, "%s", herd_gguf_vtype_name(t));
        printf("  %-44s %-12s %s\n", herd_gguf_kv_key(g, i), type,
               herd_gguf_kv_format(g, i, val, sizeof val));
    }
}

static void print_hparams(const herd_gguf *g, const char *prefix)
{
    char val[256];
    size_t plen = strlen(prefix);
    printf("\nhyperparameters (%s*):\n", prefix);
    for (int64_t i = 0; i < herd_gguf_n_kv(g); i++) {
        const char *k = herd_gguf_kv_key(g, i);
        if (strncmp(k, prefix, plen) == 0)
            printf("  %-40s %s\n", k + plen, herd_gguf_kv_format(g, i, val, sizeof val));
    }
}

/* Prints per-type totals; returns the first tensor whose type the engine does not compute. */
static const herd_gguf_tensor *print_tensors(const herd_gguf *g)
{
    uint64_t bytes[HERD_TYPE_COUNT] = { 0 }, count[HERD_TYPE_COUNT] = { 0 }, params = 0, total = 0;
    const herd_gguf_tensor *bad = NULL;
    for (int64_t i = 0; i < herd_gguf_n_tensors(g); i++) {
        const herd_gguf_tensor *t = herd_gguf_tensor_at(g, i);
        bytes[t->type] += t->size;
        count[t->type]++;
        total += t->size;
        params += (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
        if (!bad && !herd_type_get(t->type)->compute)
            bad = t;
    }
    printf("\ntensors: %" PRId64 "\n", herd_gguf_n_tensors(g));
    for (int ty = 0; ty < HERD_TYPE_COUNT; ty++) {
        if (!count[ty])
            continue;
        printf("  %-8s %6" PRIu64 " tensors  %14" PRIu64 " bytes  (", herd_type_name(ty), count[ty],
               bytes[ty]);
        print_size(bytes[ty]);
        printf(")%s\n", herd_type_get(ty)->compute ? "" : "  [not computed by Herd's engine]");
    }
    printf("  total    %6" PRId64 " tensors  %14" PRIu64 " bytes  (", herd_gguf_n_tensors(g),
           total);
    print_size(total);
    printf(")\ntotal params: %" PRIu64 "\n", params);
    return bad;
}

/* Prints vocabulary size and special tokens; returns the token count or -1 if no vocabulary. */
static int64_t print_vocab(const herd_gguf *g)
{
    herd_gguf_vtype et;
    uint64_t n = 0;
    int64_t n_tokens = -1;
    if (herd_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n, NULL) && et == HERD_GGUF_STRING)
        n_tokens = (int64_t)n;
    const char *model = NULL;
    size_t model_len = 0;
    herd_gguf_get_str(g, "tokenizer.ggml.model", &model, &model_len);
    if (n_tokens < 0 && !model)
        return -1;
    printf("\nvocabulary: %" PRId64 " tokens", n_tokens < 0 ? 0 : n_tokens);
    if (model)
        printf(" (model '%.*s')", (int)(model_len > 32 ? 32 : model_len), model);
    printf("\nspecial tokens:");
    static const char *const names[][2] = {
        { "bos", "tokenizer.ggml.bos_token_id" },     { "eos", "tokenizer.ggml.eos_token_id" },
        { "pad", "tokenizer.ggml.padding_token_id" }, { "unk", "tokenizer.ggml.unknown_token_id" },
        { "eot", "tokenizer.ggml.eot_token_id" },
    };
    int shown = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        uint32_t id;
        if (herd_gguf_get_u32(g, names[i][1], &id)) {
            printf(" %s %u", names[i][0], id);
            shown++;
        }
    }
    bool add_bos;
    if (herd_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &add_bos))
        printf(" (add_bos %s)", add_bos ? "true" : "false");
    printf("%s\n", shown ? "" : " none");
    return n_tokens;
}

/* Token ids must name a token. */
static bool check_vocab(checker *c, int64_t n_tokens)
{
    static const char *const keys[] = {
        "tokenizer.ggml.bos_token_id",
        "tokenizer.ggml.eos_token_id",
        "tokenizer.ggml.padding_token_id",
    };
    if (n_tokens < 0)
        return true;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        uint32_t id;
        if (herd_gguf_find_key(c->g, keys[i]) < 0)
            continue;
        if (!herd_gguf_get_u32(c->g, keys[i], &id))
            return check_fail(c, "%s: key '%s' is not an unsigned integer", herd_gguf_path(c->g),
                              keys[i]);
        if (id >= n_tokens)
            return check_fail(c, "%s: key '%s' = %u is not a token id (vocabulary of %" PRId64 ")",
                              herd_gguf_path(c->g), keys[i], id, n_tokens);
    }
    return true;
}

int cli_info(int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            info_usage(stdout);
            return 0;
        }
        if (argv[i][0] == '-' && argv[i][1]) {
            cli_error("info: unknown option '%s' (see 'herd-cli info --help')", argv[i]);
            return 2;
        }
        if (path) {
            cli_error("info: expected one file, got '%s' and '%s'", path, argv[i]);
            return 2;
        }
        path = argv[i];
    }
    if (!path) {
        cli_error("info: missing FILE.gguf (see 'herd-cli info --help')");
        return 2;
    }

    herd_error err;
    herd_gguf *g = herd_gguf_open(path, &err);
    if (!g) {
        cli_error("%s", err.msg);
        return 1;
    }

    printf("file:         %s\n", herd_gguf_path(g));
    printf("size:         %zu bytes (", herd_gguf_file_size(g));
    print_size(herd_gguf_file_size(g));
    printf(")\nversion:      %u\nalignment:    %u\ndata offset:  %" PRIu64 "\n",
           herd_gguf_version(g), herd_gguf_alignment(g), herd_gguf_data_offset(g));
    print_kvs(g);

    const char *arch = NULL;
    size_t arch_len = 0;
    char arch_s[64] = "";
    if (herd_gguf_get_str(g, "general.architecture", &arch, &arch_len))
        snprintf(arch_s, sizeof arch_s, "%.*s", (int)(arch_len > 63 ? 63 : arch_len), arch);
    printf("\narchitecture: %s\n", arch ? arch_s : "(none: no general.architecture)");
    bool is_llama4 = arch && !strcmp(arch_s, "llama4") && strlen(arch_s) == arch_len;
    bool is_clip = arch && !strcmp(arch_s, "clip") && strlen(arch_s) == arch_len;
    if (is_llama4)
        print_hparams(g, "llama4.");
    else if (is_clip)
        print_hparams(g, "clip.");

    const herd_gguf_tensor *bad = print_tensors(g);
    int64_t n_tokens = print_vocab(g);

    checker c = { .g = g };
    if (bad) {
        check_fail(&c, "%s: tensor '%s' has type %s, which Herd's engine does not compute", path,
                   bad->name, herd_type_name(bad->type));
    } else if (is_llama4 && herd_gguf_n_tensors(g) == 0) {
        printf("\nllama4 vocabulary-only file (no tensors)\n");
    } else if (is_llama4) {
        check_llama4(&c, n_tokens);
    } else if (is_clip) {
        check_clip(&c);
    } else {
        printf("\nno layout check for this architecture\n");
    }
    check_vocab(&c, n_tokens);
    herd_gguf_close(g);
    fflush(stdout);
    if (c.failed) {
        cli_error("%s", c.msg);
        return 1;
    }
    return 0;
}
