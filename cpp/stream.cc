// cuda.Stream and cuda.Event: RAII handles over streams and events of the device interface,
// type-tagged before unwrapping. Waiting (synchronize) never blocks the JS thread: an event recorded
// now is waited on from the thread pool (blocking-sync events, so the waiting thread sleeps instead
// of spinning) and the Promise resolves there. The current stream per device is kept here
// (AddonData) so that currentStream() returns the same object each time and a current stream
// cannot be collected.
//
// Streams are pooled, never destroyed (as PyTorch's stream pools): dispose() returns the stream to
// a per-(device, priority) pool and a later Stream takes it from there. The caching allocator keys
// cached blocks by stream; a destroyed stream's handle could be reused by a new, unrelated stream,
// which would then be handed blocks whose last use on the old stream may still be running. A pooled
// stream is the same stream, so stream-ordered reuse stays correct.
#include "stream.h"

#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "addon.h"
#include "async.h"
#include "wrap.h"

namespace nn {
namespace {
constexpr napi_type_tag kStreamTag = {0x6e6e636c73747265ULL, 0x4d1b7e9a0c3f5a21ULL};
constexpr napi_type_tag kEventTag = {0x6e6e636c6576656eULL, 0x2a9c4e7b13d05f66ULL};

// An optional device argument: -1 when missing. Read every argument first, then ResolveDevice, so
// a wrong argument is reported as such even where there is no device.
int ReadDeviceArg(const Args& a, size_t i) {
  return a.IsMissing(i) ? -1 : static_cast<int>(a.Int(i, "device", 0, 1 << 20));
}
int ResolveDevice(const Args& a, int d) {
  if (d < 0) {
    CheckDevice(0, a.fn());
    return CurrentDevice();
  }
  CheckDevice(d, a.fn());
  return d;
}
int ReadDeviceOr(const Args& a, size_t i) { return ResolveDevice(a, ReadDeviceArg(a, i)); }

struct StreamPool {
  std::mutex mu;
  std::map<std::pair<int, int>, std::vector<dev::Stream>> free;  // (device, priority) -> streams
};
StreamPool& Pool() {
  static StreamPool* p = new StreamPool();  // never destroyed, like the streams it holds
  return *p;
}

dev::Stream TakeStream(int device, int priority) {
  {
    std::lock_guard<std::mutex> lock(Pool().mu);
    auto& list = Pool().free[{device, priority}];
    if (!list.empty()) {
      dev::Stream s = list.back();
      list.pop_back();
      return s;
    }
  }
  dev::DeviceGuard guard(device);
  dev::Stream s = nullptr;
  CheckCuda(dev::Get().StreamCreate(&s, priority), "cudaStreamCreateWithPriority");
  return s;
}

void ReturnStream(int device, int priority, dev::Stream s) {
  std::lock_guard<std::mutex> lock(Pool().mu);
  Pool().free[{device, priority}].push_back(s);
}

class Stream : public Napi::ObjectWrap<Stream> {
 public:
  static constexpr const char* kClassName = "Stream";
  static Napi::Function Define(Napi::Env env) {
    using M = Members<Stream>;
    Napi::Function ctor = DefineClass(env, "Stream", {StaticMethod<&Stream::PriorityRange>("priorityRange")});
    M::Install(ctor, {
                         M::Getter<&Stream::GetDevice>("device"),
                         M::Getter<&Stream::GetPriority>("priority"),
                         M::Getter<&Stream::GetDisposed>("disposed"),
                         M::Getter<&Stream::GetIsDefault>("isDefault"),
                         M::Getter<&Stream::GetHandle>("handle"),
                         M::Method<&Stream::Query>(env, "query"),
                         M::Method<&Stream::Synchronize>(env, "synchronize"),
                         M::Method<&Stream::SynchronizeSync>(env, "synchronizeSync"),
                         M::Method<&Stream::WaitEvent>(env, "waitEvent"),
                         M::Method<&Stream::WaitStream>(env, "waitStream"),
                         M::Method<&Stream::Dispose>(env, "dispose"),
                     });
    return ctor;
  }
  static Stream* FromValue(const Napi::Value& v) {
    if (!v.IsObject() || !v.As<Napi::Object>().CheckTypeTag(&kStreamTag)) return nullptr;
    return Unwrap(v.As<Napi::Object>());
  }

