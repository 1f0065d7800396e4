/* cpu-backend.c: the CPU backend. Host buffers (large ones from anonymous mmap), weights read in
 * place from the mmap, one intermediate arena per backend (grown, never shrunk) plus a scratch
 * for converted activations and per-thread work buffers: nothing is allocated per call once the
 * largest graph has run.
 *
 * Scheduling without barriers: a graph is a sequence of steps (one phase of one node: most ops
 * have one phase; MUL_MAT converts activations, then multiplies; MUL_MAT_ID sorts columns by
 * expert in a one-chunk phase, converts, multiplies). A step's items are split into fixed chunks
 * claimed through one atomic word (step << 32 | chunks left); the thread that finishes the last
 * chunk publishes the next step (the `cur` futex word). Threads that find nothing to claim spin
 * briefly, then sleep on `cur`. So a step waits only for chunks in progress, never for a thread
 * the OS descheduled: that thread finds its step gone when it runs again and resumes at the
 * current one. The caller returns as soon as the last step is done; workers stay in their loop
 * (asleep when idle) until the backend is freed.
 *
 * MUL_MAT converts each activation column once into herd_vec_dot_type(w->type), then splits the
 * output rows: decode (1 column) through the 4-row kernels, prefill through 16-row x 64-column
 * tiles. MUL_MAT_ID groups the columns by expert (counting sort) and runs each used expert on its
 * columns only. The kernels get the same calls for the same rows whatever the thread count, so
 * results are bit-identical for any number of threads.
 *
 * ATTENTION: work items of up to ATT_QB queries x one KV head (its GQA group); K/V blocks never
 * cross the ring wrap; online softmax in F32. Two kernels: per query head with row dots (decode),
 * and on AVX-512 a tile kernel over a transposed K block for many query heads (prefill, vision).
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "../backend.h"
#include "../quant.h"
#include "threadpool.h"

/* ifunc resolvers run before the sanitizer runtimes are up: TSan crashes in them */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_THREAD__)
#define SIMD_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define SIMD_CLONES
#endif

#define ALIGN   64
#define MM_ROWS 16 /* weight rows per tile call (prefill) */
#define MM_COLS 64 /* activation columns per tile call */
#define ATT_KB  64 /* keys per attention block */
#define ATT_QB  32 /* queries per attention work item */

struct herd_buffer {
    void *base;
    size_t size;
    bool mapped; /* large buffers: anonymous mmap (zero pages, committed on first touch) */
};

#define BUF_MMAP_MIN ((size_t)1 << 20)

typedef struct cpu_ctx {
    pthread_mutex_t lock; /* one graph at a time (arena, scratch and pool are shared) */
    herd_threadpool *tp;
    int nth;
    char *arena;
    size_t arena_size;
    char *scratch; /* converted activations + MUL_MAT_ID bookkeeping */
    size_t scratch_size;
    float *wbuf; /* per-thread work buffers, wbuf_floats each */
    size_t wbuf_floats;
    /* run state */
    herd_graph *g;
    bool profile;
    atomic_int bad_index; /* an id/position out of range was seen */
    /* step scheduling (see graph_task): a step is one phase of one node, split into chunks */
    _Alignas(64) _Atomic uint64_t claim; /* step << 32 | chunks of it not yet claimed */
    _Alignas(64) atomic_int left;        /* chunks of the current step not yet finished */
    _Alignas(64) atomic_uint cur;        /* the current step (futex word) */
    atomic_int n_sleep;                  /* threads asleep on cur */
    atomic_uint finished;                /* serial of the last finished graph */
    atomic_bool quit;                    /* workers return (cpu_free) */
    unsigned serial;                     /* serial of the running graph */
    /* the current step, written by its publisher before claim and cur, read after a claim */
    int st_node, st_phase;
    int64_t st_items, st_ch, st_nchunks;
    uint64_t prof_t0;
    herd_op_profile prof;
    void (*attn_block)(const float *, const float *, size_t, const float *, size_t, int64_t,
                       int64_t, float *, float *, float *, float *);
    void (*f16_row)(const uint16_t *src, float *dst, int64_t n); /* F16C conversion */
    void (*f32_f16_row)(const float *src, uint16_t *dst, int64_t n);
    void (*attn_tile)(const float *, int64_t, const float *, const float *, size_t,
                      const uint16_t *, int64_t, float *, float *, float *); /* NULL: none */
} cpu_ctx;

static inline size_t align_up(size_t n, size_t a)
{
    return (n + a - 1) / a * a;
}

static void *aligned_alloc64(size_t n)
{
    void *p = NULL;
    if (posix_memalign(&p, ALIGN, align_up(n ? n : 1, ALIGN)))
        return NULL;
    return p;
}

static inline void *host(const herd_tensor *t)
{
    return herd_tensor_host(t);
}

/* Items per work chunk for `total` items: about total / (4 nth), so that a thread the OS delays
 * leaves its share to the others. Chunk boundaries depend only on the node and the pool size. */
static inline int64_t chunk_items(int64_t total, int nth)
{
    int64_t ch = total / ((int64_t)nth * 4);
    return ch < 1 ? 1 : ch;
}

/* ------------------------------------------------------------------------------------------ */
/* vector helpers (compiled for AVX-512 / AVX2 / baseline and picked at load time) */

SIMD_CLONES static float vec_sumsq(const float *x, int64_t n, float mean)
{
    float acc[16] = { 0 };
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++) {
            float d = x[i + j] - mean;
            acc[j] += d * d;
        }
    float s = 0;
    for (int j = 0; j < 16; j++)
        s += acc[j];
    for (; i < n; i++)
        s += (x[i] - mean) * (x[i] - mean);
    return s;
}

SIMD_CLONES static float vec_sum(const float *x, int64_t n)
{
    float acc[16] = { 0 };
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++)
            acc[j] += x[i + j];
    float s = 0;
    for (int j = 0; j < 16; j++)
        s += acc[j];
    for (; i < n; i++)
        s += x[i];
    return s;
}

SIMD_CLONES static void vec_norm_apply(float *y, const float *x, float mean, float inv,
                                       const float *w, const float *b, int64_t n)
{
    if (w && b)
        for (int64_t i = 0; i < n; i++)
            y[i] = (x[i] - mean) * inv * w[i] + b[i];
    else if (w)
        for (int64_t i = 0; i < n; i++)
            y[i] = (x[i] - mean) * inv * w[i];
    else if (b)
        for (int64_t i = 0; i < n; i++)
            y[i] = (x[i] - mean) * inv + b[i];
    else
        for (int64_t i = 0; i < n; i++)
            y[i] = (x[i] - mean) * inv;
}

SIMD_CLONES static void vec_binop(float *y, const float *a, const float *b, int64_t n, bool mul)
{
    if (mul)
        for (int64_t i = 0; i < n; i++)
            y[i] = a[i] * b[i];
    else
        for (int64_t i = 0; i < n; i++)
            y[i] = a[i] + b[i];
}

SIMD_CLONES static void vec_binop_scalar(float *y, const float *a, float b, int64_t n, bool mul)
{
    if (mul)
        for (int64_t i = 0; i < n; i++)
            y[i] = a[i] * b;
    else
        for (int64_t i = 0; i < n; i++)
            y[i] = a[i] + b;
}

/* expf for vectorized loops: Cody-Waite reduction + Cephes polynomial (max error ~2 ulp),
 * input clamped to [-87.3, 88.3] (results below 1.2e-38 are flushed to that) */
