// cuda.Stream and cuda.Event native handles (type-tagged ObjectWraps). Implemented in stream.cc.
#pragma once
#include <napi.h>

#include "common.h"
#include "runtime.h"

namespace nn {

// Reads a Stream handle at argument i (checked alive and on `device` when device >= 0). A missing
// argument (undefined/null) is the current stream of `device`.
dev::Stream StreamArg(const Args& a, size_t i, const char* name, int device);

}  // namespace nn
