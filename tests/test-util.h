/* test-util.h: small helpers shared by the parity tests. */
#pragma once

#include <stddef.h>

/* Whole file as float32 values (malloc'd; *n = count), or NULL. */
float *read_f32(const char *path, size_t *n);

/* Replaces float32 pixel values u/127.5 - 1 by Hugging Face's bf16-normalised values
 * (lut[u], the fixtures manifest's 256-entry table), in place, for n values. */
void hf_bf16_pixels(float *px, size_t n, const float lut[256]);