static inline float exp_vec(float x)
{
    x = x < -87.3f ? -87.3f : x;
    x = x > 88.3f ? 88.3f : x;
    /* round to nearest through the 1.5 * 2^23 trick (no libm call: keeps the loop vectorized) */
    const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    const uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* ------------------------------------------------------------------------------------------ */
/* ops */

static void op_get_rows(cpu_ctx *c, const herd_node *n, int ith, int64_t a, int64_t b)
{
    const herd_tensor *tab = n->src[0], *ids = n->src[1];
    const char *tb = host(tab);
    const int32_t *id = host(ids);
    char *ob = host(n->out);
    const int64_t D = tab->ne[0];
    for (int64_t i = a; i < b; i++) {
        float *dst = (float *)(ob + i * n->out->nb[1]);
        int32_t r = id[i];
        if (r < 0 || r >= tab->ne[1]) {
            memset(dst, 0, (size_t)D * sizeof(float));
            atomic_store(&c->bad_index, 1);
            continue;
        }
        const void *src = tb + (size_t)r * tab->nb[1];
        if (tab->type == HERD_TYPE_F32)
            memcpy(dst, src, (size_t)D * sizeof(float));
        else
            herd_dequantize_row(tab->type, src, dst, D);
    }
}

static void op_set_rows(cpu_ctx *c, const herd_node *n, int ith, int64_t a, int64_t b)
{
    const herd_tensor *dst = n->src[0], *rows = n->src[1], *idx = n->src[2];
    char *db = host(n->out);
    const char *rb = host(rows);
    const int32_t *id = host(idx);
    for (int64_t j = a; j < b; j++) {
        int32_t r = id[j];
        if (r < 0 || r >= dst->ne[1]) {
            atomic_store(&c->bad_index, 1);
            continue;
        }
        memcpy(db + (size_t)r * dst->nb[1], rb + (size_t)j * rows->nb[1],
               (size_t)dst->ne[0] * sizeof(float));
    }
}

/* activation conversion for a matmul: returns the row stride of the converted columns; x
 * columns (m, i2, i3) are converted to scratch slot slot_of(m) + batch * M (or used in place) */
static size_t mm_act_row_size(const herd_tensor *w, const herd_tensor *x)
{
    herd_type vt = herd_vec_dot_type(w->type);
    if (vt == HERD_TYPE_F32)
        return 0; /* used in place */
    return herd_row_size(vt, x->ne[0]);
}

static void convert_cols(const herd_tensor *w, const herd_tensor *x, char *dst, size_t rs,
                         int64_t a, int64_t b)
{
    herd_type vt = herd_vec_dot_type(w->type);
    const char *xb = host(x);
    const int64_t M = x->ne[1];
    for (int64_t c = a; c < b; c++) {
        int64_t m = c % M, bt = c / M, i2 = bt % x->ne[2], i3 = bt / x->ne[2];
        const float *src = (const float *)(xb + m * x->nb[1] + i2 * x->nb[2] + i3 * x->nb[3]);
        herd_quantize_row(vt, src, dst + (size_t)(bt * M + m) * rs, x->ne[0]);
    }
}

/* rows [r0, r1) of W (rows at w, stride ws) times columns [0, nc) of X (at xp, stride xs),
 * results to s[c * ss + r - r0]. */
static void mm_block(herd_type wt, int64_t K, int64_t r0, int64_t r1, int64_t nc, const char *w,
                     size_t ws, const char *xp, size_t xs, float *s, size_t ss)
{
    if (nc == 1) {
        herd_vec_dot_rows_fn rows = herd_get_vec_dot_rows(wt);
        if (rows) {
            for (int64_t r = r0; r < r1; r += HERD_VEC_DOT_MAX_NR) {
                int nr = (int)(r1 - r < HERD_VEC_DOT_MAX_NR ? r1 - r : HERD_VEC_DOT_MAX_NR);
                rows(K, nr, s + (r - r0), w + (size_t)r * ws, ws, xp);
            }
        } else {
            herd_vec_dot_fn dot = herd_get_vec_dot(wt);
            for (int64_t r = r0; r < r1; r++)
                dot(K, s + (r - r0), w + (size_t)r * ws, xp);
        }
        return;
    }
    herd_vec_dot_tile_fn tile = herd_get_vec_dot_tile(wt);
    for (int64_t c0 = 0; c0 < nc; c0 += MM_COLS) {
        int ncb = (int)(nc - c0 < MM_COLS ? nc - c0 : MM_COLS);
        if (tile) {
            tile(K, (int)(r1 - r0), ncb, s + (size_t)c0 * ss, ss, w + (size_t)r0 * ws, ws,
                 xp + (size_t)c0 * xs, xs);
        } else {
            herd_vec_dot_fn dot = herd_get_vec_dot(wt);
            for (int cc = 0; cc < ncb; cc++)
                for (int64_t r = r0; r < r1; r++)
                    dot(K, s + (size_t)(c0 + cc) * ss + (r - r0), w + (size_t)r * ws,
                        xp + (size_t)(c0 + cc) * xs);
        }
    }
}

/* rows per work chunk: decode (1 column) splits finer for balance, prefill uses a fixed size so
 * that the kernel calls do not depend on the thread count */
static int64_t mm_chunk(int64_t N, int64_t ncols, int nth)
{
    if (ncols > 1)
        return MM_ROWS;
    int64_t ch = N / ((int64_t)nth * 8);
    ch = (ch + HERD_VEC_DOT_MAX_NR - 1) / HERD_VEC_DOT_MAX_NR * HERD_VEC_DOT_MAX_NR;
    return ch < 16 ? 16 : ch;
}

/* phase 0: activation conversion (items = columns), phase 1: items = row chunks x batches */
static void op_mul_mat(cpu_ctx *c, const herd_node *n, int phase, int64_t a, int64_t b)
{
    const herd_tensor *w = n->src[0], *x = n->src[1], *out = n->out;
    const int64_t K = w->ne[0], N = w->ne[1], M = x->ne[1];
    const size_t rs = mm_act_row_size(w, x);
    if (phase == 0) {
        convert_cols(w, x, c->scratch, rs, a, b);
        return;
    }
    const char *wb = host(w), *xb = host(x);
    char *ob = host(out);
    const int64_t ch = mm_chunk(N, M, c->nth), nch = (N + ch - 1) / ch;
    for (int64_t it = a; it < b; it++) {
        int64_t bt = it / nch, r0 = it % nch * ch, r1 = r0 + ch < N ? r0 + ch : N;
        int64_t i2 = bt % x->ne[2], i3 = bt / x->ne[2];
        const char *wp =
            wb + (i2 / (x->ne[2] / w->ne[2])) * w->nb[2] + (i3 / (x->ne[3] / w->ne[3])) * w->nb[3];
        const char *xp;
        size_t xs;
        if (rs) {
            xp = c->scratch + (size_t)(bt * M) * rs;
            xs = rs;
        } else {
            xp = xb + i2 * x->nb[2] + i3 * x->nb[3];
            xs = x->nb[1];
        }
        float *s = (float *)(ob + i2 * out->nb[2] + i3 * out->nb[3]) + r0;
        mm_block(w->type, K, r0, r1, M, wp, w->nb[1], xp, xs, s, out->nb[1] / sizeof(float));
    }
}

/* MUL_MAT_ID bookkeeping in the scratch after the converted activations */
typedef struct mmid_info {
    int32_t *slot_of; /* [M] column m -> sorted slot */
    int32_t *col_of;  /* [M] sorted slot -> column m */
    int32_t *off;     /* [E + 1] first slot of each expert */
    int32_t *item0;   /* [E + 1] first work item of each expert */
} mmid_info;

static mmid_info mmid_layout(const cpu_ctx *c, const herd_node *n)
{
    const int64_t M = n->src[1]->ne[1], E = n->src[0]->ne[2];
    size_t rs = mm_act_row_size(n->src[0], n->src[1]);
    int32_t *p = (int32_t *)(c->scratch + align_up((size_t)M * rs, ALIGN));
    mmid_info mi = { p, p + M, p + 2 * M, p + 2 * M + E + 1 };
    return mi;
}

static size_t mmid_scratch(const herd_node *n)
{
    const int64_t M = n->src[1]->ne[1], E = n->src[0]->ne[2];
    return align_up((size_t)M * mm_act_row_size(n->src[0], n->src[1]), ALIGN) +
           (size_t)(2 * M + 2 * (E + 1)) * sizeof(int32_t);
}

/* phase 0 (one item): counting sort of the columns by expert; phase 1: activation conversion
 * (items = columns); phase 2: items = (used expert, row chunk) pairs */
static void op_mul_mat_id(cpu_ctx *c, const herd_node *n, int ith, int phase, int64_t a, int64_t b)
{
    const herd_tensor *w = n->src[0], *x = n->src[1], *out = n->out;
    const int64_t K = w->ne[0], N = w->ne[1], E = w->ne[2], M = x->ne[1];
    const int32_t *ids = host(n->src[2]);
    const size_t rs = mm_act_row_size(w, x);
    mmid_info mi = mmid_layout(c, n);
    const int64_t ch = mm_chunk(N, M > 1 ? 2 : 1, c->nth), nch = (N + ch - 1) / ch;
    char *ob = host(out);
    const size_t os = out->nb[1] / sizeof(float);
    if (phase == 0) {
        /* counting sort of the columns by expert; invalid ids get no slot (output zeroed) */
        for (int64_t e = 0; e <= E; e++)
            mi.off[e] = 0;
        for (int64_t m = 0; m < M; m++)
            if (ids[m] >= 0 && ids[m] < E)
                mi.off[ids[m] + 1]++;
        for (int64_t e = 0; e < E; e++)
            mi.off[e + 1] += mi.off[e];
        for (int64_t e = 0; e < E; e++) /* item0 as placement cursors first */
            mi.item0[e] = mi.off[e];
        for (int64_t m = 0; m < M; m++) {
            if (ids[m] < 0 || ids[m] >= E) {
                mi.slot_of[m] = -1;
                memset(ob + m * out->nb[1], 0, (size_t)N * sizeof(float));
                atomic_store(&c->bad_index, 1);
                continue;
            }
            int32_t s = mi.item0[ids[m]]++;
            mi.slot_of[m] = s;
            mi.col_of[s] = (int32_t)m;
        }
        mi.item0[0] = 0;
        for (int64_t e = 0; e < E; e++)
            mi.item0[e + 1] = mi.item0[e] + (mi.off[e + 1] > mi.off[e] ? (int32_t)nch : 0);
        return;
    }
    if (phase == 1) {
        const herd_type vt = herd_vec_dot_type(w->type);
        const char *xb = host(x);
        for (int64_t m = a; m < b; m++)
            if (mi.slot_of[m] >= 0)
                herd_quantize_row(vt, (const float *)(xb + m * x->nb[1]),
                                  c->scratch + (size_t)mi.slot_of[m] * rs, K);
        return;
    }
    float *tmp = c->wbuf + (size_t)ith * c->wbuf_floats;
    const char *wb = host(w), *xb = host(x);
    int64_t e = 0;
    for (int64_t it = a; it < b; it++) {
        while (mi.item0[e + 1] <= it)
            e++;
        int64_t r0 = (it - mi.item0[e]) * ch, r1 = r0 + ch < N ? r0 + ch : N;
        const int64_t s0 = mi.off[e], ncol = mi.off[e + 1] - s0;
        const char *wp = wb + e * w->nb[2];
        if (ncol == 1) {
            const int64_t m = mi.col_of[s0];
            const char *xp = rs ? c->scratch + (size_t)s0 * rs : xb + m * x->nb[1];
            mm_block(w->type, K, r0, r1, 1, wp, w->nb[1], xp, rs, (float *)ob + m * os + r0, os);
            continue;
        }
        for (int64_t c0 = 0; c0 < ncol; c0 += MM_COLS) {
            int64_t nc = ncol - c0 < MM_COLS ? ncol - c0 : MM_COLS;
            if (rs) {
                mm_block(w->type, K, r0, r1, nc, wp, w->nb[1], c->scratch + (size_t)(s0 + c0) * rs,
                         rs, tmp, MM_ROWS);
            } else {
                /* F32 weights: columns are not contiguous in x; one column at a time */
                for (int64_t cc = 0; cc < nc; cc++)
                    mm_block(w->type, K, r0, r1, 1, wp, w->nb[1],
                             xb + mi.col_of[s0 + c0 + cc] * x->nb[1], 0, tmp + cc * MM_ROWS,
                             MM_ROWS);
            }
            for (int64_t cc = 0; cc < nc; cc++) {
                float *o = (float *)ob + mi.col_of[s0 + c0 + cc] * os;
                memcpy(o + r0, tmp + cc * MM_ROWS, (size_t)(r1 - r0) * sizeof(float));
            }
        }
    }
}

static void op_norm(cpu_ctx *c, const herd_node *n, int ith, int64_t a, int64_t e)
{
    const herd_tensor *x = n->src[0], *out = n->out;
    const bool layer = n->op == HERD_OP_LAYER_NORM;
    const float *w = n->src[1] ? host(n->src[1]) : NULL;
    const float *b = layer && n->src[2] ? host(n->src[2]) : NULL;
    const char *xb = host(x);
    char *ob = host(out);
    const int64_t D = x->ne[0];
    for (int64_t r = a; r < e; r++) {
        int64_t i1 = r % x->ne[1], i2 = r / x->ne[1] % x->ne[2], i3 = r / x->ne[1] / x->ne[2];
        const float *xr = (const float *)(xb + i1 * x->nb[1] + i2 * x->nb[2] + i3 * x->nb[3]);
        float *y = (float *)(ob + i1 * out->nb[1] + i2 * out->nb[2] + i3 * out->nb[3]);
        float mean = layer ? vec_sum(xr, D) / (float)D : 0.0f;
        float var = vec_sumsq(xr, D, mean) / (float)D;
        float inv = 1.0f / sqrtf(var + n->fp[0]);
        vec_norm_apply(y, xr, mean, inv, w, b, D);
    }
}

static void op_rope(cpu_ctx *c, const herd_node *n, int ith, int64_t a, int64_t e)
{
    const herd_tensor *x = n->src[0], *out = n->out;
    const bool two = n->op == HERD_OP_ROPE_2D;
    const int32_t *pos = host(n->src[1]);
    const float *ff = !two && n->src[2] ? host(n->src[2]) : NULL;
    const int64_t hd = x->ne[0], H = x->ne[1];
    const int64_t npair = hd / 2, nrot = two ? npair : n->ip[0] / 2;
    const float theta = n->fp[0];
    float *freq = c->wbuf + (size_t)ith * c->wbuf_floats;
    float *cs = freq + npair, *sn = cs + npair;
    if (two) {
        const int64_t q = hd / 4;
        for (int64_t i = 0; i < npair; i++) {
            int64_t j = i < q ? i : i - q;
            freq[i] = powf(theta, -2.0f * (float)j / (float)npair);
        }
    } else {
        for (int64_t i = 0; i < nrot; i++)
            freq[i] = powf(theta, -2.0f * (float)i / (float)n->ip[0]);
    }
    const char *xb = host(x);
    char *ob = host(out);
    int64_t tcur = -1;
    for (int64_t r = a; r < e; r++) {
        int64_t t = r / H, h = r % H;
        if (t != tcur) {
            tcur = t;
            for (int64_t i = 0; i < nrot; i++) {
                float angle;
                if (two) {
                    angle = (float)pos[2 * t + (i < hd / 4 ? 0 : 1)] * freq[i];
                } else {
                    angle = (float)pos[t] * freq[i];
                    if (ff)
                        angle /= ff[i];
                }
                cs[i] = cosf(angle);
                sn[i] = sinf(angle);
            }
        }
        const float *xr = (const float *)(xb + h * x->nb[1] + t * x->nb[2]);
        float *y = (float *)(ob + h * out->nb[1] + t * out->nb[2]);
        for (int64_t i = 0; i < nrot; i++) {
            float x0 = xr[2 * i], x1 = xr[2 * i + 1];
            y[2 * i] = x0 * cs[i] - x1 * sn[i];
            y[2 * i + 1] = x0 * sn[i] + x1 * cs[i];
        }
        for (int64_t i = 2 * nrot; i < hd; i++)
            y[i] = xr[i];
    }
}

static size_t attn_wbuf_floats(const herd_node *n)
{
    const int64_t hd = n->src[0]->ne[0], G = n->src[0]->ne[1] / n->src[1]->ne[1];
    /* per query head of the block: q, acc [hd], m, l, lane mask; ranges; scores; K and V
     * blocks (+ one converted K row for the tile path) */
    return (size_t)(ATT_QB * G * (2 * hd + 3) + 4 * ATT_QB + ATT_KB + 2 * ATT_KB * hd + hd + 16);
}

/* rows s0 .. s0+cnt-1 (no ring wrap inside) of head g as F32 rows: in place for F32, else
 * converted into dst; returns the first row, *stride = floats between rows */
static const float *kv_rows(const cpu_ctx *c, const herd_tensor *t, const char *base, int64_t g,
                            int64_t slot0, int64_t cnt, float *dst, int64_t hd, size_t *stride)
{
    const char *src = base + g * t->nb[1] + slot0 * t->nb[2];
    if (t->type == HERD_TYPE_F32) {
        *stride = t->nb[2] / sizeof(float);
        return (const float *)src;
    }
    for (int64_t j = 0; j < cnt; j++)
        c->f16_row((const uint16_t *)(src + j * t->nb[2]), dst + j * hd, hd);
    *stride = (size_t)hd;
    return dst;
}

/* dot of two F32 rows: 16 partial sums, tree reduction (vectorizes without -ffast-math) */
static inline float dot16(const float *a, const float *b, int64_t n)
{
    float t[16] = { 0 };
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int u = 0; u < 16; u++)
            t[u] += a[i + u] * b[i + u];
    for (int u = 0; i + u < n; u++) /* tail (< 16) into the partial sums */
        t[u] += a[i + u] * b[i + u];
    for (int u = 0; u < 8; u++)
        t[u] += t[u + 8];
    for (int u = 0; u < 4; u++)
        t[u] += t[u + 4];
    return (t[0] + t[2]) + (t[1] + t[3]);
}

