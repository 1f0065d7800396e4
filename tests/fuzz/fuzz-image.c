/* fuzz-image.c: libFuzzer target for vision/image.c (PNG and JPEG decoding, EXIF orientation) and
 * the tiling arithmetic of vision/preprocess.c. Any input must be refused with a status and a
 * one-line message, or decode to an image whose every pixel can be read; nothing may leak, hang
 * or allocate beyond the (lowered) pixel cap. */
#include "vision/image.h"
#include "vision/preprocess.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint8_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    herd_image_limits lim;
    herd_image_limits_default(&lim);
    lim.max_pixels = 1u << 18; /* keep each run fast; the cap itself is under test too */
    lim.max_jpeg_scans = 64;
    herd_image img;
    herd_error err = { .code = HERD_OK };
    herd_status s = herd_image_decode(data, size, &lim, &img, &err);
    if (s != HERD_OK) {
        if (err.code != s || !err.msg[0] || strchr(err.msg, '\n') || img.pixels)
            __builtin_trap(); /* failures must say why, on one line, and own nothing */
        return 0;
    }
    if (!img.pixels || !img.width || !img.height ||
        (uint64_t)img.width * img.height > lim.max_pixels || img.orientation < 1 ||
        img.orientation > 8)
        __builtin_trap();
    size_t n = (size_t)img.width * img.height * 3;
    uint8_t x = 0;
    for (size_t i = 0; i < n; i++)
        x ^= img.pixels[i];
    sink ^= x;

    /* the tiling decisions for this size, and the whole pipeline at a tiny tile size */
    herd_tile_plan plan;
    if (herd_tile_plan_for(img.width, img.height, NULL, &plan, &err) ||
        plan.resized_w > plan.canvas_w || plan.resized_h > plan.canvas_h)
        __builtin_trap();
    herd_preprocess_params pp;
    herd_preprocess_params_default(&pp);
    pp.tile_size = 8;
    pp.max_tiles = 4;
    pp.resample = (size & 1) ? HERD_RESAMPLE_PILLOW : HERD_RESAMPLE_TORCHVISION;
    herd_tiles t;
    if (herd_preprocess(&img, &pp, &t, &err))
        __builtin_trap();
    for (size_t i = 0; i < (size_t)t.n_tiles * 3 * 8 * 8; i++)
        if (!(t.data[i] >= -1.0f && t.data[i] <= 1.0f))
            __builtin_trap();
    herd_tiles_free(&t);
    herd_image_free(&img);
    return 0;
}
