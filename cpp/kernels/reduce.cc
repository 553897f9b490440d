// Host reductions of the middle axis of a contiguous [outer, size, inner] input. Sums, means and
// variances accumulate in double (int64 for integer sums and products); max/min propagate NaN and
// report the first index of the extreme value, as PyTorch does.
#include <cmath>
#include <limits>
#include <vector>

#include "kernels.h"

namespace nn {
namespace k {
namespace {

template <class T, class A>
void SumLike(ROp op, int64_t outer, int64_t size, int64_t inner, T* out, const T* in, double correction) {
  std::vector<A> acc(static_cast<size_t>(inner));
  std::vector<double> mean;
  for (int64_t o = 0; o < outer; o++) {
    const T* base = in + o * size * inner;
    A init = op == ROp::Prod ? A(1) : A(0);
    for (int64_t j = 0; j < inner; j++) acc[j] = init;
    if (op == ROp::Prod) {
      for (int64_t s = 0; s < size; s++)
        for (int64_t j = 0; j < inner; j++) acc[j] *= Load<A>(base[s * inner + j]);
    } else {
      for (int64_t s = 0; s < size; s++)
        for (int64_t j = 0; j < inner; j++) acc[j] += Load<A>(base[s * inner + j]);
    }
    if (op == ROp::Var) {
      // second pass around the mean: numerically stable
      mean.assign(acc.begin(), acc.end());
      for (int64_t j = 0; j < inner; j++) mean[j] /= static_cast<double>(size);
      for (int64_t j = 0; j < inner; j++) acc[j] = 0;
      for (int64_t s = 0; s < size; s++)
        for (int64_t j = 0; j < inner; j++) {
          double d = Load<double>(base[s * inner + j]) - mean[j];
          acc[j] += d * d;
        }
      double denom = std::max(0.0, static_cast<double>(size) - correction);
      for (int64_t j = 0; j < inner; j++) out[o * inner + j] = Store<T>(static_cast<double>(acc[j]) / denom);
    } else if (op == ROp::Mean) {
      for (int64_t j = 0; j < inner; j++)
        out[o * inner + j] = Store<T>(static_cast<double>(acc[j]) / static_cast<double>(size));
    } else {
      for (int64_t j = 0; j < inner; j++) out[o * inner + j] = Store<T>(acc[j]);
    }
  }
}

template <class T>
void Extreme(ROp op, int64_t outer, int64_t size, int64_t inner, void* outv, const T* in, int64_t* indices) {
  using C = Compute<T>;
  const bool isMax = op == ROp::Max || op == ROp::Argmax;
  const bool argOnly = op == ROp::Argmax || op == ROp::Argmin;
  std::vector<C> best(static_cast<size_t>(inner));
  std::vector<int64_t> bestIdx(static_cast<size_t>(inner));
  for (int64_t o = 0; o < outer; o++) {
    const T* base = in + o * size * inner;
    for (int64_t j = 0; j < inner; j++) {
      best[j] = Load<C>(base[j]);
      bestIdx[j] = 0;
    }
    for (int64_t s = 1; s < size; s++)
      for (int64_t j = 0; j < inner; j++) {
        C v = Load<C>(base[s * inner + j]);
        C b = best[j];
        if (IsNan(b)) continue;
        if (IsNan(v) || (isMax ? v > b : v < b)) {
          best[j] = v;
          bestIdx[j] = s;
        }
      }
    for (int64_t j = 0; j < inner; j++) {
      if (argOnly) {
        static_cast<int64_t*>(outv)[o * inner + j] = bestIdx[j];
      } else {
        static_cast<T*>(outv)[o * inner + j] = Store<T>(best[j]);
        if (indices) indices[o * inner + j] = bestIdx[j];
      }
    }
  }
}

template <class T>
void ReduceT(ROp op, int64_t outer, int64_t size, int64_t inner, void* out, const void* in, int64_t* indices,
             double correction) {
  const T* x = static_cast<const T*>(in);
  using A = std::conditional_t<std::is_floating_point<Compute<T>>::value, double, int64_t>;
  switch (op) {
    case ROp::Sum: case ROp::Prod:
      return SumLike<T, A>(op, outer, size, inner, static_cast<T*>(out), x, correction);
    case ROp::Mean: case ROp::Var:
      return SumLike<T, double>(op, outer, size, inner, static_cast<T*>(out), x, correction);
    default:
      return Extreme<T>(op, outer, size, inner, out, x, indices);
  }
}

}  // namespace

void HostReduce(ROp op, DType dt, int64_t outer, int64_t size, int64_t inner, void* out, const void* in,
                int64_t* indices, double correction) {
  NN_DISPATCH_HOST(dt, ReduceT<T>(op, outer, size, inner, out, in, indices, correction));
}

}  // namespace k
}  // namespace nn
