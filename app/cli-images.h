/* cli-images.h: decode, tile and encode the images of a herd-cli prompt. */
#pragma once

#include "cli-common.h"
#include "herd.h"

typedef struct cli_images {
    int n;
    int rows[16], cols[16]; /* tile grid per image */
    float *embd;            /* all images' rows, [n_rows][n_embd] */
    int n_rows;
    double encode_ms; /* decoding + tiling + encoding, all images */
} cli_images;

/* Loads the mmproj on the model's backend, checks the pair matches, and encodes each image. */
herd_status cli_images_load(cli_images *im, const char *mmproj, const char *const *paths, int n,
                            herd_model *m, const cli_model_opts *o, herd_error *err);
void cli_images_free(cli_images *im);
