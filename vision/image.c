/* image.c: PNG (libpng) and JPEG (libjpeg-turbo) decoding into RGB8, limits first.
 *
 * Both libraries report fatal errors through a callback that must not return; ours longjmp()s back
 * into the decode function. To keep that safe, every resource lives in a state struct owned by the
 * caller of the function that calls setjmp(), so nothing the cleanup needs is an automatic variable
 * modified after setjmp() (C11 7.13.2.1).
 */
#include "image.h"

#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>
#include <png.h>

void herd_image_limits_default(herd_image_limits *lim)
{
    lim->max_pixels = HERD_IMAGE_DEFAULT_MAX_PIXELS;
    lim->max_side = HERD_IMAGE_DEFAULT_MAX_SIDE;
    lim->max_file_bytes = HERD_IMAGE_DEFAULT_MAX_FILE_BYTES;
    lim->max_jpeg_scans = HERD_IMAGE_DEFAULT_MAX_JPEG_SCANS;
}

const char *herd_image_format_name(herd_image_format f)
{
    switch (f) {
    case HERD_IMAGE_PNG:
        return "png";
    case HERD_IMAGE_JPEG:
        return "jpeg";
    case HERD_IMAGE_RAW:
        return "raw";
    }
    return "unknown";
}

void herd_image_free(herd_image *img)
{
    if (img) {
        free(img->pixels);
        memset(img, 0, sizeof *img);
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* Shared helpers */

static herd_status check_dims(uint64_t w, uint64_t h, const herd_image_limits *lim, const char *fmt,
                              herd_error *err)
{
    if (w == 0 || h == 0)
        return herd_error_set(err, HERD_ERR_FORMAT, "%s image has zero size (%llux%llu)", fmt,
                              (unsigned long long)w, (unsigned long long)h);
    if (w > lim->max_side || h > lim->max_side)
        return herd_error_set(err, HERD_ERR_LIMIT,
                              "%s image is %llux%llu pixels: a side exceeds the limit of %u", fmt,
                              (unsigned long long)w, (unsigned long long)h, lim->max_side);
    if (w * h > lim->max_pixels)
        return herd_error_set(err, HERD_ERR_LIMIT,
                              "%s image is %llux%llu = %.1f megapixels, over the limit of %.1f",
                              fmt, (unsigned long long)w, (unsigned long long)h,
                              (double)(w * h) / 1e6, (double)lim->max_pixels / 1e6);
    return HERD_OK;
}

/* Reads EXIF orientation from a TIFF structure (starting at "II*\0" / "MM\0*"). Returns 1..8,
 * or 1 when absent, malformed or out of range. Every read is bounds-checked. */
static int exif_orientation(const uint8_t *p, size_t n)
{
    if (n < 8)
        return 1;
    int le;
    if (p[0] == 'I' && p[1] == 'I')
        le = 1;
    else if (p[0] == 'M' && p[1] == 'M')
        le = 0;
    else
        return 1;
#define RD16(q) (le ? (uint32_t)((q)[0] | (q)[1] << 8) : (uint32_t)((q)[0] << 8 | (q)[1]))
#define RD32(q)                                                                      \
    (le ? ((uint32_t)(q)[0] | (uint32_t)(q)[1] << 8 | (uint32_t)(q)[2] << 16 |       \
           (uint32_t)(q)[3] << 24)                                                   \
        : ((uint32_t)(q)[0] << 24 | (uint32_t)(q)[1] << 16 | (uint32_t)(q)[2] << 8 | \
           (uint32_t)(q)[3]))
    if (RD16(p + 2) != 42)
        return 1;
    uint32_t ifd = RD32(p + 4);
    if (ifd > n || n - ifd < 2)
        return 1;
    uint32_t count = RD16(p + ifd);
    for (uint32_t i = 0; i < count; i++) {
        size_t off = (size_t)ifd + 2 + (size_t)12 * i;
        if (off > n || n - off < 12)
            break;
        if (RD16(p + off) != 0x0112)
            continue;
        uint32_t type = RD16(p + off + 2), cnt = RD32(p + off + 4), v;
        if (cnt < 1)
            return 1;
        if (type == 3) /* SHORT */
            v = RD16(p + off + 8);
        else if (type == 4) /* LONG */
            v = RD32(p + off + 8);
        else
            return 1;
        return v >= 1 && v <= 8 ? (int)v : 1;
    }
    return 1;
#undef RD16
#undef RD32
}

/* Applies EXIF orientation o (2..8) to an RGB8 image in place (one temporary buffer). */
static herd_status apply_orientation(herd_image *img, int o, herd_error *err)
{
    if (o < 2 || o > 8)
        return HERD_OK;
    uint32_t w = img->width, h = img->height;
    int swap = o >= 5;
    uint32_t ow = swap ? h : w, oh = swap ? w : h;
    uint8_t *dst = malloc((size_t)ow * oh * 3);
    if (!dst)
        return herd_error_set(err, HERD_ERR_NOMEM, "out of memory rotating a %ux%u image", w, h);
    const uint8_t *src = img->pixels;
    for (uint32_t y = 0; y < oh; y++) {
        uint8_t *d = dst + (size_t)y * ow * 3;
        for (uint32_t x = 0; x < ow; x++, d += 3) {
            uint32_t sx, sy;
            switch (o) {
            case 2:
                sx = w - 1 - x;
                sy = y;
                break; /* mirror left-right */
            case 3:
                sx = w - 1 - x;
                sy = h - 1 - y;
                break; /* rotate 180 */
            case 4:
                sx = x;
                sy = h - 1 - y;
                break; /* mirror top-bottom */
            case 5:
                sx = y;
                sy = x;
                break; /* transpose */
            case 6:
                sx = y;
                sy = h - 1 - x;
                break; /* rotate 90 clockwise */
            case 7:
                sx = w - 1 - y;
                sy = h - 1 - x;
                break; /* transverse */
            default:
                sx = w - 1 - y;
                sy = x;
                break; /* 8: rotate 90 anticlockwise */
            }
            const uint8_t *s = src + ((size_t)sy * w + sx) * 3;
            d[0] = s[0];
            d[1] = s[1];
            d[2] = s[2];
        }
    }
    free(img->pixels);
    img->pixels = dst;
    img->width = ow;
    img->height = oh;
    img->orientation = o;
    return HERD_OK;
}

/* The end of a decode: on success the image goes to the caller upright (EXIF orientation applied,
 * which may still fail for memory), else its pixels are freed. */
static herd_status deliver(herd_status s, herd_image *img, herd_image_format format,
                           int exif_orient, herd_image *out, herd_error *err)
{
    if (s != HERD_OK) {
        free(img->pixels);
        return s;
    }
    img->format = format;
    img->orientation = 1;
    *out = *img;
    s = apply_orientation(out, exif_orient, err);
    if (s)
        herd_image_free(out);
    return s;
}

/* One row of decoded samples (1..4 channels, 8 or 16 bits, big-endian) → RGB8 over white. */
static void row_to_rgb(const uint8_t *in, int channels, int depth, uint32_t w, uint8_t *out)
{
    if (depth == 8) {
        for (uint32_t x = 0; x < w; x++, out += 3) {
            switch (channels) {
            case 1:
                out[0] = out[1] = out[2] = in[0];
                in += 1;
                break;
            case 2:
                out[0] = out[1] = out[2] = herd_over_white8(in[0], in[1]);
                in += 2;
                break;
            case 3:
                out[0] = in[0];
                out[1] = in[1];
                out[2] = in[2];
                in += 3;
                break;
            default:
                out[0] = herd_over_white8(in[0], in[3]);
                out[1] = herd_over_white8(in[1], in[3]);
                out[2] = herd_over_white8(in[2], in[3]);
                in += 4;
                break;
            }
        }
        return;
    }
    /* 16 bits: opaque samples keep the high byte (as Pillow); with alpha, composite at 16 bits:
     * v16 = (c·a + 65535·(65535 − a)) / 65535, then v8 = round(v16 / 257). */
    const uint64_t den = 65535ull * 257;
    for (uint32_t x = 0; x < w; x++, out += 3) {
        uint32_t s[4];
        for (int c = 0; c < channels; c++)
            s[c] = (uint32_t)in[2 * c] << 8 | in[2 * c + 1];
        in += 2 * channels;
        if (channels == 1) {
            out[0] = out[1] = out[2] = (uint8_t)(s[0] >> 8);
        } else if (channels == 3) {
            out[0] = (uint8_t)(s[0] >> 8);
            out[1] = (uint8_t)(s[1] >> 8);
            out[2] = (uint8_t)(s[2] >> 8);
        } else {
            uint32_t a = s[channels - 1];
            int nc = channels == 2 ? 1 : 3;
            for (int c = 0; c < 3; c++) {
                uint64_t num = (uint64_t)s[c < nc ? c : 0] * a + 65535ull * (65535 - a);
                out[c] = (uint8_t)((2 * num + den) / (2 * den));
            }
        }
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* PNG */

typedef struct png_state {
    const uint8_t *data;
    size_t size, pos;
    const herd_image_limits *lim;
    herd_error *err;
    jmp_buf jb;
    char msg[256];
    png_structp png;
    png_infop info;
    uint8_t *rows;      /* one row, or the whole image when interlaced */
    png_bytep *rowptrs; /* interlaced only */
    herd_image img;
    int exif_orient;
} png_state;

static void png_fail(png_structp png, png_const_charp msg)
{
    png_state *st = png_get_error_ptr(png);
    snprintf(st->msg, sizeof st->msg, "%s", msg ? msg : "unknown libpng error");
    longjmp(st->jb, 1);
}

static void png_warn(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg; /* libpng's own defaults decide what is only a warning (e.g. ancillary CRC) */
}

static void png_read_mem(png_structp png, png_bytep buf, size_t n)
{
    png_state *st = png_get_io_ptr(png);
    if (n > st->size - st->pos)
        png_error(png, "unexpected end of data (file truncated)");
    memcpy(buf, st->data + st->pos, n);
    st->pos += n;
}

static herd_status png_decode_inner(png_state *st)
{
    herd_error *err = st->err;
    st->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, st, png_fail, png_warn);
    if (!st->png)
        return herd_error_set(err, HERD_ERR_NOMEM, "cannot create a PNG reader");
    st->info = png_create_info_struct(st->png);
    if (!st->info)
        return herd_error_set(err, HERD_ERR_NOMEM, "cannot create a PNG reader");
    if (setjmp(st->jb))
        return herd_error_set(err, HERD_ERR_FORMAT, "corrupt PNG: %s", st->msg);

    png_set_read_fn(st->png, st, png_read_mem);
    uint32_t side = st->lim->max_side < 0x7fffffffu ? st->lim->max_side : 0x7fffffffu;
    png_set_user_limits(st->png, side, side);
    png_set_chunk_malloc_max(st->png, 8u << 20); /* ancillary chunks above 8 MiB are dropped */
    png_read_info(st->png, st->info);

    png_uint_32 w, h;
    int depth, ctype, interlace;
    png_get_IHDR(st->png, st->info, &w, &h, &depth, &ctype, &interlace, NULL, NULL);
    herd_status s = check_dims(w, h, st->lim, "PNG", err);
    if (s)
        return s;

#ifdef PNG_eXIf_SUPPORTED
    png_bytep exif = NULL;
    png_uint_32 exif_len = 0;
    if (png_get_eXIf_1(st->png, st->info, &exif_len, &exif) && exif)
        st->exif_orient = exif_orientation(exif, exif_len);
#endif

    if (ctype == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(st->png);
    if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(st->png);
    /* tRNS becomes alpha for palette and grey; an RGB PNG stays plain RGB (Pillow keeps its mode
     * "RGB" and convert_to_rgb leaves it untouched). */
    if (ctype != PNG_COLOR_TYPE_RGB && png_get_valid(st->png, st->info, PNG_INFO_tRNS))
        png_set_tRNS_to_alpha(st->png);
    int passes = png_set_interlace_handling(st->png);
    png_read_update_info(st->png, st->info);

    int channels = png_get_channels(st->png, st->info);
    int odepth = png_get_bit_depth(st->png, st->info);
    size_t rowbytes = png_get_rowbytes(st->png, st->info);
    if (channels < 1 || channels > 4 || (odepth != 8 && odepth != 16) ||
        rowbytes != (size_t)w * channels * (odepth / 8))
        return herd_error_set(err, HERD_ERR_UNSUPPORTED,
                              "PNG layout not handled (%d channels, %d bits)", channels, odepth);

    st->img.pixels = malloc((size_t)w * h * 3);
    if (!st->img.pixels)
        return herd_error_set(err, HERD_ERR_NOMEM, "out of memory for a %ux%u PNG", w, h);
    st->img.width = w;
    st->img.height = h;

    if (passes > 1) {
        st->rows = malloc(rowbytes * h);
        st->rowptrs = malloc(sizeof(png_bytep) * h);
        if (!st->rows || !st->rowptrs)
            return herd_error_set(err, HERD_ERR_NOMEM, "out of memory for a %ux%u PNG", w, h);
        for (png_uint_32 y = 0; y < h; y++)
            st->rowptrs[y] = st->rows + rowbytes * y;
        png_read_image(st->png, st->rowptrs);
        for (png_uint_32 y = 0; y < h; y++)
            row_to_rgb(st->rowptrs[y], channels, odepth, w, st->img.pixels + (size_t)y * w * 3);
    } else {
        st->rows = malloc(rowbytes);
        if (!st->rows)
            return herd_error_set(err, HERD_ERR_NOMEM, "out of memory for a %ux%u PNG", w, h);
        for (png_uint_32 y = 0; y < h; y++) {
            png_read_row(st->png, st->rows, NULL);
            row_to_rgb(st->rows, channels, odepth, w, st->img.pixels + (size_t)y * w * 3);
        }
    }
    /* Trailing chunks (after the image data) are not read: like most viewers, a missing IEND or
     * a damaged chunk after the pixels does not make the picture unusable. */
    return HERD_OK;
}

static herd_status decode_png(const uint8_t *data, size_t size, const herd_image_limits *lim,
                              herd_image *out, herd_error *err)
{
    /* Walk the chunk lengths first: libpng allocates a chunk's declared length for some chunk
     * types before reading it, so a 60-byte file declaring a 1 GiB tEXt costs 1 GiB. libpng
     * only gets the complete chunks: a chunk cut short (or claiming more bytes than there are)
     * ends its view of the data, so it stops there with "file truncated" unless the pixels were
     * already complete (then, as with a missing IEND, the picture is fine). */
    size_t end = size;
    for (size_t pos = 8; pos < size;) {
        uint32_t len = size - pos >= 4 ? (uint32_t)data[pos] << 24 | (uint32_t)data[pos + 1] << 16 |
                                             (uint32_t)data[pos + 2] << 8 | data[pos + 3]
                                       : 0;
        if (size - pos < 12 || len > size - pos - 12) {
            end = pos;
            break;
        }
        pos += 12 + (size_t)len;
        if (!memcmp(data + pos - len - 8, "IEND", 4)) {
            end = pos; /* libpng never sees what follows IEND */
            break;
        }
    }

    png_state *st = calloc(1, sizeof *st);
    if (!st)
        return herd_error_set(err, HERD_ERR_NOMEM, "out of memory");
    st->data = data;
    st->size = end;
    st->lim = lim;
    st->err = err;
    st->exif_orient = 1;
    herd_status s = png_decode_inner(st);
    if (st->png)
        png_destroy_read_struct(&st->png, st->info ? &st->info : NULL, NULL);
    free(st->rows);
    free(st->rowptrs);
    s = deliver(s, &st->img, HERD_IMAGE_PNG, st->exif_orient, out, err);
    free(st);
    return s;
}

/* ---------------------------------------------------------------------------------------------- */
/* JPEG */

typedef struct jpeg_state {
    struct jpeg_error_mgr jerr; /* first: libjpeg hands us cinfo->err */
    struct jpeg_progress_mgr progress;
    struct jpeg_decompress_struct cinfo;
    int created;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX + 64];
    herd_status fail_code;
    const herd_image_limits *lim;
    herd_error *err;
    uint8_t *row; /* CMYK scanline */
    herd_image img;
    int exif_orient;
} jpeg_state;

static void jpeg_fail(j_common_ptr cinfo)
{
    jpeg_state *st = (jpeg_state *)cinfo->err;
    char buf[JMSG_LENGTH_MAX];
    cinfo->err->format_message(cinfo, buf);
    snprintf(st->msg, sizeof st->msg, "%s", buf);
    st->fail_code =
        cinfo->err->msg_code == JERR_BAD_PRECISION ? HERD_ERR_UNSUPPORTED : HERD_ERR_FORMAT;
    longjmp(st->jb, 1);
}

static void jpeg_emit(j_common_ptr cinfo, int level)
{
    jpeg_state *st = (jpeg_state *)cinfo->err;
    if (level >= 0)
        return; /* trace messages */
    cinfo->err->num_warnings++;
    /* Data ran out: Pillow refuses such files by default ("image file is truncated") rather than
     * showing a half-grey picture; so do we. Other corrupt-data warnings decode as libjpeg can. */
    if (cinfo->err->msg_code == JWRN_JPEG_EOF) {
        snprintf(st->msg, sizeof st->msg, "premature end of data (file truncated)");
        st->fail_code = HERD_ERR_FORMAT;
        longjmp(st->jb, 1);
    }
}

static void jpeg_output_nothing(j_common_ptr cinfo)
{
    (void)cinfo; /* a library never prints */
}

static void jpeg_progress(j_common_ptr cinfo)
{
    jpeg_state *st = (jpeg_state *)cinfo->err;
    if (cinfo->is_decompressor) {
        j_decompress_ptr d = (j_decompress_ptr)cinfo;
        if ((uint32_t)d->input_scan_number > st->lim->max_jpeg_scans) {
            snprintf(st->msg, sizeof st->msg, "more than %u progressive scans",
                     st->lim->max_jpeg_scans);
            st->fail_code = HERD_ERR_LIMIT;
            longjmp(st->jb, 1);
        }
    }
}

static herd_status jpeg_decode_inner(jpeg_state *st, const uint8_t *data, size_t size)
{
    herd_error *err = st->err;
    struct jpeg_decompress_struct *ci = &st->cinfo;
    ci->err = jpeg_std_error(&st->jerr);
    st->jerr.error_exit = jpeg_fail;
    st->jerr.emit_message = jpeg_emit;
    st->jerr.output_message = jpeg_output_nothing;
    if (setjmp(st->jb)) {
        herd_status code = st->fail_code ? st->fail_code : HERD_ERR_FORMAT;
        if (code == HERD_ERR_LIMIT)
            return herd_error_set(err, code, "JPEG refused: %s", st->msg);
        if (code == HERD_ERR_UNSUPPORTED)
            return herd_error_set(err, code, "JPEG not supported: %s", st->msg);
        return herd_error_set(err, code, "corrupt JPEG: %s", st->msg);
    }
    jpeg_create_decompress(ci);
    st->created = 1;
    st->progress.progress_monitor = jpeg_progress;
    ci->progress = &st->progress;
    /* No backing store: a memory cap turns an absurd coefficient buffer into a clean error. */
    uint64_t cap = st->lim->max_pixels * 10 + (16u << 20);
    ci->mem->max_memory_to_use = cap > LONG_MAX ? LONG_MAX : (long)cap;
    if (size > ULONG_MAX)
        return herd_error_set(err, HERD_ERR_LIMIT, "JPEG data too large");
    jpeg_mem_src(ci, data, (unsigned long)size);
    jpeg_save_markers(ci, JPEG_APP0 + 1, 0xffff);
    if (jpeg_read_header(ci, TRUE) != JPEG_HEADER_OK)
        return herd_error_set(err, HERD_ERR_FORMAT, "corrupt JPEG: no image in the file");
    herd_status s = check_dims(ci->image_width, ci->image_height, st->lim, "JPEG", err);
    if (s)
        return s;

    for (jpeg_saved_marker_ptr m = ci->marker_list; m; m = m->next) {
        if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 && !memcmp(m->data, "Exif\0\0", 6)) {
            st->exif_orient = exif_orientation(m->data + 6, m->data_length - 6);
            break;
        }
    }

    int cmyk = ci->jpeg_color_space == JCS_CMYK || ci->jpeg_color_space == JCS_YCCK;
    switch (ci->jpeg_color_space) {
    case JCS_GRAYSCALE:
    case JCS_YCbCr:
    case JCS_RGB:
        ci->out_color_space = JCS_RGB;
        break;
    case JCS_CMYK:
    case JCS_YCCK:
        ci->out_color_space = JCS_CMYK;
        break;
    default:
        return herd_error_set(err, HERD_ERR_UNSUPPORTED,
                              "JPEG colour space not supported (%d components)",
                              ci->num_components);
    }
    jpeg_start_decompress(ci);
    uint32_t w = ci->output_width, h = ci->output_height;
    s = check_dims(w, h, st->lim, "JPEG", err);
    if (s)
        return s;
    if (ci->output_components != (cmyk ? 4 : 3))
        return herd_error_set(err, HERD_ERR_UNSUPPORTED, "JPEG output has %d components",
                              ci->output_components);
    st->img.pixels = malloc((size_t)w * h * 3);
    if (cmyk)
        st->row = malloc((size_t)w * 4);
    if (!st->img.pixels || (cmyk && !st->row))
        return herd_error_set(err, HERD_ERR_NOMEM, "out of memory for a %ux%u JPEG", w, h);
    st->img.width = w;
    st->img.height = h;
    while (ci->output_scanline < h) {
        uint8_t *dst = st->img.pixels + (size_t)ci->output_scanline * w * 3;
        JSAMPROW row = cmyk ? st->row : dst;
        if (jpeg_read_scanlines(ci, &row, 1) != 1)
            return herd_error_set(err, HERD_ERR_FORMAT, "corrupt JPEG: decoder stalled");
        if (cmyk) {
            /* libjpeg returns Adobe-style (inverted) CMYK; as djpeg: R = C·K/255, rounded. */
            for (uint32_t x = 0; x < w; x++) {
                const uint8_t *p = st->row + 4 * x;
                unsigned k = p[3];
                dst[3 * x + 0] = (uint8_t)((p[0] * k + 127) / 255);
                dst[3 * x + 1] = (uint8_t)((p[1] * k + 127) / 255);
                dst[3 * x + 2] = (uint8_t)((p[2] * k + 127) / 255);
            }
        }
    }
    /* No jpeg_finish_decompress(): once every row is out, a missing EOI does not matter. */
    return HERD_OK;
}

static herd_status decode_jpeg(const uint8_t *data, size_t size, const herd_image_limits *lim,
                               herd_image *out, herd_error *err)
{
    jpeg_state *st = calloc(1, sizeof *st);
    if (!st)
        return herd_error_set(err, HERD_ERR_NOMEM, "out of memory");
    st->lim = lim;
    st->err = err;
    st->exif_orient = 1;
    herd_status s = jpeg_decode_inner(st, data, size);
    if (st->created)
        jpeg_destroy_decompress(&st->cinfo);
    free(st->row);
    s = deliver(s, &st->img, HERD_IMAGE_JPEG, st->exif_orient, out, err);
    free(st);
    return s;
}

/* ---------------------------------------------------------------------------------------------- */
/* Entry points */

herd_status herd_image_decode(const void *data, size_t size, const herd_image_limits *lim,
                              herd_image *out, herd_error *err)
{
    herd_image_limits defaults;
    if (!out)
        return herd_error_set(err, HERD_ERR_INVALID, "no output image");
    memset(out, 0, sizeof *out);
    if (!data && size)
        return herd_error_set(err, HERD_ERR_INVALID, "no image data");
    if (!lim) {
        herd_image_limits_default(&defaults);
        lim = &defaults;
    }
    if (size > lim->max_file_bytes)
        return herd_error_set(err, HERD_ERR_LIMIT,
                              "image data is %zu bytes, over the limit of %llu", size,
                              (unsigned long long)lim->max_file_bytes);
    const uint8_t *p = data;
    static const uint8_t png_magic[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
    if (size >= 8 && !memcmp(p, png_magic, 8))
        return decode_png(p, size, lim, out, err);
    if (size >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff)
        return decode_jpeg(p, size, lim, out, err);
    if (size == 0)
        return herd_error_set(err, HERD_ERR_FORMAT, "not an image: the data is empty");
    if ((size >= 6 && (!memcmp(p, "GIF87a", 6) || !memcmp(p, "GIF89a", 6))) ||
        (size >= 12 && !memcmp(p, "RIFF", 4) && !memcmp(p + 8, "WEBP", 4)) ||
        (size >= 2 && !memcmp(p, "BM", 2)))
        return herd_error_set(err, HERD_ERR_UNSUPPORTED,
                              "image format not supported (only PNG and JPEG are)");
    if ((size >= 5 && size < 8 && !memcmp(p, png_magic, size)) ||
        (size < 3 && p[0] == 0xff && (size == 1 || p[1] == 0xd8)))
        return herd_error_set(err, HERD_ERR_FORMAT, "truncated image (%zu bytes)", size);
    return herd_error_set(err, HERD_ERR_FORMAT, "not an image (neither PNG nor JPEG data)");
}

herd_status herd_image_load(const char *path, const herd_image_limits *lim, herd_image *out,
                            herd_error *err)
{
    herd_image_limits defaults;
    if (out)
        memset(out, 0, sizeof *out);
    if (!path || !out)
        return herd_error_set(err, HERD_ERR_INVALID, "no path or output image");
    if (!lim) {
        herd_image_limits_default(&defaults);
        lim = &defaults;
    }
    FILE *f = fopen(path, "rb");
    if (!f)
        return herd_error_set(err, HERD_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    herd_status s = HERD_OK;
    for (;;) {
        if (len == cap) {
            if (cap > lim->max_file_bytes) {
                s = herd_error_set(err, HERD_ERR_LIMIT, "%s is larger than the limit of %llu bytes",
                                   path, (unsigned long long)lim->max_file_bytes);
                break;
            }
            size_t ncap = cap ? cap * 2 : 1u << 16;
            if (ncap > lim->max_file_bytes + 1)
                ncap = lim->max_file_bytes + 1; /* one byte more tells "too large" */
            if (ncap <= cap) {
                s = herd_error_set(err, HERD_ERR_LIMIT, "%s is larger than the limit of %llu bytes",
                                   path, (unsigned long long)lim->max_file_bytes);
                break;
            }
            uint8_t *nb = realloc(buf, ncap);
            if (!nb) {
                s = herd_error_set(err, HERD_ERR_NOMEM, "out of memory reading %s", path);
                break;
            }
            buf = nb;
            cap = ncap;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            if (ferror(f))
                s = herd_error_set(err, HERD_ERR_IO, "cannot read %s: %s", path, strerror(errno));
            break;
        }
    }
    fclose(f);
    if (s == HERD_OK) {
        s = herd_image_decode(buf, len, lim, out, err);
        if (s && err) { /* name the file: decoding errors only know the bytes */
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s", err->msg);
            herd_error_set(err, s, "%s: %s", path, msg);
        }
    }
    free(buf);
    return s;
}

herd_status herd_image_from_rgba(uint32_t w, uint32_t h, size_t stride, const uint8_t *rgba,
                                 herd_image *out, herd_error *err)
{
    if (!out)
        return herd_error_set(err, HERD_ERR_INVALID, "no output image");
    memset(out, 0, sizeof *out);
    if (!rgba || w == 0 || h == 0 || stride / 4 < w)
        return herd_error_set(err, HERD_ERR_INVALID, "bad RGBA pixels (%ux%u, stride %zu)", w, h,
                              stride);
    herd_image_limits lim;
    herd_image_limits_default(&lim);
    herd_status s = check_dims(w, h, &lim, "RGBA", err);
    if (s)
        return s;
    out->pixels = malloc((size_t)w * h * 3);
    if (!out->pixels)
        return herd_error_set(err, HERD_ERR_NOMEM, "out of memory for a %ux%u image", w, h);
    out->width = w;
    out->height = h;
    out->format = HERD_IMAGE_RAW;
    out->orientation = 1;
    for (uint32_t y = 0; y < h; y++)
        row_to_rgb(rgba + stride * y, 4, 8, w, out->pixels + (size_t)y * w * 3);
    return HERD_OK;
}
