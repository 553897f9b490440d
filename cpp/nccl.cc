// Low-level NCCL (native.nccl): unique ids, communicators (initRank with a timeout, initAll),
// collectives and point-to-point on DeviceBuffers, groups, async error checks, abort and destroy.
// NCCL is loaded at run time (loader.cc) and called through our own minimal declarations below,
// feature-gated on the loaded version: ncclAvg and bfloat16 need NCCL >= 2.10; the non-blocking
// init (so that a missing peer is a timeout, not a hang) needs ncclCommInitRankConfig (>= 2.14).
//
// Lifetime: a CommState owns the ncclComm_t (RAII: a communicator never destroyed explicitly is
// aborted when its handle is collected or the environment shuts down). destroy() refuses while
// work this communicator queued may still be running (await synchronize() or call abort()).
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
// ncclConfig_t as of NCCL 2.14 (NCCL reads `size` and `version` and accepts older layouts).
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
struct CommState {
  std::mutex mu;
  ncclComm_t comm = nullptr;
  int rank = 0, size = 0, device = 0;
  bool aborted = false, destroyed = false;
  bool nonBlocking = false;
  std::string abortReason;
#if NODE_NCCL_WITH_CUDA
  // One event per stream this communicator queued work on, recorded after the latest op there.
  std::vector<std::pair<cudaStream_t, cudaEvent_t>> events;
#endif

  bool alive() const { return comm && !aborted && !destroyed; }

