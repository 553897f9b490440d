// DeviceBuffer (device memory handle) and GetMemRef/CheckRange (cpp/memref.h): the one place that
// turns a JS value into raw bytes for kernels, copies and collectives.
#include "buffer.h"

#include "addon.h"
#include "memref.h"
#include "runtime.h"
#include "stream.h"
#include "wrap.h"

namespace nn {
namespace {
// Random 128-bit tag: only objects constructed by DeviceBuffer carry it.
constexpr napi_type_tag kDeviceBufferTag = {0x6e6e636c64657662ULL, 0x9c3f1a7e25d84b01ULL};
constexpr int64_t kMaxBytes = (int64_t{1} << 53) - 1;
}  // namespace

Napi::Function DeviceBuffer::Define(Napi::Env env) {
  using M = Members<DeviceBuffer>;
  Napi::Function ctor = DefineClass(env, "DeviceBuffer", {});
  M::Install(ctor, {
                       M::Getter<&DeviceBuffer::GetByteLength>("byteLength"),
                       M::Getter<&DeviceBuffer::GetDevice>("device"),
                       M::Getter<&DeviceBuffer::GetDisposed>("disposed"),
                       M::Getter<&DeviceBuffer::GetAddress>("address"),
                       M::Method<&DeviceBuffer::Dispose>(env, "dispose"),
                       M::Method<&DeviceBuffer::JsRecordStream>(env, "recordStream"),
                       M::Method<&DeviceBuffer::Hold>(env, "hold"),
                       M::Method<&DeviceBuffer::Unhold>(env, "unhold"),
                   });
  return ctor;
}

DeviceBuffer* DeviceBuffer::FromValue(const Napi::Value& v) {
  if (!v.IsObject()) return nullptr;
  Napi::Object o = v.As<Napi::Object>();
  if (!o.CheckTypeTag(&kDeviceBufferTag)) return nullptr;
  return Napi::ObjectWrap<DeviceBuffer>::Unwrap(o);
}

DeviceBuffer::DeviceBuffer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DeviceBuffer>(info) {
  Guard(info.Env(), [&] { Init(info); });
}

// new DeviceBuffer(byteLength, device?, stream?): device defaults to the current device, stream to
// the device's current stream (the memory is reused in order on that stream after it is freed).
void DeviceBuffer::Init(const Napi::CallbackInfo& info) {
  Args a(info, "new DeviceBuffer");
  if (!info.IsConstructCall()) a.Fail("DeviceBuffer is a class: call it with new");
  a.Count(1, 3);
  int64_t bytes = a.Int(0, "byteLength", 0, kMaxBytes);
  int device = 0;
  if (a.IsMissing(1)) {
    CheckDevice(0, a.fn());
    device = CurrentDevice();
  } else {
    device = static_cast<int>(a.Int(1, "device", 0, 1 << 20));
    CheckDevice(device, a.fn());
  }
  dev::Stream stream = a.IsMissing(2) ? CurrentStream(device) : StreamArg(a, 2, "stream", device);
  alloc_ = DeviceMalloc(device, static_cast<size_t>(bytes), stream);
  bytes_ = static_cast<size_t>(bytes);
  device_ = device;
  disposed_ = false;
  info.This().As<Napi::Object>().TypeTag(&kDeviceBufferTag);
  reported_ = bytes;
  if (reported_ > 0) Napi::MemoryManagement::AdjustExternalMemory(info.Env(), reported_);
}

DeviceBuffer::~DeviceBuffer() {
  // Finalizer (the JS object was collected without dispose()): return the memory, quietly.
  try {
    disposed_ = true;
    if (alloc_.ptr || reported_ > 0) Free();
  } catch (...) {
  }
}

void* DeviceBuffer::ptr() const { return alloc_.ptr; }

void DeviceBuffer::Release() {
  if (disposed_) return;
  disposed_ = true;
  if (holds_ > 0) return;  // freed by the last unhold()
  Free();
}

void DeviceBuffer::Free() {
  DeviceFree(alloc_);
  alloc_ = DeviceAllocation{};
  if (reported_ > 0) {
    Napi::MemoryManagement::AdjustExternalMemory(Env(), -reported_);
    reported_ = 0;
  }
}

Napi::Value DeviceBuffer::GetByteLength(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(disposed_ ? 0 : bytes_));
}
Napi::Value DeviceBuffer::GetDevice(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), device_); }
Napi::Value DeviceBuffer::GetDisposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), disposed_); }
Napi::Value DeviceBuffer::GetAddress(const Napi::CallbackInfo& info) {
  return Napi::BigInt::New(info.Env(), static_cast<uint64_t>(reinterpret_cast<uintptr_t>(disposed_ ? nullptr : ptr())));
}

Napi::Value DeviceBuffer::Dispose(const Napi::CallbackInfo& info) {
  return Guard(info.Env(), [&]() -> Napi::Value {
    Args a(info, "DeviceBuffer.dispose");
    a.Count(0, 0);
    Release();
    return info.Env().Undefined();
  });
}

// hold() / unhold(): while held, dispose() takes effect for JS at once (the buffer reads as
// disposed) but the memory goes back to the allocator only at the last unhold(). For work that is
// not on a stream yet (an NCCL call still being issued): unhold() once it is, after recordStream.
Napi::Value DeviceBuffer::Hold(const Napi::CallbackInfo& info) {
  return Guard(info.Env(), [&]() -> Napi::Value {
    Args a(info, "DeviceBuffer.hold");
    a.Count(0, 0);
    if (disposed_) Throw(code::kDisposed, "DeviceBuffer.hold: the buffer was disposed");
    holds_++;
    return info.Env().Undefined();
  });
}

