/* encoder.c: Llama 4 vision encoder graph (spec §3.2–3.7) over the engine's backend ops.
 *
 * Per tile: unfold 14×14 patches (host-side layout of the input) → patch linear → append CLS →
 * + position embedding → LayerNorm → N × [LN → attention with 2-D RoPE (bidirectional) → LN →
 * exact-GELU MLP] → LayerNorm → drop CLS → pixel shuffle (2×2 merge, row-major, TL TR BL BR) →
 * adapter (two GELU linears) → projector. One graph, built once and replayed for every tile. */
#include "encoder.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "image.h"
#include "quant.h"

typedef struct vit_layer {
    herd_tensor ln1_w, ln1_b, wq, bq, wk, bk, wv, bv, wo, bo, ln2_w, ln2_b, fc1, b1, fc2, b2;
} vit_layer;

struct herd_vision {
    herd_gguf *gguf;
    herd_backend *be;
    herd_vision_info info;
    float eps, rope_theta;
    int n_patches, grid; /* 576, 24 */
    herd_tensor patch_w, cls, pos, pre_w, pre_b, post_w, post_b, mlp1, mlp2, proj;
    vit_layer *layers;
    herd_tensor **weights;
    int n_weights;
    /* io */
    herd_buffer *io_buf;
    herd_tensor inp_patches, inp_pos2, out_embd;
    herd_graph *graph;
    herd_tensor *result;
    float *unfold; /* host scratch [n_patches][588] */
};

static herd_status wbind(herd_vision *v, herd_tensor *t, const char *name, const char *alt,
                         int n_dims, const int64_t *ne, herd_error *err)
{
    const herd_gguf_tensor *gt = herd_gguf_find_tensor(v->gguf, name);
    if (!gt && alt)
        gt = herd_gguf_find_tensor(v->gguf, alt);
    if (!gt)
        return herd_error_set(err, HERD_ERR_FORMAT, "%s: missing tensor '%s'",
                              herd_gguf_path(v->gguf), name);
    for (int i = 0; i < 4; i++)
        if (gt->ne[i] != (i < n_dims ? ne[i] : 1))
            return herd_error_set(err, HERD_ERR_FORMAT,
                                  "%s: tensor '%s' has shape [%lld, %lld], expected [%lld, %lld]",
                                  herd_gguf_path(v->gguf), gt->name, (long long)gt->ne[0],
                                  (long long)gt->ne[1], (long long)ne[0],
                                  (long long)(n_dims > 1 ? ne[1] : 1));
    const herd_type_info *ti = herd_type_get(gt->type);
    if (!ti || !ti->compute || !herd_quant_supported(gt->type))
        return herd_error_set(err, HERD_ERR_UNSUPPORTED,
                              "%s: tensor '%s' has type %s, which Herd does not support",
                              herd_gguf_path(v->gguf), gt->name, herd_type_name(gt->type));
    if (n_dims == 1 && gt->type != HERD_TYPE_F32)
        return herd_error_set(err, HERD_ERR_UNSUPPORTED, "%s: tensor '%s' must be F32",
                              herd_gguf_path(v->gguf), gt->name);
    herd_tensor_init(t, gt->type, 4, gt->ne);
    t->kind = HERD_TENSOR_WEIGHT;
    t->data = (void *)gt->data;
    snprintf(t->name, sizeof t->name, "%s", gt->name);
    v->weights[v->n_weights++] = t;
    return HERD_OK;
}

#define NE(...) ((const int64_t[]){ __VA_ARGS__ })

static bool req_u32(const herd_gguf *g, const char *key, int *out, herd_error *err)
{
    uint32_t x;
    if (!herd_gguf_get_u32(g, key, &x) || x == 0 || x > (1u << 20)) {
        herd_error_set(err, HERD_ERR_FORMAT, "%s: missing or bad key %s", herd_gguf_path(g), key);
        return false;
    }
    *out = (int)x;
    return true;
}

