// CUDA reductions of the middle axis of contiguous [outer, size, inner]. inner == 1: one block
// per output row with warp-shuffle reductions, or, for few long rows (a full reduction), several
// blocks per row writing per-chunk partials to scratch and a second kernel combining them;
// inner > 1: one thread per output column, reading coalesced across the inner axis, or, where
// that would not fill the device (few columns, a long axis: a bias gradient), two stages: a thread
// per (row chunk, column) writes a partial to scratch, a second kernel combines each column's
// partials in chunk order. Float sums accumulate in float (double for float64), integer
// sums and products in int64; max/min propagate NaN and keep the first index, as on the host.
#include "cuda_common.cuh"

namespace nn {
namespace k {
namespace {

template <class A>
struct Pick {
  A v;
  int64_t i;  // -1: empty
};

template <class A>
__device__ __forceinline__ Pick<A> Better(Pick<A> a, Pick<A> b, bool isMax) {
  if (a.i < 0) return b;
  if (b.i < 0) return a;
  const bool an = IsNan(a.v), bn = IsNan(b.v);
  if (an || bn) {
    if (an && bn) return a.i < b.i ? a : b;
    return an ? a : b;
  }
  if (a.v == b.v) return a.i < b.i ? a : b;
  return (isMax ? a.v > b.v : a.v < b.v) ? a : b;
}

template <class A>
__device__ Pick<A> BlockBest(Pick<A> p, bool isMax) {
  __shared__ A sv[32];
  __shared__ int64_t si[32];
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    Pick<A> q{__shfl_down_sync(0xffffffffu, p.v, o), __shfl_down_sync(0xffffffffu, p.i, o)};
    p = Better(p, q, isMax);
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
  if (lane == 0) { sv[warp] = p.v; si[warp] = p.i; }
  __syncthreads();
  if (warp == 0) {
    p = threadIdx.x < nw ? Pick<A>{sv[threadIdx.x], si[threadIdx.x]} : Pick<A>{A(0), -1};
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      Pick<A> q{__shfl_down_sync(0xffffffffu, p.v, o), __shfl_down_sync(0xffffffffu, p.i, o)};
      p = Better(p, q, isMax);
    }
  }
  return p;  // valid in thread 0
}

template <class A>
__device__ A BlockProd(A v) {
  __shared__ A sh[32];
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v *= __shfl_down_sync(0xffffffffu, v, o);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
  if (lane == 0) sh[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = threadIdx.x < nw ? sh[threadIdx.x] : A(1);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v *= __shfl_down_sync(0xffffffffu, v, o);
  }
  return v;
}

// One block per row of `size` contiguous elements (inner == 1).
template <class T, class A>
__global__ void ReduceRows(int op, int64_t size, void* out, const T* in, int64_t* indices, double correction) {
  __shared__ A sh[32];
  const int64_t row = blockIdx.x;
  const T* x = in + row * size;
  const ROp rop = static_cast<ROp>(op);
  if (rop == ROp::Max || rop == ROp::Min || rop == ROp::Argmax || rop == ROp::Argmin) {
    const bool isMax = rop == ROp::Max || rop == ROp::Argmax;
    Pick<A> p{A(0), -1};
    for (int64_t s = threadIdx.x; s < size; s += blockDim.x) p = Better(p, Pick<A>{Load<A>(x[s]), s}, isMax);
    p = BlockBest(p, isMax);
    if (threadIdx.x == 0) {
      if (rop == ROp::Argmax || rop == ROp::Argmin) {
        static_cast<int64_t*>(out)[row] = p.i;
      } else {
        static_cast<T*>(out)[row] = Store<T>(p.v);
        if (indices) indices[row] = p.i;
      }
    }
    return;
  }
  if (rop == ROp::Prod) {
    A v = A(1);
    for (int64_t s = threadIdx.x; s < size; s += blockDim.x) v *= Load<A>(x[s]);
    v = BlockProd(v);
    if (threadIdx.x == 0) static_cast<T*>(out)[row] = Store<T>(v);
    return;
  }
  A sum = A(0);
  for (int64_t s = threadIdx.x; s < size; s += blockDim.x) sum += Load<A>(x[s]);
  sum = BlockSum(sum, sh);
  if (rop == ROp::Sum) {
    if (threadIdx.x == 0) static_cast<T*>(out)[row] = Store<T>(sum);
    return;
  }
  const A mean = sum / static_cast<A>(size);
  if (rop == ROp::Mean) {
    if (threadIdx.x == 0) static_cast<T*>(out)[row] = Store<T>(mean);
    return;
  }
  A sq = A(0);
  for (int64_t s = threadIdx.x; s < size; s += blockDim.x) {
    A d = Load<A>(x[s]) - mean;
    sq += d * d;
  }
  sq = BlockSum(sq, sh);
  if (threadIdx.x == 0) {
    const double denom = fmax(0.0, static_cast<double>(size) - correction);
    static_cast<T*>(out)[row] = Store<T>(static_cast<A>(static_cast<double>(sq) / denom));
  }
}

// One thread per (outer, inner) output (inner > 1).
template <class T, class A>
__global__ void ReduceCols(int op, int64_t outer, int64_t size, int64_t inner, void* out, const T* in, int64_t* indices,
                           double correction) {
  const ROp rop = static_cast<ROp>(op);
  for (int64_t t = GlobalId(); t < outer * inner; t += GlobalStride()) {
    const int64_t o = t / inner, j = t - o * inner;
    const T* x = in + o * size * inner + j;
    if (rop == ROp::Max || rop == ROp::Min || rop == ROp::Argmax || rop == ROp::Argmin) {
      const bool isMax = rop == ROp::Max || rop == ROp::Argmax;
      Pick<A> p{A(0), -1};
      for (int64_t s = 0; s < size; s++) p = Better(p, Pick<A>{Load<A>(x[s * inner]), s}, isMax);
      if (rop == ROp::Argmax || rop == ROp::Argmin) {
        static_cast<int64_t*>(out)[t] = p.i;
      } else {
        static_cast<T*>(out)[t] = Store<T>(p.v);
        if (indices) indices[t] = p.i;
      }
      continue;
    }
    if (rop == ROp::Prod) {
      A v = A(1);
      for (int64_t s = 0; s < size; s++) v *= Load<A>(x[s * inner]);
      static_cast<T*>(out)[t] = Store<T>(v);
      continue;
    }
    A sum = A(0);
    for (int64_t s = 0; s < size; s++) sum += Load<A>(x[s * inner]);
    if (rop == ROp::Sum) {
      static_cast<T*>(out)[t] = Store<T>(sum);
      continue;
    }
    const A mean = sum / static_cast<A>(size);
    if (rop == ROp::Mean) {
      static_cast<T*>(out)[t] = Store<T>(mean);
      continue;
    }
    A sq = A(0);
    for (int64_t s = 0; s < size; s++) {
      A d = Load<A>(x[s * inner]) - mean;
      sq += d * d;
    }
    const double denom = fmax(0.0, static_cast<double>(size) - correction);
    static_cast<T*>(out)[t] = Store<T>(static_cast<A>(static_cast<double>(sq) / denom));
  }
}

// ---- split rows: partials {v (A), i (index or count), m2 (A)} per (row, chunk) -----------------
template <class A>
struct Partial {
  A v;
  int64_t i;
  A m2;
};

constexpr int64_t kReduceChunk = 32768;
int64_t ReduceChunks(int64_t size) { return std::min<int64_t>((size + kReduceChunk - 1) / kReduceChunk, 4096); }
bool SplitReduce(int64_t outer, int64_t size, int64_t inner) {
  return inner == 1 && size > 2 * kReduceChunk && outer <= 65535 && SplitRows(outer, 4 * kSplitChunk + 1);
}

template <class T, class A>
__global__ void ReducePartialK(int op, int64_t size, const T* in, Partial<A>* partial) {
  __shared__ A sh[32];
  const int64_t row = blockIdx.y, chunk = blockIdx.x, chunks = gridDim.x;
  const int64_t len = (size + chunks - 1) / chunks;
  const int64_t start = chunk * len, end = min(size, start + len);
  const T* x = in + row * size;
  const ROp rop = static_cast<ROp>(op);
  Partial<A> res{A(0), 0, A(0)};
  if (rop == ROp::Max || rop == ROp::Min || rop == ROp::Argmax || rop == ROp::Argmin) {
    const bool isMax = rop == ROp::Max || rop == ROp::Argmax;
    Pick<A> p{A(0), -1};
    for (int64_t j = start + threadIdx.x; j < end; j += blockDim.x) p = Better(p, Pick<A>{Load<A>(x[j]), j}, isMax);
    p = BlockBest(p, isMax);
    res.v = p.v;
    res.i = p.i;
  } else if (rop == ROp::Prod) {
    A v = A(1);
    for (int64_t j = start + threadIdx.x; j < end; j += blockDim.x) v *= Load<A>(x[j]);
    res.v = BlockProd(v);
  } else {
    A sum = A(0);
    for (int64_t j = start + threadIdx.x; j < end; j += blockDim.x) sum += Load<A>(x[j]);
    sum = BlockSum(sum, sh);
    res.v = sum;
    res.i = end > start ? end - start : 0;
    if (rop == ROp::Var && res.i > 0) {
      const A mean = sum / static_cast<A>(res.i);
      A sq = A(0);
      for (int64_t j = start + threadIdx.x; j < end; j += blockDim.x) {
        const A d = Load<A>(x[j]) - mean;
        sq += d * d;
      }
      res.v = mean;
      res.m2 = BlockSum(sq, sh);
    }
  }
  if (threadIdx.x == 0) partial[row * chunks + chunk] = res;
}

template <class T, class A>
__global__ void ReduceCombineK(int op, int64_t size, int64_t chunks, void* out, const Partial<A>* partial,
                               int64_t* indices, double correction) {
  __shared__ A sh[32];
  const int64_t row = blockIdx.x;
  const Partial<A>* p = partial + row * chunks;
  const ROp rop = static_cast<ROp>(op);
  if (rop == ROp::Max || rop == ROp::Min || rop == ROp::Argmax || rop == ROp::Argmin) {
    const bool isMax = rop == ROp::Max || rop == ROp::Argmax;
    Pick<A> b{A(0), -1};
    for (int64_t c = threadIdx.x; c < chunks; c += blockDim.x) b = Better(b, Pick<A>{p[c].v, p[c].i}, isMax);
    b = BlockBest(b, isMax);
    if (threadIdx.x == 0) {
      if (rop == ROp::Argmax || rop == ROp::Argmin) {
        static_cast<int64_t*>(out)[row] = b.i;
      } else {
        static_cast<T*>(out)[row] = Store<T>(b.v);
        if (indices) indices[row] = b.i;
      }
    }
  } else if (rop == ROp::Prod) {
    A v = A(1);
    for (int64_t c = threadIdx.x; c < chunks; c += blockDim.x) v *= p[c].v;
    v = BlockProd(v);
    if (threadIdx.x == 0) static_cast<T*>(out)[row] = Store<T>(v);
  } else if (rop == ROp::Var) {
    A sum = A(0);  // Chan et al.: M2 = sum(M2_c + n_c (mean_c - mean)^2)
    for (int64_t c = threadIdx.x; c < chunks; c += blockDim.x) sum += p[c].v * static_cast<A>(p[c].i);
    const A mean = BlockSum(sum, sh) / static_cast<A>(size);
    A m2 = A(0);
    for (int64_t c = threadIdx.x; c < chunks; c += blockDim.x) {
      const A d = p[c].v - mean;
      m2 += p[c].m2 + static_cast<A>(p[c].i) * d * d;
    }
    m2 = BlockSum(m2, sh);
    if (threadIdx.x == 0) {
      const double denom = fmax(0.0, static_cast<double>(size) - correction);
      static_cast<T*>(out)[row] = Store<T>(static_cast<A>(static_cast<double>(m2) / denom));
    }
  } else {
    A sum = A(0);
    for (int64_t c = threadIdx.x; c < chunks; c += blockDim.x) sum += p[c].v;
    sum = BlockSum(sum, sh);
    if (threadIdx.x == 0) static_cast<T*>(out)[row] = Store<T>(rop == ROp::Mean ? sum / static_cast<A>(size) : sum);
  }
}

// ---- split columns (inner > 1, few outputs): partials per (row chunk, output) -------------------
int64_t ColChunks(int64_t outer, int64_t size, int64_t inner) {
  return inner > 1 ? ColumnChunks(outer * inner, size) : 1;
}

template <class T, class A>
__global__ void ReduceColsPartial(int op, int64_t outer, int64_t size, int64_t inner, int64_t chunks, const T* in,
                                  Partial<A>* partial) {
  const ROp rop = static_cast<ROp>(op);
  const int64_t n = outer * inner, len = (size + chunks - 1) / chunks;
  for (int64_t t = GlobalId(); t < n * chunks; t += GlobalStride()) {
    const int64_t c = t / n, idx = t - c * n, o = idx / inner, j = idx - o * inner;
    const int64_t s0 = c * len, s1 = min(size, s0 + len);
    const T* x = in + o * size * inner + j;
    Partial<A> res{A(0), 0, A(0)};
    if (rop == ROp::Max || rop == ROp::Min || rop == ROp::Argmax || rop == ROp::Argmin) {
      const bool isMax = rop == ROp::Max || rop == ROp::Argmax;
      Pick<A> p{A(0), -1};
      for (int64_t s = s0; s < s1; s++) p = Better(p, Pick<A>{Load<A>(x[s * inner]), s}, isMax);
      res.v = p.v;
      res.i = p.i;
    } else if (rop == ROp::Prod) {
      A v = A(1);
      for (int64_t s = s0; s < s1; s++) v *= Load<A>(x[s * inner]);
      res.v = v;
    } else {
      A sum = A(0);
      for (int64_t s = s0; s < s1; s++) sum += Load<A>(x[s * inner]);
      res.v = sum;
      res.i = s1 > s0 ? s1 - s0 : 0;
      if (rop == ROp::Var && res.i > 0) {
        const A mean = sum / static_cast<A>(res.i);
        A sq = A(0);
        for (int64_t s = s0; s < s1; s++) {
          const A d = Load<A>(x[s * inner]) - mean;
          sq += d * d;
        }
        res.v = mean;
        res.m2 = sq;
      }
    }
    partial[c * n + idx] = res;
  }
}

template <class T, class A>
__global__ void ReduceColsCombine(int op, int64_t n, int64_t size, int64_t chunks, void* out, const Partial<A>* partial,
                                  int64_t* indices, double correction) {
  const ROp rop = static_cast<ROp>(op);
  for (int64_t t = GlobalId(); t < n; t += GlobalStride()) {
    if (rop == ROp::Max || rop == ROp::Min || rop == ROp::Argmax || rop == ROp::Argmin) {
      const bool isMax = rop == ROp::Max || rop == ROp::Argmax;
      Pick<A> b{A(0), -1};
      for (int64_t c = 0; c < chunks; c++) b = Better(b, Pick<A>{partial[c * n + t].v, partial[c * n + t].i}, isMax);
      if (rop == ROp::Argmax || rop == ROp::Argmin) {
        static_cast<int64_t*>(out)[t] = b.i;
      } else {
        static_cast<T*>(out)[t] = Store<T>(b.v);
        if (indices) indices[t] = b.i;
      }
    } else if (rop == ROp::Prod) {
      A v = A(1);
      for (int64_t c = 0; c < chunks; c++) v *= partial[c * n + t].v;
      static_cast<T*>(out)[t] = Store<T>(v);
    } else if (rop == ROp::Var) {
      A sum = A(0);  // Chan et al., as ReduceCombineK
      for (int64_t c = 0; c < chunks; c++) sum += partial[c * n + t].v * static_cast<A>(partial[c * n + t].i);
      const A mean = sum / static_cast<A>(size);
      A m2 = A(0);
      for (int64_t c = 0; c < chunks; c++) {
        const Partial<A>& p = partial[c * n + t];
        const A d = p.v - mean;
        m2 += p.m2 + static_cast<A>(p.i) * d * d;
      }
      const double denom = fmax(0.0, static_cast<double>(size) - correction);
      static_cast<T*>(out)[t] = Store<T>(static_cast<A>(static_cast<double>(m2) / denom));
    } else {
      A sum = A(0);
      for (int64_t c = 0; c < chunks; c++) sum += partial[c * n + t].v;
      static_cast<T*>(out)[t] = Store<T>(rop == ROp::Mean ? sum / static_cast<A>(size) : sum);
    }
  }
}

template <class T>
void Launch(ROp op, int64_t outer, int64_t size, int64_t inner, void* out, const void* in, int64_t* indices,
            double correction, void* scratch, Stream s) {
  using A = Compute<T>;
  const T* x = static_cast<const T*>(in);
  // Scratch (sized by CudaReduceScratch) serves the split-rows path (inner == 1) or the split-columns one.
  void* scratchCols = inner > 1 ? scratch : nullptr;
  if (scratch && inner == 1) {
    const int64_t chunks = ReduceChunks(size);
    Partial<A>* partial = static_cast<Partial<A>*>(scratch);
    ReducePartialK<T, A><<<dim3(static_cast<unsigned>(chunks), static_cast<unsigned>(outer)), 512, 0, s>>>(
        static_cast<int>(op), size, x, partial);
    NN_CUDA_CHECK_LAUNCH("ReducePartialK");
    ReduceCombineK<T, A><<<static_cast<unsigned>(outer), 256, 0, s>>>(static_cast<int>(op), size, chunks, out, partial,
                                                                    indices, correction);
    NN_CUDA_CHECK_LAUNCH("ReduceCombineK");
  } else if (inner > 1 && ColChunks(outer, size, inner) > 1 && scratchCols) {
    const int64_t chunks = ColChunks(outer, size, inner), n = outer * inner;
    Partial<A>* partial = static_cast<Partial<A>*>(scratchCols);
    ReduceColsPartial<T, A><<<GridFor(n * chunks), kThreads, 0, s>>>(static_cast<int>(op), outer, size, inner, chunks, x,
                                                                     partial);
    NN_CUDA_CHECK_LAUNCH("ReduceColsPartial");
    ReduceColsCombine<T, A><<<GridFor(n), kThreads, 0, s>>>(static_cast<int>(op), n, size, chunks, out, partial, indices,
                                                           correction);
    NN_CUDA_CHECK_LAUNCH("ReduceColsCombine");
  } else if (inner == 1 && outer <= 0x7fffffff) {
    ReduceRows<T, A><<<static_cast<unsigned>(outer), kThreads, 0, s>>>(static_cast<int>(op), size, out, x, indices, correction);
    NN_CUDA_CHECK_LAUNCH("ReduceRows");
  } else {
    ReduceCols<T, A><<<GridFor(outer * inner), kThreads, 0, s>>>(static_cast<int>(op), outer, size, inner, out, x,
                                                                  indices, correction);
    NN_CUDA_CHECK_LAUNCH("ReduceCols");
  }
}

}  // namespace

size_t CudaReduceScratch(int64_t outer, int64_t size, int64_t inner) {
  if (SplitReduce(outer, size, inner)) return static_cast<size_t>(outer * ReduceChunks(size)) * sizeof(Partial<double>);
  const int64_t chunks = ColChunks(outer, size, inner);
  return chunks > 1 ? static_cast<size_t>(chunks * outer * inner) * sizeof(Partial<double>) : 0;
}

void CudaReduce(ROp op, DType dt, int64_t outer, int64_t size, int64_t inner, void* out, const void* in,
                int64_t* indices, double correction, void* scratch, Stream s) {
  if (outer == 0 || inner == 0) return;
  NN_DISPATCH_DEV(dt, Launch<T>(op, outer, size, inner, out, in, indices, correction, scratch, s));
}

}  // namespace k
}  // namespace nn
