// Device memory: one caching allocator per device (in the manner of PyTorch's CUDACachingAllocator),
// and a pinned host pool.
//
// Policy:
//  - Sizes are rounded up to multiples of 512 B. Requests up to 1 MiB come from the small pool,
//    which carves them out of 2 MiB segments; larger ones from the large pool, whose segments are
//    20 MiB for requests under 10 MiB and the request rounded up to 2 MiB otherwise.
//  - A free block is reused only by an allocation on the stream it was allocated on (stream order
//    makes reuse safe without synchronizing). A block used on other streams (recordStream) is
//    parked after free until events recorded on those streams have completed.
//  - A block larger than the request is split: the remainder stays cached (small pool: if at least
//    512 B remain; large pool: if more than 1 MiB remains). A freed block merges with free
//    neighbours of its segment.
//  - Out of memory: wait for parked blocks, release every unused cached segment once, retry; then
//    throw ERR_CUDA_OOM stating the request, the bytes allocated and reserved, and the device.
//  - emptyCache() releases every cached segment with no block in use (and unused pinned blocks).
//  - Pinned host blocks (cudaHostAlloc) are binned by size rounded up to a power of two (min 4 KiB)
//    and reused; they are never returned to the OS except by emptyCache(). A block that queued
//    copies used directly (PinnedRecordUse) goes back to its bin only once events recorded after
//    those copies have completed, so a freed buffer is never handed out while a copy still reads it.
//  - Every block returned to a pool is reported to the device interface (OnBlockFreed, in stream
//    order on its stream): simulated devices fill it with NaN bytes there, so a use the allocator
//    was not told about reads garbage in tests instead of passing by luck.
// Allocators live for the whole process (never destroyed): freeing CUDA memory during process
// teardown, after the CUDA runtime has shut down, is unsafe.
#include "allocator.h"

#include <algorithm>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <unordered_set>
#include <vector>

#include "addon.h"

namespace nn {

namespace {

std::string Bytes(int64_t b) {
  char buf[64];
  double v = static_cast<double>(b);
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    u++;
  }
  if (u == 0) snprintf(buf, sizeof buf, "%lld B", static_cast<long long>(b));
  else snprintf(buf, sizeof buf, "%.2f %s (%lld B)", v, units[u], static_cast<long long>(b));
  return buf;
}

}  // namespace
namespace {

constexpr size_t kMinBlock = 512;
constexpr size_t kSmallSize = 1 << 20;      // largest "small" request
constexpr size_t kSmallBuffer = 2 << 20;    // small-pool segment
constexpr size_t kLargeBuffer = 20 << 20;   // segment for requests in (1 MiB, 10 MiB)
constexpr size_t kMinLargeAlloc = 10 << 20;
constexpr size_t kRoundLarge = 2 << 20;

struct Block;
struct BlockLess {
  bool operator()(const Block* a, const Block* b) const;
};
using Pool = std::set<Block*, BlockLess>;

struct Block {
  int device;
  dev::Stream stream;
  size_t size;
  void* ptr;
  Pool* pool;
  bool allocated = false;
  size_t requested = 0;
  Block* prev = nullptr;  // neighbours in the same segment
  Block* next = nullptr;
  std::unordered_set<dev::Stream> streamUses;
  int pendingEvents = 0;
  Block(int d, dev::Stream s, size_t sz, Pool* p, void* ptr_) : device(d), stream(s), size(sz), ptr(ptr_), pool(p) {}
  bool isSplit() const { return prev || next; }
};

bool BlockLess::operator()(const Block* a, const Block* b) const {
  if (a->stream != b->stream) return reinterpret_cast<uintptr_t>(a->stream) < reinterpret_cast<uintptr_t>(b->stream);
  if (a->size != b->size) return a->size < b->size;
  return reinterpret_cast<uintptr_t>(a->ptr) < reinterpret_cast<uintptr_t>(b->ptr);
}

size_t RoundSize(size_t n) { return n < kMinBlock ? kMinBlock : (n + kMinBlock - 1) / kMinBlock * kMinBlock; }
size_t SegmentSize(size_t n) {
  if (n <= kSmallSize) return kSmallBuffer;
  if (n < kMinLargeAlloc) return kLargeBuffer;
  return (n + kRoundLarge - 1) / kRoundLarge * kRoundLarge;
}

using dev::DeviceGuard;

class DeviceCache {
 public:
  explicit DeviceCache(int d) : device_(d) {}

