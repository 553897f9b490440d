// CUDA elementwise kernels: unary, binary, where and copy/cast.
//
// Contiguous float32/float16/bfloat16 problems use 128-bit vectorized loads and stores in a
// grid-stride loop: the hottest ops (add, mul, gelu, ...: kHot below) get a kernel each, the
// others share one vectorized kernel per dtype that switches on the op at run time (a uniform
// branch). Everything else (strided or broadcast views, float64 and integer dtypes) uses one
// strided kernel per dtype with the run-time switch. This keeps the fat binary (and CI's build
// time) small.
#include "cuda_common.cuh"

namespace nn {
namespace k {
namespace {

// ---- run-time op switch (strided path) --------------------------------------------------------
// Only the ops whose output type matches the kernel's (bool or not) are compiled into it.
template <class C, bool BoolOut>
__device__ C UnaryRT(int op, C a, C p0, C p1) {
  switch (static_cast<UOp>(op)) {
#define NN_CASE(X) \
  case UOp::X: if constexpr (UOpBoolOut(UOp::X) == BoolOut) return ApplyUnary<UOp::X, C>(a, p0, p1); else return a;
    NN_FOR_EACH_UOP(NN_CASE)
#undef NN_CASE
    default: return a;
  }
}
template <class C, bool BoolOut>
__device__ C BinaryRT(int op, C a, C b) {
  switch (static_cast<BOp>(op)) {
#define NN_CASE(X) \
  case BOp::X: if constexpr (BOpBoolOut(BOp::X) == BoolOut) return ApplyBinary<BOp::X, C>(a, b); else return a;
    NN_FOR_EACH_BOP(NN_CASE)
#undef NN_CASE
    default: return a;
  }
}

template <class T, class TO, class C>
__global__ void UnaryStrided(Iter<2> it, int64_t n, int op, C p0, C p1) {
  for (int64_t i = GlobalId(); i < n; i += GlobalStride()) {
    int64_t off[2];
    Offsets(it, i, off);
    const T a = reinterpret_cast<const T*>(it.ptr[1])[off[1]];
    reinterpret_cast<TO*>(it.ptr[0])[off[0]] = Store<TO>(UnaryRT<C, std::is_same<TO, Bool8>::value>(op, Load<C>(a), p0, p1));
  }
}

template <class T, class TO, class C>
__global__ void BinaryStrided(Iter<3> it, int64_t n, int op) {
  for (int64_t i = GlobalId(); i < n; i += GlobalStride()) {
    int64_t off[3];
    Offsets(it, i, off);
    const C a = Load<C>(reinterpret_cast<const T*>(it.ptr[1])[off[1]]);
    const C b = Load<C>(reinterpret_cast<const T*>(it.ptr[2])[off[2]]);
    reinterpret_cast<TO*>(it.ptr[0])[off[0]] = Store<TO>(BinaryRT<C, std::is_same<TO, Bool8>::value>(op, a, b));
  }
}

// ---- vectorized contiguous path ------------------------------------------------------------------
template <UOp OP, class T, class TO>
__global__ void UnaryVec(TO* __restrict__ out, const T* __restrict__ a, int64_t n, float p0, float p1) {
  using C = Compute<T>;
  constexpr int V = 16 / sizeof(T);
  const int64_t nv = n / V;
  const int64_t id = GlobalId(), stride = GlobalStride();
  for (int64_t i = id; i < nv; i += stride) {
    const Vec<T, V> x = reinterpret_cast<const Vec<T, V>*>(a)[i];
    Vec<TO, V> y;
#pragma unroll
    for (int j = 0; j < V; j++) y.v[j] = Store<TO>(ApplyUnary<OP, C>(Load<C>(x.v[j]), C(p0), C(p1)));
    reinterpret_cast<Vec<TO, V>*>(out)[i] = y;
  }
  for (int64_t i = nv * V + id; i < n; i += stride) out[i] = Store<TO>(ApplyUnary<OP, C>(Load<C>(a[i]), C(p0), C(p1)));
}

template <class T, class TO>
__global__ void UnaryVecRT(TO* __restrict__ out, const T* __restrict__ a, int64_t n, int op, float p0, float p1) {
  using C = Compute<T>;
  constexpr bool B = std::is_same<TO, Bool8>::value;
  constexpr int V = 16 / sizeof(T);
  const int64_t nv = n / V;
  const int64_t id = GlobalId(), stride = GlobalStride();
  for (int64_t i = id; i < nv; i += stride) {
    const Vec<T, V> x = reinterpret_cast<const Vec<T, V>*>(a)[i];
    Vec<TO, V> y;
#pragma unroll 1  // one copy of the op switch, not V
    for (int j = 0; j < V; j++) y.v[j] = Store<TO>(UnaryRT<C, B>(op, Load<C>(x.v[j]), C(p0), C(p1)));
    reinterpret_cast<Vec<TO, V>*>(out)[i] = y;
  }
  for (int64_t i = nv * V + id; i < n; i += stride) out[i] = Store<TO>(UnaryRT<C, B>(op, Load<C>(a[i]), C(p0), C(p1)));
}

template <class T, class TO>
__global__ void BinaryVecRT(TO* __restrict__ out, const T* __restrict__ a, const T* __restrict__ b, int64_t n, int op,
                            bool aVec, bool bVec) {
  using C = Compute<T>;
  constexpr bool B = std::is_same<TO, Bool8>::value;
  constexpr int V = 16 / sizeof(T);
  const int64_t nv = n / V;
  const int64_t id = GlobalId(), stride = GlobalStride();
  const C a0 = Load<C>(a[0]), b0 = Load<C>(b[0]);
  for (int64_t i = id; i < nv; i += stride) {
    Vec<T, V> x, y;
    if (aVec) x = reinterpret_cast<const Vec<T, V>*>(a)[i];
    if (bVec) y = reinterpret_cast<const Vec<T, V>*>(b)[i];
    Vec<TO, V> r;
#pragma unroll 1  // one copy of the op switch, not V
    for (int j = 0; j < V; j++)
      r.v[j] = Store<TO>(BinaryRT<C, B>(op, aVec ? Load<C>(x.v[j]) : a0, bVec ? Load<C>(y.v[j]) : b0));
    reinterpret_cast<Vec<TO, V>*>(out)[i] = r;
  }
  for (int64_t i = nv * V + id; i < n; i += stride)
    out[i] = Store<TO>(BinaryRT<C, B>(op, aVec ? Load<C>(a[i]) : a0, bVec ? Load<C>(b[i]) : b0));
}

// aMode/bMode: 1 = contiguous, 0 = one broadcast element.
template <BOp OP, class T, class TO>
__global__ void BinaryVec(TO* __restrict__ out, const T* __restrict__ a, const T* __restrict__ b, int64_t n, bool aVec,
                          bool bVec) {
  using C = Compute<T>;
  constexpr int V = 16 / sizeof(T);
  const int64_t nv = n / V;
  const int64_t id = GlobalId(), stride = GlobalStride();
  const C a0 = Load<C>(a[0]), b0 = Load<C>(b[0]);
  for (int64_t i = id; i < nv; i += stride) {
    Vec<T, V> x, y;
    if (aVec) x = reinterpret_cast<const Vec<T, V>*>(a)[i];
    if (bVec) y = reinterpret_cast<const Vec<T, V>*>(b)[i];
    Vec<TO, V> r;
#pragma unroll
    for (int j = 0; j < V; j++)
      r.v[j] = Store<TO>(ApplyBinary<OP, C>(aVec ? Load<C>(x.v[j]) : a0, bVec ? Load<C>(y.v[j]) : b0));
    reinterpret_cast<Vec<TO, V>*>(out)[i] = r;
  }
  for (int64_t i = nv * V + id; i < n; i += stride)
    out[i] = Store<TO>(ApplyBinary<OP, C>(aVec ? Load<C>(a[i]) : a0, bVec ? Load<C>(b[i]) : b0));
}

bool Aligned(const void* p, size_t bytes) { return (reinterpret_cast<uintptr_t>(p) % bytes) == 0; }

// The problem is one contiguous run for operand o (stride 1), or a broadcast scalar (stride 0).
template <int N>
bool Flat(const Iter<N>& it) { return it.ndim <= 1; }
template <int N>
int64_t InnerStride(const Iter<N>& it, int o) { return it.ndim == 0 ? 1 : it.st[o][0]; }

// OP == UOp::Count: the run-time switch kernel for `op`.
template <UOp OP, class T>
bool TryUnaryVec(UOp op, const Iter<2>& it, int64_t n, double p0, double p1, Stream s) {
  constexpr int V = 16 / sizeof(T);
  if (!Flat(it) || InnerStride(it, 0) != 1 || InnerStride(it, 1) != 1) return false;
  const bool boolOut = UOpBoolOut(op);
  if (!Aligned(it.ptr[1], 16) || !Aligned(it.ptr[0], (boolOut ? 1 : sizeof(T)) * V)) return false;
  const unsigned grid = GridFor(n, kThreads, V);
  const T* a = reinterpret_cast<const T*>(it.ptr[1]);
  if constexpr (OP != UOp::Count) {
    using TO = std::conditional_t<UOpBoolOut(OP), Bool8, T>;
    UnaryVec<OP, T, TO><<<grid, kThreads, 0, s>>>(reinterpret_cast<TO*>(it.ptr[0]), a, n, static_cast<float>(p0),
                                                  static_cast<float>(p1));
  } else if (boolOut) {
    UnaryVecRT<T, Bool8><<<grid, kThreads, 0, s>>>(reinterpret_cast<Bool8*>(it.ptr[0]), a, n, static_cast<int>(op),
                                                   static_cast<float>(p0), static_cast<float>(p1));
  } else {
    UnaryVecRT<T, T><<<grid, kThreads, 0, s>>>(reinterpret_cast<T*>(it.ptr[0]), a, n, static_cast<int>(op),
                                               static_cast<float>(p0), static_cast<float>(p1));
  }
  NN_CUDA_CHECK_LAUNCH("UnaryVec");
  return true;
}

template <BOp OP, class T>
bool TryBinaryVec(BOp op, const Iter<3>& it, int64_t n, Stream s) {
  constexpr int V = 16 / sizeof(T);
  if (!Flat(it) || InnerStride(it, 0) != 1) return false;
  const int64_t sa = InnerStride(it, 1), sb = InnerStride(it, 2);
  if ((sa != 0 && sa != 1) || (sb != 0 && sb != 1)) return false;
  const bool boolOut = BOpBoolOut(op);
  if (!Aligned(it.ptr[0], (boolOut ? 1 : sizeof(T)) * V) || (sa && !Aligned(it.ptr[1], 16)) ||
      (sb && !Aligned(it.ptr[2], 16)))
    return false;
  const unsigned grid = GridFor(n, kThreads, V);
  const T* a = reinterpret_cast<const T*>(it.ptr[1]);
  const T* b = reinterpret_cast<const T*>(it.ptr[2]);
  if constexpr (OP != BOp::Count) {
    using TO = std::conditional_t<BOpBoolOut(OP), Bool8, T>;
    BinaryVec<OP, T, TO><<<grid, kThreads, 0, s>>>(reinterpret_cast<TO*>(it.ptr[0]), a, b, n, sa == 1, sb == 1);
  } else if (boolOut) {
    BinaryVecRT<T, Bool8><<<grid, kThreads, 0, s>>>(reinterpret_cast<Bool8*>(it.ptr[0]), a, b, n, static_cast<int>(op),
                                                    sa == 1, sb == 1);
  } else {
    BinaryVecRT<T, T><<<grid, kThreads, 0, s>>>(reinterpret_cast<T*>(it.ptr[0]), a, b, n, static_cast<int>(op), sa == 1,
                                                sb == 1);
  }
  NN_CUDA_CHECK_LAUNCH("BinaryVec");
  return true;
}

// The ops with a kernel of their own on the contiguous path (the rest share the switch kernel).
template <class T>
bool UnaryVecDispatch(UOp op, const Iter<2>& it, int64_t n, double p0, double p1, Stream s) {
  switch (op) {
#define NN_HOT(X) case UOp::X: return TryUnaryVec<UOp::X, T>(op, it, n, p0, p1, s);
    NN_HOT(Neg) NN_HOT(Exp) NN_HOT(Relu) NN_HOT(Gelu) NN_HOT(GeluTanh) NN_HOT(Silu) NN_HOT(Sigmoid) NN_HOT(Tanh)
    NN_HOT(Fill) NN_HOT(AddS) NN_HOT(MulS)
#undef NN_HOT
    default: return TryUnaryVec<UOp::Count, T>(op, it, n, p0, p1, s);
  }
}
template <class T>
bool BinaryVecDispatch(BOp op, const Iter<3>& it, int64_t n, Stream s) {
  switch (op) {
#define NN_HOT(X) case BOp::X: return TryBinaryVec<BOp::X, T>(op, it, n, s);
    NN_HOT(Add) NN_HOT(Sub) NN_HOT(Mul) NN_HOT(Div) NN_HOT(ReluBw) NN_HOT(GeluBw) NN_HOT(GeluTanhBw) NN_HOT(SiluBw)
#undef NN_HOT
    default: return TryBinaryVec<BOp::Count, T>(op, it, n, s);
  }
}

template <class T>
void UnaryStridedLaunch(UOp op, const Iter<2>& it, int64_t n, double p0, double p1, bool scalarF, Stream s) {
  using C = Compute<T>;
  const bool boolOut = UOpBoolOut(op);
  if constexpr (!std::is_floating_point<C>::value) {
    if (scalarF) {  // integer compared with a fractional scalar: compare in double
      UnaryStrided<T, Bool8, double><<<GridFor(n), kThreads, 0, s>>>(it, n, static_cast<int>(op), p0, p1);
      NN_CUDA_CHECK_LAUNCH("UnaryStrided");
      return;
    }
  }
  if (boolOut)
    UnaryStrided<T, Bool8, C><<<GridFor(n), kThreads, 0, s>>>(it, n, static_cast<int>(op), static_cast<C>(p0), static_cast<C>(p1));
  else
    UnaryStrided<T, T, C><<<GridFor(n), kThreads, 0, s>>>(it, n, static_cast<int>(op), static_cast<C>(p0), static_cast<C>(p1));
  NN_CUDA_CHECK_LAUNCH("UnaryStrided");
}

template <class T>
void BinaryStridedLaunch(BOp op, const Iter<3>& it, int64_t n, Stream s) {
  using C = Compute<T>;
  if (BOpBoolOut(op))
    BinaryStrided<T, Bool8, C><<<GridFor(n), kThreads, 0, s>>>(it, n, static_cast<int>(op));
  else
    BinaryStrided<T, T, C><<<GridFor(n), kThreads, 0, s>>>(it, n, static_cast<int>(op));
  NN_CUDA_CHECK_LAUNCH("BinaryStrided");
}

template <class T>
__global__ void WhereK(Iter<4> it, int64_t n) {
  for (int64_t i = GlobalId(); i < n; i += GlobalStride()) {
    int64_t off[4];
    Offsets(it, i, off);
    const bool c = reinterpret_cast<const uint8_t*>(it.ptr[1])[off[1]] != 0;
    reinterpret_cast<T*>(it.ptr[0])[off[0]] =
        c ? reinterpret_cast<const T*>(it.ptr[2])[off[2]] : reinterpret_cast<const T*>(it.ptr[3])[off[3]];
  }
}

template <class TS, class TD>
__global__ void CopyStrided(Iter<2> it, int64_t n) {
  using C = std::conditional_t<std::is_floating_point<Compute<TS>>::value || std::is_floating_point<Compute<TD>>::value,
                               double, int64_t>;
  for (int64_t i = GlobalId(); i < n; i += GlobalStride()) {
    int64_t off[2];
    Offsets(it, i, off);
    reinterpret_cast<TD*>(it.ptr[0])[off[0]] = Store<TD>(Load<C>(reinterpret_cast<const TS*>(it.ptr[1])[off[1]]));
  }
}

template <class TS, class TD>
__global__ void CopyFlat(TD* __restrict__ out, const TS* __restrict__ a, int64_t n) {
  // float32 <-> 16-bit conversions go through float; everything else through double / int64
  using C = std::conditional_t<
      (std::is_same<Compute<TS>, float>::value && std::is_same<Compute<TD>, float>::value), float,
      std::conditional_t<std::is_floating_point<Compute<TS>>::value || std::is_floating_point<Compute<TD>>::value, double,
                         int64_t>>;
  constexpr int V = 4;
  const int64_t nv = n / V, id = GlobalId(), stride = GlobalStride();
  for (int64_t i = id; i < nv; i += stride) {
    const Vec<TS, V> x = reinterpret_cast<const Vec<TS, V>*>(a)[i];
    Vec<TD, V> y;
#pragma unroll
    for (int j = 0; j < V; j++) y.v[j] = Store<TD>(Load<C>(x.v[j]));
    reinterpret_cast<Vec<TD, V>*>(out)[i] = y;
  }
  for (int64_t i = nv * V + id; i < n; i += stride) out[i] = Store<TD>(Load<C>(a[i]));
}

template <class TS, class TD>
void CopyLaunch(const Iter<2>& it, int64_t n, Stream s) {
  const bool flat = Flat(it) && InnerStride(it, 0) == 1 && InnerStride(it, 1) == 1;
  if constexpr (std::is_same<TS, TD>::value) {
    if (flat) {
      CheckCuda(static_cast<int>(cudaMemcpyAsync(it.ptr[0], it.ptr[1], static_cast<size_t>(n) * sizeof(TS),
                                                 cudaMemcpyDeviceToDevice, s)),
                "cudaMemcpyAsync (kernels.copy)");
      return;
    }
  } else if constexpr (std::is_same<Compute<TS>, float>::value && std::is_same<Compute<TD>, float>::value) {
    // the common casts (float32 <-> float16 <-> bfloat16) get a vectorized kernel; other pairs
    // take the strided kernel below (as a flat 1-d problem)
    if (flat && Aligned(it.ptr[0], sizeof(TD) * 4) && Aligned(it.ptr[1], sizeof(TS) * 4)) {
      CopyFlat<TS, TD><<<GridFor(n, kThreads, 4), kThreads, 0, s>>>(reinterpret_cast<TD*>(it.ptr[0]),
                                                                    reinterpret_cast<const TS*>(it.ptr[1]), n);
      NN_CUDA_CHECK_LAUNCH("CopyFlat");
      return;
    }
  }
  CopyStrided<TS, TD><<<GridFor(n), kThreads, 0, s>>>(it, n);
  NN_CUDA_CHECK_LAUNCH("CopyStrided");
}

template <class TS>
void CopyFrom(DType dst, const Iter<2>& it, int64_t n, Stream s) {
  switch (dst) {
    case DType::F32: return CopyLaunch<TS, float>(it, n, s);
    case DType::F64: return CopyLaunch<TS, double>(it, n, s);
    case DType::F16: return CopyLaunch<TS, __half>(it, n, s);
    case DType::BF16: return CopyLaunch<TS, __nv_bfloat16>(it, n, s);
    case DType::I32: return CopyLaunch<TS, int32_t>(it, n, s);
    case DType::I64: return CopyLaunch<TS, int64_t>(it, n, s);
    case DType::U8: return CopyLaunch<TS, uint8_t>(it, n, s);
    case DType::Bool: return CopyLaunch<TS, Bool8>(it, n, s);
  }
}

}  // namespace

void CudaUnary(UOp op, DType dt, Iter<2> it, double p0, double p1, bool scalarF, Stream s) {
  const int64_t n = it.Numel();
  if (n == 0) return;
  switch (dt) {
    case DType::F32: if (UnaryVecDispatch<float>(op, it, n, p0, p1, s)) return; break;
    case DType::F16: if (UnaryVecDispatch<__half>(op, it, n, p0, p1, s)) return; break;
    case DType::BF16: if (UnaryVecDispatch<__nv_bfloat16>(op, it, n, p0, p1, s)) return; break;
    default: break;
  }
  NN_DISPATCH_DEV(dt, UnaryStridedLaunch<T>(op, it, n, p0, p1, scalarF, s));
}

void CudaBinary(BOp op, DType dt, Iter<3> it, Stream s) {
  const int64_t n = it.Numel();
  if (n == 0) return;
  switch (dt) {
    case DType::F32: if (BinaryVecDispatch<float>(op, it, n, s)) return; break;
    case DType::F16: if (BinaryVecDispatch<__half>(op, it, n, s)) return; break;
    case DType::BF16: if (BinaryVecDispatch<__nv_bfloat16>(op, it, n, s)) return; break;
    default: break;
  }
  NN_DISPATCH_DEV(dt, BinaryStridedLaunch<T>(op, it, n, s));
}

void CudaWhere(DType dt, Iter<4> it, Stream s) {
  const int64_t n = it.Numel();
  if (n == 0) return;
  NN_DISPATCH_DEV(dt, {
    WhereK<T><<<GridFor(n), kThreads, 0, s>>>(it, n);
    NN_CUDA_CHECK_LAUNCH("WhereK");
  });
}

void CudaCopy(DType src, DType dst, Iter<2> it, Stream s) {
  const int64_t n = it.Numel();
  if (n == 0) return;
  NN_DISPATCH_DEV(src, CopyFrom<T>(dst, it, n, s));
}

}  // namespace k
}  // namespace nn
