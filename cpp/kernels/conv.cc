// Host 2-D convolution (NCHW) as im2col + GEMM, the way Caffe and PyTorch's slow_conv2d do it:
// each image's input patches become a [c*kh*kw, oh*ow] matrix (im2col) and the convolution of
// group gi is weight[gi] ([outC/groups, c/groups*kh*kw]) @ col[gi]. The input gradient is
// weight^T @ gradOut scattered back through col2im; the weight gradient is the sum over images of
// gradOut @ col^T. Images are split over IntraOpThreads() workers, each with one image's col
// buffer (memory: threads x c*kh*kw*oh*ow elements, whatever the batch); a batch smaller than the
// thread count runs image by image and lets the GEMM use the threads instead. A 1x1 convolution
// with stride 1 and no padding needs no col: the input is its own col. Depthwise convolutions
// (groups == c) use direct loops instead (below).
#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels.h"
#include "parallel.h"

namespace nn {
namespace k {
namespace {

int64_t PatchSize(const ConvGeom& g) { return g.c * g.kh * g.kw; }
int64_t Positions(const ConvGeom& g) { return g.oh * g.ow; }
bool Pointwise(const ConvGeom& g) {
  return g.kh == 1 && g.kw == 1 && g.strideH == 1 && g.strideW == 1 && g.padH == 0 && g.padW == 0 && g.oh == g.h &&
         g.ow == g.w;
}

// The output columns ox whose input column ix = ox*sw - pw + kj*dw lies in [0, w): [lo, hi).
void ValidRange(int64_t out, int64_t in, int64_t stride, int64_t pad, int64_t tap, int64_t* lo, int64_t* hi) {
  const int64_t off = tap - pad;  // ix = ox*stride + off
  int64_t a = off >= 0 ? 0 : (-off + stride - 1) / stride;
  int64_t b = in - 1 - off < 0 ? 0 : (in - 1 - off) / stride + 1;
  *lo = std::min(a, out);
  *hi = std::max(*lo, std::min(b, out));
}

template <class T>
void Im2colImage(const ConvGeom& g, const T* x, T* col, int64_t sK) {
  const T zero = Store<T>(Compute<T>(0));
  for (int64_t c = 0; c < g.c; c++) {
    const T* xc = x + c * g.h * g.w;
    for (int64_t ki = 0; ki < g.kh; ki++) {
      int64_t ylo, yhi;
      ValidRange(g.oh, g.h, g.strideH, g.padH, ki * g.dilH, &ylo, &yhi);
      for (int64_t kj = 0; kj < g.kw; kj++) {
        int64_t xlo, xhi;
        ValidRange(g.ow, g.w, g.strideW, g.padW, kj * g.dilW, &xlo, &xhi);
        T* row = col + ((c * g.kh + ki) * g.kw + kj) * sK;
        const int64_t xoff = kj * g.dilW - g.padW;
        for (int64_t oy = 0; oy < g.oh; oy++) {
          T* r = row + oy * g.ow;
          if (oy < ylo || oy >= yhi) {
            std::fill(r, r + g.ow, zero);
            continue;
          }
          const T* src = xc + (oy * g.strideH - g.padH + ki * g.dilH) * g.w;
          std::fill(r, r + xlo, zero);
          if (g.strideW == 1) {
            if (xhi > xlo) std::memcpy(r + xlo, src + xlo + xoff, static_cast<size_t>(xhi - xlo) * sizeof(T));
          } else {
            for (int64_t ox = xlo; ox < xhi; ox++) r[ox] = src[ox * g.strideW + xoff];
          }
          std::fill(r + xhi, r + g.ow, zero);
        }
      }
    }
  }
}

// gx (one image, [c, h, w]) = col2im(col); accumulates in Acc (T itself for float/double).
template <class T, class Acc>
void Col2imImage(const ConvGeom& g, const T* col, int64_t sK, Acc* gx) {
  std::fill(gx, gx + g.c * g.h * g.w, Acc(0));
  for (int64_t c = 0; c < g.c; c++) {
    Acc* gc = gx + c * g.h * g.w;
    for (int64_t ki = 0; ki < g.kh; ki++) {
      int64_t ylo, yhi;
      ValidRange(g.oh, g.h, g.strideH, g.padH, ki * g.dilH, &ylo, &yhi);
      for (int64_t kj = 0; kj < g.kw; kj++) {
        int64_t xlo, xhi;
        ValidRange(g.ow, g.w, g.strideW, g.padW, kj * g.dilW, &xlo, &xhi);
        const T* row = col + ((c * g.kh + ki) * g.kw + kj) * sK;
        const int64_t xoff = kj * g.dilW - g.padW;
        for (int64_t oy = ylo; oy < yhi; oy++) {
          const T* r = row + oy * g.ow;
          Acc* dst = gc + (oy * g.strideH - g.padH + ki * g.dilH) * g.w + xoff;
          for (int64_t ox = xlo; ox < xhi; ox++) dst[ox * g.strideW] += Load<Acc>(r[ox]);
        }
      }
    }
  }
}

template <class T>
void Col2imInto(const ConvGeom& g, const T* col, int64_t sK, T* gx, std::vector<Compute<T>>& acc) {
  if constexpr (std::is_same<T, Compute<T>>::value) {
    Col2imImage<T, T>(g, col, sK, gx);
  } else {
    const int64_t n = g.c * g.h * g.w;
    acc.resize(static_cast<size_t>(n));
    Col2imImage<T, Compute<T>>(g, col, sK, acc.data());
    for (int64_t i = 0; i < n; i++) gx[i] = Store<T>(acc[i]);
  }
}

GemmArgs Gemm(int64_t m, int64_t n, int64_t k, const void* a, int64_t lda, bool transA, const void* b, int64_t ldb,
              bool transB, void* c, int64_t ldc, double beta, int threads) {
  GemmArgs ga{};
  ga.batch = 1;
  ga.m = m;
  ga.n = n;
  ga.k = k;
  ga.a = a;
  ga.lda = std::max<int64_t>(1, lda);
  ga.transA = transA;
  ga.b = b;
  ga.ldb = std::max<int64_t>(1, ldb);
  ga.transB = transB;
  ga.c = c;
  ga.ldc = std::max<int64_t>(1, ldc);
  ga.alpha = 1;
  ga.beta = beta;
  ga.threads = threads;
  return ga;
}

// The thread plan: `parts` workers over the images, each running GEMMs with `gemmThreads`.
struct Plan {
  int parts, gemmThreads;
};
Plan PlanFor(const ConvGeom& g) {
  const double work = static_cast<double>(g.n) * g.outC * (PatchSize(g) / std::max<int64_t>(1, g.groups)) * Positions(g);
  const int t = ThreadsFor(g.n, work);
  if (t > 1 && g.n >= IntraOpThreads()) return {t, 1};
  return {1, 0};  // a small batch: image by image, the GEMM threads
}

template <class T>
void Forward(DType dt, const ConvGeom& g, T* out, const T* x, const T* w, const T* b) {
  const int64_t K = PatchSize(g), L = Positions(g), Kg = K / g.groups, OCg = g.outC / g.groups;
  const bool pw = Pointwise(g);
  const Plan plan = PlanFor(g);
  std::vector<std::vector<T>> cols(plan.parts);
  if (!pw)
    for (auto& c : cols) c.resize(static_cast<size_t>(K * L));
  ParallelParts(g.n, plan.parts, [&](int part, int64_t i0, int64_t i1) {
    T* col = pw ? nullptr : cols[part].data();
    for (int64_t i = i0; i < i1; i++) {
      const T* xi = x + i * g.c * g.h * g.w;
      T* oi = out + i * g.outC * L;
      if (!pw) Im2colImage(g, xi, col, L);
      const T* cp = pw ? xi : col;
      if (b)
        for (int64_t oc = 0; oc < g.outC; oc++) std::fill(oi + oc * L, oi + (oc + 1) * L, b[oc]);
      for (int64_t gi = 0; gi < g.groups; gi++)
        HostMatmul(dt, Gemm(OCg, L, Kg, w + gi * OCg * Kg, Kg, false, cp + gi * Kg * L, L, false, oi + gi * OCg * L, L,
                            b ? 1.0 : 0.0, plan.gemmThreads));
    }
  });
}

template <class T>
void BackwardInput(DType dt, const ConvGeom& g, T* gx, const T* gout, const T* w) {
  const int64_t K = PatchSize(g), L = Positions(g), Kg = K / g.groups, OCg = g.outC / g.groups;
  const bool pw = Pointwise(g);
  const Plan plan = PlanFor(g);
  std::vector<std::vector<T>> cols(plan.parts);
  std::vector<std::vector<Compute<T>>> accs(plan.parts);
  if (!pw)
    for (auto& c : cols) c.resize(static_cast<size_t>(K * L));
  if (!pw && !std::is_same<T, Compute<T>>::value)
    for (auto& a : accs) a.resize(static_cast<size_t>(g.c * g.h * g.w));
  ParallelParts(g.n, plan.parts, [&](int part, int64_t i0, int64_t i1) {
    T* col = pw ? nullptr : cols[part].data();
    for (int64_t i = i0; i < i1; i++) {
      T* gxi = gx + i * g.c * g.h * g.w;
      const T* gi_ = gout + i * g.outC * L;
      T* cp = pw ? gxi : col;
      for (int64_t gi = 0; gi < g.groups; gi++)
        HostMatmul(dt, Gemm(Kg, L, OCg, w + gi * OCg * Kg, Kg, true, gi_ + gi * OCg * L, L, false, cp + gi * Kg * L, L,
                            0.0, plan.gemmThreads));
      if (!pw) Col2imInto(g, col, L, gxi, accs[part]);
    }
  });
}

template <class T>
void BackwardWeight(DType dt, const ConvGeom& g, T* gw, T* gb, const T* gout, const T* x) {
  using C = Compute<T>;
  constexpr bool direct = std::is_same<T, C>::value;  // accumulate in the GEMM (beta = 1)
  const int64_t K = PatchSize(g), L = Positions(g), Kg = K / g.groups, OCg = g.outC / g.groups, WN = g.outC * Kg;
  const bool pw = Pointwise(g);
  const Plan plan = PlanFor(g);
  std::vector<std::vector<T>> cols(plan.parts), tmps(plan.parts);
  std::vector<std::vector<C>> accs(plan.parts), bias(plan.parts);
  for (int p = 0; p < plan.parts; p++) {
    if (gw && !pw) cols[p].resize(static_cast<size_t>(K * L));
    if (gw) tmps[p].resize(static_cast<size_t>(WN));
    if (gw && !direct) accs[p].assign(static_cast<size_t>(WN), C(0));
    if (gb) bias[p].assign(static_cast<size_t>(g.outC), C(0));
  }
  std::vector<int64_t> done(plan.parts, 0);
  ParallelParts(g.n, plan.parts, [&](int part, int64_t i0, int64_t i1) {
    T* col = gw && !pw ? cols[part].data() : nullptr;
    T* tmp = gw ? tmps[part].data() : nullptr;
    for (int64_t i = i0; i < i1; i++) {
      const T* go = gout + i * g.outC * L;
      if (gb) {
        C* bs = bias[part].data();
        for (int64_t oc = 0; oc < g.outC; oc++) {
          const T* r = go + oc * L;
          C s = 0;
          for (int64_t l = 0; l < L; l++) s += Load<C>(r[l]);
          bs[oc] += s;
        }
      }
      if (!gw) continue;
      const T* xi = x + i * g.c * g.h * g.w;
      if (!pw) Im2colImage(g, xi, col, L);
      const T* cp = pw ? xi : col;
      const double beta = direct && i > i0 ? 1.0 : 0.0;
      for (int64_t gi = 0; gi < g.groups; gi++)
        HostMatmul(dt, Gemm(OCg, Kg, L, go + gi * OCg * L, L, false, cp + gi * Kg * L, L, true, tmp + gi * OCg * Kg, Kg,
                            beta, plan.gemmThreads));
      if constexpr (!direct) {
        C* acc = accs[part].data();
        for (int64_t j = 0; j < WN; j++) acc[j] += Load<C>(tmp[j]);
      }
    }
    done[part] = i1 - i0;
  });
  for (int64_t j = 0; gw && j < WN; j++) {
    C s = 0;
    for (int p = 0; p < plan.parts; p++)
      if (done[p] > 0) s += direct ? Load<C>(tmps[p][j]) : accs[p][j];
    gw[j] = Store<T>(s);
  }
  for (int64_t j = 0; gb && j < g.outC; j++) {
    C s = 0;
    for (int p = 0; p < plan.parts; p++) s += bias[p][j];
    gb[j] = Store<T>(s);
  }
}

// ---- depthwise (groups == c: one input channel per group) ---------------------------------------
// A GEMM per image and group would be [outC/groups x kh*kw] @ [kh*kw x oh*ow], too small to pay for
// its packing; these loops go tap by tap over whole output rows instead (vectorizable, like the
// max pooling), each thread owning whole planes (or, for the weight gradient, whole filters).
bool Depthwise(const ConvGeom& g) { return g.groups > 1 && g.groups == g.c; }

template <class T>
void DepthwiseForward(const ConvGeom& g, T* out, const T* x, const T* w, const T* b) {
  using C = Compute<T>;
  const int64_t L = g.oh * g.ow, HW = g.h * g.w, mult = g.outC / g.c, taps = g.kh * g.kw;
  const int parts = ThreadsFor(g.n * g.outC, double(g.n) * g.outC * L * taps);
  std::vector<std::vector<C>> rows(parts, std::vector<C>(static_cast<size_t>(g.ow)));
  ParallelParts(g.n * g.outC, parts, [&](int part, int64_t p0, int64_t p1) {
    C* acc = rows[part].data();
    for (int64_t p = p0; p < p1; p++) {
      const int64_t n = p / g.outC, oc = p % g.outC;
      const T* xp = x + (n * g.c + oc / mult) * HW;
      const T* wp = w + oc * taps;
      T* op = out + p * L;
      const C bias = b ? Load<C>(b[oc]) : C(0);
      for (int64_t oy = 0; oy < g.oh; oy++) {
        for (int64_t ox = 0; ox < g.ow; ox++) acc[ox] = bias;
        for (int64_t ki = 0; ki < g.kh; ki++) {
          const int64_t iy = oy * g.strideH - g.padH + ki * g.dilH;
          if (iy < 0 || iy >= g.h) continue;
          const T* row = xp + iy * g.w;
          for (int64_t kj = 0; kj < g.kw; kj++) {
            int64_t lo, hi;
            ValidRange(g.ow, g.w, g.strideW, g.padW, kj * g.dilW, &lo, &hi);
            const C wv = Load<C>(wp[ki * g.kw + kj]);
            const int64_t off = kj * g.dilW - g.padW, sw = g.strideW;
            for (int64_t ox = lo; ox < hi; ox++) acc[ox] += wv * Load<C>(row[ox * sw + off]);
          }
        }
        for (int64_t ox = 0; ox < g.ow; ox++) op[oy * g.ow + ox] = Store<T>(acc[ox]);
      }
    }
  });
}

template <class T>
void DepthwiseBackwardInput(const ConvGeom& g, T* gx, const T* gout, const T* w) {
  using C = Compute<T>;
  const int64_t L = g.oh * g.ow, HW = g.h * g.w, mult = g.outC / g.c, taps = g.kh * g.kw;
  const int parts = ThreadsFor(g.n * g.c, double(g.n) * g.outC * L * taps);
  std::vector<std::vector<C>> planes(parts, std::vector<C>(static_cast<size_t>(HW)));
  ParallelParts(g.n * g.c, parts, [&](int part, int64_t p0, int64_t p1) {
    C* acc = planes[part].data();
    for (int64_t p = p0; p < p1; p++) {
      const int64_t n = p / g.c, c = p % g.c;
      std::fill(acc, acc + HW, C(0));
      for (int64_t oc = c * mult; oc < (c + 1) * mult; oc++) {
        const T* gp = gout + (n * g.outC + oc) * L;
        const T* wp = w + oc * taps;
        for (int64_t oy = 0; oy < g.oh; oy++) {
          const T* grow = gp + oy * g.ow;
          for (int64_t ki = 0; ki < g.kh; ki++) {
            const int64_t iy = oy * g.strideH - g.padH + ki * g.dilH;
            if (iy < 0 || iy >= g.h) continue;
            C* arow = acc + iy * g.w;
            for (int64_t kj = 0; kj < g.kw; kj++) {
              int64_t lo, hi;
              ValidRange(g.ow, g.w, g.strideW, g.padW, kj * g.dilW, &lo, &hi);
              const C wv = Load<C>(wp[ki * g.kw + kj]);
              const int64_t off = kj * g.dilW - g.padW, sw = g.strideW;
              for (int64_t ox = lo; ox < hi; ox++) arow[ox * sw + off] += wv * Load<C>(grow[ox]);
            }
          }
        }
      }
      T* dst = gx + p * HW;
      for (int64_t i = 0; i < HW; i++) dst[i] = Store<T>(acc[i]);
    }
  });
}

template <class T>
void DepthwiseBackwardWeight(const ConvGeom& g, T* gw, T* gb, const T* gout, const T* x) {
  using C = Compute<T>;
  const int64_t L = g.oh * g.ow, HW = g.h * g.w, mult = g.outC / g.c, taps = g.kh * g.kw;
  const int parts = ThreadsFor(g.outC, double(g.n) * g.outC * L * taps);
  ParallelParts(g.outC, parts, [&](int, int64_t oc0, int64_t oc1) {
    std::vector<C> acc(static_cast<size_t>(taps));
    for (int64_t oc = oc0; oc < oc1; oc++) {
      std::fill(acc.begin(), acc.end(), C(0));
      C bsum = 0;
      for (int64_t n = 0; n < g.n; n++) {
        const T* gp = gout + (n * g.outC + oc) * L;
        const T* xp = x + (n * g.c + oc / mult) * HW;
        if (gb)
          for (int64_t l = 0; l < L; l++) bsum += Load<C>(gp[l]);
        if (!gw) continue;
        for (int64_t oy = 0; oy < g.oh; oy++) {
          const T* grow = gp + oy * g.ow;
          for (int64_t ki = 0; ki < g.kh; ki++) {
            const int64_t iy = oy * g.strideH - g.padH + ki * g.dilH;
            if (iy < 0 || iy >= g.h) continue;
            const T* row = xp + iy * g.w;
            for (int64_t kj = 0; kj < g.kw; kj++) {
              int64_t lo, hi;
              ValidRange(g.ow, g.w, g.strideW, g.padW, kj * g.dilW, &lo, &hi);
              const int64_t off = kj * g.dilW - g.padW, sw = g.strideW;
              C s = 0;
              for (int64_t ox = lo; ox < hi; ox++) s += Load<C>(grow[ox]) * Load<C>(row[ox * sw + off]);
              acc[ki * g.kw + kj] += s;
            }
          }
        }
      }
      if (gw)
        for (int64_t t = 0; t < taps; t++) gw[oc * taps + t] = Store<T>(acc[t]);
      if (gb) gb[oc] = Store<T>(bsum);
    }
  });
}

}  // namespace

void HostIm2col(DType dt, const ConvGeom& g, int64_t nb, const void* x, void* col, int64_t sN, int64_t sK) {
  NN_DISPATCH_HOST_FLOAT(dt, {
    for (int64_t i = 0; i < nb; i++)
      Im2colImage(g, static_cast<const T*>(x) + i * g.c * g.h * g.w, static_cast<T*>(col) + i * sN, sK);
  });
}

void HostCol2im(DType dt, const ConvGeom& g, int64_t nb, const void* col, int64_t sN, int64_t sK, void* gx) {
  NN_DISPATCH_HOST_FLOAT(dt, {
    std::vector<Compute<T>> acc;
    for (int64_t i = 0; i < nb; i++)
      Col2imInto(g, static_cast<const T*>(col) + i * sN, sK, static_cast<T*>(gx) + i * g.c * g.h * g.w, acc);
  });
}

void HostConv2d(DType dt, const ConvGeom& g, void* out, const void* x, const void* w, const void* b) {
  if (Depthwise(g)) {
    NN_DISPATCH_HOST_FLOAT(dt, DepthwiseForward<T>(g, static_cast<T*>(out), static_cast<const T*>(x),
                                                   static_cast<const T*>(w), static_cast<const T*>(b)));
    return;
  }
  NN_DISPATCH_HOST_FLOAT(dt, Forward<T>(dt, g, static_cast<T*>(out), static_cast<const T*>(x),
                                        static_cast<const T*>(w), static_cast<const T*>(b)));
}

void HostConv2dBackwardInput(DType dt, const ConvGeom& g, void* gx, const void* gout, const void* w) {
  if (Depthwise(g)) {
    NN_DISPATCH_HOST_FLOAT(dt, DepthwiseBackwardInput<T>(g, static_cast<T*>(gx), static_cast<const T*>(gout),
                                                         static_cast<const T*>(w)));
    return;
  }
  NN_DISPATCH_HOST_FLOAT(dt, BackwardInput<T>(dt, g, static_cast<T*>(gx), static_cast<const T*>(gout),
                                              static_cast<const T*>(w)));
}

void HostConv2dBackwardWeight(DType dt, const ConvGeom& g, void* gw, void* gb, const void* gout, const void* x) {
  if (Depthwise(g)) {
    NN_DISPATCH_HOST_FLOAT(dt, DepthwiseBackwardWeight<T>(g, static_cast<T*>(gw), static_cast<T*>(gb),
                                                          static_cast<const T*>(gout), static_cast<const T*>(x)));
    return;
  }
  NN_DISPATCH_HOST_FLOAT(dt, BackwardWeight<T>(dt, g, static_cast<T*>(gw), static_cast<T*>(gb),
                                               static_cast<const T*>(gout), static_cast<const T*>(x)));
}

}  // namespace k
}  // namespace nn
