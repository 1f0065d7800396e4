/* test-image: vision/image.c on images generated here with libpng and libjpeg (every PNG colour
 * type and depth, interlaced, tRNS, JPEG baseline/progressive/grey/CMYK/YCCK, EXIF orientations),
 * and on broken inputs (truncated, wrong magic, zero and absurd sizes, decompression bombs,
 * palette oddities, hostile EXIF), which must be refused with the right code and a message. */
#include "check.h"
#include "vision/image.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jpeglib.h>
#include <png.h>

/* ---- growable buffer
 * ---------------------------------------------------------------------------*/

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static void buf_put(buf *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 256;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

/* ---- the synthetic pattern
 * ---------------------------------------------------------------------*/

/* 16-bit sample c (0..3, 3 = alpha) of pixel (x, y); smooth enough for JPEG, every value class
 * (0, full, partial alpha) present for PNG. */
static unsigned pat16(unsigned x, unsigned y, unsigned c, unsigned w, unsigned h)
{
    switch (c) {
    case 0:
        return (x * 65535u) / (w > 1 ? w - 1 : 1);
    case 1:
        return (y * 65535u) / (h > 1 ? h - 1 : 1);
    case 2:
        return ((x + y) * 65535u) / (w + h > 2 ? w + h - 2 : 1);
    default:
        return ((x * 7 + y * 13) % 17) * 65535u / 16; /* alpha: 0, 1/16, ..., 1 */
    }
}

/* ---- PNG writer -------------------------------------------------------------------------------
 */

static void png_w(png_structp png, png_bytep d, size_t n)
{
    buf_put(png_get_io_ptr(png), d, n);
}

static void png_flush_nop(png_structp png)
{
    (void)png;
}

typedef struct png_spec {
    unsigned w, h;
    int ctype, depth, interlace;
    int trns; /* palette: alpha per entry; grey/RGB: a colour key */
} png_spec;

/* Palette entries (colour type 3): 2^depth colours, entry i = grey ramp with a tint. */
static void pal_entry(int i, int depth, uint8_t rgb[3], uint8_t *alpha)
{
    int n = 1 << depth;
    rgb[0] = (uint8_t)(i * 255 / (n - 1));
    rgb[1] = (uint8_t)(255 - i * 255 / (n - 1));
    rgb[2] = (uint8_t)((i * 37) & 255);
    *alpha = (uint8_t)((i * 97) & 255);
}

/* The stored sample (at the PNG's own depth) of channel c at (x, y). */
static unsigned png_sample(const png_spec *s, unsigned x, unsigned y, unsigned c)
{
    if (s->ctype == PNG_COLOR_TYPE_PALETTE)
        return (x + y * 3) % (1u << s->depth);
    unsigned v = pat16(x, y, c, s->w, s->h);
    return v >> (16 - s->depth);
}

static buf write_png(const png_spec *s)
{
    buf out = { 0 };
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    uint8_t *row = NULL;
    if (setjmp(png_jmpbuf(png))) {
        fprintf(stderr, "libpng write failed\n");
        exit(1);
    }
    png_set_write_fn(png, &out, png_w, png_flush_nop);
    png_set_IHDR(png, info, s->w, s->h, s->depth, s->ctype,
                 s->interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    int ch = s->ctype == 0 ? 1 : s->ctype == 2 ? 3 : s->ctype == 3 ? 1 : s->ctype == 4 ? 2 : 4;
    if (s->ctype == PNG_COLOR_TYPE_PALETTE) {
        png_color pal[256];
        uint8_t alpha[256];
        for (int i = 0; i < (1 << s->depth); i++) {
            uint8_t rgb[3];
            pal_entry(i, s->depth, rgb, &alpha[i]);
            pal[i].red = rgb[0];
            pal[i].green = rgb[1];
            pal[i].blue = rgb[2];
        }
        png_set_PLTE(png, info, pal, 1 << s->depth);
        if (s->trns)
            png_set_tRNS(png, info, alpha, 1 << s->depth, NULL);
    } else if (s->trns && (s->ctype == 0 || s->ctype == 2)) {
        png_color_16 key = { 0 };
        /* the colour of pixel (0, 0) */
        key.gray = (png_uint_16)png_sample(s, 0, 0, 0);
        key.red = key.gray;
        key.green = (png_uint_16)png_sample(s, 0, 0, 1);
        key.blue = (png_uint_16)png_sample(s, 0, 0, 2);
        png_set_tRNS(png, info, NULL, 0, &key);
    }
    png_write_info(png, info);
    int passes = png_set_interlace_handling(png);
    size_t rowbytes = ((size_t)s->w * ch * s->depth + 7) / 8;
    row = calloc(rowbytes, 1);
    for (int pass = 0; pass < passes; pass++) {
        for (unsigned y = 0; y < s->h; y++) {
            memset(row, 0, rowbytes);
            for (unsigned x = 0; x < s->w; x++) {
                for (int c = 0; c < ch; c++) {
                    unsigned cc = (ch == 2 && c == 1) ? 3 : (unsigned)c; /* grey+alpha */
                    unsigned v = png_sample(s, x, y, cc);
                    size_t bit = ((size_t)x * ch + c) * s->depth;
                    if (s->depth == 16) {
                        row[bit / 8] = (uint8_t)(v >> 8);
                        row[bit / 8 + 1] = (uint8_t)v;
                    } else if (s->depth == 8) {
                        row[bit / 8] = (uint8_t)v;
                    } else {
                        row[bit / 8] |= (uint8_t)(v << (8 - s->depth - bit % 8));
                    }
                }
            }
            png_write_row(png, row);
        }
    }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(row);
    return out;
}

/* Expected RGB8 of a generated PNG, computed independently (floating point, ±1 allowed). */
static void png_expected(const png_spec *s, unsigned x, unsigned y, int out[3])
{
    double rgb[3], a = 1.0;
    int key_hit = 0;
    if (s->trns && (s->ctype == 0 || s->ctype == 2) && x == 0 && y == 0)
        key_hit = 1;
    /* every pixel with the key colour is transparent, not only (0, 0) */
    if (s->trns && s->ctype == 0 && png_sample(s, x, y, 0) == png_sample(s, 0, 0, 0))
        key_hit = 1;
    double max = (double)((1u << s->depth) - 1);
    switch (s->ctype) {
    case PNG_COLOR_TYPE_PALETTE: {
        uint8_t p[3], al;
        pal_entry((int)png_sample(s, x, y, 0), s->depth, p, &al);
        for (int c = 0; c < 3; c++)
            rgb[c] = p[c] / 255.0;
        if (s->trns)
            a = al / 255.0;
        break;
    }
    case PNG_COLOR_TYPE_GRAY:
    case PNG_COLOR_TYPE_GRAY_ALPHA:
        rgb[0] = rgb[1] = rgb[2] = png_sample(s, x, y, 0) / max;
        if (s->ctype == PNG_COLOR_TYPE_GRAY_ALPHA)
            a = png_sample(s, x, y, 3) / max;
        else if (key_hit)
            a = 0.0;
        break;
    default:
        for (int c = 0; c < 3; c++)
            rgb[c] = png_sample(s, x, y, (unsigned)c) / max;
        if (s->ctype == PNG_COLOR_TYPE_RGB_ALPHA)
            a = png_sample(s, x, y, 3) / max;
        /* an RGB tRNS key is ignored: plain RGB stays as stored */
        break;
    }
    for (int c = 0; c < 3; c++)
        out[c] = (int)((rgb[c] * a + (1.0 - a)) * 255.0 + 0.5);
}

static void test_png_matrix(void)
{
    static const struct {
        int ctype, depth;
    } kinds[] = {
        { 0, 1 }, { 0, 2 }, { 0, 4 }, { 0, 8 }, { 0, 16 }, { 2, 8 }, { 2, 16 }, { 3, 1 },
        { 3, 2 }, { 3, 4 }, { 3, 8 }, { 4, 8 }, { 4, 16 }, { 6, 8 }, { 6, 16 },
    };
    int n = 0;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        for (int interlace = 0; interlace < 2; interlace++) {
            for (int trns = 0; trns < 2; trns++) {
                if (trns && (kinds[k].ctype == 4 || kinds[k].ctype == 6))
                    continue;
                png_spec s = { 37, 23, kinds[k].ctype, kinds[k].depth, interlace, trns };
                buf b = write_png(&s);
                herd_image img;
                herd_error err = { 0 };
                herd_status st = herd_image_decode(b.p, b.n, NULL, &img, &err);
                CHECK(st == HERD_OK, "png type %d depth %d il %d trns %d: %s", s.ctype, s.depth,
                      interlace, trns, err.msg);
                if (st == HERD_OK) {
                    CHECK(img.width == s.w && img.height == s.h && img.format == HERD_IMAGE_PNG,
                          "png size %ux%u", img.width, img.height);
                    int bad = 0, maxd = 0;
                    for (unsigned y = 0; y < s.h; y++)
                        for (unsigned x = 0; x < s.w; x++) {
                            int e[3];
                            png_expected(&s, x, y, e);
                            for (int c = 0; c < 3; c++) {
                                int d = abs(img.pixels[(y * s.w + x) * 3 + c] - e[c]);
                                maxd = d > maxd ? d : maxd;
                                bad += d > 1;
                            }
                        }
                    CHECK(bad == 0, "png type %d depth %d il %d trns %d: %d samples off (max %d)",
                          s.ctype, s.depth, interlace, trns, bad, maxd);
                    herd_image_free(&img);
                }
                n++;
                free(b.p);
            }
        }
    }
    printf("png: %d generated layouts decoded and compared (±1)\n", n);
}

/* ---- JPEG writer ------------------------------------------------------------------------------
 */

typedef struct jpeg_spec {
    unsigned w, h;
    J_COLOR_SPACE in_space;   /* JCS_RGB, JCS_GRAYSCALE, JCS_CMYK */
    J_COLOR_SPACE jpeg_space; /* JCS_YCbCr, JCS_GRAYSCALE, JCS_CMYK, JCS_YCCK */
    int progressive;
    int quality;
    const uint8_t *app1; /* optional APP1 payload */
    size_t app1_len;
    const uint8_t *pixels; /* optional stored pixels (w*h*components) */
} jpeg_spec;

static uint8_t jpeg_sample(const jpeg_spec *s, unsigned x, unsigned y, unsigned c)
{
    return (uint8_t)(pat16(x, y, c % 3, s->w, s->h) >> 8) ^ (c == 3 ? 0x40 : 0);
}

static buf write_jpeg(const jpeg_spec *s)
{
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr jerr;
    unsigned char *mem = NULL;
    unsigned long size = 0;
    ci.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&ci);
    jpeg_mem_dest(&ci, &mem, &size);
    ci.image_width = s->w;
    ci.image_height = s->h;
    ci.in_color_space = s->in_space;
    ci.input_components = s->in_space == JCS_GRAYSCALE ? 1 : s->in_space == JCS_CMYK ? 4 : 3;
    jpeg_set_defaults(&ci);
    jpeg_set_colorspace(&ci, s->jpeg_space);
    jpeg_set_quality(&ci, s->quality ? s->quality : 95, TRUE);
    if (s->progressive)
        jpeg_simple_progression(&ci);
    jpeg_start_compress(&ci, TRUE);
    if (s->app1)
        jpeg_write_marker(&ci, JPEG_APP0 + 1, s->app1, (unsigned)s->app1_len);
    int nc = ci.input_components;
    uint8_t *row = malloc((size_t)s->w * nc);
    while (ci.next_scanline < s->h) {
        unsigned y = ci.next_scanline;
        for (unsigned x = 0; x < s->w; x++)
            for (int c = 0; c < nc; c++)
                row[x * nc + c] = s->pixels ? s->pixels[((size_t)y * s->w + x) * nc + c]
                                            : jpeg_sample(s, x, y, (unsigned)c);
        JSAMPROW r = row;
        jpeg_write_scanlines(&ci, &r, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    free(row);
    buf out = { 0 };
    buf_put(&out, mem, size);
    free(mem);
    return out;
}

/* Writes data to a temp file, returns its path (static buffer per call site is the caller's). */
static void write_file(const char *path, const buf *b)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(b->p, 1, b->n, f) != b->n) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    fclose(f);
}

