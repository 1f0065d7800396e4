/* test-image-peer: the public image suites in $HERD_PEER_DIR (see its README.md), decoded by
 * vision/image.c and compared with independent reference decoders from Debian packages:
 *   PNG  → `pngtopam -alphapam` (netpbm): raw samples + alpha, composited over white here;
 *   JPEG → `djpeg -ppm` (libjpeg-turbo-progs): must match exactly (same IDCT, same upsampling).
 * Crash files must decode or be refused with a message; EXIF photos must come out upright.
 * Exit 77 (loudly) when the peer dir or a reference tool is missing. */
#include "vision/image.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

static int failures;
static int checked;

#define FAIL(...)                              \
    do {                                       \
        fprintf(stderr, "FAIL: " __VA_ARGS__); \
        fputc('\n', stderr);                   \
        failures++;                            \
    } while (0)

/* ---- a reference image: 8-bit RGB after compositing ------------------------------------------ */

typedef struct ref_img {
    unsigned w, h;
    uint8_t *rgb;
} ref_img;

static int read_token(FILE *f, char *buf, size_t n)
{
    int c;
    size_t i = 0;
    while ((c = fgetc(f)) != EOF && (c == ' ' || c == '\n' || c == '\r' || c == '\t'))
        ;
    while (c != EOF && c != ' ' && c != '\n' && c != '\r' && c != '\t' && i + 1 < n) {
        buf[i++] = (char)c;
        c = fgetc(f);
    }
    buf[i] = 0;
    return i > 0;
}

/* Reads a PAM (P7) with alpha or a PPM/PGM (P6/P5) from a pipe. ignore_alpha: an RGB PNG with a
 * tRNS colour key stays plain RGB (Llama 4's rule). Returns 0 on success. */
static int read_netpbm(FILE *f, ref_img *out, int ignore_alpha)
{
    char tok[64], magic[4] = { 0 };
    unsigned w = 0, h = 0, depth = 0, maxval = 0;
    if (!read_token(f, tok, sizeof tok))
        return -1;
    memcpy(magic, tok, 3);
    if (!strcmp(magic, "P7")) {
        for (;;) {
            if (!read_token(f, tok, sizeof tok))
                return -1;
            if (!strcmp(tok, "ENDHDR"))
                break;
            char val[64];
            if (!read_token(f, val, sizeof val))
                return -1;
            if (!strcmp(tok, "WIDTH"))
                w = (unsigned)atoi(val);
            else if (!strcmp(tok, "HEIGHT"))
                h = (unsigned)atoi(val);
            else if (!strcmp(tok, "DEPTH"))
                depth = (unsigned)atoi(val);
            else if (!strcmp(tok, "MAXVAL"))
                maxval = (unsigned)atoi(val);
        }
    } else if (!strcmp(magic, "P6") || !strcmp(magic, "P5")) {
        depth = magic[1] == '6' ? 3 : 1;
        if (!read_token(f, tok, sizeof tok))
            return -1;
        w = (unsigned)atoi(tok);
        if (!read_token(f, tok, sizeof tok))
            return -1;
        h = (unsigned)atoi(tok);
        if (!read_token(f, tok, sizeof tok))
            return -1;
        maxval = (unsigned)atoi(tok); /* read_token consumed the single whitespace after it */
    } else {
        return -1;
    }
    if (!w || !h || depth < 1 || depth > 4 || !maxval || maxval > 65535)
        return -1;
    size_t bps = maxval > 255 ? 2 : 1, n = (size_t)w * h * depth;
    uint8_t *raw = malloc(n * bps);
    out->rgb = malloc((size_t)w * h * 3);
    if (!raw || !out->rgb || fread(raw, bps, n, f) != n) {
        free(raw);
        free(out->rgb);
        return -1;
    }
    out->w = w;
    out->h = h;
    int has_alpha = (depth == 2 || depth == 4) && !ignore_alpha;
    int colour = depth >= 3;
    for (size_t i = 0; i < (size_t)w * h; i++) {
        double s[4];
        for (unsigned c = 0; c < depth; c++) {
            size_t k = i * depth + c;
            unsigned v = bps == 2 ? (unsigned)raw[2 * k] << 8 | raw[2 * k + 1] : raw[k];
            s[c] = (double)v / maxval; /* 0..1 */
        }
        for (int c = 0; c < 3; c++) {
            double v = s[colour ? c : 0];
            if (has_alpha) {
                double a = s[depth - 1];
                v = v * a + (1.0 - a); /* over white */
            }
            double u = v * 255.0;
            if (bps == 2 && !has_alpha) /* 16-bit opaque samples keep their high byte */
                u = (double)((unsigned)(v * maxval + 0.5) >> 8);
            else
                u = u + 0.5;
            out->rgb[i * 3 + c] = (uint8_t)(u > 255 ? 255 : u);
        }
    }
    free(raw);
    return 0;
}

