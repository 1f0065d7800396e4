/* vk-ops.c: per-node encoding: checks the node's shapes and types, picks the shader variant and
 * fills its push block and workgroup grid. Nothing is recorded here (see vk-backend.c). */
#include "vk-internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define FAIL(err, ...) herd_error_set((err), HERD_ERR_UNSUPPORTED, __VA_ARGS__)

herd_status herd_vk_tensor_addr(herd_vk *vk, const herd_tensor *t, VkDeviceAddress *addr,
                                herd_buffer **buf, size_t *offs, herd_error *err)
{
    size_t o;
    const herd_tensor *b = herd_tensor_base(t, &o);
    herd_buffer *hb;
    if (b->kind == HERD_TENSOR_INTERMEDIATE) {
        if (b->node < 0 || !vk->arena)
            return herd_error_set(err, HERD_ERR_INVALID,
                                  "Vulkan: intermediate %s has no producer or no planned memory",
                                  b->name);
        hb = vk->arena;
    } else {
        if (!b->buf)
            return herd_error_set(
                err, HERD_ERR_INVALID, "Vulkan: %s %s is not in device memory (bind or upload it)",
                b->kind == HERD_TENSOR_WEIGHT ? "weight" : "state tensor", b->name);
        hb = b->buf;
    }
    o += b->offs;
    if (addr)
        *addr = hb->addr + o;
    if (buf)
        *buf = hb;
    if (offs)
        *offs = o;
    return HERD_OK;
}

static const char *wtype_name(herd_type t)
{
    switch (t) {
    case HERD_TYPE_F32:
        return "f32";
    case HERD_TYPE_F16:
        return "f16";
    case HERD_TYPE_BF16:
        return "bf16";
    case HERD_TYPE_Q8_0:
        return "q8_0";
    case HERD_TYPE_Q4_0:
        return "q4_0";
    case HERD_TYPE_Q4_K:
        return "q4_k";
    case HERD_TYPE_Q5_K:
        return "q5_k";
    case HERD_TYPE_Q6_K:
        return "q6_k";
    default:
        return NULL;
    }
}

static herd_status set_pipe(herd_vk_rec *rec, const char *name, herd_error *err)
{
    rec->pipe = herd_vk_shader_find(name);
    if (rec->pipe < 0)
        return herd_error_set(err, HERD_ERR_UNSUPPORTED, "Vulkan: no shader variant %s", name);
    return HERD_OK;
}

static herd_status set_grid(herd_vk *vk, herd_vk_rec *rec, uint64_t groups, herd_error *err)
{
    uint64_t mx = vk->props.limits.maxComputeWorkGroupCount[0];
    uint64_t my = vk->props.limits.maxComputeWorkGroupCount[1];
    if (groups == 0)
        groups = 1; /* shaders bound-check; an empty op still runs harmlessly */
    uint64_t gx = groups < mx ? groups : mx;
    uint64_t gy = (groups + gx - 1) / gx;
    if (gy > my)
        return herd_error_set(err, HERD_ERR_LIMIT,
                              "Vulkan: %llu workgroups exceed the device "
                              "limit",
                              (unsigned long long)groups);
    rec->gx = (uint32_t)gx;
    rec->gy = (uint32_t)gy;
    return HERD_OK;
}

#define ADDR(t, dst)                                                          \
    do {                                                                      \
        VkDeviceAddress a_;                                                   \
        herd_status st_ = herd_vk_tensor_addr(vk, (t), &a_, NULL, NULL, err); \
        if (st_)                                                              \
            return st_;                                                       \
        (dst) = a_;                                                           \
    } while (0)

#define PUSH(rec, p)                          \
    do {                                      \
        memcpy((rec)->push, &(p), sizeof(p)); \
        (rec)->push_size = sizeof(p);         \
    } while (0)

static bool is_f32(const herd_tensor *t)
{
    return t && t->type == HERD_TYPE_F32;
}

static bool is_i32(const herd_tensor *t)
{
    return t && t->type == HERD_TYPE_I32;
}

static bool contig(const herd_tensor *t)
{
    return herd_tensor_is_contiguous(t);
}

static bool fits32(const herd_tensor *t)
{
    for (int i = 0; i < HERD_MAX_DIMS; i++)
        if (t->nb[i] > UINT32_MAX || t->ne[i] > INT32_MAX)
            return false;
    return true;
}

static uint32_t elem_size(const herd_tensor *t)
{
    const herd_type_info *ti = herd_type_get(t->type);
    return ti ? ti->bytes : 0;
}

