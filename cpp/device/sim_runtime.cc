// The simulated devices' runtime calls (the model and its rules: sim.h).
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "../errors.h"
#include "../kernels/kernels.h"
#include "../loader.h"
#include "impl.h"
#include "sim.h"

namespace nn {
namespace dev {
namespace sim {
namespace {

Config gCfg;

thread_local int tDevice = 0;
thread_local Status tLast = kSuccess;
thread_local std::string tDiag;

// Memory: every device allocation and pinned host block, by base address.
struct Memory {
  std::mutex mu;
  std::map<uintptr_t, Region> regions;
  std::vector<size_t> used;  // per device
};
Memory& Mem() {
  static Memory* m = new Memory();
  return *m;
}

// Streams (never freed: a handle stays recognizable after StreamDestroy) and events.
struct Handles {
  std::mutex mu;
  std::unordered_set<StreamImpl*> streams;              // live
  std::vector<std::vector<StreamImpl*>> perDevice;      // every stream ever made, by device
  std::vector<StreamImpl*> defaults;                    // the legacy default stream of each device
  std::unordered_map<EventImpl*, std::shared_ptr<EventImpl>> events;
};
Handles& H() {
  static Handles* h = new Handles();
  return *h;
}

struct StickyState {
  std::mutex mu;
  std::vector<Status> status;
  std::vector<std::string> why;
};
StickyState& St() {
  static StickyState* s = new StickyState();
  return *s;
}

bool ParseInt(const char* s, int64_t lo, int64_t hi, int64_t* out) {
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) return false;
  *out = v;
  return true;
}

// "2147483648", "512MiB", "2GiB", "1.5GiB", "64M": bytes.
bool ParseBytes(const char* s, size_t* out) {
  char* end = nullptr;
  double v = std::strtod(s, &end);
  if (end == s || !(v > 0)) return false;
  std::string unit = end;
  double mul = 1;
  if (unit == "" || unit == "B") mul = 1;
  else if (unit == "K" || unit == "KiB" || unit == "KB") mul = 1024.0;
  else if (unit == "M" || unit == "MiB" || unit == "MB") mul = 1024.0 * 1024;
  else if (unit == "G" || unit == "GiB" || unit == "GB") mul = 1024.0 * 1024 * 1024;
  else return false;
  double b = v * mul;
  if (b < 1 << 20 || b > 1e15) return false;
  *out = static_cast<size_t>(b);
  return true;
}

const char* Name(Status s) {
  switch (s) {
    case kSuccess: return "cudaSuccess";
    case kErrInvalidValue: return "cudaErrorInvalidValue";
    case kErrMemoryAllocation: return "cudaErrorMemoryAllocation";
    case kErrInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
    case kErrNoDevice: return "cudaErrorNoDevice";
    case kErrInvalidDevice: return "cudaErrorInvalidDevice";
    case kErrInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case kErrNotReady: return "cudaErrorNotReady";
    case kErrIllegalAddress: return "cudaErrorIllegalAddress";
    case kErrAssert: return "cudaErrorAssert";
    case kErrLaunchFailure: return "cudaErrorLaunchFailure";
    default: return "cudaErrorUnknown";
  }
}

const char* Text(Status s) {
  switch (s) {
    case kSuccess: return "no error";
    case kErrInvalidValue: return "invalid argument";
    case kErrMemoryAllocation: return "out of memory";
    case kErrInvalidDevicePointer: return "invalid device pointer";
    case kErrNoDevice: return "no CUDA-capable device is detected";
    case kErrInvalidDevice: return "invalid device ordinal";
    case kErrInvalidResourceHandle: return "invalid resource handle";
    case kErrNotReady: return "device not ready";
    case kErrIllegalAddress: return "an illegal memory access was encountered";
    case kErrAssert: return "device-side assert triggered";
    case kErrLaunchFailure: return "unspecified launch failure";
    default: return "unknown error";
  }
}

std::string Dev(int d) { return "cuda:" + std::to_string(d); }

// Waits until every op queued so far on the device's streams has run (cudaDeviceSynchronize).
void DrainDevice(int device) {
  std::vector<std::pair<StreamImpl*, uint64_t>> marks;
  {
    std::lock_guard<std::mutex> lock(H().mu);
    for (StreamImpl* s : H().perDevice[device]) marks.push_back({s, s->enqueued()});
  }
  for (auto& [s, t] : marks) s->Wait(t);
}

void* AllocBytes(size_t bytes) {
  size_t n = (std::max<size_t>(bytes, 1) + 255) / 256 * 256;
  return std::aligned_alloc(256, n);
}

void Register(void* p, size_t bytes, Region::Kind kind, int device) {
  Region r;
  r.kind = kind;
  r.device = device;
  r.base = reinterpret_cast<uintptr_t>(p);
  r.size = bytes;
  std::lock_guard<std::mutex> lock(Mem().mu);
  Mem().regions[r.base] = r;
}

class SimApi final : public Api {
 public:
  const char* Kind() const override { return "simulated"; }
  std::string Description() const override {
    std::string d = std::to_string(gCfg.devices) + (gCfg.devices == 1 ? " simulated device, " : " simulated devices, ") +
                    std::to_string(gCfg.memoryBytes >> 20) + " MiB each";
    if (gCfg.delayUs > 0) d += ", " + std::to_string(gCfg.delayUs) + " us delay per queued op";
    return d;
  }

