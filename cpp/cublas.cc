// cuBLAS for matmul, loaded at run time through cpp/loader.h (no cuBLAS headers: the few
// declarations below are our own). One handle per device, created lazily on first use and
// destroyed when the last environment (main thread or worker) that loaded the addon is cleaned
// up. Row-major C = op(A) @ op(B) is computed as column-major C^T = op(B)^T @ op(A)^T, i.e. with
// the operands swapped; cublasGemmStridedBatchedEx runs every batch entry in one call, on the
// device's current stream.
#include <mutex>
#include <string>
#include <vector>

#include "addon.h"
#include "errors.h"
#include "kernels/kernels.h"
#include "loader.h"
#include "runtime.h"

namespace nn {

#if NODE_NCCL_WITH_CUDA
namespace {

// ---- our own minimal cuBLAS declarations (cublas_api.h / library_types.h values) -------------
struct cublasContext;
using cublasHandle_t = cublasContext*;
using CublasCreate = int (*)(cublasHandle_t*);
using CublasDestroy = int (*)(cublasHandle_t);
using CublasSetStream = int (*)(cublasHandle_t, cudaStream_t);
using CublasGemmStridedBatchedEx = int (*)(cublasHandle_t, int transa, int transb, int m, int n, int k,
                                           const void* alpha, const void* A, int Atype, int lda, long long strideA,
                                           const void* B, int Btype, int ldb, long long strideB, const void* beta,
                                           void* C, int Ctype, int ldc, long long strideC, int batchCount,
                                           int computeType, int algo);
constexpr int kOpN = 0, kOpT = 1;                                               // cublasOperation_t
constexpr int kR32F = 0, kR64F = 1, kR16F = 2, kR16BF = 14;                     // cudaDataType
constexpr int kCompute32F = 68, kCompute32FFastTf32 = 77, kCompute64F = 70;      // cublasComputeType_t
constexpr int kGemmDefault = -1;                                                // cublasGemmAlgo_t

struct Handles {
  std::mutex mu;
  std::vector<cublasHandle_t> perDevice;
  int envs = 0;
};
Handles& H() {
  static Handles* h = new Handles();  // never destroyed: cleanup hooks may run after static destructors
  return *h;
}

cublasHandle_t HandleFor(int device) {
  Handles& h = H();
  std::lock_guard<std::mutex> lock(h.mu);
  if (static_cast<int>(h.perDevice.size()) <= device) h.perDevice.resize(device + 1, nullptr);
  if (!h.perDevice[device]) {
    auto create = reinterpret_cast<CublasCreate>(LibSym(Lib::Cublas, "cublasCreate_v2"));
    cublasHandle_t handle = nullptr;
    CheckCublas(create(&handle), ("cublasCreate_v2 (device " + std::to_string(device) + ")").c_str());
    h.perDevice[device] = handle;
  }
  return h.perDevice[device];
}

void DestroyAll() {
  Handles& h = H();
  std::lock_guard<std::mutex> lock(h.mu);
  if (--h.envs > 0) return;
  auto destroy = reinterpret_cast<CublasDestroy>(LibSymOrNull(Lib::Cublas, "cublasDestroy_v2"));
  for (size_t d = 0; d < h.perDevice.size(); d++) {
    if (!h.perDevice[d]) continue;
    if (destroy) {
      UseDevice(static_cast<int>(d));
      destroy(h.perDevice[d]);  // at teardown: a failure has nowhere to go
    }
    h.perDevice[d] = nullptr;
  }
}

}  // namespace

namespace k {
void CublasMatmul(DType dt, const GemmArgs& g, int device, Stream s) {
  const int64_t lim = INT32_MAX;
  if (g.m > lim || g.n > lim || g.k > lim || g.lda > lim || g.ldb > lim || g.ldc > lim || g.batch > lim)
    Throw(code::kUnsupported, "kernels.matmul: cuBLAS takes 32-bit sizes and leading dimensions; got m=" +
                                  std::to_string(g.m) + " n=" + std::to_string(g.n) + " k=" + std::to_string(g.k) +
                                  " batch=" + std::to_string(g.batch));
  int type = kR32F, compute = kCompute32F;
  switch (dt) {
    case DType::F32: compute = g.allowTf32 ? kCompute32FFastTf32 : kCompute32F; break;
    case DType::F64: type = kR64F; compute = kCompute64F; break;
    case DType::F16: type = kR16F; break;
    case DType::BF16: type = kR16BF; break;
    default: Throw(code::kDtype, "kernels.matmul: cuBLAS matmul needs a floating dtype");
  }
  cublasHandle_t handle = HandleFor(device);
  static auto setStream = reinterpret_cast<CublasSetStream>(LibSym(Lib::Cublas, "cublasSetStream_v2"));
  static auto gemm = reinterpret_cast<CublasGemmStridedBatchedEx>(LibSym(Lib::Cublas, "cublasGemmStridedBatchedEx"));
  CheckCublas(setStream(handle, reinterpret_cast<cudaStream_t>(s)), "cublasSetStream_v2");
  // alpha/beta in the compute type's scalar type (double for CUBLAS_COMPUTE_64F, else float)
  const float af = static_cast<float>(g.alpha), bf = static_cast<float>(g.beta);
  const double ad = g.alpha, bd = g.beta;
  const void* alpha = dt == DType::F64 ? static_cast<const void*>(&ad) : &af;
  const void* beta = dt == DType::F64 ? static_cast<const void*>(&bd) : &bf;
  // column-major view: C^T (n x m, ld ldc) = op(B)^T (n x k) @ op(A)^T (k x m)
  CheckCublas(gemm(handle, g.transB ? kOpT : kOpN, g.transA ? kOpT : kOpN, static_cast<int>(g.n),
                   static_cast<int>(g.m), static_cast<int>(g.k), alpha, g.b, type, static_cast<int>(g.ldb), g.strideB,
                   g.a, type, static_cast<int>(g.lda), g.strideA, beta, g.c, type, static_cast<int>(g.ldc), g.strideC,
                   static_cast<int>(g.batch), compute, kGemmDefault),
              "cublasGemmStridedBatchedEx (kernels.matmul)");
}
}  // namespace k
#endif

void RegisterCublas(Napi::Env env, Napi::Object exports) {
#if NODE_NCCL_WITH_CUDA
  {
    std::lock_guard<std::mutex> lock(H().mu);
    H().envs++;
  }
  env.AddCleanupHook([] { DestroyAll(); });
#endif
  (void)env;
  (void)exports;
}

}  // namespace nn
