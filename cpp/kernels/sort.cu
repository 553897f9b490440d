// CUDA kernels of the sort/scan family (host twins and meanings: sort.cc).
//
// sort/topk: a bitonic network over (key, index) pairs, ordered by torch's rule (NaN greatest)
// with ties broken on the index, so the result is the stable order and equals the host twin's
// exactly. Rows of up to kSortSharedMax elements sort in one block's shared memory (one block per
// row, the row padded to a power of two with pads that sort last). Longer rows run the same
// network through global memory (`scratch`: the padded keys and indices), one launch per stage:
// O(n log^2 n) work, chosen over a radix sort because one comparison rule serves every dtype, NaN
// and stability without key transforms, and the simulated device can check its plumbing.
//
// scan: rows along the innermost axis (inner == 1) scan in one block per row (each thread scans a
// contiguous chunk, the chunk totals are scanned in shared memory, then each chunk is rescanned
// from its offset); other layouts run one thread per (outer, inner) line, coalesced over inner.
// Floats accumulate in float (double for float64), integers in int64, as torch's CUDA kernels.
//
// compact / nonzero: one thread per element; pos (the inclusive prefix count of the mask, from a
// scan) gives each set element its output slot, so no atomics and the order is the input order.
#include <type_traits>

#include "cuda_common.cuh"
#include "sort_order.h"