const char *herd_vk_act_kind(herd_vk *vk, const herd_node *n, size_t *bytes)
{
    if ((n->op != HERD_OP_MUL_MAT && n->op != HERD_OP_MUL_MAT_ID) || vk->f32_act || !n->src[0] ||
        !n->src[1])
        return NULL;
    *bytes = (size_t)herd_tensor_nelements(n->src[1]) * sizeof(float);
    switch (n->src[0]->type) {
    case HERD_TYPE_F16:
        return "f16";
    case HERD_TYPE_BF16:
        return "bf16";
    case HERD_TYPE_Q8_0:
    case HERD_TYPE_Q4_0:
        return "q8_0";
    case HERD_TYPE_Q4_K:
    case HERD_TYPE_Q5_K:
    case HERD_TYPE_Q6_K:
        return "q8_k";
    default:
        return NULL;
    }
}

herd_status herd_vk_encode_quant_act(herd_vk *vk, const herd_node *n, VkDeviceAddress dst,
                                     herd_vk_rec *rec, herd_error *err)
{
    memset(rec, 0, sizeof *rec);
    rec->op = n->op;
    rec->aux = 1;
    size_t bytes;
    const char *kind = herd_vk_act_kind(vk, n, &bytes);
    const herd_tensor *x = n->src[1];
    if (!kind || !is_f32(x) || x->nb[0] != 4 || !fits32(x))
        return FAIL(err, "Vulkan: %s: activations must be F32 with contiguous rows",
                    herd_op_name(n->op));
    herd_vk_push_quant_act p = { 0 };
    ADDR(x, p.x);
    p.d = dst;
    p.K = (uint32_t)x->ne[0];
    p.ne1 = (uint32_t)x->ne[1];
    p.ne2 = (uint32_t)x->ne[2];
    p.rows = (uint32_t)(x->ne[1] * x->ne[2] * x->ne[3]);
    p.x_nb1 = (uint32_t)x->nb[1];
    p.x_nb2 = (uint32_t)x->nb[2];
    p.x_nb3 = (uint32_t)x->nb[3];
    bool blocked = !strcmp(kind, "q8_0") || !strcmp(kind, "q8_k");
    uint32_t bs = !strcmp(kind, "q8_0") ? 32 : 256;
    if (blocked && p.K % bs)
        return herd_error_set(err, HERD_ERR_INVALID, "Vulkan: K %u is not a multiple of %u", p.K,
                              bs);
    uint64_t groups =
        blocked ? (uint64_t)(p.K / bs) * p.rows : ((uint64_t)p.K * p.rows + 255) / 256;
    char name[64];
    snprintf(name, sizeof name, "quant_act_%s", kind);
    herd_status st = set_pipe(rec, name, err);
    if (!st)
        st = set_grid(vk, rec, groups, err);
    PUSH(rec, p);
    return st;
}

