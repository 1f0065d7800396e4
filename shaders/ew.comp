#version 450
/* ew.comp: elementwise ops, one thread per output element (out contiguous, shape a.ne).
 * OP: 1 ADD, 2 MUL (b broadcast: b.ne[i] is a.ne[i] or 1), 3 SWIGLU (silu(a) * b), 4 SCALE,
 * 5 SILU, 6 GELU (erf form), 7 SIGMOID, 8 SELECT_SIGMOID (out[t] = sigmoid(a[b[t], t])),
 * 9 CPY (a strided F32, or F16/BF16 with -DSRC_F16/-DSRC_BF16, to contiguous F32, or pairs of
 *   F16/BF16 with -DDST_F16/-DDST_BF16),
 * 10 CONCAT (along dim i0; a and b strided; out ne in ane with ne[dim] = a.ne[dim] + b.ne[dim],
 * a.ne[dim] in bne[dim]). Strides in bytes. Mirror: herd_vk_push_ew. */
#include "common.glsl"

#define WG 256
layout(local_size_x = WG) in;

layout(push_constant) uniform Push {
    addr_t a, b, d;
    uint ane0, ane1, ane2, ane3;
    uint anb0, anb1, anb2, anb3;
    uint bne0, bne1, bne2, bne3;
    uint bnb0, bnb1, bnb2, bnb3;
    uint n;
    float f0;
    uint i0;
} p;

float silu(float x) { return x / (1.0 + exp(-x)); }
float sigm(float x) { return 1.0 / (1.0 + exp(-x)); }

uvec4 unflat(uint i)
{
    uvec4 r;
    r.x = i % p.ane0;
    i /= p.ane0;
    r.y = i % p.ane1;
    i /= p.ane1;
    r.z = i % p.ane2;
    r.w = i / p.ane2;
    return r;
}

addr_t a_at(uvec4 c)
{
    return p.a + uint64_t(c.x) * p.anb0 + uint64_t(c.y) * p.anb1 + uint64_t(c.z) * p.anb2 +
           uint64_t(c.w) * p.anb3;
}

addr_t b_at(uvec4 c)
{
    return p.b + uint64_t(c.x) * p.bnb0 + uint64_t(c.y) * p.bnb1 + uint64_t(c.z) * p.bnb2 +
           uint64_t(c.w) * p.bnb3;
}

#if OP == 9
float src_at(uvec4 c)
{
#if defined(SRC_F16)
    return ld_f16(a_at(c));
#elif defined(SRC_BF16)
    return ld_bf16(a_at(c));
#else
    return ldf(a_at(c));
#endif
}
#endif

void main()
{
    uint i = wg_index() * WG + gl_LocalInvocationID.x;
#if OP == 9 && (defined(DST_F16) || defined(DST_BF16))
    /* two output halves per thread, written as one 32-bit word (the arena pads to >= 4 bytes) */
    if (2 * i >= p.n)
        return;
    float v0 = src_at(unflat(2 * i));
    float v1 = 2 * i + 1 < p.n ? src_at(unflat(2 * i + 1)) : 0.0;
#ifdef DST_F16
    UBuf(p.d).v[i] = pack_f16x2(v0, v1);
#else
    UBuf(p.d).v[i] = f32_to_bf16_bits(v0) | (f32_to_bf16_bits(v1) << 16);
#endif
#else
    if (i >= p.n)
        return;
    uvec4 c = unflat(i);
    float r;
#if OP == 1 || OP == 2
    float x = ldf(a_at(c));
    uvec4 cb = uvec4(c.x % p.bne0, c.y % p.bne1, c.z % p.bne2, c.w % p.bne3);
    float y = ldf(b_at(cb));
#if OP == 1
    r = x + y;
#else
    r = x * y;
#endif
#elif OP == 3
    r = silu(ldf(a_at(c))) * ldf(b_at(c));
#elif OP == 4
    r = ldf(a_at(c)) * p.f0;
#elif OP == 5
    r = silu(ldf(a_at(c)));
#elif OP == 6
    float x = ldf(a_at(c));
    r = 0.5 * x * (1.0 + herd_erf(x * 0.70710678118654752));
#elif OP == 7
    r = sigm(ldf(a_at(c)));
#elif OP == 8
    /* i = t; a = logits [E, T] */
    int e = ldi(p.b + 4 * i);
    r = sigm(ldf(p.a + uint64_t(e) * p.anb0 + uint64_t(i) * p.anb1));
#elif OP == 9
    r = src_at(c);
#elif OP == 10
    uint dim = p.i0;
    uint na = dim == 0 ? p.bne0 : dim == 1 ? p.bne1 : dim == 2 ? p.bne2 : p.bne3;
    uint cd = c[dim];
    if (cd < na) {
        r = ldf(a_at(c));
    } else {
        c[dim] = cd - na;
        r = ldf(b_at(c));
    }
#else
#error unknown OP
#endif
    FBuf(p.d).v[i] = r;
#endif
}