  DeviceAllocation Malloc(size_t bytes, dev::Stream stream) {
    std::lock_guard<std::mutex> lock(mu_);
    DeviceAllocation out;
    out.device = device_;
    out.stream = stream;
    out.size = bytes;
    stats_.allocs++;
    if (bytes == 0) return out;
    DeviceGuard guard(device_);
    ProcessEvents();
    size_t size = RoundSize(bytes);
    Pool& pool = size <= kSmallSize ? small_ : large_;
    Block* b = FindFree(pool, stream, size);
    if (b) {
      stats_.cacheHits++;
    } else {
      size_t seg = SegmentSize(size);
      void* ptr = nullptr;
      dev::Api& api = dev::Get();
      dev::Status e = api.Malloc(&ptr, seg);
      if (e == dev::kErrMemoryAllocation) {
        api.GetLastError();
        api.Diagnostic();
        // Free the cache once (waiting for parked blocks first) and retry.
        SynchronizeAndFreeEvents();
        ReleaseCached();
        e = api.Malloc(&ptr, seg);
        if (e == dev::kErrMemoryAllocation) {
          api.GetLastError();
          api.Diagnostic();
          stats_.ooms++;
          size_t freeB = 0, totalB = 0;
          api.MemGetInfo(&freeB, &totalB);
          api.GetLastError();
          throw NativeError(code::kCudaOom,
                            "CUDA out of memory on device " + std::to_string(device_) + ": tried to allocate " +
                                Bytes(static_cast<int64_t>(bytes)) + "; node-nccl has " + Bytes(stats_.allocated) +
                                " allocated and " + Bytes(stats_.reserved) + " reserved on this device; the device has " +
                                Bytes(static_cast<int64_t>(freeB)) + " free of " + Bytes(static_cast<int64_t>(totalB)) +
                                ". The cache was emptied and the allocation retried once.",
                            dev::kErrMemoryAllocation, "cudaErrorMemoryAllocation");
        }
      }
      CheckCuda(e, "cudaMalloc");
      stats_.cudaMallocs++;
      stats_.segments++;
      stats_.reserved += static_cast<int64_t>(seg);
      stats_.peakReserved = std::max(stats_.peakReserved, stats_.reserved);
      b = new Block(device_, stream, seg, &pool, ptr);
    }
    // Split off the remainder when it is worth keeping.
    size_t rest = b->size - size;
    bool split = (b->pool == &small_) ? rest >= kMinBlock : rest > kSmallSize;
    if (split) {
      Block* r = new Block(device_, stream, rest, b->pool, static_cast<char*>(b->ptr) + size);
      r->prev = b;
      r->next = b->next;
      if (r->next) r->next->prev = r;
      b->next = r;
      b->size = size;
      b->pool->insert(r);
      stats_.splits++;
    }
    b->allocated = true;
    b->requested = bytes;
    stats_.allocated += static_cast<int64_t>(b->size);
    stats_.peakAllocated = std::max(stats_.peakAllocated, stats_.allocated);
    stats_.activeBlocks++;
    out.ptr = b->ptr;
    out.block = b;
    return out;
  }

  void Free(const DeviceAllocation& a) {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.frees++;
    Block* b = static_cast<Block*>(a.block);
    if (!b) return;
    DeviceGuard guard(device_);
    stats_.allocated -= static_cast<int64_t>(b->size);
    stats_.activeBlocks--;
    b->allocated = false;
    if (!b->streamUses.empty()) {
      // Used on other streams: park it until that work is done.
      for (dev::Stream s : b->streamUses) {
        dev::Event ev = NewEvent();
        if (dev::Get().EventRecord(ev, s) != dev::kSuccess) {
          dev::Get().GetLastError();
          dev::Get().EventDestroy(ev);
          continue;
        }
        b->pendingEvents++;
        events_.push_back({ev, b});
      }
      b->streamUses.clear();
      if (b->pendingEvents > 0) return;
    }
    FreeBlock(b);
  }

  void Record(const DeviceAllocation& a, dev::Stream s) {
    std::lock_guard<std::mutex> lock(mu_);
    Block* b = static_cast<Block*>(a.block);
    if (!b || s == b->stream) return;
    b->streamUses.insert(s);
  }

  MemoryStats Stats() {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }
  void ResetPeak() {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.peakAllocated = stats_.allocated;
    stats_.peakReserved = stats_.reserved;
  }
  void EmptyCache() {
    std::lock_guard<std::mutex> lock(mu_);
    DeviceGuard guard(device_);
    SynchronizeAndFreeEvents();
    ReleaseCached();
  }

