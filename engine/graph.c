/* graph.c: tensor helpers, graph builders and the intermediate-memory planner shared by all
 * backends. Building a graph allocates only small structs; memory for intermediates is one arena
 * per backend, laid out by herd_graph_plan() with reuse of dead tensors. */
#include "backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------------------------------------ */
/* tensors */

int64_t herd_tensor_nelements(const herd_tensor *t)
{
    return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
}

size_t herd_tensor_nbytes(const herd_tensor *t)
{
    const herd_type_info *ti = herd_type_get(t->type);
    if (!ti)
        return 0;
    /* extent of the last element + one row, works for views with strides */
    size_t n = herd_row_size(t->type, t->ne[0]);
    for (int i = 1; i < HERD_MAX_DIMS; i++)
        n += (size_t)(t->ne[i] - 1) * t->nb[i];
    return n;
}

bool herd_tensor_is_contiguous(const herd_tensor *t)
{
    const herd_type_info *ti = herd_type_get(t->type);
    if (!ti || t->nb[0] != ti->bytes)
        return false;
    size_t expect = herd_row_size(t->type, t->ne[0]);
    for (int i = 1; i < HERD_MAX_DIMS; i++) {
        if (t->ne[i] > 1 && t->nb[i] != expect)
            return false;
        expect *= (size_t)t->ne[i];
    }
    return true;
}

void herd_tensor_init(herd_tensor *t, herd_type type, int n_dims, const int64_t *ne)
{
    const herd_type_info *ti = herd_type_get(type);
    t->type = type;
    for (int i = 0; i < HERD_MAX_DIMS; i++)
        t->ne[i] = i < n_dims ? ne[i] : 1;
    t->nb[0] = ti ? ti->bytes : 0;
    t->nb[1] = herd_row_size(type, t->ne[0]);
    for (int i = 2; i < HERD_MAX_DIMS; i++)
        t->nb[i] = t->nb[i - 1] * (size_t)t->ne[i - 1];
    t->node = -1;
}

const herd_tensor *herd_tensor_base(const herd_tensor *t, size_t *offs)
{
    size_t o = 0;
    while (t->view_src) {
        o += t->view_offs;
        t = t->view_src;
    }
    if (offs)
        *offs = o;
    return t;
}

void *herd_tensor_host(const herd_tensor *t)
{
    size_t o;
    const herd_tensor *b = herd_tensor_base(t, &o);
    return b->data ? (char *)b->data + o : NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* graph */

herd_graph *herd_graph_new(int max_nodes)
{
    herd_graph *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->cap_nodes = max_nodes > 0 ? max_nodes : 1024;
    g->nodes = calloc((size_t)g->cap_nodes, sizeof *g->nodes);
    g->cap_tensors = g->cap_nodes * 2;
    g->tensors = calloc((size_t)g->cap_tensors, sizeof *g->tensors);
    if (!g->nodes || !g->tensors) {
        herd_graph_free(g);
        return NULL;
    }
    return g;
}

void herd_graph_free(herd_graph *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->n_tensors; i++)
        free(g->tensors[i]);
    free(g->tensors);
    free(g->nodes);
    free(g->last_use);
    free(g);
}

static herd_tensor *graph_new_struct(herd_graph *g)
{
    if (g->oom)
        return NULL;
    if (g->n_tensors == g->cap_tensors) {
        int cap = g->cap_tensors * 2;
        herd_tensor **nt = realloc(g->tensors, (size_t)cap * sizeof *nt);
        if (!nt) {
            g->oom = true;
            return NULL;
        }
        g->tensors = nt;
        g->cap_tensors = cap;
    }
    herd_tensor *t = calloc(1, sizeof *t);
    if (!t) {
        g->oom = true;
        return NULL;
    }
    t->node = -1;
    g->tensors[g->n_tensors++] = t;
    return t;
}

herd_tensor *herd_graph_tensor(herd_graph *g, herd_type type, int n_dims, const int64_t *ne)
{
    herd_tensor *t = graph_new_struct(g);
    if (t) {
        herd_tensor_init(t, type, n_dims, ne);
        t->kind = HERD_TENSOR_INTERMEDIATE;
    }
    return t;
}

