#version 450
/* mul_mv.comp: matrix-vector product (decode): one workgroup per (weight row, column).
 * Each thread dots 16-element groups of its row with x; the partial sums are reduced with
 * subgroupAdd (-DUSE_SUBGROUP, when the device has subgroup arithmetic in compute) or a
 * shared-memory tree (fallback). Variants: WTYPE x {8-bit loads, word loads} x {subgroup, shared}
 * x {MUL_MAT, MUL_MAT_ID}. */
#include "common.glsl"
#include "quant.glsl"
#ifdef USE_SUBGROUP
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif

#define WG 64
layout(local_size_x = WG) in;

#include "mul_mat.glsl"

shared float red[WG];

void main()
{
    uint wg = wg_index();
    uint row = wg % p.N;
    uint rest = wg / p.N;
    uint m = rest % p.M;
    rest /= p.M;
    uint i2 = rest % p.ne2, i3 = rest / p.ne2;
    if (i3 >= p.ne3)
        return;
    uint tid = gl_LocalInvocationID.x;

    addr_t wr = w_base(m, i2, i3) + uint64_t(row) * p.w_nb1;
    addr_t xc = x_col(m, i2, i3);
    uint ng = (p.K + 15) / 16;
    float sum = 0.0;
    /* x in 16-byte loads when aligned (always for the rounded copies of quantized types) */
    bool x16 = (xc & 15) == 0 && (p.K & 15) == 0;
    for (uint g = tid; g < ng; g += WG) {
        float w[16];
        dequant16(wr, g, p.K, w);
        addr_t xa = xc + 64 * uint64_t(g);
        if (x16) {
            for (uint j = 0; j < 16; j += 4) {
                vec4 xv = F4Buf(xa + 4 * j).v;
                sum += w[j] * xv.x + w[j + 1] * xv.y + w[j + 2] * xv.z + w[j + 3] * xv.w;
            }
        } else {
            FBuf xv = FBuf(xa);
            for (uint j = 0; j < 16 && 16 * g + j < p.K; j++)
                sum += w[j] * xv.v[j];
        }
    }

#ifdef USE_SUBGROUP
    sum = subgroupAdd(sum);
    if (subgroupElect())
        red[gl_SubgroupID] = sum;
    barrier();
    if (tid == 0) {
        float t = 0.0;
        for (uint i = 0; i < gl_NumSubgroups; i++)
            t += red[i];
        FBuf(d_col(m, i2, i3)).v[row] = t;
    }
#else
    red[tid] = sum;
    barrier();
    for (uint s = WG / 2; s > 0; s >>= 1) {
        if (tid < s)
            red[tid] += red[tid + s];
        barrier();
    }
    if (tid == 0)
        FBuf(d_col(m, i2, i3)).v[row] = red[0];
#endif
}
