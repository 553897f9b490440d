// CUDA runtime: devices, the current device and the current stream per device. Implemented in
// runtime.cc. Every function here is safe to call in a CPU-only build (it reports "no CUDA").
#pragma once
#include <string>

#include "common.h"

#if NODE_NCCL_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace nn {

// Number of usable devices; 0 when built without CUDA, without a driver or without a GPU.
int DeviceCount();
// Why DeviceCount() is 0 ("" when it is not): "built without CUDA", "no CUDA driver", "no GPU".
std::string NoGpuReason();
// Throws a typed error unless `device` is a valid device index (ERR_NO_GPU / ERR_INVALID_ARG).
void CheckDevice(int device, const char* fn);

#if NODE_NCCL_WITH_CUDA
// Makes `device` current on this thread (cheap when it already is).
void UseDevice(int device);
// The stream ops on `device` are queued on (the default stream unless the user set another).
cudaStream_t CurrentStream(int device);
#endif

}  // namespace nn
