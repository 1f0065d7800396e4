/* ops-ref.c: naive scalar reference for every op (see ops-ref.h). Clarity over speed. */
#include "ops-ref.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../quant.h"

static char *elem(const herd_tensor *t, int64_t i0, int64_t i1, int64_t i2, int64_t i3)
{
    return (char *)herd_tensor_host(t) + i0 * (int64_t)t->nb[0] + i1 * (int64_t)t->nb[1] +
           i2 * (int64_t)t->nb[2] + i3 * (int64_t)t->nb[3];
}

double herd_ref_get(const herd_tensor *t, int64_t i0, int64_t i1, int64_t i2, int64_t i3)
{
    const void *p = elem(t, i0, i1, i2, i3);
    switch (t->type) {
    case HERD_TYPE_F32:
        return *(const float *)p;
    case HERD_TYPE_F16:
        return herd_f16_to_f32(*(const uint16_t *)p);
    case HERD_TYPE_BF16:
        return herd_bf16_to_f32(*(const uint16_t *)p);
    case HERD_TYPE_I32:
        return *(const int32_t *)p;
    default:
        return NAN;
    }
}

static void set(const herd_tensor *t, int64_t i0, int64_t i1, int64_t i2, int64_t i3, double v)
{
    void *p = elem(t, i0, i1, i2, i3);
    switch (t->type) {
    case HERD_TYPE_F32:
        *(float *)p = (float)v;
        break;
    case HERD_TYPE_F16:
        *(uint16_t *)p = herd_f32_to_f16((float)v);
        break;
    case HERD_TYPE_BF16:
        *(uint16_t *)p = herd_f32_to_bf16((float)v);
        break;
    case HERD_TYPE_I32:
        *(int32_t *)p = (int32_t)v;
        break;
    default:
        break;
    }
}

static int32_t geti(const herd_tensor *t, int64_t i0, int64_t i1)
{
    return *(const int32_t *)elem(t, i0, i1, 0, 0);
}

#define GET(t, a, b, c, d) herd_ref_get((t), (a), (b), (c), (d))
#define FOR4(t)                                         \
    for (int64_t i3 = 0; i3 < (t)->ne[3]; i3++)         \
        for (int64_t i2 = 0; i2 < (t)->ne[2]; i2++)     \
            for (int64_t i1 = 0; i1 < (t)->ne[1]; i1++) \
                for (int64_t i0 = 0; i0 < (t)->ne[0]; i0++)

/* dequantize row r (dims 1..3 flattened by the caller through the byte offset) */
static int deq_row(const herd_tensor *w, const void *row, float *dst)
{
    if (w->type == HERD_TYPE_F32) {
        memcpy(dst, row, (size_t)w->ne[0] * sizeof(float));
        return 0;
    }
    if (!herd_quant_supported(w->type))
        return -1;
    herd_dequantize_row(w->type, row, dst, w->ne[0]);
    return 0;
}

static double silu(double x)
{
    return x / (1.0 + exp(-x));
}

static herd_status ref_get_rows(const herd_node *n)
{
    const herd_tensor *tab = n->src[0], *ids = n->src[1], *out = n->out;
    float *row = malloc((size_t)tab->ne[0] * sizeof *row);
    if (!row)
        return HERD_ERR_NOMEM;
    for (int64_t i = 0; i < ids->ne[0]; i++) {
        int32_t r = geti(ids, i, 0);
        if (r < 0 || r >= tab->ne[1] || deq_row(tab, elem(tab, 0, r, 0, 0), row)) {
            free(row);
            return HERD_ERR_INVALID;
        }
        for (int64_t j = 0; j < tab->ne[0]; j++)
            set(out, j, i, 0, 0, row[j]);
    }
    free(row);
    return HERD_OK;
}

static herd_status ref_set_rows(const herd_node *n)
{
    const herd_tensor *dst = n->src[0], *rows = n->src[1], *idx = n->src[2];
    for (int64_t j = 0; j < rows->ne[1]; j++) {
        int32_t r = geti(idx, j, 0);
        if (r < 0 || r >= dst->ne[1])
            return HERD_ERR_INVALID;
        for (int64_t i = 0; i < dst->ne[0]; i++)
            set(n->out, i, r, 0, 0, GET(rows, i, j, 0, 0));
    }
    return HERD_OK;
}

