// A raw view of the bytes a JS value names, for kernels, copies and collectives: a DeviceBuffer
// handle (device memory, checked alive) or a host ArrayBuffer / TypedArray / pinned buffer.
// Implemented in buffer.cc (owned by the runtime/memory module).
#pragma once
#include <cstddef>
#include <cstdint>

#include "common.h"

namespace nn {

struct MemRef {
  void* ptr = nullptr;   // first byte: of the ArrayBuffer, of the view (TypedArray/DataView: its
                         // byteOffset is applied) or of the device allocation
  size_t bytes = 0;      // its length (a view's byteLength)
  int device = -1;       // -1: host memory; otherwise the CUDA device index
  bool pinned = false;   // host memory that is page-locked (async copies may use it directly)
  bool shared = false;   // host memory of a SharedArrayBuffer: it can be neither detached nor shrunk
};

// The bytes a host value names right now: an ArrayBuffer, or a TypedArray / DataView over an
// ArrayBuffer or a SharedArrayBuffer (their byteOffset applied). A detached buffer, or a view a
// shrunk resizable buffer put out of bounds, has 0 bytes; a length-tracking view has its current
// length. `shared`: the memory belongs to a SharedArrayBuffer, which JavaScript cannot detach or
// shrink (so a reference to the value keeps the bytes valid); any other ArrayBuffer can be
// detached (transferred) or, when resizable, shrunk at any time by JavaScript, which frees or
// unmaps its bytes whatever references native code holds: memory used after the call returns must
// then be copied.
struct HostMem {
  uint8_t* ptr = nullptr;
  size_t bytes = 0;
  bool shared = false;
  napi_value buffer = nullptr;  // the ArrayBuffer or SharedArrayBuffer object itself
};
// false when v is not host memory (then *out is untouched).
bool ReadHostMem(napi_env env, napi_value v, HostMem* out);
// Whether v is a bare SharedArrayBuffer (which Node-API cannot read: pass a view of it).
bool IsBareSharedArrayBuffer(napi_env env, napi_value v);

// Reads argument i. Throws ERR_INVALID_ARG for anything that is not a buffer and ERR_DISPOSED for
// a disposed DeviceBuffer. `name` is the argument's name for the message.
MemRef GetMemRef(const Args& args, size_t i, const char* name);

// Checks that [offsetBytes, offsetBytes + lengthBytes) lies inside m; throws ERR_INVALID_ARG.
void CheckRange(const Args& args, const MemRef& m, int64_t offsetBytes, int64_t lengthBytes, const char* name);

}  // namespace nn
