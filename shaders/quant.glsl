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

#if WTYPE == T_Q4_K || WTYPE == T_Q5_K
void scale_min_k4(addr_t sc, uint b, out float s, out float m)
{
    if (b < 4) {
        s = float(ld8(sc + b) & 63u);
        m = float(ld8(sc + b + 4) & 63u);
    } else {
        s = float((ld8(sc + b + 4) & 15u) | ((ld8(sc + b - 4) >> 6) << 4));
        m = float((ld8(sc + b + 4) >> 4) | ((ld8(sc + b) >> 6) << 4));
    }
}
#endif

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
    addr_t q = b + 2 + 16 * (g & 1);
    for (uint j = 0; j < 16; j++)
        w[j] = d * float(ld_i8(q + j));
#elif WTYPE == T_Q4_0
    addr_t b = row + uint64_t(g >> 1) * 18;
    float d = ld_f16(b);
    uint sh = 4 * (g & 1);
    for (uint j = 0; j < 16; j++)
        w[j] = d * (float((ld8(b + 2 + j) >> sh) & 15u) - 8.0);
#elif WTYPE == T_Q4_K
    addr_t b = row + uint64_t(g >> 4) * 144;
    uint gi = g & 15, sb = gi >> 1, c = sb >> 1;
    float s, m;
    scale_min_k4(b + 4, sb, s, m);
    float d = ld_f16(b) * s, mn = ld_f16(b + 2) * m;
    uint sh = 4 * (sb & 1);
    addr_t q = b + 16 + 32 * c + 16 * (gi & 1);
    for (uint j = 0; j < 16; j++)
        w[j] = d * float((ld8(q + j) >> sh) & 15u) - mn;
#elif WTYPE == T_Q5_K
    addr_t b = row + uint64_t(g >> 4) * 176;
    uint gi = g & 15, sb = gi >> 1, c = sb >> 1, l0 = 16 * (gi & 1);
    float s, m;
    scale_min_k4(b + 4, sb, s, m);
    float d = ld_f16(b) * s, mn = ld_f16(b + 2) * m;
    uint sh = 4 * (sb & 1);
    uint hb = sb; /* qh bit 2c + (sb & 1) == sb */
    for (uint j = 0; j < 16; j++) {
        uint l = l0 + j;
        uint v = (ld8(b + 48 + 32 * c + l) >> sh) & 15u;
        v |= ((ld8(b + 16 + l) >> hb) & 1u) << 4;
        w[j] = d * float(v) - mn;
    }
#elif WTYPE == T_Q6_K
    addr_t b = row + uint64_t(g >> 4) * 210;
    uint gi = g & 15, n = gi >> 3, part = (gi & 7) >> 1, l0 = 16 * (gi & 1);
    float d = ld_f16(b + 208) * float(ld_i8(b + 192 + 8 * n + (gi & 1) + 2 * part));
    addr_t ql = b + 64 * n + 32 * (part & 1);
    addr_t qh = b + 128 + 32 * n;
    uint sh = 4 * (part >> 1), hs = 2 * part;
    for (uint j = 0; j < 16; j++) {
        uint l = l0 + j;
        int v = int(((ld8(ql + l) >> sh) & 15u) | (((ld8(qh + l) >> hs) & 3u) << 4)) - 32;
        w[j] = d * float(v);
    }
#else
#error unknown WTYPE
#endif
}
