// Host LayerNorm over the last `cols` of contiguous [rows, cols]: out = (x - mean) * rstd * w + b
// with the biased variance, as torch.nn.functional.layer_norm; mean and rstd are saved for the
// backward pass in the compute type (float32, float64 for float64 inputs: torch's accumulate
// type). Statistics accumulate in double.
#include <cmath>
#include <vector>

#include "kernels.h"

namespace nn {
namespace k {
namespace {

template <class T>
void LayerNormT(int64_t rows, int64_t cols, T* out, Compute<T>* mean, Compute<T>* rstd, const T* x, const T* w,
                const T* b, double eps) {
  using C = Compute<T>;
  for (int64_t r = 0; r < rows; r++) {
    const T* xr = x + r * cols;
    double s = 0;
    for (int64_t j = 0; j < cols; j++) s += Load<double>(xr[j]);
    double mu = cols ? s / static_cast<double>(cols) : 0.0;
    double v = 0;
    for (int64_t j = 0; j < cols; j++) {
      double d = Load<double>(xr[j]) - mu;
      v += d * d;
    }
    v = cols ? v / static_cast<double>(cols) : 0.0;
    double rs = 1.0 / std::sqrt(v + eps);
    mean[r] = static_cast<C>(mu);
    rstd[r] = static_cast<C>(rs);
    T* o = out + r * cols;
    for (int64_t j = 0; j < cols; j++) {
      C y = static_cast<C>((Load<double>(xr[j]) - mu) * rs);
      if (w) y *= Load<C>(w[j]);
      if (b) y += Load<C>(b[j]);
      o[j] = Store<T>(y);
    }
  }
}

template <class T>
void LayerNormBackwardT(int64_t rows, int64_t cols, T* gx, T* gw, T* gb, const T* gout, const T* x,
                        const Compute<T>* mean, const Compute<T>* rstd, const T* w) {
  std::vector<double> accW(gw ? cols : 0, 0.0), accB(gb ? cols : 0, 0.0);
  for (int64_t r = 0; r < rows; r++) {
    const T* g = gout + r * cols;
    const T* xr = x + r * cols;
    const double mu = mean[r], rs = rstd[r];
    double sg = 0, sgx = 0;  // sums of (g * w) and (g * w * xhat)
    for (int64_t j = 0; j < cols; j++) {
      double xh = (Load<double>(xr[j]) - mu) * rs;
      double gj = Load<double>(g[j]);
      double gwj = w ? gj * Load<double>(w[j]) : gj;
      sg += gwj;
      sgx += gwj * xh;
      if (gw) accW[j] += gj * xh;
      if (gb) accB[j] += gj;
    }
    const double inv = 1.0 / static_cast<double>(cols);
    T* o = gx + r * cols;
    for (int64_t j = 0; j < cols; j++) {
      double xh = (Load<double>(xr[j]) - mu) * rs;
      double gj = Load<double>(g[j]);
      double gwj = w ? gj * Load<double>(w[j]) : gj;
      o[j] = Store<T>(rs * (gwj - sg * inv - xh * sgx * inv));
    }
  }
  for (int64_t j = 0; gw && j < cols; j++) gw[j] = Store<T>(accW[j]);
  for (int64_t j = 0; gb && j < cols; j++) gb[j] = Store<T>(accB[j]);
}

}  // namespace

void HostLayerNorm(DType dt, int64_t rows, int64_t cols, void* out, void* mean, void* rstd, const void* x,
                   const void* w, const void* b, double eps) {
  NN_DISPATCH_HOST_FLOAT(dt, LayerNormT<T>(rows, cols, static_cast<T*>(out), static_cast<Compute<T>*>(mean),
                                           static_cast<Compute<T>*>(rstd), static_cast<const T*>(x),
                                           static_cast<const T*>(w), static_cast<const T*>(b), eps));
}

void HostLayerNormBackward(DType dt, int64_t rows, int64_t cols, void* gx, void* gw, void* gb, const void* gout,
                           const void* x, const void* mean, const void* rstd, const void* w) {
  NN_DISPATCH_HOST_FLOAT(dt, LayerNormBackwardT<T>(rows, cols, static_cast<T*>(gx), static_cast<T*>(gw),
                                                   static_cast<T*>(gb), static_cast<const T*>(gout),
                                                   static_cast<const T*>(x), static_cast<const Compute<T>*>(mean),
                                                   static_cast<const Compute<T>*>(rstd), static_cast<const T*>(w)));
}

}  // namespace k
}  // namespace nn
