// N-API face of the CPU collective backend (transports: cpu_comm.h). Each CpuComm owns one
// transport and one communication thread with a FIFO queue; `connect()` and `submit(desc)` enqueue
// work and return a Promise at once, which the thread settles through a thread-safe function.
// An environment cleanup hook destroys the communicator at exit or worker teardown.
//
// Host memory of an op that outlives the call. A reference to a JS buffer keeps the object, not
// its bytes: JavaScript can detach an ArrayBuffer (structuredClone/postMessage transfer) or shrink
// a resizable one while the op runs, which frees or unmaps the bytes under the communication
// thread, and Node-API has no way to pin them (no access to V8's BackingStore). So:
// - memory of a SharedArrayBuffer (which cannot be detached or shrunk; every CPU tensor the
//   library allocates is one) is used in place, the buffer referenced until the op completes;
// - any other host memory is staged: the bytes the op sends are copied into native memory when it
//   is submitted, it receives into native memory, and on completion (on the JS thread) the result
//   is copied into the caller's buffer after checking that it is still there, at the same address
//   and long enough. If not, the op fails with ERR_DETACHED and writes nothing. The peers are not
//   affected: they got the bytes as they were at submit time.
// Ops run in submission order, so an op reads what the ops before it leave: when a staged input
// overlaps the staged output of an earlier op still pending (say two in-place all-reduces of one
// tensor, issued back to back), the communication thread copies that output over the input just
// before the op starts (an overlay), exactly what it would read in place.
// A failed op writes nothing to staged memory; memory used in place may hold a partial result.
//
// The direct path: when the thread is idle, a small collective is first tried on the JS thread
// itself (Transport::TryRun) with a bounded spin of `directUs` microseconds. If the peers are
// already there it completes in a microsecond or two and the Promise is returned settled: no
// hand-off to the thread, no event-loop round trip. Otherwise it moves to the thread, which
// resumes it; the event loop is never held longer than that budget.
//
// Completions: the thread puts a finished op on a locked queue and wakes the JS thread through a
// thread-safe function, which settles everything queued (copy-back, resolve or reject). waitSync(seq)
// is the blocking form (torch's work.wait() on CPU tensors): the JS thread waits on that queue
// itself, settling what arrives, until op `seq` is settled, and throws its error if it failed.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "addon.h"
#include "common.h"
#include "cpu_shm.h"
#include "cpu_tcp.h"
#include "errors.h"
#include "memref.h"
#include "wrap.h"

namespace nn {
namespace {
using cpucomm::DType;
using cpucomm::Kind;
using cpucomm::RedOp;

constexpr napi_type_tag kCpuCommTag = {0x6e6e636c63707563ULL, 0x2f7a1c4e9b0d6a35ULL};

// A block of staging memory; shared by the op that writes it and later ops that read it.
struct StageBlock {
  std::unique_ptr<uint8_t[]> bytes;
  size_t cap = 0;  // bytes allocated
};

// Host memory an op uses in place of the caller's (see the top of this file).
struct Staged {
  std::shared_ptr<StageBlock> block;
  size_t len = 0;
  // Copy back into the caller's buffer on success: which value, where its memory began at submit
  // time, and the byte offset of the op's range in it.
  bool copyBack = false;
  size_t ref = 0;           // index into Item::refs (Item::held while submitting): the view
  size_t bufRef = 0;        // ... and the ArrayBuffer object under it (identity for overlaps)
  uint8_t* base = nullptr;  // the caller's memory at submit time (a different address later: moved)
  size_t off = 0;
  uint8_t* data() const { return block->bytes.get(); }
};

// Bytes of an earlier op's staged output to copy over this op's staged input before it runs.
struct Overlay {
  std::shared_ptr<StageBlock> src;
  size_t srcOff = 0;
  uint8_t* dst = nullptr;
  size_t len = 0;
};

struct Item {
  uint64_t seq = 0;  // 1, 2, ... in submission order (0: completed directly, never queued)
  bool connect = false;
  cpucomm::Op op;
  napi_deferred deferred = nullptr;
  std::vector<Napi::Value> held;                    // the op's buffers, during submit()
  std::vector<Napi::Reference<Napi::Value>> refs;  // ... kept alive until completion once queued
  std::vector<Staged> staged;
  std::vector<Overlay> overlays;  // applied on the communication thread when the op starts
  bool ordered = false;           // its staged memory overlaps an earlier pending op's: never direct
  std::unique_ptr<NativeError> err;
  bool small = false;  // the transport could run it directly (Transport::Direct)
  bool p2p = false;    // a send or a receive (counted against the pending point-to-point limit)

