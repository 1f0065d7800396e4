#version 450
/* attention.comp: flash-attention style, one workgroup per (query t, head h). Keys of the allowed
 * range (mask NONE: 0..n_kv-1; CAUSAL: 0..p; CHUNKED: floor(p/C)*C..p; position s in slot s % ring)
 * are visited in blocks of WG: each thread scores one key, the block max / sum update a running
 * (max, sum) pair and the output accumulator is rescaled (online softmax, all in fp32).
 * q F32[hd, Hq, T] contiguous; K, V [hd, Hkv, S] F32 or F16 (-DKV_F16), strides in bytes;
 * GQA: head h reads KV head h / (Hq / Hkv). hd <= 256.
 * Split-K (nsplit > 1, decode with few queries): workgroup (split, h, t) takes the split-th slice
 * of the key range and writes its unnormalised (max, sum, o[hd]) to `part`; -DCOMBINE merges
 * the slices of each (h, t) into the output. Mirror: herd_vk_push_attn. */
#include "common.glsl"

#define WG 64
#define MAXD 256
layout(local_size_x = WG) in;

layout(push_constant) uniform Push {
    addr_t q, k, v, qpos, d;
    uint hd, Hq, Hkv, T;
    uint k_nb1, k_nb2, v_nb1, v_nb2;
    int mask, chunk, n_kv, ring, temp_floor;
    float scale, temp_scale;
    uint nsplit;
    addr_t part; /* nsplit * (hd + 2) floats per (t, h) */
    uint k16;    /* K rows 16-byte aligned and hd % 8 == 0: score with 16-byte loads */
} p;

shared float qs[MAXD];
shared float ps[WG];
shared float red[WG];

float kv_at(addr_t a, uint i)
{
#ifdef KV_F16
    return ld_f16(a + 2 * i);
#else
    return ldf(a + 4 * i);
#endif
}

float reduce(float v, bool is_max)
{
    uint tid = gl_LocalInvocationID.x;
    red[tid] = v;
    barrier();
    for (uint s = WG / 2; s > 0; s >>= 1) {
        if (tid < s)
            red[tid] = is_max ? max(red[tid], red[tid + s]) : red[tid] + red[tid + s];
        barrier();
    }
    float r = red[0];
    barrier();
    return r;
}