herd_tensor *herd_view(herd_graph *g, herd_tensor *src, int n_dims, const int64_t *ne,
                       const size_t *nb, size_t offs)
{
    if (!src)
        return NULL;
    herd_tensor *t = graph_new_struct(g);
    if (!t)
        return NULL;
    herd_tensor_init(t, src->type, n_dims, ne);
    if (nb)
        for (int i = 1; i < HERD_MAX_DIMS; i++)
            t->nb[i] = i < n_dims ? nb[i] : t->nb[i - 1] * (size_t)t->ne[i - 1];
    t->kind = src->kind;
    t->view_src = src;
    t->view_offs = offs;
    snprintf(t->name, sizeof t->name, "%.40s(v)", src->name);
    return t;
}

herd_tensor *herd_reshape(herd_graph *g, herd_tensor *src, int n_dims, const int64_t *ne)
{
    if (!src)
        return NULL;
    int64_t n = 1;
    for (int i = 0; i < n_dims; i++)
        n *= ne[i];
    if (!herd_tensor_is_contiguous(src) || n != herd_tensor_nelements(src)) {
        g->oom = true; /* programming error: make the graph unusable rather than wrong */
        return NULL;
    }
    return herd_view(g, src, n_dims, ne, NULL, 0);
}

herd_tensor *herd_permute(herd_graph *g, herd_tensor *src, int p0, int p1, int p2, int p3)
{
    if (!src)
        return NULL;
    herd_tensor *t = herd_view(g, src, HERD_MAX_DIMS, src->ne, src->nb, 0);
    if (!t)
        return NULL;
    const int p[4] = { p0, p1, p2, p3 };
    for (int i = 0; i < HERD_MAX_DIMS; i++) {
        t->ne[p[i]] = src->ne[i];
        t->nb[p[i]] = src->nb[i];
    }
    return t;
}

static herd_tensor *add_node(herd_graph *g, herd_op op, herd_tensor *out, herd_tensor *a,
                             herd_tensor *b, herd_tensor *c, herd_tensor *d)
{
    if (!out || g->oom)
        return NULL;
    herd_tensor *srcs[HERD_MAX_SRC] = { a, b, c, d };
    if (g->n_nodes == g->cap_nodes) {
        int cap = g->cap_nodes * 2;
        herd_node *nn = realloc(g->nodes, (size_t)cap * sizeof *nn);
        if (!nn) {
            g->oom = true;
            return NULL;
        }
        g->nodes = nn;
        g->cap_nodes = cap;
    }
    herd_node *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    n->op = op;
    n->out = out;
    memcpy(n->src, srcs, sizeof srcs);
    out->node = g->n_nodes++;
    snprintf(out->name, sizeof out->name, "%s#%d", herd_op_name(op), out->node);
    return out;
}

static herd_tensor *new_like(herd_graph *g, herd_type type, const herd_tensor *like)
{
    if (!like)
        return NULL;
    return herd_graph_tensor(g, type, HERD_MAX_DIMS, like->ne);
}

static herd_tensor *new_2d(herd_graph *g, herd_type type, int64_t a, int64_t b)
{
    const int64_t ne[2] = { a, b };
    return herd_graph_tensor(g, type, 2, ne);
}

#define NODE(g) (&(g)->nodes[(g)->n_nodes - 1])

herd_tensor *herd_get_rows(herd_graph *g, herd_tensor *table, herd_tensor *ids)
{
    if (!table || !ids)
        return NULL;
    return add_node(g, HERD_OP_GET_ROWS, new_2d(g, HERD_TYPE_F32, table->ne[0], ids->ne[0]), table,
                    ids, NULL, NULL);
}

herd_tensor *herd_set_rows(herd_graph *g, herd_tensor *dst, herd_tensor *rows, herd_tensor *idx)
{
    if (!dst || !rows || !idx)
        return NULL;
    /* out is a view of dst: the op writes in place; later readers depend on this node */
    herd_tensor *out = herd_view(g, dst, HERD_MAX_DIMS, dst->ne, dst->nb, 0);
    return add_node(g, HERD_OP_SET_ROWS, out, dst, rows, idx, NULL);
}