/* online softmax of one query head over cnt keys (rows kr, stride ks; V rows vr, stride vs):
 * scores, rescale, accumulate V four keys at a time */
static void attn_block_c(const float *q, const float *kr, size_t ks, const float *vr, size_t vs,
                         int64_t cnt, int64_t hd, float *acc, float *m, float *l, float *sc)
{
    float bm = *m;
    for (int64_t j = 0; j < cnt; j++) {
        sc[j] = dot16(q, kr + (size_t)j * ks, hd);
        bm = sc[j] > bm ? sc[j] : bm;
    }
    const float corr = expf(*m - bm); /* 0 while nothing was seen (m = -inf) */
    float lsum = *l * corr;
    for (int64_t j = 0; j < cnt; j++) /* vectorized exp, then the sum in order */
        sc[j] = exp_vec(sc[j] - bm);
    for (int64_t j = 0; j < cnt; j++)
        lsum += sc[j];
    for (int64_t i = 0; i < hd; i++)
        acc[i] *= corr;
    int64_t j = 0;
    for (; j + 4 <= cnt; j += 4) {
        const float p0 = sc[j], p1 = sc[j + 1], p2 = sc[j + 2], p3 = sc[j + 3];
        const float *v0 = vr + (size_t)j * vs, *v1 = v0 + vs, *v2 = v1 + vs, *v3 = v2 + vs;
        for (int64_t i = 0; i < hd; i++)
            acc[i] += (p0 * v0[i] + p1 * v1[i]) + (p2 * v2[i] + p3 * v3[i]);
    }
    for (; j < cnt; j++) {
        const float p = sc[j], *vj = vr + (size_t)j * vs;
        for (int64_t i = 0; i < hd; i++)
            acc[i] += p * vj[i];
    }
    *m = bm;
    *l = lsum;
}

