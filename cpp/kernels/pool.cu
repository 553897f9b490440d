// CUDA 2-D pooling, one thread per output element for the forward passes (the host twins' rules:
// cpp/kernels/pool.cc). Backward: max pooling adds each gradient at its saved index with an
// atomic (windows may overlap); average and adaptive average pooling gather, one thread per input
// element, from the outputs whose windows cover it (no atomics, deterministic).
#include "cuda_common.cuh"

namespace nn {
namespace k {
namespace {

template <class T>
__global__ void MaxPoolK(PoolGeom g, T* out, int64_t* indices, const T* x) {
  using C = Compute<T>;
  const int64_t L = g.oh * g.ow, n = g.planes * L;
  for (int64_t t = GlobalId(); t < n; t += GlobalStride()) {
    const int64_t ox = t % g.ow, r = t / g.ow, oy = r % g.oh, p = r / g.oh;
    int64_t y0 = oy * g.strideH - g.padH, x0 = ox * g.strideW - g.padW;
    const int64_t y1 = min(y0 + (g.kh - 1) * g.dilH + 1, g.h), x1 = min(x0 + (g.kw - 1) * g.dilW + 1, g.w);
    while (y0 < 0) y0 += g.dilH;
    while (x0 < 0) x0 += g.dilW;
    const T* xp = x + p * g.h * g.w;
    int64_t best = y0 * g.w + x0;
    C m = -INFINITY;
    for (int64_t iy = y0; iy < y1; iy += g.dilH)
      for (int64_t ix = x0; ix < x1; ix += g.dilW) {
        const int64_t idx = iy * g.w + ix;
        const C v = Load<C>(xp[idx]);
        if (v > m || v != v) {
          m = v;
          best = idx;
        }
      }
    out[t] = Store<T>(m);
    indices[t] = best;
  }
}

template <class T>
__global__ void MaxPoolBackwardK(PoolGeom g, T* gx, const T* gout, const int64_t* indices) {
  const int64_t L = g.oh * g.ow, n = g.planes * L, HW = g.h * g.w;
  for (int64_t t = GlobalId(); t < n; t += GlobalStride()) {
    const int64_t idx = indices[t];
    if (idx < 0 || idx >= HW) continue;
    AtomicAddT<T, Compute<T>>(gx + (t / L) * HW + idx, Load<Compute<T>>(gout[t]));
  }
}

struct AvgWindow {
  int64_t y0, y1, x0, x1, div;
};
__device__ AvgWindow AvgWin(const PoolGeom& g, int64_t oy, int64_t ox, bool cip, int64_t divisor) {
  AvgWindow a;
  a.y0 = oy * g.strideH - g.padH;
  a.x0 = ox * g.strideW - g.padW;
  a.y1 = min(a.y0 + g.kh, g.h + g.padH);
  a.x1 = min(a.x0 + g.kw, g.w + g.padW);
  const int64_t poolSize = (a.y1 - a.y0) * (a.x1 - a.x0);
  a.y0 = max(a.y0, int64_t(0));
  a.x0 = max(a.x0, int64_t(0));
  a.y1 = min(a.y1, g.h);
  a.x1 = min(a.x1, g.w);
  a.div = divisor > 0 ? divisor : cip ? poolSize : (a.y1 - a.y0) * (a.x1 - a.x0);
  return a;
}

template <class T>
__global__ void AvgPoolK(PoolGeom g, T* out, const T* x, bool cip, int64_t divisor) {
  using C = Compute<T>;
  const int64_t L = g.oh * g.ow, n = g.planes * L;
  for (int64_t t = GlobalId(); t < n; t += GlobalStride()) {
    const int64_t ox = t % g.ow, r = t / g.ow, oy = r % g.oh, p = r / g.oh;
    const AvgWindow a = AvgWin(g, oy, ox, cip, divisor);
    const T* xp = x + p * g.h * g.w;
    C s = 0;
    if (a.y0 < a.y1 && a.x0 < a.x1) {
      for (int64_t iy = a.y0; iy < a.y1; iy++)
        for (int64_t ix = a.x0; ix < a.x1; ix++) s += Load<C>(xp[iy * g.w + ix]);
      s /= static_cast<C>(a.div);
    }
    out[t] = Store<T>(s);
  }
}

template <class T>
__global__ void AvgPoolBackwardK(PoolGeom g, T* gx, const T* gout, bool cip, int64_t divisor) {
  using C = Compute<T>;
  const int64_t n = g.planes * g.h * g.w;
  for (int64_t t = GlobalId(); t < n; t += GlobalStride()) {
    const int64_t ix = t % g.w, r = t / g.w, iy = r % g.h, p = r / g.h;
    // outputs whose window [o*stride - pad, o*stride - pad + k) holds this element
    const int64_t oy0 = iy + g.padH < g.kh ? 0 : (iy + g.padH - g.kh) / g.strideH + 1;
    const int64_t oy1 = min((iy + g.padH) / g.strideH + 1, g.oh);
    const int64_t ox0 = ix + g.padW < g.kw ? 0 : (ix + g.padW - g.kw) / g.strideW + 1;
    const int64_t ox1 = min((ix + g.padW) / g.strideW + 1, g.ow);
    const T* gp = gout + p * g.oh * g.ow;
    C acc = 0;
    for (int64_t oy = oy0; oy < oy1; oy++)
      for (int64_t ox = ox0; ox < ox1; ox++) {
        const AvgWindow a = AvgWin(g, oy, ox, cip, divisor);
        if (iy < a.y0 || iy >= a.y1 || ix < a.x0 || ix >= a.x1) continue;
        acc += Load<C>(gp[oy * g.ow + ox]) / static_cast<C>(a.div);
      }
    gx[t] = Store<T>(acc);
  }
}

__device__ __forceinline__ int64_t StartIndex(int64_t o, int64_t out, int64_t in) { return o * in / out; }
__device__ __forceinline__ int64_t EndIndex(int64_t o, int64_t out, int64_t in) { return ((o + 1) * in + out - 1) / out; }

template <class T>
__global__ void AdaptiveAvgK(PoolGeom g, T* out, const T* x) {
  using C = Compute<T>;
  const int64_t L = g.oh * g.ow, n = g.planes * L;
  for (int64_t t = GlobalId(); t < n; t += GlobalStride()) {
    const int64_t ox = t % g.ow, r = t / g.ow, oy = r % g.oh, p = r / g.oh;
    const int64_t y0 = StartIndex(oy, g.oh, g.h), y1 = EndIndex(oy, g.oh, g.h);
    const int64_t x0 = StartIndex(ox, g.ow, g.w), x1 = EndIndex(ox, g.ow, g.w);
    const T* xp = x + p * g.h * g.w;
    C s = 0;
    for (int64_t iy = y0; iy < y1; iy++)
      for (int64_t ix = x0; ix < x1; ix++) s += Load<C>(xp[iy * g.w + ix]);
    out[t] = Store<T>(s / static_cast<C>((y1 - y0) * (x1 - x0)));
  }
}

// Input row iy lies in the windows of outputs [floor(iy*oh/h), ceil((iy+1)*oh/h)): the same
// start/end formulas with input and output swapped.
template <class T>
__global__ void AdaptiveAvgBackwardK(PoolGeom g, T* gx, const T* gout) {
  using C = Compute<T>;
  const int64_t n = g.planes * g.h * g.w;
  for (int64_t t = GlobalId(); t < n; t += GlobalStride()) {
    const int64_t ix = t % g.w, r = t / g.w, iy = r % g.h, p = r / g.h;
    const int64_t oy0 = StartIndex(iy, g.h, g.oh), oy1 = EndIndex(iy, g.h, g.oh);
    const int64_t ox0 = StartIndex(ix, g.w, g.ow), ox1 = EndIndex(ix, g.w, g.ow);
    const T* gp = gout + p * g.oh * g.ow;
    C acc = Load<C>(gx[t]);
    for (int64_t oy = oy0; oy < oy1; oy++) {
      const int64_t hy = EndIndex(oy, g.oh, g.h) - StartIndex(oy, g.oh, g.h);
      for (int64_t ox = ox0; ox < ox1; ox++) {
        const int64_t wx = EndIndex(ox, g.ow, g.w) - StartIndex(ox, g.ow, g.w);
        acc += Load<C>(gp[oy * g.ow + ox]) / static_cast<C>(hy * wx);
      }
    }
    gx[t] = Store<T>(acc);
  }
}

}  // namespace

void CudaMaxPool2d(DType dt, const PoolGeom& g, void* out, int64_t* indices, const void* x, Stream s) {
  const int64_t n = g.planes * g.oh * g.ow;
  if (n == 0) return;
  NN_DISPATCH_DEV_FLOAT(dt, {
    MaxPoolK<T><<<GridFor(n), kThreads, 0, s>>>(g, static_cast<T*>(out), indices, static_cast<const T*>(x));
    NN_CUDA_CHECK_LAUNCH("MaxPoolK");
  });
}

void CudaMaxPool2dBackward(DType dt, const PoolGeom& g, void* gx, const void* gout, const int64_t* indices, Stream s) {
  const int64_t n = g.planes * g.oh * g.ow;
  if (n == 0) return;
  NN_DISPATCH_DEV_FLOAT(dt, {
    MaxPoolBackwardK<T><<<GridFor(n), kThreads, 0, s>>>(g, static_cast<T*>(gx), static_cast<const T*>(gout), indices);
    NN_CUDA_CHECK_LAUNCH("MaxPoolBackwardK");
  });
}

void CudaAvgPool2d(DType dt, const PoolGeom& g, void* out, const void* x, bool cip, int64_t divisor, Stream s) {
  const int64_t n = g.planes * g.oh * g.ow;
  if (n == 0) return;
  NN_DISPATCH_DEV_FLOAT(dt, {
    AvgPoolK<T><<<GridFor(n), kThreads, 0, s>>>(g, static_cast<T*>(out), static_cast<const T*>(x), cip, divisor);
    NN_CUDA_CHECK_LAUNCH("AvgPoolK");
  });
}

void CudaAvgPool2dBackward(DType dt, const PoolGeom& g, void* gx, const void* gout, bool cip, int64_t divisor,
                           Stream s) {
  const int64_t n = g.planes * g.h * g.w;
  if (n == 0) return;
  NN_DISPATCH_DEV_FLOAT(dt, {
    AvgPoolBackwardK<T><<<GridFor(n), kThreads, 0, s>>>(g, static_cast<T*>(gx), static_cast<const T*>(gout), cip,
                                                        divisor);
    NN_CUDA_CHECK_LAUNCH("AvgPoolBackwardK");
  });
}

void CudaAdaptiveAvgPool2d(DType dt, const PoolGeom& g, void* out, const void* x, Stream s) {
  const int64_t n = g.planes * g.oh * g.ow;
  if (n == 0) return;
  NN_DISPATCH_DEV_FLOAT(dt, {
    AdaptiveAvgK<T><<<GridFor(n), kThreads, 0, s>>>(g, static_cast<T*>(out), static_cast<const T*>(x));
    NN_CUDA_CHECK_LAUNCH("AdaptiveAvgK");
  });
}

void CudaAdaptiveAvgPool2dBackward(DType dt, const PoolGeom& g, void* gx, const void* gout, Stream s) {
  const int64_t n = g.planes * g.h * g.w;
  if (n == 0) return;
  NN_DISPATCH_DEV_FLOAT(dt, {
    AdaptiveAvgBackwardK<T><<<GridFor(n), kThreads, 0, s>>>(g, static_cast<T*>(gx), static_cast<const T*>(gout));
    NN_CUDA_CHECK_LAUNCH("AdaptiveAvgBackwardK");
  });
}

}  // namespace k
}  // namespace nn
