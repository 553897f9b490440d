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
// Makes `stream` the current stream of `device` (nullptr: back to the legacy default stream).
// The caller (cuda.Stream) keeps the stream alive while it is current and resets it on destroy.
void SetCurrentStream(int device, cudaStream_t stream);
#endif
// The current device of this thread (0 when there is no GPU).
int CurrentDevice();
// Driver and runtime versions as CUDA encodes them (1000 * major + 10 * minor); 0 when absent.
int DriverVersion();
int RuntimeVersion();

}  // namespace nn
