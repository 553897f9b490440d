// CUDA index kernels: indexSelect / gather (one thread per output element), indexAdd /
// scatterAdd (one thread per source element, atomics into the output). Indices outside [0, size)
// are skipped here: lib/tensor checks them before launch (ERR_INDEX_OUT_OF_RANGE).
#include "cuda_common.cuh"

namespace nn {
namespace k {
namespace {

template <class T>
__global__ void IndexSelectK(int64_t outer, int64_t srcSize, int64_t inner, T* out, const T* src, const int64_t* index,
                             int64_t idxLen) {
  const int64_t n = outer * idxLen * inner;
  for (int64_t t = GlobalId(); t < n; t += GlobalStride()) {
    const int64_t j = t % inner, oi = t / inner, i = oi % idxLen, o = oi / idxLen;
    const int64_t ix = index[i];
    if (ix < 0 || ix >= srcSize) continue;
    out[t] = src[(o * srcSize + ix) * inner + j];
  }
}

template <class T>
__global__ void IndexAddK(int64_t outer, int64_t outSize, int64_t inner, T* out, const T* src, const int64_t* index,
                          int64_t idxLen) {
  const int64_t n = outer * idxLen * inner;
  for (int64_t t = GlobalId(); t < n; t += GlobalStride()) {
    const int64_t j = t % inner, oi = t / inner, i = oi % idxLen, o = oi / idxLen;
    const int64_t ix = index[i];
    if (ix < 0 || ix >= outSize) continue;
    AtomicAddT<T, Compute<T>>(out + (o * outSize + ix) * inner + j, Load<Compute<T>>(src[t]));
  }
}

// Offset in the other tensor (without the dim term) and the stride of dim there, for index position t.
__device__ void GatherOffset(const GatherArgs& g, int64_t t, int64_t* base, int64_t* dimStride) {
  int64_t b = 0, stride = 1;
  for (int d = g.ndim - 1; d >= 0; d--) {
    const int64_t q = t / g.shape[d], r = t - q * g.shape[d];
    t = q;
    if (d == g.dim) *dimStride = stride;
    else b += r * stride;
    stride *= g.other[d];
  }
  *base = b;
}

template <class T>
__global__ void GatherK(GatherArgs g, int64_t n, T* out, const T* src, const int64_t* index) {
  const int64_t size = g.other[g.dim];
  for (int64_t t = GlobalId(); t < n; t += GlobalStride()) {
    int64_t base, st;
    GatherOffset(g, t, &base, &st);
    const int64_t ix = index[t];
    if (ix < 0 || ix >= size) continue;
    out[t] = src[base + ix * st];
  }
}

template <class T>
__global__ void ScatterAddK(GatherArgs g, int64_t n, T* out, const T* src, const int64_t* index) {
  const int64_t size = g.other[g.dim];
  for (int64_t t = GlobalId(); t < n; t += GlobalStride()) {
    int64_t base, st;
    GatherOffset(g, t, &base, &st);
    const int64_t ix = index[t];
    if (ix < 0 || ix >= size) continue;
    AtomicAddT<T, Compute<T>>(out + base + ix * st, Load<Compute<T>>(src[t]));
  }
}

int64_t Numel(const GatherArgs& g) {
  int64_t n = 1;
  for (int d = 0; d < g.ndim; d++) n *= g.shape[d];
  return n;
}

}  // namespace

void CudaIndexSelect(DType dt, int64_t outer, int64_t srcSize, int64_t inner, void* out, const void* src,
                     const int64_t* index, int64_t idxLen, Stream s) {
  NN_DISPATCH_DEV(dt, {
    IndexSelectK<T><<<GridFor(outer * idxLen * inner), kThreads, 0, s>>>(outer, srcSize, inner, static_cast<T*>(out),
                                                                         static_cast<const T*>(src), index, idxLen);
    NN_CUDA_CHECK_LAUNCH("IndexSelectK");
  });
}

void CudaIndexAdd(DType dt, int64_t outer, int64_t outSize, int64_t inner, void* out, const void* src,
                  const int64_t* index, int64_t idxLen, Stream s) {
  NN_DISPATCH_DEV(dt, {
    IndexAddK<T><<<GridFor(outer * idxLen * inner), kThreads, 0, s>>>(outer, outSize, inner, static_cast<T*>(out),
                                                                      static_cast<const T*>(src), index, idxLen);
    NN_CUDA_CHECK_LAUNCH("IndexAddK");
  });
}

void CudaGather(DType dt, const GatherArgs& g, void* out, const void* src, const int64_t* index, Stream s) {
  const int64_t n = Numel(g);
  NN_DISPATCH_DEV(dt, {
    GatherK<T><<<GridFor(n), kThreads, 0, s>>>(g, n, static_cast<T*>(out), static_cast<const T*>(src), index);
    NN_CUDA_CHECK_LAUNCH("GatherK");
  });
}

void CudaScatterAdd(DType dt, const GatherArgs& g, void* out, const void* src, const int64_t* index, Stream s) {
  const int64_t n = Numel(g);
  NN_DISPATCH_DEV(dt, {
    ScatterAddK<T><<<GridFor(n), kThreads, 0, s>>>(g, n, static_cast<T*>(out), static_cast<const T*>(src), index);
    NN_CUDA_CHECK_LAUNCH("ScatterAddK");
  });
}

}  // namespace k
}  // namespace nn
