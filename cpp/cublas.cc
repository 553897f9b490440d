// cuBLAS for matmul, loaded at run time through cpp/loader.h (no cuBLAS headers: the few
// declarations below are our own). Row-major C = op(A) @ op(B) is computed as column-major
// C^T = op(B)^T @ op(A)^T, i.e. with the operands swapped; cublasGemmStridedBatchedEx runs every
// batch entry in one call, on the device's current stream.
//
// Handles and workspaces follow PyTorch (CUDABlasHandlePool / getCurrentCUDABlasHandle):
//  - a cuBLAS handle must not be used by two host threads at once, so each thread (the main JS
//    thread, each worker_thread) takes its own handle per device from a pool the first time it
//    runs a GEMM there, and gives it back to the pool when the thread ends;
//  - cublasSetStream resets the handle's workspace to cuBLAS's default one, which two streams
//    would then share and race on; so every (handle, stream) pair gets its own workspace from the
//    caching allocator, set after each cublasSetStream. Workspaces are kept for the process (as
//    PyTorch's), and streams are pooled (stream.cc), so a (handle, stream) key is never reused by
//    an unrelated stream.
// Free handles are destroyed when the last environment (main thread or worker) is cleaned up.
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "addon.h"
#include "allocator.h"
#include "errors.h"
#include "kernels/kernels.h"
#include "loader.h"
#include "runtime.h"

namespace nn {

namespace {

// ---- our own minimal cuBLAS declarations (cublas_api.h / library_types.h values) -------------
struct cublasContext;
using cublasHandle_t = cublasContext*;
using CublasCreate = int (*)(cublasHandle_t*);
using CublasDestroy = int (*)(cublasHandle_t);
using CublasSetStream = int (*)(cublasHandle_t, dev::Stream);
using CublasSetWorkspace = int (*)(cublasHandle_t, void*, size_t);
using CublasGemmStridedBatchedEx = int (*)(cublasHandle_t, int transa, int transb, int m, int n, int k,
                                           const void* alpha, const void* A, int Atype, int lda, long long strideA,
                                           const void* B, int Btype, int ldb, long long strideB, const void* beta,
                                           void* C, int Ctype, int ldc, long long strideC, int batchCount,
                                           int computeType, int algo);
constexpr int kOpN = 0, kOpT = 1;                                               // cublasOperation_t
constexpr int kR32F = 0, kR64F = 1, kR16F = 2, kR16BF = 14;                     // cudaDataType
constexpr int kCompute32F = 68, kCompute32FFastTf32 = 77, kCompute64F = 70;      // cublasComputeType_t
constexpr int kGemmDefault = -1;                                                // cublasGemmAlgo_t

// Free handles per device, and every workspace by (handle, stream). Never destroyed: cleanup hooks
// may run after static destructors.
struct Pool {
  std::mutex mu;
  std::vector<std::vector<cublasHandle_t>> free;  // by device
  std::map<std::pair<cublasHandle_t, dev::Stream>, DeviceAllocation> workspaces;
  int envs = 0;
};
Pool& P() {
  static Pool* p = new Pool();
  return *p;
}

// This thread's handles by device; returned to the pool when the thread exits.
struct ThreadHandles {
  std::vector<cublasHandle_t> byDevice;
  ~ThreadHandles() {
    std::lock_guard<std::mutex> lock(P().mu);
    for (size_t d = 0; d < byDevice.size(); d++)
      if (byDevice[d]) P().free[d].push_back(byDevice[d]);
  }
};
thread_local ThreadHandles tHandles;

// The calling thread's handle for `device` (current on this thread).
cublasHandle_t HandleFor(int device) {
  auto& mine = tHandles.byDevice;
  if (static_cast<int>(mine.size()) <= device) mine.resize(device + 1, nullptr);
  if (mine[device]) return mine[device];
  {
    std::lock_guard<std::mutex> lock(P().mu);
    if (static_cast<int>(P().free.size()) <= device) P().free.resize(device + 1);
    if (!P().free[device].empty()) {
      mine[device] = P().free[device].back();
      P().free[device].pop_back();
      return mine[device];
    }
  }
  auto create = reinterpret_cast<CublasCreate>(LibSym(Lib::Cublas, "cublasCreate_v2"));
  cublasHandle_t handle = nullptr;
  CheckCublas(create(&handle), ("cublasCreate_v2 (device " + std::to_string(device) + ")").c_str());
  mine[device] = handle;
  return handle;
}

// PyTorch's default cuBLAS workspace size: 4096 KiB x 8 on Hopper and newer, else 4096 KiB x 2 +
// 16 KiB x 8 (CUBLAS_WORKSPACE_CONFIG's defaults).
size_t WorkspaceBytes(int device) {
  dev::Props p;
  if (dev::Get().GetDeviceProperties(&p, device) != dev::kSuccess) {
    dev::Get().GetLastError();
    return size_t{4096} * 1024 * 2 + 16 * 1024 * 8;
  }
  return p.major >= 9 ? size_t{4096} * 1024 * 8 : size_t{4096} * 1024 * 2 + 16 * 1024 * 8;
}

// Binds the handle to stream s with its own workspace for that stream.
void BindStream(cublasHandle_t handle, int device, dev::Stream s) {
  static auto setStream = reinterpret_cast<CublasSetStream>(LibSym(Lib::Cublas, "cublasSetStream_v2"));
  static auto setWorkspace = reinterpret_cast<CublasSetWorkspace>(LibSym(Lib::Cublas, "cublasSetWorkspace_v2"));
  CheckCublas(setStream(handle, s), "cublasSetStream_v2");
  DeviceAllocation ws;
  {
    std::lock_guard<std::mutex> lock(P().mu);
    auto it = P().workspaces.find({handle, s});
    if (it != P().workspaces.end()) ws = it->second;
  }
  if (!ws.ptr) {
    ws = DeviceMalloc(device, WorkspaceBytes(device), s);
    std::lock_guard<std::mutex> lock(P().mu);
    P().workspaces[{handle, s}] = ws;
  }
  CheckCublas(setWorkspace(handle, ws.ptr, ws.size), "cublasSetWorkspace_v2");
}

void DestroyFree() {
  std::lock_guard<std::mutex> lock(P().mu);
  if (--P().envs > 0) return;
  auto destroy = reinterpret_cast<CublasDestroy>(LibSymOrNull(Lib::Cublas, "cublasDestroy_v2"));
  for (size_t d = 0; d < P().free.size(); d++) {
    for (cublasHandle_t h : P().free[d]) {
      if (!destroy) continue;
      dev::DeviceGuard guard(static_cast<int>(d));
      destroy(h);  // at teardown: a failure has nowhere to go
      for (auto it = P().workspaces.begin(); it != P().workspaces.end();)
        it = it->first.first == h ? P().workspaces.erase(it) : std::next(it);
    }
    P().free[d].clear();
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
  static auto gemm = reinterpret_cast<CublasGemmStridedBatchedEx>(LibSym(Lib::Cublas, "cublasGemmStridedBatchedEx"));
  BindStream(handle, device, s);
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

void RegisterCublas(Napi::Env env, Napi::Object exports) {
  {
    std::lock_guard<std::mutex> lock(P().mu);
    P().envs++;
  }
  env.AddCleanupHook([] { DestroyFree(); });
  (void)exports;
}

}  // namespace nn
