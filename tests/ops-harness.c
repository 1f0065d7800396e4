/* ops-harness.c: one-op (or few-op) graphs on a backend vs the scalar reference. */
#include "ops-harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cpu/ops-ref.h"
#include "engine/quant.h"

void oh_init(oh *h, herd_backend *be, herd_backend *be2, const char *label, uint64_t seed)
{
    memset(h, 0, sizeof *h);
    h->be = be;
    h->be2 = be2;
    h->label = label;
    h->rng = seed ? seed : 0x9E3779B97F4A7C15ull;
    h->verbose = getenv("HERD_OPS_VERBOSE") != NULL;
}

static uint64_t rng_next(oh *h)
{
    uint64_t x = h->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    h->rng = x;
    return x * 0x2545F4914F6CDD1Dull;
}

float oh_randf(oh *h)
{
    return (float)((double)(rng_next(h) >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

void oh_begin(oh *h)
{
    h->g = herd_graph_new(64);
    h->n_in = 0;
}

static void free_case(oh *h)
{
    for (int i = 0; i < h->n_in; i++) {
        herd_tensor *t = h->in[i].t;
        if (h->in[i].buf)
            h->be->iface->buffer_free(h->be, h->in[i].buf);
        /* buffers weights_upload made: each distinct one once */
        if (t->kind == HERD_TENSOR_WEIGHT && t->buf) {
            bool first = true;
            for (int j = 0; j < i; j++)
                if (h->in[j].t->kind == HERD_TENSOR_WEIGHT && h->in[j].t->buf == t->buf)
                    first = false;
            if (first)
                h->be->iface->buffer_free(h->be, t->buf);
        }
        free(h->in[i].host);
    }
    h->n_in = 0;
    herd_graph_free(h->g);
    h->g = NULL;
}

void oh_abort(oh *h)
{
    free_case(h);
}

static herd_tensor *new_tensor(oh *h, herd_type type, int nd, const int64_t *ne,
                               herd_tensor_kind kind)
{
    if (!h->g || h->n_in >= OH_MAX_INPUTS)
        return NULL;
    herd_tensor *t = herd_graph_tensor(h->g, type, nd, ne);
    if (!t)
        return NULL;
    t->kind = kind;
    snprintf(t->name, sizeof t->name, "in%d", h->n_in);
    return t;
}

static bool add_state(oh *h, herd_tensor *t, void *host, size_t size)
{
    herd_error err = { 0 };
    herd_buffer *buf = NULL;
    if (h->be->iface->buffer_alloc(h->be, size, &buf, &err)) {
        fprintf(stderr, "%s: buffer_alloc: %s\n", h->label, err.msg);
        free(host);
        return false;
    }
    h->be->iface->tensor_bind(h->be, t, buf, 0);
    if (h->be->iface->tensor_set(h->be, t, host, 0, size, &err)) {
        fprintf(stderr, "%s: tensor_set: %s\n", h->label, err.msg);
        h->be->iface->buffer_free(h->be, buf);
        free(host);
        return false;
    }
    h->in[h->n_in++] = (oh_input_rec){ t, buf, host, size };
    return true;
}

herd_tensor *oh_input(oh *h, herd_type type, int nd, const int64_t *ne, float scale,
                      const void *data)
{
    herd_tensor *t = new_tensor(h, type, nd, ne, HERD_TENSOR_STATE);
    if (!t)
        return NULL;
    size_t size = herd_tensor_nbytes(t);
    void *host = malloc(size ? size : 1);
    if (!host)
        return NULL;
    if (data) {
        memcpy(host, data, size);
    } else {
        int64_t n = herd_tensor_nelements(t);
        for (int64_t i = 0; i < n; i++) {
            float v = oh_randf(h) * scale;
            if (type == HERD_TYPE_F32)
                ((float *)host)[i] = v;
            else if (type == HERD_TYPE_F16)
                ((uint16_t *)host)[i] = herd_f32_to_f16(v);
            else if (type == HERD_TYPE_BF16)
                ((uint16_t *)host)[i] = herd_f32_to_bf16(v);
            else if (type == HERD_TYPE_I32)
                ((int32_t *)host)[i] = (int32_t)i;
        }
    }
    return add_state(h, t, host, size) ? t : NULL;
}

herd_tensor *oh_ids(oh *h, int n, const int32_t *vals)
{
    const int64_t ne[1] = { n };
    return oh_input(h, HERD_TYPE_I32, 1, ne, 1.0f, vals);
}

herd_tensor *oh_weight(oh *h, herd_type type, int nd, const int64_t *ne, float scale)
{
    herd_tensor *t = new_tensor(h, type, nd, ne, HERD_TENSOR_WEIGHT);
    if (!t)
        return NULL;
    size_t size = herd_tensor_nbytes(t);
    char *host = malloc(size ? size : 1);
    float *row = malloc((size_t)ne[0] * sizeof *row);
    if (!host || !row) {
        free(host);
        free(row);
        return NULL;
    }
    int64_t rows = herd_tensor_nelements(t) / ne[0];
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t i = 0; i < ne[0]; i++)
            row[i] = oh_randf(h) * scale;
        herd_quantize_row(type, row, host + (size_t)r * t->nb[1], ne[0]);
    }
    free(row);
    t->data = host;
    h->in[h->n_in++] = (oh_input_rec){ t, NULL, host, size };
    return t;
}

static int find_input(oh *h, const herd_tensor *t)
{
    for (int i = 0; i < h->n_in; i++)
        if (h->in[i].t == t)
            return i;
    return -1;
}

static double elem_at(herd_type type, const void *p, int64_t i)
{
    switch (type) {
    case HERD_TYPE_F32:
        return ((const float *)p)[i];
    case HERD_TYPE_F16:
        return herd_f16_to_f32(((const uint16_t *)p)[i]);
    case HERD_TYPE_BF16:
        return herd_bf16_to_f32(((const uint16_t *)p)[i]);
    case HERD_TYPE_I32:
        return ((const int32_t *)p)[i];
    default:
        return NAN;
    }
}

/* run the reference over every node on host copies; returns a malloc'd copy of out's bytes */
static void *run_ref(oh *h, herd_tensor *out, size_t size, herd_status *st)
{
    herd_graph *g = h->g;
    void **mem = calloc((size_t)g->n_tensors + (size_t)h->n_in, sizeof *mem);
    void *res = NULL;
    *st = HERD_ERR_NOMEM;
    if (!mem)
        return NULL;
    int nm = 0;
    /* inputs: fresh copies (in-place ops write into them) */
    for (int i = 0; i < h->n_in; i++) {
        void *c = malloc(h->in[i].size ? h->in[i].size : 1);
        if (!c)
            goto out;
        memcpy(c, h->in[i].host, h->in[i].size);
        h->in[i].t->data = c;
        mem[nm++] = c;
    }
    /* intermediates: zeroed host memory */
    for (int i = 0; i < g->n_tensors; i++) {
        herd_tensor *t = g->tensors[i];
        if (t->view_src || find_input(h, t) >= 0 || t->kind != HERD_TENSOR_INTERMEDIATE)
            continue;
        void *c = calloc(1, herd_tensor_nbytes(t) + 1);
        if (!c)
            goto out;
        t->data = c;
        mem[nm++] = c;
    }
    for (int i = 0; i < g->n_nodes; i++) {
        *st = herd_ref_compute_node(&g->nodes[i]);
        if (*st)
            goto out;
    }
    res = malloc(size ? size : 1);
    if (res)
        memcpy(res, herd_tensor_host(out), size);
    *st = res ? HERD_OK : HERD_ERR_NOMEM;
out:
    /* leave the data pointers dangling-free: the graph is freed right after */
    for (int i = 0; i < g->n_tensors; i++)
        if (!g->tensors[i]->view_src && find_input(h, g->tensors[i]) < 0)
            g->tensors[i]->data = NULL;
    for (int i = 0; i < h->n_in; i++)
        h->in[i].t->data = NULL;
    for (int i = 0; i < nm; i++)
        free(mem[i]);
    free(mem);
    return res;
}

static bool run_backend(oh *h, herd_backend *be, herd_tensor *out, void *dst, size_t size,
                        herd_error *err)
{
    herd_tensor *w[OH_MAX_INPUTS];
    int nw = 0;
    for (int i = 0; i < h->n_in; i++)
        if (h->in[i].t->kind == HERD_TENSOR_WEIGHT)
            w[nw++] = h->in[i].t;
    if (nw && be->iface->weights_upload(be, w, nw, NULL, NULL, err))
        return false;
    if (be->iface->graph_compute(be, h->g, err))
        return false;
    return be->iface->tensor_get(be, out, dst, 0, size, err) == HERD_OK;
}

bool oh_check(oh *h, herd_tensor *out, double tol, const char *name)
{
    herd_error err = { 0 };
    h->n_run++;
    if (!out || !h->g || h->g->oom) {
        printf("FAIL %-44s graph construction failed\n", name);
        h->n_fail++;
        free_case(h);
        return false;
    }
    herd_op op = h->g->nodes[h->g->n_nodes - 1].op;
    for (int i = 0; i < h->n_in; i++) {
        herd_tensor *t = h->in[i].t;
        if (t->kind == HERD_TENSOR_WEIGHT && !h->be->iface->supports_type(h->be, t->type)) {
            printf("SKIP %-44s %s weights not supported by %s\n", name, herd_type_name(t->type),
                   h->label);
            h->n_skip++;
            free_case(h);
            return true;
        }
    }
    herd_tensor *keep[1] = { out };
    if (herd_graph_plan(h->g, keep, 1, 64, &err)) {
        printf("FAIL %-44s plan: %s\n", name, err.msg);
        h->n_fail++;
        free_case(h);
        return false;
    }
    const size_t size = herd_tensor_nbytes(out);
    const int64_t n = herd_tensor_nelements(out);
    void *got = malloc(size), *got2 = NULL, *ref = NULL;
    bool ok = got && run_backend(h, h->be, out, got, size, &err);
    if (!ok) {
        printf("FAIL %-44s %s: %s\n", name, h->label, err.msg);
        goto done;
    }
    if (h->be2) {
        got2 = malloc(size);
        if (!got2 || !run_backend(h, h->be2, out, got2, size, &err)) {
            printf("FAIL %-44s second backend: %s\n", name, err.msg);
            ok = false;
            goto done;
        }
        if (memcmp(got, got2, size) != 0) {
            printf("FAIL %-44s results differ between %s and the second backend\n", name, h->label);
            ok = false;
            goto done;
        }
    }
    herd_status st;
    ref = run_ref(h, out, size, &st);
    if (!ref) {
        printf("FAIL %-44s reference failed: %s\n", name, herd_status_name(st));
        ok = false;
        goto done;
    }
    /* out may be a (contiguous) view for in-place ops: compare element-wise */
    double maxref = 0, maxerr = 0;
    int64_t worst = 0, nbad = 0;
    for (int64_t i = 0; i < n; i++) {
        double r = elem_at(out->type, ref, i), v = elem_at(out->type, got, i);
        if (!isfinite(v) && isfinite(r))
            nbad++;
        double e = v == r ? 0 : fabs(v - r); /* equal infinities count as equal */
        if (isnan(e))
            e = isnan(v) && isnan(r) ? 0 : INFINITY;
        if (isfinite(r))
            maxref = fmax(maxref, fabs(r));
        if (e > maxerr) {
            maxerr = e;
            worst = i;
        }
    }
    double nerr = out->type == HERD_TYPE_I32 ? maxerr : maxerr / fmax(maxref, 1e-6);
    ok = nbad == 0 && nerr <= tol;
    if (tol > 0 && nerr / tol > h->worst[op])
        h->worst[op] = nerr / tol;
    if (!ok || h->verbose)
        printf("%s %-44s err %.3g (tol %.3g, max|ref| %.3g, worst at %lld: %.6g vs %.6g)\n",
               ok ? "ok  " : "FAIL", name, nerr, tol, maxref, (long long)worst,
               elem_at(out->type, got, worst), elem_at(out->type, ref, worst));
done:
    if (!ok)
        h->n_fail++;
    free(got);
    free(got2);
    free(ref);
    free_case(h);
    return ok;
}

/* ------------------------------------------------------------------------------------------ */
/* the cases */

#define NE(...) ((const int64_t[]){ __VA_ARGS__ })

static const herd_type all_wtypes[] = { HERD_TYPE_F32,  HERD_TYPE_F16,  HERD_TYPE_BF16,
                                        HERD_TYPE_Q8_0, HERD_TYPE_Q4_0, HERD_TYPE_Q4_K,
                                        HERD_TYPE_Q5_K, HERD_TYPE_Q6_K };
#define N_WTYPES ((int)(sizeof all_wtypes / sizeof all_wtypes[0]))

/* Tolerance of a matmul with weights of type t, normalized by max |ref|: the reference multiplies
 * the dequantized weights by the exact F32 activations, the backend converts the activations to
 * herd_vec_dot_type(t) first (F16: 11-bit mantissa, BF16: 8-bit, Q8_0/Q8_K: 8-bit blocks). */
static double mm_tol(herd_type t)
{
    switch (t) {
    case HERD_TYPE_F32:
        return 1e-5; /* measured <= 1.4e-7 */
    case HERD_TYPE_F16:
        return 1e-3; /* measured <= 2.2e-4 */
    case HERD_TYPE_BF16:
        return 6e-3; /* measured <= 1.7e-3 */
    default:
        return 1.2e-2; /* Q8_0 / Q8_K activations: measured <= 5e-3 */
    }
}

static int64_t mm_k(herd_type t, int variant)
{
    const herd_type_info *ti = herd_type_get(t);
    if (ti->blck == 256)
        return variant ? 512 : 256;
    if (ti->blck == 32)
        return variant ? 160 : 96;
    return variant ? 130 : 88;
}

static void rand_ids(oh *h, int32_t *v, int n, int lo, int hi)
{
    for (int i = 0; i < n; i++)
        v[i] = lo + (int32_t)(rng_next(h) % (uint64_t)(hi - lo));
}

static void cases_rows(oh *h)
{
    char name[96];
    int32_t ids[9];
    for (int ti = 0; ti < N_WTYPES; ti++) {
        herd_type t = all_wtypes[ti];
        int64_t D = herd_type_get(t)->blck == 256 ? 256 : herd_type_get(t)->blck == 32 ? 96 : 33;
        oh_begin(h);
        herd_tensor *tab = oh_weight(h, t, 2, NE(D, 37), 1.0f);
        rand_ids(h, ids, 9, 0, 37);
        ids[8] = 36;
        herd_tensor *o = herd_get_rows(h->g, tab, oh_ids(h, 9, ids));
        snprintf(name, sizeof name, "get_rows %s [%lld,37] x9", herd_type_name(t), (long long)D);
        oh_check(h, o, 1e-6, name);
    }
    oh_begin(h);
    int32_t idx[5] = { 3, 0, 19, 7, 11 };
    herd_tensor *dst = oh_input(h, HERD_TYPE_F32, 2, NE(33, 20), 1.0f, NULL);
    herd_tensor *rows = oh_input(h, HERD_TYPE_F32, 2, NE(33, 5), 1.0f, NULL);
    oh_check(h, herd_set_rows(h->g, dst, rows, oh_ids(h, 5, idx)), 0, "set_rows [33,20] <- 5");
}

static void cases_mul_mat(oh *h)
{
    char name[96];
    static const int64_t Ms[] = { 1, 7, 33, 70 };
    for (int ti = 0; ti < N_WTYPES; ti++) {
        herd_type t = all_wtypes[ti];
        for (int v = 0; v < 2; v++)
            for (size_t mi = 0; mi < sizeof Ms / sizeof Ms[0]; mi++) {
                int64_t K = mm_k(t, v), N = v ? 130 : 33, M = Ms[mi];
                oh_begin(h);
                herd_tensor *w = oh_weight(h, t, 2, NE(K, N), 1.0f);
                herd_tensor *x = oh_input(h, HERD_TYPE_F32, 2, NE(K, M), 1.0f, NULL);
                snprintf(name, sizeof name, "mul_mat %s K%lld N%lld M%lld", herd_type_name(t),
                         (long long)K, (long long)N, (long long)M);
                oh_check(h, herd_mul_mat(h->g, w, x), mm_tol(t), name);
            }
    }
    /* decode shapes whose row chunks differ between thread counts (N / (8 nth) rounded to 4) */
    static const herd_type dec[] = { HERD_TYPE_Q4_0, HERD_TYPE_Q4_K, HERD_TYPE_Q6_K };
    for (size_t i = 0; i < sizeof dec / sizeof dec[0]; i++) {
        oh_begin(h);
        herd_tensor *w = oh_weight(h, dec[i], 2, NE(256, 301), 1.0f);
        herd_tensor *x = oh_input(h, HERD_TYPE_F32, 2, NE(256, 1), 1.0f, NULL);
        snprintf(name, sizeof name, "mul_mat %s K256 N301 M1 (chunking)", herd_type_name(dec[i]));
        oh_check(h, herd_mul_mat(h->g, w, x), mm_tol(dec[i]), name);
        oh_begin(h);
        w = oh_weight(h, dec[i], 3, NE(256, 301, 3), 1.0f);
        x = oh_input(h, HERD_TYPE_F32, 2, NE(256, 1), 1.0f, NULL);
        const int32_t id1[1] = { 2 };
        snprintf(name, sizeof name, "mul_mat_id %s K256 N301 E3 M1 (chunking)",
                 herd_type_name(dec[i]));
        oh_check(h, herd_mul_mat_id(h->g, w, x, oh_ids(h, 1, id1)), mm_tol(dec[i]), name);
    }
    /* batched activations with a broadcast 2-D weight, and a 3-D weight batch */
    oh_begin(h);
    herd_tensor *w = oh_weight(h, HERD_TYPE_Q8_0, 2, NE(64, 17), 1.0f);
    herd_tensor *x = oh_input(h, HERD_TYPE_F32, 3, NE(64, 5, 3), 1.0f, NULL);
    oh_check(h, herd_mul_mat(h->g, w, x), mm_tol(HERD_TYPE_Q8_0), "mul_mat Q8_0 x[64,5,3] bcast");
    oh_begin(h);
    w = oh_weight(h, HERD_TYPE_F32, 3, NE(40, 9, 3), 1.0f);
    x = oh_input(h, HERD_TYPE_F32, 3, NE(40, 4, 3), 1.0f, NULL);
    oh_check(h, herd_mul_mat(h->g, w, x), 1e-5, "mul_mat F32 w[40,9,3] x[40,4,3]");
}

static void cases_mul_mat_id(oh *h)
{
    char name[96];
    static const int Ms[] = { 1, 7, 33, 90 };
    int32_t ids[90];
    for (int ti = 0; ti < N_WTYPES; ti++) {
        herd_type t = all_wtypes[ti];
        for (size_t mi = 0; mi < sizeof Ms / sizeof Ms[0]; mi++) {
            int M = Ms[mi];
            int64_t K = mm_k(t, 0), N = 37, E = 5;
            oh_begin(h);
            herd_tensor *w = oh_weight(h, t, 3, NE(K, N, E), 1.0f);
            herd_tensor *x = oh_input(h, HERD_TYPE_F32, 2, NE(K, M), 1.0f, NULL);
            rand_ids(h, ids, M, 0, 4); /* expert 4 stays unused */
            if (M == 90)
                for (int i = 0; i < 80; i++)
                    ids[i] = 2; /* one expert with > 64 columns */
            snprintf(name, sizeof name, "mul_mat_id %s K%lld N37 E5 M%d", herd_type_name(t),
                     (long long)K, M);
            oh_check(h, herd_mul_mat_id(h->g, w, x, oh_ids(h, M, ids)), mm_tol(t), name);
        }
    }
}

static void cases_norm(oh *h)
{
    oh_begin(h);
    herd_tensor *x = oh_input(h, HERD_TYPE_F32, 2, NE(33, 7), 3.0f, NULL);
    herd_tensor *w = oh_input(h, HERD_TYPE_F32, 1, NE(33), 1.0f, NULL);
    oh_check(h, herd_rms_norm(h->g, x, w, 1e-5f), 1e-5, "rms_norm [33,7] w");
    oh_begin(h);
    x = oh_input(h, HERD_TYPE_F32, 3, NE(130, 5, 3), 1.0f, NULL);
    oh_check(h, herd_rms_norm(h->g, x, NULL, 1e-5f), 1e-5, "rms_norm [130,5,3] no w");
    oh_begin(h);
    x = oh_input(h, HERD_TYPE_F32, 2, NE(88, 7), 2.0f, NULL);
    w = oh_input(h, HERD_TYPE_F32, 1, NE(88), 1.0f, NULL);
    herd_tensor *b = oh_input(h, HERD_TYPE_F32, 1, NE(88), 1.0f, NULL);
    oh_check(h, herd_layer_norm(h->g, x, w, b, 1e-5f), 1e-5, "layer_norm [88,7] w b");
    oh_begin(h);
    x = oh_input(h, HERD_TYPE_F32, 2, NE(1408, 3), 2.0f, NULL);
    w = oh_input(h, HERD_TYPE_F32, 1, NE(1408), 1.0f, NULL);
    oh_check(h, herd_layer_norm(h->g, x, w, NULL, 1e-5f), 1e-5, "layer_norm [1408,3] w");
    oh_begin(h);
    x = oh_input(h, HERD_TYPE_F32, 2, NE(33, 5), 4.0f, NULL);
    oh_check(h, herd_softmax(h->g, x, 0.7f), 1e-5, "softmax [33,5] scale 0.7");
}

static void cases_rope(oh *h)
{
    int32_t pos[33];
    float ff[64];
    for (int i = 0; i < 64; i++)
        ff[i] = i < 35 ? 1.0f : 16.0f;
    oh_begin(h);
    herd_tensor *x = oh_input(h, HERD_TYPE_F32, 3, NE(128, 5, 7), 1.0f, NULL);
    rand_ids(h, pos, 7, 0, 20000);
    herd_tensor *f = oh_input(h, HERD_TYPE_F32, 1, NE(64), 1.0f, ff);
    oh_check(h, herd_rope(h->g, x, oh_ids(h, 7, pos), f, 128, 5e5f), 1e-5,
             "rope [128,5,7] factors pos<20000");
    oh_begin(h);
    x = oh_input(h, HERD_TYPE_F32, 3, NE(88, 3, 33), 1.0f, NULL);
    for (int i = 0; i < 33; i++)
        pos[i] = 100 + i;
    oh_check(h, herd_rope(h->g, x, oh_ids(h, 33, pos), NULL, 64, 1e4f), 1e-5,
             "rope [88,3,33] n_dims 64");
    oh_begin(h);
    x = oh_input(h, HERD_TYPE_F32, 3, NE(88, 5, 7), 1.0f, NULL);
    int32_t p2[14];
    for (int t = 0; t < 7; t++) {
        p2[2 * t] = t == 6 ? 0 : 1 + (int32_t)(rng_next(h) % 24);
        p2[2 * t + 1] = t == 6 ? 0 : 1 + (int32_t)(rng_next(h) % 24);
    }
    const int64_t ne2[2] = { 2, 7 };
    herd_tensor *pt = oh_input(h, HERD_TYPE_I32, 2, ne2, 1.0f, p2);
    oh_check(h, herd_rope_2d(h->g, x, pt, 1e4f), 1e-5, "rope_2d [88,5,7]");
}

typedef struct attn_case {
    const char *name;
    int hd, Hq, Hkv, T, S;
    herd_type kv;
    int mask, chunk, n_kv, ring, tfloor;
    int p0; /* first query position (queries are p0 .. p0+T-1) */
} attn_case;

static void cases_attention(oh *h)
{
    static const attn_case cs[] = {
        { "attention none hd88 H5 T33 S40 n_kv 37", 88, 5, 5, 33, 40, HERD_TYPE_F32, 0, 0, 37, 0, 0,
          0 },
        { "attention none hd88 H16 T7 F16", 88, 16, 16, 7, 70, HERD_TYPE_F16, 0, 0, 70, 0, 0, 0 },
        { "attention causal GQA 5/1 hd64 T7 F16", 64, 5, 1, 7, 40, HERD_TYPE_F16, 1, 0, 0, 0, 0,
          20 },
        { "attention causal GQA 4/2 hd128 T1 decode", 128, 4, 2, 1, 300, HERD_TYPE_F16, 1, 0, 0, 0,
          0, 299 },
        { "attention causal T33 from 0 F32", 32, 6, 3, 33, 33, HERD_TYPE_F32, 1, 0, 0, 0, 0, 0 },
        { "attention chunked ring wrap, batch crosses", 128, 4, 2, 8, 20, HERD_TYPE_F16, 2, 16, 0,
          20, 0, 44 },
        { "attention chunked C8 ring 12 T9 F32", 40, 3, 1, 9, 12, HERD_TYPE_F32, 2, 8, 0, 12, 0,
          5 },
        { "attention causal temp floor 8 crossed", 64, 4, 2, 19, 32, HERD_TYPE_F16, 1, 0, 0, 0, 8,
          3 },
        { "attention causal ring 16 < pos (window)", 16, 2, 1, 5, 16, HERD_TYPE_F32, 1, 0, 0, 16, 0,
          30 },
        { "attention none hd88 H3 T70 (query blocks)", 88, 3, 3, 70, 70, HERD_TYPE_F32, 0, 0, 70, 0,
          0, 0 },
        { "attention chunked C32 ring 72 T41 wraps F16", 64, 4, 2, 41, 72, HERD_TYPE_F16, 2, 32, 0,
          72, 0, 50 },
        { "attention causal ring 40 T33 p 100 GQA 6/2", 48, 6, 2, 33, 40, HERD_TYPE_F32, 1, 0, 0,
          40, 0, 100 },
    };
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        const attn_case *a = &cs[i];
        oh_begin(h);
        herd_tensor *q = oh_input(h, HERD_TYPE_F32, 3, NE(a->hd, a->Hq, a->T), 1.0f, NULL);
        herd_tensor *k = oh_input(h, a->kv, 3, NE(a->hd, a->Hkv, a->S), 1.0f, NULL);
        herd_tensor *v = oh_input(h, a->kv, 3, NE(a->hd, a->Hkv, a->S), 1.0f, NULL);
        herd_tensor *qp = NULL;
        if (a->mask) {
            int32_t pos[128];
            for (int t = 0; t < a->T; t++)
                pos[t] = a->p0 + t;
            qp = oh_ids(h, a->T, pos);
        }
        herd_attn_params p = { .mask = a->mask,
                               .chunk = a->chunk,
                               .n_kv = a->n_kv,
                               .ring = a->ring,
                               .temp_floor = a->tfloor,
                               .temp_scale = 0.1f,
                               .scale = 1.0f / sqrtf((float)a->hd) * 2.0f };
        oh_check(h, herd_attention(h->g, q, k, v, qp, &p), 1e-5, a->name);
    }
}

