#include "cpu_reduce.h"

#include <algorithm>
#include <cstring>
#include <type_traits>

namespace nn {
namespace cpucomm {

size_t DTypeSize(DType t) {
  switch (t) {
    case DType::F32: case DType::I32: case DType::U32: return 4;
    case DType::F64: case DType::I64: case DType::U64: return 8;
    case DType::F16: case DType::BF16: return 2;
    case DType::U8: case DType::Bool: case DType::I8: return 1;
  }
  return 1;
}

const char* DTypeName(DType t) {
  static const char* names[] = {"float32", "float64", "float16", "bfloat16", "int32", "int64", "uint8", "bool",
                                "int8",    "uint32",  "uint64"};
  return static_cast<uint32_t>(t) < kNumDTypes ? names[static_cast<uint32_t>(t)] : "unknown";
}

const char* RedOpName(RedOp op) {
  static const char* names[] = {"sum", "prod", "min", "max", "avg"};
  return static_cast<uint32_t>(op) < kNumRedOps ? names[static_cast<uint32_t>(op)] : "unknown";
}

float HalfToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t man = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else {  // subnormal: normalize
      int e = -1;
      do {
        e++;
        man <<= 1;
      } while ((man & 0x400u) == 0);
      bits = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | (man & 0x3ffu) << 13;
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | man << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | man << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t FloatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u) return static_cast<uint16_t>(sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u : 0));
  if (absx >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // overflows to inf after rounding
  if (absx < 0x38800000u) {  // subnormal or zero in half
    if (absx < 0x33000000u) return static_cast<uint16_t>(sign);  // below half of the smallest subnormal
    uint32_t e = absx >> 23;
    uint32_t man = (absx & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - e;  // 14 + (113 - e) ... bits to drop so the result is in units of 2^-24
    uint32_t r = man >> shift;
    uint32_t rem = man & ((1u << shift) - 1);
    uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (r & 1))) r++;
    return static_cast<uint16_t>(sign | r);
  }
  uint32_t r = absx - 0x38000000u;  // rebias exponent 127 -> 15
  uint32_t lsb = (r >> 13) & 1;
  r += 0xfffu + lsb;
  return static_cast<uint16_t>(sign | (r >> 13));
}

float BF16ToFloat(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t FloatToBF16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40);  // quiet NaN
  uint32_t lsb = (x >> 16) & 1;
  x += 0x7fffu + lsb;
  return static_cast<uint16_t>(x >> 16);
}