herd_tensor *herd_mul_mat(herd_graph *g, herd_tensor *w, herd_tensor *x)
{
    if (!w || !x)
        return NULL;
    const int64_t ne[4] = { w->ne[1], x->ne[1], x->ne[2], x->ne[3] };
    return add_node(g, HERD_OP_MUL_MAT, herd_graph_tensor(g, HERD_TYPE_F32, 4, ne), w, x, NULL,
                    NULL);
}

herd_tensor *herd_mul_mat_id(herd_graph *g, herd_tensor *w, herd_tensor *x, herd_tensor *ids)
{
    if (!w || !x || !ids)
        return NULL;
    return add_node(g, HERD_OP_MUL_MAT_ID, new_2d(g, HERD_TYPE_F32, w->ne[1], x->ne[1]), w, x, ids,
                    NULL);
}

herd_tensor *herd_rms_norm(herd_graph *g, herd_tensor *x, herd_tensor *w, float eps)
{
    herd_tensor *out =
        add_node(g, HERD_OP_RMS_NORM, new_like(g, HERD_TYPE_F32, x), x, w, NULL, NULL);
    if (out)
        NODE(g)->fp[0] = eps;
    return out;
}

herd_tensor *herd_layer_norm(herd_graph *g, herd_tensor *x, herd_tensor *w, herd_tensor *b,
                             float eps)
{
    herd_tensor *out =
        add_node(g, HERD_OP_LAYER_NORM, new_like(g, HERD_TYPE_F32, x), x, w, b, NULL);
    if (out)
        NODE(g)->fp[0] = eps;
    return out;
}

herd_tensor *herd_rope(herd_graph *g, herd_tensor *x, herd_tensor *pos, herd_tensor *freq_factors,
                       int n_dims, float theta)
{
    herd_tensor *out =
        add_node(g, HERD_OP_ROPE, new_like(g, HERD_TYPE_F32, x), x, pos, freq_factors, NULL);
    if (out) {
        NODE(g)->ip[0] = n_dims;
        NODE(g)->fp[0] = theta;
    }
    return out;
}

herd_tensor *herd_rope_2d(herd_graph *g, herd_tensor *x, herd_tensor *pos2, float theta)
{
    herd_tensor *out =
        add_node(g, HERD_OP_ROPE_2D, new_like(g, HERD_TYPE_F32, x), x, pos2, NULL, NULL);
    if (out)
        NODE(g)->fp[0] = theta;
    return out;
}

herd_tensor *herd_attention(herd_graph *g, herd_tensor *q, herd_tensor *k, herd_tensor *v,
                            herd_tensor *qpos, const herd_attn_params *p)
{
    herd_tensor *out = add_node(g, HERD_OP_ATTENTION, new_like(g, HERD_TYPE_F32, q), q, k, v, qpos);
    if (out) {
        herd_node *n = NODE(g);
        n->ip[0] = p->mask;
        n->ip[1] = p->chunk;
        n->ip[2] = p->n_kv;
        n->ip[3] = p->ring > 0 ? p->ring : (int32_t)k->ne[2];
        n->ip[4] = p->temp_floor;
        n->fp[0] = p->scale;
        n->fp[1] = p->temp_scale;
    }
    return out;
}

herd_tensor *herd_kv_store(herd_graph *g, herd_tensor *src, herd_tensor *cache, herd_tensor *pos,
                           int ring)
{
    if (!cache)
        return NULL;
    herd_tensor *out = herd_view(g, cache, HERD_MAX_DIMS, cache->ne, cache->nb, 0);
    out = add_node(g, HERD_OP_KV_STORE, out, src, cache, pos, NULL);
    if (out)
        NODE(g)->ip[0] = ring > 0 ? ring : (int32_t)cache->ne[2];
    return out;
}

herd_tensor *herd_softmax(herd_graph *g, herd_tensor *x, float scale)
{
    herd_tensor *out =
        add_node(g, HERD_OP_SOFTMAX, new_like(g, HERD_TYPE_F32, x), x, NULL, NULL, NULL);
    if (out)
        NODE(g)->fp[0] = scale;
    return out;
}

herd_tensor *herd_add(herd_graph *g, herd_tensor *a, herd_tensor *b)
{
    return add_node(g, HERD_OP_ADD, new_like(g, HERD_TYPE_F32, a), a, b, NULL, NULL);
}

