// CUDA row-wise softmax / log-softmax (and backward): a block per row (a grid that fills the device,
// each block looping over rows), three passes over the row (max, sum of exponentials, write), the
// row staying in L2 between passes. Few rows of huge length are split over several blocks per row
// instead (partial max/sum per chunk into scratch, then every chunk combines its row's partials and
// writes). A chunk whose values are all -inf keeps -inf as its partial max (its sum is 0): only the
// combined max of a row is replaced by 0 when it is -inf, so a row of very negative values next to
// an all -inf chunk keeps its scale. float compute for float32/16-bit, double for float64.
#include "cuda_common.cuh"

namespace nn {
namespace k {
namespace {

int RowThreads(int64_t cols) { return cols >= 4096 ? 1024 : cols >= 1024 ? 512 : cols >= 256 ? 256 : 128; }

template <class T>
__global__ void SoftmaxK(int64_t rows, int64_t cols, T* out, const T* in, bool log) {
  using C = Compute<T>;
  __shared__ C sh[32];
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* x = in + row * cols;
    T* y = out + row * cols;
    C mx = -INFINITY;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) mx = Max(mx, Load<C>(x[j]));
    mx = BlockMax(mx, sh);
    if (isinf(mx) && mx < 0) mx = C(0);
    C sum = 0;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) sum += Exp(Load<C>(x[j]) - mx);
    sum = BlockSum(sum, sh);
    if (log) {
      const C lse = mx + Log(sum);
      for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) y[j] = Store<T>(Load<C>(x[j]) - lse);
    } else {
      const C inv = C(1) / sum;
      for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) y[j] = Store<T>(Exp(Load<C>(x[j]) - mx) * inv);
    }
  }
}

template <class T>
__global__ void SoftmaxBackwardK(int64_t rows, int64_t cols, T* gin, const T* gout, const T* yv, bool log) {
  using C = Compute<T>;
  __shared__ C sh[32];
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const int64_t base = row * cols;
    C acc = 0;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x)
      acc += log ? Load<C>(gout[base + j]) : Load<C>(gout[base + j]) * Load<C>(yv[base + j]);
    acc = BlockSum(acc, sh);
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
      const C g = Load<C>(gout[base + j]), y = Load<C>(yv[base + j]);
      gin[base + j] = Store<T>(log ? g - Exp(y) * acc : y * (g - acc));
    }
  }
}

template <class T>
__global__ void SoftmaxPartialK(int64_t cols, const T* in, double* partial) {
  using C = Compute<T>;
  __shared__ C sh[32];
  const int64_t row = blockIdx.y, chunk = blockIdx.x, chunks = gridDim.x;
  const int64_t start = chunk * kSplitChunk, end = min(cols, start + kSplitChunk);
  const T* x = in + row * cols;
  C mx = -INFINITY;
  for (int64_t j = start + threadIdx.x; j < end; j += blockDim.x) mx = Max(mx, Load<C>(x[j]));
  mx = BlockMax(mx, sh);
  // An all -inf chunk: partial max -inf, sum 0 (exp(-inf - 0)); the -inf stays in the partial.
  const C ref = isinf(mx) && mx < 0 ? C(0) : mx;
  C sum = 0;
  for (int64_t j = start + threadIdx.x; j < end; j += blockDim.x) sum += Exp(Load<C>(x[j]) - ref);
  sum = BlockSum(sum, sh);
  if (threadIdx.x == 0) {
    partial[(row * chunks + chunk) * 2] = static_cast<double>(mx);
    partial[(row * chunks + chunk) * 2 + 1] = static_cast<double>(sum);
  }
}

template <class T>
__global__ void SoftmaxApplyK(int64_t cols, T* out, const T* in, const double* partial, bool log) {
  using C = Compute<T>;
  __shared__ C sh[32];
  const int64_t row = blockIdx.y, chunk = blockIdx.x, chunks = gridDim.x;
  const double* p = partial + row * chunks * 2;
  C mx = -INFINITY;
  for (int64_t c = threadIdx.x; c < chunks; c += blockDim.x) mx = Max(mx, static_cast<C>(p[c * 2]));
  mx = BlockMax(mx, sh);
  if (isinf(mx) && mx < 0) mx = C(0);  // the whole row is -inf
  C sum = 0;
  for (int64_t c = threadIdx.x; c < chunks; c += blockDim.x)
    sum += static_cast<C>(p[c * 2 + 1]) * Exp(static_cast<C>(p[c * 2]) - mx);
  sum = BlockSum(sum, sh);
  const int64_t start = chunk * kSplitChunk, end = min(cols, start + kSplitChunk);
  const T* x = in + row * cols;
  T* y = out + row * cols;
  if (log) {
    const C lse = mx + Log(sum);
    for (int64_t j = start + threadIdx.x; j < end; j += blockDim.x) y[j] = Store<T>(Load<C>(x[j]) - lse);
  } else {
    const C inv = C(1) / sum;
    for (int64_t j = start + threadIdx.x; j < end; j += blockDim.x) y[j] = Store<T>(Exp(Load<C>(x[j]) - mx) * inv);
  }
}

}  // namespace

size_t CudaSoftmaxScratch(int64_t rows, int64_t cols) {
  if (!SplitRows(rows, cols)) return 0;
  return static_cast<size_t>(rows * SplitChunks(cols)) * 2 * sizeof(double);
}

void CudaSoftmax(DType dt, int64_t rows, int64_t cols, void* out, const void* in, bool log, void* scratch, Stream s) {
  NN_DISPATCH_DEV_FLOAT(dt, {
    if (scratch) {
      const dim3 grid(static_cast<unsigned>(SplitChunks(cols)), static_cast<unsigned>(rows));
      double* partial = static_cast<double*>(scratch);
      SoftmaxPartialK<T><<<grid, 512, 0, s>>>(cols, static_cast<const T*>(in), partial);
      NN_CUDA_CHECK_LAUNCH("SoftmaxPartialK");
      SoftmaxApplyK<T><<<grid, 512, 0, s>>>(cols, static_cast<T*>(out), static_cast<const T*>(in), partial, log);
      NN_CUDA_CHECK_LAUNCH("SoftmaxApplyK");
    } else {
      SoftmaxK<T><<<RowGrid(rows), RowThreads(cols), 0, s>>>(rows, cols, static_cast<T*>(out),
                                                             static_cast<const T*>(in), log);
      NN_CUDA_CHECK_LAUNCH("SoftmaxK");
    }
  });
}

void CudaSoftmaxBackward(DType dt, int64_t rows, int64_t cols, void* gin, const void* gout, const void* y, bool log,
                         Stream s) {
  NN_DISPATCH_DEV_FLOAT(dt, {
    SoftmaxBackwardK<T><<<RowGrid(rows), RowThreads(cols), 0, s>>>(
        rows, cols, static_cast<T*>(gin), static_cast<const T*>(gout), static_cast<const T*>(y), log);
    NN_CUDA_CHECK_LAUNCH("SoftmaxBackwardK");
  });
}

}  // namespace k
}  // namespace nn
