/* herd-cli image-info FILE [--rgb OUT.rgb] [--tiles] [--max-pixels N]:
 * decode an image as the chat would, print "WIDTHxHEIGHT FORMAT" (upright size), optionally dump
 * the RGB8 rows and the Llama 4 tile plan. */
#include "cli.h"
#include "image.h"
#include "preprocess.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void image_info_usage(FILE *f)
{
    fprintf(f,
            "usage: herd-cli image-info FILE [--rgb OUT.rgb] [--tiles] [--max-pixels N]\n\n"
            "Decode a PNG or JPEG (EXIF orientation applied, transparency over white) and\n"
            "print WIDTHxHEIGHT FORMAT.\n\n"
            "  --rgb OUT       write the decoded pixels as raw 8-bit RGB rows\n"
            "  --tiles         also print the Llama 4 tile plan (grid, canvas, resized size)\n"
            "  --max-pixels N  refuse images with more than N pixels (default %u)\n",
            HERD_IMAGE_DEFAULT_MAX_PIXELS);
}

int cli_image_info(int argc, char **argv)
{
    const char *path = NULL, *rgb_out = NULL;
    int tiles = 0;
    herd_image_limits lim;
    herd_image_limits_default(&lim);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            image_info_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--rgb") && i + 1 < argc) {
            rgb_out = argv[++i];
        } else if (!strcmp(argv[i], "--tiles")) {
            tiles = 1;
        } else if (!strcmp(argv[i], "--max-pixels") && i + 1 < argc) {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(argv[++i], &end, 10);
            if (errno || *end || v == 0) {
                cli_error("--max-pixels wants a positive number, not '%s'", argv[i]);
                return 2;
            }
            lim.max_pixels = v;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            cli_error("image-info: unknown option '%s' (see 'herd-cli image-info --help')",
                      argv[i]);
            return 2;
        } else if (!path) {
            path = argv[i];
        } else {
            cli_error("image-info: one file at a time");
            return 2;
        }
    }
    if (!path) {
        image_info_usage(stderr);
        return 2;
    }

    herd_image img;
    herd_error err = { 0 };
    if (herd_image_load(path, &lim, &img, &err)) {
        cli_error("%s: %s", path, err.msg);
        return 1;
    }
    printf("%ux%u %s\n", img.width, img.height, herd_image_format_name(img.format));
    int rc = 0;
    if (tiles) {
        herd_tile_plan plan;
        if (herd_tile_plan_for(img.width, img.height, NULL, &plan, &err)) {
            cli_error("%s: %s", path, err.msg);
            rc = 1;
        } else {
            printf("tiles: grid %dx%d (rows x cols), canvas %ux%u, resized to %ux%u, %d tile%s%s\n",
                   plan.rows, plan.cols, plan.canvas_w, plan.canvas_h, plan.resized_w,
                   plan.resized_h, plan.n_tiles, plan.n_tiles == 1 ? "" : "s",
                   plan.has_global ? " (incl. global)" : "");
        }
    }
    if (rgb_out && rc == 0) {
        FILE *f = fopen(rgb_out, "wb");
        size_t n = (size_t)img.width * img.height * 3;
        if (!f || fwrite(img.pixels, 1, n, f) != n) {
            cli_error("cannot write %s: %s", rgb_out, strerror(errno));
            rc = 1;
        }
        if (f && fclose(f) && rc == 0) {
            cli_error("cannot write %s: %s", rgb_out, strerror(errno));
            rc = 1;
        }
    }
    herd_image_free(&img);
    return rc;
}
