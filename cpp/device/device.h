// The one internal device interface. Everything above it (runtime.cc, stream.cc, allocator.cc,
// buffer.cc, copy.cc, kernels.cc, cublas.cc, nccl.cc and all of lib/) is the same code whether the
// process drives real GPUs or simulated ones; only what sits below it differs:
//
//   CudaApi (cuda_api.cc)  the CUDA runtime (cudart, linked statically) and the CUDA kernels
//                          (cpp/kernels/*.cu); cuBLAS and NCCL are dlopen'd by cpp/loader.cc.
//   SimApi  (sim_*.cc)     NODE_NCCL_SIM_DEVICES=N simulated devices: device memory is host memory,
//                          every stream is a worker thread running its queued ops in order, a kernel
//                          is its host twin (cpp/kernels/*.cc) run on that thread, cuBLAS is the host
//                          GEMM, and NCCL communicators run on the cpu backend's transports. The
//                          loader hands out the simulation's cuBLAS and NCCL entry points.
//   NoDevices              neither (a CPU-only build, or a bad NODE_NCCL_SIM_DEVICES): zero devices,
//                          with the reason.
//
// The calls mirror the CUDA runtime's: same meanings, same status codes (cudaError_t values), a
// per-thread current device and last error. Code above must reach devices only through Get(), never
// through cudart, and must not ask which implementation it has (no `if (simulated)`): what the two
// implementations do differently is only what the hardware would do differently.
//
// Kernels: Get().Kernels() is the table of kernel launches (cpp/kernels/kernels.h, KernelTable).
// A new kernel is declared there, defined as Cuda<Name> in a .cu file and Host<Name> in a .cc file,
// and entered in both tables: cuda_api.cc (the CUDA launch) and sim_kernels.cc (the host twin queued
// on the stream, after the simulation's checks of the stream and pointers).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

struct CUstream_st;
struct CUevent_st;

namespace nn {
namespace k {
struct KernelTable;
}
enum class Lib;

namespace dev {

// cudaStream_t / cudaEvent_t (the same opaque types cuda_runtime.h names). nullptr is the legacy
// default stream of the calling thread's current device.
using Stream = CUstream_st*;
using Event = CUevent_st*;

// cudaError_t values used above the interface (the runtime's own numbering).
using Status = int;
constexpr Status kSuccess = 0;
constexpr Status kErrInvalidValue = 1;
constexpr Status kErrMemoryAllocation = 2;
constexpr Status kErrInvalidDevicePointer = 17;
constexpr Status kErrInsufficientDriver = 35;
constexpr Status kErrStubLibrary = 34;
constexpr Status kErrCallRequiresNewerDriver = 36;
constexpr Status kErrNoDevice = 100;
constexpr Status kErrInvalidDevice = 101;
constexpr Status kErrInvalidResourceHandle = 400;
constexpr Status kErrNotReady = 600;
constexpr Status kErrIllegalAddress = 700;
constexpr Status kErrAssert = 710;
constexpr Status kErrLaunchFailure = 719;

// cudaEvent flags.
constexpr unsigned kEventBlockingSync = 0x1;
constexpr unsigned kEventDisableTiming = 0x2;

// The device properties node-nccl reports (a subset of cudaDeviceProp plus two attributes).
struct Props {
  std::string name;
  int major = 0, minor = 0;
  size_t totalGlobalMem = 0;
  int multiProcessorCount = 0, warpSize = 0, maxThreadsPerBlock = 0, maxThreadsPerMultiProcessor = 0;
  size_t sharedMemPerBlock = 0, sharedMemPerBlockOptin = 0;
  int l2CacheSize = 0, memoryBusWidth = 0, clockRateKHz = 0, memoryClockRateKHz = 0;
  int pciBusID = 0, pciDeviceID = 0, pciDomainID = 0;
  unsigned char uuid[16] = {};
  bool integrated = false, eccEnabled = false, concurrentKernels = false, streamPriorities = false;
};

// One loadable library's stand-in: the simulation's entry points, looked up by symbol name.
struct SymbolTable {
  std::string path;           // what doctor shows as the library's file
  int version = 0;            // as the loader encodes it (NCCL: 23007; cuBLAS: major*10000+minor*100+patch)
  std::string versionString;  // "2.30.7"
  void* (*lookup)(const char* symbol) = nullptr;  // nullptr for an unknown symbol
};

class Api {
 public:
  virtual ~Api() = default;
  // "cuda", "simulated" or "none".
  virtual const char* Kind() const = 0;
  // Why there are no devices when DeviceCount is 0 ("" otherwise): see runtime.cc's Discovery.
  virtual std::string Description() const = 0;

