// Host batch normalization over the channel axis of a contiguous [outer, channels, inner] input
// (N, C and the product of the spatial dims), split the way torch's native batch norm (and so
// SyncBatchNorm) is split, so a distributed caller can combine the per-channel pieces between the
// steps:
//   stats           per-channel mean and biased variance (two passes: mean, then centered squares)
//   elemt           out = (x - mean) * invstd * weight + bias
//   backwardReduce  sum(dy) and sum(dy * (x - mean)) per channel (scaled, for the caller's means),
//                   gradWeight = invstd * sum(dy * (x - mean)), gradBias = sum(dy)
//   backwardElemt   gradX = (dy - meanDy - (x - mean) * invstd^2 * meanDyXmu) * invstd * weight, or
//                   without the means (eval mode: the statistics are constants) dy * invstd * weight
// Every pass walks the input in memory order with per-channel accumulators (double), so [N, C]
// inputs (inner = 1) stream as well as [N, C, H, W] ones. Statistics are in the compute type
// (float32; float64 for float64 inputs).
#include <cmath>
#include <vector>

#include "kernels.h"

namespace nn {
namespace k {
namespace {

template <class T>
void StatsT(int64_t outer, int64_t ch, int64_t inner, Compute<T>* mean, Compute<T>* var, const T* x) {
  using C = Compute<T>;
  std::vector<double> sum(static_cast<size_t>(ch), 0.0), sq(static_cast<size_t>(ch), 0.0);
  for (int64_t n = 0; n < outer; n++) {
    for (int64_t c = 0; c < ch; c++) {
      const T* p = x + (n * ch + c) * inner;
      double s = 0;
      for (int64_t j = 0; j < inner; j++) s += Load<double>(p[j]);
      sum[c] += s;
    }
  }
  const double count = static_cast<double>(outer) * static_cast<double>(inner);
  for (int64_t c = 0; c < ch; c++) sum[c] = count > 0 ? sum[c] / count : 0.0;
  for (int64_t n = 0; n < outer; n++) {
    for (int64_t c = 0; c < ch; c++) {
      const T* p = x + (n * ch + c) * inner;
      const double mu = sum[c];
      double s = 0;
      for (int64_t j = 0; j < inner; j++) {
        const double d = Load<double>(p[j]) - mu;
        s += d * d;
      }
      sq[c] += s;
    }
  }
  for (int64_t c = 0; c < ch; c++) {
    mean[c] = static_cast<C>(sum[c]);
    var[c] = static_cast<C>(count > 0 ? sq[c] / count : 0.0);
  }
}

template <class T>
void ElemtT(int64_t outer, int64_t ch, int64_t inner, T* out, const T* x, const Compute<T>* mean,
            const Compute<T>* invstd, const T* w, const T* b) {
  using C = Compute<T>;
  for (int64_t n = 0; n < outer; n++) {
    for (int64_t c = 0; c < ch; c++) {
      const C mu = mean[c];
      const C scale = invstd[c] * (w ? Load<C>(w[c]) : C(1));
      const C shift = b ? Load<C>(b[c]) : C(0);
      const int64_t base = (n * ch + c) * inner;
      for (int64_t j = 0; j < inner; j++) out[base + j] = Store<T>((Load<C>(x[base + j]) - mu) * scale + shift);
    }
  }
}

template <class T>
void BackwardReduceT(int64_t outer, int64_t ch, int64_t inner, Compute<T>* dy, Compute<T>* dyXmu, T* gw, T* gb,
                     const T* gout, const T* x, const Compute<T>* mean, const Compute<T>* invstd, double scale) {
  using C = Compute<T>;
  std::vector<double> sdy(static_cast<size_t>(ch), 0.0), sdx(static_cast<size_t>(ch), 0.0);
  for (int64_t n = 0; n < outer; n++) {
    for (int64_t c = 0; c < ch; c++) {
      const int64_t base = (n * ch + c) * inner;
      const double mu = mean[c];
      double a = 0, b = 0;
      for (int64_t j = 0; j < inner; j++) {
        const double g = Load<double>(gout[base + j]);
        a += g;
        b += g * (Load<double>(x[base + j]) - mu);
      }
      sdy[c] += a;
      sdx[c] += b;
    }
  }
  for (int64_t c = 0; c < ch; c++) {
    if (dy) dy[c] = static_cast<C>(sdy[c] * scale);
    if (dyXmu) dyXmu[c] = static_cast<C>(sdx[c] * scale);
    if (gw) gw[c] = Store<T>(static_cast<C>(sdx[c] * static_cast<double>(invstd[c])));
    if (gb) gb[c] = Store<T>(static_cast<C>(sdy[c]));
  }
}

template <class T>
void BackwardElemtT(int64_t outer, int64_t ch, int64_t inner, T* gx, const T* gout, const T* x,
                    const Compute<T>* mean, const Compute<T>* invstd, const T* w, const Compute<T>* meanDy,
                    const Compute<T>* meanDyXmu) {
  using C = Compute<T>;
  // gx = g * k1 + x * k2 + k3 per channel (folded in double).
  std::vector<C> k1(static_cast<size_t>(ch)), k2(static_cast<size_t>(ch)), k3(static_cast<size_t>(ch));
  for (int64_t c = 0; c < ch; c++) {
    const double is = invstd[c];
    const double a = is * (w ? Load<double>(w[c]) : 1.0);
    k1[c] = static_cast<C>(a);
    if (meanDy) {
      const double proj = is * is * static_cast<double>(meanDyXmu[c]);
      k2[c] = static_cast<C>(-proj * a);
      k3[c] = static_cast<C>((static_cast<double>(mean[c]) * proj - static_cast<double>(meanDy[c])) * a);
    } else {
      k2[c] = C(0);
      k3[c] = C(0);
    }
  }
  for (int64_t n = 0; n < outer; n++) {
    for (int64_t c = 0; c < ch; c++) {
      const int64_t base = (n * ch + c) * inner;
      const C a = k1[c], b = k2[c], d = k3[c];
      if (meanDy) {
        for (int64_t j = 0; j < inner; j++) gx[base + j] = Store<T>(Load<C>(gout[base + j]) * a + Load<C>(x[base + j]) * b + d);
      } else {
        for (int64_t j = 0; j < inner; j++) gx[base + j] = Store<T>(Load<C>(gout[base + j]) * a);
      }
    }
  }
}

}  // namespace

void HostBatchNormStats(DType dt, int64_t outer, int64_t channels, int64_t inner, void* mean, void* var, const void* x) {
  NN_DISPATCH_HOST_FLOAT(dt, StatsT<T>(outer, channels, inner, static_cast<Compute<T>*>(mean),
                                       static_cast<Compute<T>*>(var), static_cast<const T*>(x)));
}

void HostBatchNormElemt(DType dt, int64_t outer, int64_t channels, int64_t inner, void* out, const void* x,
                        const void* mean, const void* invstd, const void* w, const void* b) {
  NN_DISPATCH_HOST_FLOAT(dt, ElemtT<T>(outer, channels, inner, static_cast<T*>(out), static_cast<const T*>(x),
                                       static_cast<const Compute<T>*>(mean), static_cast<const Compute<T>*>(invstd),
                                       static_cast<const T*>(w), static_cast<const T*>(b)));
}

void HostBatchNormBackwardReduce(DType dt, int64_t outer, int64_t channels, int64_t inner, void* dy, void* dyXmu,
                                 void* gw, void* gb, const void* gout, const void* x, const void* mean,
                                 const void* invstd, double scale) {
  NN_DISPATCH_HOST_FLOAT(dt, BackwardReduceT<T>(outer, channels, inner, static_cast<Compute<T>*>(dy),
                                                static_cast<Compute<T>*>(dyXmu), static_cast<T*>(gw),
                                                static_cast<T*>(gb), static_cast<const T*>(gout),
                                                static_cast<const T*>(x), static_cast<const Compute<T>*>(mean),
                                                static_cast<const Compute<T>*>(invstd), scale));
}

void HostBatchNormBackwardElemt(DType dt, int64_t outer, int64_t channels, int64_t inner, void* gx, const void* gout,
                                const void* x, const void* mean, const void* invstd, const void* w,
                                const void* meanDy, const void* meanDyXmu) {
  NN_DISPATCH_HOST_FLOAT(dt, BackwardElemtT<T>(outer, channels, inner, static_cast<T*>(gx), static_cast<const T*>(gout),
                                               static_cast<const T*>(x), static_cast<const Compute<T>*>(mean),
                                               static_cast<const Compute<T>*>(invstd), static_cast<const T*>(w),
                                               static_cast<const Compute<T>*>(meanDy),
                                               static_cast<const Compute<T>*>(meanDyXmu)));
}

}  // namespace k
}  // namespace nn
