// Host loop driver for elementwise problems: walks every dim of an Iter but the innermost and
// hands the body one row (pointers, inner strides in elements, length), so the body's inner loop
// is a plain strided or contiguous loop the compiler vectorizes.
#pragma once
#include "kernels.h"

namespace nn {
namespace k {

template <int N, class Body>
void ForEachRow(const Iter<N>& it, const size_t (&es)[N], Body&& body) {
  const int nd = it.ndim;
  for (int d = 0; d < nd; d++)
    if (it.size[d] == 0) return;
  int64_t inner[N];
  char* p[N];
  for (int o = 0; o < N; o++) {
    inner[o] = nd ? it.st[o][nd - 1] : 0;
    p[o] = it.ptr[o];
  }
  const int64_t n = nd ? it.size[nd - 1] : 1;
  int64_t rows = 1;
  for (int d = 0; d + 1 < nd; d++) rows *= it.size[d];
  int64_t idx[kMaxDims] = {};
  for (int64_t r = 0; r < rows; r++) {
    body(p, inner, n);
    for (int d = nd - 2; d >= 0; d--) {
      for (int o = 0; o < N; o++) p[o] += it.st[o][d] * static_cast<int64_t>(es[o]);
      if (++idx[d] < it.size[d]) break;
      for (int o = 0; o < N; o++) p[o] -= it.st[o][d] * static_cast<int64_t>(es[o]) * it.size[d];
      idx[d] = 0;
    }
  }
}

}  // namespace k
}  // namespace nn
