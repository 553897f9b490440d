#include "errors.h"

#include "addon.h"

#include <cerrno>
#include <cstring>

#include "device/device.h"

namespace nn {
namespace {
Napi::Value SetErrorFactory(const Napi::CallbackInfo& info) {
  if (info.Length() != 1 || !info[0].IsFunction()) Throw(code::kInvalidArg, "setErrorFactory(fn): expected a function");
  Data(info.Env()).errorFactory = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

const char* CublasName(int s) {
  switch (s) {
    case 0: return "CUBLAS_STATUS_SUCCESS";
    case 1: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case 3: return "CUBLAS_STATUS_ALLOC_FAILED";
    case 7: return "CUBLAS_STATUS_INVALID_VALUE";
    case 8: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case 11: return "CUBLAS_STATUS_MAPPING_ERROR";
    case 13: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case 14: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case 15: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case 16: return "CUBLAS_STATUS_LICENSE_ERROR";
    default: return "CUBLAS_STATUS_UNKNOWN";
  }
}

const char* NcclName(int r) {
  switch (r) {
    case 0: return "ncclSuccess";
    case 1: return "ncclUnhandledCudaError";
    case 2: return "ncclSystemError";
    case 3: return "ncclInternalError";
    case 4: return "ncclInvalidArgument";
    case 5: return "ncclInvalidUsage";
    case 6: return "ncclRemoteError";
    case 7: return "ncclInProgress";
    case 8: return "ncclTimeout";
    default: return "ncclUnknownError";
  }
}
}  // namespace

void Throw(const char* errCode, const std::string& message) { throw NativeError(errCode, message); }

void ThrowErrno(const std::string& what, int err) {
  char buf[256];
  const char* msg = buf;
#if (_POSIX_C_SOURCE >= 200112L) && !_GNU_SOURCE
  strerror_r(err, buf, sizeof buf);
#else
  msg = strerror_r(err, buf, sizeof buf);
#endif
  const char* c = (err == ENOMEM) ? code::kHostOom : code::kOs;
  throw NativeError(c, what + ": " + msg + " (errno " + std::to_string(err) + ")", err, strerrorname_np(err) ? strerrorname_np(err) : "");
}

void CheckCuda(int status, const char* what) {
  if (status == 0) return;
  dev::Api& api = dev::Get();
  std::string name = api.ErrorName(status);
  std::string msg = std::string(what) + " failed: " + name + ": " + api.ErrorString(status);
  std::string detail = api.Diagnostic();
  if (!detail.empty()) msg += " (" + detail + ")";
  const char* c = code::kCuda;
  if (status == dev::kErrMemoryAllocation) c = code::kCudaOom;
  else if (status == dev::kErrNoDevice) c = code::kNoGpu;
  else if (status == dev::kErrInsufficientDriver || status == dev::kErrStubLibrary) c = code::kNoDriver;
  else if (status == dev::kErrInvalidDevice) c = code::kInvalidArg;
  throw NativeError(c, msg, status, name);
}

void CheckCublas(int status, const char* what) {
  if (status == 0) return;
  std::string name = CublasName(status);
  std::string msg = std::string(what) + " failed: " + name;
  std::string detail = dev::Get().Diagnostic();
  if (!detail.empty()) msg += " (" + detail + ")";
  throw NativeError(status == 3 ? code::kCudaOom : code::kCublas, msg, status, name);
}

void CheckNccl(int result, const char* what, const char* lastError) {
  if (result == 0) return;
  std::string name = NcclName(result);
  std::string msg = std::string(what) + " failed: " + name;
  if (lastError && *lastError) msg += ": " + std::string(lastError);
  const char* c = code::kNccl;
  if (result == 6) c = code::kDistPeer;
  else if (result == 8) c = code::kDistTimeout;
  else if (result == 4 || result == 5) c = code::kInvalidArg;
  throw NativeError(c, msg, result, name);
}

Napi::Error ToJsError(Napi::Env env, const NativeError& e) {
  Napi::FunctionReference& factory = Data(env).errorFactory;
  Napi::Object details = Napi::Object::New(env);
  if (e.nativeCode != 0) details.Set("nativeCode", Napi::Number::New(env, static_cast<double>(e.nativeCode)));
  if (!e.nativeName.empty()) details.Set("nativeName", Napi::String::New(env, e.nativeName));
  if (!factory.IsEmpty()) {
    Napi::Value v = factory.Call({Napi::String::New(env, e.code), Napi::String::New(env, e.what()), details});
    if (v.IsObject()) return Napi::Error(env, v);
  }
  Napi::Error err = Napi::Error::New(env, e.what());
  err.Set("code", Napi::String::New(env, e.code));
  return err;
}

void RegisterErrors(Napi::Env env, Napi::Object exports) {
  exports.Set("setErrorFactory", Napi::Function::New(env, NN_FN(SetErrorFactory), "setErrorFactory"));
}

}  // namespace nn
