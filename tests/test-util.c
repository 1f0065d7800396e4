#include "test-util.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

float *read_f32(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    float *d = sz > 0 ? malloc((size_t)sz) : NULL;
    if (d && fread(d, 1, (size_t)sz, f) != (size_t)sz) {
        free(d);
        d = NULL;
    }
    fclose(f);
    *n = d ? (size_t)sz / 4 : 0;
    return d;
}

void hf_bf16_pixels(float *px, size_t n, const float lut[256])
{
    for (size_t i = 0; i < n; i++) {
        long u = lroundf((px[i] + 1.0f) * 127.5f);
        px[i] = lut[u < 0 ? 0 : u > 255 ? 255 : u];
    }
}

bool utf8_valid(const void *s, size_t n)
{
    const uint8_t *p = s;
    for (size_t i = 0; i < n;) {
        uint8_t b = p[i], lo = 0x80, hi = 0xbf;
        size_t k;
        if (b < 0x80)
            k = 1;
        else if (b >= 0xc2 && b <= 0xdf)
            k = 2;
        else if (b >= 0xe0 && b <= 0xef)
            k = 3, lo = b == 0xe0 ? 0xa0 : 0x80, hi = b == 0xed ? 0x9f : 0xbf;
        else if (b >= 0xf0 && b <= 0xf4)
            k = 4, lo = b == 0xf0 ? 0x90 : 0x80, hi = b == 0xf4 ? 0x8f : 0xbf;
        else
            return false;
        if (k > n - i)
            return false;
        for (size_t j = 1; j < k; j++) {
            if (p[i + j] < lo || p[i + j] > hi)
                return false;
            lo = 0x80, hi = 0xbf;
        }
        i += k;
    }
    return true;
}
