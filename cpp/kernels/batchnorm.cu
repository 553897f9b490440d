// CUDA batch normalization over the channel axis of contiguous [outer, channels, inner] (the host
// twin, batchnorm.cc, states the four steps). Per-channel reductions (stats, backwardReduce): with
// inner > 1 a block per channel (a grid that fills the device, each block looping over channels)
// walking the channel's outer x inner elements; with inner == 1 ([N, C] inputs, channels
// contiguous) a block of 32 x 8 threads per 32 channels, the 32 lanes reading 32 neighbouring
// channels of one row (coalesced) and the 8 rows of threads striding over N, combined in shared
// memory. stats is two passes (mean, then centered squares); accumulation in float (double for
// float64). The elementwise steps are grid-stride loops with the channel folded into per-channel
// constants.
#include "cuda_common.cuh"

namespace nn {
namespace k {
namespace {

constexpr int kColLanes = 32, kColRows = 8;

int ChannelThreads(int64_t perChannel) { return perChannel >= 4096 ? 512 : perChannel >= 512 ? 256 : 128; }

// Sums f(n, j) over a channel's elements in block-per-channel form; every thread gets the total.
template <class C, class F>
__device__ C ChannelSum(int64_t outer, int64_t inner, C* sh, F f) {
  C s = 0;
  const int64_t total = outer * inner;
  for (int64_t i = threadIdx.x; i < total; i += blockDim.x) {
    const int64_t n = i / inner, j = i - n * inner;
    s += f(n, j);
  }
  return BlockSum(s, sh);
}

template <class T>
__global__ void StatsBlockK(int64_t outer, int64_t ch, int64_t inner, Compute<T>* mean, Compute<T>* var, const T* x) {
  using C = Compute<T>;
  __shared__ C sh[32];
  const int64_t count = outer * inner;
  for (int64_t c = blockIdx.x; c < ch; c += gridDim.x) {
    const T* base = x + c * inner;
    const int64_t rowStride = ch * inner;
    const C s = ChannelSum<C>(outer, inner, sh, [&](int64_t n, int64_t j) { return Load<C>(base[n * rowStride + j]); });
    const C mu = count > 0 ? s / static_cast<C>(count) : C(0);
    const C q = ChannelSum<C>(outer, inner, sh, [&](int64_t n, int64_t j) {
      const C d = Load<C>(base[n * rowStride + j]) - mu;
      return d * d;
    });
    if (threadIdx.x == 0) {
      mean[c] = mu;
      var[c] = count > 0 ? q / static_cast<C>(count) : C(0);
    }
  }
}

// Column form (inner == 1): thread (lane, row) of block b covers channel b*32 + lane, rows
// row, row + 8, ...; returns the channel's total in row 0's threads.
template <class C, class F>
__device__ C ColumnSum(int64_t outer, int64_t c, int64_t ch, C (*sh)[kColLanes], F f) {
  C s = 0;
  if (c < ch)
    for (int64_t n = threadIdx.y; n < outer; n += kColRows) s += f(n);
  sh[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  C t = 0;
  if (threadIdx.y == 0)
    for (int r = 0; r < kColRows; r++) t += sh[r][threadIdx.x];
  __syncthreads();
  return t;
}

template <class T>
__global__ void StatsColumnK(int64_t outer, int64_t ch, Compute<T>* mean, Compute<T>* var, const T* x) {
  using C = Compute<T>;
  __shared__ C sh[kColRows][kColLanes];
  __shared__ C mus[kColLanes];
  for (int64_t c0 = static_cast<int64_t>(blockIdx.x) * kColLanes; c0 < ch; c0 += static_cast<int64_t>(gridDim.x) * kColLanes) {
    const int64_t c = c0 + threadIdx.x;
    const C s = ColumnSum<C>(outer, c, ch, sh, [&](int64_t n) { return Load<C>(x[n * ch + c]); });
    if (threadIdx.y == 0) mus[threadIdx.x] = outer > 0 ? s / static_cast<C>(outer) : C(0);
    __syncthreads();
    const C mu = mus[threadIdx.x];
    const C q = ColumnSum<C>(outer, c, ch, sh, [&](int64_t n) {
      const C d = Load<C>(x[n * ch + c]) - mu;
      return d * d;
    });
    if (threadIdx.y == 0 && c < ch) {
      mean[c] = mu;
      var[c] = outer > 0 ? q / static_cast<C>(outer) : C(0);
    }
    __syncthreads();
  }
}

template <class T>
__global__ void ElemtK(int64_t total, int64_t ch, int64_t inner, T* out, const T* x, const Compute<T>* mean,
                       const Compute<T>* invstd, const T* w, const T* b) {
  using C = Compute<T>;
  for (int64_t i = GlobalId(); i < total; i += GlobalStride()) {
    const int64_t c = (i / inner) % ch;
    const C scale = invstd[c] * (w ? Load<C>(w[c]) : C(1));
    out[i] = Store<T>((Load<C>(x[i]) - mean[c]) * scale + (b ? Load<C>(b[c]) : C(0)));
  }
}

template <class T>
__device__ void WriteReduce(int64_t c, Compute<T> sdy, Compute<T> sdx, Compute<T>* dy, Compute<T>* dyXmu, T* gw, T* gb,
                            const Compute<T>* invstd, double scale) {
  using C = Compute<T>;
  if (dy) dy[c] = sdy * static_cast<C>(scale);
  if (dyXmu) dyXmu[c] = sdx * static_cast<C>(scale);
  if (gw) gw[c] = Store<T>(sdx * invstd[c]);
  if (gb) gb[c] = Store<T>(sdy);
}

template <class T>
__global__ void BackwardReduceBlockK(int64_t outer, int64_t ch, int64_t inner, Compute<T>* dy, Compute<T>* dyXmu, T* gw,
                                     T* gb, const T* gout, const T* x, const Compute<T>* mean,
                                     const Compute<T>* invstd, double scale) {
  using C = Compute<T>;
  __shared__ C sh[32];
  const int64_t rowStride = ch * inner;
  for (int64_t c = blockIdx.x; c < ch; c += gridDim.x) {
    const int64_t off = c * inner;
    const C mu = mean[c];
    const C sdy = ChannelSum<C>(outer, inner, sh, [&](int64_t n, int64_t j) { return Load<C>(gout[off + n * rowStride + j]); });
    const C sdx = ChannelSum<C>(outer, inner, sh, [&](int64_t n, int64_t j) {
      const int64_t i = off + n * rowStride + j;
      return Load<C>(gout[i]) * (Load<C>(x[i]) - mu);
    });
    if (threadIdx.x == 0) WriteReduce<T>(c, sdy, sdx, dy, dyXmu, gw, gb, invstd, scale);
  }
}

template <class T>
__global__ void BackwardReduceColumnK(int64_t outer, int64_t ch, Compute<T>* dy, Compute<T>* dyXmu, T* gw, T* gb,
                                      const T* gout, const T* x, const Compute<T>* mean, const Compute<T>* invstd,
                                      double scale) {
  using C = Compute<T>;
  __shared__ C sh[kColRows][kColLanes];
  for (int64_t c0 = static_cast<int64_t>(blockIdx.x) * kColLanes; c0 < ch; c0 += static_cast<int64_t>(gridDim.x) * kColLanes) {
    const int64_t c = c0 + threadIdx.x;
    const C mu = c < ch ? mean[c] : C(0);
    const C sdy = ColumnSum<C>(outer, c, ch, sh, [&](int64_t n) { return Load<C>(gout[n * ch + c]); });
    const C sdx = ColumnSum<C>(outer, c, ch, sh, [&](int64_t n) { return Load<C>(gout[n * ch + c]) * (Load<C>(x[n * ch + c]) - mu); });
    if (threadIdx.y == 0 && c < ch) WriteReduce<T>(c, sdy, sdx, dy, dyXmu, gw, gb, invstd, scale);
  }
}

template <class T>
__global__ void BackwardElemtK(int64_t total, int64_t ch, int64_t inner, T* gx, const T* gout, const T* x,
                               const Compute<T>* mean, const Compute<T>* invstd, const T* w, const Compute<T>* meanDy,
                               const Compute<T>* meanDyXmu) {
  using C = Compute<T>;
  for (int64_t i = GlobalId(); i < total; i += GlobalStride()) {
    const int64_t c = (i / inner) % ch;
    const C is = invstd[c];
    const C a = is * (w ? Load<C>(w[c]) : C(1));
    C g = Load<C>(gout[i]);
    if (meanDy) g = g - meanDy[c] - (Load<C>(x[i]) - mean[c]) * is * is * meanDyXmu[c];
    gx[i] = Store<T>(g * a);
  }
}

unsigned ChannelGrid(int64_t ch) { return RowGrid(ch); }
unsigned ColumnGrid(int64_t ch) { return RowGrid((ch + kColLanes - 1) / kColLanes); }

}  // namespace

void CudaBatchNormStats(DType dt, int64_t outer, int64_t ch, int64_t inner, void* meanv, void* varv, const void* xv,
                        Stream s) {
  if (ch == 0) return;
  NN_DISPATCH_DEV_FLOAT(dt, {
    auto* mean = static_cast<Compute<T>*>(meanv);
    auto* var = static_cast<Compute<T>*>(varv);
    const T* x = static_cast<const T*>(xv);
    if (inner == 1) {
      StatsColumnK<T><<<ColumnGrid(ch), dim3(kColLanes, kColRows), 0, s>>>(outer, ch, mean, var, x);
      NN_CUDA_CHECK_LAUNCH("BatchNormStatsColumnK");
    } else {
      StatsBlockK<T><<<ChannelGrid(ch), ChannelThreads(outer * inner), 0, s>>>(outer, ch, inner, mean, var, x);
      NN_CUDA_CHECK_LAUNCH("BatchNormStatsBlockK");
    }
  });
}

void CudaBatchNormElemt(DType dt, int64_t outer, int64_t ch, int64_t inner, void* out, const void* x, const void* mean,
                        const void* invstd, const void* w, const void* b, Stream s) {
  const int64_t total = outer * ch * inner;
  if (total == 0) return;
  NN_DISPATCH_DEV_FLOAT(dt, {
    ElemtK<T><<<GridFor(total), kThreads, 0, s>>>(total, ch, inner, static_cast<T*>(out), static_cast<const T*>(x),
                                                  static_cast<const Compute<T>*>(mean),
                                                  static_cast<const Compute<T>*>(invstd), static_cast<const T*>(w),
                                                  static_cast<const T*>(b));
    NN_CUDA_CHECK_LAUNCH("BatchNormElemtK");
  });
}

void CudaBatchNormBackwardReduce(DType dt, int64_t outer, int64_t ch, int64_t inner, void* dyv, void* dyXmuv, void* gwv,
                                 void* gbv, const void* goutv, const void* xv, const void* meanv, const void* invstdv,
                                 double scale, Stream s) {
  if (ch == 0) return;
  NN_DISPATCH_DEV_FLOAT(dt, {
    auto* dy = static_cast<Compute<T>*>(dyv);
    auto* dyXmu = static_cast<Compute<T>*>(dyXmuv);
    auto* gw = static_cast<T*>(gwv);
    auto* gb = static_cast<T*>(gbv);
    const T* gout = static_cast<const T*>(goutv);
    const T* x = static_cast<const T*>(xv);
    const auto* mean = static_cast<const Compute<T>*>(meanv);
    const auto* invstd = static_cast<const Compute<T>*>(invstdv);
    if (inner == 1) {
      BackwardReduceColumnK<T><<<ColumnGrid(ch), dim3(kColLanes, kColRows), 0, s>>>(outer, ch, dy, dyXmu, gw, gb, gout,
                                                                                  x, mean, invstd, scale);
      NN_CUDA_CHECK_LAUNCH("BatchNormBackwardReduceColumnK");
    } else {
      BackwardReduceBlockK<T><<<ChannelGrid(ch), ChannelThreads(outer * inner), 0, s>>>(
          outer, ch, inner, dy, dyXmu, gw, gb, gout, x, mean, invstd, scale);
      NN_CUDA_CHECK_LAUNCH("BatchNormBackwardReduceBlockK");
    }
  });
}

void CudaBatchNormBackwardElemt(DType dt, int64_t outer, int64_t ch, int64_t inner, void* gx, const void* gout,
                                const void* x, const void* mean, const void* invstd, const void* w, const void* meanDy,
                                const void* meanDyXmu, Stream s) {
  const int64_t total = outer * ch * inner;
  if (total == 0) return;
  NN_DISPATCH_DEV_FLOAT(dt, {
    BackwardElemtK<T><<<GridFor(total), kThreads, 0, s>>>(
        total, ch, inner, static_cast<T*>(gx), static_cast<const T*>(gout), static_cast<const T*>(x),
        static_cast<const Compute<T>*>(mean), static_cast<const Compute<T>*>(invstd), static_cast<const T*>(w),
        static_cast<const Compute<T>*>(meanDy), static_cast<const Compute<T>*>(meanDyXmu));
    NN_CUDA_CHECK_LAUNCH("BatchNormBackwardElemtK");
  });
}

}  // namespace k
}  // namespace nn