  // new Stream(device?, priority? = 0, isDefault? = false). isDefault wraps the device's legacy
  // default stream (not owned); cuda.currentStream() uses it.
  explicit Stream(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Stream>(info) {
    Guard(info.Env(), [&] {
      Args a(info, "new Stream");
      if (!info.IsConstructCall()) a.Fail("Stream is a class: call it with new");
      a.Count(0, 3);
      int device = ReadDeviceArg(a, 0);
      int priority = static_cast<int>(a.IntOr(1, "priority", 0, -1000, 1000));
      bool isDefault = a.BoolOr(2, "isDefault", false);
      device = ResolveDevice(a, device);
      if (!isDefault) {
        dev::DeviceGuard guard(device);
        int least = 0, greatest = 0;
        CheckCuda(dev::Get().DeviceGetStreamPriorityRange(&least, &greatest), "cudaDeviceGetStreamPriorityRange");
        // CUDA clamps out-of-range priorities; lower numbers are higher priority (as in PyTorch).
        priority = std::max(greatest, std::min(least, priority));
        stream_ = TakeStream(device, priority);
        owned_ = true;
      } else {
        priority = 0;
      }
      device_ = device;
      priority_ = priority;
      isDefault_ = isDefault;
      alive_ = true;
      info.This().As<Napi::Object>().TypeTag(&kStreamTag);
    });
  }
  ~Stream() override { Destroy(); }

  bool alive() const { return alive_; }
  int device() const { return device_; }
  dev::Stream stream() const { return stream_; }

  void CheckAlive(const char* fn) const {
    if (!alive_) Throw(code::kDisposed, std::string(fn) + ": the Stream was disposed");
  }

 private:
  friend class Members<Stream>;
  void Destroy() {
    if (!alive_) return;
    alive_ = false;
    if (owned_ && stream_) {
      // A stream that is still current falls back to the default stream.
      if (CurrentStream(device_) == stream_) SetCurrentStream(device_, nullptr);
      ReturnStream(device_, priority_, stream_);  // its queued work runs on; later users order after it
    }
    stream_ = nullptr;
  }

  Napi::Value GetDevice(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), device_); }
  Napi::Value GetPriority(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), priority_); }
  Napi::Value GetDisposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !alive_); }
  Napi::Value GetIsDefault(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), isDefault_); }
  Napi::Value GetHandle(const Napi::CallbackInfo& info) {
    return Napi::BigInt::New(info.Env(), static_cast<uint64_t>(reinterpret_cast<uintptr_t>(stream_)));
  }

  // query(): true when all work queued so far has finished.
  Napi::Value Query(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&]() -> Napi::Value {
      Args a(info, "Stream.query");
      a.Count(0, 0);
      CheckAlive(a.fn());
      dev::DeviceGuard guard(device_);
      dev::Status e = dev::Get().StreamQuery(stream_);
      if (e == dev::kErrNotReady) return Napi::Boolean::New(info.Env(), false);
      CheckCuda(e, "cudaStreamQuery");
      return Napi::Boolean::New(info.Env(), true);
    });
  }

  // synchronize(): a Promise that resolves when the work queued so far is done. The event loop
  // keeps running: an event recorded now is waited on from the thread pool.
  Napi::Value Synchronize(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&]() -> Napi::Value {
      Args a(info, "Stream.synchronize");
      a.Count(0, 0);
      CheckAlive(a.fn());
      dev::Api& api = dev::Get();
      dev::DeviceGuard guard(device_);
      dev::Event ev = nullptr;
      CheckCuda(api.EventCreate(&ev, dev::kEventDisableTiming | dev::kEventBlockingSync), "cudaEventCreateWithFlags");
      dev::Status e = api.EventRecord(ev, stream_);
      if (e != dev::kSuccess) {
        api.EventDestroy(ev);
        CheckCuda(e, "cudaEventRecord");
      }
      int device = device_;
      return RunAsync(info.Env(), [ev, device] {
        dev::DeviceGuard guard(device);
        dev::Status r = dev::Get().EventSynchronize(ev);
        dev::Get().EventDestroy(ev);
        CheckCuda(r, "cudaEventSynchronize (Stream.synchronize)");
      });
    });
  }

  Napi::Value SynchronizeSync(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&]() -> Napi::Value {
      Args a(info, "Stream.synchronizeSync");
      a.Count(0, 0);
      CheckAlive(a.fn());
      dev::DeviceGuard guard(device_);
      CheckCuda(dev::Get().StreamSynchronize(stream_), "cudaStreamSynchronize");
      return info.Env().Undefined();
    });
  }

  Napi::Value WaitEvent(const Napi::CallbackInfo& info);
  Napi::Value WaitStream(const Napi::CallbackInfo& info);

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&]() -> Napi::Value {
      Args a(info, "Stream.dispose");
      a.Count(0, 0);
      if (isDefault_) return info.Env().Undefined();  // the default stream is not ours to destroy
      Destroy();
      return info.Env().Undefined();
    });
  }

  // Stream.priorityRange(device?): { least, greatest } (greatest is the numerically lowest).
  static Napi::Value PriorityRange(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&]() -> Napi::Value {
      Args a(info, "Stream.priorityRange");
      a.Count(0, 1);
      int dev = ReadDeviceOr(a, 0);
      Napi::Object o = Napi::Object::New(info.Env());
      int least = 0, greatest = 0;
      dev::DeviceGuard guard(dev);
      CheckCuda(dev::Get().DeviceGetStreamPriorityRange(&least, &greatest), "cudaDeviceGetStreamPriorityRange");
      o.Set("least", Napi::Number::New(info.Env(), least));
      o.Set("greatest", Napi::Number::New(info.Env(), greatest));
      return o;
    });
  }

  int device_ = -1;
  int priority_ = 0;
  bool isDefault_ = false;
  bool owned_ = false;
  bool alive_ = false;
  dev::Stream stream_ = nullptr;
};