static herd_status enc_mul_mat(herd_vk *vk, const herd_node *n, VkDeviceAddress xq,
                               herd_vk_rec *rec, herd_error *err)
{
    const herd_tensor *w = n->src[0], *x = n->src[1], *o = n->out;
    bool id = n->op == HERD_OP_MUL_MAT_ID;
    const char *wn = w ? wtype_name(w->type) : NULL;
    const herd_type_info *ti = w ? herd_type_get(w->type) : NULL;
    if (!wn || !ti)
        return FAIL(err, "Vulkan: %s: weight type %s not supported", herd_op_name(n->op),
                    w ? herd_type_name(w->type) : "(none)");
    if (!is_f32(x) || x->nb[0] != 4 || !contig(o) || w->nb[0] != ti->bytes || !fits32(w) ||
        !fits32(x))
        return FAIL(err, "Vulkan: %s: x must be F32 with contiguous rows, W rows contiguous",
                    herd_op_name(n->op));
    if (w->ne[0] != x->ne[0] || w->ne[0] % ti->blck)
        return herd_error_set(err, HERD_ERR_INVALID, "Vulkan: %s: K mismatch (%lld vs %lld)",
                              herd_op_name(n->op), (long long)w->ne[0], (long long)x->ne[0]);
    herd_vk_push_mat p = { 0 };
    ADDR(w, p.w);
    if ((w->type == HERD_TYPE_Q4_K || w->type == HERD_TYPE_Q5_K) &&
        ((p.w | w->nb[1] | w->nb[2]) & 15))
        return FAIL(err, "Vulkan: %s: %s weights must be 16-byte aligned", herd_op_name(n->op),
                    herd_type_name(w->type));
    ADDR(x, p.x);
    ADDR(o, p.d);
    p.K = (uint32_t)w->ne[0];
    p.N = (uint32_t)w->ne[1];
    p.M = (uint32_t)x->ne[1];
    p.w_nb1 = (uint32_t)w->nb[1];
    p.w_nb2 = (uint32_t)w->nb[2];
    p.w_nb3 = (uint32_t)w->nb[3];
    p.x_nb1 = (uint32_t)x->nb[1];
    p.x_nb2 = (uint32_t)x->nb[2];
    p.x_nb3 = (uint32_t)x->nb[3];
    if (xq) { /* the rounded, contiguous copy */
        p.x = xq;
        p.x_nb1 = 4 * p.K;
        p.x_nb2 = p.x_nb1 * p.M;
        p.x_nb3 = p.x_nb2 * (uint32_t)x->ne[2];
    }
    p.d_nb1 = (uint32_t)o->nb[1];
    p.d_nb2 = (uint32_t)o->nb[2];
    p.d_nb3 = (uint32_t)o->nb[3];
    p.ne2 = (uint32_t)x->ne[2];
    p.ne3 = (uint32_t)x->ne[3];
    p.r2 = p.r3 = 1;
    const char *ld = vk->use_8bit ? "b8" : "w32";
    char name[64];
    uint64_t groups;
    if (id) {
        const herd_tensor *ids = n->src[2];
        if (!is_i32(ids) || !contig(ids) || ids->ne[0] != x->ne[1] || x->ne[2] != 1 ||
            x->ne[3] != 1)
            return FAIL(err, "Vulkan: MUL_MAT_ID: ids must be I32[M], x [K, M]");
        ADDR(ids, p.ids);
        p.ne2 = p.ne3 = 1;
        if (p.M >= 8) { /* tokens grouped by expert, each expert's rows read once per tile */
            p.r2 = (uint32_t)w->ne[2];
            snprintf(name, sizeof name, "mul_mm_id_%s_%s", wn, ld);
            groups = (uint64_t)((p.N + 31) / 32) * p.r2;
        } else {
            snprintf(name, sizeof name, "mul_mv_id_%s_%s_%s", wn, ld,
                     vk->use_subgroup ? "sg" : "sh");
            groups = (uint64_t)p.N * p.M;
        }
    } else {
        if (x->ne[2] % w->ne[2] || x->ne[3] % w->ne[3])
            return herd_error_set(err, HERD_ERR_INVALID,
                                  "Vulkan: MUL_MAT: W batch does not "
                                  "divide x batch");
        p.r2 = (uint32_t)(x->ne[2] / w->ne[2]);
        p.r3 = (uint32_t)(x->ne[3] / w->ne[3]);
        if (p.M >= 8) {
            snprintf(name, sizeof name, "mul_mm_%s_%s", wn, ld);
            groups = (uint64_t)((p.N + 31) / 32) * ((p.M + 31) / 32) * p.ne2 * p.ne3;
        } else {
            snprintf(name, sizeof name, "mul_mv_%s_%s_%s", wn, ld, vk->use_subgroup ? "sg" : "sh");
            groups = (uint64_t)p.N * p.M * p.ne2 * p.ne3;
        }
    }
    herd_status st = set_pipe(rec, name, err);
    if (!st)
        st = set_grid(vk, rec, groups, err);
    PUSH(rec, p);
    return st;
}

static herd_status enc_get_rows(herd_vk *vk, const herd_node *n, herd_vk_rec *rec, herd_error *err)
{
    const herd_tensor *t = n->src[0], *ids = n->src[1], *o = n->out;
    const char *wn = t ? wtype_name(t->type) : NULL;
    const herd_type_info *ti = t ? herd_type_get(t->type) : NULL;
    if (!wn || !ti)
        return FAIL(err, "Vulkan: GET_ROWS: table type %s not supported",
                    t ? herd_type_name(t->type) : "(none)");
    if (!is_i32(ids) || !contig(ids) || t->nb[0] != ti->bytes || t->ne[0] % ti->blck ||
        !contig(o) || !fits32(t))
        return FAIL(err, "Vulkan: GET_ROWS: bad table/ids layout");
    herd_vk_push_get_rows p = { 0 };
    ADDR(t, p.t);
    if ((t->type == HERD_TYPE_Q4_K || t->type == HERD_TYPE_Q5_K) && ((p.t | t->nb[1]) & 15))
        return FAIL(err, "Vulkan: GET_ROWS: %s table must be 16-byte aligned",
                    herd_type_name(t->type));
    ADDR(ids, p.ids);
    ADDR(o, p.d);
    p.D = (uint32_t)t->ne[0];
    p.n = (uint32_t)ids->ne[0];
    p.t_nb1 = (uint32_t)t->nb[1];
    p.d_nb1 = (uint32_t)o->nb[1];
    char name[64];
    snprintf(name, sizeof name, "get_rows_%s_%s", wn, vk->use_8bit ? "b8" : "w32");
    herd_status st = set_pipe(rec, name, err);
    if (!st)
        st = set_grid(vk, rec, ((uint64_t)(p.D + 15) / 16 * p.n + 63) / 64, err);
    PUSH(rec, p);
    return st;
}

