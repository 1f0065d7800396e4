/* test-convert.c: the GGUFs made by tools/convert_hf.py (tests/fixtures/models/) hold exactly the
 * Hugging Face weights they were converted from, under the layout of docs/gguf-layout.md.
 *
 * tests/fixtures/models/tiny.weights.json lists every safetensors tensor of the 'tiny' model
 * with its float64 sum, sum of squares and (index, value) samples. For each one this test finds
 * the GGUF tensor(s) it became and checks shape, type, checksums (F32 file) and every sample
 * (F32: exact; Q8_0: within half a quantization step), following the transforms: q/k NOT
 * permuted (whole layer-0 q_proj/k_proj compared against raw dumps), experts gate_up_proj
 * [E][D][2F] split into gate/up and transposed, down_proj [E][F][D] transposed. It also checks the
 * metadata keys (llama.cpp's and Herd's own), rope_freqs against the llama3 formula, tokenizer
 * arrays, and the second fixture model ('moe': all-MoE, QK-norm off, no rope scaling).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem, M_PI */
#endif
#include "engine/gguf.h"
#include "json.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_fail;
static int g_checks;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAIL: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    g_fail++;
}

#define CHECK(cond, ...)       \
    do {                       \
        g_checks++;            \
        if (!(cond))           \
            fail(__VA_ARGS__); \
    } while (0)

static char g_dir[4096];

static herd_gguf *open_fixture(const char *rel)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", g_dir, rel);
    herd_error err = { 0 };
    herd_gguf *g = herd_gguf_open(path, &err);
    if (!g)
        fail("open %s: %s", path, err.msg);
    return g;
}

static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 31, man = h & 1023, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal */
            float f = ldexpf((float)man, -24);
            return sign ? -f : f;
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* Element i (flat, ggml order) of a tensor; *step = the largest rounding error its type allows. */
static float elem(const herd_gguf_tensor *t, int64_t i, float *step)
{
    const uint8_t *p = t->data;
    *step = 0.0f;
    switch (t->type) {
    case HERD_TYPE_F32: {
        float f;
        memcpy(&f, p + 4 * i, 4);
        return f;
    }
    case HERD_TYPE_F16: {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        float f = half_to_float(h);
        *step = fabsf(f) * (1.0f / 2048.0f);
        return f;
    }
    case HERD_TYPE_BF16: {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        uint32_t b = (uint32_t)h << 16;
        float f;
        memcpy(&f, &b, 4);
        *step = fabsf(f) * (1.0f / 256.0f);
        return f;
    }
    case HERD_TYPE_Q8_0: {
        const uint8_t *blk = p + (i / 32) * 34;
        uint16_t dh;
        memcpy(&dh, blk, 2);
        float d = half_to_float(dh);
        *step = 0.57f * fabsf(d) + 1e-7f; /* d/2 + fp16 rounding of d times |q| <= 127 */
        return d * (float)(int8_t)blk[2 + i % 32];
    }
    default:
        return NAN;
    }
}

static int64_t nelem(const herd_gguf_tensor *t)
{
    return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
}

static const herd_gguf_tensor *need(const herd_gguf *g, const char *name)
{
    const herd_gguf_tensor *t = herd_gguf_find_tensor(g, name);
    if (!t)
        fail("%s: tensor %s missing", herd_gguf_path(g), name);
    return t;
}

static void check_ne(const herd_gguf_tensor *t, int64_t a, int64_t b, int64_t c)
{
    if (!t)
        return;
    CHECK(t->ne[0] == a && t->ne[1] == b && t->ne[2] == c && t->ne[3] == 1,
          "%s: ne [%lld,%lld,%lld,%lld], expected [%lld,%lld,%lld]", t->name, (long long)t->ne[0],
          (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3], (long long)a, (long long)b,
          (long long)c);
}

static void check_u32(const herd_gguf *g, const char *key, uint32_t want)
{
    uint32_t v = 0;
    bool ok = herd_gguf_get_u32(g, key, &v);
    CHECK(ok && v == want, "%s: %s = %u (present %d), expected %u", herd_gguf_path(g), key, v, ok,
          want);
}