static herd_status ref_mul_mat(const herd_node *n)
{
    const herd_tensor *w = n->src[0], *x = n->src[1], *out = n->out;
    const bool id = n->op == HERD_OP_MUL_MAT_ID;
    const int64_t K = w->ne[0], N = w->ne[1];
    if (x->ne[0] != K)
        return HERD_ERR_INVALID;
    float *row = malloc((size_t)K * sizeof *row);
    double *xd = malloc((size_t)K * sizeof *xd);
    if (!row || !xd) {
        free(row);
        free(xd);
        return HERD_ERR_NOMEM;
    }
    herd_status st = HERD_OK;
    for (int64_t i3 = 0; i3 < out->ne[3] && !st; i3++)
        for (int64_t i2 = 0; i2 < out->ne[2] && !st; i2++)
            for (int64_t m = 0; m < out->ne[1] && !st; m++) {
                int64_t e2 = id ? geti(n->src[2], m, 0) : i2 / (x->ne[2] / w->ne[2]);
                int64_t e3 = id ? 0 : i3 / (x->ne[3] / w->ne[3]);
                if (id && (e2 < 0 || e2 >= w->ne[2])) {
                    st = HERD_ERR_INVALID;
                    break;
                }
                for (int64_t k = 0; k < K; k++)
                    xd[k] = GET(x, k, m, i2, i3);
                for (int64_t r = 0; r < N; r++) {
                    if (deq_row(w, elem(w, 0, r, e2, e3), row)) {
                        st = HERD_ERR_UNSUPPORTED;
                        break;
                    }
                    double s = 0;
                    for (int64_t k = 0; k < K; k++)
                        s += (double)row[k] * xd[k];
                    set(out, r, m, i2, i3, s);
                }
            }
    free(row);
    free(xd);
    return st;
}

static herd_status ref_norm(const herd_node *n)
{
    const herd_tensor *x = n->src[0], *w = n->src[1], *b = n->src[2], *out = n->out;
    const bool layer = n->op == HERD_OP_LAYER_NORM;
    const int64_t D = x->ne[0];
    for (int64_t i3 = 0; i3 < x->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < x->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < x->ne[1]; i1++) {
                double mean = 0, var = 0;
                if (layer) {
                    for (int64_t i = 0; i < D; i++)
                        mean += GET(x, i, i1, i2, i3);
                    mean /= (double)D;
                }
                for (int64_t i = 0; i < D; i++) {
                    double d = GET(x, i, i1, i2, i3) - mean;
                    var += d * d;
                }
                double inv = 1.0 / sqrt(var / (double)D + (double)n->fp[0]);
                for (int64_t i = 0; i < D; i++) {
                    double v = (GET(x, i, i1, i2, i3) - mean) * inv;
                    if (w)
                        v *= GET(w, i, 0, 0, 0);
                    if (layer && b)
                        v += GET(b, i, 0, 0, 0);
                    set(out, i, i1, i2, i3, v);
                }
            }
    return HERD_OK;
}

static herd_status ref_rope(const herd_node *n)
{
    const herd_tensor *x = n->src[0], *pos = n->src[1], *ff = n->src[2], *out = n->out;
    const int64_t hd = x->ne[0];
    const bool two = n->op == HERD_OP_ROPE_2D;
    const float theta = n->fp[0];
    const int nd = two ? (int)hd : n->ip[0];
    if (nd > hd || nd < 0)
        return HERD_ERR_INVALID;
    for (int64_t t = 0; t < x->ne[2]; t++)
        for (int64_t h = 0; h < x->ne[1]; h++)
            for (int64_t i = 0; i < hd / 2; i++) {
                double a = GET(x, 2 * i, h, t, 0), b = GET(x, 2 * i + 1, h, t, 0);
                float angle = 0;
                bool rot = true;
                if (two) {
                    const int64_t q = hd / 4, half = hd / 2;
                    int64_t j = i < q ? i : i - q;
                    int32_t p = i < q ? geti(pos, 0, t) : geti(pos, 1, t);
                    float phi = powf(theta, -2.0f * (float)j / (float)half);
                    angle = (float)p * phi;
                } else if (2 * i < nd) {
                    float f = powf(theta, -2.0f * (float)i / (float)nd);
                    angle = (float)geti(pos, t, 0) * f;
                    if (ff)
                        angle /= (float)GET(ff, i, 0, 0, 0);
                } else {
                    rot = false;
                }
                if (rot) {
                    double c = cos((double)angle), s = sin((double)angle);
                    set(out, 2 * i, h, t, 0, a * c - b * s);
                    set(out, 2 * i + 1, h, t, 0, a * s + b * c);
                } else {
                    set(out, 2 * i, h, t, 0, a);
                    set(out, 2 * i + 1, h, t, 0, b);
                }
            }
    if (hd % 2) /* odd tail element: copied */
        for (int64_t t = 0; t < x->ne[2]; t++)
            for (int64_t h = 0; h < x->ne[1]; h++)
                set(out, hd - 1, h, t, 0, GET(x, hd - 1, h, t, 0));
    return HERD_OK;
}