static herd_status enc_rows(herd_vk *vk, const herd_node *n, herd_vk_rec *rec, herd_error *err)
{
    const herd_tensor *x = n->src[0], *w = n->src[1], *b = n->src[2], *o = n->out;
    if (!is_f32(x) || !contig(x) || !contig(o))
        return FAIL(err, "Vulkan: %s: x must be contiguous F32", herd_op_name(n->op));
    herd_vk_push_rows p = { 0 };
    ADDR(x, p.x);
    ADDR(o, p.d);
    p.ne0 = (uint32_t)x->ne[0];
    p.nrows = (uint32_t)(herd_tensor_nelements(x) / x->ne[0]);
    p.f0 = n->fp[0];
    const char *name = NULL;
    switch (n->op) {
    case HERD_OP_RMS_NORM:
        name = "rows_rms_norm";
        break;
    case HERD_OP_LAYER_NORM:
        name = "rows_layer_norm";
        break;
    case HERD_OP_SOFTMAX:
        name = "rows_softmax";
        break;
    case HERD_OP_ARGMAX:
        name = "rows_argmax";
        break;
    default:
        break;
    }
    if (n->op == HERD_OP_RMS_NORM || n->op == HERD_OP_LAYER_NORM) {
        if (w) {
            if (!is_f32(w) || !contig(w) || w->ne[0] != x->ne[0])
                return FAIL(err, "Vulkan: %s: weight must be F32[ne0]", herd_op_name(n->op));
            ADDR(w, p.w);
            p.has_w = 1;
        }
        if (b && n->op == HERD_OP_LAYER_NORM) {
            if (!is_f32(b) || !contig(b) || b->ne[0] != x->ne[0])
                return FAIL(err, "Vulkan: LAYER_NORM: bias must be F32[ne0]");
            ADDR(b, p.b);
            p.has_b = 1;
        }
    }
    herd_status st = set_pipe(rec, name, err);
    if (!st)
        st = set_grid(vk, rec, p.nrows, err);
    PUSH(rec, p);
    return st;
}

/* device address of freq[j] = powf(theta, -2j/n) for j < count, made once per (theta, n) */
static herd_status rope_table(herd_vk *vk, float theta, int n, int count, int mode, uint64_t *addr,
                              herd_error *err)
{
    for (int i = 0; i < vk->n_rope_tabs; i++) {
        const struct herd_vk_rope_tab *r = &vk->rope_tabs[i];
        if (r->theta == theta && r->n == n && r->mode == mode) {
            *addr = vk->consts->addr + r->offs;
            return HERD_OK;
        }
    }
    size_t bytes = (size_t)count * sizeof(float);
    const size_t cap = 64 * 1024;
    if (!vk->consts) {
        herd_status st = herd_vk_buffer_new(vk, cap, false, &vk->consts, err);
        if (st)
            return st;
    }
    if (vk->n_rope_tabs == (int)(sizeof vk->rope_tabs / sizeof vk->rope_tabs[0]) ||
        vk->consts_used + bytes > cap)
        return herd_error_set(err, HERD_ERR_LIMIT, "Vulkan: too many distinct RoPE tables");
    float tab[512];
    if (count > 512)
        return herd_error_set(err, HERD_ERR_LIMIT, "Vulkan: RoPE with %d pairs", count);
    for (int j = 0; j < count; j++)
        tab[j] = powf(theta, -2.0f * (float)j / (float)n);
    herd_status st = herd_vk_copy(vk, vk->consts, vk->consts_used, tab, bytes, true, err);
    if (st)
        return st;
    struct herd_vk_rope_tab *r = &vk->rope_tabs[vk->n_rope_tabs++];
    r->theta = theta;
    r->n = n;
    r->mode = mode;
    r->offs = vk->consts_used;
    vk->consts_used += (bytes + 255) & ~(size_t)255;
    *addr = vk->consts->addr + r->offs;
    return HERD_OK;
}

