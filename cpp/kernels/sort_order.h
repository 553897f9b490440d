// torch's sort order, shared by the host sort (sort.cc) and the CUDA bitonic network (sort.cu) so
// the two cannot drift apart: NaN is greater than every number (last ascending, first descending),
// and equal keys keep their original order (ties break on the index: every sort here is stable).
#pragma once
#include <cstdint>
#include <type_traits>

#include "dtype.h"

namespace nn {
namespace k {

// Keys compare as int64 for integer dtypes and as double for every floating dtype.
template <class T>
using SortKey = std::conditional_t<std::is_same<Compute<T>, int64_t>::value, int64_t, double>;

template <class K>
NN_HD bool SortKeyIsNan(K v) {
  if constexpr (std::is_floating_point<K>::value) return v != v;
  else return false;
}

// True when key x at index a sorts before key y at index b.
template <class K>
NN_HD bool SortsBefore(K x, int64_t a, K y, int64_t b, bool descending) {
  const bool xn = SortKeyIsNan(x), yn = SortKeyIsNan(y);
  if (xn || yn) {
    if (xn && yn) return a < b;
    return descending ? xn : yn;
  }
  if (x != y) return descending ? x > y : x < y;
  return a < b;
}

}  // namespace k
}  // namespace nn
