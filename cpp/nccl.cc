// Low-level NCCL (native.nccl): unique ids, communicators (initRank with a timeout, initAll),
// collectives and point-to-point on DeviceBuffers, groups, async error checks, abort and destroy.
// NCCL is loaded at run time (loader.cc) and called through our own minimal declarations below,
// feature-gated on the loaded version: ncclAvg and bfloat16 need NCCL >= 2.10; the non-blocking
// init (so that a missing peer is a timeout, not a hang) needs ncclCommInitRankConfig (>= 2.14).
//
// Communicators are non-blocking (ncclCommInitRankConfig with blocking = 0; initAll too, as a group
// of initRank calls): a call NCCL is still issuing in the background returns ncclInProgress. The JS
// thread never waits for that beyond a short spin (kSettleSpinUs): the op returns `false`, the
// communicator is "settling" (no NCCL call may be made on it until it has settled), and
// settle() (a Promise, polled on the thread pool) or settleSync() waits for it, within the
// communicator's timeout (the process group's timeoutMs), recording the op's completion event once
// NCCL has put it on its stream. A peer that never arrives is then ERR_DIST_TIMEOUT, not a hang.
//
// Lifetime: a CommState owns the ncclComm_t (RAII: a communicator never destroyed explicitly is
// aborted when its handle is collected or the environment shuts down). destroy() refuses while
// work this communicator queued may still be running (await synchronize() or call abort()); it
// finalizes and frees the communicator on the thread pool and returns a Promise.
#include <climits>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "addon.h"
#include "async.h"
#include "device/device.h"
#include "loader.h"
#include "memref.h"
#include "runtime.h"
#include "stream.h"
#include "wrap.h"

namespace nn {
namespace {

// ---- our declarations of NCCL's C API (nccl.h) ----
typedef struct ncclComm* ncclComm_t;
struct ncclUniqueId {
  char internal[128];
};
enum NcclResult { kNcclSuccess = 0, kNcclInProgress = 7 };
// ncclConfig_t as of NCCL 2.17 (the fields up to netName). NCCL reads `size` and `version` and
// accepts older layouts: a version below 2.17 would make it ignore cgaClusterSize..netName.
constexpr unsigned kConfigVersion = 21700;
struct NcclConfig {
  size_t size;
  unsigned int magic;
  unsigned int version;
  int blocking;
  int cgaClusterSize;
  int minCTAs;
  int maxCTAs;
  const char* netName;
};

using FnGetUniqueId = int (*)(ncclUniqueId*);
using FnCommInitRank = int (*)(ncclComm_t*, int, ncclUniqueId, int);
using FnCommInitRankConfig = int (*)(ncclComm_t*, int, ncclUniqueId, int, NcclConfig*);
using FnCommInitAll = int (*)(ncclComm_t*, int, const int*);
using FnCommGetAsyncError = int (*)(ncclComm_t, int*);
using FnCommAbort = int (*)(ncclComm_t);
using FnCommDestroy = int (*)(ncclComm_t);
using FnCommFinalize = int (*)(ncclComm_t);
using FnGetLastError = const char* (*)(ncclComm_t);
using FnAllReduce = int (*)(const void*, void*, size_t, int, int, ncclComm_t, void*);
using FnBroadcast = int (*)(const void*, void*, size_t, int, int, ncclComm_t, void*);
using FnReduce = int (*)(const void*, void*, size_t, int, int, int, ncclComm_t, void*);
using FnAllGather = int (*)(const void*, void*, size_t, int, ncclComm_t, void*);
using FnReduceScatter = int (*)(const void*, void*, size_t, int, int, ncclComm_t, void*);
using FnSendRecv = int (*)(const void*, size_t, int, int, ncclComm_t, void*);
using FnGroup = int (*)();

template <typename F>
F Sym(const char* name) {
  return reinterpret_cast<F>(LibSym(Lib::Nccl, name));
}
int NcclVersion() { return LibInfo(Lib::Nccl).version; }

const char* LastError(ncclComm_t c) {
  auto f = reinterpret_cast<FnGetLastError>(LibSymOrNull(Lib::Nccl, "ncclGetLastError"));
  return f ? f(c) : nullptr;
}

struct DType {
  const char* name;
  int code;
  int size;
  int minVersion;
};
const DType kDTypes[] = {
    {"int8", 0, 1, 0},     {"uint8", 1, 1, 0},     {"int32", 2, 4, 0},    {"uint32", 3, 4, 0},
    {"int64", 4, 8, 0},    {"uint64", 5, 8, 0},    {"float16", 6, 2, 0},  {"float32", 7, 4, 0},
    {"float64", 8, 8, 0},  {"bfloat16", 9, 2, 21000},
};
struct RedOp {
  const char* name;
  int code;
  int minVersion;
};
const RedOp kOps[] = {{"sum", 0, 0}, {"prod", 1, 0}, {"max", 2, 0}, {"min", 3, 0}, {"avg", 4, 21000}};

std::string VersionText(int v) {
  return v >= 10000 ? std::to_string(v / 10000) + "." + std::to_string(v % 10000 / 100) + "." + std::to_string(v % 100)
                    : std::to_string(v);
}

const DType& ReadDType(const Args& a, size_t i) {
  std::string s = a.IsMissing(i) || !a[i].IsString() ? "" : a[i].As<Napi::String>().Utf8Value();
  for (const DType& d : kDTypes) {
    if (s != d.name) continue;
    if (NcclVersion() < d.minVersion)
      Throw(code::kUnsupported, std::string(a.fn()) + ": dtype " + d.name + " needs NCCL >= " + VersionText(d.minVersion) +
                                    ", the loaded NCCL is " + VersionText(NcclVersion()));
    return d;
  }
  a.Fail(i, "dtype", "one of int8, uint8, int32, uint32, int64, uint64, float16, float32, float64, bfloat16");
}

const RedOp& ReadOp(const Args& a, size_t i) {
  std::string s = a.IsMissing(i) || !a[i].IsString() ? "" : a[i].As<Napi::String>().Utf8Value();
  for (const RedOp& o : kOps) {
    if (s != o.name) continue;
    if (NcclVersion() < o.minVersion)
      Throw(code::kUnsupported, std::string(a.fn()) + ": op " + o.name + " needs NCCL >= " + VersionText(o.minVersion) +
                                    ", the loaded NCCL is " + VersionText(NcclVersion()));
    return o;
  }
  a.Fail(i, "op", "one of 'sum', 'prod', 'max', 'min', 'avg'");
}

// ---- communicator state (shared with worker threads) ----
constexpr int64_t kSettleSpinUs = 200;  // how long the JS thread may poll a call NCCL is still issuing

struct CommState {
  std::mutex mu;
  ncclComm_t comm = nullptr;
  int rank = 0, size = 0, device = 0;
  int64_t timeoutMs = 600000;  // settle and finalize deadlines: the process group's timeout
  bool aborted = false, destroyed = false;
  bool nonBlocking = false;
  // A call returned ncclInProgress and has not settled: no NCCL call on this communicator until it
  // has; the streams whose completion events are recorded once it has.
  bool settling = false;
  std::vector<dev::Stream> settleStreams;
  std::string abortReason;
  // One event per stream this communicator queued work on, recorded after the latest op there.
  std::vector<std::pair<dev::Stream, dev::Event>> events;

