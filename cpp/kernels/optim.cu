// CUDA fused multi-tensor optimizer steps and sum of squares: one launch covers up to
// kMaxTensors tensors (blockIdx.y picks the tensor, a grid-stride loop over its elements), with
// the update rules of optim_math.h shared with the host.
#include "cuda_common.cuh"
#include "optim_math.h"

namespace nn {
namespace k {
namespace {

constexpr int kMaxTensors = 36;

struct TensorList {
  void* param[kMaxTensors];
  const void* grad[kMaxTensors];
  void* s0[kMaxTensors];
  void* s1[kMaxTensors];
  void* s2[kMaxTensors];
  int64_t numel[kMaxTensors];
};

template <class T>
__global__ void AdamK(TensorList l, AdamScalars sc) {
  using P = Compute<T>;
  const int t = blockIdx.y;
  T* param = static_cast<T*>(l.param[t]);
  const T* grad = static_cast<const T*>(l.grad[t]);
  T* m = static_cast<T*>(l.s0[t]);
  T* v = static_cast<T*>(l.s1[t]);
  T* vmax = static_cast<T*>(l.s2[t]);
  for (int64_t i = GlobalId(); i < l.numel[t]; i += GlobalStride()) {
    P p = Load<P>(param[i]), mi = Load<P>(m[i]), vi = Load<P>(v[i]), mx = vmax ? Load<P>(vmax[i]) : P(0);
    AdamElem<P>(p, Load<P>(grad[i]), mi, vi, vmax ? &mx : nullptr, sc);
    param[i] = Store<T>(p);
    m[i] = Store<T>(mi);
    v[i] = Store<T>(vi);
    if (vmax) vmax[i] = Store<T>(mx);
  }
}

template <class T>
__global__ void SgdK(TensorList l, SgdOpts o) {
  using P = Compute<T>;
  const int t = blockIdx.y;
  T* param = static_cast<T*>(l.param[t]);
  const T* grad = static_cast<const T*>(l.grad[t]);
  T* buf = static_cast<T*>(l.s0[t]);
  for (int64_t i = GlobalId(); i < l.numel[t]; i += GlobalStride()) {
    P p = Load<P>(param[i]), b = buf && !o.firstStep ? Load<P>(buf[i]) : P(0);
    SgdElem<P>(p, Load<P>(grad[i]), buf ? &b : nullptr, o);
    param[i] = Store<T>(p);
    if (buf) buf[i] = Store<T>(b);
  }
}

template <class T>
__global__ void SumSquaresK(TensorList l, double* out) {
  // Accumulated in double whatever the dtype, so a float64 norm keeps float64's precision.
  __shared__ double sh[32];
  const int t = blockIdx.y;
  const T* x = static_cast<const T*>(l.grad[t]);
  double acc = 0;
  for (int64_t i = GlobalId(); i < l.numel[t]; i += GlobalStride()) {
    const double v = Load<double>(x[i]);
    acc += v * v;
  }
  acc = BlockSum(acc, sh);
  if (threadIdx.x == 0 && acc != 0.0) atomicAdd(out, acc);
}

// Calls launch(list, count, maxNumel) for each chunk of at most kMaxTensors non-empty tensors.
template <class F>
void Chunks(const std::vector<OptimTensor>& ts, F&& launch) {
  TensorList l{};
  int n = 0;
  int64_t maxN = 0;
  for (const OptimTensor& t : ts) {
    if (t.numel == 0) continue;
    l.param[n] = t.param;
    l.grad[n] = t.grad;
    l.s0[n] = t.s0;
    l.s1[n] = t.s1;
    l.s2[n] = t.s2;
    l.numel[n] = t.numel;
    maxN = std::max(maxN, t.numel);
    if (++n == kMaxTensors) {
      launch(l, n, maxN);
      n = 0;
      maxN = 0;
    }
  }
  if (n) launch(l, n, maxN);
}

dim3 Grid(int count, int64_t maxN) { return dim3(std::min<unsigned>(GridFor(maxN, kThreads, 4), 1024u), count); }

}  // namespace

void CudaAdam(DType dt, const std::vector<OptimTensor>& ts, const AdamOpts& o, Stream s) {
  const AdamScalars sc = MakeAdamScalars(o);
  NN_DISPATCH_DEV_FLOAT(dt, Chunks(ts, [&](const TensorList& l, int count, int64_t maxN) {
    AdamK<T><<<Grid(count, maxN), kThreads, 0, s>>>(l, sc);
    NN_CUDA_CHECK_LAUNCH("AdamK");
  }));
}

void CudaSgd(DType dt, const std::vector<OptimTensor>& ts, const SgdOpts& o, Stream s) {
  NN_DISPATCH_DEV_FLOAT(dt, Chunks(ts, [&](const TensorList& l, int count, int64_t maxN) {
    SgdK<T><<<Grid(count, maxN), kThreads, 0, s>>>(l, o);
    NN_CUDA_CHECK_LAUNCH("SgdK");
  }));
}

void CudaSumSquares(DType dt, const std::vector<const void*>& ptrs, const std::vector<int64_t>& numels, double* out,
                    Stream s) {
  CheckCuda(static_cast<int>(cudaMemsetAsync(out, 0, sizeof(double), s)), "cudaMemsetAsync (kernels.sumSquares)");
  std::vector<OptimTensor> ts;
  for (size_t i = 0; i < ptrs.size(); i++) ts.push_back({nullptr, ptrs[i], nullptr, nullptr, nullptr, numels[i]});
  NN_DISPATCH_DEV_FLOAT(dt, Chunks(ts, [&](const TensorList& l, int count, int64_t maxN) {
    SumSquaresK<T><<<Grid(count, maxN), kThreads, 0, s>>>(l, out);
    NN_CUDA_CHECK_LAUNCH("SumSquaresK");
  }));
}

}  // namespace k
}  // namespace nn