  void ApplyOverlays() {
    for (const Overlay& o : overlays) std::memcpy(o.dst, o.src->bytes.get() + o.srcOff, o.len);
    overlays.clear();
  }
};

// A staged output of a queued op that is not copied back yet (JS thread bookkeeping).
struct PendingOut {
  const Item* owner;
  Staged* st;
};

// Staging memory kept for reuse (JS thread only): a fresh block of tens of MiB costs a page fault
// per 4 KiB on first touch, more than the copies themselves. At most kBlocks blocks and kBytes in
// all are kept; a request takes the smallest kept block that fits.
class StagePool {
 public:
  static constexpr size_t kBlocks = 4;
  static constexpr size_t kBytes = size_t{128} << 20;
  std::shared_ptr<StageBlock> Take(size_t len) {
    size_t best = blocks_.size();
    for (size_t i = 0; i < blocks_.size(); i++)
      if (blocks_[i]->cap >= len && (best == blocks_.size() || blocks_[i]->cap < blocks_[best]->cap)) best = i;
    if (best < blocks_.size() && blocks_[best]->cap <= 2 * len + 4096) {
      auto out = std::move(blocks_[best]);
      total_ -= out->cap;
      blocks_.erase(blocks_.begin() + static_cast<std::ptrdiff_t>(best));
      return out;
    }
    auto b = std::make_shared<StageBlock>();
    b->cap = len ? len : 1;
    b->bytes.reset(new uint8_t[b->cap]);
    return b;
  }
  // Keeps a block nobody else uses (a later op may still read it through an overlay).
  void Give(std::shared_ptr<StageBlock> b) {
    if (!b || b.use_count() != 1 || b->cap > kBytes) return;
    while (!blocks_.empty() && (blocks_.size() >= kBlocks || total_ + b->cap > kBytes)) {
      total_ -= blocks_.front()->cap;  // the oldest goes first
      blocks_.erase(blocks_.begin());
    }
    total_ += b->cap;
    blocks_.push_back(std::move(b));
  }

 private:
  std::vector<std::shared_ptr<StageBlock>> blocks_;
  size_t total_ = 0;
};

// Lives as long as the thread-safe function (deleted by its finalizer), so completions that are
// still queued when the communicator goes away find valid state.
struct CompletionState {
  StagePool pool;                           // JS thread only
  std::vector<PendingOut> outs;             // JS thread only: staged outputs of queued ops, in order
  size_t pending = 0;                       // JS thread only
  size_t p2pPending = 0;                    // JS thread only: sends and receives not yet completed
  bool connected = false;                   // JS thread only: connect() succeeded
  napi_threadsafe_function tsfn = nullptr;  // to unref it when nothing is pending
  std::unordered_set<uint64_t> unsettled;   // JS thread only: seqs queued and not settled yet
  std::mutex mu;                            // guards done
  std::condition_variable cv;               // done gained an item
  std::deque<Item*> done;                   // finished on the thread, to settle on the JS thread

  ~CompletionState() {
    for (Item* it : done) {  // the environment went away before they were settled
      for (auto& r : it->refs) r.SuppressDestruct();
      delete it;
    }
  }
};

void CallJs(Napi::Env env, Napi::Function, CompletionState* state, Item* item);
using Tsfn = Napi::TypedThreadSafeFunction<CompletionState, Item, CallJs>;

HostMem ReadHost(const Args& a, const Napi::Object& desc, const char* key, Napi::Value& holder) {
  Napi::Value v = desc.Get(key);
  holder = v;
  HostMem s;
  if (!ReadHostMem(v.Env(), v, &s)) {
    if (IsBareSharedArrayBuffer(v.Env(), v))
      a.Fail(std::string("'") + key + "' is a bare SharedArrayBuffer, which Node-API cannot read: pass a view of it");
    a.Fail(std::string("'") + key + "' must be host memory (an ArrayBuffer or a view of one), got " + Describe(v) +
           "; the cpu backend works on cpu tensors only");
  }
  return s;
}

// The caller's memory behind `v` now (nullptr when v no longer names host memory).
HostMem Current(Napi::Env env, const Napi::Value& v) {
  HostMem h;
  if (!ReadHostMem(env, v, &h)) h = HostMem{};
  return h;
}

// Copies the staged results of an op that succeeded into the callers' buffers, on the JS thread;
// ERR_DETACHED (and nothing written) when a buffer was detached, moved or shrunk meanwhile.
std::unique_ptr<NativeError> CopyBack(Napi::Env env, Item& it) {
  for (const Staged& st : it.staged) {
    if (!st.copyBack) continue;
    HostMem now = Current(env, it.refs[st.ref].Value());
    if (now.ptr != st.base || now.bytes < st.off + st.len) {
      std::string state = now.bytes == 0 ? "was detached (transferred) or shrunk to 0 bytes"
                                         : now.ptr != st.base ? "was replaced"
                                                              : "was shrunk to " + std::to_string(now.bytes) + " bytes";
      return std::make_unique<NativeError>(
          code::kDetached, std::string(cpucomm::KindName(it.op.kind)) + ": the memory of its output (bytes [" +
                               std::to_string(st.off) + ", " + std::to_string(st.off + st.len) + ") of a caller's ArrayBuffer) " +
                               state + " while the op ran; the result was not written (memory the library allocates, or a "
                               "SharedArrayBuffer, cannot be pulled away)");
    }
  }
  for (const Staged& st : it.staged)
    if (st.copyBack && st.len) std::memcpy(Current(env, it.refs[st.ref].Value()).ptr + st.off, st.data(), st.len);
  return nullptr;
}

class CpuComm : public Napi::ObjectWrap<CpuComm> {
 public:
  static constexpr const char* kClassName = "CpuComm";
  static void Register(Napi::Env env, Napi::Object exports) {
    using M = Members<CpuComm>;
    Napi::Function cls = DefineClass(env, "CpuComm", {});
    M::Install(cls, {
                        M::Method<&CpuComm::Connect>(env, "connect"),
                        M::Method<&CpuComm::Submit>(env, "submit"),
                        M::Method<&CpuComm::WaitSync>(env, "waitSync"),
                        M::Getter<&CpuComm::GetLastSeq>("lastSeq"),
                        M::Method<&CpuComm::AbortJs>(env, "abort"),
                        M::Method<&CpuComm::DestroyJs>(env, "destroy"),
                        M::Getter<&CpuComm::GetRank>("rank"),
                        M::Getter<&CpuComm::GetSize>("size"),
                        M::Getter<&CpuComm::GetPending>("pending"),
                        M::Getter<&CpuComm::GetBroken>("broken"),
                        M::Getter<&CpuComm::GetDestroyed>("destroyed"),
                        M::Getter<&CpuComm::GetAddress>("address"),
                        M::Getter<&CpuComm::GetDeadRanks>("deadRanks"),
                    });
    Data(env).classes["CpuComm"] = Napi::Persistent(cls);
    Namespace(exports, "dist").Set("CpuComm", cls);
  }
  static CpuComm* FromValue(const Napi::Value& v) {
    if (!v.IsObject() || !v.As<Napi::Object>().CheckTypeTag(&kCpuCommTag)) return nullptr;
    return Unwrap(v.As<Napi::Object>());
  }