/* djpeg -ppm of a file into rgb (w*h*3); returns 0 on success. */
static int djpeg_rgb(const char *path, int grey, unsigned w, unsigned h, uint8_t *rgb)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "djpeg %s-ppm '%s' 2>/dev/null", grey ? "-rgb " : "", path);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    unsigned pw, ph, maxv;
    char magic[3] = { 0 };
    int ok = fscanf(p, "%2s %u %u %u", magic, &pw, &ph, &maxv) == 4 && fgetc(p) != EOF &&
             !strcmp(magic, "P6") && pw == w && ph == h && maxv == 255 &&
             fread(rgb, 3, (size_t)w * h, p) == (size_t)w * h;
    int st = pclose(p);
    return ok && st == 0 ? 0 : -1;
}

static int have_djpeg(void)
{
    return system("command -v djpeg >/dev/null 2>&1") == 0;
}

static void test_jpeg(const char *tmpdir)
{
    static const struct {
        const char *name;
        J_COLOR_SPACE in, out;
        int progressive;
    } kinds[] = {
        { "ycbcr baseline", JCS_RGB, JCS_YCbCr, 0 },
        { "ycbcr progressive", JCS_RGB, JCS_YCbCr, 1 },
        { "rgb (no transform)", JCS_RGB, JCS_RGB, 0 },
        { "grey", JCS_GRAYSCALE, JCS_GRAYSCALE, 0 },
        { "grey progressive", JCS_GRAYSCALE, JCS_GRAYSCALE, 1 },
        { "cmyk", JCS_CMYK, JCS_CMYK, 0 },
        { "ycck", JCS_CMYK, JCS_YCCK, 0 },
        { "cmyk progressive", JCS_CMYK, JCS_CMYK, 1 },
    };
    int djpeg = have_djpeg();
    if (!djpeg)
        printf("NOTE: djpeg missing (libjpeg-turbo-progs): CMYK not compared with a reference\n");
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        jpeg_spec s = { 61, 43, kinds[k].in, kinds[k].out, kinds[k].progressive, 98, 0, 0, 0 };
        buf b = write_jpeg(&s);
        herd_image img;
        herd_error err = { 0 };
        herd_status st = herd_image_decode(b.p, b.n, NULL, &img, &err);
        CHECK(st == HERD_OK, "jpeg %s: %s", kinds[k].name, err.msg);
        if (st != HERD_OK) {
            free(b.p);
            continue;
        }
        CHECK(img.width == s.w && img.height == s.h && img.format == HERD_IMAGE_JPEG,
              "jpeg %s: %ux%u", kinds[k].name, img.width, img.height);
        /* against the pattern: lossy, so a mean and a max bound */
        double sum = 0;
        int maxd = 0;
        for (unsigned y = 0; y < s.h; y++)
            for (unsigned x = 0; x < s.w; x++)
                for (unsigned c = 0; c < 3; c++) {
                    int e;
                    if (s.in_space == JCS_GRAYSCALE) {
                        e = jpeg_sample(&s, x, y, 0);
                    } else if (s.in_space == JCS_CMYK) {
                        /* stored Adobe-style: value = 255 − ink; R = C·K/255 */
                        e = (int)(jpeg_sample(&s, x, y, c) * jpeg_sample(&s, x, y, 3) / 255.0 +
                                  0.5);
                    } else {
                        e = jpeg_sample(&s, x, y, c);
                    }
                    int d = abs(img.pixels[(y * s.w + x) * 3 + c] - e);
                    sum += d;
                    maxd = d > maxd ? d : maxd;
                }
        double mean = sum / (s.w * s.h * 3.0);
        CHECK(mean < 2.0 && maxd < 24, "jpeg %s: mean error %.2f, max %d", kinds[k].name, mean,
              maxd);
        /* against djpeg: identical */
        if (djpeg) {
            char path[1024];
            snprintf(path, sizeof path, "%s/k%zu.jpg", tmpdir, k);
            write_file(path, &b);
            uint8_t *ref = malloc((size_t)s.w * s.h * 3);
            if (djpeg_rgb(path, s.in_space == JCS_GRAYSCALE, s.w, s.h, ref) == 0) {
                int diff = memcmp(ref, img.pixels, (size_t)s.w * s.h * 3) != 0;
                CHECK(!diff, "jpeg %s: differs from djpeg", kinds[k].name);
            } else {
                CHECK(0, "jpeg %s: djpeg failed", kinds[k].name);
            }
            free(ref);
            unlink(path);
        }
        printf("jpeg %-20s mean |err| %.2f max %d%s\n", kinds[k].name, mean, maxd,
               djpeg ? ", identical to djpeg" : "");
        herd_image_free(&img);
        free(b.p);
    }
}

