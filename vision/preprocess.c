/* preprocess.c: Llama 4 tiling (llama4-spec.md §3.1), decisions as in Meta's
 * VariableSizeImageTransform and transformers' Llama4ImageProcessorFast; pixels as Pillow. */
#include "preprocess.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void herd_preprocess_params_default(herd_preprocess_params *p)
{
    p->tile_size = HERD_TILE_SIZE;
    p->max_tiles = HERD_MAX_TILES_DEFAULT;
    p->resample = HERD_RESAMPLE_TORCHVISION;
}

void herd_tiles_free(herd_tiles *t)
{
    if (t) {
        free(t->data);
        memset(t, 0, sizeof *t);
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* Steps 1–3: the canvas and the resized size */

typedef struct grid {
    int r, c;
} grid;

/* The candidate list in the references' order: n = max..1, factors ascending as (rows = f,
 * cols = n/f), then grouped by aspect ratio rows/cols in order of first appearance. The order
 * only matters for exact area ties (argmin takes the first). Returns the count. */
static int candidates(int max_tiles, grid *out)
{
    grid raw[4096];
    int n_raw = 0;
    for (int n = max_tiles; n >= 1; n--)
        for (int f = 1; f <= n; f++)
            if (n % f == 0)
                raw[n_raw++] = (grid){ f, n / f };
    int n_out = 0;
    char *used = calloc((size_t)n_raw, 1);
    if (!used)
        return 0;
    for (int i = 0; i < n_raw; i++) {
        if (used[i])
            continue;
        for (int j = i; j < n_raw; j++) {
            /* same ratio: r_i/c_i == r_j/c_j, exactly */
            if (!used[j] && raw[i].r * raw[j].c == raw[j].r * raw[i].c) {
                out[n_out++] = raw[j];
                used[j] = 1;
            }
        }
    }
    free(used);
    return n_out;
}

herd_status herd_tile_plan_for(uint32_t w, uint32_t h, const herd_preprocess_params *p,
                               herd_tile_plan *plan, herd_error *err)
{
    herd_preprocess_params defaults;
    if (!p) {
        herd_preprocess_params_default(&defaults);
        p = &defaults;
    }
    if (w == 0 || h == 0)
        return herd_error_set(err, HERD_ERR_INVALID, "image has zero size (%ux%u)", w, h);
    if (p->max_tiles < 1 || p->max_tiles > 256)
        return herd_error_set(err, HERD_ERR_INVALID, "max_tiles must be in 1..256 (got %d)",
                              p->max_tiles);
    if (p->tile_size < 1 || p->tile_size > 4096)
        return herd_error_set(err, HERD_ERR_INVALID, "tile size must be in 1..4096 (got %d)",
                              p->tile_size);
    /* at most max_tiles·(divisors) entries; 256 tiles give well under 4096 */
    grid cand[4096];
    int n = candidates(p->max_tiles, cand);
    if (n == 0)
        return herd_error_set(err, HERD_ERR_NOMEM, "out of memory");
    const int ts = p->tile_size;

    /* Step 2. Scales are float32 as in the references (torch default dtype); each is a single
     * correctly rounded division of exact integers, so equal ratios compare equal. */
    float scale[4096];
    float best_up = INFINITY, best_down = -INFINITY;
    for (int i = 0; i < n; i++) {
        float sw = (float)(ts * cand[i].c) / (float)w;
        float sh = (float)(ts * cand[i].r) / (float)h;
        scale[i] = sw > sh ? sh : sw;
        if (scale[i] >= 1.0f) {
            if (scale[i] < best_up)
                best_up = scale[i];
        } else if (scale[i] > best_down) {
            best_down = scale[i];
        }
    }
    float chosen = best_up != INFINITY ? best_up : best_down;
    int pick = -1;
    for (int i = 0; i < n; i++)
        if (scale[i] == chosen && (pick < 0 || cand[i].r * cand[i].c < cand[pick].r * cand[pick].c))
            pick = i;
    if (pick < 0)
        return herd_error_set(err, HERD_ERR_INVALID, "no tile canvas for %ux%u", w, h);

    uint32_t H = (uint32_t)(ts * cand[pick].r), W = (uint32_t)(ts * cand[pick].c);
    /* Step 3: enlarge only up to the tile size, never beyond the canvas; keep the aspect ratio. */
    uint32_t th = h > (uint32_t)ts ? h : (uint32_t)ts;
    uint32_t tw = w > (uint32_t)ts ? w : (uint32_t)ts;
    if (th > H)
        th = H;
    if (tw > W)
        tw = W;
    double sw = (double)tw / w, sh = (double)th / h;
    uint32_t nw, nh;
    if (sw < sh) {
        nw = tw;
        double f = floor((double)h * sw);
        nh = f < th ? (uint32_t)f : th;
    } else {
        nh = th;
        double f = floor((double)w * sh);
        nw = f < tw ? (uint32_t)f : tw;
    }
    if (nw < 1)
        nw = 1;
    if (nh < 1)
        nh = 1;

    plan->rows = cand[pick].r;
    plan->cols = cand[pick].c;
    plan->canvas_w = W;
    plan->canvas_h = H;
    plan->resized_w = nw;
    plan->resized_h = nh;
    plan->has_global = plan->rows * plan->cols > 1;
    plan->n_tiles = plan->rows * plan->cols + plan->has_global;
    return HERD_OK;
}

/* ---------------------------------------------------------------------------------------------- */
/* Antialiased bilinear (spec §3.1 "Resampling"), in the two references' arithmetic */

/* Pillow (libImaging/Resample.c): double weights normalised, then 22-bit fixed point; each pass
 * rounds and clamps to 8 bits. */
#define PRECISION_BITS (32 - 8 - 2)

typedef struct coeffs {
    int ksize;
    int *bounds; /* [out][2]: first input index, count */
    int32_t *kk; /* [out][ksize] fixed point */
} coeffs;

static double bilinear_filter(double x)
{
    if (x < 0.0)
        x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

static int pillow_coeffs(uint32_t in_size, uint32_t out_size, coeffs *c)
{
    double scale = (double)in_size / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 1.0 * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    if ((size_t)out_size > SIZE_MAX / sizeof(double) / (size_t)ksize)
        return -1;
    double *k = malloc((size_t)out_size * ksize * sizeof(double));
    c->bounds = malloc((size_t)out_size * 2 * sizeof(int));
    c->kk = malloc((size_t)out_size * ksize * sizeof(int32_t));
    if (!k || !c->bounds || !c->kk) {
        free(k);
        return -1;
    }
    c->ksize = ksize;
    for (uint32_t xx = 0; xx < out_size; xx++) {
        double center = (xx + 0.5) * scale;
        double ww = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0)
            xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > (int)in_size)
            xmax = (int)in_size;
        xmax -= xmin;
        double *kx = k + (size_t)xx * ksize;
        int x;
        for (x = 0; x < xmax; x++) {
            double wgt = bilinear_filter((x + xmin - center + 0.5) * ss);
            kx[x] = wgt;
            ww += wgt;
        }
        for (x = 0; x < xmax; x++)
            if (ww != 0.0)
                kx[x] /= ww;
        for (; x < ksize; x++)
            kx[x] = 0;
        c->bounds[xx * 2 + 0] = xmin;
        c->bounds[xx * 2 + 1] = xmax;
    }
    for (size_t i = 0; i < (size_t)out_size * ksize; i++)
        c->kk[i] = k[i] < 0 ? (int32_t)(-0.5 + k[i] * (1 << PRECISION_BITS))
                            : (int32_t)(0.5 + k[i] * (1 << PRECISION_BITS));
    free(k);
    return 0;
}

static inline uint8_t clip8(int32_t v)
{
    if (v >= (1 << PRECISION_BITS << 8))
        return 255;
    if (v <= 0)
        return 0;
    return (uint8_t)(v >> PRECISION_BITS);
}

static herd_status resize_pillow(const uint8_t *src, uint32_t sw, uint32_t sh, uint8_t *dst,
                                 uint32_t dw, uint32_t dh, herd_error *err)
{
    coeffs ch = { 0 }, cv = { 0 };
    uint8_t *tmp = NULL;
    herd_status s = HERD_OK;
    int need_h = sw != dw, need_v = sh != dh;
    if ((need_h && pillow_coeffs(sw, dw, &ch)) || (need_v && pillow_coeffs(sh, dh, &cv))) {
        s = herd_error_set(err, HERD_ERR_NOMEM, "out of memory resizing");
        goto done;
    }
    const uint8_t *vsrc = src; /* input of the vertical pass: sw or dw wide */
    if (need_h) {
        /* only the rows the vertical pass reads (Pillow does the same; values are identical) */
        uint32_t y0 = 0, y1 = sh;
        if (need_v) {
            y0 = (uint32_t)cv.bounds[0];
            y1 = (uint32_t)(cv.bounds[(dh - 1) * 2] + cv.bounds[(dh - 1) * 2 + 1]);
        }
        uint8_t *out = dst;
        if (need_v) {
            tmp = malloc((size_t)dw * sh * 3);
            if (!tmp) {
                s = herd_error_set(err, HERD_ERR_NOMEM, "out of memory resizing");
                goto done;
            }
            out = tmp;
        }
        for (uint32_t y = y0; y < y1; y++) {
            const uint8_t *in = src + (size_t)y * sw * 3;
            uint8_t *o = out + (size_t)y * dw * 3;
            for (uint32_t xx = 0; xx < dw; xx++) {
                int xmin = ch.bounds[xx * 2], xmax = ch.bounds[xx * 2 + 1];
                const int32_t *k = ch.kk + (size_t)xx * ch.ksize;
                int32_t s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
                const uint8_t *p = in + (size_t)xmin * 3;
                for (int x = 0; x < xmax; x++, p += 3) {
                    s0 += p[0] * k[x];
                    s1 += p[1] * k[x];
                    s2 += p[2] * k[x];
                }
                o[xx * 3 + 0] = clip8(s0);
                o[xx * 3 + 1] = clip8(s1);
                o[xx * 3 + 2] = clip8(s2);
            }
        }
        vsrc = tmp;
    }
    if (need_v) {
        size_t row = (size_t)dw * 3;
        for (uint32_t yy = 0; yy < dh; yy++) {
            int ymin = cv.bounds[yy * 2], ymax = cv.bounds[yy * 2 + 1];
            const int32_t *k = cv.kk + (size_t)yy * cv.ksize;
            uint8_t *o = dst + yy * row;
            for (size_t i = 0; i < row; i++) {
                int32_t acc = 1 << (PRECISION_BITS - 1);
                const uint8_t *p = vsrc + (size_t)ymin * row + i;
                for (int y = 0; y < ymax; y++, p += row)
                    acc += *p * k[y];
                o[i] = clip8(acc);
            }
        }
    }
done:
    free(tmp);
    free(ch.bounds);
    free(ch.kk);
    free(cv.bounds);
    free(cv.kk);
    return s;
}

/* torchvision on a machine whose torch reports AVX512 (or no AVX2): uint8 → float32, aten's
 * separable antialias kernel in float32 (weights in float32, multiply-adds fused, no rounding
 * between the passes), then round half to even. Measured bit-exact against torchvision 0.20 /
 * torch 2.5 there. (Where torch reports exactly AVX2, torchvision resizes uint8 natively with
 * int16 weights instead: within ±1 of this.) */
typedef struct fcoeffs {
    int ksize;
    int *bounds;
    float *w;
} fcoeffs;

static int torch_coeffs(uint32_t in_size, uint32_t out_size, fcoeffs *c)
{
    float scale = (float)in_size / (float)out_size;
    float support = scale >= 1.0f ? scale : 1.0f;
    float invscale = scale >= 1.0f ? 1.0f / scale : 1.0f;
    int ksize = (int)ceil(support) * 2 + 1;
    c->ksize = ksize;
    c->bounds = malloc((size_t)out_size * 2 * sizeof(int));
    c->w = calloc((size_t)out_size * ksize, sizeof(float));
    if (!c->bounds || !c->w)
        return -1;
    for (uint32_t i = 0; i < out_size; i++) {
        float center = scale * (float)(i + 0.5);
        long xmin = (long)(center - support + 0.5f);
        if (xmin < 0)
            xmin = 0;
        long xend = (long)(center + support + 0.5f);
        if (xend > (long)in_size)
            xend = (long)in_size;
        int n = (int)(xend - xmin);
        if (n > ksize)
            n = ksize;
        if (n < 0)
            n = 0;
        float *w = c->w + (size_t)i * ksize, total = 0.0f;
        for (int j = 0; j < n; j++) {
            float x = ((float)(j + xmin) - center + 0.5f) * invscale;
            x = x < 0 ? -x : x;
            w[j] = x < 1.0f ? 1.0f - x : 0.0f;
            total += w[j];
        }
        if (total != 0.0f)
            for (int j = 0; j < n; j++)
                w[j] /= total;
        c->bounds[i * 2] = (int)xmin;
        c->bounds[i * 2 + 1] = n;
    }
    return 0;
}

/* fma in float32, through double: the product of two floats is exact in double, so this is one
 * rounding of an exact sum except in astronomically rare double-rounding cases. */
static inline float fmadd(float a, float b, float c)
{
    return (float)((double)a * b + c);
}

static herd_status resize_torch(const uint8_t *src, uint32_t sw, uint32_t sh, uint8_t *dst,
                                uint32_t dw, uint32_t dh, herd_error *err)
{
    fcoeffs ch = { 0 }, cv = { 0 };
    float *tmp = NULL, *acc = NULL;
    herd_status s = HERD_OK;
    int need_h = sw != dw, need_v = sh != dh;
    if ((need_h && torch_coeffs(sw, dw, &ch)) || (need_v && torch_coeffs(sh, dh, &cv))) {
        s = herd_error_set(err, HERD_ERR_NOMEM, "out of memory resizing");
        goto done;
    }
    /* horizontal pass (or a plain conversion) into float */
    tmp = malloc((size_t)dw * sh * 3 * sizeof(float));
    if (!tmp) {
        s = herd_error_set(err, HERD_ERR_NOMEM, "out of memory resizing");
        goto done;
    }
    for (uint32_t y = 0; y < sh; y++) {
        const uint8_t *in = src + (size_t)y * sw * 3;
        float *o = tmp + (size_t)y * dw * 3;
        if (!need_h) {
            for (size_t i = 0; i < (size_t)sw * 3; i++)
                o[i] = in[i];
            continue;
        }
        for (uint32_t xx = 0; xx < dw; xx++) {
            int xmin = ch.bounds[xx * 2], n = ch.bounds[xx * 2 + 1];
            const float *w = ch.w + (size_t)xx * ch.ksize;
            const uint8_t *p = in + (size_t)xmin * 3;
            float t0 = 0.0f, t1 = 0.0f, t2 = 0.0f;
            if (n > 0) {
                t0 = (float)p[0] * w[0];
                t1 = (float)p[1] * w[0];
                t2 = (float)p[2] * w[0];
            }
            for (int j = 1; j < n; j++) {
                t0 = fmadd((float)p[3 * j], w[j], t0);
                t1 = fmadd((float)p[3 * j + 1], w[j], t1);
                t2 = fmadd((float)p[3 * j + 2], w[j], t2);
            }
            o[xx * 3 + 0] = t0;
            o[xx * 3 + 1] = t1;
            o[xx * 3 + 2] = t2;
        }
    }
    size_t row = (size_t)dw * 3;
    acc = malloc(row * sizeof(float));
    if (!acc) {
        s = herd_error_set(err, HERD_ERR_NOMEM, "out of memory resizing");
        goto done;
    }
    for (uint32_t yy = 0; yy < dh; yy++) {
        uint8_t *o = dst + yy * row;
        const float *t = tmp + (size_t)yy * row;
        if (need_v) {
            /* row by row, same operation order per value as aten: w0·r0, then fma over j */
            int ymin = cv.bounds[yy * 2], n = cv.bounds[yy * 2 + 1];
            const float *w = cv.w + (size_t)yy * cv.ksize;
            const float *r = tmp + (size_t)ymin * row;
            for (size_t i = 0; i < row; i++)
                acc[i] = n > 0 ? r[i] * w[0] : 0.0f;
            for (int j = 1; j < n; j++) {
                r += row;
                for (size_t i = 0; i < row; i++)
                    acc[i] = fmadd(r[i], w[j], acc[i]);
            }
            t = acc;
        }
        for (size_t i = 0; i < row; i++) {
            float v = nearbyintf(t[i]);
            o[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
done:
    free(tmp);
    free(acc);
    free(ch.bounds);
    free(ch.w);
    free(cv.bounds);
    free(cv.w);
    return s;
}

herd_status herd_resize_bilinear_rgb8(const uint8_t *src, uint32_t sw, uint32_t sh, uint8_t *dst,
                                      uint32_t dw, uint32_t dh, herd_resample_kind kind,
                                      herd_error *err)
{
    if (!src || !dst || !sw || !sh || !dw || !dh || sw > INT_MAX / 4 || sh > INT_MAX / 4 ||
        dw > INT_MAX / 4 || dh > INT_MAX / 4)
        return herd_error_set(err, HERD_ERR_INVALID, "bad resize %ux%u -> %ux%u", sw, sh, dw, dh);
    if (sw == dw && sh == dh) {
        memcpy(dst, src, (size_t)sw * sh * 3);
        return HERD_OK;
    }
    if (kind == HERD_RESAMPLE_PILLOW)
        return resize_pillow(src, sw, sh, dst, dw, dh, err);
    return resize_torch(src, sw, sh, dst, dw, dh, err);
}

/* ---------------------------------------------------------------------------------------------- */
/* Steps 4–7 */

herd_status herd_preprocess(const herd_image *img, const herd_preprocess_params *p, herd_tiles *out,
                            herd_error *err)
{
    herd_preprocess_params defaults;
    if (!out)
        return herd_error_set(err, HERD_ERR_INVALID, "no output tiles");
    memset(out, 0, sizeof *out);
    if (!img || !img->pixels)
        return herd_error_set(err, HERD_ERR_INVALID, "no image");
    if (!p) {
        herd_preprocess_params_default(&defaults);
        p = &defaults;
    }
    herd_tile_plan plan;
    herd_status s = herd_tile_plan_for(img->width, img->height, p, &plan, err);
    if (s)
        return s;
    const uint32_t ts = (uint32_t)p->tile_size;
    const size_t tile_floats = (size_t)3 * ts * ts;

    /* Step 5's map from a byte to its normalised value, in float32 as ToTensor + Normalize. */
    float lut[256];
    for (int u = 0; u < 256; u++)
        lut[u] = ((float)u / 255.0f - 0.5f) / 0.5f;

    uint8_t *resized = NULL, *global = NULL;
    const uint8_t *rs = img->pixels;
    uint32_t nw = plan.resized_w, nh = plan.resized_h;
    out->data = malloc(tile_floats * (size_t)plan.n_tiles * sizeof(float));
    if (!out->data) {
        s = herd_error_set(err, HERD_ERR_NOMEM, "out of memory for %d tiles", plan.n_tiles);
        goto fail;
    }
    if (nw != img->width || nh != img->height) {
        resized = malloc((size_t)nw * nh * 3);
        if (!resized) {
            s = herd_error_set(err, HERD_ERR_NOMEM, "out of memory resizing to %ux%u", nw, nh);
            goto fail;
        }
        s = herd_resize_bilinear_rgb8(img->pixels, img->width, img->height, resized, nw, nh,
                                      p->resample, err);
        if (s)
            goto fail;
        rs = resized;
    }

    /* Steps 4 and 6: the padded canvas, cut into tiles without materialising it. */
    for (int r = 0; r < plan.rows; r++) {
        for (int c = 0; c < plan.cols; c++) {
            float *t = out->data + tile_floats * (size_t)(r * plan.cols + c);
            for (uint32_t y = 0; y < ts; y++) {
                uint32_t cy = (uint32_t)r * ts + y;
                for (uint32_t x = 0; x < ts; x++) {
                    uint32_t cx = (uint32_t)c * ts + x;
                    size_t o = (size_t)y * ts + x;
                    if (cy < nh && cx < nw) {
                        const uint8_t *px = rs + ((size_t)cy * nw + cx) * 3;
                        t[o] = lut[px[0]];
                        t[(size_t)ts * ts + o] = lut[px[1]];
                        t[(size_t)2 * ts * ts + o] = lut[px[2]];
                    } else {
                        t[o] = t[(size_t)ts * ts + o] = t[(size_t)2 * ts * ts + o] = lut[0];
                    }
                }
            }
        }
    }

    /* Step 7: the whole original image squashed to one tile. */
    if (plan.has_global) {
        global = malloc((size_t)ts * ts * 3);
        if (!global) {
            s = herd_error_set(err, HERD_ERR_NOMEM, "out of memory for the global tile");
            goto fail;
        }
        s = herd_resize_bilinear_rgb8(img->pixels, img->width, img->height, global, ts, ts,
                                      p->resample, err);
        if (s)
            goto fail;
        float *t = out->data + tile_floats * (size_t)(plan.rows * plan.cols);
        for (size_t i = 0; i < (size_t)ts * ts; i++)
            for (int ch = 0; ch < 3; ch++)
                t[(size_t)ch * ts * ts + i] = lut[global[i * 3 + ch]];
    }
    free(resized);
    free(global);
    out->n_tiles = plan.n_tiles;
    out->rows = plan.rows;
    out->cols = plan.cols;
    out->has_global = plan.has_global;
    out->tile_size = (int)ts;
    return HERD_OK;

fail:
    free(resized);
    free(global);
    herd_tiles_free(out);
    return s;
}