static herd_status ref_attention(const herd_node *n)
{
    const herd_tensor *q = n->src[0], *k = n->src[1], *v = n->src[2], *qpos = n->src[3];
    const int64_t hd = q->ne[0], Hq = q->ne[1], T = q->ne[2], Hkv = k->ne[1], S = k->ne[2];
    const int mask = n->ip[0], C = n->ip[1], nkv = n->ip[2], R = n->ip[3] > 0 ? n->ip[3] : (int)S;
    if (Hkv <= 0 || Hq % Hkv || k->ne[0] != hd || v->ne[0] != hd || (mask && !qpos))
        return HERD_ERR_INVALID;
    if (mask == 0 && nkv > S)
        return HERD_ERR_INVALID;
    int64_t maxk = S > R ? S : R;
    double *sc = malloc((size_t)(maxk + hd + 1) * sizeof *sc);
    if (!sc)
        return HERD_ERR_NOMEM;
    double *acc = sc + maxk;
    for (int64_t t = 0; t < T; t++) {
        int64_t p = qpos ? geti(qpos, t, 0) : 0, lo = 0, hi;
        if (mask == 0) {
            hi = nkv - 1;
        } else {
            hi = p;
            if (mask == 2 && C > 0)
                lo = p / C * C;
            if (p - R + 1 > lo)
                lo = p - R + 1;
        }
        double temp = 1.0;
        if (n->ip[4] > 0)
            temp = 1.0 + (double)n->fp[1] * log(floor((double)(p + 1) / n->ip[4]) + 1.0);
        for (int64_t h = 0; h < Hq; h++) {
            int64_t g = h / (Hq / Hkv);
            double mx = -INFINITY;
            int64_t cnt = 0;
            for (int64_t s = lo; s <= hi; s++, cnt++) {
                int64_t sl = s % R;
                double d = 0;
                for (int64_t i = 0; i < hd; i++)
                    d += GET(q, i, h, t, 0) * GET(k, i, g, sl, 0);
                sc[cnt] = d * temp * n->fp[0];
                if (sc[cnt] > mx)
                    mx = sc[cnt];
            }
            double sum = 0;
            for (int64_t c = 0; c < cnt; c++) {
                sc[c] = exp(sc[c] - mx);
                sum += sc[c];
            }
            for (int64_t i = 0; i < hd; i++)
                acc[i] = 0;
            for (int64_t s = lo, c = 0; s <= hi; s++, c++)
                for (int64_t i = 0; i < hd; i++)
                    acc[i] += sc[c] * GET(v, i, g, s % R, 0);
            for (int64_t i = 0; i < hd; i++)
                set(n->out, i, h, t, 0, cnt ? acc[i] / sum : 0.0);
        }
    }
    free(sc);
    return HERD_OK;
}

static herd_status ref_kv_store(const herd_node *n)
{
    const herd_tensor *src = n->src[0], *cache = n->src[1], *pos = n->src[2];
    const int R = n->ip[0] > 0 ? n->ip[0] : (int)cache->ne[2];
    for (int64_t t = 0; t < src->ne[2]; t++) {
        int64_t p = geti(pos, t, 0);
        if (p < 0)
            return HERD_ERR_INVALID;
        int64_t sl = p % R;
        for (int64_t h = 0; h < src->ne[1]; h++)
            for (int64_t i = 0; i < src->ne[0]; i++)
                set(cache, i, h, sl, 0, GET(src, i, h, t, 0));
    }
    return HERD_OK;
}

static herd_status ref_softmax(const herd_node *n)
{
    const herd_tensor *x = n->src[0], *out = n->out;
    for (int64_t i3 = 0; i3 < x->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < x->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < x->ne[1]; i1++) {
                double mx = -INFINITY, sum = 0;
                for (int64_t i = 0; i < x->ne[0]; i++)
                    mx = fmax(mx, GET(x, i, i1, i2, i3) * n->fp[0]);
                for (int64_t i = 0; i < x->ne[0]; i++)
                    sum += exp(GET(x, i, i1, i2, i3) * n->fp[0] - mx);
                for (int64_t i = 0; i < x->ne[0]; i++)
                    set(out, i, i1, i2, i3, exp(GET(x, i, i1, i2, i3) * n->fp[0] - mx) / sum);
            }
    return HERD_OK;
}

