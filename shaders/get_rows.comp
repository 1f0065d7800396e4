#version 450
/* get_rows.comp: out[D, n] = dequant(table[:, ids[j]]), one thread per 16-element group.
 * Variants: WTYPE x {8-bit loads, word loads}. Mirror: herd_vk_push_get_rows. */
#include "common.glsl"
#include "quant.glsl"

#define WG 64
layout(local_size_x = WG) in;

layout(push_constant) uniform Push {
    addr_t t, ids, d;
    uint D, n, t_nb1, d_nb1;
} p;

void main()
{
    uint i = wg_index() * WG + gl_LocalInvocationID.x;
    uint ng = (p.D + 15) / 16;
    if (i >= ng * p.n)
        return;
    uint g = i % ng, j = i / ng;
    uint r = uint(ldi(p.ids + 4 * j));
    float w[16];
    dequant16(p.t + uint64_t(r) * p.t_nb1, g, p.D, w);
    FBuf o = FBuf(p.d + uint64_t(j) * p.d_nb1);
    for (uint k = 0; k < 16 && 16 * g + k < p.D; k++)
        o.v[16 * g + k] = w[k];
}
