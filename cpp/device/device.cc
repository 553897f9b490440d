// Choosing the device implementation of the process (device.h), DeviceGuard, and NoDevices: the
// implementation of a process with no usable devices, which reports why.
#include "device.h"

#include <cstdlib>
#include <mutex>

#include "../errors.h"
#include "../kernels/kernels.h"
#include "impl.h"

namespace nn {
namespace dev {
namespace {

// Every call fails with the reason; nothing can be created, so nothing can be used.
class NoDevices final : public Api {
 public:
  NoDevices(std::string why, Status status, int driver = 0, int runtime = 0)
      : why_(std::move(why)), status_(status), driver_(driver), runtime_(runtime) {}
  const char* Kind() const override { return "none"; }
  std::string Description() const override { return why_; }
  Status GetDeviceCount(int* n) override {
    *n = 0;
    return status_;
  }
  Status DriverGetVersion(int* v) override {
    *v = driver_;
    return kSuccess;
  }
  Status RuntimeGetVersion(int* v) override {
    *v = runtime_;
    return kSuccess;
  }
  Status GetDeviceProperties(Props*, int) override { return kErrNoDevice; }
  const char* ErrorName(Status s) override { return s == kErrNoDevice ? "cudaErrorNoDevice" : "cudaErrorUnknown"; }
  const char* ErrorString(Status) override { return why_.c_str(); }
  Status GetLastError() override { return kSuccess; }
  Status SetDevice(int) override { return kErrNoDevice; }
  Status GetDevice(int* d) override {
    *d = 0;
    return kErrNoDevice;
  }
  Status MemGetInfo(size_t*, size_t*) override { return kErrNoDevice; }
  Status DeviceSynchronize() override { return kErrNoDevice; }
  Status DeviceGetStreamPriorityRange(int*, int*) override { return kErrNoDevice; }
  Status StreamCreate(Stream*, int) override { return kErrNoDevice; }
  Status StreamDestroy(Stream) override { return kErrNoDevice; }
  Status StreamQuery(Stream) override { return kErrNoDevice; }
  Status StreamSynchronize(Stream) override { return kErrNoDevice; }
  Status StreamWaitEvent(Stream, Event) override { return kErrNoDevice; }
  Status EventCreate(Event*, unsigned) override { return kErrNoDevice; }
  Status EventDestroy(Event) override { return kErrNoDevice; }
  Status EventRecord(Event, Stream) override { return kErrNoDevice; }
  Status EventQuery(Event) override { return kErrNoDevice; }
  Status EventSynchronize(Event) override { return kErrNoDevice; }
  Status EventElapsedTime(float*, Event, Event) override { return kErrNoDevice; }
  Status Malloc(void**, size_t) override { return kErrNoDevice; }
  Status Free(void*) override { return kErrNoDevice; }
  Status HostAlloc(void**, size_t) override { return kErrNoDevice; }
  Status FreeHost(void*) override { return kErrNoDevice; }
  Status MemcpyAsync(void*, const void*, size_t, Stream) override { return kErrNoDevice; }
  Status MemcpyPeerAsync(void*, int, const void*, int, size_t, Stream) override { return kErrNoDevice; }
  Status MemsetAsync(void*, int, size_t, Stream) override { return kErrNoDevice; }
  const k::KernelTable& Kernels() override {
    static const k::KernelTable none{};
    return none;
  }

 private:
  std::string why_;
  Status status_;
  int driver_, runtime_;
};

Api* Choose() {
  const char* sim = std::getenv("NODE_NCCL_SIM_DEVICES");
  if (sim && *sim && std::string(sim) != "0") {
    std::string why;
    Api* s = NewSimApi(sim, &why);
    if (s) return s;
    return new NoDevices(why, kErrInvalidValue);
  }
  CudaProbe probe;
  if (Api* c = NewCudaApi(&probe)) return c;
  return new NoDevices(probe.why, probe.status, probe.driver, probe.runtime);
}

}  // namespace

Api& Get() {
  // Never destroyed: streams, events and memory may be released by other statics' destructors and
  // by N-API cleanup hooks after this translation unit's statics would be gone.
  static Api* api = Choose();
  return *api;
}

DeviceGuard::DeviceGuard(int device) {
  if (device < 0) return;
  Api& a = Get();
  int cur = -1;
  if (a.GetDevice(&cur) != kSuccess) {
    a.GetLastError();
    cur = -1;
  }
  if (cur == device) return;
  CheckCuda(a.SetDevice(device), "cudaSetDevice");
  prev_ = cur;
}

DeviceGuard::~DeviceGuard() {
  if (prev_ < 0) return;
  Api& a = Get();
  if (a.SetDevice(prev_) != kSuccess) a.GetLastError();
}

}  // namespace dev
}  // namespace nn
