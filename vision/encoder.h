/* encoder.h: the Llama 4 vision encoder + adapter + projector (spec §3.2–3.7), from an mmproj
 * GGUF, run as a graph on the same backend as the text model. One 336×336 tile in, 144
 * embeddings of the text model's width out. */
#pragma once

#include "backend.h"
#include "herd-error.h"
#include "preprocess.h"

typedef struct herd_vision herd_vision;

typedef struct herd_vision_info {
    int image_size, patch_size, n_embd, n_layer, n_head, n_ff;
    int n_proj;          /* output width (= the text model's n_embd) */
    int tokens_per_tile; /* 144 */
    size_t model_bytes;
} herd_vision_info;

/* Loads an mmproj GGUF (general.architecture = clip, clip.projector_type = llama4). The backend
 * is borrowed (the text model's) and must outlive the encoder. */
herd_vision *herd_vision_load(const char *path, herd_backend *be, herd_error *err);
void herd_vision_free(herd_vision *v);
const herd_vision_info *herd_vision_get_info(const herd_vision *v);

/* Encodes every tile: out receives [tiles->n_tiles * 144][n_proj] floats (tile-major, rows in
 * pixel-shuffle order), ready to replace the <|patch|> token embeddings in order. */
herd_status herd_vision_encode(herd_vision *v, const herd_tiles *tiles, float *out,
                               herd_error *err);

/* The whole way from a file: decode (default limits), tile (max_tiles; 0 = 16), encode.
 * *out (malloc'd, caller frees) receives *n_rows = tiles × 144 rows of n_proj floats; *grid_rows
 * and *grid_cols give the tile grid the chat layout needs. */
herd_status herd_vision_encode_file(herd_vision *v, const char *path, int max_tiles, float **out,
                                    int *n_rows, int *grid_rows, int *grid_cols, herd_error *err);
