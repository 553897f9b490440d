// CUDA Philox-4x32-10 fills (philox.h): one thread per 4-element counter block, bit-identical to
// the host's random.cc for the same (seed, offset); and arange.
#include "cuda_common.cuh"
#include "philox.h"

namespace nn {
namespace k {
namespace {

template <class T>
__global__ void RandomK(int dist, T* out, int64_t numel, uint64_t seed, uint64_t offset, double p0, double p1) {
  using C = Compute<T>;
  const int64_t blocks = (numel + 3) / 4;
  const uint64_t range = static_cast<uint64_t>(static_cast<int64_t>(p1) - static_cast<int64_t>(p0));
  for (int64_t b = GlobalId(); b < blocks; b += GlobalStride()) {
    const Philox4 r = Philox(offset + static_cast<uint64_t>(b), seed);
    for (int lane = 0; lane < 4; lane++) {
      const int64_t i = b * 4 + lane;
      if (i >= numel) break;
      double v;
      switch (static_cast<Dist>(dist)) {
        case Dist::Uniform: v = p0 + (p1 - p0) * Uniform24(r.v[lane]); break;
        case Dist::Normal: v = p0 + p1 * NormalLane(r, lane); break;
        case Dist::Randint: v = 0; break;
        default: v = Uniform32(r.v[lane]) < p0 ? 1.0 : 0.0; break;
      }
      if (static_cast<Dist>(dist) == Dist::Randint)
        out[i] = Store<T>(static_cast<C>(RandintLane(r, lane, static_cast<int64_t>(p0), range)));
      else
        out[i] = Store<T>(static_cast<C>(v));
    }
  }
}

template <class T>
__global__ void ArangeK(T* out, int64_t numel, double start, double step) {
  using C = Compute<T>;
  for (int64_t i = GlobalId(); i < numel; i += GlobalStride())
    out[i] = Store<T>(static_cast<C>(start + static_cast<double>(i) * step));
}

}  // namespace

void CudaRandom(Dist dist, DType dt, void* out, int64_t numel, uint64_t seed, uint64_t offset, double p0, double p1,
                Stream s) {
  NN_DISPATCH_DEV(dt, {
    RandomK<T><<<GridFor((numel + 3) / 4), kThreads, 0, s>>>(static_cast<int>(dist), static_cast<T*>(out), numel, seed,
                                                             offset, p0, p1);
    NN_CUDA_CHECK_LAUNCH("RandomK");
  });
}

void CudaArange(DType dt, void* out, int64_t numel, double start, double step, Stream s) {
  NN_DISPATCH_DEV(dt, {
    ArangeK<T><<<GridFor(numel), kThreads, 0, s>>>(static_cast<T*>(out), numel, start, step);
    NN_CUDA_CHECK_LAUNCH("ArangeK");
  });
}

}  // namespace k
}  // namespace nn
