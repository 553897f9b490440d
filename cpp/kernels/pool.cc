// Host 2-D pooling over contiguous [h, w] planes, with PyTorch's CPU rules (aten/native/cpu
// MaxPoolKernel.cpp, AvgPoolKernel.cpp, AdaptiveAvgPoolKernel.cpp): windows start at
// o*stride - pad; max pooling steps by the dilation and lets NaN win; average pooling clips the
// window to the padded input for the count_include_pad divisor and to the input for the sum.
// Planes are split over IntraOpThreads() workers when the work pays for them.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <limits>
#include <vector>

#include "kernels.h"
#include "parallel.h"

namespace nn {
namespace k {
namespace {

template <class C>
bool IsNan(C v) {
  return v != v;
}

// take ? a : b through bit masks: GCC turns a ternary on floats back into a branch, which random
// data mispredicts half the time (max pooling's inner loop).
template <class C>
C Select(bool take, C a, C b) {
  using U = typename std::conditional<sizeof(C) == 4, uint32_t, uint64_t>::type;
  U ua, ub;
  std::memcpy(&ua, &a, sizeof a);
  std::memcpy(&ub, &b, sizeof b);
  const U mask = U(0) - static_cast<U>(take);
  const U r = (ua & mask) | (ub & ~mask);
  C out;
  std::memcpy(&out, &r, sizeof out);
  return out;
}

// The first and end input index of each output's window along one dim, the first advanced past
// the padding by whole dilation steps (torch's while (start < 0) start += dilation).
void WindowStarts(int64_t out, int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dil, std::vector<int64_t>& lo,
                  std::vector<int64_t>& hi) {
  lo.resize(static_cast<size_t>(out));
  hi.resize(static_cast<size_t>(out));
  for (int64_t o = 0; o < out; o++) {
    int64_t a = o * stride - pad;
    hi[o] = std::min(a + (k - 1) * dil + 1, in);
    if (a < 0) a += (-a + dil - 1) / dil * dil;
    lo[o] = a;
  }
}

// Output positions o whose window holds input position o*stride - pad + tap: [lo, hi).
void TapRange(int64_t out, int64_t in, int64_t stride, int64_t pad, int64_t tap, int64_t* lo, int64_t* hi) {
  const int64_t off = tap - pad;
  const int64_t a = off >= 0 ? 0 : (-off + stride - 1) / stride;
  const int64_t b = in - 1 - off < 0 ? 0 : (in - 1 - off) / stride + 1;
  *lo = std::min(a, out);
  *hi = std::max(*lo, std::min(b, out));
}

// Each output row is computed tap by tap over all its outputs (the window's taps in row-major
// order, so the first maximum wins and NaN wins, as torch's loop over the window): the inner loop
// over outputs carries no dependency, unlike a loop over one window.
template <class T>
void MaxPool(const PoolGeom& g, T* out, int64_t* indices, const T* x) {
  using C = Compute<T>;
  const int64_t HW = g.h * g.w, L = g.oh * g.ow;
  std::vector<int64_t> ylo, yhi, xlo, xhi, xfirst(static_cast<size_t>(g.ow));
  WindowStarts(g.oh, g.h, g.kh, g.strideH, g.padH, g.dilH, ylo, yhi);
  WindowStarts(g.ow, g.w, g.kw, g.strideW, g.padW, g.dilW, xlo, xhi);
  std::vector<int64_t> tapLo(static_cast<size_t>(g.kw)), tapHi(static_cast<size_t>(g.kw));
  for (int64_t kj = 0; kj < g.kw; kj++) TapRange(g.ow, g.w, g.strideW, g.padW, kj * g.dilW, &tapLo[kj], &tapHi[kj]);
  const int parts = ThreadsFor(g.planes, double(g.planes) * L * g.kh * g.kw);
  std::vector<std::vector<C>> maxes(parts);
  for (auto& m : maxes) m.resize(static_cast<size_t>(g.ow));
  const int64_t W = g.w, sw = g.strideW, kw = g.kw, dilW = g.dilW, padW = g.padW;
  ParallelParts(g.planes, parts, [&](int part, int64_t p0, int64_t p1) {
    C* m = maxes[part].data();
    for (int64_t p = p0; p < p1; p++) {
      const T* xp = x + p * HW;
      for (int64_t oy = 0; oy < g.oh; oy++) {
        T* orow = out + p * L + oy * g.ow;
        int64_t* irow = indices + p * L + oy * g.ow;
        for (int64_t ox = 0; ox < g.ow; ox++) {
          m[ox] = -std::numeric_limits<C>::infinity();
          irow[ox] = ylo[oy] * g.w + xlo[ox];
        }
        for (int64_t iy = ylo[oy]; iy < yhi[oy]; iy += g.dilH) {
          const T* row = xp + iy * g.w;
          const int64_t base = iy * W;
          for (int64_t kj = 0; kj < kw; kj++) {
            const int64_t off = kj * dilW - padW, lo = tapLo[kj], hi = tapHi[kj];
            for (int64_t ox = lo; ox < hi; ox++) {  // locals only: the stores below may alias g
              const int64_t ix = ox * sw + off;
              const C v = Load<C>(row[ix]);
              const bool take = (v > m[ox]) | IsNan(v);
              m[ox] = Select(take, v, m[ox]);
              irow[ox] += (base + ix - irow[ox]) & -static_cast<int64_t>(take);
            }
          }
        }
        for (int64_t ox = 0; ox < g.ow; ox++) orow[ox] = Store<T>(m[ox]);
      }
    }
  });
}

template <class T>
void MaxPoolBackward(const PoolGeom& g, T* gx, const T* gout, const int64_t* indices) {
  using C = Compute<T>;
  const int64_t HW = g.h * g.w, L = g.oh * g.ow;
  const int parts = ThreadsFor(g.planes, double(g.planes) * (L + HW));
  std::vector<std::vector<C>> accs(parts);
  for (auto& a : accs) a.resize(static_cast<size_t>(HW));
  ParallelParts(g.planes, parts, [&](int part, int64_t p0, int64_t p1) {
    C* acc = accs[part].data();
    for (int64_t p = p0; p < p1; p++) {
      T* gp = gx + p * HW;
      for (int64_t i = 0; i < HW; i++) acc[i] = Load<C>(gp[i]);
      for (int64_t o = 0; o < L; o++) {
        const int64_t idx = indices[p * L + o];
        if (idx >= 0 && idx < HW) acc[idx] += Load<C>(gout[p * L + o]);  // others: not from maxPool2d
      }
      for (int64_t i = 0; i < HW; i++) gp[i] = Store<T>(acc[i]);
    }
  });
}

// The window of output (oy, ox) for average pooling: clipped bounds and its divisor.
struct AvgWindow {
  int64_t y0, y1, x0, x1, div;
};
inline AvgWindow AvgWin(const PoolGeom& g, int64_t oy, int64_t ox, bool countIncludePad, int64_t divisor) {
  AvgWindow a;
  a.y0 = oy * g.strideH - g.padH;
  a.x0 = ox * g.strideW - g.padW;
  a.y1 = std::min(a.y0 + g.kh, g.h + g.padH);
  a.x1 = std::min(a.x0 + g.kw, g.w + g.padW);
  const int64_t poolSize = (a.y1 - a.y0) * (a.x1 - a.x0);
  a.y0 = std::max<int64_t>(a.y0, 0);
  a.x0 = std::max<int64_t>(a.x0, 0);
  a.y1 = std::min(a.y1, g.h);
  a.x1 = std::min(a.x1, g.w);
  a.div = divisor > 0 ? divisor : countIncludePad ? poolSize : (a.y1 - a.y0) * (a.x1 - a.x0);
  return a;
}

template <class T>
void AvgPool(const PoolGeom& g, T* out, const T* x, bool cip, int64_t divisor) {
  using C = Compute<T>;
  const int64_t HW = g.h * g.w, L = g.oh * g.ow;
  ParallelParts(g.planes, ThreadsFor(g.planes, double(g.planes) * L * g.kh * g.kw), [&](int, int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; p++) {
      const T* xp = x + p * HW;
      for (int64_t oy = 0; oy < g.oh; oy++)
        for (int64_t ox = 0; ox < g.ow; ox++) {
          const AvgWindow a = AvgWin(g, oy, ox, cip, divisor);
          C s = 0;
          if (a.y0 < a.y1 && a.x0 < a.x1) {
            for (int64_t iy = a.y0; iy < a.y1; iy++)
              for (int64_t ix = a.x0; ix < a.x1; ix++) s += Load<C>(xp[iy * g.w + ix]);
            s /= static_cast<C>(a.div);
          }
          out[p * L + oy * g.ow + ox] = Store<T>(s);
        }
    }
  });
}

template <class T>
void AvgPoolBackward(const PoolGeom& g, T* gx, const T* gout, bool cip, int64_t divisor) {
  using C = Compute<T>;
  const int64_t HW = g.h * g.w, L = g.oh * g.ow;
  std::vector<std::vector<C>> accs;
  const int parts = ThreadsFor(g.planes, double(g.planes) * L * g.kh * g.kw);
  accs.resize(parts);
  for (auto& a : accs) a.resize(static_cast<size_t>(HW));
  ParallelParts(g.planes, parts, [&](int part, int64_t p0, int64_t p1) {
    C* acc = accs[part].data();
    for (int64_t p = p0; p < p1; p++) {
      std::fill(acc, acc + HW, C(0));
      for (int64_t oy = 0; oy < g.oh; oy++)
        for (int64_t ox = 0; ox < g.ow; ox++) {
          const AvgWindow a = AvgWin(g, oy, ox, cip, divisor);
          if (!(a.y0 < a.y1 && a.x0 < a.x1)) continue;
          const C v = Load<C>(gout[p * L + oy * g.ow + ox]) / static_cast<C>(a.div);
          for (int64_t iy = a.y0; iy < a.y1; iy++)
            for (int64_t ix = a.x0; ix < a.x1; ix++) acc[iy * g.w + ix] += v;
        }
      T* gp = gx + p * HW;
      for (int64_t i = 0; i < HW; i++) gp[i] = Store<T>(acc[i]);
    }
  });
}

inline int64_t StartIndex(int64_t o, int64_t out, int64_t in) { return o * in / out; }
inline int64_t EndIndex(int64_t o, int64_t out, int64_t in) { return ((o + 1) * in + out - 1) / out; }

template <class T>
void AdaptiveAvg(const PoolGeom& g, T* out, const T* x) {
  using C = Compute<T>;
  const int64_t HW = g.h * g.w, L = g.oh * g.ow;
  ParallelParts(g.planes, ThreadsFor(g.planes, double(g.planes) * HW), [&](int, int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; p++) {
      const T* xp = x + p * HW;
      for (int64_t oy = 0; oy < g.oh; oy++) {
        const int64_t y0 = StartIndex(oy, g.oh, g.h), y1 = EndIndex(oy, g.oh, g.h);
        for (int64_t ox = 0; ox < g.ow; ox++) {
          const int64_t x0 = StartIndex(ox, g.ow, g.w), x1 = EndIndex(ox, g.ow, g.w);
          C s = 0;
          for (int64_t iy = y0; iy < y1; iy++)
            for (int64_t ix = x0; ix < x1; ix++) s += Load<C>(xp[iy * g.w + ix]);
          out[p * L + oy * g.ow + ox] = Store<T>(s / static_cast<C>((y1 - y0) * (x1 - x0)));
        }
      }
    }
  });
}

template <class T>
void AdaptiveAvgBackward(const PoolGeom& g, T* gx, const T* gout) {
  using C = Compute<T>;
  const int64_t HW = g.h * g.w, L = g.oh * g.ow;
  const int parts = ThreadsFor(g.planes, double(g.planes) * HW);
  std::vector<std::vector<C>> accs(parts);
  for (auto& a : accs) a.resize(static_cast<size_t>(HW));
  ParallelParts(g.planes, parts, [&](int part, int64_t p0, int64_t p1) {
    C* acc = accs[part].data();
    for (int64_t p = p0; p < p1; p++) {
      T* gp = gx + p * HW;
      for (int64_t i = 0; i < HW; i++) acc[i] = Load<C>(gp[i]);
      for (int64_t oy = 0; oy < g.oh; oy++) {
        const int64_t y0 = StartIndex(oy, g.oh, g.h), y1 = EndIndex(oy, g.oh, g.h);
        for (int64_t ox = 0; ox < g.ow; ox++) {
          const int64_t x0 = StartIndex(ox, g.ow, g.w), x1 = EndIndex(ox, g.ow, g.w);
          const C v = Load<C>(gout[p * L + oy * g.ow + ox]) / static_cast<C>((y1 - y0) * (x1 - x0));
          for (int64_t iy = y0; iy < y1; iy++)
            for (int64_t ix = x0; ix < x1; ix++) acc[iy * g.w + ix] += v;
        }
      }
      for (int64_t i = 0; i < HW; i++) gp[i] = Store<T>(acc[i]);
    }
  });
}

}  // namespace

