/* vk-push.h: C mirrors of the shaders' push-constant blocks (std430: uint64 addresses first,
 * then 32-bit fields). Keep each in sync with the named shader; the asserts catch size drift. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define HERD_VK_PUSH_MAX 128 /* the minimum maxPushConstantsSize Vulkan guarantees */

/* shaders/mul_mat.glsl (mul_mv.comp, mul_mm.comp) */
typedef struct herd_vk_push_mat {
    uint64_t w, x, d, ids;
    uint32_t K, N, M;
    uint32_t w_nb1, w_nb2, w_nb3;
    uint32_t x_nb1, x_nb2, x_nb3;
    uint32_t d_nb1, d_nb2, d_nb3;
    uint32_t ne2, ne3, r2, r3;
} herd_vk_push_mat;
_Static_assert(sizeof(herd_vk_push_mat) == 96, "push block mul_mat.glsl");

/* shaders/get_rows.comp */
typedef struct herd_vk_push_get_rows {
    uint64_t t, ids, d;
    uint32_t D, n, t_nb1, d_nb1;
} herd_vk_push_get_rows;
_Static_assert(sizeof(herd_vk_push_get_rows) == 40, "push block get_rows.comp");

/* shaders/ew.comp */
typedef struct herd_vk_push_ew {
    uint64_t a, b, d;
    uint32_t ane[4], anb[4];
    uint32_t bne[4], bnb[4];
    uint32_t n;
    float f0;
    uint32_t i0;
    uint32_t pad_;
} herd_vk_push_ew;
_Static_assert(offsetof(herd_vk_push_ew, n) == 88, "push block ew.comp");
_Static_assert(sizeof(herd_vk_push_ew) == 104, "push block ew.comp");

/* shaders/rows.comp */
typedef struct herd_vk_push_rows {
    uint64_t x, w, b, d;
    uint32_t ne0, nrows;
    float f0;
    uint32_t has_w, has_b;
    uint32_t pad_;
} herd_vk_push_rows;
_Static_assert(sizeof(herd_vk_push_rows) == 56, "push block rows.comp");

/* shaders/rope.comp */
typedef struct herd_vk_push_rope {
    uint64_t x, pos, ff, d, freq;
    uint32_t hd, H, T, n_dims;
    uint32_t has_ff;
    uint32_t pad_;
} herd_vk_push_rope;
_Static_assert(sizeof(herd_vk_push_rope) == 64, "push block rope.comp");

/* shaders/attention.comp */
typedef struct herd_vk_push_attn {
    uint64_t q, k, v, qpos, d;
    uint32_t hd, Hq, Hkv, T;
    uint32_t k_nb1, k_nb2, v_nb1, v_nb2;
    int32_t mask, chunk, n_kv, ring, temp_floor;
    float scale, temp_scale;
    uint32_t nsplit;
    uint64_t part;
    uint32_t k16;
    uint32_t pad_;
} herd_vk_push_attn;
_Static_assert(offsetof(herd_vk_push_attn, scale) == 92, "push block attention.comp");
_Static_assert(offsetof(herd_vk_push_attn, part) == 104, "push block attention.comp");
_Static_assert(sizeof(herd_vk_push_attn) == 120, "push block attention.comp");

/* shaders/scatter.comp */
typedef struct herd_vk_push_scatter {
    uint64_t src, dst, idx;
    uint32_t ne0, ne1, ne2;
    uint32_t d_nb1, d_nb2;
    uint32_t ring;
} herd_vk_push_scatter;
_Static_assert(sizeof(herd_vk_push_scatter) == 48, "push block scatter.comp");

/* shaders/quant_act.comp */
typedef struct herd_vk_push_quant_act {
    uint64_t x, d;
    uint32_t K, ne1, ne2, rows;
    uint32_t x_nb1, x_nb2, x_nb3;
    uint32_t pad_;
} herd_vk_push_quant_act;
_Static_assert(sizeof(herd_vk_push_quant_act) == 48, "push block quant_act.comp");