static herd_status enc_rope(herd_vk *vk, const herd_node *n, herd_vk_rec *rec, herd_error *err)
{
    const herd_tensor *x = n->src[0], *pos = n->src[1], *ff = n->src[2], *o = n->out;
    bool two = n->op == HERD_OP_ROPE_2D;
    if (!is_f32(x) || !contig(x) || !contig(o) || x->ne[3] != 1 || x->ne[0] % 2 || !is_i32(pos) ||
        !contig(pos))
        return FAIL(err, "Vulkan: %s: x must be contiguous F32[hd, H, T], pos I32",
                    herd_op_name(n->op));
    herd_vk_push_rope p = { 0 };
    ADDR(x, p.x);
    ADDR(pos, p.pos);
    ADDR(o, p.d);
    p.hd = (uint32_t)x->ne[0];
    p.H = (uint32_t)x->ne[1];
    p.T = (uint32_t)x->ne[2];
    herd_status st;
    if (two) {
        if (p.hd % 4 || herd_tensor_nelements(pos) != 2 * (int64_t)p.T)
            return FAIL(err, "Vulkan: ROPE_2D: hd %% 4 and pos I32[2, T] needed");
        st = rope_table(vk, n->fp[0], (int)p.hd / 2, (int)p.hd / 4, 2, &p.freq, err);
    } else {
        if (n->ip[0] <= 0 || n->ip[0] > (int)p.hd || n->ip[0] % 2 ||
            herd_tensor_nelements(pos) != (int64_t)p.T)
            return FAIL(err, "Vulkan: ROPE: bad n_dims %d or pos", n->ip[0]);
        p.n_dims = (uint32_t)n->ip[0];
        if (ff) {
            if (!is_f32(ff) || herd_tensor_nelements(ff) < p.n_dims / 2)
                return FAIL(err, "Vulkan: ROPE: freq factors must be F32[n_dims/2]");
            ADDR(ff, p.ff);
            p.has_ff = 1;
        }
        st = rope_table(vk, n->fp[0], (int)p.n_dims, (int)p.n_dims / 2, 1, &p.freq, err);
    }
    if (!st)
        st = set_pipe(rec, two ? "rope_2d" : "rope_1d", err);
    if (!st)
        st = set_grid(vk, rec, ((uint64_t)p.hd / 2 * p.H * p.T + 255) / 256, err);
    PUSH(rec, p);
    return st;
}

uint32_t herd_vk_attn_splits(const herd_node *n, size_t *bytes)
{
    *bytes = 0;
    if (n->op != HERD_OP_ATTENTION || !n->src[0] || !n->src[1])
        return 1;
    const herd_tensor *q = n->src[0];
    int64_t rows = q->ne[1] * q->ne[2]; /* (head, query) pairs = workgroups without splitting */
    int64_t keys = n->ip[0] == 0 ? n->ip[2] : n->ip[3]; /* most keys a query can see */
    if (n->ip[0] == 2 && n->ip[1] > 0 && n->ip[1] < keys)
        keys = n->ip[1];
    if (rows > 256 || keys <= 512)
        return 1;
    int64_t s = (keys + 255) / 256;
    if (s > 32)
        s = 32;
    *bytes = (size_t)(rows * s * (q->ne[0] + 2)) * sizeof(float);
    return (uint32_t)s;
}

herd_status herd_vk_encode_attn_combine(herd_vk *vk, const herd_vk_rec *rec_main, herd_vk_rec *rec,
                                        herd_error *err)
{
    herd_vk_push_attn p;
    memcpy(&p, rec_main->push, sizeof p);
    memset(rec, 0, sizeof *rec);
    rec->op = rec_main->op;
    rec->aux = 1;
    herd_status st = set_pipe(rec, "attention_combine", err);
    if (!st)
        st = set_grid(vk, rec, (uint64_t)p.Hq * p.T, err);
    PUSH(rec, p);
    return st;
}