  Status GetDeviceCount(int* n) override {
    *n = gCfg.devices;
    return kSuccess;
  }
  // The CUDA API level the simulation follows.
  Status DriverGetVersion(int* v) override {
    *v = 13000;
    return kSuccess;
  }
  Status RuntimeGetVersion(int* v) override {
    *v = 13000;
    return kSuccess;
  }
  Status GetDeviceProperties(Props* p, int d) override {
    if (d < 0 || d >= gCfg.devices) return Fail(kErrInvalidDevice, "device " + std::to_string(d) + " does not exist");
    p->name = "node-nccl simulated GPU (compute capability 9.0)";
    p->major = 9;
    p->minor = 0;
    p->totalGlobalMem = gCfg.memoryBytes;
    p->multiProcessorCount = 132;
    p->warpSize = 32;
    p->maxThreadsPerBlock = 1024;
    p->maxThreadsPerMultiProcessor = 2048;
    p->sharedMemPerBlock = 48 << 10;
    p->sharedMemPerBlockOptin = 227 << 10;
    p->l2CacheSize = 50 << 20;
    p->memoryBusWidth = 5120;
    p->clockRateKHz = 1980000;
    p->memoryClockRateKHz = 2619000;
    p->pciBusID = 0x10 + d;
    p->pciDeviceID = 0;
    p->pciDomainID = 0;
    for (int i = 0; i < 16; i++) p->uuid[i] = static_cast<unsigned char>(i < 4 ? "nnsm"[i] : i == 15 ? d : 0);
    p->integrated = false;
    p->eccEnabled = false;
    p->concurrentKernels = true;
    p->streamPriorities = true;
    return kSuccess;
  }
  const char* ErrorName(Status s) override { return Name(s); }
  const char* ErrorString(Status s) override { return Text(s); }
  Status GetLastError() override {
    Status s = tLast;
    tLast = kSuccess;
    return s;
  }
  std::string Diagnostic() override {
    std::string d = tDiag;
    tDiag.clear();
    return d;
  }

  Status SetDevice(int d) override {
    if (d < 0 || d >= gCfg.devices)
      return Fail(kErrInvalidDevice, "cudaSetDevice(" + std::to_string(d) + "): there are " +
                                         std::to_string(gCfg.devices) + " simulated devices");
    tDevice = d;
    return kSuccess;
  }
  Status GetDevice(int* d) override {
    *d = tDevice;
    return kSuccess;
  }
  Status MemGetInfo(size_t* f, size_t* t) override {
    std::lock_guard<std::mutex> lock(Mem().mu);
    *t = gCfg.memoryBytes;
    *f = gCfg.memoryBytes - Mem().used[tDevice];
    return kSuccess;
  }
  Status DeviceSynchronize() override {
    DrainDevice(tDevice);
    return StickyOr(tDevice, kSuccess);
  }
  Status DeviceGetStreamPriorityRange(int* least, int* greatest) override {
    *least = 0;
    *greatest = -5;
    return kSuccess;
  }

