// The simulated devices' machinery, shared by sim_runtime.cc (the runtime calls), sim_kernels.cc
// (kernel launches), sim_cublas.cc and sim_nccl.cc (the libraries' entry points). Not for code
// above the device interface.
//
// Model. NODE_NCCL_SIM_DEVICES=N devices of one machine, each with NODE_NCCL_SIM_MEMORY bytes
// (default 2 GiB) of "device memory" that is host memory of this process. Every stream, the
// legacy default stream of each device included, is a worker thread that runs its queued ops one
// after another; an event completes when its stream reaches it. NODE_NCCL_SIM_DELAY_US delays
// every queued op, so work that is ordered only by luck goes wrong in tests.
//
// The simulation is strict where CUDA's documented rules are (Programming Guide, "Stream and Event
// Behavior"): the current device is per host thread; a kernel launch into a stream of another
// device than the current one fails (cudaErrorInvalidResourceHandle), as does recording an event
// on a stream of another device, and elapsedTime between events of two devices; copies may be
// issued from any device; waiting on another device's event is allowed. Beyond what hardware
// reports at once: a kernel given memory that is not its device's (freed, host, another device's)
// fails at launch with cudaErrorIllegalAddress instead of faulting later, fresh allocations are
// filled with NaN bytes (0xff), and the caching allocator's freed blocks are refilled so in stream
// order. A host twin that throws while running (an index out of range) is a sticky device error,
// as a device-side assert is: every later call on that device fails.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "device.h"

namespace nn {
namespace dev {
namespace sim {

struct Config {
  int devices = 0;
  size_t memoryBytes = size_t{2} << 30;
  int64_t delayUs = 0;
};
const Config& Cfg();

// Sets this thread's last error and diagnostic; returns s.
Status Fail(Status s, const std::string& diagnostic);
// Sets this thread's diagnostic only (a library's failure, which is not a CUDA error).
void Note(const std::string& diagnostic);
int CurrentDevice();  // this thread's current device

// A simulated stream: a worker thread running queued ops in order.
class StreamImpl {
 public:
  StreamImpl(int device, int priority, bool isDefault);
  const int device, priority;
  const bool isDefault;
  // Queues fn; returns its ticket (1, 2, ...). The worker runs fn, then marks the ticket done,
  // then runs `after` (an event's completion: once it is seen, the stream has passed that point).
  uint64_t Enqueue(std::function<void()> fn, std::function<void()> after = nullptr);
  uint64_t enqueued();
  bool Done(uint64_t ticket);
  void Wait(uint64_t ticket);  // until the ticket is done (0: at once)
  void Retire();               // the worker exits once the queue is empty

 private:
  void Loop();
  std::mutex mu_;
  std::condition_variable cv_, done_;
  std::deque<std::pair<std::function<void()>, std::function<void()>>> q_;
  uint64_t enq_ = 0, comp_ = 0;
  bool retired_ = false;
};

struct EventImpl {
  int device = 0;
  unsigned flags = 0;
  std::mutex mu;
  std::condition_variable cv;
  uint64_t recorded = 0, completed = 0;  // record generations issued / reached
  std::chrono::steady_clock::time_point when{};
};

// Resolves a handle (nullptr: the current device's default stream). nullptr when not a live stream.
StreamImpl* ResolveStream(Stream s);
std::shared_ptr<EventImpl> ResolveEvent(Event e);

// Where a pointer lies.
struct Region {
  enum Kind { Pageable, Pinned, Device } kind = Pageable;
  int device = -1;          // Device only
  uintptr_t base = 0;       // of the allocation
  size_t size = 0;
};
Region Locate(const void* p);
// True when [p, p + bytes) lies in one device allocation of `device`.
bool OnDevice(const void* p, size_t bytes, int device);
// "memory of cuda:1", "host memory", "freed or foreign memory": for diagnostics.
std::string Describe(const void* p);

// A sticky device error (a host twin failed while running): every later call on the device fails.
void SetSticky(int device, Status s, const std::string& why);
Status Sticky(int device, std::string* why = nullptr);

// Runs fn on stream `s` after the simulation's launch rules: the stream is live and on the current
// device (else cudaErrorInvalidResourceHandle), every pointer lies in memory of that device (else
// cudaErrorIllegalAddress), and the device has no sticky error. Throws the failure as a CUDA
// error (nn::CheckCuda), as a failed kernel launch does.
void Launch(const char* kernel, Stream s, std::initializer_list<const void*> ptrs, std::function<void()> fn);
void Launch(const char* kernel, Stream s, const std::vector<const void*>& ptrs, std::function<void()> fn);
// The stream a library call was given, after the same checks as Launch's (for cuBLAS and NCCL
// entry points, which report failures by status rather than by throwing).
StreamImpl* LaunchStream(Stream s, int device, std::string* why);

// The simulation's kernel table (sim_kernels.cc) and libraries (sim_cublas.cc, sim_nccl.cc).
const k::KernelTable& Kernels();
const SymbolTable& Cublas();
const SymbolTable& Nccl();

}  // namespace sim
}  // namespace dev
}  // namespace nn