static herd_status enc_attention(herd_vk *vk, const herd_node *n, herd_vk_rec *rec, herd_error *err)
{
    const herd_tensor *q = n->src[0], *k = n->src[1], *v = n->src[2], *qp = n->src[3];
    const herd_tensor *o = n->out;
    if (!is_f32(q) || !contig(q) || !contig(o) || q->ne[3] != 1 || !k || !v)
        return FAIL(err, "Vulkan: ATTENTION: q must be contiguous F32[hd, Hq, T]");
    if (k->type != v->type || (k->type != HERD_TYPE_F32 && k->type != HERD_TYPE_F16))
        return FAIL(err, "Vulkan: ATTENTION: K and V must both be F32 or both F16");
    uint32_t es = elem_size(k);
    if (k->nb[0] != es || v->nb[0] != es || k->ne[0] != q->ne[0] || v->ne[0] != q->ne[0] ||
        k->ne[1] != v->ne[1] || q->ne[1] % k->ne[1] || q->ne[0] > 256 || !fits32(k) || !fits32(v))
        return FAIL(err, "Vulkan: ATTENTION: K/V layout (hd %lld, Hkv %lld) unsupported",
                    (long long)k->ne[0], (long long)k->ne[1]);
    int mask = n->ip[0];
    if (mask < 0 || mask > 2 || n->ip[3] <= 0 || (mask == 2 && n->ip[1] <= 0))
        return herd_error_set(err, HERD_ERR_INVALID, "Vulkan: ATTENTION: bad mask parameters");
    if ((mask != 0 || n->ip[4] > 0) && (!is_i32(qp) || qp->ne[0] != q->ne[2]))
        return herd_error_set(err, HERD_ERR_INVALID, "Vulkan: ATTENTION: qpos I32[T] needed");
    herd_vk_push_attn p = { 0 };
    ADDR(q, p.q);
    ADDR(k, p.k);
    ADDR(v, p.v);
    ADDR(o, p.d);
    if (qp)
        ADDR(qp, p.qpos);
    if (es == 2 && ((p.k | p.v | k->nb[1] | k->nb[2] | v->nb[1] | v->nb[2]) & 1))
        return FAIL(err, "Vulkan: ATTENTION: F16 K/V must be 2-byte aligned");
    p.hd = (uint32_t)q->ne[0];
    p.Hq = (uint32_t)q->ne[1];
    p.Hkv = (uint32_t)k->ne[1];
    p.T = (uint32_t)q->ne[2];
    p.k_nb1 = (uint32_t)k->nb[1];
    p.k_nb2 = (uint32_t)k->nb[2];
    p.v_nb1 = (uint32_t)v->nb[1];
    p.v_nb2 = (uint32_t)v->nb[2];
    p.mask = mask;
    p.chunk = n->ip[1];
    p.n_kv = mask == 0 ? n->ip[2] : 0;
    p.ring = n->ip[3];
    p.temp_floor = n->ip[4];
    p.scale = n->fp[0];
    p.temp_scale = n->fp[1];
    if (mask == 0 && (p.n_kv < 0 || p.n_kv > k->ne[2]))
        return herd_error_set(err, HERD_ERR_INVALID, "Vulkan: ATTENTION: n_kv %d out of range",
                              p.n_kv);
    size_t part_bytes;
    p.nsplit = herd_vk_attn_splits(n, &part_bytes);
    p.k16 = ((p.k | k->nb[1] | k->nb[2]) & 15) == 0 && p.hd % 8 == 0;
    if (p.nsplit > 1) {
        if (!vk->attn_part || vk->attn_part->size < part_bytes)
            return herd_error_set(err, HERD_ERR_INVALID, "Vulkan: ATTENTION: no partials buffer");
        p.part = vk->attn_part->addr;
    }
    herd_status st = set_pipe(rec, es == 2 ? "attention_f16" : "attention_f32", err);
    if (!st)
        st = set_grid(vk, rec, (uint64_t)p.Hq * p.T * p.nsplit, err);
    PUSH(rec, p);
    return st;
}