  Status StreamCreate(Stream* out, int priority) override {
    auto* s = new StreamImpl(tDevice, std::max(-5, std::min(0, priority)), false);
    std::lock_guard<std::mutex> lock(H().mu);
    H().streams.insert(s);
    H().perDevice[tDevice].push_back(s);
    *out = reinterpret_cast<Stream>(s);
    return kSuccess;
  }
  Status StreamDestroy(Stream h) override {
    StreamImpl* s = ResolveStream(h);
    if (!s || s->isDefault) return Fail(kErrInvalidResourceHandle, "cudaStreamDestroy: not a live stream");
    {
      std::lock_guard<std::mutex> lock(H().mu);
      H().streams.erase(s);
    }
    s->Retire();  // as CUDA: returns at once, the queued work still runs
    return kSuccess;
  }
  Status StreamQuery(Stream h) override {
    StreamImpl* s = ResolveStream(h);
    if (!s) return Fail(kErrInvalidResourceHandle, "cudaStreamQuery: not a live stream");
    Status st = Sticky(s->device);
    if (st) return Fail(st, StickyWhy(s->device));
    return s->Done(s->enqueued()) ? kSuccess : kErrNotReady;
  }
  Status StreamSynchronize(Stream h) override {
    StreamImpl* s = ResolveStream(h);
    if (!s) return Fail(kErrInvalidResourceHandle, "cudaStreamSynchronize: not a live stream");
    s->Wait(s->enqueued());
    return StickyOr(s->device, kSuccess);
  }
  Status StreamWaitEvent(Stream h, Event eh) override {
    StreamImpl* s = ResolveStream(h);
    auto e = ResolveEvent(eh);
    if (!s || !e) return Fail(kErrInvalidResourceHandle, "cudaStreamWaitEvent: not a live stream or event");
    uint64_t target;
    {
      std::lock_guard<std::mutex> lock(e->mu);
      target = e->recorded;
    }
    if (target == 0) return kSuccess;  // never recorded: nothing to wait for
    s->Enqueue([e, target] {
      std::unique_lock<std::mutex> lock(e->mu);
      e->cv.wait(lock, [&] { return e->completed >= target; });
    });
    return kSuccess;
  }

  Status EventCreate(Event* out, unsigned flags) override {
    auto e = std::make_shared<EventImpl>();
    e->device = tDevice;
    e->flags = flags;
    std::lock_guard<std::mutex> lock(H().mu);
    H().events[e.get()] = e;
    *out = reinterpret_cast<Event>(e.get());
    return kSuccess;
  }
  Status EventDestroy(Event eh) override {
    std::lock_guard<std::mutex> lock(H().mu);
    // Ops queued on streams keep their own reference: destroying an event with pending work is
    // allowed, its resources go when that work is done.
    if (H().events.erase(reinterpret_cast<EventImpl*>(eh)) == 0)
      return Fail(kErrInvalidResourceHandle, "cudaEventDestroy: not a live event");
    return kSuccess;
  }
  Status EventRecord(Event eh, Stream h) override {
    auto e = ResolveEvent(eh);
    StreamImpl* s = ResolveStream(h);
    if (!e || !s) return Fail(kErrInvalidResourceHandle, "cudaEventRecord: not a live event or stream");
    if (e->device != s->device)
      return Fail(kErrInvalidResourceHandle, "cudaEventRecord: the event belongs to " + Dev(e->device) +
                                                 " and the stream to " + Dev(s->device) +
                                                 " (CUDA requires both on one device)");
    uint64_t gen;
    {
      std::lock_guard<std::mutex> lock(e->mu);
      gen = ++e->recorded;
    }
    s->Enqueue(nullptr, [e, gen] {
      std::lock_guard<std::mutex> lock(e->mu);
      if (gen > e->completed) {
        e->completed = gen;
        e->when = std::chrono::steady_clock::now();
      }
      e->cv.notify_all();
    });
    return kSuccess;
  }
  Status EventQuery(Event eh) override {
    auto e = ResolveEvent(eh);
    if (!e) return Fail(kErrInvalidResourceHandle, "cudaEventQuery: not a live event");
    if (Status st = Sticky(e->device)) return Fail(st, StickyWhy(e->device));
    std::lock_guard<std::mutex> lock(e->mu);
    return e->completed >= e->recorded ? kSuccess : kErrNotReady;
  }
  Status EventSynchronize(Event eh) override {
    auto e = ResolveEvent(eh);
    if (!e) return Fail(kErrInvalidResourceHandle, "cudaEventSynchronize: not a live event");
    {
      std::unique_lock<std::mutex> lock(e->mu);
      uint64_t target = e->recorded;
      e->cv.wait(lock, [&] { return e->completed >= target; });
    }
    return StickyOr(e->device, kSuccess);
  }
  Status EventElapsedTime(float* ms, Event ah, Event bh) override {
    auto a = ResolveEvent(ah), b = ResolveEvent(bh);
    if (!a || !b) return Fail(kErrInvalidResourceHandle, "cudaEventElapsedTime: not a live event");
    if (a->device != b->device)
      return Fail(kErrInvalidResourceHandle, "cudaEventElapsedTime: the events belong to " + Dev(a->device) + " and " +
                                                 Dev(b->device));
    if ((a->flags | b->flags) & kEventDisableTiming)
      return Fail(kErrInvalidResourceHandle, "cudaEventElapsedTime: an event was created with cudaEventDisableTiming");
    std::scoped_lock lock(a->mu, b->mu);
    if (a->recorded == 0 || b->recorded == 0)
      return Fail(kErrInvalidResourceHandle, "cudaEventElapsedTime: an event was never recorded");
    if (a->completed < a->recorded || b->completed < b->recorded) return kErrNotReady;
    *ms = std::chrono::duration<float, std::milli>(b->when - a->when).count();
    return kSuccess;
  }