namespace nn {
namespace k {
namespace {

// True when (x, a) sorts before (y, b) in torch's order (sort_order.h); index -1 marks a pad,
// which sorts after everything.
template <class K>
__device__ __forceinline__ bool Before(K x, int64_t a, K y, int64_t b, bool descending) {
  if (a < 0) return false;
  if (b < 0) return true;
  return SortsBefore(x, a, y, b, descending);
}

int64_t NextPow2(int64_t n) {
  int64_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

template <class T>
__global__ void SortSharedK(int64_t rows, int64_t n, int64_t P, int64_t kk, T* values, int64_t* indices, const T* in,
                            bool descending) {
  using K = SortKey<T>;
  extern __shared__ __align__(8) unsigned char smem[];
  K* key = reinterpret_cast<K*>(smem);
  int* idx = reinterpret_cast<int*>(key + P);
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* row = in + r * n;
    for (int64_t i = threadIdx.x; i < P; i += blockDim.x) {
      key[i] = i < n ? Load<K>(row[i]) : K(0);
      idx[i] = i < n ? static_cast<int>(i) : -1;
    }
    __syncthreads();
    for (int64_t size = 2; size <= P; size <<= 1)
      for (int64_t stride = size >> 1; stride > 0; stride >>= 1) {
        for (int64_t t = threadIdx.x; t < P / 2; t += blockDim.x) {
          const int64_t i = 2 * t - (t & (stride - 1)), j = i + stride;
          const bool up = (i & size) == 0;
          const bool swap = up ? Before(key[j], idx[j], key[i], idx[i], descending)
                               : Before(key[i], idx[i], key[j], idx[j], descending);
          if (swap) {
            const K tk = key[i]; key[i] = key[j]; key[j] = tk;
            const int ti = idx[i]; idx[i] = idx[j]; idx[j] = ti;
          }
        }
        __syncthreads();
      }
    for (int64_t c = threadIdx.x; c < kk; c += blockDim.x) {
      values[r * kk + c] = row[idx[c]];
      indices[r * kk + c] = idx[c];
    }
    __syncthreads();
  }
}

template <class T>
__global__ void SortInitK(int64_t rows, int64_t n, int64_t P, const T* in, SortKey<T>* key, int64_t* idx) {
  using K = SortKey<T>;
  const int64_t total = rows * P;
  for (int64_t t = GlobalId(); t < total; t += GlobalStride()) {
    const int64_t r = t / P, i = t - r * P;
    key[t] = i < n ? Load<K>(in[r * n + i]) : K(0);
    idx[t] = i < n ? i : -1;
  }
}

template <class K>
__global__ void SortStepK(int64_t rows, int64_t P, int64_t size, int64_t stride, K* key, int64_t* idx,
                          bool descending) {
  const int64_t half = P / 2, total = rows * half;
  for (int64_t t = GlobalId(); t < total; t += GlobalStride()) {
    const int64_t r = t / half, u = t - r * half;
    const int64_t i = 2 * u - (u & (stride - 1)), j = i + stride;
    const bool up = (i & size) == 0;
    K* kr = key + r * P;
    int64_t* ir = idx + r * P;
    const bool swap = up ? Before(kr[j], ir[j], kr[i], ir[i], descending) : Before(kr[i], ir[i], kr[j], ir[j], descending);
    if (swap) {
      const K tk = kr[i]; kr[i] = kr[j]; kr[j] = tk;
      const int64_t ti = ir[i]; ir[i] = ir[j]; ir[j] = ti;
    }
  }
}

template <class T>
__global__ void SortWriteK(int64_t rows, int64_t n, int64_t P, int64_t kk, T* values, int64_t* indices, const T* in,
                           const int64_t* idx) {
  const int64_t total = rows * kk;
  for (int64_t t = GlobalId(); t < total; t += GlobalStride()) {
    const int64_t r = t / kk, c = t - r * kk;
    const int64_t i = idx[r * P + c];
    values[t] = in[r * n + i];
    indices[t] = i;
  }
}

template <class T>
using ScanAcc = std::conditional_t<std::is_same<Compute<T>, int64_t>::value, int64_t, Compute<T>>;

template <class A>
__device__ __forceinline__ A Combine(ScanOp op, A x, A y) {
  if constexpr (std::is_same<A, int64_t>::value) {
    const unsigned long long a = static_cast<unsigned long long>(x), b = static_cast<unsigned long long>(y);
    return static_cast<int64_t>(op == ScanOp::Sum ? a + b : a * b);
  } else {
    return op == ScanOp::Sum ? x + y : x * y;
  }
}

constexpr int kScanThreads = 256;

template <class T>
__global__ void ScanRowsK(ScanOp op, int64_t rows, int64_t size, T* out, const T* in, bool reverse) {
  using A = ScanAcc<T>;
  __shared__ A part[kScanThreads];
  const A id = op == ScanOp::Sum ? A(0) : A(1);
  const int64_t chunk = (size + blockDim.x - 1) / blockDim.x;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const int64_t lo = threadIdx.x * chunk, hi = lo + chunk < size ? lo + chunk : size;
    auto at = [&](int64_t s) { return r * size + (reverse ? size - 1 - s : s); };
    A acc = id;
    for (int64_t s = lo; s < hi; s++) acc = Combine(op, acc, static_cast<A>(Load<Compute<T>>(in[at(s)])));
    part[threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.x == 0) {  // exclusive scan of the chunk totals (blockDim.x values)
      A run = id;
      for (unsigned t = 0; t < blockDim.x; t++) {
        const A v = part[t];
        part[t] = run;
        run = Combine(op, run, v);
      }
    }
    __syncthreads();
    acc = part[threadIdx.x];
    for (int64_t s = lo; s < hi; s++) {
      const int64_t i = at(s);
      acc = Combine(op, acc, static_cast<A>(Load<Compute<T>>(in[i])));
      out[i] = Store<T>(static_cast<Compute<T>>(acc));
    }
    __syncthreads();
  }
}

template <class T>
__global__ void ScanLinesK(ScanOp op, int64_t outer, int64_t size, int64_t inner, T* out, const T* in, bool reverse) {
  using A = ScanAcc<T>;
  const int64_t lines = outer * inner;
  for (int64_t t = GlobalId(); t < lines; t += GlobalStride()) {
    const int64_t o = t / inner, j = t - o * inner;
    const int64_t base = o * size * inner + j;
    A acc = op == ScanOp::Sum ? A(0) : A(1);
    for (int64_t s = 0; s < size; s++) {
      const int64_t i = base + (reverse ? size - 1 - s : s) * inner;
      acc = Combine(op, acc, static_cast<A>(Load<Compute<T>>(in[i])));
      out[i] = Store<T>(static_cast<Compute<T>>(acc));
    }
  }
}

template <class T>
__global__ void CompactK(int64_t n, T* out, int64_t outLen, const T* src, const uint8_t* mask, const int64_t* pos) {
  for (int64_t i = GlobalId(); i < n; i += GlobalStride()) {
    if (!mask[i]) continue;
    const int64_t p = pos[i] - 1;
    if (p >= 0 && p < outLen) out[p] = src[i];
  }
}

__global__ void NonzeroK(NonzeroArgs a, int64_t* out, int64_t outLen, const uint8_t* mask, const int64_t* pos) {
  for (int64_t i = GlobalId(); i < a.numel; i += GlobalStride()) {
    if (!mask[i]) continue;
    const int64_t p = pos[i] - 1;
    if (p < 0 || p >= outLen) continue;
    int64_t t = i;
    for (int d = a.ndim - 1; d >= 0; d--) {
      const int64_t q = t / a.shape[d];
      out[p * a.ndim + d] = t - q * a.shape[d];
      t = q;
    }
  }
}

}  // namespace

size_t CudaSortScratch(int64_t rows, int64_t n) {
  if (n <= kSortSharedMax) return 0;
  const int64_t P = NextPow2(n);
  return static_cast<size_t>(rows * P) * (sizeof(double) + sizeof(int64_t));
}

void CudaSort(DType dt, int64_t rows, int64_t n, int64_t kk, void* values, int64_t* indices, const void* in,
              bool descending, void* scratch, Stream s) {
  if (rows == 0 || kk == 0) return;
  const int64_t P = NextPow2(n);
  NN_DISPATCH_DEV(dt, {
    using K = SortKey<T>;
    if (n <= kSortSharedMax) {
      const int threads = static_cast<int>(std::max<int64_t>(32, std::min<int64_t>(P / 2, 1024)));
      const size_t shared = static_cast<size_t>(P) * (sizeof(K) + sizeof(int));
      SortSharedK<T><<<RowGrid(rows), threads, shared, s>>>(rows, n, P, kk, static_cast<T*>(values), indices,
                                                            static_cast<const T*>(in), descending);
      NN_CUDA_CHECK_LAUNCH("SortSharedK");
    } else {
      K* key = static_cast<K*>(scratch);
      int64_t* idx = reinterpret_cast<int64_t*>(static_cast<char*>(scratch) + static_cast<size_t>(rows * P) * sizeof(double));
      SortInitK<T><<<GridFor(rows * P), kThreads, 0, s>>>(rows, n, P, static_cast<const T*>(in), key, idx);
      NN_CUDA_CHECK_LAUNCH("SortInitK");
      for (int64_t size = 2; size <= P; size <<= 1)
        for (int64_t stride = size >> 1; stride > 0; stride >>= 1) {
          SortStepK<K><<<GridFor(rows * (P / 2)), kThreads, 0, s>>>(rows, P, size, stride, key, idx, descending);
          NN_CUDA_CHECK_LAUNCH("SortStepK");
        }
      SortWriteK<T><<<GridFor(rows * kk), kThreads, 0, s>>>(rows, n, P, kk, static_cast<T*>(values), indices,
                                                            static_cast<const T*>(in), idx);
      NN_CUDA_CHECK_LAUNCH("SortWriteK");
    }
  });
}

void CudaScan(ScanOp op, DType dt, int64_t outer, int64_t size, int64_t inner, void* out, const void* in, bool reverse,
              Stream s) {
  if (outer == 0 || size == 0 || inner == 0) return;
  NN_DISPATCH_DEV(dt, {
    if (inner == 1) {
      ScanRowsK<T><<<RowGrid(outer), kScanThreads, 0, s>>>(op, outer, size, static_cast<T*>(out),
                                                           static_cast<const T*>(in), reverse);
      NN_CUDA_CHECK_LAUNCH("ScanRowsK");
    } else {
      ScanLinesK<T><<<GridFor(outer * inner), kThreads, 0, s>>>(op, outer, size, inner, static_cast<T*>(out),
                                                                static_cast<const T*>(in), reverse);
      NN_CUDA_CHECK_LAUNCH("ScanLinesK");
    }
  });
}

void CudaCompact(DType dt, int64_t n, void* out, int64_t outLen, const void* src, const uint8_t* mask, const int64_t* pos,
                 Stream s) {
  if (n == 0 || outLen == 0) return;
  // Only the bytes move: one instantiation per element size.
  auto run = [&](auto tag) {
    using R = decltype(tag);
    CompactK<R><<<GridFor(n), kThreads, 0, s>>>(n, static_cast<R*>(out), outLen, static_cast<const R*>(src), mask, pos);
    NN_CUDA_CHECK_LAUNCH("CompactK");
  };
  switch (DTypeSize(dt)) {
    case 8: run(uint64_t{}); break;
    case 4: run(uint32_t{}); break;
    case 2: run(uint16_t{}); break;
    default: run(uint8_t{}); break;
  }
}

void CudaNonzero(const NonzeroArgs& a, int64_t* out, int64_t outLen, const uint8_t* mask, const int64_t* pos, Stream s) {
  if (a.numel == 0 || outLen == 0) return;
  NonzeroK<<<GridFor(a.numel), kThreads, 0, s>>>(a, out, outLen, mask, pos);
  NN_CUDA_CHECK_LAUNCH("NonzeroK");
}

}  // namespace k
}  // namespace nn