  bool alive() const { return comm && !aborted && !destroyed; }

  // Waits out ncclInProgress (non-blocking communicators) with a deadline. Caller holds mu.
  int Settle(int r, int64_t timeoutMs) {
    if (r != kNcclInProgress) return r;
    auto getErr = Sym<FnCommGetAsyncError>("ncclCommGetAsyncError");
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
    int state = kNcclInProgress;
    while (true) {
      int e = getErr(comm, &state);
      if (e != kNcclSuccess) return e;
      if (state != kNcclInProgress) return state;
      if (std::chrono::steady_clock::now() > deadline) return kNcclInProgress;
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

  // One look at a settling communicator: true once NCCL has issued the call (the completion events
  // are then recorded). Throws (after aborting) when NCCL failed. Caller holds mu.
  bool PollSettledLocked(const char* fn) {
    if (!settling) return true;
    if (!alive()) {
      settling = false;
      settleStreams.clear();
      return true;
    }
    int state = kNcclInProgress;
    int r = Sym<FnCommGetAsyncError>("ncclCommGetAsyncError")(comm, &state);
    if (r == kNcclSuccess && state == kNcclInProgress) return false;
    if (r != kNcclSuccess || state != kNcclSuccess) {
      std::string last = LastError(comm) ? LastError(comm) : "";
      AbortLocked(std::string(fn) + ": NCCL failed while issuing a call");
      CheckNccl(r != kNcclSuccess ? r : state, fn, last.c_str());
    }
    settling = false;
    std::vector<dev::Stream> streams;
    streams.swap(settleStreams);
    for (dev::Stream s : streams) RecordOnLocked(s);
    return true;
  }

  // Spins up to kSettleSpinUs for a call that returned ncclInProgress; then leaves it settling.
  // Returns whether it settled. Caller holds mu and has set settling / settleStreams.
  bool SpinSettleLocked(const char* fn) {
    auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(kSettleSpinUs);
    while (!PollSettledLocked(fn)) {
      if (std::chrono::steady_clock::now() > until) return false;
      std::this_thread::yield();
    }
    return true;
  }

  // Waits (on the calling thread) until settled, within timeoutMs: else aborts, ERR_DIST_TIMEOUT.
  void WaitSettled(const char* fn, int64_t timeoutMs) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
    int64_t sleepUs = 20;
    while (true) {
      {
        std::lock_guard<std::mutex> lock(mu);
        if (PollSettledLocked(fn)) return;
        if (std::chrono::steady_clock::now() > deadline) {
          AbortLocked(std::string(fn) + " timed out");
          Throw(code::kDistTimeout, std::string(fn) + ": NCCL did not finish issuing the call within " +
                                        std::to_string(timeoutMs) + " ms (rank " + std::to_string(rank) + " of " +
                                        std::to_string(size) + "; a peer is missing or stuck); the communicator was aborted");
        }
      }
      std::this_thread::sleep_for(std::chrono::microseconds(sleepUs));
      sleepUs = std::min<int64_t>(sleepUs * 2, 2000);
    }
  }

  // Records this communicator's completion event on s (after the latest op queued there), on the
  // communicator's device: an event and a stream must belong to one device.
  void RecordOnLocked(dev::Stream s) {
    dev::Api& api = dev::Get();
    dev::DeviceGuard guard(device);
    for (auto& [stream, ev] : events)
      if (stream == s) {
        CheckCuda(api.EventRecord(ev, s), "cudaEventRecord");
        return;
      }
    dev::Event ev = nullptr;
    CheckCuda(api.EventCreate(&ev, dev::kEventDisableTiming), "cudaEventCreateWithFlags");
    events.push_back({s, ev});
    CheckCuda(api.EventRecord(ev, s), "cudaEventRecord");
  }

  // True while work this communicator queued may still be running. Caller holds mu.
  bool PendingLocked() {
    if (settling) return true;
    for (auto& [s, e] : events)
      if (dev::Get().EventQuery(e) == dev::kErrNotReady) return true;
    return false;
  }

  void AbortLocked(const std::string& why) {
    if (!comm || aborted || destroyed) return;
    aborted = true;
    abortReason = why;
    settling = false;
    settleStreams.clear();
    Sym<FnCommAbort>("ncclCommAbort")(comm);
    comm = nullptr;
    ReleaseEvents();
  }

  void ReleaseEvents() {
    for (auto& [s, e] : events) dev::Get().EventDestroy(e);
    events.clear();
  }

  ~CommState() {
    // RAII backstop: a communicator that was never destroyed is aborted (destroy would wait for
    // peers; abort frees its resources at once).
    std::lock_guard<std::mutex> lock(mu);
    if (comm && !aborted && !destroyed) {
      auto f = reinterpret_cast<FnCommAbort>(LibSymOrNull(Lib::Nccl, "ncclCommAbort"));
      if (f) f(comm);
      comm = nullptr;
    }
    ReleaseEvents();
  }
};

// Live communicators of this thread's environment: aborted by the env cleanup hook.
struct Registry {
  std::mutex mu;
  std::unordered_map<napi_env, std::unordered_set<std::shared_ptr<CommState>>> live;
};
Registry& Live() {
  static Registry* r = new Registry();
  return *r;
}

// Group bookkeeping (NCCL groups are per thread; so is this).
struct GroupOp {
  std::shared_ptr<CommState> comm;
  dev::Stream stream;
};
thread_local int tGroupDepth = 0;
thread_local std::vector<GroupOp> tGroupOps;

constexpr napi_type_tag kCommTag = {0x6e6e636c636f6d6dULL, 0x77a1c3e95b0d2f48ULL};

// A settled result that is still ncclInProgress ran past its deadline.
void CheckSettled(int r, const char* what, ncclComm_t c, int64_t timeoutMs) {
  if (r == kNcclInProgress)
    Throw(code::kDistTimeout, std::string(what) + ": NCCL did not finish within " + std::to_string(timeoutMs) + " ms");
  CheckNccl(r, what, c ? LastError(c) : nullptr);
}

class Communicator : public Napi::ObjectWrap<Communicator> {
 public:
  static constexpr const char* kClassName = "Communicator";
  static Napi::Function Define(Napi::Env env) {
    using M = Members<Communicator>;
    Napi::Function ctor = DefineClass(env, "Communicator", {});
    M::Install(ctor, {
                         M::Getter<&Communicator::GetRank>("rank"),
                         M::Getter<&Communicator::GetSize>("size"),
                         M::Getter<&Communicator::GetDevice>("device"),
                         M::Getter<&Communicator::GetAborted>("aborted"),
                         M::Getter<&Communicator::GetDestroyed>("destroyed"),
                         M::Method<&Communicator::AllReduce>(env, "allReduce"),
                         M::Method<&Communicator::Broadcast>(env, "broadcast"),
                         M::Method<&Communicator::Reduce>(env, "reduce"),
                         M::Method<&Communicator::AllGather>(env, "allGather"),
                         M::Method<&Communicator::ReduceScatter>(env, "reduceScatter"),
                         M::Method<&Communicator::Send>(env, "send"),
                         M::Method<&Communicator::Recv>(env, "recv"),
                         M::Method<&Communicator::Pending>(env, "pending"),
                         M::Getter<&Communicator::GetSettling>("settling"),
                         M::Method<&Communicator::SettleAsync>(env, "settle"),
                         M::Method<&Communicator::SettleSync>(env, "settleSync"),
                         M::Method<&Communicator::Synchronize>(env, "synchronize"),
                         M::Method<&Communicator::GetAsyncError>(env, "getAsyncError"),
                         M::Method<&Communicator::Abort>(env, "abort"),
                         M::Method<&Communicator::Destroy>(env, "destroy"),
                     });
    return ctor;
  }
  static Communicator* FromValue(const Napi::Value& v) {
    if (!v.IsObject() || !v.As<Napi::Object>().CheckTypeTag(&kCommTag)) return nullptr;
    return Unwrap(v.As<Napi::Object>());
  }
  static Napi::Object Wrap(Napi::Env env, std::shared_ptr<CommState> st) {
    auto* holder = new std::shared_ptr<CommState>(std::move(st));
    Napi::External<std::shared_ptr<CommState>> ext = Napi::External<std::shared_ptr<CommState>>::New(
        env, holder, [](Napi::Env, std::shared_ptr<CommState>* p) { delete p; });
    return Data(env).classes["NcclCommunicator"].New({ext});
  }