  Status Malloc(void** p, size_t bytes) override {
    int d = tDevice;
    {
      std::lock_guard<std::mutex> lock(Mem().mu);
      if (Mem().used[d] + bytes > gCfg.memoryBytes)
        return Fail(kErrMemoryAllocation, "cudaMalloc of " + std::to_string(bytes) + " B on " + Dev(d) + ": " +
                                              std::to_string(gCfg.memoryBytes - Mem().used[d]) + " B free of " +
                                              std::to_string(gCfg.memoryBytes) + " (NODE_NCCL_SIM_MEMORY)");
      Mem().used[d] += bytes;
    }
    void* m = AllocBytes(bytes);
    if (!m) {
      std::lock_guard<std::mutex> lock(Mem().mu);
      Mem().used[d] -= bytes;
      return Fail(kErrMemoryAllocation, "cudaMalloc: the host has no memory for the simulated device");
    }
    std::memset(m, 0xff, bytes);  // uninitialized device memory reads as NaN, never as zeros
    Register(m, bytes, Region::Device, d);
    *p = m;
    return kSuccess;
  }
  Status Free(void* p) override {
    if (!p) return kSuccess;
    Region r;
    {
      std::lock_guard<std::mutex> lock(Mem().mu);
      auto it = Mem().regions.find(reinterpret_cast<uintptr_t>(p));
      if (it == Mem().regions.end() || it->second.kind != Region::Device)
        return Fail(kErrInvalidValue, "cudaFree: " + Describe(p) + " is not the start of a device allocation");
      r = it->second;
      Mem().regions.erase(it);
      Mem().used[r.device] -= r.size;
    }
    DrainDevice(r.device);  // cudaFree synchronizes: nothing queued may still touch the memory
    std::free(p);
    return kSuccess;
  }
  Status HostAlloc(void** p, size_t bytes) override {
    void* m = AllocBytes(bytes);
    if (!m) return Fail(kErrMemoryAllocation, "cudaHostAlloc: out of host memory");
    Register(m, bytes, Region::Pinned, -1);
    *p = m;
    return kSuccess;
  }
  Status FreeHost(void* p) override {
    {
      std::lock_guard<std::mutex> lock(Mem().mu);
      auto it = Mem().regions.find(reinterpret_cast<uintptr_t>(p));
      if (it == Mem().regions.end() || it->second.kind != Region::Pinned)
        return Fail(kErrInvalidValue, "cudaFreeHost: not a pinned host allocation");
      Mem().regions.erase(it);
    }
    for (int d = 0; d < gCfg.devices; d++) DrainDevice(d);
    std::free(p);
    return kSuccess;
  }