static herd_tensor *vit_graph(herd_vision *v, herd_graph *g)
{
    const int W = v->info.n_embd, H = v->info.n_head, hd = W / H, P = v->n_patches, T = P + 1;
    herd_tensor *x = herd_mul_mat(g, &v->patch_w, &v->inp_patches); /* [W, P] */
    herd_tensor *cls = herd_reshape(g, &v->cls, 2, NE(W, 1));
    x = herd_concat(g, x, cls, 1); /* [W, T] */
    x = herd_add(g, x, &v->pos);
    x = herd_layer_norm(g, x, &v->pre_w, &v->pre_b, v->eps);
    herd_attn_params ap = { .mask = 0, .n_kv = T, .ring = T, .scale = 1.0f / sqrtf((float)hd) };
    for (int l = 0; l < v->info.n_layer; l++) {
        vit_layer *L = &v->layers[l];
        herd_tensor *a = herd_layer_norm(g, x, &L->ln1_w, &L->ln1_b, v->eps);
        herd_tensor *q = herd_add(g, herd_mul_mat(g, &L->wq, a), &L->bq);
        herd_tensor *k = herd_add(g, herd_mul_mat(g, &L->wk, a), &L->bk);
        herd_tensor *vv = herd_add(g, herd_mul_mat(g, &L->wv, a), &L->bv);
        q = herd_reshape(g, q, 3, NE(hd, H, T));
        k = herd_reshape(g, k, 3, NE(hd, H, T));
        vv = herd_reshape(g, vv, 3, NE(hd, H, T));
        q = herd_rope_2d(g, q, &v->inp_pos2, v->rope_theta);
        k = herd_rope_2d(g, k, &v->inp_pos2, v->rope_theta);
        herd_tensor *o = herd_attention(g, q, k, vv, NULL, &ap);
        o = herd_reshape(g, o, 2, NE(W, T));
        x = herd_add(g, x, herd_add(g, herd_mul_mat(g, &L->wo, o), &L->bo));
        herd_tensor *b = herd_layer_norm(g, x, &L->ln2_w, &L->ln2_b, v->eps);
        herd_tensor *h = herd_gelu(g, herd_add(g, herd_mul_mat(g, &L->fc1, b), &L->b1));
        x = herd_add(g, x, herd_add(g, herd_mul_mat(g, &L->fc2, h), &L->b2));
    }
    x = herd_layer_norm(g, x, &v->post_w, &v->post_b, v->eps);
    /* drop CLS (last column), then the 2×2 pixel shuffle: [W, 24×24] seen as
     * [2W (dx, c), 12 (cx), 2 (dy), 12 (cy)]; swap dx-row dims → [2W, dy, cx, cy] */
    const int G = v->grid, G2 = G / 2;
    if (!x)
        return NULL;
    herd_tensor *f = herd_view(g, x, 2, NE(W, P), NULL, 0);
    f = herd_reshape(g, f, 4, NE(2 * W, G2, 2, G2));
    f = herd_permute(g, f, 0, 2, 1, 3);
    f = herd_cpy(g, f, HERD_TYPE_F32);
    f = herd_reshape(g, f, 2, NE(4 * W, G2 * G2));
    f = herd_gelu(g, herd_mul_mat(g, &v->mlp1, f));
    f = herd_gelu(g, herd_mul_mat(g, &v->mlp2, f));
    f = herd_mul_mat(g, &v->proj, f);
    return herd_cpy_to(g, f, &v->out_embd);
}