static void check_f32(const herd_gguf *g, const char *key, float want)
{
    float v = 0;
    bool ok = herd_gguf_get_f32(g, key, &v);
    CHECK(ok && fabsf(v - want) <= 1e-6f * fabsf(want), "%s: %s = %g, expected %g",
          herd_gguf_path(g), key, v, want);
}

static void check_bool(const herd_gguf *g, const char *key, bool want)
{
    bool v = !want;
    bool ok = herd_gguf_get_bool(g, key, &v);
    CHECK(ok && v == want, "%s: %s = %d (present %d), expected %d", herd_gguf_path(g), key, v, ok,
          want);
}

static void check_str(const herd_gguf *g, const char *key, const char *want)
{
    const char *s = NULL;
    size_t n = 0;
    bool ok = herd_gguf_get_str(g, key, &s, &n);
    CHECK(ok && n == strlen(want) && memcmp(s, want, n) == 0, "%s: %s = '%.*s', expected '%s'",
          herd_gguf_path(g), key, ok ? (int)n : 0, ok ? s : "", want);
}

/* ----- where an HF tensor element lands in the GGUF ------------------------------------------ */

enum map_kind { MAP_PLAIN, MAP_GATE_UP, MAP_DOWN_EXPS };

typedef struct {
    enum map_kind kind;
    const herd_gguf *g;
    char name[128];  /* PLAIN/DOWN: the tensor; GATE_UP: gate tensor */
    char name2[128]; /* GATE_UP: up tensor */
} mapping;

static bool map_text(const char *hf, mapping *m)
{
    static const char *const pairs[][2] = {
        { "input_layernorm.weight", "attn_norm.weight" },
        { "self_attn.q_proj.weight", "attn_q.weight" },
        { "self_attn.k_proj.weight", "attn_k.weight" },
        { "self_attn.v_proj.weight", "attn_v.weight" },
        { "self_attn.o_proj.weight", "attn_output.weight" },
        { "post_attention_layernorm.weight", "ffn_norm.weight" },
        { "feed_forward.router.weight", "ffn_gate_inp.weight" },
        { "feed_forward.shared_expert.gate_proj.weight", "ffn_gate_shexp.weight" },
        { "feed_forward.shared_expert.up_proj.weight", "ffn_up_shexp.weight" },
        { "feed_forward.shared_expert.down_proj.weight", "ffn_down_shexp.weight" },
        { "feed_forward.gate_proj.weight", "ffn_gate.weight" },
        { "feed_forward.up_proj.weight", "ffn_up.weight" },
        { "feed_forward.down_proj.weight", "ffn_down.weight" },
    };
    m->kind = MAP_PLAIN;
    if (!strcmp(hf, "language_model.model.embed_tokens.weight")) {
        snprintf(m->name, sizeof m->name, "token_embd.weight");
        return true;
    }
    if (!strcmp(hf, "language_model.lm_head.weight")) {
        snprintf(m->name, sizeof m->name, "output.weight");
        return true;
    }
    if (!strcmp(hf, "language_model.model.norm.weight")) {
        snprintf(m->name, sizeof m->name, "output_norm.weight");
        return true;
    }
    int layer, off = 0;
    if (sscanf(hf, "language_model.model.layers.%d.%n", &layer, &off) != 1 || off == 0)
        return false;
    const char *rest = hf + off;
    if (!strcmp(rest, "feed_forward.experts.gate_up_proj")) {
        m->kind = MAP_GATE_UP;
        snprintf(m->name, sizeof m->name, "blk.%d.ffn_gate_exps.weight", layer);
        snprintf(m->name2, sizeof m->name2, "blk.%d.ffn_up_exps.weight", layer);
        return true;
    }
    if (!strcmp(rest, "feed_forward.experts.down_proj")) {
        m->kind = MAP_DOWN_EXPS;
        snprintf(m->name, sizeof m->name, "blk.%d.ffn_down_exps.weight", layer);
        return true;
    }
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        if (!strcmp(rest, pairs[i][0])) {
            snprintf(m->name, sizeof m->name, "blk.%d.%s", layer, pairs[i][1]);
            return true;
        }
    }
    return false;
}

