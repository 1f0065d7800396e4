#include "types.h"

#include <strings.h>

static const herd_type_info type_table[HERD_TYPE_COUNT] = {
    [HERD_TYPE_F32] = { "F32", 1, 4, true },
    [HERD_TYPE_F16] = { "F16", 1, 2, true },
    [HERD_TYPE_Q4_0] = { "Q4_0", 32, 18, true },
    [HERD_TYPE_Q4_1] = { "Q4_1", 32, 20, false },
    [HERD_TYPE_Q5_0] = { "Q5_0", 32, 22, false },
    [HERD_TYPE_Q5_1] = { "Q5_1", 32, 24, false },
    [HERD_TYPE_Q8_0] = { "Q8_0", 32, 34, true },
    [HERD_TYPE_Q8_1] = { "Q8_1", 32, 36, false },
    [HERD_TYPE_Q2_K] = { "Q2_K", 256, 84, false },
    [HERD_TYPE_Q3_K] = { "Q3_K", 256, 110, false },
    [HERD_TYPE_Q4_K] = { "Q4_K", 256, 144, true },
    [HERD_TYPE_Q5_K] = { "Q5_K", 256, 176, true },
    [HERD_TYPE_Q6_K] = { "Q6_K", 256, 210, true },
    [HERD_TYPE_Q8_K] = { "Q8_K", 256, 292, false },
    [HERD_TYPE_IQ2_XXS] = { "IQ2_XXS", 256, 66, false },
    [HERD_TYPE_IQ2_XS] = { "IQ2_XS", 256, 74, false },
    [HERD_TYPE_IQ3_XXS] = { "IQ3_XXS", 256, 98, false },
    [HERD_TYPE_IQ1_S] = { "IQ1_S", 256, 50, false },
    [HERD_TYPE_IQ4_NL] = { "IQ4_NL", 32, 18, false },
    [HERD_TYPE_IQ3_S] = { "IQ3_S", 256, 110, false },
    [HERD_TYPE_IQ2_S] = { "IQ2_S", 256, 82, false },
    [HERD_TYPE_IQ4_XS] = { "IQ4_XS", 256, 136, false },
    [HERD_TYPE_I8] = { "I8", 1, 1, false },
    [HERD_TYPE_I16] = { "I16", 1, 2, false },
    [HERD_TYPE_I32] = { "I32", 1, 4, false },
    [HERD_TYPE_I64] = { "I64", 1, 8, false },
    [HERD_TYPE_F64] = { "F64", 1, 8, false },
    [HERD_TYPE_IQ1_M] = { "IQ1_M", 256, 56, false },
    [HERD_TYPE_BF16] = { "BF16", 1, 2, true },
    [HERD_TYPE_TQ1_0] = { "TQ1_0", 256, 54, false },
    [HERD_TYPE_TQ2_0] = { "TQ2_0", 256, 66, false },
    [HERD_TYPE_MXFP4] = { "MXFP4", 32, 17, false },
};

const herd_type_info *herd_type_get(uint32_t type)
{
    if (type >= HERD_TYPE_COUNT || !type_table[type].name)
        return NULL;
    return &type_table[type];
}

const char *herd_type_name(uint32_t type)
{
    const herd_type_info *ti = herd_type_get(type);
    return ti ? ti->name : "unknown";
}

size_t herd_row_size(herd_type type, int64_t n)
{
    const herd_type_info *ti = herd_type_get(type);
    if (!ti || n < 0 || n % ti->blck)
        return 0;
    return (size_t)(n / ti->blck) * ti->bytes;
}

int herd_type_from_name(const char *name)
{
    for (int i = 0; i < HERD_TYPE_COUNT; i++)
        if (type_table[i].name && strcasecmp(type_table[i].name, name) == 0)
            return i;
    return -1;
}
