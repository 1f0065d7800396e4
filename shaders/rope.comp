#version 450
/* rope.comp: rotary embedding of adjacent pairs (2i, 2i+1) of x[hd, H, T] (contiguous), one thread
 * per pair. The frequencies come from a table the host fills with powf() exactly like the CPU
 * (GPU pow() is not accurate enough once multiplied by positions in the thousands).
 * MODE 1: ROPE, angle = pos[t] * freq[i] / ff[i] for i < n_dims/2, other pairs copied.
 * MODE 2: ROPE_2D, pairs i < hd/4 by px * freq[i], the rest by py * freq[i - hd/4]
 * (freq[j] = theta^(-2j/(hd/2))), pos I32[2, T]. Mirror: herd_vk_push_rope. */
#include "common.glsl"

#define WG 256
layout(local_size_x = WG) in;

layout(push_constant) uniform Push {
    addr_t x, pos, ff, d, freq;
    uint hd, H, T, n_dims;
    uint has_ff;
} p;

/* sin and cos of a float angle to ~2e-7 absolute for |a| < 2^17 * pi/2: Cody-Waite reduction by
 * pi/2 in four parts (the first three have 7 significant bits, so k * c is exact for k < 2^17),
 * then Cephes' minimax polynomials on [-pi/4, pi/4]. The GLSL built-ins only promise 2^-11. */
void sincos_f(float a, out float s, out float c)
{
    precise float k = round(a * 0.63661977236758134);
    precise float r = a - k * 1.5625;
    r = r - k * 0.0081787109375;
    r = r - k * 0.00011730194091796875;
    r = r - k * 3.1391647326017846e-07;
    float z = r * r;
    float sn = ((-1.9515295891e-4 * z + 8.3321608736e-3) * z - 1.6666654611e-1) * z * r + r;
    float cs = ((2.443315711809948e-5 * z - 1.388731625493765e-3) * z + 4.166664568298827e-2) *
                   z * z - 0.5 * z + 1.0;
    int q = int(k) & 3;
    s = q == 0 ? sn : q == 1 ? cs : q == 2 ? -sn : -cs;
    c = q == 0 ? cs : q == 1 ? -sn : q == 2 ? -cs : sn;
}

void main()
{
    uint i = wg_index() * WG + gl_LocalInvocationID.x;
    uint np = p.hd / 2;
    if (i >= np * p.H * p.T)
        return;
    uint pair = i % np;
    uint t = i / (np * p.H);
    precise float ang;
#if MODE == 1
    if (2 * pair >= p.n_dims) {
        FBuf(p.d).v[2 * i] = FBuf(p.x).v[2 * i];
        FBuf(p.d).v[2 * i + 1] = FBuf(p.x).v[2 * i + 1];
        return;
    }
    ang = float(ldi(p.pos + 4 * t)) * ldf(p.freq + 4 * pair);
    if (p.has_ff != 0) {
        /* correctly rounded division (one Newton step on the quotient) */
        float f = ldf(p.ff + 4 * pair);
        precise float q = ang / f;
        precise float rem = ang - q * f;
        ang = q + rem / f;
    }
#else
    uint q4 = p.hd / 4;
    uint j = pair < q4 ? pair : pair - q4;
    int c = ldi(p.pos + 4 * (2 * t + (pair < q4 ? 0 : 1)));
    ang = float(c) * ldf(p.freq + 4 * j);
#endif
    float cs, sn;
    sincos_f(ang, sn, cs);
    float a = FBuf(p.x).v[2 * i], b = FBuf(p.x).v[2 * i + 1];
    FBuf(p.d).v[2 * i] = a * cs - b * sn;
    FBuf(p.d).v[2 * i + 1] = a * sn + b * cs;
}