  explicit Communicator(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Communicator>(info) {
    Guard(info.Env(), [&] {
      Args a(info, "new Communicator");
      if (info.Length() != 1 || !info[0].IsExternal())
        a.Fail("communicators are made by nccl.Communicator.initRank() or initAll(), not by new");
      state_ = *info[0].As<Napi::External<std::shared_ptr<CommState>>>().Data();
      env_ = info.Env();
      {
        std::lock_guard<std::mutex> lock(Live().mu);
        Live().live[env_].insert(state_);
      }
      info.This().As<Napi::Object>().TypeTag(&kCommTag);
    });
  }
  ~Communicator() override {
    if (!state_) return;
    std::lock_guard<std::mutex> lock(Live().mu);
    Live().live[env_].erase(state_);
  }

  Napi::Value GetRank(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), state_->rank); }
  Napi::Value GetSize(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), state_->size); }
  Napi::Value GetDevice(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), state_->device); }
  Napi::Value GetAborted(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), state_->aborted); }
  Napi::Value GetDestroyed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), state_->destroyed); }
  Napi::Value GetSettling(const Napi::CallbackInfo& info) {
    std::lock_guard<std::mutex> lock(state_->mu);
    return Napi::Boolean::New(info.Env(), state_->settling);
  }

  // settle(timeoutMs?): a Promise resolved once NCCL has issued the call(s) it was still issuing
  // (at once when none), polled on the thread pool. timeoutMs defaults to the communicator's.
  Napi::Value SettleAsync(const Napi::CallbackInfo& info) {
    Args a(info, "Communicator.settle");
    a.Count(0, 1);
    int64_t timeoutMs = a.IntOr(0, "timeoutMs", state_->timeoutMs, 1, int64_t{1} << 40);
    std::shared_ptr<CommState> st = state_;
    {
      std::lock_guard<std::mutex> lock(st->mu);
      if (st->PollSettledLocked(a.fn())) return RunAsync(info.Env(), [] {});
    }
    return RunAsync(info.Env(), [st, timeoutMs] { st->WaitSettled("Communicator.settle", timeoutMs); });
  }

  // settleSync(timeoutMs?): the blocking form of settle() (it blocks the JS thread until then).
  Napi::Value SettleSync(const Napi::CallbackInfo& info) {
    Args a(info, "Communicator.settleSync");
    a.Count(0, 1);
    int64_t timeoutMs = a.IntOr(0, "timeoutMs", state_->timeoutMs, 1, int64_t{1} << 40);
    state_->WaitSettled(a.fn(), timeoutMs);
    return info.Env().Undefined();
  }

  // allReduce(send, sendOffset, recv, recvOffset, count, dtype, op, stream?)
  Napi::Value AllReduce(const Napi::CallbackInfo& info) {
    Args a(info, "Communicator.allReduce");
    a.Count(7, 8);
    Op op = ReadBuffers(a, 1, 1);
    const DType& dt = *op.dtype;
    const RedOp& ro = ReadOp(a, 6);
    return Enqueue(a, 7, op, [&](ncclComm_t c, void* s) {
      return Sym<FnAllReduce>("ncclAllReduce")(op.send, op.recv, op.count, dt.code, ro.code, c, s);
    });
  }
  // broadcast(send, sendOffset, recv, recvOffset, count, dtype, root, stream?)
  Napi::Value Broadcast(const Napi::CallbackInfo& info) {
    Args a(info, "Communicator.broadcast");
    a.Count(7, 8);
    Op op = ReadBuffers(a, 1, 1);
    int root = static_cast<int>(a.Int(6, "root", 0, state_->size - 1));
    return Enqueue(a, 7, op, [&](ncclComm_t c, void* s) {
      return Sym<FnBroadcast>("ncclBroadcast")(op.send, op.recv, op.count, op.dtype->code, root, c, s);
    });
  }
  // reduce(send, sendOffset, recv, recvOffset, count, dtype, op, root, stream?)
  Napi::Value Reduce(const Napi::CallbackInfo& info) {
    Args a(info, "Communicator.reduce");
    a.Count(8, 9);
    Op op = ReadBuffers(a, 1, 1);
    const RedOp& ro = ReadOp(a, 6);
    int root = static_cast<int>(a.Int(7, "root", 0, state_->size - 1));
    return Enqueue(a, 8, op, [&](ncclComm_t c, void* s) {
      return Sym<FnReduce>("ncclReduce")(op.send, op.recv, op.count, op.dtype->code, ro.code, root, c, s);
    });
  }
  // allGather(send, sendOffset, recv, recvOffset, sendCount, dtype, stream?): recv holds size * sendCount.
  Napi::Value AllGather(const Napi::CallbackInfo& info) {
    Args a(info, "Communicator.allGather");
    a.Count(6, 7);
    Op op = ReadBuffers(a, 1, state_->size);
    return Enqueue(a, 6, op, [&](ncclComm_t c, void* s) {
      return Sym<FnAllGather>("ncclAllGather")(op.send, op.recv, op.count, op.dtype->code, c, s);
    });
  }
  // reduceScatter(send, sendOffset, recv, recvOffset, recvCount, dtype, op, stream?): send holds size * recvCount.
  Napi::Value ReduceScatter(const Napi::CallbackInfo& info) {
    Args a(info, "Communicator.reduceScatter");
    a.Count(7, 8);
    Op op = ReadBuffers(a, state_->size, 1);
    const RedOp& ro = ReadOp(a, 6);
    return Enqueue(a, 7, op, [&](ncclComm_t c, void* s) {
      return Sym<FnReduceScatter>("ncclReduceScatter")(op.send, op.recv, op.count, op.dtype->code, ro.code, c, s);
    });
  }
  // send(buf, offset, count, dtype, peer, stream?) / recv(...)
  Napi::Value Send(const Napi::CallbackInfo& info) { return P2P(info, true); }
  Napi::Value Recv(const Napi::CallbackInfo& info) { return P2P(info, false); }

  // pending(): true while work this communicator queued may still be running.
  Napi::Value Pending(const Napi::CallbackInfo& info) {
    Args a(info, "Communicator.pending");
    a.Count(0, 0);
    std::lock_guard<std::mutex> lock(state_->mu);
    return Napi::Boolean::New(info.Env(), state_->PendingLocked());
  }

  // synchronize(timeoutMs): resolves when the queued work is done; rejects with the communicator's
  // async error (a peer failed) or, after timeoutMs, aborts it and rejects with ERR_DIST_TIMEOUT.
  Napi::Value Synchronize(const Napi::CallbackInfo& info) {
    Args a(info, "Communicator.synchronize");
    a.Count(0, 1);
    int64_t timeoutMs = a.IntOr(0, "timeoutMs", state_->timeoutMs, 1, int64_t{1} << 40);
    CheckAlive(a.fn());
    std::shared_ptr<CommState> st = state_;
    return RunAsync(info.Env(), [st, timeoutMs] { WaitIdle(st, timeoutMs); });
  }

  // getAsyncError(): null, or { code, name, message } of the communicator's asynchronous error.
  Napi::Value GetAsyncError(const Napi::CallbackInfo& info) {
    Args a(info, "Communicator.getAsyncError");
    a.Count(0, 0);
    Napi::Env env = info.Env();
    std::lock_guard<std::mutex> lock(state_->mu);
    if (state_->aborted) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("code", Napi::String::New(env, code::kDistAborted));
      o.Set("name", Napi::String::New(env, "aborted"));
      o.Set("message", Napi::String::New(env, "the communicator was aborted: " + state_->abortReason));
      return o;
    }
    if (!state_->alive()) return env.Null();
    int st = 0;
    int r = Sym<FnCommGetAsyncError>("ncclCommGetAsyncError")(state_->comm, &st);
    if (r == kNcclSuccess && (st == kNcclSuccess || st == kNcclInProgress)) return env.Null();
    try {
      CheckNccl(r != kNcclSuccess ? r : st, "ncclCommGetAsyncError", LastError(state_->comm));
    } catch (const NativeError& e) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("code", Napi::String::New(env, e.code));
      o.Set("name", Napi::String::New(env, e.nativeName));
      o.Set("message", Napi::String::New(env, e.what()));
      return o;
    }
    return env.Null();
  }

  // abort(reason?): ends the communicator now; queued and later ops fail. Idempotent.
  Napi::Value Abort(const Napi::CallbackInfo& info) {
    Args a(info, "Communicator.abort");
    a.Count(0, 1);
    std::string why = a.IsMissing(0) ? "abort() was called" : a.String(0, "reason");
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->AbortLocked(why);
    return info.Env().Undefined();
  }

  // destroy(): a Promise; finalizes and frees the communicator on the thread pool (within the
  // communicator's timeout; on failure it is aborted). Refuses (ERR_DIST) while work may still be
  // running: await synchronize() first, or abort(). Later calls see it destroyed at once.
  Napi::Value Destroy(const Napi::CallbackInfo& info) {
    Args a(info, "Communicator.destroy");
    a.Count(0, 0);
    std::shared_ptr<CommState> st = state_;
    std::lock_guard<std::mutex> lock(st->mu);
    if (st->destroyed || st->aborted) return RunAsync(info.Env(), [] {});
    if (st->PendingLocked())
      Throw(code::kDist, "Communicator.destroy: collectives queued on this communicator may still be running; "
                         "await comm.synchronize() first, or call comm.abort()");
    ncclComm_t c = st->comm;
    st->destroyed = true;
    st->comm = nullptr;
    st->ReleaseEvents();
    return RunAsync(info.Env(), [st, c] {
      auto fin = reinterpret_cast<FnCommFinalize>(LibSymOrNull(Lib::Nccl, "ncclCommFinalize"));
      std::lock_guard<std::mutex> lock(st->mu);
      st->comm = c;  // for Settle's polling
      if (fin) {
        int r = st->Settle(fin(c), st->timeoutMs);
        if (r != kNcclSuccess) {
          Sym<FnCommAbort>("ncclCommAbort")(c);
          st->comm = nullptr;
          CheckSettled(r, "ncclCommFinalize", nullptr, st->timeoutMs);
        }
      }
      int r = Sym<FnCommDestroy>("ncclCommDestroy")(c);
      st->comm = nullptr;
      CheckNccl(r, "ncclCommDestroy", nullptr);
    });
  }

 private:
  friend class Members<Communicator>;
  struct Op {
    void* send = nullptr;
    void* recv = nullptr;
    size_t count = 0;
    const DType* dtype = nullptr;
  };

  void CheckAlive(const char* fn) const {
    if (state_->destroyed) Throw(code::kDisposed, std::string(fn) + ": the communicator was destroyed");
    if (state_->aborted) Throw(code::kDistAborted, std::string(fn) + ": the communicator was aborted (" + state_->abortReason + ")");
  }

  void* DevicePtr(const Args& a, size_t i, const char* name, int64_t off, int64_t bytes) {
    MemRef m = GetMemRef(a, i, name);
    if (m.device < 0) a.Fail(i, name, "a DeviceBuffer (NCCL works on device memory)");
    if (m.device != state_->device)
      Throw(code::kDeviceMismatch, std::string(a.fn()) + ": '" + name + "' is on device " + std::to_string(m.device) +
                                       ", the communicator on device " + std::to_string(state_->device));
    CheckRange(a, m, off, bytes, name);
    return static_cast<char*>(m.ptr) + off;
  }

  // Reads (send, sendOffset, recv, recvOffset, count, dtype) at 0..5; send holds sendMul * count
  // elements and recv recvMul * count.
  Op ReadBuffers(const Args& a, int sendMul, int recvMul) {
    int64_t sendOff = a.Int(1, "sendOffset", 0, (int64_t{1} << 53) - 1);
    int64_t recvOff = a.Int(3, "recvOffset", 0, (int64_t{1} << 53) - 1);
    int64_t count = a.Int(4, "count", 0, (int64_t{1} << 53) - 1);
    CheckAlive(a.fn());
    Op op;
    op.dtype = &ReadDType(a, 5);
    int64_t n = CheckedMul(count, op.dtype->size, a.fn());
    op.send = DevicePtr(a, 0, "send", sendOff, CheckedMul(n, sendMul, a.fn()));
    op.recv = DevicePtr(a, 2, "recv", recvOff, CheckedMul(n, recvMul, a.fn()));
    op.count = static_cast<size_t>(count);
    return op;
  }

  Napi::Value P2P(const Napi::CallbackInfo& info, bool isSend) {
    Args a(info, isSend ? "Communicator.send" : "Communicator.recv");
    a.Count(5, 6);
    int64_t off = a.Int(1, "offset", 0, (int64_t{1} << 53) - 1);
    int64_t count = a.Int(2, "count", 0, (int64_t{1} << 53) - 1);
    CheckAlive(a.fn());
    Op op;
    op.dtype = &ReadDType(a, 3);
    int peer = static_cast<int>(a.Int(4, "peer", 0, state_->size - 1));
    void* p = DevicePtr(a, 0, "buffer", off, CheckedMul(count, op.dtype->size, a.fn()));
    op.count = static_cast<size_t>(count);
    return Enqueue(a, 5, op, [&](ncclComm_t c, void* s) {
      return isSend ? Sym<FnSendRecv>("ncclSend")(p, op.count, op.dtype->code, peer, c, s)
                    : Sym<FnSendRecv>("ncclRecv")(p, op.count, op.dtype->code, peer, c, s);
    });
  }

  // Issues an NCCL call on the stream; returns true when NCCL has issued it, false when it is still
  // being issued in the background (the communicator is settling: see the file comment).
  template <typename Call>
  Napi::Value Enqueue(const Args& a, size_t streamArg, const Op&, Call&& call) {
    dev::Stream s = StreamArg(a, streamArg, "stream", state_->device);
    CommState& st = *state_;
    std::lock_guard<std::mutex> lock(st.mu);
    CheckAlive(a.fn());
    if (st.settling)
      Throw(code::kDist, std::string(a.fn()) + ": NCCL is still issuing an earlier call on this communicator; "
                         "await comm.settle() (or call comm.settleSync()) first");
    dev::DeviceGuard guard(st.device);
    int r = call(st.comm, s);
    if (r == kNcclInProgress && tGroupDepth > 0) r = kNcclSuccess;  // queued: ncclGroupEnd issues it
    if (r == kNcclInProgress) {
      st.settling = true;
      st.settleStreams.push_back(s);
      return Napi::Boolean::New(a.env(), st.SpinSettleLocked(a.fn()));
    }
    CheckNccl(r, a.fn(), LastError(st.comm));
    if (tGroupDepth > 0) tGroupOps.push_back({state_, s});
    else st.RecordOnLocked(s);
    return Napi::Boolean::New(a.env(), true);
  }

  // Worker thread: waits until the queued work is done, polling the async error; aborts on timeout.
  static void WaitIdle(const std::shared_ptr<CommState>& st, int64_t timeoutMs) {
    st->WaitSettled("Communicator.synchronize", timeoutMs);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
    auto getErr = Sym<FnCommGetAsyncError>("ncclCommGetAsyncError");
    while (true) {
      {
        std::lock_guard<std::mutex> lock(st->mu);
        if (st->aborted) Throw(code::kDistAborted, "Communicator.synchronize: the communicator was aborted (" + st->abortReason + ")");
        if (st->destroyed) return;
        int state = 0;
        int r = getErr(st->comm, &state);
        if (r != kNcclSuccess || (state != kNcclSuccess && state != kNcclInProgress)) {
          int bad = r != kNcclSuccess ? r : state;
          std::string last = LastError(st->comm) ? LastError(st->comm) : "";
          st->AbortLocked("an asynchronous NCCL error");
          CheckNccl(bad, "Communicator.synchronize (ncclCommGetAsyncError)", last.c_str());
        }
        bool busy = false;
        for (auto& [s, e] : st->events) {
          dev::Status q = dev::Get().EventQuery(e);
          if (q == dev::kErrNotReady) busy = true;
          else CheckCuda(q, "cudaEventQuery (Communicator.synchronize)");
        }
        if (!busy) return;
        if (std::chrono::steady_clock::now() > deadline) {
          st->AbortLocked("synchronize timed out after " + std::to_string(timeoutMs) + " ms");
          Throw(code::kDistTimeout, "Communicator.synchronize: the queued collectives did not finish within " +
                                        std::to_string(timeoutMs) + " ms (a peer is missing or stuck); the communicator was aborted");
        }
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }

  std::shared_ptr<CommState> state_;
  napi_env env_ = nullptr;
};

// ---- module functions ----

Napi::Value GetUniqueId(const Napi::CallbackInfo& info) {
  Args a(info, "nccl.getUniqueId");
  a.Count(0, 0);
  auto f = Sym<FnGetUniqueId>("ncclGetUniqueId");
  ncclUniqueId id;
  std::memset(&id, 0, sizeof id);
  CheckNccl(f(&id), "ncclGetUniqueId", nullptr);
  Napi::Uint8Array out = Napi::Uint8Array::New(info.Env(), sizeof id.internal);
  std::memcpy(out.Data(), id.internal, sizeof id.internal);
  return out;
}

// Starts a non-blocking init of one rank (ncclCommInitRankConfig, blocking = 0) on `device`, or a
// blocking one where the NCCL is older than 2.14. Runs on a worker thread; caller holds st->mu.
void StartInit(CommState& st, const ncclUniqueId& id, FnCommInitRank initRank, FnCommInitRankConfig initConfig, int* r) {
  dev::DeviceGuard guard(st.device);
  if (initConfig) {
    NcclConfig cfg{sizeof(NcclConfig), 0xcafebeef, kConfigVersion, 0, INT_MIN, INT_MIN, INT_MIN, nullptr};
    *r = initConfig(&st.comm, st.size, id, st.rank, &cfg);
    st.nonBlocking = true;
  } else {
    *r = initRank(&st.comm, st.size, id, st.rank);
  }
}

// Waits for a started init within the communicator's timeout; throws (after aborting) on failure.
void FinishInit(CommState& st, int r, const char* fn) {
  if (st.nonBlocking && (r == kNcclInProgress || (r == kNcclSuccess && st.comm))) {
    r = st.Settle(kNcclInProgress, st.timeoutMs);
    if (r == kNcclInProgress) {
      st.AbortLocked("init timed out");
      Throw(code::kDistTimeout, std::string(fn) + ": rank " + std::to_string(st.rank) + " of " + std::to_string(st.size) +
                                    ": not every rank joined within " + std::to_string(st.timeoutMs) +
                                    " ms (a peer is missing); the communicator was aborted");
    }
  }
  if (r != kNcclSuccess) {
    std::string last = st.comm && LastError(st.comm) ? LastError(st.comm) : "";
    st.AbortLocked("init failed");
    CheckNccl(r, st.nonBlocking ? "ncclCommInitRankConfig" : "ncclCommInitRank", last.c_str());
  }
}

// initRank(nranks, id, rank, device, timeoutMs): a Promise of a Communicator. With NCCL >= 2.14 the
// init is non-blocking and polled on the thread pool, so a missing peer is ERR_DIST_TIMEOUT after
// timeoutMs; timeoutMs also bounds every later settle and finalize of the communicator.
Napi::Value InitRank(const Napi::CallbackInfo& info) {
  Args a(info, "nccl.initRank");
  a.Count(4, 5);
  int nranks = static_cast<int>(a.Int(0, "nranks", 1, 1 << 20));
  if (!a[1].IsTypedArray() || a[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
      a[1].As<Napi::Uint8Array>().ElementLength() != 128)
    a.Fail(1, "id", "a Uint8Array of 128 bytes (from nccl.getUniqueId())");
  int rank = static_cast<int>(a.Int(2, "rank", 0, nranks - 1));
  int device = static_cast<int>(a.Int(3, "device", 0, 1 << 20));
  int64_t timeoutMs = a.IntOr(4, "timeoutMs", 600000, 1, int64_t{1} << 40);
  ncclUniqueId id;
  std::memcpy(id.internal, a[1].As<Napi::Uint8Array>().Data(), 128);
  auto initRank = Sym<FnCommInitRank>("ncclCommInitRank");  // ERR_LIB_NOT_FOUND before anything else
  auto initConfig = reinterpret_cast<FnCommInitRankConfig>(LibSymOrNull(Lib::Nccl, "ncclCommInitRankConfig"));
  CheckDevice(device, a.fn());
  auto st = std::make_shared<CommState>();
  st->rank = rank;
  st->size = nranks;
  st->device = device;
  st->timeoutMs = timeoutMs;
  return RunAsync(
      info.Env(),
      [st, id, initRank, initConfig] {
        std::lock_guard<std::mutex> lock(st->mu);
        int r = kNcclSuccess;
        StartInit(*st, id, initRank, initConfig, &r);
        FinishInit(*st, r, "nccl.initRank");
      },
      [st](Napi::Env env) -> Napi::Value { return Communicator::Wrap(env, st); });
}

// initAll(devices, timeoutMs?): a Promise of one communicator per device, in one process: a group
// of non-blocking initRank calls sharing one unique id (what ncclCommInitAll does, as NCCL's
// documentation describes it), so the communicators behave as initRank's do.
Napi::Value InitAll(const Napi::CallbackInfo& info) {
  Args a(info, "nccl.initAll");
  a.Count(1, 2);
  std::vector<int64_t> devs = a.Ints(0, "devices", 0, 1 << 20, 1024);
  if (devs.empty()) a.Fail(0, "devices", "a non-empty array of device indices");
  int64_t timeoutMs = a.IntOr(1, "timeoutMs", 600000, 1, int64_t{1} << 40);
  auto getId = Sym<FnGetUniqueId>("ncclGetUniqueId");
  auto initRank = Sym<FnCommInitRank>("ncclCommInitRank");
  auto initConfig = reinterpret_cast<FnCommInitRankConfig>(LibSymOrNull(Lib::Nccl, "ncclCommInitRankConfig"));
  auto groupStart = Sym<FnGroup>("ncclGroupStart");
  auto groupEnd = Sym<FnGroup>("ncclGroupEnd");
  std::vector<std::shared_ptr<CommState>> comms;
  for (int64_t d : devs) {
    CheckDevice(static_cast<int>(d), a.fn());
    for (auto& c : comms)
      if (c->device == d) a.Fail(0, "devices", "distinct device indices");
    auto st = std::make_shared<CommState>();
    st->rank = static_cast<int>(comms.size());
    st->device = static_cast<int>(d);
    st->timeoutMs = timeoutMs;
    comms.push_back(st);
  }
  for (auto& c : comms) c->size = static_cast<int>(comms.size());
  return RunAsync(
      info.Env(),
      [comms, getId, initRank, initConfig, groupStart, groupEnd] {
        ncclUniqueId id;
        std::memset(&id, 0, sizeof id);
        CheckNccl(getId(&id), "ncclGetUniqueId", nullptr);
        std::vector<int> results(comms.size(), kNcclSuccess);
        CheckNccl(groupStart(), "ncclGroupStart", nullptr);
        for (size_t i = 0; i < comms.size(); i++) {
          std::lock_guard<std::mutex> lock(comms[i]->mu);
          StartInit(*comms[i], id, initRank, initConfig, &results[i]);
        }
        int g = groupEnd();
        if (g != kNcclSuccess && g != kNcclInProgress) {
          for (auto& c : comms) {
            std::lock_guard<std::mutex> lock(c->mu);
            c->AbortLocked("init failed");
          }
          CheckNccl(g, "ncclGroupEnd (nccl.initAll)", nullptr);
        }
        std::unique_ptr<NativeError> first;
        for (size_t i = 0; i < comms.size(); i++) {
          std::lock_guard<std::mutex> lock(comms[i]->mu);
          int r = results[i] == kNcclSuccess && g == kNcclInProgress ? kNcclInProgress : results[i];
          try {
            FinishInit(*comms[i], r, "nccl.initAll");
          } catch (const NativeError& e) {
            if (!first) first = std::make_unique<NativeError>(e);
          }
        }
        if (first) {
          for (auto& c : comms) {
            std::lock_guard<std::mutex> lock(c->mu);
            c->AbortLocked("another rank of initAll failed");
          }
          throw *first;
        }
      },
      [comms](Napi::Env env) -> Napi::Value {
        Napi::Array out = Napi::Array::New(env, comms.size());
        for (size_t i = 0; i < comms.size(); i++) out.Set(static_cast<uint32_t>(i), Communicator::Wrap(env, comms[i]));
        return out;
      });
}

Napi::Value GroupStart(const Napi::CallbackInfo& info) {
  Args a(info, "nccl.groupStart");
  a.Count(0, 0);
  CheckNccl(Sym<FnGroup>("ncclGroupStart")(), "ncclGroupStart", nullptr);
  tGroupDepth++;
  return info.Env().Undefined();
}

// groupEnd(): launches the grouped ops. Returns true when NCCL has issued them all, false when some
// communicator is still issuing them in the background (it is settling: await its settle()).
Napi::Value GroupEnd(const Napi::CallbackInfo& info) {
  Args a(info, "nccl.groupEnd");
  a.Count(0, 0);
  if (tGroupDepth == 0) a.Fail("groupEnd() without a matching groupStart()");
  int r = Sym<FnGroup>("ncclGroupEnd")();
  tGroupDepth--;
  std::vector<GroupOp> ops;
  if (tGroupDepth == 0) ops.swap(tGroupOps);
  if (r != kNcclSuccess && r != kNcclInProgress) CheckNccl(r, "ncclGroupEnd", nullptr);
  bool all = true;
  for (GroupOp& op : ops) {
    std::lock_guard<std::mutex> lock(op.comm->mu);
    if (!op.comm->alive()) continue;
    if (r == kNcclInProgress) {
      op.comm->settling = true;
      op.comm->settleStreams.push_back(op.stream);
    } else {
      op.comm->RecordOnLocked(op.stream);
    }
  }
  if (r == kNcclInProgress)
    for (GroupOp& op : ops) {
      std::lock_guard<std::mutex> lock(op.comm->mu);
      if (op.comm->alive() && !op.comm->SpinSettleLocked("nccl.groupEnd")) all = false;
    }
  return Napi::Boolean::New(info.Env(), all);
}

// Environment teardown: abort every communicator still alive (destroy could wait for peers).
void AbortAllAtExit(napi_env env) {
  std::vector<std::shared_ptr<CommState>> live;
  {
    std::lock_guard<std::mutex> lock(Live().mu);
    auto it = Live().live.find(env);
    if (it != Live().live.end()) {
      live.assign(it->second.begin(), it->second.end());
      Live().live.erase(it);
    }
  }
  for (auto& st : live) {
    std::lock_guard<std::mutex> lock(st->mu);
    st->AbortLocked("the environment is shutting down");
  }
}

}  // namespace

void RegisterNccl(Napi::Env env, Napi::Object exports) {
  Napi::Object nccl = Namespace(exports, "nccl");
  Napi::Function comm = Communicator::Define(env);
  Data(env).classes["NcclCommunicator"] = Napi::Persistent(comm);
  nccl.Set("Communicator", comm);
  nccl.Set("getUniqueId", Napi::Function::New(env, NN_FN(GetUniqueId), "getUniqueId"));
  nccl.Set("initRank", Napi::Function::New(env, NN_FN(InitRank), "initRank"));
  nccl.Set("initAll", Napi::Function::New(env, NN_FN(InitAll), "initAll"));
  nccl.Set("groupStart", Napi::Function::New(env, NN_FN(GroupStart), "groupStart"));
  nccl.Set("groupEnd", Napi::Function::New(env, NN_FN(GroupEnd), "groupEnd"));
  napi_env raw = env;
  env.AddCleanupHook([raw] { AbortAllAtExit(raw); });
}

}  // namespace nn