static herd_status enc_scatter(herd_vk *vk, const herd_node *n, herd_vk_rec *rec, herd_error *err)
{
    herd_vk_push_scatter p = { 0 };
    uint64_t threads;
    const char *name;
    if (n->op == HERD_OP_KV_STORE) {
        const herd_tensor *s = n->src[0], *c = n->src[1], *pos = n->src[2];
        if (!is_f32(s) || !contig(s) || !c || !is_i32(pos) || pos->ne[0] != s->ne[2] ||
            (c->type != HERD_TYPE_F32 && c->type != HERD_TYPE_F16) || c->nb[0] != elem_size(c) ||
            c->ne[0] != s->ne[0] || c->ne[1] != s->ne[1] || !fits32(c) || n->ip[0] <= 0)
            return FAIL(err, "Vulkan: KV_STORE: src F32[hd, H, T] into an F32/F16 cache");
        ADDR(s, p.src);
        ADDR(c, p.dst);
        ADDR(pos, p.idx);
        bool h = c->type == HERD_TYPE_F16;
        if (h && ((p.dst | c->nb[1] | c->nb[2]) & 3 || s->ne[0] % 2))
            return FAIL(err, "Vulkan: KV_STORE: F16 cache rows must be 4-byte aligned");
        p.ne0 = (uint32_t)s->ne[0];
        p.ne1 = (uint32_t)s->ne[1];
        p.ne2 = (uint32_t)s->ne[2];
        p.d_nb1 = (uint32_t)c->nb[1];
        p.d_nb2 = (uint32_t)c->nb[2];
        p.ring = (uint32_t)n->ip[0];
        threads = (uint64_t)(h ? p.ne0 / 2 : p.ne0) * p.ne1 * p.ne2;
        name = h ? "kv_store_f16" : "kv_store_f32";
    } else {
        const herd_tensor *d = n->src[0], *r = n->src[1], *idx = n->src[2];
        if (!is_f32(d) || d->nb[0] != 4 || !is_f32(r) || !contig(r) || !is_i32(idx) ||
            r->ne[0] != d->ne[0] || idx->ne[0] != r->ne[1] || !fits32(d))
            return FAIL(err, "Vulkan: SET_ROWS: dst F32[D, n], rows F32[D, m], idx I32[m]");
        ADDR(r, p.src);
        ADDR(d, p.dst);
        ADDR(idx, p.idx);
        p.ne0 = (uint32_t)r->ne[0];
        p.ne1 = (uint32_t)r->ne[1];
        p.d_nb1 = (uint32_t)d->nb[1];
        threads = (uint64_t)p.ne0 * p.ne1;
        name = "set_rows";
    }
    herd_status st = set_pipe(rec, name, err);
    if (!st)
        st = set_grid(vk, rec, (threads + 255) / 256, err);
    PUSH(rec, p);
    return st;
}

static void shape_of(const herd_tensor *t, uint32_t ne[4], uint32_t nb[4])
{
    for (int i = 0; i < 4; i++) {
        ne[i] = (uint32_t)t->ne[i];
        nb[i] = (uint32_t)t->nb[i];
    }
}