static void cases_kv(oh *h)
{
    int32_t pos[7];
    for (int t = 0; t < 7; t++)
        pos[t] = 12 + t;
    for (int f16 = 0; f16 < 2; f16++) {
        oh_begin(h);
        herd_tensor *src = oh_input(h, HERD_TYPE_F32, 3, NE(64, 2, 7), 1.0f, NULL);
        herd_tensor *cache =
            oh_input(h, f16 ? HERD_TYPE_F16 : HERD_TYPE_F32, 3, NE(64, 2, 16), 1.0f, NULL);
        oh_check(h, herd_kv_store(h->g, src, cache, oh_ids(h, 7, pos), 16), 0,
                 f16 ? "kv_store F16 ring 16 wraps" : "kv_store F32 ring 16 wraps");
    }
    /* store then attend in one graph (the decoder's pattern) */
    oh_begin(h);
    herd_tensor *q = oh_input(h, HERD_TYPE_F32, 3, NE(32, 4, 3), 1.0f, NULL);
    herd_tensor *kn = oh_input(h, HERD_TYPE_F32, 3, NE(32, 2, 3), 1.0f, NULL);
    herd_tensor *vn = oh_input(h, HERD_TYPE_F32, 3, NE(32, 2, 3), 1.0f, NULL);
    herd_tensor *kc = oh_input(h, HERD_TYPE_F16, 3, NE(32, 2, 10), 1.0f, NULL);
    herd_tensor *vc = oh_input(h, HERD_TYPE_F16, 3, NE(32, 2, 10), 1.0f, NULL);
    int32_t p3[3] = { 8, 9, 10 };
    herd_tensor *pp = oh_ids(h, 3, p3);
    herd_tensor *ks = herd_kv_store(h->g, kn, kc, pp, 10);
    herd_tensor *vs = herd_kv_store(h->g, vn, vc, pp, 10);
    herd_attn_params p = { .mask = 2, .chunk = 8, .ring = 10, .scale = 0.3f };
    oh_check(h, herd_attention(h->g, q, ks, vs, pp, &p), 1e-5, "kv_store + attention chunked");
}