/* ---- EXIF orientation -------------------------------------------------------------------------
 */

/* TIFF/EXIF APP1 payload with one IFD0 entry: Orientation = o. */
static size_t make_exif(uint8_t *p, int o, int big_endian, int type)
{
    static const uint8_t le_hdr[] = { 'I', 'I', 42, 0, 8, 0, 0, 0 };
    static const uint8_t be_hdr[] = { 'M', 'M', 0, 42, 0, 0, 0, 8 };
    memcpy(p, "Exif\0\0", 6);
    memcpy(p + 6, big_endian ? be_hdr : le_hdr, 8);
    uint8_t *t = p + 14;
#define W16(q, v)                                                       \
    (big_endian ? ((q)[0] = (uint8_t)((v) >> 8), (q)[1] = (uint8_t)(v)) \
                : ((q)[0] = (uint8_t)(v), (q)[1] = (uint8_t)((v) >> 8)))
#define W32(q, v)                                                                \
    (big_endian ? ((q)[0] = (uint8_t)((v) >> 24), (q)[1] = (uint8_t)((v) >> 16), \
                   (q)[2] = (uint8_t)((v) >> 8), (q)[3] = (uint8_t)(v))          \
                : ((q)[0] = (uint8_t)(v), (q)[1] = (uint8_t)((v) >> 8),          \
                   (q)[2] = (uint8_t)((v) >> 16), (q)[3] = (uint8_t)((v) >> 24)))
    W16(t, 2); /* two entries: an unrelated tag first */
    W16(t + 2, 0x010f);
    W16(t + 4, 2);
    W32(t + 6, 4);
    memcpy(t + 10, "Cam", 4);
    W16(t + 14, 0x0112);
    W16(t + 16, type);
    W32(t + 18, 1);
    memset(t + 22, 0, 4);
    if (type == 3)
        W16(t + 22, o);
    else
        W32(t + 22, o);
    W32(t + 26, 0); /* no next IFD */
#undef W16
#undef W32
    return 14 + 30;
}

