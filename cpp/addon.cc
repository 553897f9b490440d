// Module init: the one registration table. Each native module exports its functions and classes
// through its Register function; the environment's state lives in AddonData.
#include "addon.h"

#include "common.h"
#include "errors.h"

namespace nn {

AddonData& Data(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

Napi::Object Namespace(Napi::Object exports, const char* name) {
  Napi::Value v = exports.Get(name);
  if (v.IsObject()) return v.As<Napi::Object>();
  Napi::Object o = Napi::Object::New(exports.Env());
  exports.Set(name, o);
  return o;
}

namespace {
#define NN_STR2(x) #x
#define NN_STR(x) NN_STR2(x)

Napi::Value BuildInfo(const Napi::CallbackInfo& info) {
  Args a(info, "buildInfo");
  a.Count(0, 0);
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("cuda", Napi::Boolean::New(env, NODE_NCCL_WITH_CUDA != 0));
  std::string archs = NN_STR(NODE_NCCL_CUDA_ARCHS);
  Napi::Array list = Napi::Array::New(env);
  if (NODE_NCCL_WITH_CUDA) {
    size_t start = 0;
    for (size_t i = 0; i <= archs.size(); i++) {
      if (i == archs.size() || archs[i] == '_') {
        list.Set(list.Length(), Napi::String::New(env, "sm_" + archs.substr(start, i - start)));
        start = i + 1;
      }
    }
  }
  o.Set("cudaArchs", list);
#ifndef NODE_NCCL_CUDA_OFF
#define NODE_NCCL_CUDA_OFF 0
#endif
  const int off = NODE_NCCL_CUDA_OFF;
  const char* why = off == 1   ? "NODE_NCCL_WITH_CUDA=0 at build time"
                    : off == 2 ? "nvcc was not found at build time"
                    : off == 3 ? "nvcc was found but not the CUDA toolkit's headers (cuda_runtime.h)"
                               : nullptr;
  o.Set("cudaOffReason", why ? Napi::Value(Napi::String::New(env, why)) : env.Null());
  o.Set("napiVersion", Napi::Number::New(env, NAPI_VERSION));
  o.Set("compiler", Napi::String::New(env, __VERSION__));
  return o;
}
}  // namespace

void RegisterBuildInfo(Napi::Env env, Napi::Object exports) {
  exports.Set("buildInfo", Napi::Function::New(env, NN_FN(BuildInfo), "buildInfo"));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new AddonData());
  RegisterErrors(env, exports);
  RegisterBuildInfo(env, exports);
  RegisterRuntime(env, exports);
  RegisterStreams(env, exports);
  RegisterAllocator(env, exports);
  RegisterBuffer(env, exports);
  RegisterCopy(env, exports);
  RegisterLoader(env, exports);
  RegisterNccl(env, exports);
  RegisterKernels(env, exports);
  RegisterCublas(env, exports);
  RegisterCpuComm(env, exports);
  return exports;
}

}  // namespace nn

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return nn::Init(env, exports); }
NODE_API_MODULE(node_nccl, InitAddon)