typedef void (*attn_block_fn)(const float *q, const float *kr, size_t ks, const float *vr,
                              size_t vs, int64_t cnt, int64_t hd, float *acc, float *m, float *l,
                              float *sc);

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* the same with AVX-512 / AVX2 intrinsics: 4 keys per pass, FMA */
__attribute__((target("avx512f"))) static void
attn_block_avx512(const float *q, const float *kr, size_t ks, const float *vr, size_t vs,
                  int64_t cnt, int64_t hd, float *acc, float *m, float *l, float *sc)
{
    const __mmask16 mk = (__mmask16)((1u << (hd % 16)) - 1);
    const int64_t hv = hd / 16 * 16;
    float bm = *m;
    int64_t j = 0;
    for (; j + 4 <= cnt; j += 4) {
        const float *k0 = kr + (size_t)j * ks, *k1 = k0 + ks, *k2 = k1 + ks, *k3 = k2 + ks;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int64_t i = 0; i < hv; i += 16) {
            const __m512 qv = _mm512_loadu_ps(q + i);
            a0 = _mm512_fmadd_ps(qv, _mm512_loadu_ps(k0 + i), a0);
            a1 = _mm512_fmadd_ps(qv, _mm512_loadu_ps(k1 + i), a1);
            a2 = _mm512_fmadd_ps(qv, _mm512_loadu_ps(k2 + i), a2);
            a3 = _mm512_fmadd_ps(qv, _mm512_loadu_ps(k3 + i), a3);
        }
        if (mk) {
            const __m512 qv = _mm512_maskz_loadu_ps(mk, q + hv);
            a0 = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(mk, k0 + hv), a0);
            a1 = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(mk, k1 + hv), a1);
            a2 = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(mk, k2 + hv), a2);
            a3 = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(mk, k3 + hv), a3);
        }
        sc[j] = _mm512_reduce_add_ps(a0);
        sc[j + 1] = _mm512_reduce_add_ps(a1);
        sc[j + 2] = _mm512_reduce_add_ps(a2);
        sc[j + 3] = _mm512_reduce_add_ps(a3);
    }
    for (; j < cnt; j++) {
        const float *k0 = kr + (size_t)j * ks;
        __m512 a0 = _mm512_setzero_ps();
        for (int64_t i = 0; i < hv; i += 16)
            a0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), _mm512_loadu_ps(k0 + i), a0);
        if (mk)
            a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, q + hv),
                                 _mm512_maskz_loadu_ps(mk, k0 + hv), a0);
        sc[j] = _mm512_reduce_add_ps(a0);
    }
    for (j = 0; j < cnt; j++)
        bm = sc[j] > bm ? sc[j] : bm;
    const float corr = expf(*m - bm);
    float lsum = *l * corr;
    for (j = 0; j < cnt; j++) /* vectorized exp, then the sum in order */
        sc[j] = exp_vec(sc[j] - bm);
    for (j = 0; j < cnt; j++)
        lsum += sc[j];
    for (int64_t i = 0; i < hd; i += 16) {
        const __mmask16 mm = i + 16 <= hd ? (__mmask16)0xffff : mk;
        __m512 a = _mm512_mul_ps(_mm512_maskz_loadu_ps(mm, acc + i), _mm512_set1_ps(corr));
        for (j = 0; j + 4 <= cnt; j += 4) {
            const float *v0 = vr + (size_t)j * vs + i;
            a = _mm512_fmadd_ps(_mm512_set1_ps(sc[j]), _mm512_maskz_loadu_ps(mm, v0), a);
            a = _mm512_fmadd_ps(_mm512_set1_ps(sc[j + 1]), _mm512_maskz_loadu_ps(mm, v0 + vs), a);
            a = _mm512_fmadd_ps(_mm512_set1_ps(sc[j + 2]), _mm512_maskz_loadu_ps(mm, v0 + 2 * vs),
                                a);
            a = _mm512_fmadd_ps(_mm512_set1_ps(sc[j + 3]), _mm512_maskz_loadu_ps(mm, v0 + 3 * vs),
                                a);
        }
        for (; j < cnt; j++)
            a = _mm512_fmadd_ps(_mm512_set1_ps(sc[j]),
                                _mm512_maskz_loadu_ps(mm, vr + (size_t)j * vs + i), a);
        _mm512_mask_storeu_ps(acc + i, mm, a);
    }
    *m = bm;
    *l = lsum;
}

/* Tile of nr query heads x 16 keys (K block transposed, kT[i * 16 + k]): scores as 16-lane
 * vectors (4 heads at a time, no horizontal sums), online softmax per head over the lanes set in
 * valid[r], V accumulated from the valid lanes. For prefill / vision (many query heads). */
__attribute__((target("avx512f"))) static void
attn_tile_avx512(const float *qs, int64_t nr, const float *kT, const float *vr, size_t vs,
                 const uint16_t *valid, int64_t hd, float *acc, float *m, float *l)
{
    const __mmask16 mk = (__mmask16)((1u << (hd % 16)) - 1);
    for (int64_t r0 = 0; r0 < nr; r0 += 4) {
        const float *q0 = qs + r0 * hd;
        const float *q1 = qs + (r0 + 1 < nr ? r0 + 1 : r0) * hd;
        const float *q2 = qs + (r0 + 2 < nr ? r0 + 2 : r0) * hd;
        const float *q3 = qs + (r0 + 3 < nr ? r0 + 3 : r0) * hd;
        __m512 sv[4] = { _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                         _mm512_setzero_ps() };
        for (int64_t i = 0; i < hd; i++) {
            const __m512 kv = _mm512_loadu_ps(kT + i * 16);
            sv[0] = _mm512_fmadd_ps(_mm512_set1_ps(q0[i]), kv, sv[0]);
            sv[1] = _mm512_fmadd_ps(_mm512_set1_ps(q1[i]), kv, sv[1]);
            sv[2] = _mm512_fmadd_ps(_mm512_set1_ps(q2[i]), kv, sv[2]);
            sv[3] = _mm512_fmadd_ps(_mm512_set1_ps(q3[i]), kv, sv[3]);
        }
        for (int64_t rr = 0; rr < 4 && r0 + rr < nr; rr++) {
            const int64_t r = r0 + rr;
            const __mmask16 vm = (__mmask16)valid[r];
            if (!vm)
                continue;
            const __m512 sc = _mm512_mask_blend_ps(vm, _mm512_set1_ps(-INFINITY), sv[rr]);
            float bm = _mm512_reduce_max_ps(sc);
            bm = m[r] > bm ? m[r] : bm;
            const float corr = expf(m[r] - bm); /* 0 while nothing was seen */
            float pt[16];
            _mm512_storeu_ps(pt, _mm512_sub_ps(sc, _mm512_set1_ps(bm)));
            for (int u = 0; u < 16; u++)
                pt[u] = exp_vec(pt[u]);
            const __m512 p = _mm512_maskz_loadu_ps(vm, pt);
            _mm512_storeu_ps(pt, p);
            l[r] = l[r] * corr + _mm512_reduce_add_ps(p);
            m[r] = bm;
            float *ar = acc + r * hd;
            for (int64_t i = 0; i < hd; i += 16) {
                const __mmask16 mm = i + 16 <= hd ? (__mmask16)0xffff : mk;
                __m512 a = _mm512_mul_ps(_mm512_maskz_loadu_ps(mm, ar + i), _mm512_set1_ps(corr));
                for (unsigned bits = vm; bits; bits &= bits - 1) {
                    const int u = __builtin_ctz(bits);
                    a = _mm512_fmadd_ps(_mm512_set1_ps(pt[u]),
                                        _mm512_maskz_loadu_ps(mm, vr + (size_t)u * vs + i), a);
                }
                _mm512_mask_storeu_ps(ar + i, mm, a);
            }
        }
    }
}

__attribute__((target("avx2,fma"))) static inline float hsum256(__m256 v)
{
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
}

__attribute__((target("avx2,fma"))) static void
attn_block_avx2(const float *q, const float *kr, size_t ks, const float *vr, size_t vs, int64_t cnt,
                int64_t hd, float *acc, float *m, float *l, float *sc)
{
    const int64_t hv = hd / 8 * 8;
    float bm = *m;
    for (int64_t j = 0; j < cnt; j++) {
        const float *k0 = kr + (size_t)j * ks;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0;
        int64_t i = 0;
        for (; i + 16 <= hv; i += 16) {
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(k0 + i), a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), _mm256_loadu_ps(k0 + i + 8), a1);
        }
        for (; i < hv; i += 8)
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(k0 + i), a0);
        float d = hsum256(_mm256_add_ps(a0, a1));
        for (; i < hd; i++)
            d += q[i] * k0[i];
        sc[j] = d;
        bm = d > bm ? d : bm;
    }
    const float corr = expf(*m - bm);
    float lsum = *l * corr;
    for (int64_t j = 0; j < cnt; j++) /* vectorized exp, then the sum in order */
        sc[j] = exp_vec(sc[j] - bm);
    for (int64_t j = 0; j < cnt; j++)
        lsum += sc[j];
    int64_t i = 0;
    for (; i < hv; i += 8) {
        __m256 a = _mm256_mul_ps(_mm256_loadu_ps(acc + i), _mm256_set1_ps(corr));
        for (int64_t j = 0; j < cnt; j++)
            a = _mm256_fmadd_ps(_mm256_set1_ps(sc[j]), _mm256_loadu_ps(vr + (size_t)j * vs + i), a);
        _mm256_storeu_ps(acc + i, a);
    }
    for (; i < hd; i++) {
        float a = acc[i] * corr;
        for (int64_t j = 0; j < cnt; j++)
            a += sc[j] * vr[(size_t)j * vs + i];
        acc[i] = a;
    }
    *m = bm;
    *l = lsum;
}

__attribute__((target("avx512f"))) static void f16_row_avx512(const uint16_t *src, float *dst,
                                                              int64_t n)
{
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(src + i))));
    for (; i < n; i++)
        dst[i] = herd_f16_to_f32(src[i]);
}

__attribute__((target("avx2,f16c"))) static void f16_row_avx2(const uint16_t *src, float *dst,
                                                              int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
    for (; i < n; i++)
        dst[i] = herd_f16_to_f32(src[i]);
}

__attribute__((target("avx512f"))) static void f32_f16_row_avx512(const float *src, uint16_t *dst,
                                                                  int64_t n)
{
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(dst + i),
                            _mm512_cvtps_ph(_mm512_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        dst[i] = herd_f32_to_f16(src[i]);
}

__attribute__((target("avx2,f16c"))) static void f32_f16_row_avx2(const float *src, uint16_t *dst,
                                                                  int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        dst[i] = herd_f32_to_f16(src[i]);
}
#endif

typedef void (*f32_f16_row_fn)(const float *src, uint16_t *dst, int64_t n);

static f32_f16_row_fn pick_f32_f16_row(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    const char *isa = getenv("HERD_CPU_ISA");
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && (!isa || !strcmp(isa, "avx512")))
        return f32_f16_row_avx512;
    if (__builtin_cpu_supports("avx2") && (!isa || strcmp(isa, "ref") != 0))
        return f32_f16_row_avx2;
#endif
    return herd_f32_to_f16_row;
}

typedef void (*f16_row_fn)(const uint16_t *src, float *dst, int64_t n);

static f16_row_fn pick_f16_row(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    const char *isa = getenv("HERD_CPU_ISA");
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && (!isa || !strcmp(isa, "avx512")))
        return f16_row_avx512;
    /* every AVX2 CPU has F16C (and clang's builtin does not know "f16c") */
    if (__builtin_cpu_supports("avx2") && (!isa || strcmp(isa, "ref") != 0))
        return f16_row_avx2;
#endif
    return herd_f16_to_f32_row;
}

typedef void (*attn_tile_fn)(const float *qs, int64_t nr, const float *kT, const float *vr,
                             size_t vs, const uint16_t *valid, int64_t hd, float *acc, float *m,
                             float *l);