 private:
  Block* FindFree(Pool& pool, dev::Stream stream, size_t size) {
    Block key(device_, stream, size, &pool, nullptr);
    auto it = pool.lower_bound(&key);
    if (it == pool.end() || (*it)->stream != stream) return nullptr;
    Block* b = *it;
    pool.erase(it);
    return b;
  }

  void FreeBlock(Block* b) {
    dev::Get().OnBlockFreed(b->ptr, b->size, b->stream);
    Pool& pool = *b->pool;
    for (Block* n : {b->prev, b->next}) {
      if (!n || n->allocated || n->pendingEvents > 0) continue;
      pool.erase(n);
      if (n == b->prev) {
        b->ptr = n->ptr;
        b->prev = n->prev;
        if (b->prev) b->prev->next = b;
      } else {
        b->next = n->next;
        if (b->next) b->next->prev = b;
      }
      b->size += n->size;
      delete n;
      stats_.merges++;
    }
    pool.insert(b);
  }

  dev::Event NewEvent() {
    if (!freeEvents_.empty()) {
      dev::Event e = freeEvents_.back();
      freeEvents_.pop_back();
      return e;
    }
    dev::Event e = nullptr;
    CheckCuda(dev::Get().EventCreate(&e, dev::kEventDisableTiming), "cudaEventCreateWithFlags");
    return e;
  }

  // Returns parked blocks whose events have completed to their pools.
  void ProcessEvents() {
    while (!events_.empty()) {
      auto [ev, b] = events_.front();
      dev::Status e = dev::Get().EventQuery(ev);
      if (e == dev::kErrNotReady) break;
      if (e != dev::kSuccess) dev::Get().GetLastError();
      events_.pop_front();
      freeEvents_.push_back(ev);
      if (--b->pendingEvents == 0) FreeBlock(b);
    }
  }

  void SynchronizeAndFreeEvents() {
    for (auto& [ev, b] : events_) {
      if (dev::Get().EventSynchronize(ev) != dev::kSuccess) dev::Get().GetLastError();
      freeEvents_.push_back(ev);
      if (--b->pendingEvents == 0) FreeBlock(b);
    }
    events_.clear();
  }

  // cudaFree of every whole segment in the pools (a free block with no neighbours).
  void ReleaseCached() {
    for (Pool* pool : {&small_, &large_}) {
      for (auto it = pool->begin(); it != pool->end();) {
        Block* b = *it;
        if (b->isSplit()) {
          ++it;
          continue;
        }
        it = pool->erase(it);
        if (dev::Get().Free(b->ptr) != dev::kSuccess) dev::Get().GetLastError();
        stats_.cudaFrees++;
        stats_.segments--;
        stats_.reserved -= static_cast<int64_t>(b->size);
        delete b;
      }
    }
  }

