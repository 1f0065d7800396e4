/* mul_mat.glsl: push block and addressing shared by mul_mv.comp and mul_mm.comp.
 * out[N, M, ne2, ne3] = W[K, N, i2 / r2, i3 / r3]^T x[K, M, i2, i3]   (MUL_MAT)
 * out[N, M]           = W[K, N, ids[m]]^T x[K, m]                     (MUL_MAT_ID)
 * Strides in bytes. Mirror: herd_vk_push_mat in engine/vulkan/vk-push.h. */
layout(push_constant) uniform Push {
    addr_t w, x, d, ids;
    uint K, N, M;
    uint w_nb1, w_nb2, w_nb3;
    uint x_nb1, x_nb2, x_nb3;
    uint d_nb1, d_nb2, d_nb3;
    uint ne2, ne3, r2, r3;
} p;

addr_t w_base(uint m, uint i2, uint i3)
{
#ifdef MUL_MAT_ID
    return p.w + uint64_t(ldi(p.ids + 4 * m)) * p.w_nb2;
#else
    return p.w + uint64_t(i2 / p.r2) * p.w_nb2 + uint64_t(i3 / p.r3) * p.w_nb3;
#endif
}

addr_t x_col(uint m, uint i2, uint i3)
{
    return p.x + uint64_t(m) * p.x_nb1 + uint64_t(i2) * p.x_nb2 + uint64_t(i3) * p.x_nb3;
}

addr_t d_col(uint m, uint i2, uint i3)
{
    return p.d + uint64_t(m) * p.d_nb1 + uint64_t(i2) * p.d_nb2 + uint64_t(i3) * p.d_nb3;
}
