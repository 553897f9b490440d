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
};

// Reads argument i. Throws ERR_INVALID_ARG for anything that is not a buffer and ERR_DISPOSED for
// a disposed DeviceBuffer. `name` is the argument's name for the message.
MemRef GetMemRef(const Args& args, size_t i, const char* name);

// Checks that [offsetBytes, offsetBytes + lengthBytes) lies inside m; throws ERR_INVALID_ARG.
void CheckRange(const Args& args, const MemRef& m, int64_t offsetBytes, int64_t lengthBytes, const char* name);

}  // namespace nn
