#version 450
/* scatter.comp: row writes into existing tensors (in place).
 * OP 1 KV_STORE: src F32[hd, H, T] (contiguous) into cache [hd, H, S] at slot pos[t] % ring;
 *      cache F32, or F16 (-DKV_F16: one thread per pair of halves, written as one word).
 * OP 2 SET_ROWS: dst F32[D, n] row idx[j] = rows[:, j] (rows contiguous).
 * Mirror: herd_vk_push_scatter. */
#include "common.glsl"

#define WG 256
layout(local_size_x = WG) in;

layout(push_constant) uniform Push {
    addr_t src, dst, idx;
    uint ne0, ne1, ne2;
    uint d_nb1, d_nb2;
    uint ring;
} p;

void main()
{
    uint i = wg_index() * WG + gl_LocalInvocationID.x;
#if OP == 1
#ifdef KV_F16
    uint per = p.ne0 / 2;
#else
    uint per = p.ne0;
#endif
    if (i >= per * p.ne1 * p.ne2)
        return;
    uint e = i % per, hh = (i / per) % p.ne1, t = i / (per * p.ne1);
    uint slot = uint(ldi(p.idx + 4 * t)) % p.ring;
    addr_t row = p.dst + uint64_t(slot) * p.d_nb2 + uint64_t(hh) * p.d_nb1;
    FBuf s = FBuf(p.src + 4 * ((uint64_t(t) * p.ne1 + hh) * p.ne0));
#ifdef KV_F16
    UBuf(row + 4 * e).v[0] = pack_f16x2(s.v[2 * e], s.v[2 * e + 1]);
#else
    FBuf(row + 4 * e).v[0] = s.v[e];
#endif
#elif OP == 2
    if (i >= p.ne0 * p.ne1)
        return;
    uint e = i % p.ne0, j = i / p.ne0;
    uint r = uint(ldi(p.idx + 4 * j));
    FBuf(p.dst + uint64_t(r) * p.d_nb1 + 4 * e).v[0] = ldf(p.src + 4 * uint64_t(i));
#else
#error unknown OP
#endif
}