static int run_reference(const char *cmd, const char *path, ref_img *out, int ignore_alpha)
{
    char line[8400]; /* a command name plus a path of up to PATH_MAX */
    snprintf(line, sizeof line, "%s '%s' 2>/dev/null", cmd, path);
    FILE *p = popen(line, "r");
    if (!p)
        return -1;
    int r = read_netpbm(p, out, ignore_alpha);
    int st = pclose(p);
    if (r == 0 && st != 0) {
        free(out->rgb);
        return -1;
    }
    return r;
}

/* PNG colour type from IHDR (byte 25), or -1. */
static int png_colour_type(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t b[26];
    int t = -1;
    if (f && fread(b, 1, 26, f) == 26 && !memcmp(b + 12, "IHDR", 4))
        t = b[25];
    if (f)
        fclose(f);
    return t;
}

/* Compares decoded pixels with the reference; tol per sample. */
static void compare(const char *path, const herd_image *img, const ref_img *ref, int tol)
{
    if (img->width != ref->w || img->height != ref->h) {
        FAIL("%s: size %ux%u, reference %ux%u", path, img->width, img->height, ref->w, ref->h);
        return;
    }
    size_t n = (size_t)ref->w * ref->h * 3, bad = 0, first = 0;
    int maxd = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)img->pixels[i] - (int)ref->rgb[i]);
        if (d > maxd)
            maxd = d;
        if (d > tol && bad++ == 0)
            first = i;
    }
    if (bad)
        FAIL("%s: %zu of %zu samples differ by more than %d (max %d; first at pixel %zu: %d vs %d)",
             path, bad, n, tol, maxd, first / 3, img->pixels[first], ref->rgb[first]);
    checked++;
}

/* ---- the suites -------------------------------------------------------------------------------
 */

static int has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists *.png / *.jpg files of a folder, sorted. */
static int list_dir(const char *dir, const char *suffix, char ***names)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0, cap = 0;
    *names = NULL;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!has_suffix(e->d_name, suffix))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            *names = realloc(*names, sizeof(char *) * cap);
        }
        (*names)[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(*names, n, sizeof(char *), cmp_str);
    return n;
}

static void free_list(char **names, int n)
{
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Every PNG in dir must decode and match pngtopam. */
static void png_suite(const char *peer, const char *sub, int must_decode)
{
    char dir[2048], path[4096];
    snprintf(dir, sizeof dir, "%s/%s", peer, sub);
    char **names;
    int n = list_dir(dir, ".png", &names);
    if (n <= 0) {
        FAIL("%s: no PNG files", dir);
        return;
    }
    int ok = 0, refused = 0;
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        herd_image img;
        herd_error err = { 0 };
        herd_status s = herd_image_load(path, NULL, &img, &err);
        if (s) {
            if (!err.msg[0])
                FAIL("%s: refused without a message", path);
            if (must_decode)
                FAIL("%s: refused: %s", path, err.msg);
            else
                printf("  refused (allowed) %s/%s: %s\n", sub, names[i], err.msg);
            refused++;
            continue;
        }
        ok++;
        if (img.format != HERD_IMAGE_PNG)
            FAIL("%s: format %s", path, herd_image_format_name(img.format));
        ref_img ref;
        int ignore_alpha = png_colour_type(path) == 2; /* RGB + tRNS stays plain RGB */
        if (run_reference("pngtopam -alphapam", path, &ref, ignore_alpha) == 0) {
            compare(path, &img, &ref, 1);
            free(ref.rgb);
        } else if (must_decode) {
            FAIL("%s: we decode it, the reference decoder refuses it", path);
        } else {
            printf("  decoded %s/%s (%ux%u); the reference refuses it\n", sub, names[i], img.width,
                   img.height);
        }
        herd_image_free(&img);
    }
    printf("%-28s %3d files: %d decoded, %d refused\n", sub, n, ok, refused);
    free_list(names, n);
}

static void jpeg_suite(const char *peer)
{
    static const char *files[] = { "testorig.jpg", "testimgint.jpg", "testimgari.jpg" };
    char path[4096];
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/libjpeg-turbo/%s", peer, files[i]);
        herd_image img;
        herd_error err = { 0 };
        if (herd_image_load(path, NULL, &img, &err)) {
            FAIL("%s: refused: %s", path, err.msg);
            continue;
        }
        ref_img ref;
        if (run_reference("djpeg -ppm", path, &ref, 0)) {
            FAIL("%s: djpeg failed", path);
        } else {
            compare(path, &img, &ref, 0);
            free(ref.rgb);
        }
        if (img.format != HERD_IMAGE_JPEG)
            FAIL("%s: format %s", path, herd_image_format_name(img.format));
        herd_image_free(&img);
    }
    /* 12-bit: may be refused, clearly */
    snprintf(path, sizeof path, "%s/libjpeg-turbo/monkey12.jpg", peer);
    herd_image img;
    herd_error err = { 0 };
    herd_status s = herd_image_load(path, NULL, &img, &err);
    if (s == HERD_OK)
        herd_image_free(&img);
    else if (s != HERD_ERR_UNSUPPORTED || !strstr(err.msg, "12"))
        FAIL("%s: expected a clear 'unsupported 12-bit' error, got %d: %s", path, s, err.msg);
    else
        printf("  refused (allowed) monkey12.jpg: %s\n", err.msg);
    printf("libjpeg-turbo                  4 files checked against djpeg\n");
}

