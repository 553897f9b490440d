// The per-element update rules of torch.optim.Adam / AdamW / SGD, shared by the host loops
// (optim.cc) and the fused multi-tensor CUDA kernels (optim.cu). P is the compute type (float for
// float32 and 16-bit params, double for float64). The state is stored in the parameter's dtype,
// as torch's; callers load it into P, and store it back rounded once per step (as torch's fused
// path does).
#pragma once
#include <cmath>

#include "kernels.h"
#include "ops.h"

namespace nn {
namespace k {

// Scalars of one Adam step, computed once per step in double (as torch does on the host).
struct AdamScalars {
  double lr, beta1, beta2, eps, wd, stepSize, bc2Sqrt;
  bool decoupled, amsgrad, maximize;
};

inline AdamScalars MakeAdamScalars(const AdamOpts& o) {
  AdamScalars s;
  s.lr = o.lr; s.beta1 = o.beta1; s.beta2 = o.beta2; s.eps = o.eps; s.wd = o.weightDecay;
  const double bc1 = 1.0 - std::pow(o.beta1, static_cast<double>(o.step));
  const double bc2 = 1.0 - std::pow(o.beta2, static_cast<double>(o.step));
  s.stepSize = o.lr / bc1;
  s.bc2Sqrt = std::sqrt(bc2);
  s.decoupled = o.decoupled; s.amsgrad = o.amsgrad; s.maximize = o.maximize;
  return s;
}

// torch.optim.Adam (decoupled = false: L2 penalty added to the gradient) and AdamW (decoupled:
// param *= 1 - lr * wd first). m and v are lerped as torch's foreach path does.
template <class P>
NN_HD void AdamElem(P& p, P g, P& m, P& v, P* vmax, const AdamScalars& s) {
  if (s.maximize) g = -g;
  if (s.wd != 0) {
    if (s.decoupled) p = p * static_cast<P>(1.0 - s.lr * s.wd);
    else g = g + static_cast<P>(s.wd) * p;
  }
  const P b1 = static_cast<P>(s.beta1), b2 = static_cast<P>(s.beta2);
  m = m + (g - m) * (P(1) - b1);                     // m.lerp_(g, 1 - beta1)
  v = v * b2 + (P(1) - b2) * g * g;                  // v.mul_(beta2).addcmul_(g, g, 1 - beta2)
  P denomBase = v;
  if (s.amsgrad) {
    *vmax = Max(*vmax, v);
    denomBase = *vmax;
  }
  const P denom = Sqrt(denomBase) / static_cast<P>(s.bc2Sqrt) + static_cast<P>(s.eps);
  p = p - static_cast<P>(s.stepSize) * m / denom;
}

// torch.optim.SGD: weight decay (L2), momentum with dampening (the buffer starts as a copy of the
// first gradient), Nesterov, maximize. buf: the momentum buffer loaded into P (unread on the first
// step), or null without momentum.
template <class P>
NN_HD void SgdElem(P& p, P g, P* buf, const SgdOpts& o) {
  if (o.maximize) g = -g;
  if (o.weightDecay != 0) g = g + static_cast<P>(o.weightDecay) * p;
  if (o.momentum != 0) {
    P b = o.firstStep ? g : *buf * static_cast<P>(o.momentum) + static_cast<P>(1.0 - o.dampening) * g;
    *buf = b;
    g = o.nesterov ? g + static_cast<P>(o.momentum) * b : b;
  }
  p = p - static_cast<P>(o.lr) * g;
}

}  // namespace k
}  // namespace nn