herd_vision *herd_vision_load(const char *path, herd_backend *be, herd_error *err)
{
    herd_vision *v = calloc(1, sizeof *v);
    if (!v) {
        herd_error_set(err, HERD_ERR_NOMEM, "out of memory");
        return NULL;
    }
    v->be = be;
    v->gguf = herd_gguf_open(path, err);
    if (!v->gguf)
        goto fail;
    const herd_gguf *g = v->gguf;
    const char *s;
    size_t n;
    if (!herd_gguf_get_str(g, "general.architecture", &s, &n) || n != 4 || memcmp(s, "clip", 4)) {
        herd_error_set(err, HERD_ERR_UNSUPPORTED,
                       "%s: not a vision projector (mmproj) file: general.architecture is not "
                       "'clip'",
                       path);
        goto fail;
    }
    if (!herd_gguf_get_str(g, "clip.projector_type", &s, &n) || n != 6 || memcmp(s, "llama4", 6)) {
        herd_error_set(err, HERD_ERR_UNSUPPORTED,
                       "%s: projector type is not llama4: this mmproj belongs to another model",
                       path);
        goto fail;
    }
    herd_vision_info *in = &v->info;
    if (!req_u32(g, "clip.vision.image_size", &in->image_size, err) ||
        !req_u32(g, "clip.vision.patch_size", &in->patch_size, err) ||
        !req_u32(g, "clip.vision.embedding_length", &in->n_embd, err) ||
        !req_u32(g, "clip.vision.feed_forward_length", &in->n_ff, err) ||
        !req_u32(g, "clip.vision.block_count", &in->n_layer, err) ||
        !req_u32(g, "clip.vision.attention.head_count", &in->n_head, err) ||
        !req_u32(g, "clip.vision.projection_dim", &in->n_proj, err))
        goto fail;
    v->eps = 1e-5f;
    herd_gguf_get_f32(g, "clip.vision.attention.layer_norm_epsilon", &v->eps);
    v->rope_theta = 10000.0f;
    herd_gguf_get_f32(g, "clip.vision.rope.freq_base", &v->rope_theta);
    int scale = 2;
    uint32_t sf;
    if (herd_gguf_get_u32(g, "clip.vision.projector.scale_factor", &sf))
        scale = (int)sf;
    v->grid = in->image_size / in->patch_size;
    v->n_patches = v->grid * v->grid;
    const int hd = in->n_head ? in->n_embd / in->n_head : 0;
    if (in->image_size != 336 || in->patch_size != 14 || scale != 2 || in->n_embd % in->n_head ||
        hd % 4) {
        herd_error_set(err, HERD_ERR_UNSUPPORTED,
                       "%s: unsupported vision shape (image %d, patch %d, scale %d, width %d, "
                       "heads %d)",
                       path, in->image_size, in->patch_size, scale, in->n_embd, in->n_head);
        goto fail;
    }
    in->tokens_per_tile = v->n_patches / 4;
    v->layers = calloc((size_t)in->n_layer, sizeof *v->layers);
    v->weights = calloc((size_t)(10 + 16 * in->n_layer), sizeof *v->weights);
    if (!v->layers || !v->weights) {
        herd_error_set(err, HERD_ERR_NOMEM, "out of memory");
        goto fail;
    }
    const int64_t W = in->n_embd, F = in->n_ff, P = v->n_patches;
    const int64_t K = 3 * in->patch_size * in->patch_size;
    const herd_gguf_tensor *m1 = herd_gguf_find_tensor(g, "mm.model.mlp.1.weight");
    const int64_t A = m1 ? m1->ne[1] : 0; /* adapter width */
    if (wbind(v, &v->patch_w, "v.patch_embd.weight", NULL, 2, NE(K, W), err) ||
        wbind(v, &v->cls, "v.class_embd", NULL, 1, NE(W), err) ||
        wbind(v, &v->pos, "v.position_embd.weight", NULL, 2, NE(W, P + 1), err) ||
        wbind(v, &v->pre_w, "v.pre_ln.weight", NULL, 1, NE(W), err) ||
        wbind(v, &v->pre_b, "v.pre_ln.bias", NULL, 1, NE(W), err) ||
        wbind(v, &v->post_w, "v.post_ln.weight", NULL, 1, NE(W), err) ||
        wbind(v, &v->post_b, "v.post_ln.bias", NULL, 1, NE(W), err) ||
        wbind(v, &v->mlp1, "mm.model.mlp.1.weight", NULL, 2, NE(4 * W, A), err) ||
        wbind(v, &v->mlp2, "mm.model.mlp.2.weight", NULL, 2, NE(A, A), err) ||
        wbind(v, &v->proj, "mm.model.fc.weight", NULL, 2, NE(A, in->n_proj), err))
        goto fail;
    if (v->pos.type != HERD_TYPE_F32) {
        herd_error_set(err, HERD_ERR_UNSUPPORTED, "%s: v.position_embd.weight must be F32", path);
        goto fail;
    }
    for (int l = 0; l < in->n_layer; l++) {
        vit_layer *L = &v->layers[l];
        char a[64], b[64];
#define VB(field, suffix, alt, nd, ...)                              \
    do {                                                             \
        snprintf(a, sizeof a, "v.blk.%d.%s", l, suffix);             \
        snprintf(b, sizeof b, "v.blk.%d.%s", l, alt ? alt : suffix); \
        if (wbind(v, &L->field, a, b, nd, NE(__VA_ARGS__), err))     \
            goto fail;                                               \
    } while (0)
        const char *none = NULL;
        VB(ln1_w, "ln1.weight", none, 1, W);
        VB(ln1_b, "ln1.bias", none, 1, W);
        VB(wq, "attn_q.weight", none, 2, W, W);
        VB(bq, "attn_q.bias", none, 1, W);
        VB(wk, "attn_k.weight", none, 2, W, W);
        VB(bk, "attn_k.bias", none, 1, W);
        VB(wv, "attn_v.weight", none, 2, W, W);
        VB(bv, "attn_v.bias", none, 1, W);
        VB(wo, "attn_out.weight", none, 2, W, W);
        VB(bo, "attn_out.bias", none, 1, W);
        VB(ln2_w, "ln2.weight", "attn_post_norm.weight", 1, W);
        VB(ln2_b, "ln2.bias", "attn_post_norm.bias", 1, W);
        VB(fc1, "ffn_up.weight", none, 2, W, F);
        VB(b1, "ffn_up.bias", none, 1, F);
        VB(fc2, "ffn_down.weight", none, 2, F, W);
        VB(b2, "ffn_down.bias", none, 1, W);
#undef VB
    }
    for (int i = 0; i < v->n_weights; i++)
        in->model_bytes += herd_tensor_nbytes(v->weights[i]);
    if (be->iface->weights_upload(be, v->weights, v->n_weights, NULL, NULL, err))
        goto fail;

    /* io tensors */
    herd_tensor_init(&v->inp_patches, HERD_TYPE_F32, 2, NE(K, P));
    herd_tensor_init(&v->inp_pos2, HERD_TYPE_I32, 2, NE(2, P + 1));
    herd_tensor_init(&v->out_embd, HERD_TYPE_F32, 2, NE(in->n_proj, in->tokens_per_tile));
    herd_tensor *io[] = { &v->inp_patches, &v->inp_pos2, &v->out_embd };
    size_t total = 0;
    for (int i = 0; i < 3; i++) {
        io[i]->kind = HERD_TENSOR_STATE;
        total += (herd_tensor_nbytes(io[i]) + 255) / 256 * 256;
    }
    if (be->iface->buffer_alloc(be, total, &v->io_buf, err))
        goto fail;
    size_t off = 0;
    for (int i = 0; i < 3; i++) {
        be->iface->tensor_bind(be, io[i], v->io_buf, off);
        off += (herd_tensor_nbytes(io[i]) + 255) / 256 * 256;
    }
    /* 2-D positions: patch p at (x+1, y+1), CLS (index P) at (0, 0) */
    int32_t *pos = malloc((size_t)(P + 1) * 2 * sizeof *pos);
    if (!pos) {
        herd_error_set(err, HERD_ERR_NOMEM, "out of memory");
        goto fail;
    }
    for (int p = 0; p < P; p++) {
        pos[2 * p] = p % v->grid + 1;
        pos[2 * p + 1] = p / v->grid + 1;
    }
    pos[2 * P] = pos[2 * P + 1] = 0;
    herd_status st = be->iface->tensor_set(be, &v->inp_pos2, pos, 0, (size_t)(P + 1) * 8, err);
    free(pos);
    if (st)
        goto fail;
    v->unfold = malloc((size_t)P * (size_t)K * sizeof *v->unfold);
    v->graph = herd_graph_new(32 * in->n_layer + 64);
    if (!v->unfold || !v->graph) {
        herd_error_set(err, HERD_ERR_NOMEM, "out of memory");
        goto fail;
    }
    v->result = vit_graph(v, v->graph);
    if (!v->result) {
        herd_error_set(err, HERD_ERR_NOMEM, "building the vision graph failed");
        goto fail;
    }
    if (herd_graph_plan(v->graph, &v->result, 1, 256, err))
        goto fail;
    return v;
fail:
    herd_vision_free(v);
    return NULL;
}

