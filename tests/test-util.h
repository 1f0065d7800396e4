/* test-util.h: small helpers shared by the parity tests. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Whole file as float32 values (malloc'd; *n = count), or NULL. */
float *read_f32(const char *path, size_t *n);

/* Replaces float32 pixel values u/127.5 - 1 by Hugging Face's bf16-normalised values
 * (lut[u], the fixtures manifest's 256-entry table), in place, for n values. */
void hf_bf16_pixels(float *px, size_t n, const float lut[256]);

/* Is s[0..n) well-formed UTF-8 (RFC 3629: no overlongs, surrogates or code points past
 * U+10FFFF, no truncated sequence)? An oracle of our own, independent of the tokenizer's. */
bool utf8_valid(const void *s, size_t n);