  int device_;
  std::mutex mu_;
  Pool small_, large_;
  std::deque<std::pair<dev::Event, Block*>> events_;
  std::vector<dev::Event> freeEvents_;
  MemoryStats stats_;
};

DeviceCache& Cache(int device) {
  static std::vector<DeviceCache*>* caches = [] {
    auto* v = new std::vector<DeviceCache*>();
    for (int i = 0; i < DeviceCount(); i++) v->push_back(new DeviceCache(i));
    return v;
  }();
  if (device < 0 || static_cast<size_t>(device) >= caches->size())
    Throw(code::kInvalidArg, "allocator: device " + std::to_string(device) + " does not exist");
  return *(*caches)[device];
}

// ---- pinned host pool ----
class PinnedPool {
 public:
  void* Alloc(size_t bytes) {
    size_t size = 4096;
    while (size < bytes) size <<= 1;
    std::lock_guard<std::mutex> lock(mu_);
    ProcessParked();
    auto& bin = free_[size];
    void* p = nullptr;
    if (!bin.empty()) {
      p = bin.back();
      bin.pop_back();
    } else {
      dev::Api& api = dev::Get();
      dev::Status e = api.HostAlloc(&p, size);
      if (e != dev::kSuccess) {
        api.GetLastError();
        api.Diagnostic();
        // Release unused pinned blocks once and retry.
        ReleaseLocked();
        e = api.HostAlloc(&p, size);
      }
      if (e == dev::kErrMemoryAllocation) {
        api.GetLastError();
        throw NativeError(code::kHostOom, "pinned host memory: cudaHostAlloc of " + Bytes(static_cast<int64_t>(size)) +
                                              " failed (" + Bytes(reserved_) + " pinned already)",
                          e, "cudaErrorMemoryAllocation");
      }
      CheckCuda(e, "cudaHostAlloc");
      reserved_ += static_cast<int64_t>(size);
      blocks_[reinterpret_cast<uintptr_t>(p)] = size;
    }
    used_[p] = size;
    allocated_ += static_cast<int64_t>(size);
    return p;
  }
  void Free(void* p) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = used_.find(p);
    if (it == used_.end()) return;
    allocated_ -= static_cast<int64_t>(it->second);
    auto uses = uses_.find(p);
    if (uses != uses_.end()) {
      parked_.push_back({p, it->second, std::move(uses->second)});
      uses_.erase(uses);
    } else {
      free_[it->second].push_back(p);
    }
    used_.erase(it);
  }
  void RecordUse(const void* ptr, int device, dev::Stream s) {
    std::lock_guard<std::mutex> lock(mu_);
    void* base = BlockOf(ptr);
    if (!base || !used_.count(base)) return;
    dev::DeviceGuard guard(device);
    dev::Event ev = nullptr;
    CheckCuda(dev::Get().EventCreate(&ev, dev::kEventDisableTiming), "cudaEventCreateWithFlags");
    dev::Status e = dev::Get().EventRecord(ev, s);
    if (e != dev::kSuccess) {
      dev::Get().EventDestroy(ev);
      CheckCuda(e, "cudaEventRecord (pinned block use)");
    }
    uses_[base].push_back(ev);
  }
  bool Contains(const void* ptr, size_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    void* base = BlockOf(ptr);
    return base && reinterpret_cast<uintptr_t>(ptr) + bytes <= reinterpret_cast<uintptr_t>(base) + blocks_[reinterpret_cast<uintptr_t>(base)];
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    for (Parked& pk : parked_)
      for (dev::Event e : pk.events)
        if (dev::Get().EventSynchronize(e) != dev::kSuccess) dev::Get().GetLastError();
    ProcessParked();
    ReleaseLocked();
  }
  int64_t reserved() {
    std::lock_guard<std::mutex> lock(mu_);
    return reserved_;
  }
  int64_t allocated() {
    std::lock_guard<std::mutex> lock(mu_);
    return allocated_;
  }

 private:
  struct Parked {
    void* p;
    size_t size;
    std::vector<dev::Event> events;
  };

  void* BlockOf(const void* ptr) {
    uintptr_t a = reinterpret_cast<uintptr_t>(ptr);
    auto it = blocks_.upper_bound(a);
    if (it == blocks_.begin()) return nullptr;
    --it;
    return a >= it->first && a < it->first + it->second ? reinterpret_cast<void*>(it->first) : nullptr;
  }

  // Blocks whose recorded uses have all completed go back to their bins.
  void ProcessParked() {
    for (auto it = parked_.begin(); it != parked_.end();) {
      bool done = true;
      for (dev::Event e : it->events) {
        dev::Status q = dev::Get().EventQuery(e);
        if (q == dev::kErrNotReady) {
          done = false;
          break;
        }
        if (q != dev::kSuccess) dev::Get().GetLastError();
      }
      if (!done) {
        ++it;
        continue;
      }
      for (dev::Event e : it->events) dev::Get().EventDestroy(e);
      free_[it->size].push_back(it->p);
      it = parked_.erase(it);
    }
  }
  void ReleaseLocked() {
    for (auto& [size, list] : free_) {
      for (void* p : list) {
        if (dev::Get().FreeHost(p) != dev::kSuccess) dev::Get().GetLastError();
        blocks_.erase(reinterpret_cast<uintptr_t>(p));
        reserved_ -= static_cast<int64_t>(size);
      }
      list.clear();
    }
  }
  std::mutex mu_;
  std::map<size_t, std::vector<void*>> free_;
  std::map<uintptr_t, size_t> blocks_;
  std::map<void*, size_t> used_;
  std::map<void*, std::vector<dev::Event>> uses_;  // events after queued copies, by block (in use)
  std::vector<Parked> parked_;                      // freed, waiting for their events
  int64_t reserved_ = 0, allocated_ = 0;
};

PinnedPool& Pinned() {
  static PinnedPool* p = new PinnedPool();
  return *p;
}

}  // namespace

DeviceAllocation DeviceMalloc(int device, size_t bytes, dev::Stream stream) { return Cache(device).Malloc(bytes, stream); }
void DeviceFree(const DeviceAllocation& a) {
  if (a.device >= 0) Cache(a.device).Free(a);
}
void RecordStream(const DeviceAllocation& a, dev::Stream stream) {
  if (a.device >= 0) Cache(a.device).Record(a, stream);
}

