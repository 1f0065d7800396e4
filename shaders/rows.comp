#version 450
/* rows.comp: row reductions over ne[0], one workgroup per row (x contiguous rows of ne0).
 * OP: 1 RMS_NORM (w optional), 2 LAYER_NORM (w, b optional), 3 SOFTMAX (scale f0, max-subtracted),
 * 4 ARGMAX (I32 out, lowest index on ties). Mirror: herd_vk_push_rows. */
#include "common.glsl"

#define WG 128
layout(local_size_x = WG) in;

layout(push_constant) uniform Push {
    addr_t x, w, b, d;
    uint ne0, nrows;
    float f0;
    uint has_w, has_b;
} p;

shared float red[WG];
shared uint redi[WG];

float reduce_sum(float v)
{
    uint tid = gl_LocalInvocationID.x;
    red[tid] = v;
    barrier();
    for (uint s = WG / 2; s > 0; s >>= 1) {
        if (tid < s)
            red[tid] += red[tid + s];
        barrier();
    }
    float r = red[0];
    barrier();
    return r;
}

float reduce_max(float v)
{
    uint tid = gl_LocalInvocationID.x;
    red[tid] = v;
    barrier();
    for (uint s = WG / 2; s > 0; s >>= 1) {
        if (tid < s)
            red[tid] = max(red[tid], red[tid + s]);
        barrier();
    }
    float r = red[0];
    barrier();
    return r;
}

void main()
{
    uint row = wg_index();
    if (row >= p.nrows)
        return;
    uint tid = gl_LocalInvocationID.x;
    FBuf x = FBuf(p.x + uint64_t(row) * p.ne0 * 4);
#if OP == 4
    float best = -1.0 / 0.0;
    uint bi = 0xffffffffu;
    for (uint i = tid; i < p.ne0; i += WG) {
        float v = x.v[i];
        if (v > best || bi == 0xffffffffu) {
            best = v;
            bi = i;
        }
    }
    red[tid] = best;
    redi[tid] = bi;
    barrier();
    for (uint s = WG / 2; s > 0; s >>= 1) {
        if (tid < s) {
            float o = red[tid + s];
            uint oi = redi[tid + s];
            if (oi != 0xffffffffu &&
                (redi[tid] == 0xffffffffu || o > red[tid] || (o == red[tid] && oi < redi[tid]))) {
                red[tid] = o;
                redi[tid] = oi;
            }
        }
        barrier();
    }
    if (tid == 0)
        IBuf(p.d).v[row] = int(redi[0]);
#else
    FBuf d = FBuf(p.d + uint64_t(row) * p.ne0 * 4);
#if OP == 1
    float ss = 0.0;
    for (uint i = tid; i < p.ne0; i += WG)
        ss += x.v[i] * x.v[i];
    float sc = 1.0 / sqrt(reduce_sum(ss) / float(p.ne0) + p.f0);
    for (uint i = tid; i < p.ne0; i += WG)
        d.v[i] = x.v[i] * sc * (p.has_w != 0 ? FBuf(p.w).v[i] : 1.0);
#elif OP == 2
    float s = 0.0;
    for (uint i = tid; i < p.ne0; i += WG)
        s += x.v[i];
    float mean = reduce_sum(s) / float(p.ne0);
    float ss = 0.0;
    for (uint i = tid; i < p.ne0; i += WG) {
        float t = x.v[i] - mean;
        ss += t * t;
    }
    float sc = 1.0 / sqrt(reduce_sum(ss) / float(p.ne0) + p.f0);
    for (uint i = tid; i < p.ne0; i += WG) {
        float v = (x.v[i] - mean) * sc;
        if (p.has_w != 0)
            v *= FBuf(p.w).v[i];
        if (p.has_b != 0)
            v += FBuf(p.b).v[i];
        d.v[i] = v;
    }
#elif OP == 3
    float mx = -1.0 / 0.0;
    for (uint i = tid; i < p.ne0; i += WG)
        mx = max(mx, x.v[i] * p.f0);
    mx = reduce_max(mx);
    float s = 0.0;
    for (uint i = tid; i < p.ne0; i += WG) {
        float e = exp(x.v[i] * p.f0 - mx);
        d.v[i] = e;
        s += e;
    }
    float inv = 1.0 / reduce_sum(s);
    for (uint i = tid; i < p.ne0; i += WG)
        d.v[i] *= inv;
#else
#error unknown OP
#endif
#endif
}