class Event : public Napi::ObjectWrap<Event> {
 public:
  static constexpr const char* kClassName = "Event";
  static Napi::Function Define(Napi::Env env) {
    using M = Members<Event>;
    Napi::Function ctor = DefineClass(env, "Event", {});
    M::Install(ctor, {
                         M::Getter<&Event::GetDevice>("device"),
                         M::Getter<&Event::GetDisposed>("disposed"),
                         M::Getter<&Event::GetTiming>("enableTiming"),
                         M::Getter<&Event::GetRecorded>("recorded"),
                         M::Method<&Event::Record>(env, "record"),
                         M::Method<&Event::Query>(env, "query"),
                         M::Method<&Event::Synchronize>(env, "synchronize"),
                         M::Method<&Event::SynchronizeSync>(env, "synchronizeSync"),
                         M::Method<&Event::ElapsedTime>(env, "elapsedTime"),
                         M::Method<&Event::Dispose>(env, "dispose"),
                     });
    return ctor;
  }
  static Event* FromValue(const Napi::Value& v) {
    if (!v.IsObject() || !v.As<Napi::Object>().CheckTypeTag(&kEventTag)) return nullptr;
    return Unwrap(v.As<Napi::Object>());
  }

  // new Event(device?, enableTiming? = false, blocking? = false)
  explicit Event(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Event>(info) {
    Guard(info.Env(), [&] {
      Args a(info, "new Event");
      if (!info.IsConstructCall()) a.Fail("Event is a class: call it with new");
      a.Count(0, 3);
      int device = ReadDeviceArg(a, 0);
      bool timing = a.BoolOr(1, "enableTiming", false);
      bool blocking = a.BoolOr(2, "blocking", false);
      device = ResolveDevice(a, device);
      dev::DeviceGuard guard(device);
      unsigned flags = (timing ? 0u : dev::kEventDisableTiming) | (blocking ? dev::kEventBlockingSync : 0u);
      CheckCuda(dev::Get().EventCreate(&event_, flags), "cudaEventCreateWithFlags");
      device_ = device;
      timing_ = timing;
      alive_ = true;
      info.This().As<Napi::Object>().TypeTag(&kEventTag);
    });
  }
  ~Event() override { Destroy(); }

  void CheckAlive(const char* fn) const {
    if (!alive_) Throw(code::kDisposed, std::string(fn) + ": the Event was disposed");
  }
  dev::Event event() const { return event_; }
  int device() const { return device_; }
  bool recorded() const { return recorded_; }

 private:
  friend class Members<Event>;
  void Destroy() {
    if (!alive_) return;
    alive_ = false;
    if (pending_ == 0 && event_) dev::Get().EventDestroy(event_);
    if (pending_ == 0) event_ = nullptr;
  }

  Napi::Value GetDevice(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), device_); }
  Napi::Value GetDisposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !alive_); }
  Napi::Value GetTiming(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), timing_); }
  Napi::Value GetRecorded(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), recorded_); }

  // record(stream?): captures the work queued on the stream so far (default: current stream).
  Napi::Value Record(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&]() -> Napi::Value {
      Args a(info, "Event.record");
      a.Count(0, 1);
      CheckAlive(a.fn());
      dev::Stream s = StreamArg(a, 0, "stream", device_);
      dev::DeviceGuard guard(device_);
      CheckCuda(dev::Get().EventRecord(event_, s), "cudaEventRecord");
      recorded_ = true;
      return info.Env().Undefined();
    });
  }

  Napi::Value Query(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&]() -> Napi::Value {
      Args a(info, "Event.query");
      a.Count(0, 0);
      CheckAlive(a.fn());
      dev::Status e = dev::Get().EventQuery(event_);
      if (e == dev::kErrNotReady) return Napi::Boolean::New(info.Env(), false);
      CheckCuda(e, "cudaEventQuery");
      return Napi::Boolean::New(info.Env(), true);
    });
  }

  // synchronize(): a Promise resolved from the thread pool once the recorded work is done. The
  // event stays alive until then even if disposed meanwhile.
  Napi::Value Synchronize(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&]() -> Napi::Value {
      Args a(info, "Event.synchronize");
      a.Count(0, 0);
      CheckAlive(a.fn());
      dev::Event ev = event_;
      pending_++;
      auto self = std::make_shared<Napi::ObjectReference>(Napi::Persistent(info.This().As<Napi::Object>()));
      return RunAsync(
          info.Env(),
          [ev] { CheckCuda(dev::Get().EventSynchronize(ev), "cudaEventSynchronize (Event.synchronize)"); },
          [this, self](Napi::Env env) -> Napi::Value {
            Settle();
            return env.Undefined();
          });
    });
  }

  void Settle() {
    if (--pending_ == 0 && !alive_ && event_) {
      dev::Get().EventDestroy(event_);
      event_ = nullptr;
    }
  }

  Napi::Value SynchronizeSync(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&]() -> Napi::Value {
      Args a(info, "Event.synchronizeSync");
      a.Count(0, 0);
      CheckAlive(a.fn());
      CheckCuda(dev::Get().EventSynchronize(event_), "cudaEventSynchronize");
      return info.Env().Undefined();
    });
  }

  // elapsedTime(end): milliseconds from this event to `end` (both recorded, both with timing).
  Napi::Value ElapsedTime(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&]() -> Napi::Value {
      Args a(info, "Event.elapsedTime");
      a.Count(1, 1);
      CheckAlive(a.fn());
      Event* end = FromValue(a[0]);
      if (!end) a.Fail(0, "end", "an Event");
      end->CheckAlive(a.fn());
      if (!timing_ || !end->timing_)
        a.Fail("both events must be created with enableTiming: true");
      if (!recorded_ || !end->recorded_) a.Fail("both events must be recorded first");
      if (end->device_ != device_)
        Throw(code::kDeviceMismatch, std::string(a.fn()) + ": the events are on devices " + std::to_string(device_) +
                                         " and " + std::to_string(end->device_));
      float ms = 0;
      dev::Status e = dev::Get().EventElapsedTime(&ms, event_, end->event_);
      if (e == dev::kErrNotReady)
        Throw(code::kCuda, std::string(a.fn()) + ": the events have not completed yet (await synchronize() first)");
      CheckCuda(e, "cudaEventElapsedTime");
      return Napi::Number::New(info.Env(), ms);
    });
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&]() -> Napi::Value {
      Args a(info, "Event.dispose");
      a.Count(0, 0);
      Destroy();
      return info.Env().Undefined();
    });
  }

  int device_ = -1;
  bool timing_ = false;
  bool alive_ = false;
  bool recorded_ = false;
  int pending_ = 0;
  dev::Event event_ = nullptr;
  friend class Stream;
};

