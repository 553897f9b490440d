// Host index kernels: indexSelect / indexAdd over [outer, size, inner] and gather / scatterAdd
// along one dim of contiguous tensors. Every index is checked first (ERR_INDEX_OUT_OF_RANGE), so
// a bad index never writes anything.
#include <string>

#include "../errors.h"
#include "kernels.h"

namespace nn {
namespace k {
namespace {

void CheckIndices(const char* fn, const int64_t* index, int64_t n, int64_t size) {
  for (int64_t i = 0; i < n; i++)
    if (index[i] < 0 || index[i] >= size)
      throw NativeError(code::kIndexOutOfRange, std::string(fn) + ": index " + std::to_string(index[i]) + " at position " +
                                                    std::to_string(i) + " is out of range for a dimension of size " +
                                                    std::to_string(size));
}

template <class T>
void IndexSelectT(int64_t outer, int64_t srcSize, int64_t inner, T* out, const T* src, const int64_t* index,
                  int64_t idxLen) {
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < idxLen; i++) {
      const T* s = src + (o * srcSize + index[i]) * inner;
      T* d = out + (o * idxLen + i) * inner;
      for (int64_t j = 0; j < inner; j++) d[j] = s[j];
    }
}

template <class T>
void IndexAddT(int64_t outer, int64_t outSize, int64_t inner, T* out, const T* src, const int64_t* index,
               int64_t idxLen) {
  using C = Compute<T>;
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < idxLen; i++) {
      const T* s = src + (o * idxLen + i) * inner;
      T* d = out + (o * outSize + index[i]) * inner;
      for (int64_t j = 0; j < inner; j++) d[j] = Store<T>(Load<C>(d[j]) + Load<C>(s[j]));
    }
}

// Calls f(position in the index tensor, offset in the other tensor without the dim term, stride of dim there).
template <class F>
void ForEachGather(const GatherArgs& g, F&& f) {
  int64_t otherStride[kMaxDims];
  int64_t s = 1;
  for (int d = g.ndim - 1; d >= 0; d--) {
    otherStride[d] = s;
    s *= g.other[d];
  }
  int64_t idx[kMaxDims] = {};
  int64_t n = 1;
  for (int d = 0; d < g.ndim; d++) n *= g.shape[d];
  int64_t base = 0;
  for (int64_t i = 0; i < n; i++) {
    f(i, base, otherStride[g.dim]);
    for (int d = g.ndim - 1; d >= 0; d--) {
      if (d != g.dim) base += otherStride[d];
      if (++idx[d] < g.shape[d]) break;
      if (d != g.dim) base -= otherStride[d] * g.shape[d];
      idx[d] = 0;
    }
  }
}

}  // namespace

void HostIndexSelect(DType dt, int64_t outer, int64_t srcSize, int64_t inner, void* out, const void* src,
                     const int64_t* index, int64_t idxLen) {
  CheckIndices("kernels.indexSelect", index, idxLen, srcSize);
  NN_DISPATCH_HOST(dt, IndexSelectT<T>(outer, srcSize, inner, static_cast<T*>(out), static_cast<const T*>(src), index,
                                       idxLen));
}

void HostIndexAdd(DType dt, int64_t outer, int64_t outSize, int64_t inner, void* out, const void* src,
                  const int64_t* index, int64_t idxLen) {
  CheckIndices("kernels.indexAdd", index, idxLen, outSize);
  NN_DISPATCH_HOST(dt, IndexAddT<T>(outer, outSize, inner, static_cast<T*>(out), static_cast<const T*>(src), index,
                                    idxLen));
}

void HostGather(DType dt, const GatherArgs& g, void* out, const void* src, const int64_t* index) {
  int64_t n = 1;
  for (int d = 0; d < g.ndim; d++) n *= g.shape[d];
  CheckIndices("kernels.gather", index, n, g.other[g.dim]);
  NN_DISPATCH_HOST(dt, {
    T* o = static_cast<T*>(out);
    const T* s = static_cast<const T*>(src);
    ForEachGather(g, [&](int64_t i, int64_t base, int64_t st) { o[i] = s[base + index[i] * st]; });
  });
}

void HostScatterAdd(DType dt, const GatherArgs& g, void* out, const void* src, const int64_t* index) {
  int64_t n = 1;
  for (int d = 0; d < g.ndim; d++) n *= g.shape[d];
  CheckIndices("kernels.scatterAdd", index, n, g.other[g.dim]);
  NN_DISPATCH_HOST(dt, {
    using C = Compute<T>;
    T* o = static_cast<T*>(out);
    const T* s = static_cast<const T*>(src);
    ForEachGather(g, [&](int64_t i, int64_t base, int64_t st) {
      T& d = o[base + index[i] * st];
      d = Store<T>(Load<C>(d) + Load<C>(s[i]));
    });
  });
}

}  // namespace k
}  // namespace nn
