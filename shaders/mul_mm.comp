#version 450
/* mul_mm.comp: matrix-matrix product (prefill): 32x32 output tiles, K in steps of 16 (one
 * dequant16 group), both operands staged in shared memory; 256 threads, 2x2 outputs each.
 * -DMUL_MAT_ID: one workgroup per (32-row tile, expert e): it gathers the
 * columns m with ids[m] == e (256 ids per pass) and runs them through the same tiles, so each
 * expert's weights are read once per 32 tokens instead of once per token.
 * For MUL_MAT_ID the host puts the number of experts in the push block's r2. */
#include "common.glsl"
#include "quant.glsl"

#define BM 32
#define BN 32
#define BK 16
#define WG 256
layout(local_size_x = WG) in;

#include "mul_mat.glsl"

shared float ws[BM][BK + 1];
shared float xs[BN][BK + 1];
#ifdef MUL_MAT_ID
shared uint cols[WG];
shared uint ncols;
#endif

/* column j (< BN) of the tile starting at c0: the output/activation column, or ~0u if none */
uint tile_col(uint c0, uint j, uint nc)
{
#ifdef MUL_MAT_ID
    return c0 + j < nc ? cols[c0 + j] : ~0u;
#else
    return c0 + j < p.M ? c0 + j : ~0u;
#endif
}

void tile(addr_t wb, uint row0, uint c0, uint nc, uint i2, uint i3)
{
    uint tid = gl_LocalInvocationID.x;
    uint tx = tid % 16, ty = tid / 16;
    float acc[2][2] = { { 0.0, 0.0 }, { 0.0, 0.0 } };
    uint ng = (p.K + 15) / 16;
    for (uint g = 0; g < ng; g++) {
        if (tid < BM) {
            uint r = row0 + tid;
            float w[16];
            if (r < p.N) {
                dequant16(wb + uint64_t(r) * p.w_nb1, g, p.K, w);
            } else {
                for (uint j = 0; j < 16; j++)
                    w[j] = 0.0;
            }
            for (uint j = 0; j < 16; j++)
                ws[tid][j] = w[j];
        }
        for (uint e = tid; e < BN * BK; e += WG) {
            uint c = e / BK, k = e % BK;
            uint col = tile_col(c0, c, nc), kk = 16 * g + k;
            xs[c][k] = (col != ~0u && kk < p.K) ? ldf(x_col(col, i2, i3) + 4 * kk) : 0.0;
        }
        barrier();
        for (uint k = 0; k < BK; k++) {
            float a0 = ws[2 * ty][k], a1 = ws[2 * ty + 1][k];
            float b0 = xs[2 * tx][k], b1 = xs[2 * tx + 1][k];
            acc[0][0] += a0 * b0;
            acc[0][1] += a0 * b1;
            acc[1][0] += a1 * b0;
            acc[1][1] += a1 * b1;
        }
        barrier();
    }
    for (uint i = 0; i < 2; i++) {
        uint r = row0 + 2 * ty + i;
        for (uint j = 0; j < 2; j++) {
            uint c = tile_col(c0, 2 * tx + j, nc);
            if (r < p.N && c != ~0u)
                FBuf(d_col(c, i2, i3)).v[r] = acc[i][j];
        }
    }
}

void main()
{
    uint tn = (p.N + BM - 1) / BM;
    uint wg = wg_index();
    uint bn = wg % tn;
    uint rest = wg / tn;
#ifdef MUL_MAT_ID
    uint e = rest;
    if (e >= p.r2)
        return;
    uint tid = gl_LocalInvocationID.x;
    addr_t wb = p.w + uint64_t(e) * p.w_nb2;
    for (uint base = 0; base < p.M; base += WG) {
        if (tid == 0)
            ncols = 0;
        barrier();
        uint m = base + tid;
        if (m < p.M && uint(ldi(p.ids + 4 * m)) == e)
            cols[atomicAdd(ncols, 1u)] = m;
        barrier();
        uint nc = ncols;
        for (uint c0 = 0; c0 < nc; c0 += BN)
            tile(wb, bn * BM, c0, nc, 0, 0);
        barrier();
    }
#else
    uint tm = (p.M + BN - 1) / BN;
    uint bm = rest % tm;
    rest /= tm;
    uint i2 = rest % p.ne2, i3 = rest / p.ne2;
    if (i3 >= p.ne3)
        return;
    tile(w_base(0, i2, i3), bn * BM, bm * BN, 0, i2, i3);
#endif
}
