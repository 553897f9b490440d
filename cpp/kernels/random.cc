// Host fills with Philox-4x32-10 counter-based random numbers (philox.h): the same (seed, offset)
// gives the same numbers as the CUDA kernels in random.cu.
#include <cmath>

#include "kernels.h"
#include "philox.h"

namespace nn {
namespace k {
namespace {

template <class T>
void RandomT(Dist dist, T* out, int64_t numel, uint64_t seed, uint64_t offset, double p0, double p1) {
  using C = Compute<T>;
  const uint64_t range = static_cast<uint64_t>(static_cast<int64_t>(p1) - static_cast<int64_t>(p0));
  for (int64_t base = 0; base < numel; base += 4) {
    Philox4 r = Philox(offset + static_cast<uint64_t>(base / 4), seed);
    for (int lane = 0; lane < 4 && base + lane < numel; lane++) {
      T& o = out[base + lane];
      switch (dist) {
        case Dist::Uniform: o = Store<T>(static_cast<C>(p0 + (p1 - p0) * Uniform24(r.v[lane]))); break;
        case Dist::Normal: o = Store<T>(static_cast<C>(p0 + p1 * NormalLane(r, lane))); break;
        case Dist::Randint: o = Store<T>(static_cast<C>(RandintLane(r, lane, static_cast<int64_t>(p0), range))); break;
        case Dist::Bernoulli: o = Store<T>(static_cast<C>(Uniform32(r.v[lane]) < p0 ? 1 : 0)); break;
      }
    }
  }
}

}  // namespace

void HostRandom(Dist dist, DType dt, void* out, int64_t numel, uint64_t seed, uint64_t offset, double p0, double p1) {
  NN_DISPATCH_HOST(dt, RandomT<T>(dist, static_cast<T*>(out), numel, seed, offset, p0, p1));
}

}  // namespace k
}  // namespace nn