#ifdef COMBINE
void main()
{
    uint wg = wg_index();
    uint h = wg % p.Hq, t = wg / p.Hq;
    if (t >= p.T)
        return;
    uint tid = gl_LocalInvocationID.x;
    uint stride = p.hd + 2;
    addr_t pb = p.part + 4 * (uint64_t(t) * p.Hq + h) * p.nsplit * stride;
    float M = -1.0 / 0.0;
    for (uint sp = 0; sp < p.nsplit; sp++)
        M = max(M, ldf(pb + 4 * sp * stride));
    float L = 0.0;
    for (uint sp = 0; sp < p.nsplit; sp++) {
        float ms = ldf(pb + 4 * sp * stride);
        L += ms == -1.0 / 0.0 ? 0.0 : ldf(pb + 4 * (sp * stride + 1)) * exp(ms - M);
    }
    addr_t da = p.d + 4 * (uint64_t(t) * p.Hq + h) * p.hd;
    for (uint dd = tid; dd < p.hd; dd += WG) {
        float acc = 0.0;
        for (uint sp = 0; sp < p.nsplit; sp++) {
            float ms = ldf(pb + 4 * sp * stride);
            if (ms != -1.0 / 0.0)
                acc += ldf(pb + 4 * (sp * stride + 2 + dd)) * exp(ms - M);
        }
        FBuf(da + 4 * dd).v[0] = L > 0.0 ? acc / L : 0.0;
    }
}
#else
void main()
{
    uint wg = wg_index();
    uint split = wg % p.nsplit;
    wg /= p.nsplit;
    uint h = wg % p.Hq, t = wg / p.Hq;
    if (t >= p.T)
        return;
    uint tid = gl_LocalInvocationID.x;
    uint hk = h / (p.Hq / p.Hkv);

    int lo = 0, hi = p.n_kv - 1;
    float sc = p.scale;
    if (p.mask != 0 || p.temp_floor > 0) {
        int pos = ldi(p.qpos + 4 * t);
        if (p.mask != 0)
            hi = pos;
        if (p.mask == 2)
            lo = (pos / p.chunk) * p.chunk;
        if (p.mask != 0)
            lo = max(lo, pos - p.ring + 1); /* older positions were overwritten in the ring */
        if (p.temp_floor > 0)
            sc *= 1.0 + p.temp_scale * log(floor(float(pos + 1) / float(p.temp_floor)) + 1.0);
    }

    if (p.nsplit > 1) { /* this workgroup's slice of lo..hi */
        int n = hi - lo + 1;
        int per = (n + int(p.nsplit) - 1) / int(p.nsplit);
        int l0 = lo + int(split) * per;
        hi = min(hi, l0 + per - 1);
        lo = l0;
    }

    addr_t qa = p.q + 4 * (uint64_t(t) * p.Hq + h) * p.hd;
    for (uint i = tid; i < p.hd; i += WG)
        qs[i] = ldf(qa + 4 * i) * sc;
    barrier();

    const uint ND = MAXD / WG;
    float o[ND];
    for (uint j = 0; j < ND; j++)
        o[j] = 0.0;
    float m = -1.0 / 0.0, l = 0.0;
    addr_t kb = p.k + uint64_t(hk) * p.k_nb1, vb = p.v + uint64_t(hk) * p.v_nb1;

    for (int s0 = lo; s0 <= hi; s0 += WG) {
        int s = s0 + int(tid);
        float score = -1.0 / 0.0;
        if (s <= hi) {
            addr_t kr = kb + uint64_t(uint(s) % uint(p.ring)) * p.k_nb2;
            score = 0.0;
            if (p.k16 != 0) {
#ifdef KV_F16
                for (uint i = 0; i < p.hd; i += 8) {
                    uvec4 w = ld128(kr + 2 * i);
                    vec2 a = unpackHalf2x16(w.x), b = unpackHalf2x16(w.y);
                    vec2 c = unpackHalf2x16(w.z), d = unpackHalf2x16(w.w);
                    score += qs[i] * a.x + qs[i + 1] * a.y + qs[i + 2] * b.x + qs[i + 3] * b.y +
                             qs[i + 4] * c.x + qs[i + 5] * c.y + qs[i + 6] * d.x + qs[i + 7] * d.y;
                }
#else
                for (uint i = 0; i < p.hd; i += 4) {
                    vec4 kv = F4Buf(kr + 4 * i).v;
                    score += qs[i] * kv.x + qs[i + 1] * kv.y + qs[i + 2] * kv.z + qs[i + 3] * kv.w;
                }
#endif
            } else {
                for (uint i = 0; i < p.hd; i++)
                    score += qs[i] * kv_at(kr, i);
            }
        }
        float mn = max(m, reduce(score, true));
        float e = s <= hi ? exp(score - mn) : 0.0;
        ps[tid] = e;
        float corr = exp(m - mn);
        l = l * corr + reduce(e, false); /* reduce's barriers also publish ps */
        int cnt = min(WG, hi - s0 + 1);
        for (uint j = 0; j < ND; j++) {
            uint dd = tid + j * WG;
            if (dd < p.hd) {
                /* four independent sums so that the V loads overlap */
                float a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0;
                int c = 0;
                for (; c + 4 <= cnt; c += 4) {
                    uint sl = uint(s0 + c) % uint(p.ring);
                    a0 += ps[c] * kv_at(vb + uint64_t(sl) * p.v_nb2, dd);
                    a1 += ps[c + 1] * kv_at(vb + uint64_t((sl + 1) % uint(p.ring)) * p.v_nb2, dd);
                    a2 += ps[c + 2] * kv_at(vb + uint64_t((sl + 2) % uint(p.ring)) * p.v_nb2, dd);
                    a3 += ps[c + 3] * kv_at(vb + uint64_t((sl + 3) % uint(p.ring)) * p.v_nb2, dd);
                }
                for (; c < cnt; c++)
                    a0 += ps[c] * kv_at(vb + uint64_t(uint(s0 + c) % uint(p.ring)) * p.v_nb2, dd);
                o[j] = o[j] * corr + ((a0 + a1) + (a2 + a3));
            }
        }
        m = mn;
        barrier();
    }
    if (p.nsplit > 1) {
        addr_t pa = p.part + 4 * ((uint64_t(t) * p.Hq + h) * p.nsplit + split) * (p.hd + 2);
        if (tid == 0) {
            FBuf(pa).v[0] = m;
            FBuf(pa).v[1] = l;
        }
        for (uint j = 0; j < ND; j++) {
            uint dd = tid + j * WG;
            if (dd < p.hd)
                FBuf(pa + 4 * (2 + dd)).v[0] = o[j];
        }
        return;
    }
    addr_t da = p.d + 4 * (uint64_t(t) * p.Hq + h) * p.hd;
    float inv = l > 0.0 ? 1.0 / l : 0.0;
    for (uint j = 0; j < ND; j++) {
        uint dd = tid + j * WG;
        if (dd < p.hd)
            FBuf(da + 4 * dd).v[0] = o[j] * inv;
    }
}
#endif