herd_tensor *herd_mul(herd_graph *g, herd_tensor *a, herd_tensor *b)
{
    return add_node(g, HERD_OP_MUL, new_like(g, HERD_TYPE_F32, a), a, b, NULL, NULL);
}

herd_tensor *herd_scale(herd_graph *g, herd_tensor *x, float s)
{
    herd_tensor *out =
        add_node(g, HERD_OP_SCALE, new_like(g, HERD_TYPE_F32, x), x, NULL, NULL, NULL);
    if (out)
        NODE(g)->fp[0] = s;
    return out;
}

herd_tensor *herd_silu(herd_graph *g, herd_tensor *x)
{
    return add_node(g, HERD_OP_SILU, new_like(g, HERD_TYPE_F32, x), x, NULL, NULL, NULL);
}

herd_tensor *herd_gelu(herd_graph *g, herd_tensor *x)
{
    return add_node(g, HERD_OP_GELU, new_like(g, HERD_TYPE_F32, x), x, NULL, NULL, NULL);
}

herd_tensor *herd_sigmoid(herd_graph *g, herd_tensor *x)
{
    return add_node(g, HERD_OP_SIGMOID, new_like(g, HERD_TYPE_F32, x), x, NULL, NULL, NULL);
}

herd_tensor *herd_swiglu(herd_graph *g, herd_tensor *a, herd_tensor *b)
{
    return add_node(g, HERD_OP_SWIGLU, new_like(g, HERD_TYPE_F32, a), a, b, NULL, NULL);
}

herd_tensor *herd_argmax(herd_graph *g, herd_tensor *logits)
{
    if (!logits)
        return NULL;
    const int64_t ne[1] = { logits->ne[1] };
    return add_node(g, HERD_OP_ARGMAX, herd_graph_tensor(g, HERD_TYPE_I32, 1, ne), logits, NULL,
                    NULL, NULL);
}

herd_tensor *herd_select_sigmoid(herd_graph *g, herd_tensor *logits, herd_tensor *ids)
{
    if (!logits)
        return NULL;
    return add_node(g, HERD_OP_SELECT_SIGMOID, new_2d(g, HERD_TYPE_F32, 1, logits->ne[1]), logits,
                    ids, NULL, NULL);
}

herd_tensor *herd_cpy(herd_graph *g, herd_tensor *src, herd_type type)
{
    return add_node(g, HERD_OP_CPY, new_like(g, type, src), src, NULL, NULL, NULL);
}

herd_tensor *herd_cpy_to(herd_graph *g, herd_tensor *src, herd_tensor *dst)
{
    if (!src || !dst)
        return NULL;
    herd_tensor *out = herd_view(g, dst, HERD_MAX_DIMS, dst->ne, dst->nb, 0);
    return add_node(g, HERD_OP_CPY, out, src, NULL, NULL, NULL);
}

herd_tensor *herd_concat(herd_graph *g, herd_tensor *a, herd_tensor *b, int dim)
{
    if (!a || !b || dim < 0 || dim >= HERD_MAX_DIMS)
        return NULL;
    int64_t ne[4] = { a->ne[0], a->ne[1], a->ne[2], a->ne[3] };
    ne[dim] += b->ne[dim];
    herd_tensor *out =
        add_node(g, HERD_OP_CONCAT, herd_graph_tensor(g, HERD_TYPE_F32, 4, ne), a, b, NULL, NULL);
    if (out)
        NODE(g)->ip[0] = dim;
    return out;
}

const char *herd_op_name(herd_op op)
{
    static const char *names[HERD_OP_COUNT] = {
        [HERD_OP_NONE] = "none",
        [HERD_OP_GET_ROWS] = "get_rows",
        [HERD_OP_SET_ROWS] = "set_rows",
        [HERD_OP_MUL_MAT] = "mul_mat",
        [HERD_OP_MUL_MAT_ID] = "mul_mat_id",
        [HERD_OP_RMS_NORM] = "rms_norm",
        [HERD_OP_LAYER_NORM] = "layer_norm",
        [HERD_OP_ROPE] = "rope",
        [HERD_OP_ROPE_2D] = "rope_2d",
        [HERD_OP_ATTENTION] = "attention",
        [HERD_OP_KV_STORE] = "kv_store",
        [HERD_OP_SOFTMAX] = "softmax",
        [HERD_OP_ADD] = "add",
        [HERD_OP_MUL] = "mul",
        [HERD_OP_SCALE] = "scale",
        [HERD_OP_SILU] = "silu",
        [HERD_OP_GELU] = "gelu",
        [HERD_OP_SIGMOID] = "sigmoid",
        [HERD_OP_SWIGLU] = "swiglu",
        [HERD_OP_ARGMAX] = "argmax",
        [HERD_OP_SELECT_SIGMOID] = "select_sigmoid",
        [HERD_OP_CPY] = "cpy",
        [HERD_OP_CONCAT] = "concat",
    };
    return op >= 0 && op < HERD_OP_COUNT && names[op] ? names[op] : "?";
}