  Status MemcpyAsync(void* dst, const void* src, size_t n, Stream h) override {
    return Copy(dst, -2, src, -2, n, h, "cudaMemcpyAsync");
  }
  Status MemcpyPeerAsync(void* dst, int dd, const void* src, int sd, size_t n, Stream h) override {
    return Copy(dst, dd, src, sd, n, h, "cudaMemcpyPeerAsync");
  }
  Status MemsetAsync(void* p, int v, size_t n, Stream h) override {
    StreamImpl* s = ResolveStream(h);
    if (!s) return Fail(kErrInvalidResourceHandle, "cudaMemsetAsync: not a live stream");
    if (n == 0) return kSuccess;
    Region r = Locate(p);
    if (r.kind != Region::Device || reinterpret_cast<uintptr_t>(p) + n > r.base + r.size)
      return Fail(kErrInvalidValue, "cudaMemsetAsync: [" + Describe(p) + ", +" + std::to_string(n) +
                                        " B) is not inside one device allocation");
    if (Status st = Sticky(s->device)) return Fail(st, StickyWhy(s->device));
    s->Enqueue([p, v, n] { std::memset(p, v, n); });
    return kSuccess;
  }
  void OnBlockFreed(void* p, size_t bytes, Stream h) override {
    StreamImpl* s = ResolveStream(h);
    if (!s || bytes == 0) return;
    s->Enqueue([p, bytes] { std::memset(p, 0xff, bytes); });
  }

  const k::KernelTable& Kernels() override { return sim::Kernels(); }
  const SymbolTable* Library(Lib lib) override {
    if (lib == Lib::Cublas) return &sim::Cublas();
    if (lib == Lib::Nccl) return &sim::Nccl();
    return nullptr;
  }

 private:
  static std::string StickyWhy(int d) {
    std::string why;
    Sticky(d, &why);
    return why;
  }
  static Status StickyOr(int d, Status s) {
    std::string why;
    Status st = Sticky(d, &why);
    return st ? Fail(st, why) : s;
  }

