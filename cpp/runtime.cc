// CUDA runtime: device discovery (the reasons for "no device" reported as data, never a crash),
// the current device, the current stream per device (thread-local, like PyTorch's), device
// properties, versions and device-wide synchronize. Exports live under `native.cuda`.
#include "runtime.h"

#include <mutex>
#include <vector>

#include "addon.h"
#include "async.h"

namespace nn {
namespace {

struct Discovery {
  int count = 0;
  std::string reason;  // why count is 0
};

const Discovery& Discover() {
  static Discovery d;
  static std::once_flag once;
  std::call_once(once, [] {
    dev::Api& api = dev::Get();
    int n = 0;
    if (api.GetDeviceCount(&n) == dev::kSuccess && n > 0) d.count = n;
    else d.reason = api.Description();
    api.GetLastError();
  });
  return d;
}

thread_local std::vector<dev::Stream> tCurrent;

[[noreturn]] void ThrowNoGpu(const char* fn) {
  const Discovery& d = Discover();
  const char* c = code::kNoGpu;
  if (d.reason == "built without CUDA") c = code::kNoCuda;
  else if (d.reason.rfind("NODE_NCCL_SIM_", 0) == 0) c = code::kInvalidArg;
  else if (d.reason.rfind("no CUDA driver", 0) == 0 || d.reason.rfind("CUDA driver too old", 0) == 0) c = code::kNoDriver;
  Throw(c, std::string(fn) + ": no CUDA device is usable: " + d.reason);
}

int ReadDevice(const Args& a, size_t i, bool optional) {
  if (optional && a.IsMissing(i)) {
    if (DeviceCount() == 0) ThrowNoGpu(a.fn());
    return CurrentDevice();
  }
  int dev = static_cast<int>(a.Int(i, "device", 0, 1 << 20));
  CheckDevice(dev, a.fn());
  return dev;
}

Napi::Value IsAvailable(const Napi::CallbackInfo& info) {
  Args a(info, "cuda.isAvailable");
  a.Count(0, 0);
  return Napi::Boolean::New(info.Env(), DeviceCount() > 0);
}

Napi::Value JsDeviceCount(const Napi::CallbackInfo& info) {
  Args a(info, "cuda.deviceCount");
  a.Count(0, 0);
  return Napi::Number::New(info.Env(), DeviceCount());
}

Napi::Value JsNoGpuReason(const Napi::CallbackInfo& info) {
  Args a(info, "cuda.noGpuReason");
  a.Count(0, 0);
  return Napi::String::New(info.Env(), NoGpuReason());
}

Napi::Value Versions(const Napi::CallbackInfo& info) {
  Args a(info, "cuda.versions");
  a.Count(0, 0);
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  auto put = [&](const char* k, int v) {
    if (v > 0) o.Set(k, Napi::Number::New(env, v));
    else o.Set(k, env.Null());
  };
  put("driver", DriverVersion());
  put("runtime", RuntimeVersion());
  return o;
}

Napi::Value GetDeviceProperties(const Napi::CallbackInfo& info) {
  Args a(info, "cuda.getDeviceProperties");
  a.Count(1, 1);
  int dev = ReadDevice(a, 0, false);
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  dev::Props p;
  CheckCuda(dev::Get().GetDeviceProperties(&p, dev), "cudaGetDeviceProperties");
  o.Set("index", Napi::Number::New(env, dev));
  o.Set("name", Napi::String::New(env, p.name));
  o.Set("major", Napi::Number::New(env, p.major));
  o.Set("minor", Napi::Number::New(env, p.minor));
  o.Set("computeCapability", Napi::String::New(env, std::to_string(p.major) + "." + std::to_string(p.minor)));
  o.Set("totalMemory", Napi::Number::New(env, static_cast<double>(p.totalGlobalMem)));
  o.Set("multiProcessorCount", Napi::Number::New(env, p.multiProcessorCount));
  o.Set("warpSize", Napi::Number::New(env, p.warpSize));
  o.Set("maxThreadsPerBlock", Napi::Number::New(env, p.maxThreadsPerBlock));
  o.Set("maxThreadsPerMultiProcessor", Napi::Number::New(env, p.maxThreadsPerMultiProcessor));
  o.Set("sharedMemoryPerBlock", Napi::Number::New(env, static_cast<double>(p.sharedMemPerBlock)));
  o.Set("sharedMemoryPerBlockOptin", Napi::Number::New(env, static_cast<double>(p.sharedMemPerBlockOptin)));
  o.Set("l2CacheSize", Napi::Number::New(env, p.l2CacheSize));
  o.Set("memoryBusWidth", Napi::Number::New(env, p.memoryBusWidth));
  o.Set("clockRateKHz", Napi::Number::New(env, p.clockRateKHz));
  o.Set("memoryClockRateKHz", Napi::Number::New(env, p.memoryClockRateKHz));
  o.Set("pciBusId", Napi::Number::New(env, p.pciBusID));
  o.Set("pciDeviceId", Napi::Number::New(env, p.pciDeviceID));
  o.Set("pciDomainId", Napi::Number::New(env, p.pciDomainID));
  char uuid[64];
  const unsigned char* u = p.uuid;
  snprintf(uuid, sizeof uuid, "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
           u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
  o.Set("uuid", Napi::String::New(env, uuid));
  o.Set("integrated", Napi::Boolean::New(env, p.integrated));
  o.Set("eccEnabled", Napi::Boolean::New(env, p.eccEnabled));
  o.Set("concurrentKernels", Napi::Boolean::New(env, p.concurrentKernels));
  o.Set("streamPriorities", Napi::Boolean::New(env, p.streamPriorities));
  o.Set("simulated", Napi::Boolean::New(env, std::string(dev::Get().Kind()) == "simulated"));
  return o;
}

// deviceApi(): which implementation is below the device interface ('cuda', 'simulated' or 'none'),
// and its description (the simulated devices' count and memory, or why there is no device).
Napi::Value DeviceApi(const Napi::CallbackInfo& info) {
  Args a(info, "cuda.deviceApi");
  a.Count(0, 0);
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  dev::Api& api = dev::Get();
  o.Set("kind", Napi::String::New(env, api.Kind()));
  o.Set("description", Napi::String::New(env, api.Description()));
  return o;
}

Napi::Value SetDevice(const Napi::CallbackInfo& info) {
  Args a(info, "cuda.setDevice");
  a.Count(1, 1);
  int dev = ReadDevice(a, 0, false);
  CheckCuda(dev::Get().SetDevice(dev), "cudaSetDevice");
  return info.Env().Undefined();
}

Napi::Value JsCurrentDevice(const Napi::CallbackInfo& info) {
  Args a(info, "cuda.currentDevice");
  a.Count(0, 0);
  if (DeviceCount() == 0) ThrowNoGpu(a.fn());
  return Napi::Number::New(info.Env(), CurrentDevice());
}

Napi::Value MemGetInfo(const Napi::CallbackInfo& info) {
  Args a(info, "cuda.memGetInfo");
  a.Count(0, 1);
  int dev = ReadDevice(a, 0, true);
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  dev::DeviceGuard guard(dev);
  size_t freeB = 0, totalB = 0;
  CheckCuda(dev::Get().MemGetInfo(&freeB, &totalB), "cudaMemGetInfo");
  o.Set("free", Napi::Number::New(env, static_cast<double>(freeB)));
  o.Set("total", Napi::Number::New(env, static_cast<double>(totalB)));
  return o;
}

// synchronize(device?): a Promise resolved from the thread pool when every stream of the device is
// idle (cudaDeviceSynchronize there), so the event loop keeps running.
Napi::Value Synchronize(const Napi::CallbackInfo& info) {
  Args a(info, "cuda.synchronize");
  a.Count(0, 1);
  int dev = ReadDevice(a, 0, true);
  return RunAsync(info.Env(), [dev] {
    dev::DeviceGuard guard(dev);
    CheckCuda(dev::Get().DeviceSynchronize(), "cudaDeviceSynchronize");
  });
}

// synchronizeSync(device?): the blocking form, for scripts that want it (like torch.cuda.synchronize).
Napi::Value SynchronizeSync(const Napi::CallbackInfo& info) {
  Args a(info, "cuda.synchronizeSync");
  a.Count(0, 1);
  int dev = ReadDevice(a, 0, true);
  dev::DeviceGuard guard(dev);
  CheckCuda(dev::Get().DeviceSynchronize(), "cudaDeviceSynchronize");
  return info.Env().Undefined();
}

}  // namespace

int DeviceCount() { return Discover().count; }
std::string NoGpuReason() { return Discover().reason; }

void CheckDevice(int device, const char* fn) {
  if (device < 0) Throw(code::kInvalidArg, std::string(fn) + ": device must be a non-negative integer, got " + std::to_string(device));
  int n = DeviceCount();
  if (n == 0) ThrowNoGpu(fn);
  if (device >= n)
    Throw(code::kInvalidArg, std::string(fn) + ": device " + std::to_string(device) + " does not exist (" +
                                 std::to_string(n) + " device(s): 0.." + std::to_string(n - 1) + ")");
}

int CurrentDevice() {
  if (DeviceCount() == 0) return 0;
  int d = 0;
  CheckCuda(dev::Get().GetDevice(&d), "cudaGetDevice");
  return d;
}

int DriverVersion() {
  int v = 0;
  return dev::Get().DriverGetVersion(&v) == dev::kSuccess ? v : 0;
}

int RuntimeVersion() {
  int v = 0;
  return dev::Get().RuntimeGetVersion(&v) == dev::kSuccess ? v : 0;
}

dev::Stream CurrentStream(int device) {
  if (device < 0 || static_cast<size_t>(device) >= tCurrent.size()) return nullptr;
  return tCurrent[device];
}

void SetCurrentStream(int device, dev::Stream stream) {
  if (device < 0 || device >= DeviceCount()) return;
  if (tCurrent.size() < static_cast<size_t>(DeviceCount())) tCurrent.resize(DeviceCount(), nullptr);
  tCurrent[device] = stream;
}

void RegisterRuntime(Napi::Env env, Napi::Object exports) {
  Napi::Object cuda = Namespace(exports, "cuda");
  cuda.Set("isAvailable", Napi::Function::New(env, NN_FN(IsAvailable), "isAvailable"));
  cuda.Set("deviceCount", Napi::Function::New(env, NN_FN(JsDeviceCount), "deviceCount"));
  cuda.Set("noGpuReason", Napi::Function::New(env, NN_FN(JsNoGpuReason), "noGpuReason"));
  cuda.Set("versions", Napi::Function::New(env, NN_FN(Versions), "versions"));
  cuda.Set("getDeviceProperties", Napi::Function::New(env, NN_FN(GetDeviceProperties), "getDeviceProperties"));
  cuda.Set("deviceApi", Napi::Function::New(env, NN_FN(DeviceApi), "deviceApi"));
  cuda.Set("setDevice", Napi::Function::New(env, NN_FN(SetDevice), "setDevice"));
  cuda.Set("currentDevice", Napi::Function::New(env, NN_FN(JsCurrentDevice), "currentDevice"));
  cuda.Set("memGetInfo", Napi::Function::New(env, NN_FN(MemGetInfo), "memGetInfo"));
  cuda.Set("synchronize", Napi::Function::New(env, NN_FN(Synchronize), "synchronize"));
  cuda.Set("synchronizeSync", Napi::Function::New(env, NN_FN(SynchronizeSync), "synchronizeSync"));
}

}  // namespace nn