  explicit CpuComm(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CpuComm>(info) {
    Guard(info.Env(), [&] {
      Args a(info, "new CpuComm");
      a.Count(1, 1);
      Napi::Object o = a.Object(0, "options");
      cpucomm::Config cfg;
      const std::string transport = a.OptString(o, "transport", "shm");
      if (transport != "shm" && transport != "tcp") a.Fail("option 'transport' must be 'shm' or 'tcp', got '" + transport + "'");
      cfg.name = a.OptString(o, "name", "");
      if (transport == "shm" &&
          (cfg.name.size() < 2 || cfg.name[0] != '/' || cfg.name.find('/', 1) != std::string::npos || cfg.name.size() > 200))
        a.Fail("option 'name' must be a shared-memory name like \"/nnccl-<id>\" (one leading slash, at most 200 chars)");
      const std::string listenHost = a.OptString(o, "listenHost", "");
      if (transport == "tcp" && listenHost.empty())
        a.Fail("option 'listenHost' (the local IP address to listen on) is required with transport 'tcp'");
      cfg.size = static_cast<int>(a.OptInt(o, "size", -1, 1, 512));
      if (cfg.size < 1) a.Fail("option 'size' (the world size, 1 to 512) is required");
      cfg.rank = static_cast<int>(a.OptInt(o, "rank", -1, 0, cfg.size - 1));
      if (cfg.rank < 0) a.Fail("option 'rank' (0 to size-1) is required");
      cfg.timeoutMs = a.OptInt(o, "timeoutMs", 600000, 1, int64_t{1} << 40);
      cfg.slotBytes = static_cast<size_t>(a.OptInt(o, "slotBytes", 1 << 20, 4096, int64_t{1} << 30));
      cfg.chanBytes = static_cast<size_t>(a.OptInt(o, "chanBytes", 256 << 10, 4096, int64_t{1} << 30));
      cfg.spinUs = a.OptInt(o, "spinUs", 50, 0, 1000000);
      directUs_ = a.OptInt(o, "directUs", 50, 0, 10000);
      maxP2P_ = static_cast<size_t>(a.OptInt(o, "maxPendingP2P", 4096, 1, int64_t{1} << 24));
      if (transport == "tcp") {
        auto tcp = std::make_unique<cpucomm::TcpTransport>(cfg, listenHost);
        tcp_ = tcp.get();
        engine_ = std::move(tcp);
      } else {
        engine_ = std::make_unique<cpucomm::ShmTransport>(cfg);
      }
      Napi::Env env = info.Env();
      state_ = new CompletionState();
      tsfn_ = Tsfn::New(env, "node-nccl cpu communicator", 0, 1, state_,
                        [](Napi::Env, void*, CompletionState* s) { delete s; });
      state_->tsfn = tsfn_;
      tsfn_.Unref(env);  // only pending work keeps the process alive
      cleanup_ = env.AddCleanupHook(std::function<void()>([this] {
        hookRan_ = true;  // the hook's data is freed after it returns: do not Remove it
        Shutdown();
      }));
      thread_ = std::thread([this] { Loop(); });
      info.This().As<Napi::Object>().TypeTag(&kCpuCommTag);
    });
  }

  ~CpuComm() override { Shutdown(); }

 private:
  friend class Members<CpuComm>;

  Napi::Value Connect(const Napi::CallbackInfo& info) {
    Args a(info, "CpuComm.connect");
    a.Count(tcp_ ? 1 : 0, tcp_ ? 1 : 0);
    if (tcp_) ReadPeers(a);
    auto item = std::make_unique<Item>();
    item->connect = true;
    return Enqueue(info.Env(), std::move(item));
  }

  // connect({ peers, secret }) of the tcp transport: every rank's "host:port" and the group's secret.
  void ReadPeers(const Args& a) {
    Napi::Object o = a.Object(0, "options");
    const int size = engine_->config().size;
    Napi::Value pv = o.Get("peers");
    const std::string want = "'peers' must be an array of " + std::to_string(size) + " \"host:port\" strings (one per rank)";
    if (!pv.IsArray()) a.Fail(want + ", got " + Describe(pv));
    Napi::Array arr = pv.As<Napi::Array>();
    if (arr.Length() != static_cast<uint32_t>(size)) a.Fail(want + ", got " + std::to_string(arr.Length()) + " entries");
    std::vector<std::string> peers;
    for (uint32_t i = 0; i < arr.Length(); i++) {
      Napi::Value e = arr.Get(i);
      if (!e.IsString()) a.Fail(want + "; peers[" + std::to_string(i) + "] is " + Describe(e));
      peers.push_back(e.As<Napi::String>().Utf8Value());
    }
    Napi::Value sv = o.Get("secret");
    if (!sv.IsTypedArray() || sv.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
      a.Fail("'secret' must be a Uint8Array (the group's random secret), got " + Describe(sv));
    auto sec = sv.As<Napi::Uint8Array>();
    tcp_->SetPeers(std::move(peers), std::vector<uint8_t>(sec.Data(), sec.Data() + sec.ElementLength()));
  }

  Napi::Value Submit(const Napi::CallbackInfo& info) {
    {
      Args a(info, "CpuComm.submit");
      a.Count(1, 1);
      Napi::Object d = a.Object(0, "desc");
      auto item = std::make_unique<Item>();
      cpucomm::Op& op = item->op;
      const int size = engine_->config().size, rank = engine_->config().rank;
      std::string kind = a.OptString(d, "kind", "");
      static const std::unordered_map<std::string, Kind> kinds = {
          {"barrier", Kind::Barrier}, {"allReduce", Kind::AllReduce}, {"broadcast", Kind::Broadcast},
          {"reduce", Kind::Reduce}, {"allGather", Kind::AllGather}, {"reduceScatter", Kind::ReduceScatter},
          {"gather", Kind::Gather}, {"scatter", Kind::Scatter}, {"allToAll", Kind::AllToAll},
          {"send", Kind::Send}, {"recv", Kind::Recv}};
      auto k = kinds.find(kind);
      if (k == kinds.end())
        a.Fail("'kind' must be one of barrier, allReduce, broadcast, reduce, allGather, reduceScatter, gather, "
               "scatter, allToAll, send, recv; got '" + kind + "'");
      op.kind = k->second;
      op.dtype = static_cast<DType>(a.OptInt(d, "dtype", 0, 0, cpucomm::kNumTensorDTypes - 1));
      std::string opName = a.OptString(d, "op", "sum");
      static const std::unordered_map<std::string, RedOp> ops = {
          {"sum", RedOp::Sum}, {"prod", RedOp::Prod}, {"min", RedOp::Min}, {"max", RedOp::Max}, {"avg", RedOp::Avg}};
      auto o = ops.find(opName);
      if (o == ops.end()) a.Fail("'op' must be one of sum, prod, min, max, avg; got '" + opName + "'");
      op.op = o->second;
      if (op.op == RedOp::Avg && op.dtype == DType::Bool)
        Throw(code::kDtype, std::string(kind) + ": op 'avg' is not defined for bool tensors (PyTorch refuses it too)");
      op.count = a.OptInt(d, "count", 0, 0, int64_t{1} << 50);
      op.root = static_cast<int>(a.OptInt(d, "root", 0, 0, size - 1));
      op.tag = a.OptInt(d, "tag", 0, INT64_MIN / 2, INT64_MAX / 2);
      if ((op.kind == Kind::Send || op.kind == Kind::Recv) && op.root == rank)
        a.Fail(std::string(op.kind == Kind::Send ? "send to" : "recv from") + " its own rank " + std::to_string(rank));
      if (op.kind == Kind::Send || op.kind == Kind::Recv) {
        item->p2p = true;
        if (state_->p2pPending >= maxP2P_)
          Throw(code::kDist,
                std::string(op.kind == Kind::Send ? "send to" : "recv from") + " rank " + std::to_string(op.root) + ": " +
                    std::to_string(state_->p2pPending) +
                    " point-to-point ops of this process group are already pending (sends and receives the peers have "
                    "not matched yet); the limit (NODE_NCCL_CPU_MAX_P2P, default 4096) bounds the memory they hold. Is the "
                    "peer calling the matching " + (op.kind == Kind::Send ? "recv" : "send") +
                    "? This op was not started; the group is unaffected.");
      }
      const int64_t es = static_cast<int64_t>(cpucomm::DTypeSize(op.dtype));
      const int64_t one = CheckedMul(op.count, es, "CpuComm.submit");
      const int64_t all = CheckedMul(one, size, "CpuComm.submit");
      int64_t sendNeed = -1, recvNeed = -1;  // -1: not used
      bool isRoot = rank == op.root;
      switch (op.kind) {
        case Kind::Barrier: break;
        case Kind::AllReduce: case Kind::Reduce: sendNeed = one; recvNeed = one; break;
        case Kind::Broadcast: recvNeed = one; break;
        case Kind::AllGather: sendNeed = one; recvNeed = all; break;
        case Kind::ReduceScatter: sendNeed = all; recvNeed = one; break;
        case Kind::Gather: sendNeed = one; recvNeed = isRoot ? all : -1; break;
        case Kind::Scatter: sendNeed = isRoot ? all : -1; recvNeed = one; break;
        case Kind::Send: sendNeed = one; break;
        case Kind::Recv: recvNeed = one; break;
        case Kind::AllToAll: {
          op.sendCounts = ReadCounts(a, d, "sendCounts", size);
          op.recvCounts = ReadCounts(a, d, "recvCounts", size);
          int64_t s = 0, r = 0;
          for (int i = 0; i < size; i++) {
            s = CheckedAdd(s, op.sendCounts[i], "CpuComm.submit");
            r = CheckedAdd(r, op.recvCounts[i], "CpuComm.submit");
          }
          op.count = s;
          sendNeed = CheckedMul(s, es, "CpuComm.submit");
          recvNeed = CheckedMul(r, es, "CpuComm.submit");
          break;
        }
      }
      // Which buffers this rank's op writes: not the root's own data in a broadcast, nor a
      // reduce's output on the ranks that are not its root (PyTorch leaves those unchanged).
      const bool writesRecv = !((op.kind == Kind::Broadcast && isRoot) || (op.kind == Kind::Reduce && !isRoot));
      // In place (send and recv the same range of one buffer): the send's staging is the output too.
      const bool inPlace = sendNeed >= 0 && recvNeed == sendNeed && writesRecv && d.Get("send").StrictEquals(d.Get("recv")) &&
                           a.OptInt(d, "sendOffset", 0, 0, int64_t{1} << 52) == a.OptInt(d, "recvOffset", 0, 0, int64_t{1} << 52);
      if (sendNeed >= 0) op.send = Bind(a, d, "send", "sendOffset", sendNeed, *item, true, inPlace);
      if (recvNeed >= 0) op.recv = Bind(a, d, "recv", "recvOffset", recvNeed, *item, op.kind == Kind::Broadcast && isRoot, writesRecv);
      if (op.kind == Kind::Broadcast) op.send = op.recv;
      if (RunDirect(*item)) {
        // completed on this thread: no JavaScript ran since submit, the callers' memory is as it was
        if (!item->staged.empty()) {
          for (const Napi::Value& v : item->held) item->refs.push_back(Napi::Persistent(v));
          auto e = CopyBack(info.Env(), *item);
          for (Staged& st : item->staged) state_->pool.Give(std::move(st.block));
          if (e) throw *e;
        }
        return info.Env().Undefined();
      }
      return Enqueue(info.Env(), std::move(item));
    }
  }

  static std::vector<int64_t> ReadCounts(const Args& a, const Napi::Object& d, const char* key, int size) {
    Napi::Value v = d.Get(key);
    std::string want = std::string("'") + key + "' must be an array of " + std::to_string(size) +
                       " non-negative integers (one per rank)";
    if (!v.IsArray()) a.Fail(want + ", got " + Describe(v));
    Napi::Array arr = v.As<Napi::Array>();
    if (arr.Length() != static_cast<uint32_t>(size)) a.Fail(want + ", got " + std::to_string(arr.Length()) + " entries");
    std::vector<int64_t> out;
    for (uint32_t i = 0; i < arr.Length(); i++) {
      Napi::Value e = arr.Get(i);
      double x = e.IsNumber() ? e.As<Napi::Number>().DoubleValue() : -1;
      if (!(x >= 0) || x != static_cast<double>(static_cast<int64_t>(x)) || x > 1e15) a.Fail(want);
      out.push_back(static_cast<int64_t>(x));
    }
    return out;
  }

  // The op's memory for one buffer of the descriptor: the caller's (a SharedArrayBuffer) or a
  // staged copy. `in`: the op reads it (copied in now, and overlaid with what earlier pending ops
  // will have written there); `out`: the op writes it (copied back on success). A range that send
  // already staged identically is shared (in-place ops).
  uint8_t* Bind(const Args& a, const Napi::Object& d, const char* key, const char* offKey, int64_t need, Item& item,
                bool in, bool out) {
    Napi::Value holder;
    HostMem s = ReadHost(a, d, key, holder);
    int64_t off = a.OptInt(d, offKey, 0, 0, int64_t{1} << 52);
    if (CheckedAdd(off, need, "CpuComm.submit") > static_cast<int64_t>(s.bytes))
      a.Fail(std::string("'") + key + "' is too small: the op needs " + std::to_string(need) + " bytes at byte offset " +
             std::to_string(off) + ", the buffer has " + std::to_string(s.bytes) +
             (s.bytes == 0 && need > 0 ? " (was it detached or shrunk?)" : ""));
    item.held.push_back(holder);
    if (s.shared) {
      static uint8_t empty;
      return s.ptr ? s.ptr + off : &empty;
    }
    const size_t len = static_cast<size_t>(need);
    for (Staged& st : item.staged) {
      if (st.base == s.ptr && st.off == static_cast<size_t>(off) && st.len == len) {
        st.copyBack = st.copyBack || out;
        return st.data();
      }
    }
    Napi::Env env = holder.Env();
    Staged st;
    st.len = len;
    st.copyBack = out;
    st.ref = item.held.size() - 1;
    item.held.push_back(Napi::Value(env, s.buffer));
    st.bufRef = item.held.size() - 1;
    st.base = s.ptr;
    st.off = static_cast<size_t>(off);
    // Earlier ops still pending that write this memory: this op reads what they leave.
    struct Hit {
      const PendingOut* p;
      size_t srcOff, dstOff, len;
    };
    std::vector<Hit> hits;
    size_t exact = SIZE_MAX;  // index in outs of the latest pending output of exactly this range
    const uintptr_t lo = reinterpret_cast<uintptr_t>(s.ptr) + st.off, hi = lo + len;
    auto& outs = state_->outs;
    for (size_t i = 0; i < outs.size(); i++) {
      const PendingOut& p = outs[i];
      const uintptr_t plo = reinterpret_cast<uintptr_t>(p.st->base) + p.st->off, phi = plo + p.st->len;
      if (phi <= lo || hi <= plo) continue;
      bool same = false;
      napi_strict_equals(env, p.owner->refs[p.st->bufRef].Value(), s.buffer, &same);
      if (!same) continue;  // another buffer now at the address of one that was freed
      item.ordered = true;
      const uintptr_t b = std::max(lo, plo), e = std::min(hi, phi);
      hits.push_back(Hit{&p, static_cast<size_t>(b - plo), static_cast<size_t>(b - lo), static_cast<size_t>(e - b)});
      exact = (plo == lo && phi == hi) ? i : SIZE_MAX;  // a later partial write needs the overlays
    }
    if (in && out && exact != SIZE_MAX && !item.p2p && !outs[exact].owner->p2p) {
      // The common chain (in-place ops on one tensor, back to back): this op runs after that one
      // on the same thread, in its staging block, and copies the final result back in its place;
      // the earlier op's copy-back is dropped (the tensor's value while a later op on it is in
      // flight is not defined, in place either). No copy in, no overlay.
      st.block = outs[exact].st->block;
      outs[exact].st->copyBack = false;
      outs.erase(outs.begin() + static_cast<std::ptrdiff_t>(exact));
    } else {
      st.block = state_->pool.Take(len);
      if (in && len) {
        std::memcpy(st.data(), s.ptr + off, len);
        for (const Hit& h : hits) item.overlays.push_back(Overlay{h.p->st->block, h.srcOff, st.data() + h.dstOff, h.len});
      }
    }
    item.staged.push_back(std::move(st));
    return item.staged.back().data();
  }

  // The direct path (see the top of this file): true when the op completed here; a failure
  // throws (the op failed, as its Promise would have rejected); false: it goes to the thread,
  // which resumes it if TryRun started it. When only small ops are ahead of it on the thread
  // (say one that gave up on a late peer, and the ops queued behind it), it waits for them within
  // the same budget rather than queue behind them: otherwise one late peer would send every later
  // op of a back-to-back run through the thread, where each costs a hand-off both ways.
  bool RunDirect(Item& item) {
    item.small = engine_->Direct(item.op);
    if (directUs_ <= 0 || destroyed_ || !state_->connected || !item.small || item.ordered) return false;
    using clock = std::chrono::steady_clock;
    const auto until = clock::now() + std::chrono::microseconds(directUs_);
    for (;;) {
      {
        std::lock_guard<std::mutex> lk(mu_);  // only this thread enqueues: idle stays idle
        if (queue_.empty() && !busy_) break;
        if (large_ > 0) return false;
      }
      if (clock::now() >= until) return false;
      std::this_thread::yield();
    }
    const int64_t left = std::chrono::duration_cast<std::chrono::microseconds>(until - clock::now()).count();
    return engine_->TryRun(item.op, std::max<int64_t>(left, 1));
  }

  Napi::Value Enqueue(Napi::Env env, std::unique_ptr<Item> item) {
    if (destroyed_) Throw(code::kDistAborted, "the cpu communicator was destroyed");
    napi_value promise;
    napi_status st = napi_create_promise(env, &item->deferred, &promise);
    if (st != napi_ok) Throw(code::kInternal, "napi_create_promise failed");
    for (const Napi::Value& v : item->held) item->refs.push_back(Napi::Persistent(v));
    item->held.clear();
    for (Staged& st : item->staged)
      if (st.copyBack) state_->outs.push_back(PendingOut{item.get(), &st});
    item->seq = ++lastSeq_;
    state_->unsettled.insert(item->seq);
    if (state_->pending++ == 0) tsfn_.Ref(env);
    if (item->p2p) state_->p2pPending++;
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (!item->small) large_++;
      queue_.push_back(item.release());
    }
    cv_.notify_one();
    return Napi::Value(env, promise);
  }

  // ---- communication thread ----

  Item* PopBlocking() {
    std::unique_lock<std::mutex> lk(mu_);
    busy_ = false;  // the previous item, if any, is complete
    if (curLarge_) large_--;
    curLarge_ = false;
    cv_.wait(lk, [&] { return !queue_.empty() || stopping_; });
    if (queue_.empty()) return nullptr;
    busy_ = true;
    Item* it = queue_.front();
    curLarge_ = !it->small;
    queue_.pop_front();
    return it;
  }

  Item* PopP2P() {
    std::lock_guard<std::mutex> lk(mu_);
    if (queue_.empty()) return nullptr;
    Item* it = queue_.front();
    if (it->connect || (it->op.kind != Kind::Send && it->op.kind != Kind::Recv)) return nullptr;
    queue_.pop_front();
    large_--;  // p2p ops are never small; the batch runs until the thread pops again
    return it;
  }

  void Complete(Item* it) {
    {
      std::lock_guard<std::mutex> lk(state_->mu);
      state_->done.push_back(it);
    }
    state_->cv.notify_all();
    // a wake-up for the event loop; when the environment is going away the item stays queued
    // and CompletionState's destructor drops it
    (void)tsfn_.BlockingCall(static_cast<Item*>(nullptr));
  }

  // waitSync(seq): blocks until op `seq` (a value of lastSeq after its submit) is settled; throws
  // its error if it failed. The op's own timeout bounds the wait (a dead peer fails it).
  Napi::Value WaitSync(const Napi::CallbackInfo& info) {
    Args a(info, "CpuComm.waitSync");
    a.Count(1, 1);
    const uint64_t seq = static_cast<uint64_t>(a.Int(0, "seq", 0, int64_t{1} << 52));
    Napi::Env env = info.Env();
    Napi::Value err;
    for (;;) {
      SettleDone(env, state_, seq, &err);
      if (!err.IsEmpty()) throw Napi::Error(env, err);
      if (!state_->unsettled.count(seq)) return env.Undefined();
      if (destroyed_) Throw(code::kDistAborted, "the cpu communicator was destroyed while an op was being waited for");
      std::unique_lock<std::mutex> lk(state_->mu);
      state_->cv.wait(lk, [&] { return !state_->done.empty(); });
    }
  }
  Napi::Value GetLastSeq(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(lastSeq_)); }