static void cases_eltwise(oh *h)
{
    static const int64_t bshapes[][4] = {
        { 33, 7, 3, 1 }, { 33, 1, 1, 1 }, { 1, 7, 3, 1 }, { 33, 7, 1, 1 }, { 1, 1, 1, 1 }
    };
    char name[96];
    for (int mul = 0; mul < 2; mul++)
        for (size_t i = 0; i < sizeof bshapes / sizeof bshapes[0]; i++) {
            oh_begin(h);
            herd_tensor *a = oh_input(h, HERD_TYPE_F32, 3, NE(33, 7, 3), 1.0f, NULL);
            herd_tensor *b = oh_input(h, HERD_TYPE_F32, 3, bshapes[i], 1.0f, NULL);
            snprintf(name, sizeof name, "%s [33,7,3] b[%lld,%lld,%lld]", mul ? "mul" : "add",
                     (long long)bshapes[i][0], (long long)bshapes[i][1], (long long)bshapes[i][2]);
            oh_check(h, mul ? herd_mul(h->g, a, b) : herd_add(h->g, a, b), 1e-6, name);
        }
    oh_begin(h);
    herd_tensor *x = oh_input(h, HERD_TYPE_F32, 2, NE(130, 7), 5.0f, NULL);
    oh_check(h, herd_scale(h->g, x, -0.37f), 1e-6, "scale [130,7]");
    oh_begin(h);
    x = oh_input(h, HERD_TYPE_F32, 2, NE(130, 7), 8.0f, NULL);
    oh_check(h, herd_silu(h->g, x), 1e-6, "silu [130,7]");
    oh_begin(h);
    x = oh_input(h, HERD_TYPE_F32, 2, NE(130, 7), 5.0f, NULL);
    oh_check(h, herd_gelu(h->g, x), 1e-6, "gelu (erf) [130,7]");
    oh_begin(h);
    x = oh_input(h, HERD_TYPE_F32, 2, NE(130, 7), 8.0f, NULL);
    oh_check(h, herd_sigmoid(h->g, x), 1e-6, "sigmoid [130,7]");
    /* wide ranges: exp over/underflow regions and erf tails */
    oh_begin(h);
    x = oh_input(h, HERD_TYPE_F32, 2, NE(257, 3), 120.0f, NULL);
    oh_check(h, herd_silu(h->g, x), 1e-6, "silu [257,3] |x| < 120");
    oh_begin(h);
    x = oh_input(h, HERD_TYPE_F32, 2, NE(257, 3), 120.0f, NULL);
    oh_check(h, herd_sigmoid(h->g, x), 1e-6, "sigmoid [257,3] |x| < 120");
    oh_begin(h);
    x = oh_input(h, HERD_TYPE_F32, 2, NE(257, 3), 14.0f, NULL);
    oh_check(h, herd_gelu(h->g, x), 1e-6, "gelu [257,3] |x| < 14");
    oh_begin(h);
    x = oh_input(h, HERD_TYPE_F32, 2, NE(130, 4), 1.0f, NULL);
    oh_check(h, herd_softmax(h->g, x, 60.0f), 1e-5, "softmax [130,4] scale 60 (peaked)");
    oh_begin(h);
    x = oh_input(h, HERD_TYPE_F32, 2, NE(88, 5), 6.0f, NULL);
    herd_tensor *y = oh_input(h, HERD_TYPE_F32, 2, NE(88, 5), 2.0f, NULL);
    oh_check(h, herd_swiglu(h->g, x, y), 1e-6, "swiglu [88,5]");
}