// waitEvent(event): work queued on this stream from now on waits for the event.
Napi::Value Stream::WaitEvent(const Napi::CallbackInfo& info) {
  return Guard(info.Env(), [&]() -> Napi::Value {
    Args a(info, "Stream.waitEvent");
    a.Count(1, 1);
    CheckAlive(a.fn());
    Event* ev = Event::FromValue(a[0]);
    if (!ev) a.Fail(0, "event", "an Event");
    ev->CheckAlive(a.fn());
    dev::DeviceGuard guard(device_);
    CheckCuda(dev::Get().StreamWaitEvent(stream_, ev->event()), "cudaStreamWaitEvent");
    return info.Env().Undefined();
  });
}

// waitStream(other): work queued on this stream from now on waits for what `other` has queued.
Napi::Value Stream::WaitStream(const Napi::CallbackInfo& info) {
  return Guard(info.Env(), [&]() -> Napi::Value {
    Args a(info, "Stream.waitStream");
    a.Count(1, 1);
    CheckAlive(a.fn());
    Stream* other = FromValue(a[0]);
    if (!other) a.Fail(0, "other", "a Stream");
    other->CheckAlive(a.fn());
    dev::Api& api = dev::Get();
    dev::Event ev = nullptr;
    dev::Status e;
    {
      dev::DeviceGuard guard(other->device_);  // the event belongs to the other stream's device
      CheckCuda(api.EventCreate(&ev, dev::kEventDisableTiming), "cudaEventCreateWithFlags");
      e = api.EventRecord(ev, other->stream_);
    }
    if (e == dev::kSuccess) {
      dev::DeviceGuard guard(device_);
      e = api.StreamWaitEvent(stream_, ev);
    }
    api.EventDestroy(ev);  // deferred until the wait is resolved
    CheckCuda(e, "Stream.waitStream");
    return info.Env().Undefined();
  });
}

