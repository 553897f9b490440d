// The device interface over the CUDA runtime (cudart, linked statically) and the CUDA kernels of
// cpp/kernels/*.cu: each call is the cudart call of the same name. Built only with nvcc present;
// otherwise NewCudaApi reports "built without CUDA".
#include "impl.h"

#include "../kernels/kernels.h"

#if NODE_NCCL_WITH_CUDA
#include <cuda_runtime.h>

#include <cstring>
#endif

namespace nn {
namespace dev {

#if NODE_NCCL_WITH_CUDA
namespace {

Status S(cudaError_t e) { return static_cast<Status>(e); }

k::KernelTable CudaKernels() {
  k::KernelTable t{};
  t.unary = &k::CudaUnary;
  t.binary = &k::CudaBinary;
  t.where = &k::CudaWhere;
  t.copy = &k::CudaCopy;
  t.reduceScratch = &k::CudaReduceScratch;
  t.reduce = &k::CudaReduce;
  t.softmaxScratch = &k::CudaSoftmaxScratch;
  t.layerNormScratch = &k::CudaLayerNormScratch;
  t.softmax = &k::CudaSoftmax;
  t.softmaxBackward = &k::CudaSoftmaxBackward;
  t.layerNorm = &k::CudaLayerNorm;
  t.layerNormBackwardScratch = &k::CudaLayerNormBackwardScratch;
  t.layerNormBackward = &k::CudaLayerNormBackward;
  t.batchNormStats = &k::CudaBatchNormStats;
  t.batchNormElemt = &k::CudaBatchNormElemt;
  t.batchNormBackwardReduce = &k::CudaBatchNormBackwardReduce;
  t.batchNormBackwardElemt = &k::CudaBatchNormBackwardElemt;
  t.indexSelect = &k::CudaIndexSelect;
  t.indexAdd = &k::CudaIndexAdd;
  t.gather = &k::CudaGather;
  t.scatterAdd = &k::CudaScatterAdd;
  t.random = &k::CudaRandom;
  t.arange = &k::CudaArange;
  t.adam = &k::CudaAdam;
  t.sgd = &k::CudaSgd;
  t.sumSquares = &k::CudaSumSquares;
  t.sortScratch = &k::CudaSortScratch;
  t.sort = &k::CudaSort;
  t.scan = &k::CudaScan;
  t.compact = &k::CudaCompact;
  t.nonzero = &k::CudaNonzero;
  t.im2col = &k::CudaIm2col;
  t.col2im = &k::CudaCol2im;
  t.maxPool2d = &k::CudaMaxPool2d;
  t.maxPool2dBackward = &k::CudaMaxPool2dBackward;
  t.avgPool2d = &k::CudaAvgPool2d;
  t.avgPool2dBackward = &k::CudaAvgPool2dBackward;
  t.adaptiveAvgPool2d = &k::CudaAdaptiveAvgPool2d;
  t.adaptiveAvgPool2dBackward = &k::CudaAdaptiveAvgPool2dBackward;
  t.triangle = &k::CudaTriangle;
  return t;
}
const k::KernelTable kCudaKernels = CudaKernels();

class CudaApi final : public Api {
 public:
  const char* Kind() const override { return "cuda"; }
  std::string Description() const override { return ""; }
  Status GetDeviceCount(int* n) override { return S(cudaGetDeviceCount(n)); }
  Status DriverGetVersion(int* v) override { return S(cudaDriverGetVersion(v)); }
  Status RuntimeGetVersion(int* v) override { return S(cudaRuntimeGetVersion(v)); }
  Status GetDeviceProperties(Props* out, int device) override {
    cudaDeviceProp p{};
    cudaError_t e = cudaGetDeviceProperties(&p, device);
    if (e != cudaSuccess) return S(e);
    auto attr = [&](cudaDeviceAttr at) {
      int v = 0;
      return cudaDeviceGetAttribute(&v, at, device) == cudaSuccess ? v : 0;
    };
    out->name = p.name;
    out->major = p.major;
    out->minor = p.minor;
    out->totalGlobalMem = p.totalGlobalMem;
    out->multiProcessorCount = p.multiProcessorCount;
    out->warpSize = p.warpSize;
    out->maxThreadsPerBlock = p.maxThreadsPerBlock;
    out->maxThreadsPerMultiProcessor = p.maxThreadsPerMultiProcessor;
    out->sharedMemPerBlock = p.sharedMemPerBlock;
    out->sharedMemPerBlockOptin = p.sharedMemPerBlockOptin;
    out->l2CacheSize = p.l2CacheSize;
    out->memoryBusWidth = p.memoryBusWidth;
    out->clockRateKHz = attr(cudaDevAttrClockRate);
    out->memoryClockRateKHz = attr(cudaDevAttrMemoryClockRate);
    out->pciBusID = p.pciBusID;
    out->pciDeviceID = p.pciDeviceID;
    out->pciDomainID = p.pciDomainID;
    std::memcpy(out->uuid, p.uuid.bytes, sizeof out->uuid);
    out->integrated = p.integrated != 0;
    out->eccEnabled = p.ECCEnabled != 0;
    out->concurrentKernels = p.concurrentKernels != 0;
    out->streamPriorities = p.streamPrioritiesSupported != 0;
    cudaGetLastError();  // an attribute the driver lacks must not linger as this thread's error
    return kSuccess;
  }
  const char* ErrorName(Status s) override { return cudaGetErrorName(static_cast<cudaError_t>(s)); }
  const char* ErrorString(Status s) override { return cudaGetErrorString(static_cast<cudaError_t>(s)); }
  Status GetLastError() override { return S(cudaGetLastError()); }