static bool map_vision(const char *hf, mapping *m)
{
    static const char *const fixed[][2] = {
        { "vision_model.patch_embedding.linear.weight", "v.patch_embd.weight" },
        { "vision_model.class_embedding", "v.class_embd" },
        { "vision_model.positional_embedding_vlm", "v.position_embd.weight" },
        { "vision_model.layernorm_pre.weight", "v.pre_ln.weight" },
        { "vision_model.layernorm_pre.bias", "v.pre_ln.bias" },
        { "vision_model.layernorm_post.weight", "v.post_ln.weight" },
        { "vision_model.layernorm_post.bias", "v.post_ln.bias" },
        { "vision_model.vision_adapter.mlp.fc1.weight", "mm.model.mlp.1.weight" },
        { "vision_model.vision_adapter.mlp.fc2.weight", "mm.model.mlp.2.weight" },
        { "multi_modal_projector.linear_1.weight", "mm.model.fc.weight" },
    };
    static const char *const blk[][2] = {
        { "self_attn.q_proj", "attn_q" }, { "self_attn.k_proj", "attn_k" },
        { "self_attn.v_proj", "attn_v" }, { "self_attn.o_proj", "attn_out" },
        { "input_layernorm", "ln1" },     { "post_attention_layernorm", "ln2" },
        { "mlp.fc1", "ffn_up" },          { "mlp.fc2", "ffn_down" },
    };
    m->kind = MAP_PLAIN;
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        if (!strcmp(hf, fixed[i][0])) {
            snprintf(m->name, sizeof m->name, "%s", fixed[i][1]);
            return true;
        }
    }
    int layer, off = 0;
    if (sscanf(hf, "vision_model.model.layers.%d.%n", &layer, &off) != 1 || off == 0)
        return false;
    const char *rest = hf + off;
    for (size_t i = 0; i < sizeof blk / sizeof blk[0]; i++) {
        size_t n = strlen(blk[i][0]);
        if (!strncmp(rest, blk[i][0], n) && rest[n] == '.') {
            snprintf(m->name, sizeof m->name, "v.blk.%d.%s.%s", layer, blk[i][1], rest + n + 1);
            return true;
        }
    }
    return false;
}

static bool matmul_weight(const char *gguf_name)
{
    /* tensors that take --outtype (the rest stay F32): docs/gguf-layout.md */
    static const char *const f32_always[] = {
        "_norm.weight",     "ffn_gate_inp.weight", ".bias",
        "ln1.weight",       "ln2.weight",          "pre_ln.weight",
        "post_ln.weight",   "v.class_embd",        "v.position_embd.weight",
        "rope_freqs.weight"
    };
    size_t n = strlen(gguf_name);
    for (size_t i = 0; i < sizeof f32_always / sizeof f32_always[0]; i++) {
        size_t k = strlen(f32_always[i]);
        if (n >= k && !strcmp(gguf_name + n - k, f32_always[i]))
            return false;
    }
    return true;
}