static attn_tile_fn pick_attn_tile(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    const char *isa = getenv("HERD_CPU_ISA");
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && (!isa || !strcmp(isa, "avx512")))
        return attn_tile_avx512;
#endif
    return NULL;
}

static attn_block_fn pick_attn_block(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    const char *isa = getenv("HERD_CPU_ISA"); /* same cap as the matmul kernels (quant.h) */
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && (!isa || !strcmp(isa, "avx512")))
        return attn_block_avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
        (!isa || strcmp(isa, "ref") != 0))
        return attn_block_avx2;
#endif
    return attn_block_c;
}

/* K rows slot0 .. slot0+cnt-1 (cnt <= 16) of head g transposed: kT[i * 16 + j], lanes >= cnt 0 */
static void k_block_t16(const cpu_ctx *c, const herd_tensor *t, const char *base, int64_t g,
                        int64_t slot0, int64_t cnt, float *kT, float *tmp, int64_t hd)
{
    const char *src = base + g * t->nb[1] + slot0 * t->nb[2];
    for (int64_t j = 0; j < cnt; j++) {
        const float *row = (const float *)(src + j * t->nb[2]);
        if (t->type == HERD_TYPE_F16) {
            c->f16_row((const uint16_t *)(src + j * t->nb[2]), tmp, hd);
            row = tmp;
        }
        for (int64_t i = 0; i < hd; i++)
            kT[i * 16 + j] = row[i];
    }
    for (int64_t j = cnt; j < 16; j++)
        for (int64_t i = 0; i < hd; i++)
            kT[i * 16 + j] = 0;
}

/* One work item = a block of up to ATT_QB consecutive queries x one KV head (its GQA group of
 * G query heads), so each K/V block is loaded (converted) once for ATT_QB * G query heads.
 * Online softmax per query head in F32. */
static void op_attention(cpu_ctx *c, const herd_node *n, int ith, int64_t i0, int64_t i1)
{
    const herd_tensor *q = n->src[0], *k = n->src[1], *v = n->src[2], *out = n->out;
    const int64_t hd = q->ne[0], Hq = q->ne[1], T = q->ne[2], Hkv = k->ne[1];
    const int64_t G = Hq / Hkv;
    const int mask = n->ip[0], C = n->ip[1], nkv = n->ip[2];
    const int64_t R = n->ip[3] > 0 ? n->ip[3] : k->ne[2];
    const int32_t *qpos = n->src[3] ? host(n->src[3]) : NULL;
    const char *qb = host(q), *kb = host(k), *vb = host(v);
    char *ob = host(out);
    float *qs = c->wbuf + (size_t)ith * c->wbuf_floats;      /* [QB][G][hd] */
    float *acc = qs + ATT_QB * G * hd;                       /* [QB][G][hd] */
    float *mx = acc + ATT_QB * G * hd, *l = mx + ATT_QB * G; /* [QB][G] */
    int64_t *rng = (int64_t *)(l + ATT_QB * G);              /* [QB][2] lo, hi */
    float *sc = (float *)(rng + 2 * ATT_QB);                 /* [KB] */
    uint16_t *valid = (uint16_t *)(sc + ATT_KB);             /* [QB][G] lane masks (tile path) */
    float *kbuf = sc + ATT_KB + ATT_QB * G, *vbuf = kbuf + ATT_KB * hd;

    for (int64_t it = i0; it < i1; it++) {
        const int64_t t0 = it / Hkv * ATT_QB, gk = it % Hkv;
        const int64_t nq = T - t0 < ATT_QB ? T - t0 : ATT_QB;
        int64_t all_lo = INT64_MAX, all_hi = -1;
        const bool tile = c->attn_tile && nq * G >= 8; /* enough query heads to share K^T */
        for (int64_t tq = 0; tq < nq; tq++) {
            const int64_t t = t0 + tq, p = qpos ? qpos[t] : 0;
            int64_t lo = 0, hi;
            if (mask == 0) {
                hi = nkv - 1;
            } else {
                hi = p;
                if (mask == 2 && C > 0)
                    lo = p / C * C;
                if (p - R + 1 > lo)
                    lo = p - R + 1;
            }
            rng[2 * tq] = lo;
            rng[2 * tq + 1] = hi;
            if (lo <= hi) {
                all_lo = lo < all_lo ? lo : all_lo;
                all_hi = hi > all_hi ? hi : all_hi;
            }
            float scale = n->fp[0];
            if (n->ip[4] > 0)
                scale *= 1.0f + n->fp[1] * logf(floorf((float)(p + 1) / (float)n->ip[4]) + 1.0f);
            for (int64_t g = 0; g < G; g++) {
                const float *qr = (const float *)(qb + (gk * G + g) * q->nb[1] + t * q->nb[2]);
                float *qd = qs + (tq * G + g) * hd, *ad = acc + (tq * G + g) * hd;
                for (int64_t i = 0; i < hd; i++) {
                    qd[i] = qr[i] * scale;
                    ad[i] = 0;
                }
                mx[tq * G + g] = -INFINITY;
                l[tq * G + g] = 0;
            }
        }
        for (int64_t s0 = all_lo; tile && s0 <= all_hi;) {
            const int64_t slot0 = s0 % R;
            int64_t cnt = all_hi - s0 + 1 < 16 ? all_hi - s0 + 1 : 16;
            if (cnt > R - slot0)
                cnt = R - slot0;
            size_t vs;
            k_block_t16(c, k, kb, gk, slot0, cnt, kbuf, vbuf + 16 * hd, hd);
            const float *vr = kv_rows(c, v, vb, gk, slot0, cnt, vbuf, hd, &vs);
            for (int64_t tq = 0; tq < nq; tq++) {
                int64_t a = rng[2 * tq] > s0 ? rng[2 * tq] : s0;
                int64_t b = rng[2 * tq + 1] < s0 + cnt - 1 ? rng[2 * tq + 1] : s0 + cnt - 1;
                uint16_t vm = 0;
                if (a <= b)
                    vm = (uint16_t)(((1u << (b - s0 + 1)) - 1) & ~((1u << (a - s0)) - 1));
                for (int64_t g = 0; g < G; g++)
                    valid[tq * G + g] = vm;
            }
            c->attn_tile(qs, nq * G, kbuf, vr, vs, valid, hd, acc, mx, l);
            s0 += cnt;
        }
        for (int64_t s0 = all_lo; !tile && s0 <= all_hi;) {
            const int64_t slot0 = s0 % R;
            int64_t cnt = all_hi - s0 + 1 < ATT_KB ? all_hi - s0 + 1 : ATT_KB;
            if (cnt > R - slot0)
                cnt = R - slot0; /* blocks never wrap around the ring */
            size_t ks, vs;
            const float *kr = kv_rows(c, k, kb, gk, slot0, cnt, kbuf, hd, &ks);
            const float *vr = kv_rows(c, v, vb, gk, slot0, cnt, vbuf, hd, &vs);
            for (int64_t tq = 0; tq < nq; tq++) {
                int64_t a = rng[2 * tq] > s0 ? rng[2 * tq] : s0;
                int64_t b = rng[2 * tq + 1] < s0 + cnt - 1 ? rng[2 * tq + 1] : s0 + cnt - 1;
                if (a > b)
                    continue;
                for (int64_t g = 0; g < G; g++) {
                    const int64_t hq = tq * G + g;
                    c->attn_block(qs + hq * hd, kr + (size_t)(a - s0) * ks, ks,
                                  vr + (size_t)(a - s0) * vs, vs, b - a + 1, hd, acc + hq * hd,
                                  &mx[hq], &l[hq], sc);
                }
            }
            s0 += cnt;
        }
        for (int64_t tq = 0; tq < nq; tq++)
            for (int64_t g = 0; g < G; g++) {
                const int64_t hq = tq * G + g;
                float *y = (float *)(ob + (gk * G + g) * out->nb[1] + (t0 + tq) * out->nb[2]);
                const float inv = l[hq] > 0 ? 1.0f / l[hq] : 0.0f;
                for (int64_t i = 0; i < hd; i++)
                    y[i] = acc[hq * hd + i] * inv;
            }
    }
}

static void op_kv_store(cpu_ctx *c, const herd_node *n, int64_t a, int64_t b)
{
    const herd_tensor *src = n->src[0], *cache = n->src[1];
    const int32_t *pos = host(n->src[2]);
    const int64_t hd = src->ne[0], H = src->ne[1];
    const int R = n->ip[0] > 0 ? n->ip[0] : (int)cache->ne[2];
    const char *sb = host(src);
    char *cb = host(n->out);
    for (int64_t r = a; r < b; r++) {
        int64_t t = r / H, h = r % H;
        if (pos[t] < 0) {
            atomic_store(&c->bad_index, 1);
            continue;
        }
        const float *x = (const float *)(sb + h * src->nb[1] + t * src->nb[2]);
        char *d = cb + h * cache->nb[1] + (pos[t] % R) * cache->nb[2];
        if (cache->type == HERD_TYPE_F16)
            c->f32_f16_row(x, (uint16_t *)d, hd);
        else
            memcpy(d, x, (size_t)hd * sizeof(float));
    }
}

/* exact-erf GELU, x * (1 - erfc(x / sqrt 2) / 2), erfc by the Chebyshev fit of Numerical
 * Recipes (fractional error < 1.2e-7), written without cancellation for x < 0 */
static inline float gelu_vec(float x)
{
    const float z = fabsf(x) * 0.70710678118654752f;
    const float t = 1.0f / (1.0f + 0.5f * z);
    float p = 0.17087277f;
    p = p * t - 0.82215223f;
    p = p * t + 1.48851587f;
    p = p * t - 1.13520398f;
    p = p * t + 0.27886807f;
    p = p * t - 0.18628806f;
    p = p * t + 0.09678418f;
    p = p * t + 0.37409196f;
    p = p * t + 1.00002368f;
    p = p * t - 1.26551223f;
    const float erfc_z = t * exp_vec(p - z * z); /* erfc(|x| / sqrt 2) */
    return x >= 0 ? x * (1.0f - 0.5f * erfc_z) : 0.5f * x * erfc_z;
}