/* ------------------------------------------------------------------------------------------ */
/* memory planning: greedy first-fit over a free list of arena ranges, freeing each
 * intermediate after its last reader. */

typedef struct range {
    size_t off, size;
} range;

typedef struct planner {
    range *free;
    int n_free, cap_free;
    size_t top;
} planner;

static bool pl_alloc(planner *pl, size_t size, size_t *off)
{
    int best = -1;
    for (int i = 0; i < pl->n_free; i++)
        if (pl->free[i].size >= size && (best < 0 || pl->free[i].size < pl->free[best].size))
            best = i;
    if (best >= 0) {
        *off = pl->free[best].off;
        pl->free[best].off += size;
        pl->free[best].size -= size;
        if (pl->free[best].size == 0)
            pl->free[best] = pl->free[--pl->n_free];
        return true;
    }
    /* extend the arena; merge with a free block that ends at the top */
    for (int i = 0; i < pl->n_free; i++) {
        if (pl->free[i].off + pl->free[i].size == pl->top) {
            *off = pl->free[i].off;
            pl->top = *off + size;
            pl->free[i] = pl->free[--pl->n_free];
            return true;
        }
    }
    *off = pl->top;
    pl->top += size;
    return true;
}

static bool pl_free(planner *pl, size_t off, size_t size)
{
    /* coalesce with neighbours */
    for (int i = 0; i < pl->n_free; i++) {
        if (pl->free[i].off + pl->free[i].size == off) {
            off = pl->free[i].off;
            size += pl->free[i].size;
            pl->free[i--] = pl->free[--pl->n_free];
        } else if (off + size == pl->free[i].off) {
            size += pl->free[i].size;
            pl->free[i--] = pl->free[--pl->n_free];
        }
    }
    if (pl->n_free == pl->cap_free) {
        int cap = pl->cap_free ? pl->cap_free * 2 : 64;
        range *nf = realloc(pl->free, (size_t)cap * sizeof *nf);
        if (!nf)
            return false;
        pl->free = nf;
        pl->cap_free = cap;
    }
    pl->free[pl->n_free++] = (range){ off, size };
    return true;
}

