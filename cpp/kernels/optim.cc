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
  using S = std::conditional_t<std::is_same<P, double>::value, double, float>;
  const AdamScalars s = MakeAdamScalars(o);
  for (const OptimTensor& t : ts) {
    T* param = static_cast<T*>(t.param);
    const T* grad = static_cast<const T*>(t.grad);
    S* m = static_cast<S*>(t.s0);
    S* v = static_cast<S*>(t.s1);
    S* vmax = static_cast<S*>(t.s2);
    for (int64_t i = 0; i < t.numel; i++) {
      P p = Load<P>(param[i]);
      AdamElem<P, S>(p, Load<P>(grad[i]), m[i], v[i], vmax ? vmax + i : nullptr, s);
      param[i] = Store<T>(p);
    }
  }
}

template <class T>
void SgdT(const std::vector<OptimTensor>& ts, const SgdOpts& o) {
  using P = Compute<T>;
  using S = std::conditional_t<std::is_same<P, double>::value, double, float>;
  for (const OptimTensor& t : ts) {
    T* param = static_cast<T*>(t.param);
    const T* grad = static_cast<const T*>(t.grad);
    S* buf = static_cast<S*>(t.s0);
    for (int64_t i = 0; i < t.numel; i++) {
      P p = Load<P>(param[i]);
      SgdElem<P, S>(p, Load<P>(grad[i]), buf ? buf + i : nullptr, o);
      param[i] = Store<T>(p);
    }
  }
}

}  // namespace

void HostAdam(DType dt, const std::vector<OptimTensor>& ts, const AdamOpts& o) { NN_DISPATCH_HOST_FLOAT(dt, AdamT<T>(ts, o)); }
void HostSgd(DType dt, const std::vector<OptimTensor>& ts, const SgdOpts& o) { NN_DISPATCH_HOST_FLOAT(dt, SgdT<T>(ts, o)); }

void HostSumSquares(DType dt, const std::vector<const void*>& ptrs, const std::vector<int64_t>& numels, float* out) {
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
  *out = static_cast<float>(acc);
}

}  // namespace k
}  // namespace nn
