// Per-environment state of the addon (one per main thread or worker) and the registration table.
#pragma once
#include <napi.h>

#include <string>
#include <unordered_map>
#include <vector>

namespace nn {

struct AddonData {
  Napi::FunctionReference errorFactory;                               // lib/errors.ts createNativeError
  std::unordered_map<std::string, Napi::FunctionReference> classes;   // ObjectWrap constructors by name
  // cuda.Stream objects: the current stream per device (index = device; empty = the default
  // stream) and the cached wrappers of each device's legacy default stream (stream.cc).
  std::vector<Napi::ObjectReference> currentStreams;
  std::vector<Napi::ObjectReference> defaultStreams;
  // Property names read on every kernel call ("mem", "offset", "strides"), created once: a name
  // passed as a C string is re-internalized by V8 on each lookup. Held in an array because
  // Node-API 8 has no references to strings.
  Napi::ObjectReference viewKeys;
};

AddonData& Data(Napi::Env env);
// exports[name], created as an empty object on first use: modules add to shared namespaces.
Napi::Object Namespace(Napi::Object exports, const char* name);

// One entry per native module; addon.cc calls each Register in order.
void RegisterErrors(Napi::Env env, Napi::Object exports);
void RegisterBuildInfo(Napi::Env env, Napi::Object exports);
void RegisterRuntime(Napi::Env env, Napi::Object exports);     // runtime.cc   native.cuda devices
void RegisterStreams(Napi::Env env, Napi::Object exports);     // stream.cc    native.cuda.Stream/Event
void RegisterAllocator(Napi::Env env, Napi::Object exports);   // allocator.cc native.cuda memory stats, pinned
void RegisterBuffer(Napi::Env env, Napi::Object exports);      // buffer.cc    native.cuda.DeviceBuffer
void RegisterCopy(Napi::Env env, Napi::Object exports);        // copy.cc      native.cuda.memcpy*
void RegisterLoader(Napi::Env env, Napi::Object exports);      // loader.cc    native.loader
void RegisterNccl(Napi::Env env, Napi::Object exports);        // nccl.cc      native.nccl
void RegisterKernels(Napi::Env env, Napi::Object exports);     // kernels.cc   native.kernels
void RegisterCublas(Napi::Env env, Napi::Object exports);      // cublas.cc    cuBLAS handles (cleanup hook)
void RegisterCpuComm(Napi::Env env, Napi::Object exports);     // cpu_comm_napi.cc native.dist.CpuComm

}  // namespace nn