/* One HF tensor against a (text, mmproj) GGUF pair. */
static void check_tensor(const json_value *jt, const herd_gguf *text, const herd_gguf *mm,
                         bool exact, herd_type want_type)
{
    const char *hf = json_str(json_get(jt, "name"), NULL);
    const json_value *shape = json_get(jt, "shape");
    const json_value *samples = json_get(jt, "samples");
    if (!hf || !shape || !samples) {
        fail("weights.json: malformed tensor entry");
        return;
    }
    mapping m;
    memset(&m, 0, sizeof m);
    if (map_text(hf, &m))
        m.g = text;
    else if (map_vision(hf, &m))
        m.g = mm;
    else {
        fail("%s: no GGUF mapping", hf);
        return;
    }
    int64_t d[3] = { 1, 1, 1 };
    size_t nd = json_len(shape);
    if (nd < 1 || nd > 3) {
        fail("%s: %zu dims", hf, nd);
        return;
    }
    for (size_t i = 0; i < nd; i++)
        d[i] = (int64_t)json_num(json_at(shape, i), -1);

    const herd_gguf_tensor *t = need(m.g, m.name);
    const herd_gguf_tensor *t2 = m.kind == MAP_GATE_UP ? need(m.g, m.name2) : NULL;
    if (!t || (m.kind == MAP_GATE_UP && !t2))
        return;
    /* shapes: HF [d0][d1](...) row-major */
    if (m.kind == MAP_PLAIN) {
        if (nd == 1)
            check_ne(t, d[0], 1, 1);
        else if (nd == 2)
            check_ne(t, d[1], d[0], 1);
        else
            fail("%s: 3-D plain tensor", hf);
    } else if (m.kind == MAP_GATE_UP) { /* [E][D][2F] -> ne [D, F, E] twice */
        check_ne(t, d[1], d[2] / 2, d[0]);
        check_ne(t2, d[1], d[2] / 2, d[0]);
    } else { /* [E][F][D] -> ne [F, D, E] */
        check_ne(t, d[1], d[2], d[0]);
    }
    /* types */
    herd_type expect = matmul_weight(m.name) ? want_type : HERD_TYPE_F32;
    if (expect == HERD_TYPE_Q8_0 && t->ne[0] % 32 != 0)
        expect = HERD_TYPE_F16; /* Q8_0 needs rows of whole blocks */
    CHECK(t->type == expect, "%s: type %s, expected %s", m.name, herd_type_name(t->type),
          herd_type_name(expect));
    if (t2)
        CHECK(t2->type == expect, "%s: type %s, expected %s", m.name2, herd_type_name(t2->type),
              herd_type_name(expect));

    /* samples */
    for (size_t s = 0; s < json_len(samples); s++) {
        const json_value *smp = json_at(samples, s);
        const json_value *idx = json_at(smp, 0);
        float want = (float)json_num(json_at(smp, 1), NAN);
        int64_t ix[3] = { 0, 0, 0 };
        for (size_t i = 0; i < nd; i++)
            ix[i] = (int64_t)json_num(json_at(idx, i), -1);
        const herd_gguf_tensor *tt = t;
        int64_t flat;
        if (m.kind == MAP_PLAIN) {
            flat = nd == 1 ? ix[0] : ix[0] * d[1] + ix[1];
        } else if (m.kind == MAP_GATE_UP) {
            int64_t E = d[0], D = d[1], F = d[2] / 2, e = ix[0], dd = ix[1], j = ix[2];
            (void)E;
            if (j >= F) {
                tt = t2;
                j -= F;
            }
            flat = (e * F + j) * D + dd; /* expert e, row j (output), column dd (input) */
        } else {
            int64_t D = d[2], F = d[1], e = ix[0], f = ix[1], dd = ix[2];
            flat = (e * D + dd) * F + f; /* expert e, row dd (output), column f (input) */
        }
        if (flat < 0 || flat >= nelem(tt)) {
            fail("%s: sample index out of range", hf);
            continue;
        }
        float step;
        float got = elem(tt, flat, &step);
        if (exact)
            CHECK(got == want, "%s[%lld,%lld,%lld] -> %s[%lld] = %.9g, expected %.9g", hf,
                  (long long)ix[0], (long long)ix[1], (long long)ix[2], tt->name, (long long)flat,
                  got, want);
        else
            CHECK(fabsf(got - want) <= step * 1.001f + 1e-6f,
                  "%s[%lld,%lld,%lld] -> %s[%lld] = %.9g, expected %.9g (step %g)", hf,
                  (long long)ix[0], (long long)ix[1], (long long)ix[2], tt->name, (long long)flat,
                  got, want, step);
    }

    /* checksums (F32 file): sum and sum of squares over the GGUF tensor(s) */
    if (exact) {
        double sum = 0, sq = 0;
        const herd_gguf_tensor *ts[2] = { t, t2 };
        for (int k = 0; k < 2; k++) {
            if (!ts[k])
                continue;
            for (int64_t i = 0; i < nelem(ts[k]); i++) {
                float step;
                double v = elem(ts[k], i, &step);
                sum += v;
                sq += v * v;
            }
        }
        double wsum = json_num(json_get(jt, "sum"), NAN),
               wsq = json_num(json_get(jt, "sumsq"), NAN);
        CHECK(fabs(sum - wsum) <= 1e-9 * wsq + 1e-9, "%s: sum %.12g, expected %.12g", hf, sum,
              wsum);
        CHECK(fabs(sq - wsq) <= 1e-9 * wsq, "%s: sumsq %.12g, expected %.12g", hf, sq, wsq);
    }
}

