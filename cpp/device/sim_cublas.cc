// The simulation's cuBLAS: the entry points node-nccl calls (cublasCreate_v2, cublasDestroy_v2,
// cublasSetStream_v2, cublasSetWorkspace_v2, cublasGemmStridedBatchedEx, cublasGetProperty), with
// cuBLAS's meanings and status codes; a GEMM is the host GEMM (cpp/kernels/matmul.cc) queued on
// the handle's stream.
//
// Strict where cuBLAS's documentation sets rules that hardware only punishes by chance:
//  - a handle belongs to the device current at its creation; using it with another device current,
//    or with a stream of another device, fails (CUBLAS_STATUS_EXECUTION_FAILED, as the kernel
//    launch would);
//  - a handle is not to be used by two host threads at once: a thread's cublasSetStream holds the
//    handle until its next GEMM returns, and another thread's call meanwhile fails;
//  - cublasSetStream resets the workspace to the handle's default one (as cuBLAS documents), and a
//    workspace used by a GEMM still queued on another stream may not be used on this one: two
//    streams sharing one workspace race on it on a GPU (PyTorch keeps one per handle and stream).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "../kernels/kernels.h"
#include "sim.h"

namespace nn {
namespace dev {
namespace sim {
namespace {

constexpr int kSuccess_ = 0, kNotInitialized = 1, kInvalidValue = 7, kExecutionFailed = 13, kNotSupported = 15;
constexpr int kOpN = 0, kOpT = 1;
constexpr int kR32F = 0, kR64F = 1, kR16F = 2, kR16BF = 14;
constexpr int kCompute16F = 64, kCompute32F = 68, kCompute64F = 70, kCompute32FFast16F = 74,
              kCompute32FFast16BF = 75, kCompute32FFastTf32 = 77;

struct Handle {
  int device = 0;
  Stream stream = nullptr;
  const void* workspace = nullptr;  // nullptr: the handle's default workspace (keyed by the handle)
  std::thread::id holder;           // the thread between its cublasSetStream and its next GEMM
};

struct State {
  std::mutex mu;
  std::unordered_set<Handle*> live;
  // Each workspace's last GEMM: its stream and that GEMM's ticket there.
  std::unordered_map<const void*, std::pair<StreamImpl*, uint64_t>> lastUse;
};
State& S() {
  static State* s = new State();
  return *s;
}

int Bad(int status, const std::string& why) {
  Note("cuBLAS (simulated): " + why);
  return status;
}

// The calling thread may use h now (cuBLAS: no two threads on one handle at once). Caller holds mu.
bool Claim(Handle* h) {
  std::thread::id me = std::this_thread::get_id();
  if (h->holder != std::thread::id() && h->holder != me) return false;
  h->holder = me;
  return true;
}

int Create(Handle** out) {
  if (!out) return Bad(kInvalidValue, "cublasCreate_v2: handle pointer is null");
  auto* h = new Handle();
  h->device = CurrentDevice();
  std::lock_guard<std::mutex> lock(S().mu);
  S().live.insert(h);
  *out = h;
  return kSuccess_;
}

int Destroy(Handle* h) {
  std::lock_guard<std::mutex> lock(S().mu);
  if (!S().live.erase(h)) return Bad(kNotInitialized, "cublasDestroy_v2: not a live handle");
  S().lastUse.erase(h);
  delete h;
  return kSuccess_;
}

int SetStream(Handle* h, Stream s) {
  std::lock_guard<std::mutex> lock(S().mu);
  if (!S().live.count(h)) return Bad(kNotInitialized, "cublasSetStream_v2: not a live handle");
  if (!Claim(h))
    return Bad(kNotSupported, "cublasSetStream_v2: the handle is in use by another host thread (between its "
                              "cublasSetStream and its GEMM); cuBLAS handles must not be shared by threads at once");
  h->stream = s;
  h->workspace = nullptr;  // cublasSetStream resets the workspace to the default one
  return kSuccess_;
}

int SetWorkspace(Handle* h, void* ws, size_t bytes) {
  std::lock_guard<std::mutex> lock(S().mu);
  if (!S().live.count(h)) return Bad(kNotInitialized, "cublasSetWorkspace_v2: not a live handle");
  if (bytes > 0 && !OnDevice(ws, bytes, h->device))
    return Bad(kInvalidValue, "cublasSetWorkspace_v2: the workspace " + Describe(ws) + " is not " +
                                  std::to_string(bytes) + " B of memory of the handle's device cuda:" +
                                  std::to_string(h->device));
  if (reinterpret_cast<uintptr_t>(ws) % 256 != 0)
    return Bad(kInvalidValue, "cublasSetWorkspace_v2: the workspace must be 256-byte aligned");
  h->workspace = bytes > 0 ? ws : nullptr;
  return kSuccess_;
}

bool ValidTypes(int type, int compute) {
  switch (compute) {
    case kCompute16F: return type == kR16F;
    case kCompute32F: return type == kR32F || type == kR16F || type == kR16BF;
    case kCompute32FFast16F:
    case kCompute32FFast16BF:
    case kCompute32FFastTf32: return type == kR32F;
    case kCompute64F: return type == kR64F;
    default: return false;
  }
}

double Scalar(const void* p, int compute) {
  if (compute == kCompute64F) return *static_cast<const double*>(p);
  if (compute == kCompute16F) {
    uint16_t h;
    std::memcpy(&h, p, 2);
    uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ffu;
    float f;
    if (exp == 0) f = std::ldexp(static_cast<float>(man), -24);
    else if (exp == 31) f = man ? NAN : INFINITY;
    else f = std::ldexp(static_cast<float>(man | 0x400u), static_cast<int>(exp) - 25);
    return sign ? -f : f;
  }
  return *static_cast<const float*>(p);
}

// Column-major C (m x n, ldc) = alpha op(A) op(B) + beta C, batched with strides (in elements).
int Gemm(Handle* h, int transa, int transb, int m, int n, int kk, const void* alpha, const void* A, int Atype, int lda,
         long long strideA, const void* B, int Btype, int ldb, long long strideB, const void* beta, void* C, int Ctype,
         int ldc, long long strideC, int batch, int compute, int algo) {
  std::unique_lock<std::mutex> lock(S().mu);
  if (!S().live.count(h)) return Bad(kNotInitialized, "cublasGemmStridedBatchedEx: not a live handle");
  if (!Claim(h))
    return Bad(kNotSupported, "cublasGemmStridedBatchedEx: the handle is in use by another host thread; cuBLAS "
                              "handles must not be shared by threads at once");
  struct Release {
    Handle* h;
    ~Release() { h->holder = std::thread::id(); }
  } release{h};
  if ((transa != kOpN && transa != kOpT) || (transb != kOpN && transb != kOpT))
    return Bad(kInvalidValue, "cublasGemmStridedBatchedEx: transa/transb must be CUBLAS_OP_N or CUBLAS_OP_T here");
  if (m < 0 || n < 0 || kk < 0 || batch < 0) return Bad(kInvalidValue, "cublasGemmStridedBatchedEx: m, n, k and batchCount must be >= 0");
  const int rowsA = transa == kOpN ? m : kk, rowsB = transb == kOpN ? kk : n;
  if (lda < std::max(1, rowsA) || ldb < std::max(1, rowsB) || ldc < std::max(1, m))
    return Bad(kInvalidValue, "cublasGemmStridedBatchedEx: lda, ldb, ldc must be at least the stored rows of A, B, C");
  if (Atype != Btype || Atype != Ctype || !ValidTypes(Atype, compute))
    return Bad(kNotSupported, "cublasGemmStridedBatchedEx: types A=" + std::to_string(Atype) + " B=" + std::to_string(Btype) +
                                  " C=" + std::to_string(Ctype) + " with compute type " + std::to_string(compute) +
                                  " are not a combination cuBLAS supports");
  if (algo != -1 && algo != 99 && (algo < 0 || algo > 23))
    return Bad(kInvalidValue, "cublasGemmStridedBatchedEx: algo " + std::to_string(algo) + " is not a cublasGemmAlgo_t");
  if (!alpha || !beta) return Bad(kInvalidValue, "cublasGemmStridedBatchedEx: alpha and beta must not be null");
  if (CurrentDevice() != h->device)
    return Bad(kExecutionFailed, "cublasGemmStridedBatchedEx: the handle was created on cuda:" + std::to_string(h->device) +
                                     " but cuda:" + std::to_string(CurrentDevice()) + " is current");
  std::string why;
  StreamImpl* s = LaunchStream(h->stream, h->device, &why);
  if (!s) return Bad(kExecutionFailed, "cublasGemmStridedBatchedEx: " + why);
  if (m == 0 || n == 0 || batch == 0) return kSuccess_;
  for (auto [p, name] : {std::pair<const void*, const char*>{A, "A"}, {B, "B"}, {C, "C"}}) {
    if (kk == 0 && p != C) continue;
    if (!OnDevice(p, 0, h->device))
      return Bad(kExecutionFailed, std::string("cublasGemmStridedBatchedEx: ") + name + " is " + Describe(p) +
                                       ", not memory of the handle's device cuda:" + std::to_string(h->device));
  }
  const void* ws = h->workspace ? h->workspace : static_cast<const void*>(h);
  auto last = S().lastUse.find(ws);
  if (last != S().lastUse.end() && last->second.first != s && !last->second.first->Done(last->second.second))
    return Bad(kNotSupported, "cublasGemmStridedBatchedEx: the handle's " +
                                  std::string(h->workspace ? "workspace" : "default workspace") +
                                  " is still used by a GEMM queued on another stream; two streams sharing a workspace "
                                  "race on it (set one workspace per stream with cublasSetWorkspace)");
  // Undo the column-major view: row-major C^T (n x m) = op(B)^T (n x k) @ op(A)^T (k x m).
  k::GemmArgs g{};
  g.batch = batch;
  g.m = n;
  g.n = m;
  g.k = kk;
  g.a = B;
  g.lda = ldb;
  g.strideA = strideB;
  g.transA = transb == kOpT;
  g.b = A;
  g.ldb = lda;
  g.strideB = strideA;
  g.transB = transa == kOpT;
  g.c = C;
  g.ldc = ldc;
  g.strideC = strideC;
  g.alpha = Scalar(alpha, compute);
  g.beta = Scalar(beta, compute);
  g.allowTf32 = compute == kCompute32FFastTf32;
  k::DType dt = Atype == kR64F ? k::DType::F64 : Atype == kR16F ? k::DType::F16 : Atype == kR16BF ? k::DType::BF16 : k::DType::F32;
  int device = h->device;
  lock.unlock();
  uint64_t ticket = s->Enqueue([g, dt, device] {
    if (Sticky(device) != kSuccess) return;
    k::HostMatmul(dt, g);
  });
  lock.lock();
  S().lastUse[ws] = {s, ticket};
  return kSuccess_;
}

int GetProperty(int type, int* value) {
  if (!value || type < 0 || type > 2) return kInvalidValue;
  *value = type == 0 ? 13 : 0;
  return kSuccess_;
}

void* Lookup(const char* name) {
  static const std::unordered_map<std::string, void*> table = {
      {"cublasCreate_v2", reinterpret_cast<void*>(&Create)},
      {"cublasDestroy_v2", reinterpret_cast<void*>(&Destroy)},
      {"cublasSetStream_v2", reinterpret_cast<void*>(&SetStream)},
      {"cublasSetWorkspace_v2", reinterpret_cast<void*>(&SetWorkspace)},
      {"cublasGemmStridedBatchedEx", reinterpret_cast<void*>(&Gemm)},
      {"cublasGetProperty", reinterpret_cast<void*>(&GetProperty)},
  };
  auto it = table.find(name);
  return it == table.end() ? nullptr : it->second;
}

}  // namespace

const SymbolTable& Cublas() {
  static const SymbolTable t{"(simulated cuBLAS, node-nccl)", 130000, "13.0.0", &Lookup};
  return t;
}

}  // namespace sim
}  // namespace dev
}  // namespace nn