SIMD_CLONES static void unary_row(herd_op op, float *y, const float *x, const float *b, int64_t n,
                                  float s)
{
    switch (op) {
    case HERD_OP_SCALE:
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] * s;
        break;
    case HERD_OP_SILU:
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] / (1.0f + exp_vec(-x[i]));
        break;
    case HERD_OP_SWIGLU:
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] / (1.0f + exp_vec(-x[i])) * b[i];
        break;
    case HERD_OP_SIGMOID:
        for (int64_t i = 0; i < n; i++)
            y[i] = 1.0f / (1.0f + exp_vec(-x[i]));
        break;
    case HERD_OP_GELU:
        for (int64_t i = 0; i < n; i++)
            y[i] = gelu_vec(x[i]);
        break;
    default:
        break;
    }
}

/* softmax row: y = exp(x * sc - max) / sum */
SIMD_CLONES static void softmax_row(float *y, const float *x, int64_t n, float sc)
{
    float m = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        m = x[i] * sc > m ? x[i] * sc : m;
    float acc[16] = { 0 };
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int u = 0; u < 16; u++) {
            y[i + u] = exp_vec(x[i + u] * sc - m);
            acc[u] += y[i + u];
        }
    float sum = 0;
    for (int u = 0; u < 16; u++)
        sum += acc[u];
    for (; i < n; i++) {
        y[i] = exp_vec(x[i] * sc - m);
        sum += y[i];
    }
    const float inv = 1.0f / sum;
    for (i = 0; i < n; i++)
        y[i] *= inv;
}

static void op_softmax(cpu_ctx *c, const herd_node *n, int ith, int64_t a, int64_t b)
{
    const herd_tensor *x = n->src[0], *out = n->out;
    const int64_t D = x->ne[0];
    const float sc = n->fp[0];
    const char *xb = host(x);
    char *ob = host(out);
    for (int64_t r = a; r < b; r++) {
        const float *xr = (const float *)(xb + r * x->nb[1]);
        float *y = (float *)(ob + r * out->nb[1]);
        softmax_row(y, xr, D, sc);
    }
}

/* contiguous rows of a (with strides), out contiguous */
static void op_eltwise(cpu_ctx *c, const herd_node *n, int ith, int64_t r0, int64_t r1)
{
    const herd_tensor *a = n->src[0], *b = n->src[1], *out = n->out;
    const int64_t D = a->ne[0];
    const char *ab = host(a), *bb = b ? host(b) : NULL;
    char *ob = host(out);
    for (int64_t r = r0; r < r1; r++) {
        int64_t i1 = r % a->ne[1], i2 = r / a->ne[1] % a->ne[2], i3 = r / a->ne[1] / a->ne[2];
        const float *x = (const float *)(ab + i1 * a->nb[1] + i2 * a->nb[2] + i3 * a->nb[3]);
        float *y = (float *)(ob + i1 * out->nb[1] + i2 * out->nb[2] + i3 * out->nb[3]);
        switch (n->op) {
        case HERD_OP_ADD:
        case HERD_OP_MUL: {
            const float *br =
                (const float *)(bb + (i1 % b->ne[1]) * b->nb[1] + (i2 % b->ne[2]) * b->nb[2] +
                                (i3 % b->ne[3]) * b->nb[3]);
            if (b->ne[0] == 1)
                vec_binop_scalar(y, x, br[0], D, n->op == HERD_OP_MUL);
            else
                vec_binop(y, x, br, D, n->op == HERD_OP_MUL);
            break;
        }
        case HERD_OP_SWIGLU: {
            const float *br = (const float *)(bb + i1 * b->nb[1] + i2 * b->nb[2] + i3 * b->nb[3]);
            unary_row(n->op, y, x, br, D, 0.0f);
            break;
        }
        default:
            unary_row(n->op, y, x, NULL, D, n->fp[0]);
            break;
        }
    }
}

static void op_argmax(cpu_ctx *c, const herd_node *n, int ith, int64_t a, int64_t b)
{
    const herd_tensor *x = n->src[0];
    const char *xb = host(x);
    int32_t *o = host(n->out);
    for (int64_t t = a; t < b; t++) {
        const float *r = (const float *)(xb + t * x->nb[1]);
        int64_t best = 0;
        for (int64_t e = 1; e < x->ne[0]; e++)
            if (r[e] > r[best])
                best = e;
        o[t] = (int32_t)best;
    }
}

static void op_select_sigmoid(cpu_ctx *c, const herd_node *n, int ith, int64_t a, int64_t b)
{
    const herd_tensor *x = n->src[0];
    const char *xb = host(x);
    const int32_t *ids = host(n->src[1]);
    float *o = host(n->out);
    for (int64_t t = a; t < b; t++) {
        int32_t e = ids[t];
        if (e < 0 || e >= x->ne[0]) {
            o[t] = 0;
            atomic_store(&c->bad_index, 1);
            continue;
        }
        o[t] = 1.0f / (1.0f + expf(-((const float *)(xb + t * x->nb[1]))[e]));
    }
}

static inline float load_f(herd_type t, const char *p)
{
    switch (t) {
    case HERD_TYPE_F16:
        return herd_f16_to_f32(*(const uint16_t *)p);
    case HERD_TYPE_BF16:
        return herd_bf16_to_f32(*(const uint16_t *)p);
    default:
        return *(const float *)p;
    }
}

static inline void store_f(herd_type t, char *p, float v)
{
    switch (t) {
    case HERD_TYPE_F16:
        *(uint16_t *)p = herd_f32_to_f16(v);
        break;
    case HERD_TYPE_BF16:
        *(uint16_t *)p = herd_f32_to_bf16(v);
        break;
    default:
        *(float *)p = v;
        break;
    }
}

static void op_cpy(cpu_ctx *c, const herd_node *n, int ith, int64_t a, int64_t b)
{
    const herd_tensor *x = n->src[0], *out = n->out;
    const char *xb = host(x);
    char *ob = host(out);
    const int64_t D = x->ne[0];
    const size_t xe = herd_type_get(x->type)->bytes, oe = herd_type_get(out->type)->bytes;
    for (int64_t r = a; r < b; r++) {
        int64_t i1 = r % x->ne[1], i2 = r / x->ne[1] % x->ne[2], i3 = r / x->ne[1] / x->ne[2];
        const char *xr = xb + i1 * x->nb[1] + i2 * x->nb[2] + i3 * x->nb[3];
        char *y = ob + i1 * out->nb[1] + i2 * out->nb[2] + i3 * out->nb[3];
        if (x->type == out->type && x->nb[0] == xe) {
            memcpy(y, xr, (size_t)D * xe);
        } else if (x->nb[0] == xe && x->type == HERD_TYPE_F32 && out->type == HERD_TYPE_F16) {
            c->f32_f16_row((const float *)xr, (uint16_t *)y, D);
        } else if (x->nb[0] == xe && x->type == HERD_TYPE_F16 && out->type == HERD_TYPE_F32) {
            c->f16_row((const uint16_t *)xr, (float *)y, D);
        } else if (x->type == out->type && xe == 4) {
            for (int64_t i = 0; i < D; i++)
                ((uint32_t *)y)[i] = *(const uint32_t *)(xr + i * x->nb[0]);
        } else {
            for (int64_t i = 0; i < D; i++)
                store_f(out->type, y + i * oe, load_f(x->type, xr + i * x->nb[0]));
        }
    }
}

static void op_concat(cpu_ctx *c, const herd_node *n, int ith, int64_t r0, int64_t r1)
{
    const herd_tensor *A = n->src[0], *B = n->src[1], *out = n->out;
    const int dim = n->ip[0];
    const char *ab = host(A), *bb = host(B);
    char *ob = host(out);

    for (int64_t r = r0; r < r1; r++) {
        int64_t i[4] = { 0, r % out->ne[1], r / out->ne[1] % out->ne[2],
                         r / out->ne[1] / out->ne[2] };
        float *y = (float *)(ob + i[1] * out->nb[1] + i[2] * out->nb[2] + i[3] * out->nb[3]);
        if (dim == 0) {
            const char *ar = ab + i[1] * A->nb[1] + i[2] * A->nb[2] + i[3] * A->nb[3];
            const char *br = bb + i[1] * B->nb[1] + i[2] * B->nb[2] + i[3] * B->nb[3];
            for (int64_t k = 0; k < A->ne[0]; k++)
                y[k] = *(const float *)(ar + k * A->nb[0]);
            for (int64_t k = 0; k < B->ne[0]; k++)
                y[A->ne[0] + k] = *(const float *)(br + k * B->nb[0]);
        } else {
            const herd_tensor *s = A;
            const char *sb = ab;
            if (i[dim] >= A->ne[dim]) {
                i[dim] -= A->ne[dim];
                s = B;
                sb = bb;
            }
            const char *sr = sb + i[1] * s->nb[1] + i[2] * s->nb[2] + i[3] * s->nb[3];
            for (int64_t k = 0; k < s->ne[0]; k++)
                y[k] = *(const float *)(sr + k * s->nb[0]);
        }
    }
}