/* Whole-tensor comparison with a raw float32 dump of the HF tensor ([out][in] row-major). */
static void check_raw(const herd_gguf *g, const char *gguf_name, const char *rel)
{
    const herd_gguf_tensor *t = need(g, gguf_name);
    if (!t)
        return;
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", g_dir, rel);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fail("%s: cannot open", path);
        return;
    }
    int64_t n = nelem(t);
    float *buf = malloc((size_t)n * sizeof *buf);
    size_t got = buf ? fread(buf, sizeof *buf, (size_t)n + 1, f) : 0;
    fclose(f);
    CHECK(got == (size_t)n, "%s: %zu floats, expected %lld", path, got, (long long)n);
    if (got == (size_t)n && t->type == HERD_TYPE_F32)
        CHECK(memcmp(buf, t->data, (size_t)n * 4) == 0,
              "%s differs from %s (q/k rows must keep HF/Meta order: no permutation)", gguf_name,
              rel);
    free(buf);
}

static void check_tokenizer(const herd_gguf *g)
{
    check_str(g, "tokenizer.ggml.model", "gpt2");
    check_str(g, "tokenizer.ggml.pre", "llama4");
    check_u32(g, "tokenizer.ggml.bos_token_id", 1024);
    check_u32(g, "tokenizer.ggml.eos_token_id", 1032);
    check_u32(g, "tokenizer.ggml.padding_token_id", 1042);
    check_bool(g, "tokenizer.ggml.add_bos_token", true);
    herd_gguf_vtype et;
    uint64_t n = 0;
    const void *data = NULL;
    CHECK(herd_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n, NULL) && et == HERD_GGUF_STRING &&
              n == 3072,
          "tokens: %llu strings", (unsigned long long)n);
    if (n == 3072) {
        const char **p = malloc(n * sizeof *p);
        uint64_t *l = malloc(n * sizeof *l);
        if (p && l && herd_gguf_get_arr_str(g, "tokenizer.ggml.tokens", p, l, n)) {
            static const struct {
                int id;
                const char *s;
            } want[] = {
                { 0, "\xc3\x80" },   /* rank 0 = byte 0xC0 -> U+00C0 */
                { 220, "\xc4\xa0" }, /* " " -> U+0120 */
                { 198, "\xc4\x8a" }, /* "\n" -> U+010A */
                { 1024, "<|begin_of_text|>" },
                { 1032, "<|eot|>" },
                { 1116, "<|patch|>" },
                { 3071, "<|reserved_special_token_903|>" },
            };
            for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
                CHECK(l[want[i].id] == strlen(want[i].s) &&
                          !memcmp(p[want[i].id], want[i].s, l[want[i].id]),
                      "token %d = '%.*s', expected '%s'", want[i].id, (int)l[want[i].id],
                      p[want[i].id], want[i].s);
        } else {
            fail("tokens: cannot read");
        }
        free(p);
        free(l);
    }
    CHECK(herd_gguf_get_arr(g, "tokenizer.ggml.token_type", &et, &n, &data) &&
              et == HERD_GGUF_I32 && n == 3072,
          "token_type: %llu", (unsigned long long)n);
    if (n == 3072 && data) {
        int bad = 0;
        for (uint64_t i = 0; i < n; i++) {
            int32_t v;
            memcpy(&v, (const char *)data + 4 * i, 4);
            bad += v != (i < 1024 ? 1 : 3);
        }
        CHECK(bad == 0, "token_type: %d wrong (normal 1 below 1024, control 3 above)", bad);
    }
    CHECK(herd_gguf_get_arr(g, "tokenizer.ggml.merges", &et, &n, NULL) && et == HERD_GGUF_STRING &&
              n == 768,
          "merges: %llu", (unsigned long long)n);
    const char *tmpl = NULL;
    size_t tl = 0;
    CHECK(herd_gguf_get_str(g, "tokenizer.chat_template", &tmpl, &tl) && tl > 100 &&
              memmem(tmpl, tl, "<|header_start|>", 16) != NULL,
          "chat_template missing or not Llama 4's");
}