static herd_status ref_unary(const herd_node *n)
{
    const herd_tensor *a = n->src[0], *b = n->src[1], *out = n->out;
    if (n->op == HERD_OP_ADD || n->op == HERD_OP_MUL) {
        for (int d = 0; d < 4; d++)
            if (b->ne[d] != 1 && b->ne[d] != a->ne[d])
                return HERD_ERR_INVALID;
    }
    FOR4(a)
    {
        double x = GET(a, i0, i1, i2, i3), y = 0;
        switch (n->op) {
        case HERD_OP_ADD:
        case HERD_OP_MUL: {
            double bv = GET(b, b->ne[0] == 1 ? 0 : i0, b->ne[1] == 1 ? 0 : i1,
                            b->ne[2] == 1 ? 0 : i2, b->ne[3] == 1 ? 0 : i3);
            y = n->op == HERD_OP_ADD ? x + bv : x * bv;
            break;
        }
        case HERD_OP_SCALE:
            y = x * n->fp[0];
            break;
        case HERD_OP_SILU:
            y = silu(x);
            break;
        case HERD_OP_GELU:
            y = 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
            break;
        case HERD_OP_SIGMOID:
            y = 1.0 / (1.0 + exp(-x));
            break;
        case HERD_OP_SWIGLU:
            y = silu(x) * GET(b, i0, i1, i2, i3);
            break;
        default:
            return HERD_ERR_UNSUPPORTED;
        }
        set(out, i0, i1, i2, i3, y);
    }
    return HERD_OK;
}

static herd_status ref_argmax(const herd_node *n)
{
    const herd_tensor *x = n->src[0];
    for (int64_t t = 0; t < x->ne[1]; t++) {
        int64_t best = 0;
        for (int64_t e = 1; e < x->ne[0]; e++)
            if (GET(x, e, t, 0, 0) > GET(x, best, t, 0, 0))
                best = e;
        set(n->out, t, 0, 0, 0, (double)best);
    }
    return HERD_OK;
}

static herd_status ref_select_sigmoid(const herd_node *n)
{
    const herd_tensor *x = n->src[0], *ids = n->src[1];
    for (int64_t t = 0; t < x->ne[1]; t++) {
        int32_t e = geti(ids, t, 0);
        if (e < 0 || e >= x->ne[0])
            return HERD_ERR_INVALID;
        set(n->out, 0, t, 0, 0, 1.0 / (1.0 + exp(-GET(x, e, t, 0, 0))));
    }
    return HERD_OK;
}

static herd_status ref_cpy(const herd_node *n)
{
    const herd_tensor *x = n->src[0];
    FOR4(x)
    set(n->out, i0, i1, i2, i3, GET(x, i0, i1, i2, i3));
    return HERD_OK;
}

static herd_status ref_concat(const herd_node *n)
{
    const herd_tensor *a = n->src[0], *b = n->src[1], *out = n->out;
    const int dim = n->ip[0];
    FOR4(out)
    {
        int64_t i[4] = { i0, i1, i2, i3 };
        const herd_tensor *s = a;
        if (i[dim] >= a->ne[dim]) {
            i[dim] -= a->ne[dim];
            s = b;
        }
        set(out, i0, i1, i2, i3, GET(s, i[0], i[1], i[2], i[3]));
    }
    return HERD_OK;
}

herd_status herd_ref_compute_node(const herd_node *n)
{
    if (!n->out || !herd_tensor_host(n->out))
        return HERD_ERR_INVALID;
    for (int i = 0; i < HERD_MAX_SRC; i++)
        if (n->src[i] && !herd_tensor_host(n->src[i]))
            return HERD_ERR_INVALID;
    if (!n->src[0])
        return HERD_ERR_INVALID;
    switch (n->op) {
    case HERD_OP_GET_ROWS:
        return ref_get_rows(n);
    case HERD_OP_SET_ROWS:
        return ref_set_rows(n);
    case HERD_OP_MUL_MAT:
    case HERD_OP_MUL_MAT_ID:
        return ref_mul_mat(n);
    case HERD_OP_RMS_NORM:
    case HERD_OP_LAYER_NORM:
        return ref_norm(n);
    case HERD_OP_ROPE:
    case HERD_OP_ROPE_2D:
        return ref_rope(n);
    case HERD_OP_ATTENTION:
        return ref_attention(n);
    case HERD_OP_KV_STORE:
        return ref_kv_store(n);
    case HERD_OP_SOFTMAX:
        return ref_softmax(n);
    case HERD_OP_ADD:
    case HERD_OP_MUL:
    case HERD_OP_SCALE:
    case HERD_OP_SILU:
    case HERD_OP_GELU:
    case HERD_OP_SIGMOID:
    case HERD_OP_SWIGLU:
        return ref_unary(n);
    case HERD_OP_ARGMAX:
        return ref_argmax(n);
    case HERD_OP_SELECT_SIGMOID:
        return ref_select_sigmoid(n);
    case HERD_OP_CPY:
        return ref_cpy(n);
    case HERD_OP_CONCAT:
        return ref_concat(n);
    default:
        return HERD_ERR_UNSUPPORTED;
    }
}