/* Corner colours of the stored image: top-left red, top-right green, bottom-left blue,
 * bottom-right white; mid grey elsewhere. Blocks of 8 px so JPEG keeps them. */
static uint8_t *corner_image(unsigned w, unsigned h)
{
    uint8_t *p = malloc((size_t)w * h * 3);
    for (unsigned y = 0; y < h; y++)
        for (unsigned x = 0; x < w; x++) {
            uint8_t *q = p + ((size_t)y * w + x) * 3;
            int l = x < 16, r = x >= w - 16, t = y < 16, b = y >= h - 16;
            q[0] = q[1] = q[2] = 128;
            if (t && l) {
                q[0] = 255;
                q[1] = 0;
                q[2] = 0;
            }
            if (t && r) {
                q[0] = 0;
                q[1] = 255;
                q[2] = 0;
            }
            if (b && l) {
                q[0] = 0;
                q[1] = 0;
                q[2] = 255;
            }
            if (b && r) {
                q[0] = 255;
                q[1] = 255;
                q[2] = 255;
            }
        }
    return p;
}

/* Which colour is at a corner of the decoded image: 0 red, 1 green, 2 blue, 3 white, -1 none. */
static int corner_colour(const herd_image *img, int right, int bottom)
{
    unsigned x = right ? img->width - 4 : 3, y = bottom ? img->height - 4 : 3;
    const uint8_t *q = img->pixels + ((size_t)y * img->width + x) * 3;
    int hi[3] = { q[0] > 192, q[1] > 192, q[2] > 192 }, lo[3] = { q[0] < 64, q[1] < 64, q[2] < 64 };
    if (hi[0] && lo[1] && lo[2])
        return 0;
    if (lo[0] && hi[1] && lo[2])
        return 1;
    if (lo[0] && lo[1] && hi[2])
        return 2;
    if (hi[0] && hi[1] && hi[2])
        return 3;
    return -1;
}

