// Per-environment state of the addon (one per main thread or worker) and the registration table.
#pragma once
#include <napi.h>

#include <string>
#include <unordered_map>

namespace nn {

struct AddonData {
  Napi::FunctionReference errorFactory;                               // lib/errors.ts createNativeError
  std::unordered_map<std::string, Napi::FunctionReference> classes;   // ObjectWrap constructors by name
};

AddonData& Data(Napi::Env env);

// One entry per native module; addon.cc calls each Register in order.
void RegisterErrors(Napi::Env env, Napi::Object exports);
void RegisterBuildInfo(Napi::Env env, Napi::Object exports);

}  // namespace nn
