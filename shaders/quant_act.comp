#version 450
/* quant_act.comp: rounds matmul activations the way the CPU backend (and the reference engine)
 * converts them before its dot products (quant.h, herd_vec_dot_type), so both backends multiply
 * the same numbers: KIND 1 Q8_0 (blocks of 32: d = f16(amax/127), q = rne(x * 127/amax)),
 * 2 Q8_K (blocks of 256: iscale = -127/max, q = clamp(rne(iscale * x), -127, 127), d = 1/iscale),
 * 3 F16, 4 BF16 (round to nearest even). Writes d * q (or the rounded value) as F32 into a
 * contiguous [K, ne1, ne2, ne3] copy of x (strided). Mirror: herd_vk_push_quant_act. */
#include "common.glsl"

#if KIND == 1
#define BS 32
#elif KIND == 2
#define BS 256
#else
#define BS 256
#endif
layout(local_size_x = BS) in;

layout(push_constant) uniform Push {
    addr_t x, d;
    uint K, ne1, ne2, rows;
    uint x_nb1, x_nb2, x_nb3;
} p;

shared float s_a[BS];
shared uint s_i[BS];

/* a / b correctly rounded (one correction step; GPU division may be off by an ulp or two) */
float div_rn(float a, float b)
{
    precise float q = a / b;
    precise float r = a - q * b;
    return q + r / b;
}

addr_t x_at(uint row, uint k)
{
    uint i1 = row % p.ne1, r2 = row / p.ne1;
    uint i2 = r2 % p.ne2, i3 = r2 / p.ne2;
    return p.x + uint64_t(i1) * p.x_nb1 + uint64_t(i2) * p.x_nb2 + uint64_t(i3) * p.x_nb3 +
           4 * uint64_t(k);
}

void main()
{
    uint tid = gl_LocalInvocationID.x;
#if KIND == 3 || KIND == 4
    uint i = wg_index() * BS + tid;
    if (i >= p.K * p.rows)
        return;
    float v = ldf(x_at(i / p.K, i % p.K));
#if KIND == 3
    v = unpackHalf2x16(f32_to_f16_bits(v)).x;
#else
    uint u = floatBitsToUint(v);
    if ((u & 0x7fffffffu) <= 0x7f800000u)
        u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    v = uintBitsToFloat(u);
#endif
    FBuf(p.d).v[i] = v;
#else
    uint nb = p.K / BS;
    uint blk = wg_index();
    if (blk >= nb * p.rows)
        return;
    uint row = blk / nb, k = (blk % nb) * BS + tid;
    float v = ldf(x_at(row, k));
    s_a[tid] = abs(v);
    s_i[tid] = tid;
    barrier();
    for (uint s = BS / 2; s > 0; s >>= 1) {
        if (tid < s) {
            float o = s_a[tid + s];
            uint oi = s_i[tid + s];
            if (o > s_a[tid] || (o == s_a[tid] && oi < s_i[tid])) {
                s_a[tid] = o;
                s_i[tid] = oi;
            }
        }
        barrier();
    }
    float amax = s_a[0];
    float r = 0.0;
#if KIND == 1
    if (amax != 0.0) {
        float id = div_rn(127.0, amax);
        float dh = unpackHalf2x16(f32_to_f16_bits(div_rn(amax, 127.0))).x;
        r = dh * roundEven(v * id);
    }
#else
    if (amax != 0.0) {
        /* the signed value of the first element with the largest magnitude */
        float mx = ldf(x_at(row, (blk % nb) * BS + s_i[0]));
        float iscale = div_rn(-127.0, mx);
        float q = clamp(roundEven(iscale * v), -127.0, 127.0);
        r = div_rn(1.0, iscale) * q;
    }
#endif
    FBuf(p.d + 4 * (uint64_t(row) * p.K + k)).v[0] = r;
#endif
}