/* Mean absolute difference of two same-size RGB images. */
static double mad(const herd_image *a, const herd_image *b)
{
    size_t n = (size_t)a->width * a->height * 3;
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += abs((int)a->pixels[i] - (int)b->pixels[i]);
    return s / n;
}

static void exif_suite(const char *peer)
{
    static const char *kinds[] = { "Landscape", "Portrait" };
    char path[4096];
    for (int k = 0; k < 2; k++) {
        herd_image base;
        herd_error err = { 0 };
        snprintf(path, sizeof path, "%s/exif-orientation/%s_1.jpg", peer, kinds[k]);
        if (herd_image_load(path, NULL, &base, &err)) {
            FAIL("%s: %s", path, err.msg);
            continue;
        }
        ref_img ref; /* orientation 1: exactly what djpeg gives */
        if (run_reference("djpeg -ppm", path, &ref, 0) == 0) {
            compare(path, &base, &ref, 0);
            free(ref.rgb);
        } else {
            FAIL("%s: djpeg failed", path);
        }
        unsigned ew = k == 0 ? 1800 : 1200, eh = k == 0 ? 1200 : 1800;
        if (base.width != ew || base.height != eh)
            FAIL("%s: %ux%u, expected %ux%u", path, base.width, base.height, ew, eh);
        /* A mirrored copy of the base shows how far a wrong orientation lands. */
        herd_image mirror = base;
        mirror.pixels = malloc((size_t)base.width * base.height * 3);
        for (unsigned y = 0; y < base.height; y++)
            for (unsigned x = 0; x < base.width; x++)
                memcpy(mirror.pixels + ((size_t)y * base.width + x) * 3,
                       base.pixels + ((size_t)y * base.width + (base.width - 1 - x)) * 3, 3);
        double wrong = mad(&base, &mirror);
        for (int o = 0; o <= 8; o++) {
            snprintf(path, sizeof path, "%s/exif-orientation/%s_%d.jpg", peer, kinds[k], o);
            herd_image img;
            if (herd_image_load(path, NULL, &img, &err)) {
                FAIL("%s: %s", path, err.msg);
                continue;
            }
            if (img.width != base.width || img.height != base.height) {
                FAIL("%s: %ux%u after orientation %d, expected %ux%u", path, img.width, img.height,
                     img.orientation, base.width, base.height);
            } else {
                double d = mad(&img, &base);
                /* re-encoded rotations differ by JPEG noise only (measured ~1-2 levels) */
                if (d > 4.0 || d > wrong / 4)
                    FAIL("%s: mean difference to %s_1 is %.2f (a mirrored image: %.2f)", path,
                         kinds[k], d, wrong);
                printf("  %s_%d: orientation %d, %ux%u, mean |diff| to _1 = %.2f (mirror %.2f)\n",
                       kinds[k], o, img.orientation, img.width, img.height, d, wrong);
                checked++;
            }
            int expect_o = o == 0 ? 1 : o;
            if (img.orientation != expect_o)
                FAIL("%s: orientation %d reported, expected %d", path, img.orientation, expect_o);
            herd_image_free(&img);
        }
        free(mirror.pixels);
        herd_image_free(&base);
    }
}

static int have_tool(const char *name)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", name);
    return system(cmd) == 0;
}

int main(void)
{
    const char *peer = getenv("HERD_PEER_DIR");
    struct stat st;
    if (!peer || stat(peer, &st) || !S_ISDIR(st.st_mode)) {
        fprintf(stderr,
                "SKIP: peer image suites not found (HERD_PEER_DIR=%s); "
                "set -Dpeer_dir=... to run this test\n",
                peer ? peer : "(unset)");
        return 77;
    }
    if (!have_tool("pngtopam") || !have_tool("djpeg")) {
        fprintf(stderr, "SKIP: reference decoders missing: install Debian packages netpbm and "
                        "libjpeg-turbo-progs (tools/deps.sh)\n");
        return 77;
    }
    png_suite(peer, "pngsuite", 1);
    png_suite(peer, "pngsuite/interlaced", 1);
    png_suite(peer, "libpng-testpngs", 1);
    png_suite(peer, "libpng-testpngs/png-3", 1);
    png_suite(peer, "libpng-testpngs/badpal", 0);
    png_suite(peer, "libpng-testpngs/crashers", 0);
    /* "never allocate gigabytes": libpng alone takes 1 GiB for the huge_*_chunk files */
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    if (ru.ru_maxrss > 512 * 1024)
        FAIL("peak memory after the crash files is %ld MiB", ru.ru_maxrss / 1024);
    printf("peak memory after the PNG suites: %ld MiB\n", ru.ru_maxrss / 1024);
    jpeg_suite(peer);
    exif_suite(peer);
    printf("%d images compared with a reference, %d failures\n", checked, failures);
    return failures ? 1 : 0;
}