  // cudaMemcpyAsync with cudaMemcpyDefault (dstDev/srcDev -2) or cudaMemcpyPeerAsync. Pageable host
  // memory behaves as CUDA documents ("API synchronization behavior"): a copy from it returns once
  // the source has been read (staged), a copy to it returns once the copy is complete.
  Status Copy(void* dst, int dstDev, const void* src, int srcDev, size_t n, Stream h, const char* fn) {
    StreamImpl* s = ResolveStream(h);
    if (!s) return Fail(kErrInvalidResourceHandle, std::string(fn) + ": not a live stream");
    if (n == 0) return kSuccess;
    Region rd = Locate(dst), rs = Locate(src);
    for (auto [r, p, want, what] : {std::tuple{rd, static_cast<const void*>(dst), dstDev, "destination"},
                                    std::tuple{rs, src, srcDev, "source"}}) {
      if (want >= 0 && (r.kind != Region::Device || r.device != want))
        return Fail(kErrInvalidValue, std::string(fn) + ": the " + what + " " + Describe(p) + " is not memory of " + Dev(want));
      if (r.kind != Region::Pageable && reinterpret_cast<uintptr_t>(p) + n > r.base + r.size)
        return Fail(kErrInvalidValue, std::string(fn) + ": " + std::to_string(n) + " B from the " + what + " " +
                                          Describe(p) + " run past the end of its allocation");
    }
    if (Status st = Sticky(s->device)) return Fail(st, StickyWhy(s->device));
    if (rs.kind == Region::Pageable && rd.kind != Region::Pageable) {
      auto staged = std::make_shared<std::vector<char>>(static_cast<const char*>(src), static_cast<const char*>(src) + n);
      s->Enqueue([dst, staged] { std::memcpy(dst, staged->data(), staged->size()); });
      return kSuccess;
    }
    uint64_t t = s->Enqueue([dst, src, n] { std::memmove(dst, src, n); });
    if (rd.kind == Region::Pageable) s->Wait(t);
    return kSuccess;
  }
};

}  // namespace

const Config& Cfg() { return gCfg; }

Status Fail(Status s, const std::string& diagnostic) {
  tLast = s;
  tDiag = diagnostic;
  return s;
}

void Note(const std::string& diagnostic) { tDiag = diagnostic; }

int CurrentDevice() { return tDevice; }

// ---- streams -------------------------------------------------------------------------------------

StreamImpl::StreamImpl(int d, int p, bool def) : device(d), priority(p), isDefault(def) {
  std::thread([this] { Loop(); }).detach();
}

uint64_t StreamImpl::Enqueue(std::function<void()> fn, std::function<void()> after) {
  std::lock_guard<std::mutex> lock(mu_);
  q_.push_back({std::move(fn), std::move(after)});
  cv_.notify_one();
  return ++enq_;
}

uint64_t StreamImpl::enqueued() {
  std::lock_guard<std::mutex> lock(mu_);
  return enq_;
}

bool StreamImpl::Done(uint64_t t) {
  std::lock_guard<std::mutex> lock(mu_);
  return comp_ >= t;
}

void StreamImpl::Wait(uint64_t t) {
  std::unique_lock<std::mutex> lock(mu_);
  done_.wait(lock, [&] { return comp_ >= t; });
}

void StreamImpl::Retire() {
  std::lock_guard<std::mutex> lock(mu_);
  retired_ = true;
  cv_.notify_one();
}

void StreamImpl::Loop() {
  const auto delay = std::chrono::microseconds(gCfg.delayUs);
  for (;;) {
    std::function<void()> fn, after;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return !q_.empty() || retired_; });
      if (q_.empty()) return;
      fn = std::move(q_.front().first);
      after = std::move(q_.front().second);
      q_.pop_front();
    }
    if (delay.count() > 0) std::this_thread::sleep_for(delay);
    if (fn) fn();
    {
      std::lock_guard<std::mutex> lock(mu_);
      comp_++;
      done_.notify_all();
    }
    if (after) after();
  }
}

StreamImpl* ResolveStream(Stream h) {
  std::lock_guard<std::mutex> lock(H().mu);
  if (!h) {
    int d = tDevice;
    StreamImpl*& s = H().defaults[d];
    if (!s) {
      s = new StreamImpl(d, 0, true);
      H().perDevice[d].push_back(s);
    }
    return s;
  }
  auto* s = reinterpret_cast<StreamImpl*>(h);
  return H().streams.count(s) ? s : nullptr;
}

std::shared_ptr<EventImpl> ResolveEvent(Event h) {
  std::lock_guard<std::mutex> lock(H().mu);
  auto it = H().events.find(reinterpret_cast<EventImpl*>(h));
  return it == H().events.end() ? nullptr : it->second;
}

// ---- memory --------------------------------------------------------------------------------------

Region Locate(const void* p) {
  uintptr_t a = reinterpret_cast<uintptr_t>(p);
  std::lock_guard<std::mutex> lock(Mem().mu);
  auto it = Mem().regions.upper_bound(a);
  if (it != Mem().regions.begin()) {
    --it;
    const Region& r = it->second;
    if (a >= r.base && a < r.base + std::max<size_t>(r.size, 1)) return r;
  }
  return Region{};
}

bool OnDevice(const void* p, size_t bytes, int device) {
  Region r = Locate(p);
  return r.kind == Region::Device && r.device == device && reinterpret_cast<uintptr_t>(p) + bytes <= r.base + r.size;
}

std::string Describe(const void* p) {
  char addr[32];
  snprintf(addr, sizeof addr, "0x%llx", static_cast<unsigned long long>(reinterpret_cast<uintptr_t>(p)));
  Region r = Locate(p);
  switch (r.kind) {
    case Region::Device: return std::string(addr) + " (memory of " + Dev(r.device) + ")";
    case Region::Pinned: return std::string(addr) + " (pinned host memory)";
    default: return std::string(addr) + " (host memory, or device memory that was freed)";
  }
}