static void test_exif(void)
{
    /* Where the stored corners land, from the EXIF definition (which side row 0 / column 0
     * of the stored image is shown on), written out per orientation:
     * {top-left, top-right, bottom-left, bottom-right} of the output, as stored-corner colours
     * (0 = stored top-left, 1 = stored top-right, 2 = stored bottom-left, 3 = stored bottom-right).
     */
    static const int expect[9][4] = {
        { 0 },          { 0, 1, 2, 3 }, /* 1: row 0 top, col 0 left */
        { 1, 0, 3, 2 },                 /* 2: row 0 top, col 0 right */
        { 3, 2, 1, 0 },                 /* 3: row 0 bottom, col 0 right */
        { 2, 3, 0, 1 },                 /* 4: row 0 bottom, col 0 left */
        { 0, 2, 1, 3 },                 /* 5: row 0 left, col 0 top */
        { 2, 0, 3, 1 },                 /* 6: row 0 right, col 0 top */
        { 3, 1, 2, 0 },                 /* 7: row 0 right, col 0 bottom */
        { 1, 3, 0, 2 },                 /* 8: row 0 left, col 0 bottom */
    };
    const unsigned w = 96, h = 64;
    uint8_t *stored = corner_image(w, h);
    int n = 0;
    for (int o = 1; o <= 8; o++) {
        for (int be = 0; be < 2; be++) {
            for (int type = 3; type <= 4; type++) {
                uint8_t exif[64];
                size_t len = make_exif(exif, o, be, type);
                jpeg_spec s = { w, h, JCS_RGB, JCS_YCbCr, 0, 95, exif, len, stored };
                buf b = write_jpeg(&s);
                herd_image img;
                herd_error err = { 0 };
                herd_status st = herd_image_decode(b.p, b.n, NULL, &img, &err);
                CHECK(st == HERD_OK, "exif %d: %s", o, err.msg);
                if (st == HERD_OK) {
                    unsigned ew = o >= 5 ? h : w, eh = o >= 5 ? w : h;
                    CHECK(img.width == ew && img.height == eh && img.orientation == o,
                          "exif %d: %ux%u orientation %d", o, img.width, img.height,
                          img.orientation);
                    int got[4] = { corner_colour(&img, 0, 0), corner_colour(&img, 1, 0),
                                   corner_colour(&img, 0, 1), corner_colour(&img, 1, 1) };
                    CHECK(!memcmp(got, expect[o], sizeof got),
                          "exif %d (%s, type %d): corners %d %d %d %d, expected %d %d %d %d", o,
                          be ? "MM" : "II", type, got[0], got[1], got[2], got[3], expect[o][0],
                          expect[o][1], expect[o][2], expect[o][3]);
                    herd_image_free(&img);
                }
                free(b.p);
                n++;
            }
        }
    }
    /* Hostile EXIF: every truncation of a valid block, absurd offsets and counts → orientation 1
     * (or the real value when it is still inside), never a read out of bounds (ASan). */
    uint8_t exif[64];
    size_t len = make_exif(exif, 6, 0, 3);
    for (size_t cut = 0; cut <= len; cut++) {
        jpeg_spec s = { 32, 16, JCS_RGB, JCS_YCbCr, 0, 80, exif, cut, NULL };
        buf b = write_jpeg(&s);
        herd_image img;
        herd_error err = { 0 };
        herd_status st = herd_image_decode(b.p, b.n, NULL, &img, &err);
        CHECK(st == HERD_OK, "exif cut at %zu: %s", cut, err.msg);
        if (st == HERD_OK) {
            CHECK(img.orientation == (cut >= len - 4 ? 6 : 1), "exif cut at %zu: orientation %d",
                  cut, img.orientation);
            herd_image_free(&img);
        }
        free(b.p);
    }
    static const struct {
        size_t off;
        uint8_t v[4];
        int expect;
    } hostile[] = {
        { 10, { 0xff, 0xff, 0xff, 0x7f }, 1 }, /* IFD offset far past the end */
        { 10, { 40, 0, 0, 0 }, 1 },            /* IFD offset near the end */
        { 14, { 0xff, 0xff }, 6 },             /* 65535 entries claimed: stops at the end */
        { 30, { 2, 0 }, 1 },                   /* orientation tag with ASCII type */
        { 36, { 9, 0 }, 1 },                   /* orientation 9 */
        { 36, { 0, 0 }, 1 },                   /* orientation 0 */
        { 6, { 'X', 'X' }, 1 },                /* bad byte order */
        { 8, { 43, 0 }, 1 },                   /* bad TIFF magic */
    };
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        len = make_exif(exif, 6, 0, 3);
        size_t nb = hostile[i].off == 10 ? 4 : 2;
        memcpy(exif + hostile[i].off, hostile[i].v, nb);
        if (hostile[i].off == 30) /* the type of the second entry, at 14 + 2 + 12 + 2 */
            memcpy(exif + 14 + 16, hostile[i].v, 2);
        jpeg_spec s = { 32, 16, JCS_RGB, JCS_YCbCr, 0, 80, exif, len, NULL };
        buf b = write_jpeg(&s);
        herd_image img;
        herd_error err = { 0 };
        herd_status st = herd_image_decode(b.p, b.n, NULL, &img, &err);
        CHECK(st == HERD_OK && img.orientation == hostile[i].expect,
              "hostile exif %zu: status %d orientation %d, expected %d", i, st,
              st == HERD_OK ? img.orientation : -1, hostile[i].expect);
        if (st == HERD_OK)
            herd_image_free(&img);
        free(b.p);
    }
    free(stored);
    printf("exif: %d orientation cases, %zu truncations, %zu hostile blocks\n", n, len + 1,
           sizeof hostile / sizeof hostile[0]);
}

/* ---- broken inputs ----------------------------------------------------------------------------
 */

static uint32_t crc_table[256];

static uint32_t crc32_png(const uint8_t *p, size_t n)
{
    if (!crc_table[1])
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
            crc_table[i] = c;
        }
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++)
        c = crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put_chunk(buf *b, const char *type, const uint8_t *data, uint32_t n)
{
    uint8_t hdr[8];
    be32(hdr, n);
    memcpy(hdr + 4, type, 4);
    buf_put(b, hdr, 8);
    uint8_t *crcbuf = malloc(n + 4);
    memcpy(crcbuf, type, 4);
    if (n)
        memcpy(crcbuf + 4, data, n);
    if (n)
        buf_put(b, data, n);
    uint8_t crc[4];
    be32(crc, crc32_png(crcbuf, n + 4));
    buf_put(b, crc, 4);
    free(crcbuf);
}

/* A PNG made of chunks: IHDR (w, h, depth, ctype), optional extra chunk, then IDAT/IEND taken
 * from a real 1x1 image of the same kind (which will not match the header; the header is the
 * point). */