 public:
  // Settles every finished op (JS thread); the error of op `want`, if it failed, goes to *err.
  static void SettleDone(Napi::Env env, CompletionState* state, uint64_t want, Napi::Value* err);

 private:

  static std::unique_ptr<NativeError> Capture(const std::function<void()>& fn) {
    try {
      fn();
    } catch (const NativeError& e) {
      return std::make_unique<NativeError>(e);
    } catch (const std::bad_alloc&) {
      return std::make_unique<NativeError>(code::kHostOom, "host memory allocation failed in the cpu communicator");
    } catch (const std::exception& e) {
      return std::make_unique<NativeError>(code::kInternal, std::string("cpu communicator: ") + e.what());
    }
    return nullptr;
  }

  struct Hooks : cpucomm::P2PHooks {
    CpuComm* self;
    std::unordered_map<cpucomm::Op*, Item*> items;
    cpucomm::Op* More() override {
      Item* it = self->PopP2P();
      if (!it) return nullptr;
      items[&it->op] = it;
      it->ApplyOverlays();
      return &it->op;
    }
    void Done(cpucomm::Op* op, const NativeError* err) override {
      auto f = items.find(op);
      if (f == items.end()) return;
      Item* it = f->second;
      items.erase(f);
      if (err) it->err = std::make_unique<NativeError>(*err);
      self->Complete(it);
    }
  };