static void check_vision_keys(const herd_gguf *g, uint32_t proj_dim)
{
    check_str(g, "general.architecture", "clip");
    check_str(g, "clip.projector_type", "llama4");
    check_bool(g, "clip.has_vision_encoder", true);
    check_bool(g, "clip.use_gelu", true);
    check_u32(g, "clip.vision.image_size", 336);
    check_u32(g, "clip.vision.patch_size", 14);
    check_u32(g, "clip.vision.embedding_length", 64);
    check_u32(g, "clip.vision.feed_forward_length", 256);
    check_u32(g, "clip.vision.block_count", 2);
    check_u32(g, "clip.vision.attention.head_count", 4);
    check_u32(g, "clip.vision.projection_dim", proj_dim);
    check_u32(g, "clip.vision.projector.scale_factor", 2);
    check_f32(g, "clip.vision.attention.layer_norm_epsilon", 1e-5f);
    CHECK(herd_gguf_n_tensors(g) == 42, "mmproj: %lld tensors, expected 42",
          (long long)herd_gguf_n_tensors(g));
    check_ne(need(g, "v.patch_embd.weight"), 588, 64, 1);
    check_ne(need(g, "v.position_embd.weight"), 64, 577, 1);
    check_ne(need(g, "v.blk.1.ln2.weight"), 64, 1, 1);
    check_ne(need(g, "mm.model.mlp.1.weight"), 256, 128, 1);
    check_ne(need(g, "mm.model.mlp.2.weight"), 128, 128, 1);
    check_ne(need(g, "mm.model.fc.weight"), 128, proj_dim, 1);
}

/* llama3 rope scaling as per-pair divisors (spec §2.4). */
static void check_rope_freqs(const herd_gguf *g, int dim, double theta, double factor, double low,
                             double high, double old)
{
    const herd_gguf_tensor *t = need(g, "rope_freqs.weight");
    if (!t)
        return;
    check_ne(t, dim / 2, 1, 1);
    int smooth_pairs = 0;
    for (int i = 0; i < dim / 2 && t->type == HERD_TYPE_F32; i++) {
        double f = 1.0 / pow(theta, 2.0 * i / dim), wl = 2 * M_PI / f, want;
        if (wl < old / high) {
            want = 1.0;
        } else if (wl > old / low) {
            want = factor;
        } else {
            double s = (old / wl - low) / (high - low);
            want = 1.0 / ((1 - s) / factor + s);
            smooth_pairs++;
        }
        float step;
        double got = elem(t, i, &step);
        CHECK(fabs(got - want) <= 1e-5 * want, "rope_freqs[%d] = %.9g, expected %.9g", i, got,
              want);
    }
    CHECK(smooth_pairs >= 1, "the fixture should have a pair in the smooth band");
}

