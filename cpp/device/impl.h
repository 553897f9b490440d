// The implementations' factories, for device.cc's choice (not for code above the interface).
#pragma once
#include <string>

#include "device.h"

namespace nn {
namespace dev {

// What probing CUDA found when it yields no usable device.
struct CudaProbe {
  std::string why;          // "built without CUDA", "no CUDA driver", "no GPU", ...
  Status status = kErrNoDevice;
  int driver = 0, runtime = 0;
};
// The CUDA runtime when it has at least one device, else nullptr with the probe's findings.
Api* NewCudaApi(CudaProbe* probe);
// NODE_NCCL_SIM_DEVICES=spec simulated devices, or nullptr with why `spec` is not usable.
Api* NewSimApi(const char* spec, std::string* why);

}  // namespace dev
}  // namespace nn