  void Loop() {
    for (;;) {
      Item* it = PopBlocking();
      if (!it) return;
      if (it->connect) {
        it->err = Capture([&] { engine_->Connect(); });
        Complete(it);
      } else if (it->op.kind == Kind::Send || it->op.kind == Kind::Recv) {
        Hooks hooks;
        hooks.self = this;
        hooks.items[&it->op] = it;
        it->ApplyOverlays();
        auto err = Capture([&] { engine_->RunP2P({&it->op}, hooks); });
        for (auto& [op, rest] : hooks.items) {  // only on an internal error
          rest->err = std::make_unique<NativeError>(err ? *err : NativeError(code::kInternal, "p2p op was dropped"));
          Complete(rest);
        }
      } else {
        it->ApplyOverlays();
        it->err = Capture([&] { engine_->Run(it->op); });
        Complete(it);
      }
    }
  }

  // Stops the thread (aborting any wait), leaves the group, releases the completion function.
  void Shutdown() {
    if (destroyed_) return;
    destroyed_ = true;
    engine_->Abort("the communicator was destroyed");
    {
      std::lock_guard<std::mutex> lk(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    engine_->Leave();
    tsfn_.Release();
    if (!hookRan_ && !cleanup_.IsEmpty()) cleanup_.Remove(Env());
  }

  Napi::Value AbortJs(const Napi::CallbackInfo& info) {
    Args a(info, "CpuComm.abort");
    a.Count(0, 1);
    std::string why = a.IsMissing(0) ? "abort() was called" : a.String(0, "reason");
    engine_->Abort(why);
    return info.Env().Undefined();
  }

  Napi::Value DestroyJs(const Napi::CallbackInfo& info) {
    Args a(info, "CpuComm.destroy");
    a.Count(0, 0);
    Shutdown();
    return info.Env().Undefined();
  }

  Napi::Value GetRank(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), engine_->config().rank); }
  Napi::Value GetSize(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), engine_->config().size); }
  Napi::Value GetPending(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), destroyed_ ? 0 : static_cast<double>(state_->pending));
  }
  Napi::Value GetBroken(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), engine_->broken()); }
  Napi::Value GetDestroyed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), destroyed_); }
  // The ranks a peer failure named (gone processes), ascending.
  Napi::Value GetDeadRanks(const Napi::CallbackInfo& info) {
    std::vector<int> dead = engine_->DeadRanks();
    std::sort(dead.begin(), dead.end());
    Napi::Array out = Napi::Array::New(info.Env(), dead.size());
    for (size_t i = 0; i < dead.size(); i++) out.Set(static_cast<uint32_t>(i), Napi::Number::New(info.Env(), dead[i]));
    return out;
  }
  Napi::Value GetAddress(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), tcp_ ? tcp_->address() : ""); }

  std::unique_ptr<cpucomm::Transport> engine_;
  cpucomm::TcpTransport* tcp_ = nullptr;  // engine_, when it is the tcp transport
  CompletionState* state_ = nullptr;  // owned by tsfn_
  Tsfn tsfn_;
  Napi::Env::CleanupHook<std::function<void()>> cleanup_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item*> queue_;
  bool stopping_ = false;
  // Under mu_: the thread is running an item; the items queued or running that are not small,
  // and whether the running one is such.
  bool busy_ = false;
  size_t large_ = 0;
  bool curLarge_ = false;
  int64_t directUs_ = 50;
  uint64_t lastSeq_ = 0;  // JS thread: the seq of the last op queued
  size_t maxP2P_ = 4096;  // pending sends and receives at most (JS thread)
  bool destroyed_ = false;
  bool hookRan_ = false;
};

