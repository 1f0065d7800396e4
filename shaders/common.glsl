/* common.glsl: included first by every compute shader.
 *
 * Buffers are reached through buffer device addresses (GL_EXT_buffer_reference): each node's push
 * block carries 64-bit addresses of its tensors, so there are no descriptor sets and no binding
 * range limits (lavapipe caps a storage-buffer binding at 128 MiB; one Scout tensor is larger).
 *
 * Byte and 16-bit loads: with -DHAVE_8BIT (device has storageBuffer8BitAccess and
 * storageBuffer16BitAccess) through uint8_t / uint16_t references, else extracted from the
 * enclosing aligned 32-bit word. Callers give absolute addresses; 16-bit loads need even ones.
 */
#extension GL_EXT_buffer_reference : require
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require
#ifdef HAVE_8BIT
#extension GL_EXT_shader_8bit_storage : require
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_int8 : require
#extension GL_EXT_shader_explicit_arithmetic_types_int16 : require
#endif

#define addr_t uint64_t

layout(buffer_reference, std430, buffer_reference_align = 4) buffer FBuf { float v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) buffer IBuf { int v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) buffer UBuf { uint v[]; };
layout(buffer_reference, std430, buffer_reference_align = 16) readonly buffer U4Buf { uvec4 v; };
layout(buffer_reference, std430, buffer_reference_align = 16) readonly buffer F4Buf { vec4 v; };

#ifdef HAVE_8BIT
layout(buffer_reference, std430, buffer_reference_align = 1) readonly buffer B8 { uint8_t v[]; };
layout(buffer_reference, std430, buffer_reference_align = 2) readonly buffer B16 { uint16_t v[]; };
uint ld8(addr_t a) { return uint(B8(a).v[0]); }
uint ld16(addr_t a) { return uint(B16(a).v[0]); }
#else
uint ld8(addr_t a)
{
    return (UBuf(a & ~uint64_t(3)).v[0] >> (uint(a & 3) * 8u)) & 0xffu;
}
uint ld16(addr_t a)
{
    return (UBuf(a & ~uint64_t(3)).v[0] >> (uint(a & 2) * 8u)) & 0xffffu;
}
#endif

float ldf(addr_t a) { return FBuf(a).v[0]; }
uint ld32(addr_t a) { return UBuf(a).v[0]; }        /* a % 4 == 0 */
uvec4 ld128(addr_t a) { return U4Buf(a).v; }        /* a % 16 == 0 */
/* 16 bytes at an even address as 4 little-endian words */
uvec4 ld128_a2(addr_t a)
{
    uvec4 r;
    for (uint i = 0; i < 4; i++)
        r[i] = ld16(a + 4 * i) | (ld16(a + 4 * i + 2) << 16);
    return r;
}
uint byte_of(uvec4 v, uint j) { return (v[j >> 2] >> (8 * (j & 3))) & 0xffu; }
int ldi(addr_t a) { return IBuf(a).v[0]; }
float ld_f16(addr_t a) { return unpackHalf2x16(ld16(a)).x; }
float ld_bf16(addr_t a) { return uintBitsToFloat(ld16(a) << 16); }
int ld_i8(addr_t a) { return int(ld8(a) << 24) >> 24; }

/* IEEE binary16 bits of f, rounded to nearest even like the CPU's herd_f32_to_f16 (the GLSL
 * packHalf2x16 leaves the rounding to the implementation). */
uint f32_to_f16_bits(float f)
{
    uint u = floatBitsToUint(f);
    uint s = (u >> 16) & 0x8000u;
    uint a = u & 0x7fffffffu;
    if (a > 0x7f800000u)
        return s | 0x7e00u;
    if (a >= 0x477ff000u)
        return s | 0x7c00u;
    if (a >= 0x38800000u) {
        a += 0xfffu + ((a >> 13) & 1u);
        return s | ((a - 0x38000000u) >> 13);
    }
    return s | uint(roundEven(uintBitsToFloat(a) * 16777216.0));
}

/* bfloat16 bits of f, rounded to nearest even (NaN stays NaN) */
uint f32_to_bf16_bits(float f)
{
    uint u = floatBitsToUint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (u >> 16) | 0x40u;
    return (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
}

uint pack_f16x2(float lo, float hi)
{
    return f32_to_f16_bits(lo) | (f32_to_f16_bits(hi) << 16);
}

/* Flattened workgroup index: the host splits large counts over x (<= 65535) and y. */
uint wg_index()
{
    return gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
}

/* erf, Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7 absolute) evaluated in fp32; the GELU
 * built on it matches the exact erf form to ~1e-6 relative for moderate inputs. */
float herd_erf(float x)
{
    float s = sign(x);
    float a = abs(x);
    float t = 1.0 / (1.0 + 0.3275911 * a);
    float y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t
                     + 0.254829592) * t * exp(-a * a);
    return s * y;
}