  // ---- discovery and errors ----
  virtual Status GetDeviceCount(int* n) = 0;
  virtual Status DriverGetVersion(int* v) = 0;
  virtual Status RuntimeGetVersion(int* v) = 0;
  virtual Status GetDeviceProperties(Props* p, int device) = 0;
  virtual const char* ErrorName(Status s) = 0;
  virtual const char* ErrorString(Status s) = 0;
  // Returns and clears this thread's last error (a sticky device error stays).
  virtual Status GetLastError() = 0;
  // What the implementation knows beyond a status code about this thread's last failure ("" when
  // nothing); appended to error messages by cpp/errors.cc. The simulation fills it in.
  virtual std::string Diagnostic() { return ""; }

  // ---- the current device (per host thread) ----
  virtual Status SetDevice(int device) = 0;
  virtual Status GetDevice(int* device) = 0;
  virtual Status MemGetInfo(size_t* freeBytes, size_t* totalBytes) = 0;  // of the current device
  virtual Status DeviceSynchronize() = 0;                                 // of the current device
  virtual Status DeviceGetStreamPriorityRange(int* least, int* greatest) = 0;

  // ---- streams (created on the current device, non-blocking with respect to the default stream) ----
  virtual Status StreamCreate(Stream* s, int priority) = 0;
  virtual Status StreamDestroy(Stream s) = 0;
  virtual Status StreamQuery(Stream s) = 0;  // kSuccess or kErrNotReady
  virtual Status StreamSynchronize(Stream s) = 0;
  virtual Status StreamWaitEvent(Stream s, Event e) = 0;

  // ---- events (created on the current device) ----
  virtual Status EventCreate(Event* e, unsigned flags) = 0;
  virtual Status EventDestroy(Event e) = 0;
  virtual Status EventRecord(Event e, Stream s) = 0;
  virtual Status EventQuery(Event e) = 0;  // kSuccess or kErrNotReady
  virtual Status EventSynchronize(Event e) = 0;
  virtual Status EventElapsedTime(float* ms, Event start, Event end) = 0;

  // ---- memory ----
  virtual Status Malloc(void** p, size_t bytes) = 0;  // on the current device
  virtual Status Free(void* p) = 0;
  virtual Status HostAlloc(void** p, size_t bytes) = 0;  // page-locked, portable
  virtual Status FreeHost(void* p) = 0;
  // cudaMemcpyAsync(..., cudaMemcpyDefault, s): the kind is inferred from the pointers.
  virtual Status MemcpyAsync(void* dst, const void* src, size_t bytes, Stream s) = 0;
  virtual Status MemcpyPeerAsync(void* dst, int dstDevice, const void* src, int srcDevice, size_t bytes, Stream s) = 0;
  virtual Status MemsetAsync(void* p, int value, size_t bytes, Stream s) = 0;
  // The caching allocator returned [p, p + bytes) to its pool, in stream order on `s`: its contents
  // are garbage from then on. The simulation overwrites them there (NaN bytes), so a use the
  // allocator was not told about (recordStream) reads garbage deterministically; CUDA does nothing.
  virtual void OnBlockFreed(void* p, size_t bytes, Stream s) {}

  // ---- kernels and libraries ----
  virtual const k::KernelTable& Kernels() = 0;
  // The library the loader hands out instead of dlopen'ing one (nullptr: load the real library).
  virtual const SymbolTable* Library(Lib lib) { return nullptr; }
};

// The implementation of this process, chosen once on first use from NODE_NCCL_SIM_DEVICES.
Api& Get();

// Makes `device` current for the guard's lifetime and restores the previous device after (as
// PyTorch's CUDAGuard). A negative device leaves the current device alone.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int prev_ = -1;
};

}  // namespace dev
}  // namespace nn
