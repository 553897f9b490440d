// Host kernels of the sort/scan family (issue 14): sort / topk of the rows of a contiguous
// [rows, n] layout, cumulative sum/product along the middle axis of [outer, size, inner], and the
// stream compaction behind maskedSelect / nonzero.
//
// Ordering is torch's (sort_order.h, shared with the CUDA sort): NaN is greatest, sorts are stable.
// Scans accumulate floats in double and integers in int64 (torch's CPU acc_type).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <type_traits>
#include <vector>

#include "kernels.h"
#include "sort_order.h"

namespace nn {
namespace k {
namespace {

template <class T>
void SortT(int64_t rows, int64_t n, int64_t kk, T* values, int64_t* indices, const T* in, bool descending) {
  using K = SortKey<T>;
  std::vector<K> key(static_cast<size_t>(n));
  std::vector<int64_t> idx(static_cast<size_t>(n));
  for (int64_t r = 0; r < rows; r++) {
    const T* row = in + r * n;
    for (int64_t i = 0; i < n; i++) key[i] = Load<K>(row[i]);
    std::iota(idx.begin(), idx.end(), int64_t(0));
    auto before = [&](int64_t a, int64_t b) { return SortsBefore(key[a], a, key[b], b, descending); };
    if (kk < n) std::partial_sort(idx.begin(), idx.begin() + kk, idx.end(), before);
    else std::sort(idx.begin(), idx.end(), before);
    for (int64_t c = 0; c < kk; c++) {
      values[r * kk + c] = row[idx[c]];
      indices[r * kk + c] = idx[c];
    }
  }
}

template <class T>
void ScanT(ScanOp op, int64_t outer, int64_t size, int64_t inner, T* out, const T* in, bool reverse) {
  using C = Compute<T>;
  using A = std::conditional_t<std::is_same<C, int64_t>::value, int64_t, double>;
  for (int64_t o = 0; o < outer; o++)
    for (int64_t j = 0; j < inner; j++) {
      const int64_t base = o * size * inner + j;
      A acc = op == ScanOp::Sum ? A(0) : A(1);
      for (int64_t s = 0; s < size; s++) {
        const int64_t i = base + (reverse ? size - 1 - s : s) * inner;
        const A v = static_cast<A>(Load<C>(in[i]));
        if constexpr (std::is_same<A, int64_t>::value) {  // wraps like torch's int64 (no UB)
          const uint64_t x = static_cast<uint64_t>(acc), y = static_cast<uint64_t>(v);
          acc = static_cast<int64_t>(op == ScanOp::Sum ? x + y : x * y);
        } else {
          acc = op == ScanOp::Sum ? acc + v : acc * v;
        }
        out[i] = Store<T>(static_cast<C>(acc));
      }
    }
}

}  // namespace

void HostSort(DType dt, int64_t rows, int64_t n, int64_t k, void* values, int64_t* indices, const void* in,
              bool descending) {
  if (rows == 0 || k == 0) return;
  NN_DISPATCH_HOST(dt, SortT<T>(rows, n, k, static_cast<T*>(values), indices, static_cast<const T*>(in), descending));
}

void HostScan(ScanOp op, DType dt, int64_t outer, int64_t size, int64_t inner, void* out, const void* in,
              bool reverse) {
  if (outer == 0 || size == 0 || inner == 0) return;
  NN_DISPATCH_HOST(dt, ScanT<T>(op, outer, size, inner, static_cast<T*>(out), static_cast<const T*>(in), reverse));
}

void HostCompact(DType dt, int64_t n, void* out, int64_t outLen, const void* src, const uint8_t* mask,
                 const int64_t* pos) {
  const size_t es = DTypeSize(dt);
  for (int64_t i = 0; i < n; i++) {
    if (!mask[i]) continue;
    const int64_t p = pos[i] - 1;
    if (p < 0 || p >= outLen) continue;
    std::memcpy(static_cast<char*>(out) + p * es, static_cast<const char*>(src) + i * es, es);
  }
}

void HostNonzero(const NonzeroArgs& a, int64_t* out, int64_t outLen, const uint8_t* mask, const int64_t* pos) {
  for (int64_t i = 0; i < a.numel; i++) {
    if (!mask[i]) continue;
    const int64_t p = pos[i] - 1;
    if (p < 0 || p >= outLen) continue;
    int64_t t = i;
    for (int d = a.ndim - 1; d >= 0; d--) {
      out[p * a.ndim + d] = t % a.shape[d];
      t /= a.shape[d];
    }
  }
}

}  // namespace k
}  // namespace nn
