// CUDA LayerNorm: forward with a block per row (a grid that fills the device, each block looping
// over rows; two passes: mean, then the centered variance), or, for few rows of huge length,
// several blocks per row (per-chunk count/mean/M2 partials into scratch, combined by every chunk
// with Chan's formula before it writes); backward gradX with a block per row likewise;
// gradWeight/gradBias as a column reduction over rows (coalesced): where one thread per column
// would not fill the device (few columns, many rows), in two stages, partial sums per row chunk
// into scratch then a sum over the chunks. Statistics, and the saved mean and rstd, in float
// (double for float64).
#include "cuda_common.cuh"

namespace nn {
namespace k {
namespace {

int RowThreads(int64_t cols) { return cols >= 4096 ? 1024 : cols >= 1024 ? 512 : cols >= 256 ? 256 : 128; }

template <class T>
__global__ void LayerNormK(int64_t rows, int64_t cols, T* out, Compute<T>* mean, Compute<T>* rstd, const T* x,
                           const T* w, const T* b, double eps) {
  using C = Compute<T>;
  __shared__ C sh[32];
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
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
}

template <class T>
__global__ void LayerNormGradXK(int64_t rows, int64_t cols, T* gx, const T* gout, const T* x, const Compute<T>* mean,
                                const Compute<T>* rstd, const T* w) {
  using C = Compute<T>;
  __shared__ C sh[32];
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const int64_t base = row * cols;
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
}

// gradWeight/gradBias partials: thread (chunk c, column j) sums rows [c*len, (c+1)*len) of column
// j; with one chunk it writes the results, else the partials (weight, bias) into `partial`.
template <class T>
__global__ void LayerNormGradWBK(int64_t rows, int64_t cols, int64_t chunks, T* gw, T* gb, const T* gout, const T* x,
                                 const Compute<T>* mean, const Compute<T>* rstd, Compute<T>* partial) {
  using C = Compute<T>;
  const int64_t len = (rows + chunks - 1) / chunks;
  for (int64_t t = GlobalId(); t < cols * chunks; t += GlobalStride()) {
    const int64_t c = t / cols, j = t - c * cols;
    const int64_t r0 = c * len, r1 = min(rows, r0 + len);
    C aw = 0, ab = 0;
    for (int64_t r = r0; r < r1; r++) {
      const C g = Load<C>(gout[r * cols + j]);
      aw += g * (Load<C>(x[r * cols + j]) - mean[r]) * rstd[r];
      ab += g;
    }
    if (chunks == 1) {
      if (gw) gw[j] = Store<T>(aw);
      if (gb) gb[j] = Store<T>(ab);
    } else {
      partial[(c * cols + j) * 2] = aw;
      partial[(c * cols + j) * 2 + 1] = ab;
    }
  }
}

// Second stage: each column's partials summed over the chunks, in chunk order.
template <class T>
__global__ void LayerNormGradWBCombineK(int64_t cols, int64_t chunks, T* gw, T* gb, const Compute<T>* partial) {
  using C = Compute<T>;
  for (int64_t j = GlobalId(); j < cols; j += GlobalStride()) {
    C aw = 0, ab = 0;
    for (int64_t c = 0; c < chunks; c++) {
      aw += partial[(c * cols + j) * 2];
      ab += partial[(c * cols + j) * 2 + 1];
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
      LayerNormK<T><<<RowGrid(rows), RowThreads(cols), 0, s>>>(
          rows, cols, static_cast<T*>(out), mean, rstd, static_cast<const T*>(x), static_cast<const T*>(w),
          static_cast<const T*>(b), eps);
      NN_CUDA_CHECK_LAUNCH("LayerNormK");
    }
  });
}

size_t CudaLayerNormBackwardScratch(int64_t rows, int64_t cols) {
  const int64_t chunks = ColumnChunks(cols, rows);
  return chunks > 1 ? static_cast<size_t>(chunks * cols) * 2 * sizeof(double) : 0;
}

void CudaLayerNormBackward(DType dt, int64_t rows, int64_t cols, void* gx, void* gw, void* gb, const void* gout,
                           const void* x, const void* meanv, const void* rstdv, const void* w, void* scratch, Stream s) {
  NN_DISPATCH_DEV_FLOAT(dt, {
    const auto* mean = static_cast<const Compute<T>*>(meanv);
    const auto* rstd = static_cast<const Compute<T>*>(rstdv);
    if (rows > 0) {
      LayerNormGradXK<T><<<RowGrid(rows), RowThreads(cols), 0, s>>>(
          rows, cols, static_cast<T*>(gx), static_cast<const T*>(gout), static_cast<const T*>(x), mean, rstd,
          static_cast<const T*>(w));
      NN_CUDA_CHECK_LAUNCH("LayerNormGradXK");
    }
    if (gw || gb) {
      // The caller sized scratch with CudaLayerNormBackwardScratch: no scratch, one stage.
      const int64_t chunks = scratch ? ColumnChunks(cols, rows) : 1;
      auto* partial = static_cast<Compute<T>*>(scratch);
      LayerNormGradWBK<T><<<GridFor(cols * chunks), kThreads, 0, s>>>(rows, cols, chunks, static_cast<T*>(gw),
                                                                      static_cast<T*>(gb), static_cast<const T*>(gout),
                                                                      static_cast<const T*>(x), mean, rstd, partial);
      NN_CUDA_CHECK_LAUNCH("LayerNormGradWBK");
      if (chunks > 1) {
        LayerNormGradWBCombineK<T><<<GridFor(cols), kThreads, 0, s>>>(cols, chunks, static_cast<T*>(gw),
                                                                      static_cast<T*>(gb), partial);
        NN_CUDA_CHECK_LAUNCH("LayerNormGradWBCombineK");
      }
    }
  });
}

}  // namespace k
}  // namespace nn