static herd_status enc_ew(herd_vk *vk, const herd_node *n, herd_vk_rec *rec, herd_error *err)
{
    const herd_tensor *a = n->src[0], *b = n->src[1], *o = n->out;
    herd_vk_push_ew p = { 0 };
    char name[64];
    if (!a || !contig(o) || !fits32(a) || (b && !fits32(b)))
        return FAIL(err, "Vulkan: %s: bad operands", herd_op_name(n->op));
    ADDR(a, p.a);
    ADDR(o, p.d);
    shape_of(a, p.ane, p.anb);
    p.n = (uint32_t)herd_tensor_nelements(a);
    p.f0 = n->fp[0];
    uint64_t threads = p.n;
    switch (n->op) {
    case HERD_OP_ADD:
    case HERD_OP_MUL:
    case HERD_OP_SWIGLU:
        if (!is_f32(a) || !is_f32(b))
            return FAIL(err, "Vulkan: %s: F32 operands needed", herd_op_name(n->op));
        for (int i = 0; i < 4; i++)
            if (b->ne[i] != a->ne[i] && (n->op == HERD_OP_SWIGLU || b->ne[i] != 1))
                return herd_error_set(err, HERD_ERR_INVALID,
                                      "Vulkan: %s: b's shape does not "
                                      "broadcast to a's",
                                      herd_op_name(n->op));
        ADDR(b, p.b);
        shape_of(b, p.bne, p.bnb);
        snprintf(name, sizeof name, "ew_%s",
                 n->op == HERD_OP_ADD   ? "add"
                 : n->op == HERD_OP_MUL ? "mul"
                                        : "swiglu");
        break;
    case HERD_OP_SCALE:
    case HERD_OP_SILU:
    case HERD_OP_GELU:
    case HERD_OP_SIGMOID:
        if (!is_f32(a))
            return FAIL(err, "Vulkan: %s: F32 input needed", herd_op_name(n->op));
        snprintf(name, sizeof name, "ew_%s",
                 n->op == HERD_OP_SCALE  ? "scale"
                 : n->op == HERD_OP_SILU ? "silu"
                 : n->op == HERD_OP_GELU ? "gelu"
                                         : "sigmoid");
        break;
    case HERD_OP_SELECT_SIGMOID:
        if (!is_f32(a) || !is_i32(b) || b->ne[0] != a->ne[1])
            return FAIL(err, "Vulkan: SELECT_SIGMOID: logits F32[E, T], ids I32[T]");
        ADDR(b, p.b);
        p.n = (uint32_t)a->ne[1];
        threads = p.n;
        snprintf(name, sizeof name, "ew_select_sigmoid");
        break;
    case HERD_OP_CPY: {
        const char *sn = a->type == HERD_TYPE_F32    ? "f32"
                         : a->type == HERD_TYPE_F16  ? "f16"
                         : a->type == HERD_TYPE_BF16 ? "bf16"
                                                     : NULL;
        const char *dn = o->type == HERD_TYPE_F32    ? "f32"
                         : o->type == HERD_TYPE_F16  ? "f16"
                         : o->type == HERD_TYPE_BF16 ? "bf16"
                                                     : NULL;
        if (!sn || !dn || herd_tensor_nelements(o) != p.n)
            return FAIL(err, "Vulkan: CPY: %s -> %s not supported", herd_type_name(a->type),
                        herd_type_name(o->type));
        if (a->type != HERD_TYPE_F32 && ((p.a | p.anb[0] | p.anb[1] | p.anb[2] | p.anb[3]) & 1))
            return FAIL(err, "Vulkan: CPY: 16-bit source must be 2-byte aligned");
        snprintf(name, sizeof name, "ew_cpy_%s_%s", sn, dn);
        if (o->type != HERD_TYPE_F32) {
            if (p.d & 3)
                return FAIL(err, "Vulkan: CPY: 16-bit destination must be 4-byte aligned");
            threads = (p.n + 1) / 2;
        }
        break;
    }
    case HERD_OP_CONCAT: {
        int dim = n->ip[0];
        if (!is_f32(a) || !is_f32(b) || dim < 0 || dim > 3)
            return FAIL(err, "Vulkan: CONCAT: F32 operands needed");
        for (int i = 0; i < 4; i++)
            if (i != dim && a->ne[i] != b->ne[i])
                return herd_error_set(err, HERD_ERR_INVALID, "Vulkan: CONCAT: shapes differ");
        ADDR(b, p.b);
        uint32_t dummy[4];
        shape_of(b, dummy, p.bnb);
        shape_of(a, p.bne, dummy); /* a's extents (a.ne[dim] is the split point) */
        shape_of(o, p.ane, dummy); /* iterate over out's shape */
        p.n = (uint32_t)herd_tensor_nelements(o);
        threads = p.n;
        p.i0 = (uint32_t)dim;
        snprintf(name, sizeof name, "ew_concat");
        break;
    }
    default:
        return FAIL(err, "Vulkan: op %s not supported", herd_op_name(n->op));
    }
    herd_status st = set_pipe(rec, name, err);
    if (!st)
        st = set_grid(vk, rec, (threads + 255) / 256, err);
    PUSH(rec, p);
    return st;
}

herd_status herd_vk_encode(herd_vk *vk, const herd_node *n, VkDeviceAddress xq, herd_vk_rec *rec,
                           herd_error *err)
{
    memset(rec, 0, sizeof *rec);
    rec->op = n->op;
    switch (n->op) {
    case HERD_OP_MUL_MAT:
    case HERD_OP_MUL_MAT_ID:
        return enc_mul_mat(vk, n, xq, rec, err);
    case HERD_OP_GET_ROWS:
        return enc_get_rows(vk, n, rec, err);
    case HERD_OP_RMS_NORM:
    case HERD_OP_LAYER_NORM:
    case HERD_OP_SOFTMAX:
    case HERD_OP_ARGMAX:
        return enc_rows(vk, n, rec, err);
    case HERD_OP_ROPE:
    case HERD_OP_ROPE_2D:
        return enc_rope(vk, n, rec, err);
    case HERD_OP_ATTENTION:
        return enc_attention(vk, n, rec, err);
    case HERD_OP_KV_STORE:
    case HERD_OP_SET_ROWS:
        return enc_scatter(vk, n, rec, err);
    case HERD_OP_NONE:
    case HERD_OP_COUNT:
        return herd_error_set(err, HERD_ERR_INVALID, "Vulkan: node without an op");
    default:
        return enc_ew(vk, n, rec, err);
    }
}
