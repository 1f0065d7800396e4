/* types.h: GGML tensor element types as stored in GGUF files (ids are the file format's). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum herd_type {
    HERD_TYPE_F32 = 0,
    HERD_TYPE_F16 = 1,
    HERD_TYPE_Q4_0 = 2,
    HERD_TYPE_Q4_1 = 3,
    HERD_TYPE_Q5_0 = 6,
    HERD_TYPE_Q5_1 = 7,
    HERD_TYPE_Q8_0 = 8,
    HERD_TYPE_Q8_1 = 9,
    HERD_TYPE_Q2_K = 10,
    HERD_TYPE_Q3_K = 11,
    HERD_TYPE_Q4_K = 12,
    HERD_TYPE_Q5_K = 13,
    HERD_TYPE_Q6_K = 14,
    HERD_TYPE_Q8_K = 15,
    HERD_TYPE_IQ2_XXS = 16,
    HERD_TYPE_IQ2_XS = 17,
    HERD_TYPE_IQ3_XXS = 18,
    HERD_TYPE_IQ1_S = 19,
    HERD_TYPE_IQ4_NL = 20,
    HERD_TYPE_IQ3_S = 21,
    HERD_TYPE_IQ2_S = 22,
    HERD_TYPE_IQ4_XS = 23,
    HERD_TYPE_I8 = 24,
    HERD_TYPE_I16 = 25,
    HERD_TYPE_I32 = 26,
    HERD_TYPE_I64 = 27,
    HERD_TYPE_F64 = 28,
    HERD_TYPE_IQ1_M = 29,
    HERD_TYPE_BF16 = 30,
    HERD_TYPE_TQ1_0 = 34,
    HERD_TYPE_TQ2_0 = 35,
    HERD_TYPE_MXFP4 = 39,
    HERD_TYPE_COUNT = 40,
} herd_type;

typedef struct herd_type_info {
    const char *name; /* "Q4_K"; NULL for ids that name no type */
    uint32_t blck;    /* elements per block (1 for plain types) */
    uint32_t bytes;   /* bytes per block */
    bool compute;     /* the engine computes with it (matmul weights) */
} herd_type_info;

/* Info for a type id, or NULL if the id is not a known GGML type. */
const herd_type_info *herd_type_get(uint32_t type);
/* Name for any id: the type's name or "unknown". */
const char *herd_type_name(uint32_t type);
/* Bytes of one row of n elements; 0 if n is not a multiple of the block size. */
size_t herd_row_size(herd_type type, int64_t n);
/* Parse a name like "q4_k" / "Q4_K" (case-insensitive); returns -1 if unknown. */
int herd_type_from_name(const char *name);
