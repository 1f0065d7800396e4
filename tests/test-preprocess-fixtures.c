/* test-preprocess-fixtures: decode + Llama 4 preprocessing against transformers'
 * Llama4ImageProcessorFast, from the fixtures tools/make_fixtures.py writes (tests/fixtures/images,
 * or $HERD_FIXTURES_DIR/images): for each NAME.canvas.png there, NAME.png is the input,
 * NAME.canvas.png the 8-bit padded canvas (local tiles), NAME.global.png the 8-bit global tile
 * (when the grid has more than one tile), NAME.pixel_values.bin the processor's bfloat16 output
 * as float32 [tiles][3][336][336] (for some images).
 * Targets: grid and canvas identical; 8-bit pixels within ±1 on >= 99.9% (measured: identical);
 * float values within one 8-bit step plus bfloat16 rounding. Exit 77 when there are no fixtures. */
#include "check.h"
#include "vision/image.h"
#include "vision/preprocess.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static size_t total_values, total_exact, total_within1;
static int total_max;

/* 8-bit value of a normalised float from our own tiles (the map is exact and invertible). */
static int u8_of(float v)
{
    return (int)lrintf((v + 1.0f) * 127.5f);
}

/* Compares ts×ts block (tile t of ours) with the region of an 8-bit reference image. */
static void cmp_block(const herd_tiles *t, int tile, const herd_image *ref, unsigned x0,
                      unsigned y0, size_t *exact, size_t *within1, int *maxd)
{
    const unsigned ts = (unsigned)t->tile_size;
    for (int c = 0; c < 3; c++)
        for (unsigned y = 0; y < ts; y++)
            for (unsigned x = 0; x < ts; x++) {
                float v = t->data[(((size_t)tile * 3 + c) * ts + y) * ts + x];
                int r = ref->pixels[((size_t)(y0 + y) * ref->width + x0 + x) * 3 + c];
                int d = abs(u8_of(v) - r);
                *exact += d == 0;
                *within1 += d <= 1;
                if (d > *maxd)
                    *maxd = d;
            }
}

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static void one(const char *dir, const char *name)
{
    char in[4096], canvas[4096], global[4096], pvbin[4096];
    if (snprintf(in, sizeof in, "%s/%s.png", dir, name) >= (int)sizeof in ||
        snprintf(canvas, sizeof canvas, "%s/%s.canvas.png", dir, name) >= (int)sizeof canvas ||
        snprintf(global, sizeof global, "%s/%s.global.png", dir, name) >= (int)sizeof global ||
        snprintf(pvbin, sizeof pvbin, "%s/%s.pixel_values.bin", dir, name) >= (int)sizeof pvbin) {
        CHECK(0, "%s: path too long", name);
        return;
    }
    herd_image img, cv, gl = { 0 };
    herd_error err = { 0 };
    if (herd_image_load(in, NULL, &img, &err)) {
        CHECK(0, "%s: %s", in, err.msg);
        return;
    }
    if (herd_image_load(canvas, NULL, &cv, &err)) {
        CHECK(0, "%s: %s", canvas, err.msg);
        herd_image_free(&img);
        return;
    }
    int has_global = exists(global);
    if (has_global && herd_image_load(global, NULL, &gl, &err)) {
        CHECK(0, "%s: %s", global, err.msg);
        has_global = 0;
    }
    herd_tiles t;
    herd_status s = herd_preprocess(&img, NULL, &t, &err);
    CHECK(s == HERD_OK, "%s: preprocess: %s", name, err.msg);
    if (s != HERD_OK)
        goto out;
    CHECK((unsigned)t.cols * 336 == cv.width && (unsigned)t.rows * 336 == cv.height,
          "%s (%ux%u): grid %dx%d, transformers' canvas is %ux%u", name, img.width, img.height,
          t.rows, t.cols, cv.width, cv.height);
    CHECK(t.has_global == has_global, "%s: global tile %d, transformers %d", name, t.has_global,
          has_global);
    if ((unsigned)t.cols * 336 != cv.width || (unsigned)t.rows * 336 != cv.height)
        goto out_tiles;

    size_t exact = 0, within1 = 0, n = (size_t)t.rows * t.cols * 3 * 336 * 336;
    int maxd = 0;
    for (int r = 0; r < t.rows; r++)
        for (int c = 0; c < t.cols; c++)
            cmp_block(&t, r * t.cols + c, &cv, 336u * c, 336u * r, &exact, &within1, &maxd);
    if (has_global && t.has_global) {
        cmp_block(&t, t.rows * t.cols, &gl, 0, 0, &exact, &within1, &maxd);
        n += 3 * 336 * 336;
    }
    CHECK(within1 >= n * 0.999 && maxd <= 2,
          "%s: 8-bit tiles: %.4f%% exact, %.4f%% within 1, "
          "max diff %d",
          name, 100.0 * exact / n, 100.0 * within1 / n, maxd);
    printf("%-14s %5ux%-5u grid %dx%d%s: 8-bit tiles %.4f%% identical, max diff %d\n", name,
           img.width, img.height, t.rows, t.cols, t.has_global ? " + global" : "",
           100.0 * exact / n, maxd);
    total_values += n;
    total_exact += exact;
    total_within1 += within1;
    if (maxd > total_max)
        total_max = maxd;

    /* the float values HF feeds the encoder (bfloat16 arithmetic) */
    FILE *f = fopen(pvbin, "rb");
    if (f) {
        size_t nv = (size_t)t.n_tiles * 3 * 336 * 336;
        float *pv = malloc(nv * sizeof(float));
        size_t got = fread(pv, sizeof(float), nv, f);
        int extra = fgetc(f) != EOF;
        fclose(f);
        CHECK(got == nv && !extra,
              "%s: pixel_values has the wrong size (%zu values read, "
              "expected %zu)",
              pvbin, got, nv);
        if (got == nv) {
            double md = 0;
            for (size_t i = 0; i < nv; i++) {
                double d = fabs((double)pv[i] - t.data[i]);
                md = d > md ? d : md;
            }
            /* bfloat16 keeps 8 significant bits: |v| <= 1 is off by <= 2^-8 after two ops */
            CHECK(md <= 2.0 / 255 + 1.0 / 256, "%s: pixel_values max |diff| %.5f", name, md);
            printf("%-14s pixel_values (bf16) vs our float32: max |diff| %.5f\n", name, md);
        }
        free(pv);
    }
out_tiles:
    herd_tiles_free(&t);
out:
    herd_image_free(&img);
    herd_image_free(&cv);
    herd_image_free(&gl);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void)
{
    char dir[4096];
    const char *fx = getenv("HERD_FIXTURES_DIR");
    const char *src = getenv("HERD_SOURCE_DIR");
    if (fx)
        snprintf(dir, sizeof dir, "%s/images", fx);
    else
        snprintf(dir, sizeof dir, "%s/tests/fixtures/images", src ? src : ".");
    DIR *d = opendir(dir);
    char *names[512];
    int n = 0;
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) && n < 512) {
            size_t l = strlen(e->d_name);
            if (l > 11 && !strcmp(e->d_name + l - 11, ".canvas.png"))
                names[n++] = strndup(e->d_name, l - 11);
        }
        closedir(d);
    }
    if (n == 0) {
        fprintf(stderr,
                "SKIP: no transformers image fixtures (*.canvas.png) in %s: run "
                "tools/make_fixtures.py (see docs/fixtures.md)\n",
                dir);
        return 77;
    }
    qsort(names, n, sizeof names[0], cmp_str);
    for (int i = 0; i < n; i++) {
        one(dir, names[i]);
        free(names[i]);
    }
    printf("%d fixture images, %zu 8-bit values: %.4f%% identical, %.4f%% within 1, max diff %d;"
           " %d checks, %d failures\n",
           n, total_values, 100.0 * total_exact / total_values,
           100.0 * total_within1 / total_values, total_max, checks, failures);
    return failures ? 1 : 0;
}