void herd_vision_free(herd_vision *v)
{
    if (!v)
        return;
    if (v->io_buf)
        v->be->iface->buffer_free(v->be, v->io_buf);
    herd_graph_free(v->graph);
    free(v->unfold);
    free(v->layers);
    free(v->weights);
    herd_gguf_close(v->gguf);
    free(v);
}

const herd_vision_info *herd_vision_get_info(const herd_vision *v)
{
    return &v->info;
}

herd_status herd_vision_encode(herd_vision *v, const herd_tiles *tiles, float *out, herd_error *err)
{
    const int S = v->info.image_size, ps = v->info.patch_size, G = v->grid;
    const int K = 3 * ps * ps, rows = v->info.tokens_per_tile, D = v->info.n_proj;
    if (tiles->tile_size != S)
        return herd_error_set(err, HERD_ERR_INVALID, "tiles are %d px; the encoder takes %d px",
                              tiles->tile_size, S);
    herd_backend *be = v->be;
    for (int t = 0; t < tiles->n_tiles; t++) {
        const float *px = tiles->data + (size_t)t * 3 * S * S;
        /* unfold: vec[c*ps*ps + ky*ps + kx] of patch (py, px) = X[c][ps*py+ky][ps*px+kx] */
        for (int py = 0; py < G; py++)
            for (int pxi = 0; pxi < G; pxi++) {
                float *vec = v->unfold + (size_t)(py * G + pxi) * K;
                for (int c = 0; c < 3; c++)
                    for (int ky = 0; ky < ps; ky++)
                        memcpy(vec + c * ps * ps + ky * ps,
                               px + ((size_t)c * S + (size_t)(ps * py + ky)) * S + ps * pxi,
                               (size_t)ps * sizeof(float));
            }
        herd_status st;
        if ((st = be->iface->tensor_set(be, &v->inp_patches, v->unfold, 0,
                                        (size_t)G * G * K * sizeof(float), err)) ||
            (st = be->iface->graph_compute(be, v->graph, err)) ||
            (st = be->iface->tensor_get(be, &v->out_embd, out + (size_t)t * rows * D, 0,
                                        (size_t)rows * D * sizeof(float), err)))
            return st;
    }
    return HERD_OK;
}