/* Every file in manifest.json exists with the recorded size; float32 files match their shape. */
static void check_manifest(void)
{
    char err[256], path[4200];
    snprintf(path, sizeof path, "%s/manifest.json", g_dir);
    json_value *m = json_parse_file(path, err, sizeof err);
    if (!m) {
        fail("%s: %s", path, err);
        return;
    }
    const json_value *files = json_get(m, "files");
    CHECK(files && files->type == JSON_OBJECT && files->len >= 40, "manifest: files missing");
    for (size_t i = 0; files && files->type == JSON_OBJECT && i < files->len; i++) {
        const char *rel = files->keys[i];
        const json_value *e = &files->items[i];
        snprintf(path, sizeof path, "%s/%s", g_dir, rel);
        FILE *f = fopen(path, "rb");
        long size = -1;
        if (f && fseek(f, 0, SEEK_END) == 0)
            size = ftell(f);
        if (f)
            fclose(f);
        double want = json_num(json_get(e, "bytes"), -1);
        CHECK(size >= 0 && (double)size == want, "%s: %ld bytes, manifest says %.0f", rel, size,
              want);
        const json_value *shape = json_get(e, "shape");
        const char *dt = json_str(json_get(e, "dtype"), NULL);
        if (shape && dt && !strcmp(dt, "float32")) {
            double n = 4;
            for (size_t k = 0; k < json_len(shape); k++)
                n *= json_num(json_at(shape, k), 0);
            CHECK((double)size == n, "%s: %ld bytes for float32 shape (%.0f expected)", rel, size,
                  n);
        }
    }
    json_free(m);
}

