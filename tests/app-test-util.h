/* app-test-util.h: helpers shared by the app/ tests (temporary folders, tiny PNGs). */
#pragma once

#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

/* 2x2 RGB PNGs: red and blue. */
static const unsigned char test_png_red[] =
    "\x89\x50\x4e\x47\x0d\x0a\x1a\x0a\x00\x00\x00\x0d\x49\x48\x44\x52\x00\x00\x00\x02\x00\x00\x00"
    "\x02\x08\x02\x00\x00\x00\xfd\xd4\x9a\x73\x00\x00\x00\x10\x49\x44\x41\x54\x78\x9c\x63\xf8\xcf"
    "\xc0\x00\x44\x0c\x10\x0a\x00\x1f\xee\x03\xfd\x8b\x5f\x14\xd4\x00\x00\x00\x00\x49\x45\x4e\x44"
    "\xae\x42\x60\x82";
static const unsigned char test_png_blue[] =
    "\x89\x50\x4e\x47\x0d\x0a\x1a\x0a\x00\x00\x00\x0d\x49\x48\x44\x52\x00\x00\x00\x02\x00\x00\x00"
    "\x02\x08\x02\x00\x00\x00\xfd\xd4\x9a\x73\x00\x00\x00\x0f\x49\x44\x41\x54\x78\x9c\x63\x60\x60"
    "\xf8\x0f\x46\x60\x0a\x00\x17\xf6\x03\xfd\x7e\xeb\x37\xf3\x00\x00\x00\x00\x49\x45\x4e\x44\xae"
    "\x42\x60\x82";
#define TEST_PNG_RED_LEN  (sizeof test_png_red - 1)
#define TEST_PNG_BLUE_LEN (sizeof test_png_blue - 1)

static inline char *test_tmpdir(void)
{
    GError *e = NULL;
    char *d = g_dir_make_tmp("herd-app-test-XXXXXX", &e);
    g_assert_no_error(e);
    return d;
}

static inline void test_rm_rf(const char *path)
{
    GDir *d = g_dir_open(path, 0, NULL);
    if (d) {
        const char *n;
        while ((n = g_dir_read_name(d))) {
            char *p = g_build_filename(path, n, NULL);
            test_rm_rf(p);
            g_free(p);
        }
        g_dir_close(d);
        g_rmdir(path);
    } else {
        g_unlink(path);
    }
}

static inline char *test_write(const char *dir, const char *name, const void *data, gsize len)
{
    char *p = g_build_filename(dir, name, NULL);
    GError *e = NULL;
    g_file_set_contents(p, data, (gssize)len, &e);
    g_assert_no_error(e);
    return p;
}

static inline guint test_count_files(const char *dir)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    guint n = 0;
    if (d) {
        while (g_dir_read_name(d))
            n++;
        g_dir_close(d);
    }
    return n;
}