static void cases_router(oh *h)
{
    float lg[17 * 9];
    for (int i = 0; i < 17 * 9; i++)
        lg[i] = oh_randf(h);
    for (int t = 0; t < 9; t += 2) { /* ties: the lowest index must win */
        lg[t * 17 + 3] = 2.0f;
        lg[t * 17 + 11] = 2.0f;
    }
    oh_begin(h);
    herd_tensor *l = oh_input(h, HERD_TYPE_F32, 2, NE(17, 9), 1.0f, lg);
    oh_check(h, herd_argmax(h->g, l), 0, "argmax [17,9] with ties");
    oh_begin(h);
    l = oh_input(h, HERD_TYPE_F32, 2, NE(17, 9), 4.0f, NULL);
    int32_t ids[9];
    rand_ids(h, ids, 9, 0, 17);
    oh_check(h, herd_select_sigmoid(h->g, l, oh_ids(h, 9, ids)), 1e-6, "select_sigmoid [17,9]");
    /* the router chain: argmax -> select_sigmoid -> scale input -> mul_mat_id */
    oh_begin(h);
    herd_tensor *x = oh_input(h, HERD_TYPE_F32, 2, NE(64, 7), 1.0f, NULL);
    herd_tensor *wr = oh_weight(h, HERD_TYPE_F32, 2, NE(64, 4), 1.0f);
    herd_tensor *we = oh_weight(h, HERD_TYPE_F32, 3, NE(64, 19, 4), 1.0f);
    herd_tensor *logits = herd_mul_mat(h->g, wr, x);
    herd_tensor *sel = herd_argmax(h->g, logits);
    herd_tensor *gate = herd_select_sigmoid(h->g, logits, sel);
    herd_tensor *xs = herd_mul(h->g, x, gate);
    oh_check(h, herd_mul_mat_id(h->g, we, xs, sel), 1e-5, "router chain F32 (7 tokens)");
}

