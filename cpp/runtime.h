// Devices, the current device and the current stream per device, through the device interface
// (cpp/device/device.h): the same code for real and simulated GPUs. Implemented in runtime.cc.
// Every function here is safe to call where there is no device (it reports why).
#pragma once
#include <string>

#include "common.h"
#include "device/device.h"

namespace nn {

// Number of usable devices; 0 when built without CUDA, without a driver or without a GPU.
int DeviceCount();
// Why DeviceCount() is 0 ("" when it is not): "built without CUDA", "no CUDA driver", "no GPU", or
// what is wrong with NODE_NCCL_SIM_DEVICES.
std::string NoGpuReason();
// Throws a typed error unless `device` is a valid device index (ERR_NO_GPU / ERR_INVALID_ARG).
void CheckDevice(int device, const char* fn);

// The stream ops on `device` are queued on (the default stream unless the user set another).
dev::Stream CurrentStream(int device);
// Makes `stream` the current stream of `device` (nullptr: back to the legacy default stream).
// The caller (cuda.Stream) keeps the stream alive while it is current.
void SetCurrentStream(int device, dev::Stream stream);
// The current device of this thread (0 when there is no GPU).
int CurrentDevice();
// Driver and runtime versions as CUDA encodes them (1000 * major + 10 * minor); 0 when absent.
int DriverVersion();
int RuntimeVersion();

}  // namespace nn
