// Host fused multi-tensor optimizer steps (optim_math.h holds the update rules) and the sum of
// squares used by clip_grad_norm_.
#include "kernels.h"
#include "optim_math.h"

namespace nn {
namespace k {
namespace {

template <class T>
void AdamT(const std::vector<OptimTensor>& ts, const AdamOpts& o) {
  using P = Compute<T>;
  const AdamScalars s = MakeAdamScalars(o);
  for (const OptimTensor& t : ts) {
    T* param = static_cast<T*>(t.param);
    const T* grad = static_cast<const T*>(t.grad);
    T* m = static_cast<T*>(t.s0);
    T* v = static_cast<T*>(t.s1);
    T* vmax = static_cast<T*>(t.s2);
    for (int64_t i = 0; i < t.numel; i++) {
      P p = Load<P>(param[i]), mi = Load<P>(m[i]), vi = Load<P>(v[i]), mx = vmax ? Load<P>(vmax[i]) : P(0);
      AdamElem<P>(p, Load<P>(grad[i]), mi, vi, vmax ? &mx : nullptr, s);
      param[i] = Store<T>(p);
      m[i] = Store<T>(mi);
      v[i] = Store<T>(vi);
      if (vmax) vmax[i] = Store<T>(mx);
    }
  }
}

template <class T>
void SgdT(const std::vector<OptimTensor>& ts, const SgdOpts& o) {
  using P = Compute<T>;
  for (const OptimTensor& t : ts) {
    T* param = static_cast<T*>(t.param);
    const T* grad = static_cast<const T*>(t.grad);
    T* buf = static_cast<T*>(t.s0);
    for (int64_t i = 0; i < t.numel; i++) {
      P p = Load<P>(param[i]), b = buf && !o.firstStep ? Load<P>(buf[i]) : P(0);
      SgdElem<P>(p, Load<P>(grad[i]), buf ? &b : nullptr, o);
      param[i] = Store<T>(p);
      if (buf) buf[i] = Store<T>(b);
    }
  }
}

}  // namespace

void HostAdam(DType dt, const std::vector<OptimTensor>& ts, const AdamOpts& o) { NN_DISPATCH_HOST_FLOAT(dt, AdamT<T>(ts, o)); }
void HostSgd(DType dt, const std::vector<OptimTensor>& ts, const SgdOpts& o) { NN_DISPATCH_HOST_FLOAT(dt, SgdT<T>(ts, o)); }

void HostSumSquares(DType dt, const std::vector<const void*>& ptrs, const std::vector<int64_t>& numels, double* out) {
  double acc = 0;
  NN_DISPATCH_HOST_FLOAT(dt, {
    for (size_t j = 0; j < ptrs.size(); j++) {
      const T* x = static_cast<const T*>(ptrs[j]);
      for (int64_t i = 0; i < numels[j]; i++) {
        double v = Load<double>(x[i]);
        acc += v * v;
      }
    }
  });
  *out = acc;
}

}  // namespace k
}  // namespace nn