/* items [a, b) of phase `phase` of node n (see node_items) */
static void run_node(cpu_ctx *c, const herd_node *n, int ith, int phase, int64_t a, int64_t b)
{
    switch (n->op) {
    case HERD_OP_GET_ROWS:
        op_get_rows(c, n, ith, a, b);
        break;
    case HERD_OP_SET_ROWS:
        op_set_rows(c, n, ith, a, b);
        break;
    case HERD_OP_MUL_MAT:
        op_mul_mat(c, n, phase, a, b);
        break;
    case HERD_OP_MUL_MAT_ID:
        op_mul_mat_id(c, n, ith, phase, a, b);
        break;
    case HERD_OP_RMS_NORM:
    case HERD_OP_LAYER_NORM:
        op_norm(c, n, ith, a, b);
        break;
    case HERD_OP_ROPE:
    case HERD_OP_ROPE_2D:
        op_rope(c, n, ith, a, b);
        break;
    case HERD_OP_ATTENTION:
        op_attention(c, n, ith, a, b);
        break;
    case HERD_OP_KV_STORE:
        op_kv_store(c, n, a, b);
        break;
    case HERD_OP_SOFTMAX:
        op_softmax(c, n, ith, a, b);
        break;
    case HERD_OP_ADD:
    case HERD_OP_MUL:
    case HERD_OP_SCALE:
    case HERD_OP_SILU:
    case HERD_OP_GELU:
    case HERD_OP_SIGMOID:
    case HERD_OP_SWIGLU:
        op_eltwise(c, n, ith, a, b);
        break;
    case HERD_OP_ARGMAX:
        op_argmax(c, n, ith, a, b);
        break;
    case HERD_OP_SELECT_SIGMOID:
        op_select_sigmoid(c, n, ith, a, b);
        break;
    case HERD_OP_CPY:
        op_cpy(c, n, ith, a, b);
        break;
    case HERD_OP_CONCAT:
        op_concat(c, n, ith, a, b);
        break;
    default:
        break;
    }
}

static int64_t rows_of(const herd_tensor *t)
{
    return t->ne[1] * t->ne[2] * t->ne[3];
}

/* Work items of phase `phase` of node n (-1: the node has no such phase; 0: nothing to do) and
 * *ch, the items per chunk. Called by the thread that publishes the step, after the previous
 * step finished (MUL_MAT_ID's phase 2 reads the result of its phase 0). */