herd_status herd_graph_plan(herd_graph *g, herd_tensor **keep, int n_keep, size_t align,
                            herd_error *err)
{
    if (g->oom)
        return herd_error_set(err, HERD_ERR_NOMEM, "graph construction ran out of memory");
    if (align == 0)
        align = 64;
    free(g->last_use);
    g->last_use = malloc((size_t)(g->n_tensors ? g->n_tensors : 1) * sizeof *g->last_use);
    if (!g->last_use)
        return herd_error_set(err, HERD_ERR_NOMEM, "graph plan: out of memory");
    /* index tensors for O(1) lookup: stash the index in a temporary parallel array */
    for (int i = 0; i < g->n_tensors; i++)
        g->last_use[i] = -1;
    /* map each tensor pointer to its index through a small open-addressing hash */
    size_t hcap = 16;
    while (hcap < (size_t)g->n_tensors * 2)
        hcap <<= 1;
    struct slot {
        const herd_tensor *t;
        int idx;
    } *h = calloc(hcap, sizeof *h);
    if (!h)
        return herd_error_set(err, HERD_ERR_NOMEM, "graph plan: out of memory");
#define HSLOT(p) ((size_t)(((uintptr_t)(p) >> 4) * 0x9E3779B97F4A7C15ull) & (hcap - 1))
    for (int i = 0; i < g->n_tensors; i++) {
        size_t s = HSLOT(g->tensors[i]);
        while (h[s].t)
            s = (s + 1) & (hcap - 1);
        h[s].t = g->tensors[i];
        h[s].idx = i;
    }
#define HFIND(p, out)                   \
    do {                                \
        size_t s_ = HSLOT(p);           \
        (out) = -1;                     \
        while (h[s_].t) {               \
            if (h[s_].t == (p)) {       \
                (out) = h[s_].idx;      \
                break;                  \
            }                           \
            s_ = (s_ + 1) & (hcap - 1); \
        }                               \
    } while (0)

    /* last use of each base intermediate (views count as uses of their base) */
    for (int n = 0; n < g->n_nodes; n++) {
        for (int j = 0; j < HERD_MAX_SRC; j++) {
            const herd_tensor *s = g->nodes[n].src[j];
            if (!s)
                continue;
            const herd_tensor *b = herd_tensor_base(s, NULL);
            int bi;
            HFIND(b, bi);
            if (bi >= 0)
                g->last_use[bi] = n;
        }
        /* an in-place op's output view keeps its base alive until the view's readers are done */
        const herd_tensor *ob = herd_tensor_base(g->nodes[n].out, NULL);
        int oi;
        HFIND(ob, oi);
        if (oi >= 0 && g->last_use[oi] < n)
            g->last_use[oi] = n;
    }
    for (int k = 0; k < n_keep; k++) {
        if (!keep[k])
            continue;
        int ki;
        HFIND(herd_tensor_base(keep[k], NULL), ki);
        if (ki >= 0)
            g->last_use[ki] = g->n_nodes; /* never freed */
    }

    planner pl = { 0 };
    bool ok = true;
    for (int n = 0; n < g->n_nodes && ok; n++) {
        herd_tensor *out = g->nodes[n].out;
        if (!out->view_src && out->kind == HERD_TENSOR_INTERMEDIATE) {
            size_t sz = (herd_tensor_nbytes(out) + align - 1) / align * align;
            ok = pl_alloc(&pl, sz, &out->offs);
        }
        /* free bases whose last reader is this node */
        for (int j = 0; j < HERD_MAX_SRC && ok; j++) {
            const herd_tensor *s = g->nodes[n].src[j];
            if (!s)
                continue;
            herd_tensor *b = (herd_tensor *)herd_tensor_base(s, NULL);
            int bi;
            HFIND(b, bi);
            if (bi >= 0 && g->last_use[bi] == n && b->kind == HERD_TENSOR_INTERMEDIATE &&
                b->node >= 0) {
                size_t sz = (herd_tensor_nbytes(b) + align - 1) / align * align;
                ok = pl_free(&pl, b->offs, sz);
                g->last_use[bi] = -2; /* freed once, even if listed twice among srcs */
            }
        }
        /* an output nobody reads is dead immediately (but was written: keep it allocated
         * during this node only) */
        if (!out->view_src && out->kind == HERD_TENSOR_INTERMEDIATE) {
            int oi;
            HFIND(out, oi);
            if (oi >= 0 && g->last_use[oi] == n) {
                size_t sz = (herd_tensor_nbytes(out) + align - 1) / align * align;
                ok = pl_free(&pl, out->offs, sz);
                g->last_use[oi] = -2;
            }
        }
    }
#undef HFIND
#undef HSLOT
    free(h);
    free(pl.free);
    if (!ok)
        return herd_error_set(err, HERD_ERR_NOMEM, "graph plan: out of memory");
    g->arena_size = pl.top;
    return HERD_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* node checks shared by the backends (their own limits come on top) */

static bool is_f32_rows(const herd_tensor *t)
{
    return t && t->type == HERD_TYPE_F32 && t->nb[0] == sizeof(float);
}

static bool is_i32_vec(const herd_tensor *t, int64_t n)
{
    return t && t->type == HERD_TYPE_I32 && herd_tensor_is_contiguous(t) &&
           herd_tensor_nelements(t) >= n;
}

static bool same_shape(const herd_tensor *a, const herd_tensor *b)
{
    return a->ne[0] == b->ne[0] && a->ne[1] == b->ne[1] && a->ne[2] == b->ne[2] &&
           a->ne[3] == b->ne[3];
}

/* rows of a computable type, whole blocks per row */
static bool row_type_ok(const herd_tensor *w)
{
    const herd_type_info *ti = herd_type_get(w->type);
    return ti && ti->compute && w->nb[0] == ti->bytes && w->ne[0] % ti->blck == 0;
}

herd_status herd_node_check(const herd_node *n, int i, herd_error *err)
{
    const herd_tensor *a = n->src[0], *b = n->src[1], *out = n->out;
    const char *op = herd_op_name(n->op);
#define BAD(...) return herd_error_set(err, HERD_ERR_INVALID, "node %d (%s): " __VA_ARGS__)
    if (!out || !a)
        BAD("missing tensors", i, op);
    switch (n->op) {
    case HERD_OP_GET_ROWS:
        if (!is_i32_vec(b, b ? b->ne[0] : 0) || !is_f32_rows(out) || out->ne[1] != b->ne[0] ||
            out->ne[0] != a->ne[0] || !row_type_ok(a))
            BAD("bad types or shapes", i, op);
        break;
    case HERD_OP_SET_ROWS:
        if (!is_f32_rows(a) || !is_f32_rows(b) || a->ne[0] != b->ne[0] ||
            !is_i32_vec(n->src[2], b->ne[1]))
            BAD("bad shapes", i, op);
        break;
    case HERD_OP_MUL_MAT:
        if (!b || !is_f32_rows(b) || b->ne[0] != a->ne[0] || !row_type_ok(a) ||
            b->ne[2] % a->ne[2] || b->ne[3] % a->ne[3] || out->ne[0] != a->ne[1] ||
            out->ne[1] != b->ne[1] || !herd_tensor_is_contiguous(out))
            BAD("weight type %s or shapes (K %lld vs %lld)", i, op, herd_type_name(a->type),
                (long long)a->ne[0], (long long)(b ? b->ne[0] : -1));
        break;
    case HERD_OP_MUL_MAT_ID:
        if (!b || !is_f32_rows(b) || b->ne[0] != a->ne[0] || !row_type_ok(a) ||
            b->ne[2] * b->ne[3] != 1 || !is_i32_vec(n->src[2], b->ne[1]) ||
            !herd_tensor_is_contiguous(out) || out->ne[0] != a->ne[1] || out->ne[1] != b->ne[1])
            BAD("weight type %s or shapes", i, op, herd_type_name(a->type));
        break;
    case HERD_OP_RMS_NORM:
    case HERD_OP_LAYER_NORM:
        if (!is_f32_rows(a) || (b && (!is_f32_rows(b) || b->ne[0] != a->ne[0])) ||
            (n->op == HERD_OP_LAYER_NORM && n->src[2] &&
             (!is_f32_rows(n->src[2]) || n->src[2]->ne[0] != a->ne[0])))
            BAD("bad shapes", i, op);
        break;
    case HERD_OP_ROPE:
    case HERD_OP_ROPE_2D:
        if (!is_f32_rows(a) || a->ne[3] != 1 ||
            !is_i32_vec(b, a->ne[2] * (n->op == HERD_OP_ROPE_2D ? 2 : 1)))
            BAD("bad shapes", i, op);
        if (n->op == HERD_OP_ROPE &&
            (n->ip[0] < 0 || n->ip[0] > a->ne[0] || n->ip[0] % 2 ||
             (n->src[2] && (!is_f32_rows(n->src[2]) || n->src[2]->ne[0] < n->ip[0] / 2))))
            BAD("bad n_dims %d or freq factors", i, op, n->ip[0]);
        break;
    case HERD_OP_ATTENTION: {
        const herd_tensor *k = b, *v = n->src[2];
        int R = n->ip[3];
        if (!is_f32_rows(a) || !k || !v || k->ne[0] != a->ne[0] || v->ne[0] != a->ne[0] ||
            k->ne[1] != v->ne[1] || k->ne[2] != v->ne[2] || k->ne[1] <= 0 || a->ne[1] % k->ne[1] ||
            a->ne[3] != 1)
            BAD("bad shapes", i, op);
        if ((k->type != HERD_TYPE_F32 && k->type != HERD_TYPE_F16) ||
            (v->type != HERD_TYPE_F32 && v->type != HERD_TYPE_F16) ||
            k->nb[0] != herd_type_get(k->type)->bytes || v->nb[0] != herd_type_get(v->type)->bytes)
            BAD("K/V must be F32 or F16 rows", i, op);
        if (R <= 0 || R > k->ne[2] || (n->ip[0] == 0 && (n->ip[2] < 0 || n->ip[2] > R)) ||
            (n->ip[0] != 0 && !is_i32_vec(n->src[3], a->ne[2])) || n->ip[0] < 0 || n->ip[0] > 2 ||
            (n->ip[0] == 2 && n->ip[1] <= 0))
            BAD("bad mask parameters (mask %d, ring %d, n_kv %d)", i, op, n->ip[0], R, n->ip[2]);
        break;
    }
    case HERD_OP_KV_STORE:
        if (!is_f32_rows(a) || !b || b->ne[0] != a->ne[0] || b->ne[1] != a->ne[1] ||
            (b->type != HERD_TYPE_F32 && b->type != HERD_TYPE_F16) ||
            b->nb[0] != herd_type_get(b->type)->bytes || !is_i32_vec(n->src[2], a->ne[2]) ||
            n->ip[0] <= 0 || n->ip[0] > b->ne[2])
            BAD("bad shapes", i, op);
        break;
    case HERD_OP_SOFTMAX:
        if (!is_f32_rows(a) || !herd_tensor_is_contiguous(a) || !herd_tensor_is_contiguous(out))
            BAD("input must be contiguous F32", i, op);
        break;
    case HERD_OP_ADD:
    case HERD_OP_MUL:
        if (!is_f32_rows(a) || !is_f32_rows(b))
            BAD("inputs must be F32", i, op);
        for (int d = 0; d < 4; d++)
            if (b->ne[d] != 1 && b->ne[d] != a->ne[d])
                BAD("b does not broadcast to a", i, op);
        break;
    case HERD_OP_SWIGLU:
        if (!is_f32_rows(a) || !is_f32_rows(b) || !same_shape(a, b))
            BAD("a and b must be F32 of the same shape", i, op);
        break;
    case HERD_OP_SCALE:
    case HERD_OP_SILU:
    case HERD_OP_GELU:
    case HERD_OP_SIGMOID:
        if (!is_f32_rows(a))
            BAD("input must be F32", i, op);
        break;
    case HERD_OP_ARGMAX:
        if (!is_f32_rows(a) || out->type != HERD_TYPE_I32)
            BAD("bad types", i, op);
        break;
    case HERD_OP_SELECT_SIGMOID:
        if (!is_f32_rows(a) || !is_i32_vec(b, a->ne[1]))
            BAD("bad shapes", i, op);
        break;
    case HERD_OP_CPY: {
        herd_type st = a->type, ot = out->type;
        bool ok_s = st == HERD_TYPE_F32 || st == HERD_TYPE_F16 || st == HERD_TYPE_BF16;
        bool ok_o = ot == HERD_TYPE_F32 || ot == HERD_TYPE_F16 || ot == HERD_TYPE_BF16;
        if (!ok_s || !ok_o || !same_shape(a, out))
            BAD("unsupported types %s -> %s", i, op, herd_type_name(st), herd_type_name(ot));
        break;
    }
    case HERD_OP_CONCAT: {
        int d = n->ip[0];
        if (a->type != HERD_TYPE_F32 || b->type != HERD_TYPE_F32 || d < 0 || d > 3)
            BAD("bad types", i, op);
        for (int j = 0; j < 4; j++)
            if (j != d && a->ne[j] != b->ne[j])
                BAD("shapes differ outside dim %d", i, op, d);
        break;
    }
    default:
        return herd_error_set(err, HERD_ERR_UNSUPPORTED, "node %d: op %s not supported", i, op);
    }
#undef BAD
    return HERD_OK;
}

int herd_backend_kind_from_name(const char *name)
{
    static const char *names[] = { "auto", "cpu", "vulkan", "cuda" };
    for (int i = 0; i < 4; i++)
        if (!strcasecmp(name, names[i]))
            return i;
    return -1;
}

const char *herd_backend_kind_name(herd_backend_kind k)
{
    switch (k) {
    case HERD_BACKEND_AUTO:
        return "auto";
    case HERD_BACKEND_CPU:
        return "cpu";
    case HERD_BACKEND_VULKAN:
        return "vulkan";
    case HERD_BACKEND_CUDA:
        return "cuda";
    }
    return "?";
}