void SetSticky(int device, Status s, const std::string& why) {
  std::lock_guard<std::mutex> lock(St().mu);
  if (St().status[device] != kSuccess) return;  // the first failure is the one reported
  St().status[device] = s;
  St().why[device] = why + " (a sticky error: every later call on " + Dev(device) +
                     " fails, as after a device-side fault; restart the process)";
}

Status Sticky(int device, std::string* why) {
  std::lock_guard<std::mutex> lock(St().mu);
  if (device < 0 || device >= static_cast<int>(St().status.size())) return kSuccess;
  if (why) *why = St().why[device];
  return St().status[device];
}

// ---- launches ------------------------------------------------------------------------------------

StreamImpl* LaunchStream(Stream h, int device, std::string* why) {
  StreamImpl* s = ResolveStream(h);
  if (!s) {
    *why = "the stream is not a live stream";
    return nullptr;
  }
  if (s->device != device) {
    *why = "the stream belongs to " + Dev(s->device) + " but " + Dev(device) +
           " is current (CUDA: a kernel launch into a stream of another device fails)";
    return nullptr;
  }
  return s;
}

void Launch(const char* kernel, Stream h, const std::vector<const void*>& ptrs, std::function<void()> fn) {
  int d = tDevice;
  std::string why;
  StreamImpl* s = LaunchStream(h, d, &why);
  if (!s) {
    Fail(kErrInvalidResourceHandle, std::string("kernel ") + kernel + ": " + why);
    CheckCuda(kErrInvalidResourceHandle, kernel);
  }
  for (size_t i = 0; i < ptrs.size(); i++) {
    if (!ptrs[i] || OnDevice(ptrs[i], 0, d)) continue;
    Fail(kErrIllegalAddress, std::string("kernel ") + kernel + " on " + Dev(d) + ": operand " + std::to_string(i) + " is " +
                                 Describe(ptrs[i]) + ", not memory of " + Dev(d));
    CheckCuda(kErrIllegalAddress, kernel);
  }
  if (Status st = Sticky(d, &why)) {
    Fail(st, why);
    CheckCuda(st, kernel);
  }
  std::string name = kernel;
  s->Enqueue([fn = std::move(fn), d, name] {
    if (Sticky(d) != kSuccess) return;  // a faulted device runs nothing more
    try {
      fn();
    } catch (const std::exception& e) {
      SetSticky(d, kErrAssert, "kernel " + name + " failed on " + Dev(d) + ": " + e.what());
    }
  });
}

void Launch(const char* kernel, Stream s, std::initializer_list<const void*> ptrs, std::function<void()> fn) {
  Launch(kernel, s, std::vector<const void*>(ptrs), std::move(fn));
}

}  // namespace sim

Api* NewSimApi(const char* spec, std::string* why) {
  using sim::gCfg;
  int64_t n = 0;
  if (!sim::ParseInt(spec, 1, 64, &n)) {
    *why = std::string("NODE_NCCL_SIM_DEVICES='") + spec +
           "' is not a device count: expected an integer from 1 to 64 (unset or 0: no simulation)";
    return nullptr;
  }
  gCfg.devices = static_cast<int>(n);
  if (const char* m = std::getenv("NODE_NCCL_SIM_MEMORY"); m && *m) {
    if (!sim::ParseBytes(m, &gCfg.memoryBytes)) {
      *why = std::string("NODE_NCCL_SIM_MEMORY='") + m +
             "' is not a memory size: expected bytes or a number with K/M/G (KiB/MiB/GiB), at least 1 MiB";
      return nullptr;
    }
  }
  if (const char* d = std::getenv("NODE_NCCL_SIM_DELAY_US"); d && *d) {
    if (!sim::ParseInt(d, 0, 10000000, &gCfg.delayUs)) {
      *why = std::string("NODE_NCCL_SIM_DELAY_US='") + d + "' is not a delay: expected an integer number of microseconds";
      return nullptr;
    }
  }
  sim::Mem().used.assign(gCfg.devices, 0);
  sim::H().perDevice.resize(gCfg.devices);
  sim::H().defaults.assign(gCfg.devices, nullptr);
  sim::St().status.assign(gCfg.devices, kSuccess);
  sim::St().why.assign(gCfg.devices, "");
  return new sim::SimApi();
}

}  // namespace dev
}  // namespace nn
