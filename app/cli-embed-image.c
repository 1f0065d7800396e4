/* herd-cli embed-image: an image file → the projected embeddings that replace its <|patch|>
 * tokens (float32, row-major [n_image_tokens × n_embd]), optionally the preprocessed tiles. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli-common.h"
#include "cli.h"
#include "encoder.h"
#include "image.h"
#include "preprocess.h"

static bool write_f32(const char *path, const float *d, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return false;
    bool ok = fwrite(d, sizeof *d, n, f) == n;
    return fclose(f) == 0 && ok;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int cli_embed_image(int argc, char **argv)
{
    cli_model_opts o;
    cli_model_opts_init(&o);
    const char *image = NULL, *out = NULL, *tiles_out = NULL;
    long max_tiles = 16;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int r = cli_model_opt(&o, argc, argv, &i);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("usage: herd-cli embed-image --mmproj MMPROJ --image FILE -o OUT.f32 "
                   "[--tiles-out TILES.f32] [--max-tiles N] [options]\n\n"
                   "Writes the projected image embeddings (float32, [tokens x width], 144 per "
                   "tile,\ntiles row-major then the global tile) and optionally the "
                   "preprocessed tiles\n(float32, [tiles][3][336][336]). Prints the grid and "
                   "the encode time.\n\n%s",
                   cli_model_opts_help);
            return 0;
        } else if (!strcmp(a, "--image")) {
            if (!(image = cli_value(argc, argv, &i)))
                return 2;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (!(out = cli_value(argc, argv, &i)))
                return 2;
        } else if (!strcmp(a, "--tiles-out")) {
            if (!(tiles_out = cli_value(argc, argv, &i)))
                return 2;
        } else if (!strcmp(a, "--max-tiles")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_parse_int(a, v, 1, 64, &max_tiles))
                return 2;
        } else {
            cli_error("embed-image: unknown option '%s' (see 'herd-cli embed-image --help')", a);
            return 2;
        }
    }
    if (!o.mmproj || !image || !out) {
        cli_error("embed-image: need --mmproj FILE, --image FILE and -o OUT.f32");
        return 2;
    }
    herd_error err = { 0 };
    herd_backend_params bp = {
        .kind = o.backend, .device = o.device, .n_threads = o.n_threads, .profile = o.profile
    };
    char note[256];
    herd_backend *be = herd_backend_init_auto(&bp, note, sizeof note, &err);
    if (!be) {
        cli_error("%s", err.msg);
        return 1;
    }
    if (note[0])
        fprintf(stderr, "herd: %s\n", note);
    int rc = 1;
    herd_vision *v = herd_vision_load(o.mmproj, be, &err);
    herd_image img = { 0 };
    herd_tiles tiles = { 0 };
    float *embd = NULL;
    herd_image_limits lim;
    herd_image_limits_default(&lim);
    herd_preprocess_params pp;
    herd_preprocess_params_default(&pp);
    pp.max_tiles = (int)max_tiles;
    if (!v || herd_image_load(image, &lim, &img, &err) ||
        herd_preprocess(&img, &pp, &tiles, &err)) {
        cli_error("%s", err.msg);
        goto done;
    }
    const herd_vision_info *vi = herd_vision_get_info(v);
    size_t rows = (size_t)tiles.n_tiles * (size_t)vi->tokens_per_tile;
    embd = malloc(rows * (size_t)vi->n_proj * sizeof *embd);
    if (!embd) {
        cli_error("embed-image: out of memory");
        goto done;
    }
    double t0 = now_ms();
    if (herd_vision_encode(v, &tiles, embd, &err)) {
        cli_error("%s", err.msg);
        goto done;
    }
    double dt = now_ms() - t0;
    if (!write_f32(out, embd, rows * (size_t)vi->n_proj) ||
        (tiles_out && !write_f32(tiles_out, tiles.data,
                                 (size_t)tiles.n_tiles * 3 * tiles.tile_size * tiles.tile_size))) {
        cli_error("embed-image: cannot write the output");
        goto done;
    }
    printf("%ux%u image: grid %dx%d, %d tiles (%s), %zu embeddings of width %d, encoded in "
           "%.1f ms (%.1f ms per tile, backend %s)\n",
           img.width, img.height, tiles.rows, tiles.cols, tiles.n_tiles,
           tiles.has_global ? "with global view" : "single tile", rows, vi->n_proj, dt,
           dt / tiles.n_tiles, be->iface->name(be));
    if (o.profile)
        herd_backend_profile_report(be, stderr);
    rc = 0;
done:
    free(embd);
    herd_tiles_free(&tiles);
    herd_image_free(&img);
    herd_vision_free(v);
    herd_backend_free(be);
    return rc;
}
