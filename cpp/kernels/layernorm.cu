// CUDA LayerNorm: forward with one block per row (two passes: mean, then the centered variance),
// or, for few rows of huge length, several blocks per row (per-chunk count/mean/M2 partials into
// scratch, combined by every chunk with Chan's formula before it writes);
// backward gradX with one block per row, gradWeight/gradBias with one thread per column summing
// over rows (coalesced). Statistics, and the saved mean and rstd, in float (double for float64).
#include "cuda_common.cuh"

namespace nn {
namespace k {
namespace {

int RowThreads(int64_t cols) { return cols >= 4096 ? 1024 : cols >= 1024 ? 512 : cols >= 256 ? 256 : 128; }

template <class T>
__global__ void LayerNormK(int64_t cols, T* out, Compute<T>* mean, Compute<T>* rstd, const T* x, const T* w,
                           const T* b, double eps) {
  using C = Compute<T>;
  __shared__ C sh[32];
  const int64_t row = blockIdx.x;
  const T* xr = x + row * cols;
  C sum = 0;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) sum += Load<C>(xr[j]);
  const C mu = BlockSum(sum, sh) / static_cast<C>(cols);
  C sq = 0;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
    const C d = Load<C>(xr[j]) - mu;
    sq += d * d;
  }
  const C var = BlockSum(sq, sh) / static_cast<C>(cols);
  const C rs = C(1) / Sqrt(var + static_cast<C>(eps));
  if (threadIdx.x == 0) {
    mean[row] = mu;
    rstd[row] = rs;
  }
  T* o = out + row * cols;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
    C y = (Load<C>(xr[j]) - mu) * rs;
    if (w) y *= Load<C>(w[j]);
    if (b) y += Load<C>(b[j]);
    o[j] = Store<T>(y);
  }
}

template <class T>
__global__ void LayerNormGradXK(int64_t cols, T* gx, const T* gout, const T* x, const Compute<T>* mean,
                                const Compute<T>* rstd, const T* w) {
  using C = Compute<T>;
  __shared__ C sh[32];
  const int64_t row = blockIdx.x, base = row * cols;
  const C mu = mean[row], rs = rstd[row];
  C sg = 0, sgx = 0;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
    const C g = Load<C>(gout[base + j]) * (w ? Load<C>(w[j]) : C(1));
    sg += g;
    sgx += g * (Load<C>(x[base + j]) - mu) * rs;
  }
  sg = BlockSum(sg, sh);
  sgx = BlockSum(sgx, sh);
  const C inv = C(1) / static_cast<C>(cols);
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
    const C g = Load<C>(gout[base + j]) * (w ? Load<C>(w[j]) : C(1));
    const C xh = (Load<C>(x[base + j]) - mu) * rs;
    gx[base + j] = Store<T>(rs * (g - sg * inv - xh * sgx * inv));
  }
}

template <class T>
__global__ void LayerNormGradWBK(int64_t rows, int64_t cols, T* gw, T* gb, const T* gout, const T* x,
                                 const Compute<T>* mean, const Compute<T>* rstd) {
  using C = Compute<T>;
  for (int64_t j = GlobalId(); j < cols; j += GlobalStride()) {
    C aw = 0, ab = 0;
    for (int64_t r = 0; r < rows; r++) {
      const C g = Load<C>(gout[r * cols + j]);
      aw += g * (Load<C>(x[r * cols + j]) - mean[r]) * rstd[r];
      ab += g;
    }
    if (gw) gw[j] = Store<T>(aw);
    if (gb) gb[j] = Store<T>(ab);
  }
}

template <class T>
__global__ void LayerNormPartialK(int64_t cols, const T* x, double* partial) {
  using C = Compute<T>;
  __shared__ C sh[32];
  const int64_t row = blockIdx.y, chunk = blockIdx.x, chunks = gridDim.x;
  const int64_t start = chunk * kSplitChunk, end = min(cols, start + kSplitChunk);
  const T* xr = x + row * cols;
  C sum = 0;
  for (int64_t j = start + threadIdx.x; j < end; j += blockDim.x) sum += Load<C>(xr[j]);
  const C mu = BlockSum(sum, sh) / static_cast<C>(end - start);
  C sq = 0;
  for (int64_t j = start + threadIdx.x; j < end; j += blockDim.x) {
    const C d = Load<C>(xr[j]) - mu;
    sq += d * d;
  }
  sq = BlockSum(sq, sh);
  if (threadIdx.x == 0) {
    partial[(row * chunks + chunk) * 2] = static_cast<double>(mu);
    partial[(row * chunks + chunk) * 2 + 1] = static_cast<double>(sq);
  }
}