static int64_t node_items(const cpu_ctx *c, const herd_node *n, int phase, int64_t *ch)
{
    int64_t items = -1;
    *ch = 0; /* default split */
    switch (n->op) {
    case HERD_OP_GET_ROWS:
        items = phase == 0 ? n->src[1]->ne[0] : -1;
        break;
    case HERD_OP_SET_ROWS:
        items = phase == 0 ? n->src[1]->ne[1] : -1;
        break;
    case HERD_OP_MUL_MAT: {
        const herd_tensor *w = n->src[0], *x = n->src[1];
        if (phase == 0) {
            items = mm_act_row_size(w, x) ? rows_of(x) : 0;
        } else if (phase == 1) {
            const int64_t mc = mm_chunk(w->ne[1], x->ne[1], c->nth);
            items = (w->ne[1] + mc - 1) / mc * x->ne[2] * x->ne[3];
            *ch = 1;
        }
        break;
    }
    case HERD_OP_MUL_MAT_ID:
        if (phase == 0) {
            items = 1;
        } else if (phase == 1) {
            items = mm_act_row_size(n->src[0], n->src[1]) ? n->src[1]->ne[1] : 0;
        } else if (phase == 2) {
            items = mmid_layout(c, n).item0[n->src[0]->ne[2]];
            *ch = 1;
        }
        break;
    case HERD_OP_RMS_NORM:
    case HERD_OP_LAYER_NORM:
    case HERD_OP_SOFTMAX:
    case HERD_OP_ADD:
    case HERD_OP_MUL:
    case HERD_OP_SCALE:
    case HERD_OP_SILU:
    case HERD_OP_GELU:
    case HERD_OP_SIGMOID:
    case HERD_OP_SWIGLU:
    case HERD_OP_CPY:
        items = phase == 0 ? rows_of(n->src[0]) : -1;
        break;
    case HERD_OP_CONCAT:
        items = phase == 0 ? rows_of(n->out) : -1;
        break;
    case HERD_OP_ROPE:
    case HERD_OP_ROPE_2D:
    case HERD_OP_KV_STORE:
        items = phase == 0 ? n->src[0]->ne[1] * n->src[0]->ne[2] : -1;
        break;
    case HERD_OP_ATTENTION:
        if (phase == 0) {
            const herd_tensor *q = n->src[0];
            items = (q->ne[2] + ATT_QB - 1) / ATT_QB * n->src[1]->ne[1];
            *ch = 1;
        }
        break;
    case HERD_OP_ARGMAX:
    case HERD_OP_SELECT_SIGMOID:
        items = phase == 0 ? n->src[0]->ne[1] : -1;
        break;
    default:
        break;
    }
    if (items > 0 && *ch == 0)
        *ch = chunk_items(items, c->nth);
    return items;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Publishes step s: the first phase with work at or after (node, phase), or the end of the graph.
 * Only one thread at a time does this: the caller before the graph, then the thread that
 * finished the last chunk of step s - 1. */
static void publish_step(cpu_ctx *c, unsigned s, int node, int phase)
{
    const herd_graph *g = c->g;
    int64_t items = 0, ch = 0;
    while (node < g->n_nodes) {
        const herd_node *n = &g->nodes[node];
        items = node_items(c, n, phase, &ch);
        if (items > 0)
            break;
        if (items < 0) { /* node done */
            if (c->profile) {
                uint64_t t = now_ns();
                c->prof.ns[n->op] += t - c->prof_t0;
                c->prof.count[n->op]++;
                c->prof_t0 = t;
            }
            node++;
            phase = 0;
        } else {
            phase++;
        }
    }
    uint64_t nchunks = 0;
    if (node < g->n_nodes) {
        nchunks = (uint64_t)((items + ch - 1) / ch);
        c->st_node = node;
        c->st_phase = phase;
        c->st_items = items;
        c->st_ch = ch;
        c->st_nchunks = (int64_t)nchunks;
        atomic_store_explicit(&c->left, (int)nchunks, memory_order_relaxed);
    } else {
        atomic_store_explicit(&c->finished, c->serial, memory_order_release);
    }
    atomic_store_explicit(&c->claim, (uint64_t)s << 32 | nchunks, memory_order_release);
    herd_publish_word(&c->cur, s, &c->n_sleep);
}

/* Runs chunks of step s until none is left to claim. A thread that comes back late (the OS
 * descheduled it) finds its step gone and claims nothing; node data is only read after a
 * successful claim, while the step (and so the graph) cannot finish. */
static void work_step(cpu_ctx *c, unsigned s, int ith)
{
    uint64_t v = atomic_load_explicit(&c->claim, memory_order_acquire);
    for (;;) {
        if ((unsigned)(v >> 32) != s || (uint32_t)v == 0)
            return;
        if (!atomic_compare_exchange_weak_explicit(&c->claim, &v, v - 1, memory_order_acquire,
                                                   memory_order_acquire))
            continue;
        const int64_t k = c->st_nchunks - (int64_t)(uint32_t)v; /* chunks go in order */
        const int64_t a = k * c->st_ch, b = a + c->st_ch < c->st_items ? a + c->st_ch : c->st_items;
        run_node(c, &c->g->nodes[c->st_node], ith, c->st_phase, a, b);
        if (atomic_fetch_sub_explicit(&c->left, 1, memory_order_acq_rel) == 1) {
            publish_step(c, s + 1, c->st_node, c->st_phase + 1);
            return;
        }
        v = atomic_load_explicit(&c->claim, memory_order_acquire);
    }
}

/* Workers (threads 1..nth-1) live in this loop from backend init to cpu_free: do the chunks of
 * the published step, then wait (spin, then futex) for the next one. No barriers: a step ends
 * when its last chunk is done, whoever did it. */
static void worker_loop(void *arg, int ith, int nth)
{
    (void)nth;
    cpu_ctx *c = arg;
    for (;;) {
        const unsigned s = atomic_load_explicit(&c->cur, memory_order_acquire);
        if (atomic_load_explicit(&c->quit, memory_order_acquire))
            return;
        work_step(c, s, ith);
        herd_wait_word(&c->cur, s, &c->n_sleep);
    }
}

/* The caller (thread 0) publishes the first step and works with the others until the graph's
 * last step is done; it does not wait for the workers to get back. */
static void run_graph(cpu_ctx *c)
{
    c->serial++;
    c->prof_t0 = c->profile ? now_ns() : 0;
    publish_step(c, atomic_load_explicit(&c->cur, memory_order_relaxed) + 1, 0, 0);
    for (;;) {
        const unsigned s = atomic_load_explicit(&c->cur, memory_order_acquire);
        if (atomic_load_explicit(&c->finished, memory_order_acquire) == c->serial)
            return;
        work_step(c, s, 0);
        herd_wait_word(&c->cur, s, &c->n_sleep);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* validation (main thread, before running): clear errors instead of wrong results */

/* CPU weights: a dot-product kernel for the type, rows in whole blocks of the activation type */
static bool mm_weight_ok(const herd_tensor *w, int64_t K)
{
    const herd_type_info *ti = herd_type_get(w->type);
    herd_type vt = herd_vec_dot_type(w->type);
    const herd_type_info *vi = herd_type_get(vt);
    return ti && vi && ti->compute && herd_get_vec_dot(w->type) && w->nb[0] == ti->bytes &&
           K % ti->blck == 0 && K % vi->blck == 0;
}

/* the shared rules (herd_node_check) plus what the CPU needs: host memory, kernels per type */
static herd_status validate_node(const herd_node *n, int i, herd_error *err)
{
    herd_status st = herd_node_check(n, i, err);
    if (st)
        return st;
    const herd_tensor *a = n->src[0], *out = n->out;
    const char *op = herd_op_name(n->op);
    if (!host(out))
        return herd_error_set(err, HERD_ERR_INVALID, "node %d (%s): output %s has no memory", i, op,
                              out->name);
    for (int j = 0; j < HERD_MAX_SRC; j++)
        if (n->src[j] && !host(n->src[j]))
            return herd_error_set(err, HERD_ERR_INVALID,
                                  "node %d (%s): input %d (%s) has no host data", i, op, j,
                                  n->src[j]->name);
    if (n->op == HERD_OP_GET_ROWS && a->type != HERD_TYPE_F32 && !herd_quant_supported(a->type))
        return herd_error_set(err, HERD_ERR_UNSUPPORTED, "node %d (%s): table type %s", i, op,
                              herd_type_name(a->type));
    if ((n->op == HERD_OP_MUL_MAT || n->op == HERD_OP_MUL_MAT_ID) && !mm_weight_ok(a, a->ne[0]))
        return herd_error_set(err, HERD_ERR_INVALID,
                              "node %d (%s): no CPU kernel for weight type %s", i, op,
                              herd_type_name(a->type));
    return HERD_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* vtable */

static const char *cpu_name(herd_backend *be)
{
    (void)be;
    return "cpu";
}

static void cpu_free(herd_backend *be)
{
    if (!be)
        return;
    cpu_ctx *c = be->ctx;
    if (c) {
        atomic_store(&c->quit, true);
        herd_publish_word(&c->cur, atomic_load(&c->cur) + 1, &c->n_sleep);
        herd_threadpool_free(c->tp);
        free(c->arena);
        free(c->scratch);
        free(c->wbuf);
        pthread_mutex_destroy(&c->lock);
        free(c);
    }
    free(be);
}

static herd_status cpu_buffer_alloc(herd_backend *be, size_t size, herd_buffer **out,
                                    herd_error *err)
{
    (void)be;
    herd_buffer *b = calloc(1, sizeof *b);
    void *mem = NULL;
    if (b && size >= BUF_MMAP_MIN) {
        mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (mem == MAP_FAILED)
            mem = NULL;
        else
            b->mapped = true;
    } else if (b) {
        mem = aligned_alloc64(size);
        if (mem)
            memset(mem, 0, size);
    }
    if (!mem) {
        free(b);
        return herd_error_set(err, HERD_ERR_NOMEM, "cpu buffer: cannot allocate %zu bytes", size);
    }
    b->base = mem;
    b->size = size;
    *out = b;
    return HERD_OK;
}

static void cpu_buffer_free(herd_backend *be, herd_buffer *buf)
{
    (void)be;
    if (buf) {
        if (buf->mapped)
            munmap(buf->base, buf->size);
        else
            free(buf->base);
        free(buf);
    }
}

static void cpu_tensor_bind(herd_backend *be, herd_tensor *t, herd_buffer *buf, size_t offs)
{
    (void)be;
    t->buf = buf;
    t->offs = offs;
    t->data = (char *)buf->base + offs;
}

static herd_status cpu_tensor_set(herd_backend *be, herd_tensor *t, const void *src, size_t offs,
                                  size_t n, herd_error *err)
{
    (void)be;
    char *p = host(t);
    if (!p || offs + n > herd_tensor_nbytes(t))
        return herd_error_set(err, HERD_ERR_INVALID, "tensor_set %s: out of range or no memory",
                              t->name);
    memcpy(p + offs, src, n);
    return HERD_OK;
}

static herd_status cpu_tensor_get(herd_backend *be, const herd_tensor *t, void *dst, size_t offs,
                                  size_t n, herd_error *err)
{
    (void)be;
    const char *p = host(t);
    if (!p || offs + n > herd_tensor_nbytes(t))
        return herd_error_set(err, HERD_ERR_INVALID, "tensor_get %s: out of range or no memory",
                              t->name);
    memcpy(dst, p + offs, n);
    return HERD_OK;
}

static herd_status cpu_weights_upload(herd_backend *be, herd_tensor **w, int n,
                                      bool (*progress)(float, void *), void *ud, herd_error *err)
{
    (void)be;
    (void)w;
    (void)n;
    if (progress && !progress(1.0f, ud))
        return herd_error_set(err, HERD_ERR_ABORTED, "weight upload cancelled");
    return HERD_OK;
}

static bool cpu_supports_type(herd_backend *be, herd_type wtype)
{
    (void)be;
    return wtype == HERD_TYPE_F32 ||
           (herd_quant_supported(wtype) && herd_get_vec_dot(wtype) != NULL);
}

static herd_status grow(void **p, size_t *have, size_t need, herd_error *err, const char *what)
{
    if (need <= *have)
        return HERD_OK;
    need = align_up(need + need / 8, 4096);
    void *np = aligned_alloc64(need);
    if (!np)
        return herd_error_set(err, HERD_ERR_NOMEM, "cpu backend: cannot allocate %zu bytes (%s)",
                              need, what);
    free(*p);
    *p = np;
    *have = need;
    return HERD_OK;
}

static herd_status graph_compute_locked(herd_backend *be, herd_graph *g, herd_error *err);

static herd_status cpu_graph_compute(herd_backend *be, herd_graph *g, herd_error *err)
{
    cpu_ctx *c = be->ctx;
    pthread_mutex_lock(&c->lock);
    herd_status st = graph_compute_locked(be, g, err);
    pthread_mutex_unlock(&c->lock);
    return st;
}

static herd_status graph_compute_locked(herd_backend *be, herd_graph *g, herd_error *err)
{
    cpu_ctx *c = be->ctx;
    if (g->oom)
        return herd_error_set(err, HERD_ERR_NOMEM, "graph construction ran out of memory");
    if (!g->last_use && g->n_nodes > 0)
        return herd_error_set(err, HERD_ERR_INVALID, "graph not planned (call herd_graph_plan)");
    herd_status st = grow((void **)&c->arena, &c->arena_size, g->arena_size, err, "arena");
    if (st)
        return st;
    for (int i = 0; i < g->n_tensors; i++) {
        herd_tensor *t = g->tensors[i];
        if (t->kind == HERD_TENSOR_INTERMEDIATE && !t->view_src && t->node >= 0)
            t->data = c->arena + t->offs;
    }
    size_t scratch = 0, wb = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const herd_node *n = &g->nodes[i];
        if ((st = validate_node(n, i, err)))
            return st;
        size_t need = 0, w = 0;
        switch (n->op) {
        case HERD_OP_MUL_MAT:
            need = (size_t)(n->src[1]->ne[1] * n->src[1]->ne[2] * n->src[1]->ne[3]) *
                   mm_act_row_size(n->src[0], n->src[1]);
            break;
        case HERD_OP_MUL_MAT_ID:
            need = mmid_scratch(n);
            w = (size_t)MM_ROWS * MM_COLS;
            break;
        case HERD_OP_ATTENTION:
            w = attn_wbuf_floats(n);
            break;
        case HERD_OP_ROPE:
        case HERD_OP_ROPE_2D:
            w = (size_t)(n->src[0]->ne[0] / 2) * 3 + 1;
            break;
        default:
            break;
        }
        scratch = need > scratch ? need : scratch;
        wb = w > wb ? w : wb;
    }
    if ((st = grow((void **)&c->scratch, &c->scratch_size, scratch, err, "scratch")))
        return st;
    wb = align_up(wb, 16);
    if (wb > c->wbuf_floats) {
        size_t have = c->wbuf_floats * (size_t)c->nth * sizeof(float);
        if ((st = grow((void **)&c->wbuf, &have, wb * (size_t)c->nth * sizeof(float), err,
                       "work buffers")))
            return st;
        c->wbuf_floats = have / sizeof(float) / (size_t)c->nth / 16 * 16;
    }
    if (g->n_nodes == 0)
        return HERD_OK;
    c->g = g;
    c->profile = be->profile;
    atomic_store(&c->bad_index, 0);
    run_graph(c);
    if (be->profile)
        c->prof.graphs++;
    c->g = NULL;
    if (atomic_load(&c->bad_index))
        return herd_error_set(err, HERD_ERR_INVALID,
                              "graph read an index (row id, expert id or position) out of range");
    return HERD_OK;
}

static size_t cpu_mem_free(herd_backend *be)
{
    (void)be;
    return 0;
}

static void cpu_profile_get(herd_backend *be, herd_op_profile *out, bool reset)
{
    cpu_ctx *c = be->ctx;
    if (out)
        *out = c->prof;
    if (reset)
        memset(&c->prof, 0, sizeof c->prof);
}

static const herd_backend_iface cpu_iface = {
    .name = cpu_name,
    .free = cpu_free,
    .buffer_alloc = cpu_buffer_alloc,
    .buffer_free = cpu_buffer_free,
    .tensor_bind = cpu_tensor_bind,
    .tensor_set = cpu_tensor_set,
    .tensor_get = cpu_tensor_get,
    .weights_upload = cpu_weights_upload,
    .supports_type = cpu_supports_type,
    .graph_compute = cpu_graph_compute,
    .mem_free = cpu_mem_free,
    .profile_get = cpu_profile_get,
};

herd_backend *herd_backend_cpu_init(int n_threads, herd_error *err)
{
    herd_backend *be = calloc(1, sizeof *be);
    cpu_ctx *c = calloc(1, sizeof *c);
    if (!be || !c) {
        free(be);
        free(c);
        herd_error_set(err, HERD_ERR_NOMEM, "cpu backend: out of memory");
        return NULL;
    }
    pthread_mutex_init(&c->lock, NULL);
    c->tp = herd_threadpool_new(n_threads);
    if (c->tp)
        herd_threadpool_start(c->tp, worker_loop, c);
    if (!c->tp) {
        pthread_mutex_destroy(&c->lock);
        free(be);
        free(c);
        herd_error_set(err, HERD_ERR_NOMEM, "cpu backend: cannot start %d threads", n_threads);
        return NULL;
    }
    c->nth = herd_threadpool_size(c->tp);
    c->attn_block = pick_attn_block();
    c->f16_row = pick_f16_row();
    c->f32_f16_row = pick_f32_f16_row();
    c->attn_tile = pick_attn_tile();
    be->iface = &cpu_iface;
    be->kind = HERD_BACKEND_CPU;
    be->n_threads = c->nth;
    be->ctx = c;
    return be;
}
