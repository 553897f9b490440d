// Dtypes of the kernel ABI (typings/native.ts DTypeCode) and their storage and compute types,
// shared by the host twins (*.cc) and the CUDA kernels (*.cu).
//
// Storage: float16 and bfloat16 are 16-bit storage types (Half / BFloat16 on the host, __half /
// __nv_bfloat16 on the device); bool is one byte (Bool8) so it is distinct from uint8 in templates.
// Compute: float for float32/float16/bfloat16, double for float64, int64 for the integer types and
// bool (Compute<T>). Load/Store convert between the two; Store to bool writes (v != 0).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#define NN_HD __host__ __device__ __forceinline__
#else
#define NN_HD inline
#endif

namespace nn {
namespace k {

enum class DType : int { F32 = 0, F64 = 1, F16 = 2, BF16 = 3, I32 = 4, I64 = 5, U8 = 6, Bool = 7 };
constexpr int kNumDTypes = 8;
constexpr int kMaxDims = 16;

inline size_t DTypeSize(DType d) {
  switch (d) {
    case DType::F32: case DType::I32: return 4;
    case DType::F64: case DType::I64: return 8;
    case DType::F16: case DType::BF16: return 2;
    default: return 1;
  }
}
inline const char* DTypeName(DType d) {
  static const char* names[] = {"float32", "float64", "float16", "bfloat16", "int32", "int64", "uint8", "bool"};
  return names[static_cast<int>(d)];
}
inline bool IsFloat(DType d) { return static_cast<int>(d) <= 3; }

// ---- host 16-bit storage types and conversions (round to nearest even, NaN/Inf kept) ----------
struct Half { uint16_t bits; };
struct BFloat16 { uint16_t bits; };
struct Bool8 { uint8_t v; };

NN_HD float BitsToFloat(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
NN_HD uint32_t FloatToBits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

NN_HD float HalfBitsToFloat(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  if (exp == 0x1f) return BitsToFloat(sign | 0x7f800000u | (man << 13));  // Inf / NaN
  if (exp == 0) {
    if (man == 0) return BitsToFloat(sign);
    // subnormal: value = man * 2^-24
    float v = (float)man * 5.9604644775390625e-8f;
    return sign ? -v : v;
  }
  return BitsToFloat(sign | ((exp + 112) << 23) | (man << 13));
}

NN_HD uint16_t FloatToHalfBits(float f) {
  uint32_t x = FloatToBits(f);
  uint32_t sign = (x >> 16) & 0x8000;
  uint32_t ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u) return (uint16_t)(sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 | ((ax >> 13) & 0x3ff) : 0));
  if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00);  // rounds to >= 65520: overflow to Inf
  if (ax < 0x38800000u) {                                    // below the smallest normal half (2^-14)
    // subnormal or zero: round (ax as float) / 2^-24 to nearest even integer
    float a = BitsToFloat(ax) * 16777216.0f;  // exact scaling by 2^24
    uint32_t m = (uint32_t)a;
    float rem = a - (float)m;
    if (rem > 0.5f || (rem == 0.5f && (m & 1))) m++;
    return (uint16_t)(sign | m);
  }
  uint32_t e = ((ax >> 23) - 112) << 10;
  uint32_t man = ax & 0x7fffff;
  uint32_t h = e | (man >> 13);
  uint32_t rest = man & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h++;
  return (uint16_t)(sign | h);
}

NN_HD float Bf16BitsToFloat(uint16_t b) { return BitsToFloat((uint32_t)b << 16); }
NN_HD uint16_t FloatToBf16Bits(float f) {
  uint32_t x = FloatToBits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40);  // quiet NaN
  x += 0x7fffu + ((x >> 16) & 1);
  return (uint16_t)(x >> 16);
}