static void cases_copy(oh *h)
{
    oh_begin(h);
    herd_tensor *x = oh_input(h, HERD_TYPE_F32, 4, NE(6, 4, 3, 2), 1.0f, NULL);
    herd_tensor *p = herd_permute(h->g, x, 0, 2, 1, 3);
    oh_check(h, herd_cpy(h->g, p, HERD_TYPE_F32), 0, "cpy permute(0,2,1,3) F32");
    oh_begin(h);
    x = oh_input(h, HERD_TYPE_F32, 4, NE(6, 4, 3, 2), 1.0f, NULL);
    p = herd_permute(h->g, x, 2, 0, 3, 1);
    oh_check(h, herd_cpy(h->g, p, HERD_TYPE_F16), 1e-3, "cpy permute(2,0,3,1) -> F16");
    oh_begin(h);
    x = oh_input(h, HERD_TYPE_F16, 2, NE(33, 5), 1.0f, NULL);
    oh_check(h, herd_cpy(h->g, x, HERD_TYPE_F32), 0, "cpy F16 -> F32");
    oh_begin(h);
    x = oh_input(h, HERD_TYPE_BF16, 2, NE(33, 5), 3.0f, NULL);
    oh_check(h, herd_cpy(h->g, x, HERD_TYPE_F32), 0, "cpy BF16 -> F32");
    oh_begin(h);
    x = oh_input(h, HERD_TYPE_F32, 2, NE(33, 5), 3.0f, NULL);
    oh_check(h, herd_cpy(h->g, x, HERD_TYPE_BF16), 0, "cpy F32 -> BF16");
    oh_begin(h);
    x = oh_input(h, HERD_TYPE_F32, 2, NE(133, 5), 70000.0f, NULL); /* incl. F16 overflow */
    oh_check(h, herd_cpy(h->g, x, HERD_TYPE_F16), 0, "cpy F32 -> F16 (rounding, overflow)");
    /* pixel shuffle of a 4x4 grid of 6-dim patches: [C, 2, W/2, 2, H/2] view -> permute */
    oh_begin(h);
    x = oh_input(h, HERD_TYPE_F32, 2, NE(6, 16), 1.0f, NULL);
    herd_tensor *r = herd_reshape(h->g, x, 4, NE(12, 2, 2, 2)); /* [2C, W/2, 2, H/2] */
    p = herd_permute(h->g, r, 0, 2, 1, 3);
    herd_tensor *c = herd_cpy(h->g, p, HERD_TYPE_F32);
    oh_check(h, c, 0, "cpy pixel-shuffle-like reshape/permute");
    for (int d = 0; d < 3; d++) {
        char name[64];
        int64_t nb[3] = { 33, 5, 3 };
        nb[d] = d == 0 ? 7 : 2;
        oh_begin(h);
        herd_tensor *a = oh_input(h, HERD_TYPE_F32, 3, NE(33, 5, 3), 1.0f, NULL);
        herd_tensor *b = oh_input(h, HERD_TYPE_F32, 3, nb, 1.0f, NULL);
        snprintf(name, sizeof name, "concat dim %d", d);
        oh_check(h, herd_concat(h->g, a, b, d), 0, name);
    }
    /* a chain with reuse of the arena (planner) */
    oh_begin(h);
    x = oh_input(h, HERD_TYPE_F32, 2, NE(64, 9), 1.0f, NULL);
    herd_tensor *w1 = oh_weight(h, HERD_TYPE_Q8_0, 2, NE(64, 96), 0.2f);
    herd_tensor *w2 = oh_weight(h, HERD_TYPE_Q8_0, 2, NE(96, 64), 0.2f);
    herd_tensor *t = herd_rms_norm(h->g, x, NULL, 1e-5f);
    t = herd_silu(h->g, herd_mul_mat(h->g, w1, t));
    t = herd_mul_mat(h->g, w2, t);
    t = herd_add(h->g, t, x);
    t = herd_scale(h->g, herd_rms_norm(h->g, t, NULL, 1e-5f), 0.5f);
    oh_check(h, t, 2e-2, "chain rms_norm/mul_mat/silu/mul_mat/add");
}

int run_all_op_tests(herd_backend *be, herd_backend *be2, const char *label)
{
    oh h;
    oh_init(&h, be, be2, label, 12345);
    cases_rows(&h);
    cases_mul_mat(&h);
    cases_mul_mat_id(&h);
    cases_norm(&h);
    cases_rope(&h);
    cases_attention(&h);
    cases_kv(&h);
    cases_eltwise(&h);
    cases_router(&h);
    cases_copy(&h);
    printf("%s: %d cases, %d failed, %d skipped\n", label, h.n_run, h.n_fail, h.n_skip);
    printf("%s: worst error / tolerance per op:", label);
    for (int i = 0; i < HERD_OP_COUNT; i++)
        if (h.worst[i] > 0)
            printf(" %s %.2f", herd_op_name((herd_op)i), h.worst[i]);
    printf("\n");
    return h.n_fail;
}