Napi::Value DeviceBuffer::Unhold(const Napi::CallbackInfo& info) {
  return Guard(info.Env(), [&]() -> Napi::Value {
    Args a(info, "DeviceBuffer.unhold");
    a.Count(0, 0);
    if (holds_ == 0) a.Fail("unhold() without a matching hold()");
    if (--holds_ == 0 && disposed_ && alloc_.ptr) Free();
    return info.Env().Undefined();
  });
}

// recordStream(stream): like torch.Tensor.record_stream — the memory is not reused until the work
// queued on `stream` so far has finished. Allowed on a held buffer that was disposed meanwhile.
Napi::Value DeviceBuffer::JsRecordStream(const Napi::CallbackInfo& info) {
  return Guard(info.Env(), [&]() -> Napi::Value {
    Args a(info, "DeviceBuffer.recordStream");
    a.Count(1, 1);
    if (disposed_ && holds_ == 0) Throw(code::kDisposed, "DeviceBuffer.recordStream: the buffer was disposed");
    RecordStream(alloc_, StreamArg(a, 0, "stream", device_));
    return info.Env().Undefined();
  });
}

bool ReadHostMem(napi_env env, napi_value v, HostMem* out) {
  bool is = false;
  void* data = nullptr;
  size_t bytes = 0;
  napi_value buffer = nullptr;
  if (napi_is_arraybuffer(env, v, &is) == napi_ok && is) {
    if (napi_get_arraybuffer_info(env, v, &data, &bytes) != napi_ok) return false;
    *out = HostMem{static_cast<uint8_t*>(data), bytes, false, v};
    return true;
  }
  if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
    napi_typedarray_type type;
    size_t length = 0, offset = 0;
    if (napi_get_typedarray_info(env, v, &type, &length, &data, &buffer, &offset) != napi_ok) return false;
    size_t es = 1;
    switch (type) {
      case napi_int16_array: case napi_uint16_array: es = 2; break;
      case napi_int32_array: case napi_uint32_array: case napi_float32_array: es = 4; break;
      case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: es = 8; break;
      default: es = 1;
    }
    bytes = length * es;
  } else if (napi_is_dataview(env, v, &is) == napi_ok && is) {
    size_t offset = 0;
    if (napi_get_dataview_info(env, v, &bytes, &data, &buffer, &offset) != napi_ok) return false;
  } else {
    return false;
  }
  // A view's buffer that is not an ArrayBuffer is a SharedArrayBuffer (napi_is_arraybuffer is
  // false for those, while the view's data pointer is valid).
  bool plain = false;
  napi_is_arraybuffer(env, buffer, &plain);
  *out = HostMem{bytes ? static_cast<uint8_t*>(data) : nullptr, bytes, !plain, buffer};
  return true;
}

bool IsBareSharedArrayBuffer(napi_env env, napi_value v) {
  napi_value global, ctor;
  bool is = false;
  if (napi_get_global(env, &global) != napi_ok) return false;
  if (napi_get_named_property(env, global, "SharedArrayBuffer", &ctor) != napi_ok) return false;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_object) return false;
  if (napi_instanceof(env, v, ctor, &is) != napi_ok) {
    napi_value ignored;
    napi_get_and_clear_last_exception(env, &ignored);
    return false;
  }
  return is;
}

MemRef GetMemRef(const Args& args, size_t i, const char* name) {
  const char* expected = "an ArrayBuffer, a TypedArray, a DataView or a DeviceBuffer handle";
  if (i >= args.size()) args.Fail(i, name, expected);
  Napi::Value v = args[i];
  MemRef m;
  HostMem h;
  if (ReadHostMem(v.Env(), v, &h)) {
    m.ptr = h.ptr;
    m.bytes = h.bytes;
    m.shared = h.shared;
  } else if (DeviceBuffer* b = DeviceBuffer::FromValue(v)) {
    if (!b->usable())
      Throw(code::kDisposed, std::string(args.fn()) + ": argument '" + name + "' is a DeviceBuffer that was disposed");
    m.ptr = b->ptr();
    m.bytes = b->bytes();
    m.device = b->device();
    return m;
  } else if (IsBareSharedArrayBuffer(v.Env(), v)) {
    args.Fail(std::string("argument '") + name + "' is a bare SharedArrayBuffer, which Node-API cannot read: pass a view of it (new Uint8Array(sab))");
  } else {
    args.Fail(i, name, expected);
  }
  if (m.bytes == 0) m.ptr = nullptr;  // detached or empty: no bytes to touch
  m.pinned = m.bytes > 0 && IsPinned(m.ptr, m.bytes);
  return m;
}

void CheckRange(const Args& args, const MemRef& m, int64_t offsetBytes, int64_t lengthBytes, const char* name) {
  if (offsetBytes < 0 || lengthBytes < 0)
    args.Fail(std::string("range of '") + name + "': offset " + std::to_string(offsetBytes) + " and length " +
              std::to_string(lengthBytes) + " must not be negative");
  int64_t end = CheckedAdd(offsetBytes, lengthBytes, args.fn());
  if (static_cast<uint64_t>(end) > m.bytes)
    args.Fail(std::string("range of '") + name + "': bytes [" + std::to_string(offsetBytes) + ", " + std::to_string(end) +
              ") are outside the buffer of " + std::to_string(m.bytes) + " bytes");
}

void RegisterBuffer(Napi::Env env, Napi::Object exports) {
  Napi::Object cuda = Namespace(exports, "cuda");
  Napi::Function ctor = DeviceBuffer::Define(env);
  Data(env).classes["DeviceBuffer"] = Napi::Persistent(ctor);
  cuda.Set("DeviceBuffer", ctor);
}

}  // namespace nn
