// The one translation of native failures (cudaError_t, cublasStatus_t, ncclResult_t, errno) into
// JS errors. Native code throws nn::NativeError; the Guard wrapper around every export turns it
// into an instance of the JS error class for its code (lib/errors.ts hands the factory over at init).
#pragma once
#include <napi.h>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace nn {

// Stable codes shared with lib/errors.ts (keep the two lists in step).
namespace code {
constexpr const char* kInvalidArg = "ERR_INVALID_ARG";
constexpr const char* kShapeMismatch = "ERR_SHAPE_MISMATCH";
constexpr const char* kDtype = "ERR_DTYPE";
constexpr const char* kDeviceMismatch = "ERR_DEVICE_MISMATCH";
constexpr const char* kIndexOutOfRange = "ERR_INDEX_OUT_OF_RANGE";
constexpr const char* kDisposed = "ERR_DISPOSED";
constexpr const char* kDetached = "ERR_DETACHED";
constexpr const char* kNoGpu = "ERR_NO_GPU";
constexpr const char* kNoDriver = "ERR_NO_DRIVER";
constexpr const char* kNoCuda = "ERR_NO_CUDA_BUILD";
constexpr const char* kCuda = "ERR_CUDA";
constexpr const char* kCudaOom = "ERR_CUDA_OOM";
constexpr const char* kCublas = "ERR_CUBLAS";
constexpr const char* kNccl = "ERR_NCCL";
constexpr const char* kLibNotFound = "ERR_LIB_NOT_FOUND";
constexpr const char* kSymbolNotFound = "ERR_SYMBOL_NOT_FOUND";
constexpr const char* kOs = "ERR_OS";
constexpr const char* kHostOom = "ERR_HOST_OOM";
constexpr const char* kDistTimeout = "ERR_DIST_TIMEOUT";
constexpr const char* kDistPeer = "ERR_DIST_PEER_FAILURE";
constexpr const char* kDistAborted = "ERR_DIST_ABORTED";
constexpr const char* kDistMismatch = "ERR_DIST_MISMATCH";
constexpr const char* kDist = "ERR_DIST";
constexpr const char* kUnsupported = "ERR_UNSUPPORTED";
constexpr const char* kInternal = "ERR_INTERNAL";
}  // namespace code

class NativeError : public std::runtime_error {
 public:
  // nativeCode/nativeName: the library's own code and symbolic name (e.g. 2, "cudaErrorMemoryAllocation").
  NativeError(std::string errCode, const std::string& message, int64_t nativeCode = 0, std::string nativeName = "")
      : std::runtime_error(message), code(std::move(errCode)), nativeCode(nativeCode), nativeName(std::move(nativeName)) {}
  std::string code;
  int64_t nativeCode;
  std::string nativeName;
};

[[noreturn]] void Throw(const char* errCode, const std::string& message);
[[noreturn]] void ThrowErrno(const std::string& what, int err);
// Throw when a library call failed. `what` names the call (and its arguments where useful).
void CheckCuda(int cudaStatus, const char* what);
void CheckCublas(int cublasStatus, const char* what);
void CheckNccl(int ncclResult, const char* what, const char* lastError = nullptr);

Napi::Error ToJsError(Napi::Env env, const NativeError& e);
void RegisterErrors(Napi::Env env, Napi::Object exports);

// Runs fn and converts anything it throws into a JS exception. Every export goes through this.
template <typename Fn>
auto Guard(Napi::Env env, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const NativeError& e) {
    throw ToJsError(env, e);
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw ToJsError(env, NativeError(code::kHostOom, "host memory allocation failed"));
  } catch (const std::exception& e) {
    throw ToJsError(env, NativeError(code::kInternal, std::string("internal error: ") + e.what()));
  }
}

}  // namespace nn

// Wraps a free function `Napi::Value f(const Napi::CallbackInfo&)` for registration.
#define NN_FN(f) \
  [](const Napi::CallbackInfo& info) -> Napi::Value { return ::nn::Guard(info.Env(), [&] { return f(info); }); }