  // Waits out ncclInProgress (non-blocking communicators) with a deadline. Caller holds mu.
  int Settle(int r, int timeoutMs) {
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

  void AbortLocked(const std::string& why) {
    if (!comm || aborted || destroyed) return;
    aborted = true;
    abortReason = why;
    Sym<FnCommAbort>("ncclCommAbort")(comm);
    comm = nullptr;
    ReleaseEvents();
  }

  void ReleaseEvents() {
#if NODE_NCCL_WITH_CUDA
    for (auto& [s, e] : events) cudaEventDestroy(e);
    events.clear();
#endif
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
#if NODE_NCCL_WITH_CUDA
  cudaStream_t stream;
#endif
};
thread_local int tGroupDepth = 0;
thread_local std::vector<GroupOp> tGroupOps;

constexpr napi_type_tag kCommTag = {0x6e6e636c636f6d6dULL, 0x77a1c3e95b0d2f48ULL};

// A settled result that is still ncclInProgress ran past its deadline.
void CheckSettled(int r, const char* what, ncclComm_t c, int timeoutMs) {
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
    return Napi::Boolean::New(info.Env(), PendingLocked());
  }

  // synchronize(timeoutMs): resolves when the queued work is done; rejects with the communicator's
  // async error (a peer failed) or, after timeoutMs, aborts it and rejects with ERR_DIST_TIMEOUT.
  Napi::Value Synchronize(const Napi::CallbackInfo& info) {
    Args a(info, "Communicator.synchronize");
    a.Count(0, 1);
    int64_t timeoutMs = a.IntOr(0, "timeoutMs", 600000, 1, int64_t{1} << 40);
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

  // destroy(): frees the communicator once its queued work is done; refuses (ERR_DIST) while work
  // may still be running: await synchronize() first, or abort().
  Napi::Value Destroy(const Napi::CallbackInfo& info) {
    Args a(info, "Communicator.destroy");
    a.Count(0, 0);
    std::lock_guard<std::mutex> lock(state_->mu);
    if (state_->destroyed || state_->aborted) return info.Env().Undefined();
    if (PendingLocked())
      Throw(code::kDist, "Communicator.destroy: collectives queued on this communicator may still be running; "
                         "await comm.synchronize() first, or call comm.abort()");
    ncclComm_t c = state_->comm;
    auto fin = reinterpret_cast<FnCommFinalize>(LibSymOrNull(Lib::Nccl, "ncclCommFinalize"));
    if (fin) {
      int r = state_->Settle(fin(c), 60000);
      if (r != kNcclSuccess) {
        state_->AbortLocked("ncclCommFinalize failed");
        CheckSettled(r, "ncclCommFinalize", nullptr, 60000);
      }
    }
    int r = Sym<FnCommDestroy>("ncclCommDestroy")(c);
    state_->comm = nullptr;
    state_->destroyed = true;
    state_->ReleaseEvents();
    CheckNccl(r, "ncclCommDestroy", nullptr);
    return info.Env().Undefined();
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

  template <typename Call>
  Napi::Value Enqueue(const Args& a, size_t streamArg, const Op&, Call&& call) {
#if NODE_NCCL_WITH_CUDA
    cudaStream_t s = StreamArg(a, streamArg, "stream", state_->device);
    UseDevice(state_->device);
    std::lock_guard<std::mutex> lock(state_->mu);
    CheckAlive(a.fn());
    CheckSettled(state_->Settle(call(state_->comm, s), 600000), a.fn(), state_->comm, 600000);
    if (tGroupDepth > 0) tGroupOps.push_back({state_, s});
    else RecordLocked(s);
#endif
    return a.env().Undefined();
  }

#if NODE_NCCL_WITH_CUDA
  void RecordLocked(cudaStream_t s) { RecordOn(*state_, s); }
#endif

 public:
#if NODE_NCCL_WITH_CUDA
  static void RecordOn(CommState& st, cudaStream_t s) {
    for (auto& [stream, ev] : st.events)
      if (stream == s) {
        CheckCuda(cudaEventRecord(ev, s), "cudaEventRecord");
        return;
      }
    cudaEvent_t ev = nullptr;
    CheckCuda(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming), "cudaEventCreateWithFlags");
    st.events.push_back({s, ev});
    CheckCuda(cudaEventRecord(ev, s), "cudaEventRecord");
  }
#endif

 private:
  bool PendingLocked() {
#if NODE_NCCL_WITH_CUDA
    for (auto& [s, e] : state_->events) {
      cudaError_t r = cudaEventQuery(e);
      if (r == cudaErrorNotReady) {
        cudaGetLastError();
        return true;
      }
    }
#endif
    return false;
  }

  // Worker thread: waits until the queued work is done, polling the async error; aborts on timeout.
  static void WaitIdle(const std::shared_ptr<CommState>& st, int64_t timeoutMs) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
#if NODE_NCCL_WITH_CUDA
    cudaSetDevice(st->device);
#endif
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
#if NODE_NCCL_WITH_CUDA
        for (auto& [s, e] : st->events) {
          cudaError_t q = cudaEventQuery(e);
          if (q == cudaErrorNotReady) {
            cudaGetLastError();
            busy = true;
          } else if (q != cudaSuccess) {
            cudaGetLastError();
            CheckCuda(q, "cudaEventQuery (Communicator.synchronize)");
          }
        }
#endif
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

// initRank(nranks, id, rank, device, timeoutMs): a Promise of a Communicator. With NCCL >= 2.14 the
// init is non-blocking and polled, so a missing peer is ERR_DIST_TIMEOUT after timeoutMs.
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
  return RunAsync(
      info.Env(),
      [st, id, nranks, rank, device, timeoutMs, initRank, initConfig] {
#if NODE_NCCL_WITH_CUDA
        CheckCuda(cudaSetDevice(device), "cudaSetDevice");
#endif
        std::lock_guard<std::mutex> lock(st->mu);
        if (initConfig) {
          NcclConfig cfg{sizeof(NcclConfig), 0xcafebeef, 21400, 0, INT_MIN, INT_MIN, INT_MIN, nullptr};
          int r = initConfig(&st->comm, nranks, id, rank, &cfg);
          st->nonBlocking = true;
          if (r == kNcclInProgress || (r == kNcclSuccess && st->comm)) {
            r = st->Settle(kNcclInProgress, static_cast<int>(std::min<int64_t>(timeoutMs, INT_MAX)));
            if (r == kNcclInProgress) {
              st->AbortLocked("init timed out");
              Throw(code::kDistTimeout, "nccl.initRank: rank " + std::to_string(rank) + " of " + std::to_string(nranks) +
                                            ": not every rank joined within " + std::to_string(timeoutMs) +
                                            " ms (a peer is missing); the communicator was aborted");
            }
          }
          if (r != kNcclSuccess) {
            std::string last = st->comm && LastError(st->comm) ? LastError(st->comm) : "";
            st->AbortLocked("init failed");
            CheckNccl(r, "ncclCommInitRankConfig", last.c_str());
          }
        } else {
          CheckNccl(initRank(&st->comm, nranks, id, rank), "ncclCommInitRank", nullptr);
        }
      },
      [st](Napi::Env env) -> Napi::Value { return Communicator::Wrap(env, st); });
}

// initAll(devices): one communicator per device, in one process (ncclCommInitAll).
Napi::Value InitAll(const Napi::CallbackInfo& info) {
  Args a(info, "nccl.initAll");
  a.Count(1, 1);
  std::vector<int64_t> devs = a.Ints(0, "devices", 0, 1 << 20, 1024);
  if (devs.empty()) a.Fail(0, "devices", "a non-empty array of device indices");
  auto initAll = Sym<FnCommInitAll>("ncclCommInitAll");
  std::vector<int> list;
  for (int64_t d : devs) {
    CheckDevice(static_cast<int>(d), a.fn());
    for (int x : list)
      if (x == d) a.Fail(0, "devices", "distinct device indices");
    list.push_back(static_cast<int>(d));
  }
  auto comms = std::make_shared<std::vector<ncclComm_t>>(list.size(), nullptr);
  return RunAsync(
      info.Env(),
      [comms, list, initAll] {
        CheckNccl(initAll(comms->data(), static_cast<int>(list.size()), list.data()), "ncclCommInitAll", nullptr);
      },
      [comms, list](Napi::Env env) -> Napi::Value {
        Napi::Array out = Napi::Array::New(env, list.size());
        for (size_t i = 0; i < list.size(); i++) {
          auto st = std::make_shared<CommState>();
          st->comm = (*comms)[i];
          st->rank = static_cast<int>(i);
          st->size = static_cast<int>(list.size());
          st->device = list[i];
          out.Set(static_cast<uint32_t>(i), Communicator::Wrap(env, st));
        }
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

// groupEnd(): launches the grouped ops; for non-blocking communicators, waits until they are queued.
Napi::Value GroupEnd(const Napi::CallbackInfo& info) {
  Args a(info, "nccl.groupEnd");
  a.Count(0, 0);
  if (tGroupDepth == 0) a.Fail("groupEnd() without a matching groupStart()");
  int r = Sym<FnGroup>("ncclGroupEnd")();
  tGroupDepth--;
  std::vector<GroupOp> ops;
  if (tGroupDepth == 0) ops.swap(tGroupOps);
  if (r == kNcclInProgress) {
    for (GroupOp& op : ops) {
      std::lock_guard<std::mutex> lock(op.comm->mu);
      if (!op.comm->alive()) continue;
      CheckSettled(op.comm->Settle(kNcclInProgress, 600000), "ncclGroupEnd", op.comm->comm, 600000);
    }
    r = kNcclSuccess;
  }
  CheckNccl(r, "ncclGroupEnd", nullptr);
#if NODE_NCCL_WITH_CUDA
  for (GroupOp& op : ops) {
    std::lock_guard<std::mutex> lock(op.comm->mu);
    if (op.comm->alive()) Communicator::RecordOn(*op.comm, op.stream);
  }
#endif
  return info.Env().Undefined();
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
