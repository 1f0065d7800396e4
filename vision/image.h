/* image.h: decode PNG and JPEG into 8-bit RGB, with limits checked before any big allocation.
 *
 * Pixel rules (Llama 4's processor, llama4-spec.md §3.1 step 0, as transformers' convert_to_rgb
 * does it): plain RGB stays as stored (a tRNS colour key on an RGB PNG is ignored); every other
 * layout (grey, grey+alpha, palette, palette/grey with tRNS, RGBA) is composited over opaque white.
 * 16-bit samples keep their high byte; 16-bit alpha is composited at full precision, then rounded.
 * No gamma or colour-profile transform is applied (as Pillow). JPEG EXIF orientation (and PNG eXIf)
 * is applied, so width/height are those of the upright image. CMYK/YCCK JPEGs are converted the way
 * djpeg does (Adobe-inverted CMYK: R = C·K/255, rounded).
 */
#pragma once

#include "herd-error.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum herd_image_format {
    HERD_IMAGE_RAW = 0, /* built from caller pixels (herd_image_from_rgba) */
    HERD_IMAGE_PNG,
    HERD_IMAGE_JPEG,
} herd_image_format;

typedef struct herd_image {
    uint32_t width, height;   /* upright size in pixels, both >= 1 */
    uint8_t *pixels;          /* RGB8, rows top to bottom, stride = 3 * width; owned */
    herd_image_format format; /* what the bytes were */
    int orientation;          /* EXIF orientation applied (1..8; 1 when none) */
} herd_image;

typedef struct herd_image_limits {
    uint64_t max_pixels;     /* width * height cap, checked from the header (default 120 M) */
    uint32_t max_side;       /* cap per side (default 1,000,000, libpng's own default) */
    uint64_t max_file_bytes; /* encoded size cap (default 512 MiB) */
    uint32_t max_jpeg_scans; /* progressive JPEG scan cap against CPU bombs (default 1000) */
} herd_image_limits;

#define HERD_IMAGE_DEFAULT_MAX_PIXELS     (120u * 1000u * 1000u)
#define HERD_IMAGE_DEFAULT_MAX_SIDE       1000000u
#define HERD_IMAGE_DEFAULT_MAX_FILE_BYTES (512ull * 1024 * 1024)
#define HERD_IMAGE_DEFAULT_MAX_JPEG_SCANS 1000u

void herd_image_limits_default(herd_image_limits *lim);

/* Detects the format from the magic bytes. lim may be NULL (defaults). On failure *out is zeroed,
 * err says why: HERD_ERR_FORMAT (not an image, truncated, corrupt), HERD_ERR_UNSUPPORTED (e.g. a
 * 12-bit JPEG), HERD_ERR_LIMIT (too many pixels, too large), HERD_ERR_NOMEM. */
herd_status herd_image_decode(const void *data, size_t size, const herd_image_limits *lim,
                              herd_image *out, herd_error *err);

/* Reads the file (refusing files above lim->max_file_bytes) then decodes it. */
herd_status herd_image_load(const char *path, const herd_image_limits *lim, herd_image *out,
                            herd_error *err);

/* From caller RGBA8 rows (e.g. a pasted texture): composited over white like a decoded file.
 * stride in bytes (>= 4 * w). */
herd_status herd_image_from_rgba(uint32_t w, uint32_t h, size_t stride, const uint8_t *rgba,
                                 herd_image *out, herd_error *err);

void herd_image_free(herd_image *img);

const char *herd_image_format_name(herd_image_format f); /* "png", "jpeg", "raw" */

/* Composite one 8-bit sample over white exactly as Pillow's alpha_composite does. */
static inline uint8_t herd_over_white8(unsigned c, unsigned a)
{
    /* Pillow AlphaComposite.c with an opaque white destination: coef1 = a·128,
     * coef2 = (255 − a)·128, 7 fractional bits, then a rounded division by 255. */
    uint32_t tmp = (c * a + 255u * (255u - a)) * 128u + (0x80u << 7);
    return (uint8_t)((((tmp >> 8) + tmp) >> 8) >> 7);
}

#ifdef __cplusplus
}
#endif
