/* quant.glsl: weight dequantisation (spec §7.6 block layouts), 16 elements at a time.
 *
 * WTYPE is the herd_type id of the weights (0 F32, 1 F16, 30 BF16, 8 Q8_0, 2 Q4_0, 12 Q4_K,
 * 13 Q5_K, 14 Q6_K). dequant16(row, g, K, w) writes elements 16g .. 16g+15 of the row starting at
 * address `row`; every format's scales are shared by (at least) 16 consecutive elements, so one
 * call decodes its scale once. Plain types zero-fill past K (K need not be a multiple of 16);
 * block types need K to be a multiple of their block size (checked on the host).
 */
#define T_F32 0
#define T_F16 1
#define T_Q4_0 2
#define T_Q8_0 8
#define T_Q4_K 12
#define T_Q5_K 13
#define T_Q6_K 14
#define T_BF16 30

void dequant16(addr_t row, uint g, uint K, out float w[16])
{
#if WTYPE == T_F32
    for (uint j = 0; j < 16; j++) {
        uint i = 16 * g + j;
        w[j] = i < K ? ldf(row + 4 * i) : 0.0;
    }
#elif WTYPE == T_F16
    for (uint j = 0; j < 16; j++) {
        uint i = 16 * g + j;
        w[j] = i < K ? ld_f16(row + 2 * i) : 0.0;
    }
#elif WTYPE == T_BF16
    for (uint j = 0; j < 16; j++) {
        uint i = 16 * g + j;
        w[j] = i < K ? ld_bf16(row + 2 * i) : 0.0;
    }
#elif WTYPE == T_Q8_0
    addr_t b = row + uint64_t(g >> 1) * 34;
    float d = ld_f16(b);
    uvec4 q = ld128_a2(b + 2 + 16 * (g & 1));
    for (uint j = 0; j < 16; j++)
        w[j] = d * float(int(byte_of(q, j) << 24) >> 24);
#elif WTYPE == T_Q4_0
    addr_t b = row + uint64_t(g >> 1) * 18;
    float d = ld_f16(b);
    uint sh = 4 * (g & 1);
    uvec4 q = ld128_a2(b + 2);
    for (uint j = 0; j < 16; j++)
        w[j] = d * (float((byte_of(q, j) >> sh) & 15u) - 8.0);
#elif WTYPE == T_Q4_K || WTYPE == T_Q5_K
    /* 144 / 176-byte blocks in rows of whole blocks: every field below is 4- or 16-aligned */
#if WTYPE == T_Q4_K
    addr_t b = row + uint64_t(g >> 4) * 144;
#else
    addr_t b = row + uint64_t(g >> 4) * 176;
#endif
    uint gi = g & 15, sb = gi >> 1, c = sb >> 1;
    vec2 dm = unpackHalf2x16(ld32(b));
    /* scale bytes sc[sb], sc[sb + 4] (and sc[sb - 4]) without dynamic vector indexing (which
     * some compilers lower to local memory) */
    uint w0 = ld32(b + 4), w1 = ld32(b + 8), w2 = ld32(b + 12);
    uint bs = 8 * (sb & 3);
    float s, m;
    if (sb < 4) {
        uint sc_b = (w0 >> bs) & 0xffu, sc_b4 = (w1 >> bs) & 0xffu;
        s = float(sc_b & 63u);
        m = float(sc_b4 & 63u);
    } else {
        uint sc_b = (w1 >> bs) & 0xffu, sc_b4 = (w2 >> bs) & 0xffu, sc_bm4 = (w0 >> bs) & 0xffu;
        s = float((sc_b4 & 15u) | ((sc_bm4 >> 6) << 4));
        m = float((sc_b4 >> 4) | ((sc_b >> 6) << 4));
    }
    float d = dm.x * s, mn = dm.y * m;
    uint sh = 4 * (sb & 1);
#if WTYPE == T_Q4_K
    uvec4 q = ld128(b + 16 + 32 * c + 16 * (gi & 1));
    for (uint j = 0; j < 16; j++)
        w[j] = d * float((byte_of(q, j) >> sh) & 15u) - mn;
#else
    uvec4 q = ld128(b + 48 + 32 * c + 16 * (gi & 1));
    uvec4 qh = ld128(b + 16 + 16 * (gi & 1));
    for (uint j = 0; j < 16; j++) {
        uint v = ((byte_of(q, j) >> sh) & 15u) | (((byte_of(qh, j) >> sb) & 1u) << 4);
        w[j] = d * float(v) - mn;
    }
#endif
#elif WTYPE == T_Q6_K
    addr_t b = row + uint64_t(g >> 4) * 210;
    uint gi = g & 15, n = gi >> 3, part = (gi & 7) >> 1, l0 = 16 * (gi & 1);
    float d = ld_f16(b + 208) * float(ld_i8(b + 192 + 8 * n + (gi & 1) + 2 * part));
    uvec4 ql = ld128_a2(b + 64 * n + 32 * (part & 1) + l0);
    uvec4 qh = ld128_a2(b + 128 + 32 * n + l0);
    uint sh = 4 * (part >> 1), hs = 2 * part;
    for (uint j = 0; j < 16; j++) {
        int v = int(((byte_of(ql, j) >> sh) & 15u) | (((byte_of(qh, j) >> hs) & 3u) << 4)) - 32;
        w[j] = d * float(v);
    }
#else
#error unknown WTYPE
#endif
}