static buf raw_png(uint32_t w, uint32_t h, int depth, int ctype)
{
    buf b = { 0 };
    buf_put(&b, "\x89PNG\r\n\x1a\n", 8);
    uint8_t ihdr[13] = { 0 };
    be32(ihdr, w);
    be32(ihdr + 4, h);
    ihdr[8] = (uint8_t)depth;
    ihdr[9] = (uint8_t)ctype;
    put_chunk(&b, "IHDR", ihdr, 13);
    /* a tiny zlib stream of zeros */
    static const uint8_t idat[] = { 0x78, 0x9c, 0x63, 0x60, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01 };
    put_chunk(&b, "IDAT", idat, sizeof idat);
    put_chunk(&b, "IEND", NULL, 0);
    return b;
}

static herd_status decode_quiet(const void *p, size_t n, const herd_image_limits *lim,
                                herd_error *err)
{
    herd_image img;
    herd_status s = herd_image_decode(p, n, lim, &img, err);
    if (s == HERD_OK)
        herd_image_free(&img);
    else
        CHECK(err->msg[0] != 0, "refused without a message (status %d)", s);
    return s;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void test_broken(void)
{
    herd_error err = { 0 };
    herd_status s;

    /* not images */
    static const struct {
        const char *p;
        size_t n;
    } junk[] = { { "hello world, not an image", 25 },
                 { "GIF89a\x01\x00\x01\x00", 10 },
                 { "RIFF\x10\x00\x00\x00WEBPVP8 ", 16 },
                 { "BM\x36\x00", 4 } };
    for (size_t i = 0; i < 4; i++) {
        s = decode_quiet(junk[i].p, junk[i].n, NULL, &err);
        CHECK(s == (i == 0 ? HERD_ERR_FORMAT : HERD_ERR_UNSUPPORTED), "junk %zu: %d %s", i, s,
              err.msg);
    }
    s = decode_quiet("", 0, NULL, &err);
    CHECK(s == HERD_ERR_FORMAT && strstr(err.msg, "empty"), "empty: %d %s", s, err.msg);
    s = decode_quiet("\x89PNG", 4, NULL, &err);
    CHECK(s == HERD_ERR_FORMAT, "4-byte PNG magic: %d %s", s, err.msg);

    /* A valid PNG named nothing: detection is by content. Truncated at every offset. */
    png_spec ps = { 40, 30, PNG_COLOR_TYPE_RGB_ALPHA, 8, 0, 0 };
    buf png = write_png(&ps);
    /* the last IDAT ends 12 bytes before the file (IEND) */
    size_t idat_end = png.n - 12;
    for (size_t cut = 0; cut < idat_end; cut++) {
        s = decode_quiet(png.p, cut, NULL, &err);
        if (s != HERD_ERR_FORMAT)
            CHECK(0, "png cut at %zu of %zu: status %d (%s)", cut, png.n, s, err.msg);
    }
    s = decode_quiet(png.p, idat_end, NULL, &err);
    CHECK(s == HERD_OK, "png without IEND should still decode: %s", err.msg);
    for (size_t cut = idat_end + 1; cut < png.n; cut++) { /* IEND cut short: pixels complete */
        s = decode_quiet(png.p, cut, NULL, &err);
        CHECK(s == HERD_OK, "png with IEND cut at %zu of %zu: %s", cut, png.n, err.msg);
    }
    printf("broken: png truncated at %zu offsets, all refused as corrupt\n", idat_end);
    /* a flipped bit in IDAT: CRC error (critical chunk) */
    png.p[idat_end - 2] ^= 0x10; /* in the CRC itself */
    s = decode_quiet(png.p, png.n, NULL, &err);
    CHECK(s == HERD_ERR_FORMAT && strstr(err.msg, "CRC"), "png bad IDAT CRC: %d %s", s, err.msg);
    png.p[idat_end - 2] ^= 0x10;
    png.p[idat_end - 10] ^= 0x10; /* in the compressed data */
    s = decode_quiet(png.p, png.n, NULL, &err);
    CHECK(s == HERD_ERR_FORMAT, "png bad IDAT data: %d %s", s, err.msg);
    free(png.p);

    /* JPEG truncated at several points: refused as truncated, never a grey half picture */
    jpeg_spec js = { 64, 48, JCS_RGB, JCS_YCbCr, 0, 90, 0, 0, 0 };
    for (int prog = 0; prog < 2; prog++) {
        js.progressive = prog;
        buf jb = write_jpeg(&js);
        int n = 0;
        for (size_t cut = 0; cut + 2 < jb.n; cut += 1 + jb.n / 97) {
            s = decode_quiet(jb.p, cut, NULL, &err);
            CHECK(s == HERD_ERR_FORMAT, "jpeg%s cut at %zu of %zu: status %d (%s)",
                  prog ? " progressive" : "", cut, jb.n, s, err.msg);
            n++;
        }
        s = decode_quiet(jb.p, jb.n - 200, NULL, &err);
        CHECK(s == HERD_ERR_FORMAT && strstr(err.msg, "truncated"), "jpeg cut: %s", err.msg);
        printf("broken: jpeg%s truncated at %d offsets, all refused (\"%s\")\n",
               prog ? " progressive" : "", n, err.msg);
        /* progressive scan cap */
        if (prog) {
            herd_image_limits lim;
            herd_image_limits_default(&lim);
            lim.max_jpeg_scans = 3;
            s = decode_quiet(jb.p, jb.n, &lim, &err);
            CHECK(s == HERD_ERR_LIMIT && strstr(err.msg, "scans"), "scan cap: %d %s", s, err.msg);
        }
        free(jb.p);
    }

    /* zero sizes, absurd sizes, bombs (refused from the header, before allocating) */
    buf b = raw_png(0, 0, 8, 2);
    s = decode_quiet(b.p, b.n, NULL, &err);
    CHECK(s == HERD_ERR_FORMAT, "0x0 png: %d %s", s, err.msg);
    free(b.p);
    b = raw_png(100000, 100000, 8, 6);
    double t0 = now();
    s = decode_quiet(b.p, b.n, NULL, &err);
    CHECK(s == HERD_ERR_LIMIT && strstr(err.msg, "megapixels"), "100000x100000 png: %d %s", s,
          err.msg);
    CHECK(now() - t0 < 0.5, "100000x100000 png took %.2f s to refuse", now() - t0);
    free(b.p);
    b = raw_png(2000000, 1, 8, 0);
    s = decode_quiet(b.p, b.n, NULL, &err);
    CHECK(s != HERD_OK, "2000000x1 png: accepted");
    free(b.p);
    b = raw_png(0x80000000u, 1, 8, 0);
    s = decode_quiet(b.p, b.n, NULL, &err);
    CHECK(s == HERD_ERR_FORMAT, "2^31-wide png: %d %s", s, err.msg);
    free(b.p);

    /* A real decompression bomb: an 11000x11000 1-bit PNG is ~15 KB, 121 megapixels. */
    png_spec bomb = { 11000, 11000, PNG_COLOR_TYPE_GRAY, 1, 0, 0 };
    buf bb = write_png(&bomb);
    t0 = now();
    s = decode_quiet(bb.p, bb.n, NULL, &err);
    CHECK(s == HERD_ERR_LIMIT, "png bomb (%zu bytes): %d %s", bb.n, s, err.msg);
    CHECK(now() - t0 < 0.5, "png bomb took %.2f s to refuse", now() - t0);
    printf("broken: %zu-byte PNG claiming 11000x11000: \"%s\"\n", bb.n, err.msg);
    free(bb.p);
    /* a configurable cap */
    png_spec mid = { 1200, 1000, PNG_COLOR_TYPE_GRAY, 1, 0, 0 };
    bb = write_png(&mid);
    herd_image_limits lim;
    herd_image_limits_default(&lim);
    lim.max_pixels = 1000000;
    s = decode_quiet(bb.p, bb.n, &lim, &err);
    CHECK(s == HERD_ERR_LIMIT, "1.2 MP png under a 1 MP cap: %d %s", s, err.msg);
    lim.max_pixels = 1200000;
    s = decode_quiet(bb.p, bb.n, &lim, &err);
    CHECK(s == HERD_OK, "1.2 MP png under a 1.2 MP cap: %d %s", s, err.msg);
    lim.max_file_bytes = bb.n - 1;
    s = decode_quiet(bb.p, bb.n, &lim, &err);
    CHECK(s == HERD_ERR_LIMIT, "file-size cap: %d %s", s, err.msg);
    free(bb.p);

    /* JPEG bomb: a real small JPEG whose SOF claims 65000x65000 */
    buf jb = write_jpeg(&js);
    size_t sof = 0;
    for (size_t i = 2; i + 9 < jb.n; i++)
        if (jb.p[i] == 0xff && (jb.p[i + 1] == 0xc0 || jb.p[i + 1] == 0xc2)) {
            sof = i;
            break;
        }
    CHECK(sof > 0, "no SOF in the generated JPEG");
    if (sof) {
        jb.p[sof + 5] = 0xfd; /* height 65000 = 0xfde8 */
        jb.p[sof + 6] = 0xe8;
        jb.p[sof + 7] = 0xfd;
        jb.p[sof + 8] = 0xe8;
        t0 = now();
        s = decode_quiet(jb.p, jb.n, NULL, &err);
        CHECK(s == HERD_ERR_LIMIT, "jpeg 65000x65000: %d %s", s, err.msg);
        CHECK(now() - t0 < 0.5, "jpeg bomb took %.2f s to refuse", now() - t0);
        jb.p[sof + 5] = 0; /* height 0 */
        jb.p[sof + 6] = 0;
        jb.p[sof + 7] = 0;
        jb.p[sof + 8] = 64;
        s = decode_quiet(jb.p, jb.n, NULL, &err);
        CHECK(s == HERD_ERR_FORMAT, "jpeg height 0: %d %s", s, err.msg);
    }
    free(jb.p);

    /* a 1 GiB text chunk declared in a 60-byte file: refused without allocating it */
    {
        buf p = raw_png(1, 1, 8, 0);
        uint8_t text[8] = { 0x3f, 0xff, 0xff, 0xff, 't', 'E', 'X', 't' };
        buf q = { 0 };
        buf_put(&q, p.p, 33); /* signature + IHDR */
        buf_put(&q, text, 8);
        buf_put(&q, "Comment\0hello", 13);
        t0 = now();
        s = decode_quiet(q.p, q.n, NULL, &err);
        CHECK(s == HERD_ERR_FORMAT && strstr(err.msg, "truncated"), "huge tEXt: %d %s", s, err.msg);
        CHECK(now() - t0 < 0.1, "huge tEXt took %.2f s", now() - t0);
        free(p.p);
        free(q.p);
    }

    /* palette oddities */
    b = raw_png(4, 4, 16, 3); /* 16-bit palette: invalid */
    s = decode_quiet(b.p, b.n, NULL, &err);
    CHECK(s == HERD_ERR_FORMAT, "16-bit palette png: %d %s", s, err.msg);
    free(b.p);
    b = raw_png(4, 4, 8, 3); /* palette image without PLTE */
    s = decode_quiet(b.p, b.n, NULL, &err);
    CHECK(s == HERD_ERR_FORMAT, "palette png without PLTE: %d %s", s, err.msg);
    free(b.p);
    b = raw_png(4, 4, 3, 0); /* 3-bit grey: invalid */
    s = decode_quiet(b.p, b.n, NULL, &err);
    CHECK(s == HERD_ERR_FORMAT, "3-bit png: %d %s", s, err.msg);
    free(b.p);
    {
        /* 8-bit palette of 2 entries, pixels use index 200, tRNS longer than the palette */
        buf p = { 0 };
        buf_put(&p, "\x89PNG\r\n\x1a\n", 8);
        uint8_t ihdr[13] = { 0 };
        be32(ihdr, 1);
        be32(ihdr + 4, 1);
        ihdr[8] = 8;
        ihdr[9] = 3;
        put_chunk(&p, "IHDR", ihdr, 13);
        static const uint8_t plte[6] = { 255, 0, 0, 0, 255, 0 };
        put_chunk(&p, "PLTE", plte, 6);
        static const uint8_t trns[5] = { 0, 0, 0, 0, 0 };
        put_chunk(&p, "tRNS", trns, 5);
        /* zlib stream of filter byte 0 + index 200: 78 01 01 02 00 fd ff 00 c8 adler32 */
        static const uint8_t idat[] = { 0x78, 0x01, 0x01, 0x02, 0x00, 0xfd, 0xff,
                                        0x00, 0xc8, 0x00, 0xca, 0x00, 0xc9 };
        put_chunk(&p, "IDAT", idat, sizeof idat);
        put_chunk(&p, "IEND", NULL, 0);
        herd_image img;
        s = herd_image_decode(p.p, p.n, NULL, &img, &err);
        /* either refused or decoded to something; libpng maps an index past the palette to 0 */
        if (s == HERD_OK) {
            printf("broken: palette index past the palette decodes to %u,%u,%u\n", img.pixels[0],
                   img.pixels[1], img.pixels[2]);
            herd_image_free(&img);
        } else {
            CHECK(err.msg[0], "palette oddity refused without a message");
            printf("broken: palette index past the palette refused: %s\n", err.msg);
        }
        free(p.p);
    }

    /* files */
    herd_image img;
    s = herd_image_load("/nonexistent/herd-test.png", NULL, &img, &err);
    CHECK(s == HERD_ERR_IO && strstr(err.msg, "nonexistent"), "missing file: %d %s", s, err.msg);
    s = herd_image_load("/", NULL, &img, &err);
    CHECK(s != HERD_OK, "a directory decoded");
}

/* ---- herd_image_from_rgba ---------------------------------------------------------------------*/

static void test_from_rgba(void)
{
    const unsigned w = 5, h = 3;
    const size_t stride = 4 * w + 12;
    uint8_t px[(4 * 5 + 12) * 3];
    memset(px, 0xee, sizeof px);
    for (unsigned y = 0; y < h; y++)
        for (unsigned x = 0; x < w; x++) {
            uint8_t *q = px + y * stride + x * 4;
            q[0] = (uint8_t)(x * 60);
            q[1] = (uint8_t)(y * 100);
            q[2] = 10;
            q[3] = (uint8_t)((x + y * w) * 18);
        }
    herd_image img;
    herd_error err = { 0 };
    herd_status s = herd_image_from_rgba(w, h, stride, px, &img, &err);
    CHECK(s == HERD_OK, "from_rgba: %s", err.msg);
    if (s == HERD_OK) {
        int bad = 0;
        for (unsigned y = 0; y < h; y++)
            for (unsigned x = 0; x < w; x++)
                for (int c = 0; c < 3; c++) {
                    const uint8_t *q = px + y * stride + x * 4;
                    double a = q[3] / 255.0;
                    int e = (int)((q[c] * a + 255.0 * (1 - a)) + 0.5);
                    bad += abs(img.pixels[(y * w + x) * 3 + c] - e) > 1;
                    /* and exactly Pillow's rounding */
                    bad += img.pixels[(y * w + x) * 3 + c] != herd_over_white8(q[c], q[3]);
                }
        CHECK(bad == 0, "from_rgba: %d samples off", bad);
        CHECK(img.format == HERD_IMAGE_RAW && img.width == w && img.height == h, "from_rgba meta");
        herd_image_free(&img);
    }
    s = herd_image_from_rgba(w, h, 4 * w - 1, px, &img, &err);
    CHECK(s == HERD_ERR_INVALID, "from_rgba short stride: %d", s);
    s = herd_image_from_rgba(0, h, stride, px, &img, &err);
    CHECK(s == HERD_ERR_INVALID, "from_rgba zero width: %d", s);
    /* Pillow alpha_composite over white, values worked out by hand from AlphaComposite.c */
    CHECK(herd_over_white8(0, 128) == 127, "over white 0/128 = %d", herd_over_white8(0, 128));
    CHECK(herd_over_white8(0, 0) == 255 && herd_over_white8(17, 255) == 17 &&
              herd_over_white8(100, 1) == 254 && herd_over_white8(0, 255) == 0,
          "over white edge values");
}

int main(void)
{
    char tmpdir[] = "/tmp/herd-test-image-XXXXXX";
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_png_matrix();
    test_jpeg(tmpdir);
    test_exif();
    test_broken();
    test_from_rgba();
    rmdir(tmpdir);
    printf("%d checks, %d failures\n", checks, failures);
    return failures ? 1 : 0;
}