Napi::Object DefaultStreamObject(Napi::Env env, int device) {
  AddonData& d = Data(env);
  if (d.defaultStreams.size() <= static_cast<size_t>(device)) d.defaultStreams.resize(device + 1);
  if (d.defaultStreams[device].IsEmpty()) {
    Napi::Object s = d.classes["Stream"].New(
        {Napi::Number::New(env, device), Napi::Number::New(env, 0), Napi::Boolean::New(env, true)});
    d.defaultStreams[device] = Napi::Persistent(s);
  }
  return d.defaultStreams[device].Value();
}

// currentStream(device?): the Stream ops on the device are queued on.
Napi::Value JsCurrentStream(const Napi::CallbackInfo& info) {
  Args a(info, "cuda.currentStream");
  a.Count(0, 1);
  int dev = ReadDeviceOr(a, 0);
  AddonData& d = Data(info.Env());
  if (static_cast<size_t>(dev) < d.currentStreams.size() && !d.currentStreams[dev].IsEmpty()) {
    Napi::Object s = d.currentStreams[dev].Value();
    Stream* st = Stream::FromValue(s);
    if (st && st->alive()) return s;
    d.currentStreams[dev].Reset();
  }
  return DefaultStreamObject(info.Env(), dev);
}

// setCurrentStream(stream): makes it current on its device (like torch.cuda.set_stream).
Napi::Value JsSetCurrentStream(const Napi::CallbackInfo& info) {
  Args a(info, "cuda.setCurrentStream");
  a.Count(1, 1);
  Stream* st = Stream::FromValue(a[0]);
  if (!st) a.Fail(0, "stream", "a Stream");
  st->CheckAlive(a.fn());
  int dev = st->device();
  AddonData& d = Data(info.Env());
  if (d.currentStreams.size() <= static_cast<size_t>(dev)) d.currentStreams.resize(dev + 1);
  SetCurrentStream(dev, st->stream());
  d.currentStreams[dev] = Napi::Persistent(a[0].As<Napi::Object>());
  return info.Env().Undefined();
}

}  // namespace

dev::Stream StreamArg(const Args& a, size_t i, const char* name, int device) {
  if (a.IsMissing(i)) return CurrentStream(device);
  Stream* s = Stream::FromValue(a[i]);
  if (!s) a.Fail(i, name, "a Stream");
  s->CheckAlive(a.fn());
  if (device >= 0 && s->device() != device)
    Throw(code::kDeviceMismatch, std::string(a.fn()) + ": argument '" + name + "' is a Stream on device " +
                                     std::to_string(s->device()) + ", expected one on device " + std::to_string(device));
  return s->stream();
}

void RegisterStreams(Napi::Env env, Napi::Object exports) {
  Napi::Object cuda = Namespace(exports, "cuda");
  Napi::Function stream = Stream::Define(env);
  Napi::Function event = Event::Define(env);
  Data(env).classes["Stream"] = Napi::Persistent(stream);
  Data(env).classes["Event"] = Napi::Persistent(event);
  cuda.Set("Stream", stream);
  cuda.Set("Event", event);
  cuda.Set("currentStream", Napi::Function::New(env, NN_FN(JsCurrentStream), "currentStream"));
  cuda.Set("setCurrentStream", Napi::Function::New(env, NN_FN(JsSetCurrentStream), "setCurrentStream"));
}

}  // namespace nn