static int run(void)
{
    char err[256];
    char path[4200];
    snprintf(path, sizeof path, "%s/models/tiny.weights.json", g_dir);
    json_value *w = json_parse_file(path, err, sizeof err);
    if (!w) {
        fail("%s: %s", path, err);
        return 1;
    }
    const json_value *tensors = json_get(w, "tensors");
    CHECK(json_len(tensors) == 87, "weights.json: %zu tensors, expected 87", json_len(tensors));

    static const struct {
        const char *text, *mm;
        bool exact;
        herd_type type;
    } files[] = {
        { "models/tiny-f32.gguf", "models/tiny-mmproj-f32.gguf", true, HERD_TYPE_F32 },
        { "models/tiny-q8_0.gguf", "models/tiny-mmproj-q8_0.gguf", false, HERD_TYPE_Q8_0 },
    };
    for (size_t k = 0; k < 2; k++) {
        herd_gguf *text = open_fixture(files[k].text), *mm = open_fixture(files[k].mm);
        if (text && mm) {
            int before = g_fail;
            for (size_t i = 0; i < json_len(tensors); i++)
                check_tensor(json_at(tensors, i), text, mm, files[k].exact, files[k].type);
            /* 48 text tensors (incl. rope_freqs; 2 HF expert tensors -> 3 GGUF) + 42 vision */
            CHECK(herd_gguf_n_tensors(text) == 48, "%s: %lld tensors", files[k].text,
                  (long long)herd_gguf_n_tensors(text));
            CHECK(herd_gguf_n_tensors(mm) == 42, "%s: %lld tensors", files[k].mm,
                  (long long)herd_gguf_n_tensors(mm));
            printf("%s + %s: %zu HF tensors checked, %d failures\n", files[k].text, files[k].mm,
                   json_len(tensors), g_fail - before);

            check_str(text, "general.architecture", "llama4");
            check_u32(text, "llama4.block_count", 4);
            check_u32(text, "llama4.context_length", 4096);
            check_u32(text, "llama4.embedding_length", 128);
            check_u32(text, "llama4.feed_forward_length", 256);
            check_u32(text, "llama4.expert_feed_forward_length", 128);
            check_u32(text, "llama4.attention.head_count", 4);
            check_u32(text, "llama4.attention.head_count_kv", 2);
            check_u32(text, "llama4.attention.key_length", 32);
            check_u32(text, "llama4.attention.value_length", 32);
            check_u32(text, "llama4.rope.dimension_count", 32);
            check_u32(text, "llama4.expert_count", 4);
            check_u32(text, "llama4.expert_used_count", 1);
            check_u32(text, "llama4.interleave_moe_layer_step", 2);
            check_u32(text, "llama4.vocab_size", 3072);
            check_u32(text, "general.file_type", k == 0 ? 0 : 7);
            check_f32(text, "llama4.rope.freq_base", 500000.0f);
            check_f32(text, "llama4.attention.layer_norm_rms_epsilon", 1e-5f);
            check_u32(text, "llama4.attention.chunk_size", 32);
            check_u32(text, "llama4.attention.temperature_floor_scale", 16);
            check_f32(text, "llama4.attention.temperature_scale", 0.1f);
            check_bool(text, "llama4.use_qk_norm", true);
            if (k == 1)
                check_u32(text, "general.quantization_version", 2);
            check_tokenizer(text);
            check_rope_freqs(text, 32, 500000.0, 16.0, 1.0, 4.0, 8192.0);
            /* layer 0 is dense, layer 1 MoE (step 2) */
            CHECK(herd_gguf_find_tensor(text, "blk.0.ffn_gate.weight") &&
                      !herd_gguf_find_tensor(text, "blk.0.ffn_gate_inp.weight") &&
                      herd_gguf_find_tensor(text, "blk.1.ffn_gate_inp.weight") &&
                      !herd_gguf_find_tensor(text, "blk.1.ffn_gate.weight"),
                  "dense/MoE layer placement");
            check_vision_keys(mm, 128);
            if (k == 0) {
                check_raw(text, "blk.0.attn_q.weight", "models/tiny.layer0.q_proj.bin");
                check_raw(text, "blk.0.attn_k.weight", "models/tiny.layer0.k_proj.bin");
            }
        }
        herd_gguf_close(text);
        herd_gguf_close(mm);
    }
    json_free(w);

    /* the second model: all-MoE, QK-norm off with 4 experts, no rope scaling, chunk 24, floor 12 */
    herd_gguf *moe = open_fixture("models/moe-f32.gguf");
    herd_gguf *moem = open_fixture("models/moe-mmproj-f32.gguf");
    if (moe) {
        check_u32(moe, "llama4.interleave_moe_layer_step", 1);
        check_u32(moe, "llama4.embedding_length", 64);
        check_u32(moe, "llama4.attention.head_count_kv", 1);
        check_u32(moe, "llama4.attention.key_length", 16);
        check_u32(moe, "llama4.attention.chunk_size", 24);
        check_u32(moe, "llama4.attention.temperature_floor_scale", 12);
        check_f32(moe, "llama4.rope.freq_base", 100000.0f);
        check_bool(moe, "llama4.use_qk_norm", false);
        CHECK(!herd_gguf_find_tensor(moe, "rope_freqs.weight"), "moe: rope_freqs without scaling");
        CHECK(herd_gguf_n_tensors(moe) == 3 + 4 * 13, "moe: %lld tensors",
              (long long)herd_gguf_n_tensors(moe));
        for (int l = 0; l < 4; l++) {
            char n[64];
            snprintf(n, sizeof n, "blk.%d.ffn_gate_exps.weight", l);
            check_ne(need(moe, n), 64, 64, 4);
            snprintf(n, sizeof n, "blk.%d.ffn_down_exps.weight", l);
            check_ne(need(moe, n), 64, 64, 4);
            snprintf(n, sizeof n, "blk.%d.ffn_gate_inp.weight", l);
            check_ne(need(moe, n), 64, 4, 1);
        }
        check_tokenizer(moe);
    }
    if (moem)
        check_vision_keys(moem, 64);
    herd_gguf_close(moe);
    herd_gguf_close(moem);
    return 0;
}

int main(void)
{
    const char *src = getenv("HERD_SOURCE_DIR");
    snprintf(g_dir, sizeof g_dir, "%s/tests/fixtures", src ? src : ".");
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/models/tiny.weights.json", g_dir);
    FILE *f = fopen(probe, "rb");
    if (!f) {
        fprintf(stderr, "test-convert: %s missing (run tools/make_fixtures.py): FAIL\n", probe);
        return 1;
    }
    fclose(f);
    run();
    check_manifest();
    printf("%d checks, %d failures\n", g_checks, g_fail);
    return g_fail ? 1 : 0;
}