namespace {

constexpr size_t kTile = 1024;  // elements per tile: the accumulator stays in L1

template <typename T, bool = std::is_integral_v<T>>
struct Wide {
  using type = T;
};
template <typename T>
struct Wide<T, true> {
  using type = std::make_unsigned_t<T>;
};

template <typename T>
struct Ops {
  // Wrapping arithmetic for integers (no signed-overflow UB), plain arithmetic for floats.
  using U = typename Wide<T>::type;
  static T Add(T a, T b) { return static_cast<T>(static_cast<U>(a) + static_cast<U>(b)); }
  static T Mul(T a, T b) { return static_cast<T>(static_cast<U>(a) * static_cast<U>(b)); }
  static T Min(T a, T b) { return b < a ? b : a; }
  static T Max(T a, T b) { return a < b ? b : a; }
};

template <typename T, typename F>
void Combine(T* acc, const T* x, size_t n, F f) {
  for (size_t i = 0; i < n; i++) acc[i] = f(acc[i], x[i]);
}

// Native-typed reduction: acc starts as in[0], combines in[1..n-1] in order.
template <typename T>
void ReduceNative(RedOp op, T* out, const void* const* in, int n, size_t count, int divisor) {
  T acc[kTile];
  for (size_t base = 0; base < count; base += kTile) {
    size_t m = std::min(kTile, count - base);
    std::memcpy(acc, static_cast<const T*>(in[0]) + base, m * sizeof(T));
    for (int k = 1; k < n; k++) {
      const T* x = static_cast<const T*>(in[k]) + base;
      switch (op) {
        case RedOp::Sum: case RedOp::Avg: Combine(acc, x, m, Ops<T>::Add); break;
        case RedOp::Prod: Combine(acc, x, m, Ops<T>::Mul); break;
        case RedOp::Min: Combine(acc, x, m, Ops<T>::Min); break;
        case RedOp::Max: Combine(acc, x, m, Ops<T>::Max); break;
      }
    }
    if (op == RedOp::Avg) {
      if constexpr (std::is_floating_point_v<T>) {
        for (size_t i = 0; i < m; i++) acc[i] = acc[i] / static_cast<T>(divisor);
      } else {
        for (size_t i = 0; i < m; i++) acc[i] = static_cast<T>(acc[i] / static_cast<T>(divisor));
      }
    }
    std::memcpy(out + base, acc, m * sizeof(T));
  }
}

// Half types: accumulate in float32, round once.
template <float (*Load)(uint16_t), uint16_t (*Store)(float)>
void ReduceHalf(RedOp op, uint16_t* out, const void* const* in, int n, size_t count, int divisor) {
  float acc[kTile];
  for (size_t base = 0; base < count; base += kTile) {
    size_t m = std::min(kTile, count - base);
    const uint16_t* x0 = static_cast<const uint16_t*>(in[0]) + base;
    for (size_t i = 0; i < m; i++) acc[i] = Load(x0[i]);
    for (int k = 1; k < n; k++) {
      const uint16_t* x = static_cast<const uint16_t*>(in[k]) + base;
      switch (op) {
        case RedOp::Sum: case RedOp::Avg: for (size_t i = 0; i < m; i++) acc[i] += Load(x[i]); break;
        case RedOp::Prod: for (size_t i = 0; i < m; i++) acc[i] *= Load(x[i]); break;
        case RedOp::Min: for (size_t i = 0; i < m; i++) acc[i] = Ops<float>::Min(acc[i], Load(x[i])); break;
        case RedOp::Max: for (size_t i = 0; i < m; i++) acc[i] = Ops<float>::Max(acc[i], Load(x[i])); break;
      }
    }
    if (op == RedOp::Avg)
      for (size_t i = 0; i < m; i++) acc[i] /= static_cast<float>(divisor);
    for (size_t i = 0; i < m; i++) out[base + i] = Store(acc[i]);
  }
}

void ReduceBool(RedOp op, uint8_t* out, const void* const* in, int n, size_t count) {
  bool isOr = op == RedOp::Sum || op == RedOp::Max;
  uint8_t acc[kTile];
  for (size_t base = 0; base < count; base += kTile) {
    size_t m = std::min(kTile, count - base);
    const uint8_t* x0 = static_cast<const uint8_t*>(in[0]) + base;
    for (size_t i = 0; i < m; i++) acc[i] = x0[i] != 0;
    for (int k = 1; k < n; k++) {
      const uint8_t* x = static_cast<const uint8_t*>(in[k]) + base;
      if (isOr) {
        for (size_t i = 0; i < m; i++) acc[i] |= x[i] != 0;
      } else {
        for (size_t i = 0; i < m; i++) acc[i] &= x[i] != 0;
      }
    }
    std::memcpy(out + base, acc, m);
  }
}

}  // namespace

void ReduceN(DType t, RedOp op, void* out, const void* const* in, int n, size_t count, int divisor) {
  if (count == 0) return;
  switch (t) {
    case DType::F32: return ReduceNative<float>(op, static_cast<float*>(out), in, n, count, divisor);
    case DType::F64: return ReduceNative<double>(op, static_cast<double*>(out), in, n, count, divisor);
    case DType::I32: return ReduceNative<int32_t>(op, static_cast<int32_t*>(out), in, n, count, divisor);
    case DType::I64: return ReduceNative<int64_t>(op, static_cast<int64_t*>(out), in, n, count, divisor);
    case DType::U8: return ReduceNative<uint8_t>(op, static_cast<uint8_t*>(out), in, n, count, divisor);
    case DType::I8: return ReduceNative<int8_t>(op, static_cast<int8_t*>(out), in, n, count, divisor);
    case DType::U32: return ReduceNative<uint32_t>(op, static_cast<uint32_t*>(out), in, n, count, divisor);
    case DType::U64: return ReduceNative<uint64_t>(op, static_cast<uint64_t*>(out), in, n, count, divisor);
    case DType::F16: return ReduceHalf<HalfToFloat, FloatToHalf>(op, static_cast<uint16_t*>(out), in, n, count, divisor);
    case DType::BF16: return ReduceHalf<BF16ToFloat, FloatToBF16>(op, static_cast<uint16_t*>(out), in, n, count, divisor);
    case DType::Bool: return ReduceBool(op, static_cast<uint8_t*>(out), in, n, count);
  }
}

}  // namespace cpucomm
}  // namespace nn