void CallJs(Napi::Env env, Napi::Function, CompletionState* state, Item*) {
  if (env == nullptr) return;  // teardown: CompletionState's destructor drops what is queued
  Napi::HandleScope scope(env);
  CpuComm::SettleDone(env, state, 0, nullptr);
}

// Settles one finished op on the JS thread; returns its error value (empty on success).
Napi::Value SettleOne(Napi::Env env, CompletionState* state, std::unique_ptr<Item> it) {
  Napi::Value out;
  state->unsettled.erase(it->seq);
  if (it->connect && !it->err) state->connected = true;
  if (!it->err && !it->staged.empty()) it->err = CopyBack(env, *it);
  if (!it->staged.empty()) {
    auto& outs = state->outs;
    outs.erase(std::remove_if(outs.begin(), outs.end(), [&](const PendingOut& p) { return p.owner == it.get(); }), outs.end());
    for (Staged& st : it->staged) state->pool.Give(std::move(st.block));
  }
  if (it->err) {
    Napi::Error e = ToJsError(env, *it->err);
    napi_reject_deferred(env, it->deferred, e.Value());
    out = e.Value();
  } else {
    napi_resolve_deferred(env, it->deferred, env.Undefined());
  }
  it->refs.clear();
  if (it->p2p && state->p2pPending > 0) state->p2pPending--;
  if (state->pending > 0 && --state->pending == 0) napi_unref_threadsafe_function(env, state->tsfn);
  return out;
}

void CpuComm::SettleDone(Napi::Env env, CompletionState* state, uint64_t want, Napi::Value* err) {
  for (;;) {
    Item* next = nullptr;
    {
      std::lock_guard<std::mutex> lk(state->mu);
      if (state->done.empty()) return;
      next = state->done.front();
      state->done.pop_front();
    }
    const uint64_t seq = next->seq;
    Napi::Value e = SettleOne(env, state, std::unique_ptr<Item>(next));
    if (err && seq == want && !e.IsEmpty()) *err = e;
  }
}
}  // namespace

void RegisterCpuComm(Napi::Env env, Napi::Object exports) { CpuComm::Register(env, exports); }

}  // namespace nn
