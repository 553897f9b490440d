// Host row-wise softmax / log-softmax and their backward passes over contiguous [rows, cols].
// float32/16-bit rows compute in float with a double row sum; float64 in double.
#include <cmath>
#include <vector>

#include "kernels.h"

namespace nn {
namespace k {
namespace {

template <class T>
void SoftmaxT(int64_t rows, int64_t cols, T* out, const T* in, bool log) {
  using C = Compute<T>;
  std::vector<C> buf(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; r++) {
    const T* x = in + r * cols;
    T* y = out + r * cols;
    C mx = -INFINITY;
    for (int64_t j = 0; j < cols; j++) {
      buf[j] = Load<C>(x[j]);
      mx = Max(mx, buf[j]);
    }
    if (std::isinf(mx) && mx < 0) mx = 0;  // a row of -inf: exp gives 0s, the sum 0 (as torch: NaN out)
    double sum = 0;
    for (int64_t j = 0; j < cols; j++) sum += static_cast<double>(Exp(buf[j] - mx));
    if (log) {
      C lse = mx + static_cast<C>(std::log(sum));
      for (int64_t j = 0; j < cols; j++) y[j] = Store<T>(buf[j] - lse);
    } else {
      C inv = static_cast<C>(1.0 / sum);
      for (int64_t j = 0; j < cols; j++) y[j] = Store<T>(Exp(buf[j] - mx) * inv);
    }
  }
}

template <class T>
void SoftmaxBackwardT(int64_t rows, int64_t cols, T* gin, const T* gout, const T* y, bool log) {
  using C = Compute<T>;
  for (int64_t r = 0; r < rows; r++) {
    const T* g = gout + r * cols;
    const T* yr = y + r * cols;
    T* gi = gin + r * cols;
    double acc = 0;
    if (log) {
      for (int64_t j = 0; j < cols; j++) acc += Load<double>(g[j]);
      for (int64_t j = 0; j < cols; j++)
        gi[j] = Store<T>(Load<C>(g[j]) - Exp(Load<C>(yr[j])) * static_cast<C>(acc));
    } else {
      for (int64_t j = 0; j < cols; j++) acc += Load<double>(g[j]) * Load<double>(yr[j]);
      for (int64_t j = 0; j < cols; j++)
        gi[j] = Store<T>(Load<C>(yr[j]) * (Load<C>(g[j]) - static_cast<C>(acc)));
    }
  }
}

}  // namespace

void HostSoftmax(DType dt, int64_t rows, int64_t cols, void* out, const void* in, bool log) {
  NN_DISPATCH_HOST_FLOAT(dt, SoftmaxT<T>(rows, cols, static_cast<T*>(out), static_cast<const T*>(in), log));
}

void HostSoftmaxBackward(DType dt, int64_t rows, int64_t cols, void* gin, const void* gout, const void* y, bool log) {
  NN_DISPATCH_HOST_FLOAT(dt, SoftmaxBackwardT<T>(rows, cols, static_cast<T*>(gin), static_cast<const T*>(gout),
                                                 static_cast<const T*>(y), log));
}

}  // namespace k
}  // namespace nn
