// Copies between host and device memory, and device to device: memcpy (blocking until done) and
// memcpyAsync (queued on a stream; a Promise resolves when the copy has finished, waited on from
// the thread pool). Pageable host memory goes through a pinned staging block from the pool, so an
// async copy from a JS buffer snapshots it at the call and the buffer may be reused at once.
#include <cstring>
#include <memory>

#include "addon.h"
#include "allocator.h"
#include "async.h"
#include "memref.h"
#include "runtime.h"
#include "stream.h"

namespace nn {
namespace {

struct CopyArgs {
  MemRef dst, src;
  int64_t dstOff, srcOff, bytes;
  int device = -1;  // the device whose stream runs the copy
};

// (dst, dstOffset, src, srcOffset, byteLength, stream?)
CopyArgs ReadCopy(const Args& a) {
  a.Count(5, 6);
  CopyArgs c;
  c.dst = GetMemRef(a, 0, "dst");
  c.dstOff = a.Int(1, "dstOffset", 0, (int64_t{1} << 53) - 1);
  c.src = GetMemRef(a, 2, "src");
  c.srcOff = a.Int(3, "srcOffset", 0, (int64_t{1} << 53) - 1);
  c.bytes = a.Int(4, "byteLength", 0, (int64_t{1} << 53) - 1);
  CheckRange(a, c.dst, c.dstOff, c.bytes, "dst");
  CheckRange(a, c.src, c.srcOff, c.bytes, "src");
  c.device = c.dst.device >= 0 ? c.dst.device : c.src.device;
  if (c.device < 0) {
    if (!a.IsMissing(5)) a.Fail("a host-to-host copy takes no stream");
  }
  return c;
}

// `waiter` (a stream of one device) waits for what `s` (a stream of `device`) has queued so far.
void StreamWaits(dev::Stream waiter, int waiterDevice, dev::Stream s, int device) {
  dev::Api& api = dev::Get();
  dev::Event ev = nullptr;
  {
    dev::DeviceGuard guard(device);
    CheckCuda(api.EventCreate(&ev, dev::kEventDisableTiming), "cudaEventCreateWithFlags");
    dev::Status e = api.EventRecord(ev, s);
    if (e != dev::kSuccess) {
      api.EventDestroy(ev);
      CheckCuda(e, "cudaEventRecord");
    }
  }
  dev::DeviceGuard guard(waiterDevice);
  dev::Status e = api.StreamWaitEvent(waiter, ev);
  api.EventDestroy(ev);  // deferred until the wait is resolved
  CheckCuda(e, "cudaStreamWaitEvent");
}

// Queues the copy on s. Pinned host memory the copy reads or writes directly is recorded as used
// on s, so that the pinned pool does not hand it out again before the copy is done. A copy between
// two devices is ordered with both devices' current streams, as PyTorch's cross-device copy_ is:
// it runs after the work queued on the source device so far (the producer of the bytes), and the
// source device's later work (which may reuse the source memory) runs after it.
void Enqueue(const CopyArgs& c, void* dst, const void* src, dev::Stream s) {
  dev::Api& api = dev::Get();
  size_t n = static_cast<size_t>(c.bytes);
  if (c.dst.device >= 0 && c.src.device >= 0 && c.dst.device != c.src.device) {
    dev::Stream srcStream = CurrentStream(c.src.device);
    StreamWaits(s, c.device, srcStream, c.src.device);
    CheckCuda(api.MemcpyPeerAsync(dst, c.dst.device, src, c.src.device, n, s), "cudaMemcpyPeerAsync");
    StreamWaits(srcStream, c.src.device, s, c.device);
  } else {
    CheckCuda(api.MemcpyAsync(dst, src, n, s), "cudaMemcpyAsync");
  }
  if (c.src.device < 0 && IsPinned(src, n)) PinnedRecordUse(src, c.device, s);
  if (c.dst.device < 0 && IsPinned(dst, n)) PinnedRecordUse(dst, c.device, s);
}

struct PinnedBlock {
  void* p = nullptr;
  explicit PinnedBlock(size_t n) : p(PinnedAlloc(n)) {}
  ~PinnedBlock() {
    if (p) PinnedFree(p);
  }
};

struct EventGuard {
  dev::Event ev = nullptr;
  EventGuard() {
    CheckCuda(dev::Get().EventCreate(&ev, dev::kEventDisableTiming | dev::kEventBlockingSync), "cudaEventCreateWithFlags");
  }
  ~EventGuard() {
    if (ev) dev::Get().EventDestroy(ev);
  }
};

char* At(const MemRef& m, int64_t off) { return static_cast<char*>(m.ptr) + off; }

// Copies host memory on the calling thread; queues a device copy on the stream. Returns whether
// the copy went to a stream (so memcpy knows to wait for it).
bool CopyNowOrEnqueue(const Args& a, const CopyArgs& c) {
  if (c.bytes == 0) return false;
  if (c.device < 0) {
    std::memmove(At(c.dst, c.dstOff), At(c.src, c.srcOff), static_cast<size_t>(c.bytes));
    return false;
  }
  dev::Stream s = StreamArg(a, 5, "stream", c.device);
  dev::DeviceGuard guard(c.device);
  Enqueue(c, At(c.dst, c.dstOff), At(c.src, c.srcOff), s);
  return true;
}

// memcpy(dst, dstOffset, src, srcOffset, byteLength, stream?): returns when the bytes are there.
Napi::Value Memcpy(const Napi::CallbackInfo& info) {
  Args a(info, "cuda.memcpy");
  CopyArgs c = ReadCopy(a);
  if (CopyNowOrEnqueue(a, c)) {
    dev::DeviceGuard guard(c.device);
    CheckCuda(dev::Get().StreamSynchronize(StreamArg(a, 5, "stream", c.device)), "cudaStreamSynchronize (memcpy)");
  }
  return info.Env().Undefined();
}

// memcpyEnqueue(...same...): queues the copy on the stream and returns at once. CUDA reads pageable
// host memory before a copy from it returns (staging it) and copies to pageable memory
// synchronously ("API synchronization behavior" in the CUDA runtime documentation), so the JS
// buffers are never touched after the call; device and pinned memory are fully asynchronous.
Napi::Value MemcpyEnqueue(const Napi::CallbackInfo& info) {
  Args a(info, "cuda.memcpyEnqueue");
  CopyNowOrEnqueue(a, ReadCopy(a));
  return info.Env().Undefined();
}

// memcpyAsync(...same...): a Promise resolved once the copy has completed on its stream.
Napi::Value MemcpyAsync(const Napi::CallbackInfo& info) {
  Args a(info, "cuda.memcpyAsync");
  CopyArgs c = ReadCopy(a);
  Napi::Env env = info.Env();
  if (c.device < 0) {
    std::memmove(At(c.dst, c.dstOff), At(c.src, c.srcOff), static_cast<size_t>(c.bytes));
    return RunAsync(env, [] {});
  }
  dev::Stream s = StreamArg(a, 5, "stream", c.device);
  dev::DeviceGuard guard(c.device);
  // Keep the JS objects alive until the copy is done.
  auto keep = std::make_shared<std::vector<Napi::Reference<Napi::Value>>>();
  keep->push_back(Napi::Persistent(a[0]));
  keep->push_back(Napi::Persistent(a[2]));
  auto ev = std::make_shared<EventGuard>();
  std::shared_ptr<PinnedBlock> staging;
  bool stageOut = false;  // device -> pageable host: copy out of staging on the JS thread at the end
  size_t n = static_cast<size_t>(c.bytes);
  if (c.bytes > 0) {
    if (c.src.device < 0 && !c.src.pinned) {
      staging = std::make_shared<PinnedBlock>(n);
      std::memcpy(staging->p, At(c.src, c.srcOff), n);
      Enqueue(c, At(c.dst, c.dstOff), staging->p, s);
    } else if (c.dst.device < 0 && !c.dst.pinned) {
      staging = std::make_shared<PinnedBlock>(n);
      Enqueue(c, staging->p, At(c.src, c.srcOff), s);
      stageOut = true;
    } else {
      Enqueue(c, At(c.dst, c.dstOff), At(c.src, c.srcOff), s);
    }
  }
  CheckCuda(dev::Get().EventRecord(ev->ev, s), "cudaEventRecord");
  int64_t dstOff = c.dstOff;
  return RunAsync(
      env, [ev] { CheckCuda(dev::Get().EventSynchronize(ev->ev), "cudaEventSynchronize (memcpyAsync)"); },
      [keep, staging, stageOut, dstOff, n](Napi::Env env) -> Napi::Value {
        if (stageOut) {
          // Re-read the destination: it may have been detached while the copy ran.
          Napi::Value dv = (*keep)[0].Value();
          HostMem now;
          if (!ReadHostMem(env, dv, &now)) now = HostMem{};
          void* base = now.ptr;
          size_t len = now.bytes;
          if (!base || static_cast<uint64_t>(dstOff) + n > len)
            Throw(code::kDetached, "cuda.memcpyAsync: the destination buffer was detached or shrunk during the copy; nothing was written");
          std::memcpy(static_cast<char*>(base) + dstOff, staging->p, n);
        }
        return env.Undefined();
      });
}

// memset(dst, offset, byteLength, value, stream?): sets bytes (queued on the stream for device memory).
Napi::Value Memset(const Napi::CallbackInfo& info) {
  Args a(info, "cuda.memset");
  a.Count(4, 5);
  MemRef m = GetMemRef(a, 0, "dst");
  int64_t off = a.Int(1, "offset", 0, (int64_t{1} << 53) - 1);
  int64_t n = a.Int(2, "byteLength", 0, (int64_t{1} << 53) - 1);
  int value = static_cast<int>(a.Int(3, "value", 0, 255));
  CheckRange(a, m, off, n, "dst");
  if (n == 0) return info.Env().Undefined();
  if (m.device < 0) {
    if (!a.IsMissing(4)) a.Fail("host memory takes no stream");
    std::memset(At(m, off), value, static_cast<size_t>(n));
    return info.Env().Undefined();
  }
  dev::Stream s = StreamArg(a, 4, "stream", m.device);
  dev::DeviceGuard guard(m.device);
  CheckCuda(dev::Get().MemsetAsync(At(m, off), value, static_cast<size_t>(n), s), "cudaMemsetAsync");
  return info.Env().Undefined();
}

}  // namespace

void RegisterCopy(Napi::Env env, Napi::Object exports) {
  Napi::Object cuda = Namespace(exports, "cuda");
  cuda.Set("memcpy", Napi::Function::New(env, NN_FN(Memcpy), "memcpy"));
  cuda.Set("memcpyEnqueue", Napi::Function::New(env, NN_FN(MemcpyEnqueue), "memcpyEnqueue"));
  cuda.Set("memcpyAsync", Napi::Function::New(env, NN_FN(MemcpyAsync), "memcpyAsync"));
  cuda.Set("memset", Napi::Function::New(env, NN_FN(Memset), "memset"));
}

}  // namespace nn
