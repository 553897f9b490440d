// The device convolution (cpp/conv.cc): im2col / col2im kernels from the device interface's
// kernel table around cuBLAS GEMMs, on stream `s` of `device` (current), with the meanings of
// the host twins in cpp/kernels/kernels.h (HostConv2d, HostConv2dBackwardInput/Weight).
#pragma once
#include "kernels/kernels.h"

namespace nn {

void DeviceConv2d(const k::KernelTable& kt, int device, k::Stream s, k::DType dt, const k::ConvGeom& g, void* out,
                  const void* x, const void* w, const void* b, bool allowTf32);
void DeviceConv2dBackwardInput(const k::KernelTable& kt, int device, k::Stream s, k::DType dt, const k::ConvGeom& g,
                               void* gx, const void* gout, const void* w, bool allowTf32);
void DeviceConv2dBackwardWeight(const k::KernelTable& kt, int device, k::Stream s, k::DType dt, const k::ConvGeom& g,
                                void* gw, void* gb, const void* gout, const void* x, bool allowTf32);

}  // namespace nn
