/* preprocess.h: Llama 4 image preprocessing (llama4-spec.md §3.1): best tile canvas, aspect-
 * preserving resize (Pillow's antialiased bilinear), black padding bottom/right, normalisation
 * (u/255 − 0.5)/0.5, 336×336 tiles row-major, plus a global tile when there is more than one. */
#pragma once

#include "herd-error.h"
#include "image.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HERD_TILE_SIZE         336
#define HERD_MAX_TILES_DEFAULT 16

/* Both references use the same antialiased triangle filter (spec §3.1) and differ only in
 * arithmetic (±1 on ~15% of the 8-bit values):
 * TORCHVISION (default) = transformers' Llama4ImageProcessorFast as run for the project's fixtures:
 *   torchvision resize(antialias=True) via float32 (no rounding between passes, fused multiply-add,
 *   round half to even), bit-exact with torch 2.5 / torchvision 0.20 on an AVX-512 CPU;
 * PILLOW = Meta's reference (PIL Image.resize BILINEAR: 22-bit fixed point, 8-bit rounding after
 *   the horizontal pass), bit-exact with Pillow where it runs the horizontal pass first (always
 *   up to Pillow 11; Pillow 13 sometimes reorders the passes). */
typedef enum herd_resample_kind {
    HERD_RESAMPLE_TORCHVISION = 0,
    HERD_RESAMPLE_PILLOW,
} herd_resample_kind;

typedef struct herd_preprocess_params {
    int tile_size;               /* 336 */
    int max_tiles;               /* R·C cap for the local tiles, default 16 */
    herd_resample_kind resample; /* default HERD_RESAMPLE_TORCHVISION */
} herd_preprocess_params;

/* The decisions of steps 1–3, without touching pixels. */
typedef struct herd_tile_plan {
    int rows, cols;              /* grid R × C */
    uint32_t canvas_w, canvas_h; /* 336·C × 336·R */
    uint32_t resized_w, resized_h;
    int n_tiles; /* R·C, + 1 global tile when R·C > 1 */
    int has_global;
} herd_tile_plan;

typedef struct herd_tiles {
    int n_tiles; /* local tiles (row-major) then the global tile, if any */
    int rows, cols;
    int has_global;
    int tile_size;
    float *data; /* [n_tiles][3][tile_size][tile_size], owned */
} herd_tiles;

void herd_preprocess_params_default(herd_preprocess_params *p);

/* Steps 1–3 for a w × h image (p may be NULL for the defaults). */
herd_status herd_tile_plan_for(uint32_t w, uint32_t h, const herd_preprocess_params *p,
                               herd_tile_plan *plan, herd_error *err);

/* The whole pipeline. out->data is allocated; free with herd_tiles_free. */
herd_status herd_preprocess(const herd_image *img, const herd_preprocess_params *p, herd_tiles *out,
                            herd_error *err);
void herd_tiles_free(herd_tiles *t);

/* Antialiased bilinear resize of RGB8 (triangle filter widened when reducing; horizontal pass then
 * vertical, each rounded and clamped to 8 bits), with the weights of `kind`. dst is dw·dh·3. */
herd_status herd_resize_bilinear_rgb8(const uint8_t *src, uint32_t sw, uint32_t sh, uint8_t *dst,
                                      uint32_t dw, uint32_t dh, herd_resample_kind kind,
                                      herd_error *err);

#ifdef __cplusplus
}
#endif