// ---- compute types and conversions ------------------------------------------------------------
template <class T> struct ComputeOf { using type = int64_t; };
template <> struct ComputeOf<float> { using type = float; };
template <> struct ComputeOf<double> { using type = double; };
template <> struct ComputeOf<Half> { using type = float; };
template <> struct ComputeOf<BFloat16> { using type = float; };
#if defined(__CUDACC__)
template <> struct ComputeOf<__half> { using type = float; };
template <> struct ComputeOf<__nv_bfloat16> { using type = float; };
#endif
template <class T> using Compute = typename ComputeOf<T>::type;

template <class T> struct Conv {
  template <class C> NN_HD static C Load(T v) { return static_cast<C>(v); }
  template <class C> NN_HD static T Store(C v) { return static_cast<T>(v); }
};
template <> struct Conv<Half> {
  template <class C> NN_HD static C Load(Half v) { return static_cast<C>(HalfBitsToFloat(v.bits)); }
  template <class C> NN_HD static Half Store(C v) { return Half{FloatToHalfBits(static_cast<float>(v))}; }
};
template <> struct Conv<BFloat16> {
  template <class C> NN_HD static C Load(BFloat16 v) { return static_cast<C>(Bf16BitsToFloat(v.bits)); }
  template <class C> NN_HD static BFloat16 Store(C v) { return BFloat16{FloatToBf16Bits(static_cast<float>(v))}; }
};
template <> struct Conv<Bool8> {
  template <class C> NN_HD static C Load(Bool8 v) { return static_cast<C>(v.v != 0); }
  template <class C> NN_HD static Bool8 Store(C v) { return Bool8{static_cast<uint8_t>(v != C(0))}; }
};
#if defined(__CUDACC__)
template <> struct Conv<__half> {
  template <class C> NN_HD static C Load(__half v) { return static_cast<C>(__half2float(v)); }
  template <class C> NN_HD static __half Store(C v) { return __float2half_rn(static_cast<float>(v)); }
};
template <> struct Conv<__nv_bfloat16> {
  template <class C> NN_HD static C Load(__nv_bfloat16 v) { return static_cast<C>(__bfloat162float(v)); }
  template <class C> NN_HD static __nv_bfloat16 Store(C v) { return __float2bfloat16_rn(static_cast<float>(v)); }
};
#endif

template <class C, class T> NN_HD C Load(T v) { return Conv<T>::template Load<C>(v); }
template <class T, class C> NN_HD T Store(C v) { return Conv<T>::template Store<C>(v); }

}  // namespace k
}  // namespace nn

// Runs the statement with `T` bound to the host storage type of the dtype code `dt`.
#define NN_HOST_DTYPE_CASE(code, type, ...) \
  case ::nn::k::DType::code: { using T = type; __VA_ARGS__; break; }
#define NN_DISPATCH_HOST(dt, ...)                                   \
  switch (dt) {                                                     \
    NN_HOST_DTYPE_CASE(F32, float, __VA_ARGS__)                     \
    NN_HOST_DTYPE_CASE(F64, double, __VA_ARGS__)                    \
    NN_HOST_DTYPE_CASE(F16, ::nn::k::Half, __VA_ARGS__)             \
    NN_HOST_DTYPE_CASE(BF16, ::nn::k::BFloat16, __VA_ARGS__)        \
    NN_HOST_DTYPE_CASE(I32, int32_t, __VA_ARGS__)                   \
    NN_HOST_DTYPE_CASE(I64, int64_t, __VA_ARGS__)                   \
    NN_HOST_DTYPE_CASE(U8, uint8_t, __VA_ARGS__)                    \
    NN_HOST_DTYPE_CASE(Bool, ::nn::k::Bool8, __VA_ARGS__)           \
  }
#define NN_DISPATCH_HOST_FLOAT(dt, ...)                             \
  switch (dt) {                                                     \
    NN_HOST_DTYPE_CASE(F32, float, __VA_ARGS__)                     \
    NN_HOST_DTYPE_CASE(F64, double, __VA_ARGS__)                    \
    NN_HOST_DTYPE_CASE(F16, ::nn::k::Half, __VA_ARGS__)             \
    NN_HOST_DTYPE_CASE(BF16, ::nn::k::BFloat16, __VA_ARGS__)        \
    default: break;                                                 \
  }