MemoryStats GetMemoryStats(int device) {
  CheckDevice(device, "memoryStats");
  MemoryStats s = Cache(device).Stats();
  s.pinnedReserved = Pinned().reserved();
  s.pinnedAllocated = Pinned().allocated();
  return s;
}
void ResetPeakStats(int device) {
  CheckDevice(device, "resetPeakMemoryStats");
  Cache(device).ResetPeak();
}
void EmptyCache() {
  for (int d = 0; d < DeviceCount(); d++) Cache(d).EmptyCache();
  if (DeviceCount() > 0) Pinned().Release();
}

void* PinnedAlloc(size_t bytes) {
  CheckDevice(0, "pinned host memory");
  return Pinned().Alloc(bytes);
}
void PinnedFree(void* ptr) { Pinned().Free(ptr); }
bool IsPinned(const void* ptr, size_t bytes) { return DeviceCount() > 0 && Pinned().Contains(ptr, bytes); }
void PinnedRecordUse(const void* ptr, int device, dev::Stream stream) {
  if (DeviceCount() > 0) Pinned().RecordUse(ptr, device, stream);
}

namespace {

int DeviceArgOrCurrent(const Args& a, size_t i) {
  if (a.IsMissing(i)) {
    CheckDevice(0, a.fn());
    return CurrentDevice();
  }
  int d = static_cast<int>(a.Int(i, "device", 0, 1 << 20));
  CheckDevice(d, a.fn());
  return d;
}

Napi::Value JsMemoryStats(const Napi::CallbackInfo& info) {
  Args a(info, "cuda.memoryStats");
  a.Count(0, 1);
  int d = DeviceArgOrCurrent(a, 0);
  MemoryStats s = GetMemoryStats(d);
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  auto put = [&](const char* k, int64_t v) { o.Set(k, Napi::Number::New(env, static_cast<double>(v))); };
  put("device", d);
  put("allocatedBytes", s.allocated);
  put("reservedBytes", s.reserved);
  put("peakAllocatedBytes", s.peakAllocated);
  put("peakReservedBytes", s.peakReserved);
  put("activeBlocks", s.activeBlocks);
  put("segments", s.segments);
  put("numAllocs", s.allocs);
  put("numFrees", s.frees);
  put("cacheHits", s.cacheHits);
  put("numDeviceMallocs", s.cudaMallocs);
  put("numDeviceFrees", s.cudaFrees);
  put("numOoms", s.ooms);
  put("numSplits", s.splits);
  put("numMerges", s.merges);
  put("pinnedReservedBytes", s.pinnedReserved);
  put("pinnedAllocatedBytes", s.pinnedAllocated);
  return o;
}

Napi::Value JsResetPeak(const Napi::CallbackInfo& info) {
  Args a(info, "cuda.resetPeakMemoryStats");
  a.Count(0, 1);
  ResetPeakStats(DeviceArgOrCurrent(a, 0));
  return info.Env().Undefined();
}

Napi::Value JsEmptyCache(const Napi::CallbackInfo& info) {
  Args a(info, "cuda.emptyCache");
  a.Count(0, 0);
  EmptyCache();
  return info.Env().Undefined();
}

// pinnedBuffer(byteLength): page-locked host memory from the pool as an external ArrayBuffer; its
// finalizer returns the block to the pool.
Napi::Value JsPinnedBuffer(const Napi::CallbackInfo& info) {
  Args a(info, "cuda.pinnedBuffer");
  a.Count(1, 1);
  int64_t bytes = a.Int(0, "byteLength", 0, (int64_t{1} << 53) - 1);
  void* p = PinnedAlloc(static_cast<size_t>(bytes == 0 ? 1 : bytes));
  return Napi::ArrayBuffer::New(info.Env(), p, static_cast<size_t>(bytes), [](Napi::Env, void* data) { PinnedFree(data); });
}

}  // namespace

void RegisterAllocator(Napi::Env env, Napi::Object exports) {
  Napi::Object cuda = Namespace(exports, "cuda");
  cuda.Set("memoryStats", Napi::Function::New(env, NN_FN(JsMemoryStats), "memoryStats"));
  cuda.Set("resetPeakMemoryStats", Napi::Function::New(env, NN_FN(JsResetPeak), "resetPeakMemoryStats"));
  cuda.Set("emptyCache", Napi::Function::New(env, NN_FN(JsEmptyCache), "emptyCache"));
  cuda.Set("pinnedBuffer", Napi::Function::New(env, NN_FN(JsPinnedBuffer), "pinnedBuffer"));
}

}  // namespace nn