  Status SetDevice(int d) override { return S(cudaSetDevice(d)); }
  Status GetDevice(int* d) override { return S(cudaGetDevice(d)); }
  Status MemGetInfo(size_t* f, size_t* t) override { return S(cudaMemGetInfo(f, t)); }
  Status DeviceSynchronize() override { return S(cudaDeviceSynchronize()); }
  Status DeviceGetStreamPriorityRange(int* least, int* greatest) override {
    return S(cudaDeviceGetStreamPriorityRange(least, greatest));
  }

  Status StreamCreate(Stream* s, int priority) override {
    cudaStream_t st = nullptr;
    cudaError_t e = cudaStreamCreateWithPriority(&st, cudaStreamNonBlocking, priority);
    *s = st;
    return S(e);
  }
  Status StreamDestroy(Stream s) override { return S(cudaStreamDestroy(s)); }
  Status StreamQuery(Stream s) override { return S(cudaStreamQuery(s)); }
  Status StreamSynchronize(Stream s) override { return S(cudaStreamSynchronize(s)); }
  Status StreamWaitEvent(Stream s, Event e) override { return S(cudaStreamWaitEvent(s, e, 0)); }

  Status EventCreate(Event* e, unsigned flags) override {
    cudaEvent_t ev = nullptr;
    cudaError_t r = cudaEventCreateWithFlags(&ev, flags);
    *e = ev;
    return S(r);
  }
  Status EventDestroy(Event e) override { return S(cudaEventDestroy(e)); }
  Status EventRecord(Event e, Stream s) override { return S(cudaEventRecord(e, s)); }
  Status EventQuery(Event e) override { return S(cudaEventQuery(e)); }
  Status EventSynchronize(Event e) override { return S(cudaEventSynchronize(e)); }
  Status EventElapsedTime(float* ms, Event a, Event b) override { return S(cudaEventElapsedTime(ms, a, b)); }

  Status Malloc(void** p, size_t n) override { return S(cudaMalloc(p, n)); }
  Status Free(void* p) override { return S(cudaFree(p)); }
  Status HostAlloc(void** p, size_t n) override { return S(cudaHostAlloc(p, n, cudaHostAllocPortable)); }
  Status FreeHost(void* p) override { return S(cudaFreeHost(p)); }
  Status MemcpyAsync(void* dst, const void* src, size_t n, Stream s) override {
    return S(cudaMemcpyAsync(dst, src, n, cudaMemcpyDefault, s));
  }
  Status MemcpyPeerAsync(void* dst, int dd, const void* src, int sd, size_t n, Stream s) override {
    return S(cudaMemcpyPeerAsync(dst, dd, src, sd, n, s));
  }
  Status MemsetAsync(void* p, int v, size_t n, Stream s) override { return S(cudaMemsetAsync(p, v, n, s)); }

  const k::KernelTable& Kernels() override { return kCudaKernels; }
};

}  // namespace

Api* NewCudaApi(CudaProbe* probe) {
  cudaDriverGetVersion(&probe->driver);
  cudaRuntimeGetVersion(&probe->runtime);
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  probe->status = static_cast<Status>(e);
  if (e == cudaSuccess && n > 0) return new CudaApi();
  if (e == cudaErrorInsufficientDriver || e == cudaErrorStubLibrary || e == cudaErrorCallRequiresNewerDriver) {
    int drv = probe->driver;
    probe->why = drv == 0 ? "no CUDA driver"
                          : "CUDA driver too old (" + std::to_string(drv / 1000) + "." + std::to_string(drv % 1000 / 10) +
                                ") for this CUDA runtime";
  } else if (e == cudaErrorNoDevice || (e == cudaSuccess && n == 0)) {
    probe->why = "no GPU";
    probe->status = kErrNoDevice;
  } else {
    probe->why = std::string("CUDA unavailable: ") + cudaGetErrorName(e) + ": " + cudaGetErrorString(e);
  }
  cudaGetLastError();  // clear the error so later calls start clean
  return nullptr;
}

#else

Api* NewCudaApi(CudaProbe* probe) {
  probe->why = "built without CUDA";
  return nullptr;
}

#endif

}  // namespace dev
}  // namespace nn