void HostMaxPool2d(DType dt, const PoolGeom& g, void* out, int64_t* indices, const void* x) {
  NN_DISPATCH_HOST_FLOAT(dt, MaxPool<T>(g, static_cast<T*>(out), indices, static_cast<const T*>(x)));
}
void HostMaxPool2dBackward(DType dt, const PoolGeom& g, void* gx, const void* gout, const int64_t* indices) {
  NN_DISPATCH_HOST_FLOAT(dt, MaxPoolBackward<T>(g, static_cast<T*>(gx), static_cast<const T*>(gout), indices));
}
void HostAvgPool2d(DType dt, const PoolGeom& g, void* out, const void* x, bool countIncludePad, int64_t divisor) {
  NN_DISPATCH_HOST_FLOAT(dt, AvgPool<T>(g, static_cast<T*>(out), static_cast<const T*>(x), countIncludePad, divisor));
}
void HostAvgPool2dBackward(DType dt, const PoolGeom& g, void* gx, const void* gout, bool countIncludePad,
                           int64_t divisor) {
  NN_DISPATCH_HOST_FLOAT(dt, AvgPoolBackward<T>(g, static_cast<T*>(gx), static_cast<const T*>(gout), countIncludePad,
                                                divisor));
}
void HostAdaptiveAvgPool2d(DType dt, const PoolGeom& g, void* out, const void* x) {
  NN_DISPATCH_HOST_FLOAT(dt, AdaptiveAvg<T>(g, static_cast<T*>(out), static_cast<const T*>(x)));
}
void HostAdaptiveAvgPool2dBackward(DType dt, const PoolGeom& g, void* gx, const void* gout) {
  NN_DISPATCH_HOST_FLOAT(dt, AdaptiveAvgBackward<T>(g, static_cast<T*>(gx), static_cast<const T*>(gout)));
}

}  // namespace k
}  // namespace nn