template <class T>
__global__ void LayerNormApplyK(int64_t cols, T* out, Compute<T>* mean, Compute<T>* rstd, const T* x, const T* w,
                                const T* b, double eps, const double* partial) {
  using C = Compute<T>;
  __shared__ C sh[32];
  const int64_t row = blockIdx.y, chunk = blockIdx.x, chunks = gridDim.x;
  const double* p = partial + row * chunks * 2;
  auto count = [&](int64_t c) { return static_cast<C>(min(cols, (c + 1) * kSplitChunk) - c * kSplitChunk); };
  C sum = 0;
  for (int64_t c = threadIdx.x; c < chunks; c += blockDim.x) sum += static_cast<C>(p[c * 2]) * count(c);
  const C mu = BlockSum(sum, sh) / static_cast<C>(cols);
  C m2 = 0;  // Chan et al.: M2 = sum(M2_c + n_c (mean_c - mean)^2)
  for (int64_t c = threadIdx.x; c < chunks; c += blockDim.x) {
    const C d = static_cast<C>(p[c * 2]) - mu;
    m2 += static_cast<C>(p[c * 2 + 1]) + count(c) * d * d;
  }
  const C var = BlockSum(m2, sh) / static_cast<C>(cols);
  const C rs = C(1) / Sqrt(var + static_cast<C>(eps));
  if (chunk == 0 && threadIdx.x == 0) {
    mean[row] = mu;
    rstd[row] = rs;
  }
  const int64_t start = chunk * kSplitChunk, end = min(cols, start + kSplitChunk);
  const T* xr = x + row * cols;
  T* o = out + row * cols;
  for (int64_t j = start + threadIdx.x; j < end; j += blockDim.x) {
    C y = (Load<C>(xr[j]) - mu) * rs;
    if (w) y *= Load<C>(w[j]);
    if (b) y += Load<C>(b[j]);
    o[j] = Store<T>(y);
  }
}

}  // namespace

size_t CudaLayerNormScratch(int64_t rows, int64_t cols) {
  if (!SplitRows(rows, cols)) return 0;
  return static_cast<size_t>(rows * SplitChunks(cols)) * 2 * sizeof(double);
}

void CudaLayerNorm(DType dt, int64_t rows, int64_t cols, void* out, void* meanv, void* rstdv, const void* x,
                   const void* w, const void* b, double eps, void* scratch, Stream s) {
  NN_DISPATCH_DEV_FLOAT(dt, {
    auto* mean = static_cast<Compute<T>*>(meanv);
    auto* rstd = static_cast<Compute<T>*>(rstdv);
    if (scratch) {
      const dim3 grid(static_cast<unsigned>(SplitChunks(cols)), static_cast<unsigned>(rows));
      double* partial = static_cast<double*>(scratch);
      LayerNormPartialK<T><<<grid, 512, 0, s>>>(cols, static_cast<const T*>(x), partial);
      NN_CUDA_CHECK_LAUNCH("LayerNormPartialK");
      LayerNormApplyK<T><<<grid, 512, 0, s>>>(cols, static_cast<T*>(out), mean, rstd, static_cast<const T*>(x),
                                              static_cast<const T*>(w), static_cast<const T*>(b), eps, partial);
      NN_CUDA_CHECK_LAUNCH("LayerNormApplyK");
    } else {
      LayerNormK<T><<<static_cast<unsigned>(rows), RowThreads(cols), 0, s>>>(
          cols, static_cast<T*>(out), mean, rstd, static_cast<const T*>(x), static_cast<const T*>(w),
          static_cast<const T*>(b), eps);
      NN_CUDA_CHECK_LAUNCH("LayerNormK");
    }
  });
}

void CudaLayerNormBackward(DType dt, int64_t rows, int64_t cols, void* gx, void* gw, void* gb, const void* gout,
                           const void* x, const void* meanv, const void* rstdv, const void* w, Stream s) {
  NN_DISPATCH_DEV_FLOAT(dt, {
    const auto* mean = static_cast<const Compute<T>*>(meanv);
    const auto* rstd = static_cast<const Compute<T>*>(rstdv);
    if (rows > 0) {
      LayerNormGradXK<T><<<static_cast<unsigned>(rows), RowThreads(cols), 0, s>>>(
          cols, static_cast<T*>(gx), static_cast<const T*>(gout), static_cast<const T*>(x), mean, rstd,
          static_cast<const T*>(w));
      NN_CUDA_CHECK_LAUNCH("LayerNormGradXK");
    }
    if (gw || gb) {
      LayerNormGradWBK<T><<<GridFor(cols), kThreads, 0, s>>>(rows, cols, static_cast<T*>(gw), static_cast<T*>(gb),
                                                             static_cast<const T*>(gout), static_cast<const T*>(x),
                                                             mean, rstd);
      NN_CUDA_CHECK_LAUNCH("LayerNormGradWBK");
    }
  });
}

}  // namespace k
}  // namespace nn
