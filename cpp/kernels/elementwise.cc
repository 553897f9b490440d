// Host elementwise kernels: unary, binary, where and copy/cast over strided views. Problems are
// coalesced by the caller (Iter::Coalesce); rows with unit strides take a contiguous loop the
// compiler vectorizes, broadcast operands (stride 0) are hoisted.
#include <type_traits>

#include "loops.h"

namespace nn {
namespace k {
namespace {

template <UOp OP, class T, class TO, class C>
void UnaryLoop(const Iter<2>& it, C p0, C p1) {
  ForEachRow<2>(it, {sizeof(TO), sizeof(T)}, [&](char** p, const int64_t* s, int64_t n) {
    TO* o = reinterpret_cast<TO*>(p[0]);
    const T* a = reinterpret_cast<const T*>(p[1]);
    if (s[0] == 1 && s[1] == 1) {
      for (int64_t i = 0; i < n; i++) o[i] = Store<TO>(ApplyUnary<OP, C>(Load<C>(a[i]), p0, p1));
    } else if (s[1] == 0) {
      const TO v = Store<TO>(ApplyUnary<OP, C>(Load<C>(a[0]), p0, p1));
      for (int64_t i = 0; i < n; i++) o[i * s[0]] = v;
    } else {
      for (int64_t i = 0; i < n; i++) o[i * s[0]] = Store<TO>(ApplyUnary<OP, C>(Load<C>(a[i * s[1]]), p0, p1));
    }
  });
}

template <UOp OP, class T>
void UnaryT(const Iter<2>& it, double p0, double p1, bool scalarF) {
  using TO = std::conditional_t<UOpBoolOut(OP), Bool8, T>;
  using C = Compute<T>;
  if constexpr (!std::is_floating_point<C>::value && OP >= UOp::EqS && OP <= UOp::GeS) {
    // an integer compared with a fractional scalar compares in double
    if (scalarF) return UnaryLoop<OP, T, TO, double>(it, p0, p1);
    return UnaryLoop<OP, T, TO, C>(it, static_cast<C>(p0), static_cast<C>(p1));
  } else {
    return UnaryLoop<OP, T, TO, C>(it, static_cast<C>(p0), static_cast<C>(p1));
  }
}

template <BOp OP, class T>
void BinaryT(const Iter<3>& it) {
  using TO = std::conditional_t<BOpBoolOut(OP), Bool8, T>;
  using C = Compute<T>;
  ForEachRow<3>(it, {sizeof(TO), sizeof(T), sizeof(T)}, [&](char** p, const int64_t* s, int64_t n) {
    TO* o = reinterpret_cast<TO*>(p[0]);
    const T* a = reinterpret_cast<const T*>(p[1]);
    const T* b = reinterpret_cast<const T*>(p[2]);
    if (s[0] == 1 && s[1] == 1 && s[2] == 1) {
      for (int64_t i = 0; i < n; i++) o[i] = Store<TO>(ApplyBinary<OP, C>(Load<C>(a[i]), Load<C>(b[i])));
    } else if (s[0] == 1 && s[1] == 1 && s[2] == 0) {
      const C bv = Load<C>(b[0]);
      for (int64_t i = 0; i < n; i++) o[i] = Store<TO>(ApplyBinary<OP, C>(Load<C>(a[i]), bv));
    } else if (s[0] == 1 && s[1] == 0 && s[2] == 1) {
      const C av = Load<C>(a[0]);
      for (int64_t i = 0; i < n; i++) o[i] = Store<TO>(ApplyBinary<OP, C>(av, Load<C>(b[i])));
    } else {
      for (int64_t i = 0; i < n; i++)
        o[i * s[0]] = Store<TO>(ApplyBinary<OP, C>(Load<C>(a[i * s[1]]), Load<C>(b[i * s[2]])));
    }
  });
}

template <class TS, class TD>
void CopyT(const Iter<2>& it) {
  using C = std::conditional_t<std::is_floating_point<Compute<TS>>::value || std::is_floating_point<Compute<TD>>::value,
                               double, int64_t>;
  ForEachRow<2>(it, {sizeof(TD), sizeof(TS)}, [&](char** p, const int64_t* s, int64_t n) {
    TD* o = reinterpret_cast<TD*>(p[0]);
    const TS* a = reinterpret_cast<const TS*>(p[1]);
    if constexpr (std::is_same<TS, TD>::value) {
      if (s[0] == 1 && s[1] == 1) {
        std::memmove(o, a, static_cast<size_t>(n) * sizeof(TD));
        return;
      }
      for (int64_t i = 0; i < n; i++) o[i * s[0]] = a[i * s[1]];
    } else {
      if (s[0] == 1 && s[1] == 1) {
        for (int64_t i = 0; i < n; i++) o[i] = Store<TD>(Load<C>(a[i]));
      } else {
        for (int64_t i = 0; i < n; i++) o[i * s[0]] = Store<TD>(Load<C>(a[i * s[1]]));
      }
    }
  });
}

template <class TS>
void CopyFrom(DType dst, const Iter<2>& it) {
  switch (dst) {
    case DType::F32: return CopyT<TS, float>(it);
    case DType::F64: return CopyT<TS, double>(it);
    case DType::F16: return CopyT<TS, Half>(it);
    case DType::BF16: return CopyT<TS, BFloat16>(it);
    case DType::I32: return CopyT<TS, int32_t>(it);
    case DType::I64: return CopyT<TS, int64_t>(it);
    case DType::U8: return CopyT<TS, uint8_t>(it);
    case DType::Bool: return CopyT<TS, Bool8>(it);
  }
}

}  // namespace

void HostUnary(UOp op, DType dt, Iter<2> it, double p0, double p1, bool scalarF) {
  switch (op) {
#define NN_CASE(X) \
  case UOp::X: NN_DISPATCH_HOST(dt, UnaryT<UOp::X, T>(it, p0, p1, scalarF)); break;
    NN_FOR_EACH_UOP(NN_CASE)
#undef NN_CASE
    default: break;
  }
}

void HostBinary(BOp op, DType dt, Iter<3> it) {
  switch (op) {
#define NN_CASE(X) \
  case BOp::X: NN_DISPATCH_HOST(dt, BinaryT<BOp::X, T>(it)); break;
    NN_FOR_EACH_BOP(NN_CASE)
#undef NN_CASE
    default: break;
  }
}

void HostWhere(DType dt, Iter<4> it) {
  NN_DISPATCH_HOST(dt, {
    ForEachRow<4>(it, {sizeof(T), 1, sizeof(T), sizeof(T)}, [&](char** p, const int64_t* s, int64_t n) {
      T* o = reinterpret_cast<T*>(p[0]);
      const uint8_t* c = reinterpret_cast<const uint8_t*>(p[1]);
      const T* a = reinterpret_cast<const T*>(p[2]);
      const T* b = reinterpret_cast<const T*>(p[3]);
      for (int64_t i = 0; i < n; i++) o[i * s[0]] = c[i * s[1]] ? a[i * s[2]] : b[i * s[3]];
    });
  });
}

void HostCopy(DType src, DType dst, Iter<2> it) { NN_DISPATCH_HOST(src, CopyFrom<T>(dst, it)); }

}  // namespace k
}  // namespace nn
