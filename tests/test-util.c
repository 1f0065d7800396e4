#include "test-util.h"

#include <math.h>
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
