// The DeviceBuffer native handle: device memory from the caching allocator, wrapped in a JS object
// that is type-tagged so that no other object can be unwrapped as one. Implemented in buffer.cc.
#pragma once
#include <napi.h>

#include "allocator.h"
#include "common.h"

namespace nn {

class DeviceBuffer : public Napi::ObjectWrap<DeviceBuffer> {
 public:
  static constexpr const char* kClassName = "DeviceBuffer";
  static Napi::Function Define(Napi::Env env);
  // The DeviceBuffer that v wraps, or nullptr when v is not one (checked by type tag).
  static DeviceBuffer* FromValue(const Napi::Value& v);

  explicit DeviceBuffer(const Napi::CallbackInfo& info);
  ~DeviceBuffer() override;

  bool disposed() const { return disposed_; }
  // Its memory may still be used: not disposed, or disposed while held (hold()).
  bool usable() const { return !disposed_ || holds_ > 0; }
  void* ptr() const;
  size_t bytes() const { return bytes_; }
  int device() const { return device_; }
  // Frees now (returns the memory to the cache); idempotent.
  void Release();
  const DeviceAllocation& allocation() const { return alloc_; }

  // Members (installed on the prototype with `this` checked: wrap.h).
  Napi::Value GetByteLength(const Napi::CallbackInfo& info);
  Napi::Value GetDevice(const Napi::CallbackInfo& info);
  Napi::Value GetDisposed(const Napi::CallbackInfo& info);
  Napi::Value GetAddress(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value JsRecordStream(const Napi::CallbackInfo& info);
  Napi::Value Hold(const Napi::CallbackInfo& info);
  Napi::Value Unhold(const Napi::CallbackInfo& info);

 private:
  void Init(const Napi::CallbackInfo& info);
  void Free();  // returns the memory to the allocator and the external-memory report

  bool disposed_ = true;
  size_t bytes_ = 0;
  int device_ = -1;
  int64_t reported_ = 0;  // bytes reported to V8 as external memory
  int holds_ = 0;         // hold() count: the memory outlives dispose() until the last unhold()
  DeviceAllocation alloc_;
};

}  // namespace nn