herd_status herd_vision_encode_file(herd_vision *v, const char *path, int max_tiles, float **out,
                                    int *n_rows, int *grid_rows, int *grid_cols, herd_error *err)
{
    *out = NULL;
    *n_rows = 0;
    herd_image_limits lim;
    herd_image_limits_default(&lim);
    herd_preprocess_params pp;
    herd_preprocess_params_default(&pp);
    if (max_tiles > 0)
        pp.max_tiles = max_tiles;
    herd_image img = { 0 };
    herd_tiles tiles = { 0 };
    herd_status st = herd_image_load(path, &lim, &img, err);
    if (!st)
        st = herd_preprocess(&img, &pp, &tiles, err);
    if (!st) {
        size_t rows = (size_t)tiles.n_tiles * (size_t)v->info.tokens_per_tile;
        *out = malloc(rows * (size_t)v->info.n_proj * sizeof(float));
        if (!*out)
            st = herd_error_set(err, HERD_ERR_NOMEM, "out of memory for the image embeddings");
        else
            st = herd_vision_encode(v, &tiles, *out, err);
        if (!st) {
            *n_rows = (int)rows;
            *grid_rows = tiles.rows;
            *grid_cols = tiles.cols;
        } else {
            free(*out);
            *out = NULL;
        }
    }
    herd_tiles_free(&tiles);
    herd_image_free(&img);
    return st;
}
