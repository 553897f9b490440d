// CUDA im2col / col2im for the convolution (cpp/conv.cc runs them around cuBLAS GEMMs). im2col:
// one thread per col element (a gather from the input, 0 in the padding); col2im: one thread per
// input element summing, in the compute type, the col entries its kernel taps produced, so the
// input gradient needs no atomics and is deterministic. Same meanings as the host twins
// (cpp/kernels/conv.cc).
#include "cuda_common.cuh"

namespace nn {
namespace k {
namespace {

template <class T>
__global__ void Im2colK(ConvGeom g, int64_t nb, const T* x, T* col, int64_t sN, int64_t sK) {
  const int64_t L = g.oh * g.ow, K = g.c * g.kh * g.kw, n = nb * K * L;
  for (int64_t t = GlobalId(); t < n; t += GlobalStride()) {
    const int64_t l = t % L, r = t / L, kk = r % K, i = r / K;
    const int64_t ox = l % g.ow, oy = l / g.ow;
    const int64_t kj = kk % g.kw, q = kk / g.kw, ki = q % g.kh, c = q / g.kh;
    const int64_t iy = oy * g.strideH - g.padH + ki * g.dilH, ix = ox * g.strideW - g.padW + kj * g.dilW;
    T v = Store<T>(Compute<T>(0));
    if (iy >= 0 && iy < g.h && ix >= 0 && ix < g.w) v = x[((i * g.c + c) * g.h + iy) * g.w + ix];
    col[i * sN + kk * sK + l] = v;
  }
}

template <class T>
__global__ void Col2imK(ConvGeom g, int64_t nb, const T* col, int64_t sN, int64_t sK, T* gx) {
  using C = Compute<T>;
  const int64_t n = nb * g.c * g.h * g.w;
  for (int64_t t = GlobalId(); t < n; t += GlobalStride()) {
    const int64_t ix = t % g.w, r = t / g.w, iy = r % g.h, r2 = r / g.h, c = r2 % g.c, i = r2 / g.c;
    C acc = 0;
    for (int64_t ki = 0; ki < g.kh; ki++) {
      const int64_t ty = iy + g.padH - ki * g.dilH;
      if (ty < 0 || ty % g.strideH != 0) continue;
      const int64_t oy = ty / g.strideH;
      if (oy >= g.oh) continue;
      for (int64_t kj = 0; kj < g.kw; kj++) {
        const int64_t tx = ix + g.padW - kj * g.dilW;
        if (tx < 0 || tx % g.strideW != 0) continue;
        const int64_t ox = tx / g.strideW;
        if (ox >= g.ow) continue;
        acc += Load<C>(col[i * sN + ((c * g.kh + ki) * g.kw + kj) * sK + oy * g.ow + ox]);
      }
    }
    gx[t] = Store<T>(acc);
  }
}

}  // namespace

void CudaIm2col(DType dt, const ConvGeom& g, int64_t nb, const void* x, void* col, int64_t sN, int64_t sK, Stream s) {
  const int64_t n = nb * g.c * g.kh * g.kw * g.oh * g.ow;
  if (n == 0) return;
  NN_DISPATCH_DEV_FLOAT(dt, {
    Im2colK<T><<<GridFor(n), kThreads, 0, s>>>(g, nb, static_cast<const T*>(x), static_cast<T*>(col), sN, sK);
    NN_CUDA_CHECK_LAUNCH("Im2colK");
  });
}

void CudaCol2im(DType dt, const ConvGeom& g, int64_t nb, const void* col, int64_t sN, int64_t sK, void* gx, Stream s) {
  const int64_t n = nb * g.c * g.h * g.w;
  if (n == 0) return;
  NN_DISPATCH_DEV_FLOAT(dt, {
    Col2imK<T><<<GridFor(n), kThreads, 0, s>>>(g, nb, static_cast<const T*>(col), sN, sK, static_cast<T*>(gx));
    NN_CUDA_CHECK_LAUNCH("Col2imK");
  });
}

}  // namespace k
}  // namespace nn
