#version 450
/* mul_mm.comp: matrix-matrix product (prefill): 32x32 output tiles, K in steps of 16 (one
 * dequant16 group), both operands staged in shared memory; 256 threads, 2x2 outputs each. */
#include "common.glsl"
#include "quant.glsl"

#define BM 32
#define BN 32
#define BK 16
layout(local_size_x = 256) in;

#include "mul_mat.glsl"

shared float ws[BM][BK + 1];
shared float xs[BN][BK + 1];

void main()
{
    uint tn = (p.N + BM - 1) / BM, tm = (p.M + BN - 1) / BN;
    uint wg = wg_index();
    uint bn = wg % tn;
    uint rest = wg / tn;
    uint bm = rest % tm;
    rest /= tm;
    uint i2 = rest % p.ne2, i3 = rest / p.ne2;
    if (i3 >= p.ne3)
        return;
    uint tid = gl_LocalInvocationID.x;
    uint tx = tid % 16, ty = tid / 16;
    uint row0 = bn * BM, col0 = bm * BN;

    addr_t wb = w_base(0, i2, i3);
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
        for (uint e = tid; e < BN * BK; e += 256) {
            uint c = e / BK, k = e % BK;
            uint col = col0 + c, kk = 16 * g + k;
            xs[c][k] = (col < p.M && kk < p.K) ? ldf(x_col(col, i2, i3) + 4 * kk) : 0.0;
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
            uint c = col0 + 2 * tx + j;
            if (r < p.N && c < p.M)
                FBuf(d_col(c, i2, i3)).v[r] = acc[i][j];
        }
    }
}
