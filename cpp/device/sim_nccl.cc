// The simulation's NCCL: the entry points node-nccl calls, with NCCL 2.30's meanings and result
// codes, on the cpu backend's shared-memory transport (cpp/cpu_shm.h). The unique id names a
// shared-memory segment; every rank of a communicator, in any process of this host, joins it.
//
// What NCCL does, the simulation does:
//  - a collective or point-to-point call is queued on its stream and runs when the stream reaches
//    it (blocking that stream until the peers arrive, as NCCL's kernel does); the ops of one
//    communicator run in the order they were issued, whatever their streams;
//  - ncclGroupStart/End: the ops of a group run together (point-to-point ops progress at once, so
//    a send and a receive between two ranks never deadlock); a group spanning several streams
//    makes them wait for each other, as NCCL does;
//  - ncclCommInitRankConfig with blocking = 0 returns ncclInProgress and joins in the background
//    (ncclCommGetAsyncError reports ncclInProgress until it is done); so do ncclCommFinalize;
//  - init fails with ncclInvalidUsage when two ranks use one GPU, unless
//    NCCL_MULTI_RANK_GPU_ENABLE=1 (NCCL >= 2.30);
//  - a failed operation (a peer process gone, ranks calling different collectives) sets the
//    communicator's asynchronous error (ncclRemoteError, ncclInvalidUsage) and its stream hangs
//    until ncclCommAbort, as a GPU stream with a stuck NCCL kernel does.
// It proves stream ordering, the API's rules and node-nccl's error handling, not NCCL's own
// algorithms or speed.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <random>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "../cpu_shm.h"
#include "sim.h"

namespace nn {
namespace dev {
namespace sim {
namespace {

using cpucomm::Kind;

enum Result : int {
  kOk = 0, kUnhandledCuda = 1, kSystem = 2, kInternal = 3, kInvalidArgument = 4, kInvalidUsage = 5, kRemote = 6,
  kInProgress = 7
};
constexpr int kVersion = 23007;  // 2.30.7
constexpr int64_t kHangMs = int64_t{7} * 24 * 3600 * 1000;  // NCCL itself has no timeout

// ncclUniqueId (128 bytes, passed by value to ncclCommInitRank): our magic, then a random nonce
// that names the communicator's shared-memory segment.
struct UniqueId {
  char internal[128];
};
struct IdBytes {
  char magic[8];
  uint64_t nonce;
};
constexpr char kIdMagic[8] = {'n', 'n', 's', 'i', 'm', 'n', 'c', 'l'};

thread_local std::string tLastError;

struct QueuedOp {
  cpucomm::Op op;
};

struct Comm {
  int rank = 0, size = 1, device = 0;
  bool blocking = true;
  std::unique_ptr<cpucomm::Transport> transport;
  std::mutex mu;
  std::condition_variable cv;
  int state = kOk;          // ncclCommGetAsyncError's answer
  std::string lastError;
  bool ready = false;       // init finished successfully
  bool aborted = false, destroyed = false;
  uint64_t issued = 0, ran = 0;  // tickets handed out / jobs finished (in ticket order)
  std::thread worker;            // background init or finalize
  // Non-blocking communicators: calls being issued in the background (see Launch).
  std::deque<std::vector<std::pair<StreamImpl*, QueuedOp>>> launches;
  std::condition_variable launchCv;
  bool launching = false, launcherStarted = false, connected = false;
};

struct Registry {
  std::mutex mu;
  std::unordered_map<Comm*, std::shared_ptr<Comm>> live;
};
Registry& Reg() {
  static Registry* r = new Registry();
  return *r;
}

std::shared_ptr<Comm> Find(void* h) {
  std::lock_guard<std::mutex> lock(Reg().mu);
  auto it = Reg().live.find(static_cast<Comm*>(h));
  return it == Reg().live.end() ? nullptr : it->second;
}

int Err(int r, const std::string& msg) {
  tLastError = "NCCL (simulated): " + msg;
  return r;
}

bool MultiRankEnabled() {
  const char* e = std::getenv("NCCL_MULTI_RANK_GPU_ENABLE");
  return e && std::string(e) == "1";
}

int MapError(const NativeError& e) {
  if (e.code == code::kDistPeer) return kRemote;
  if (e.code == code::kDistMismatch || e.code == code::kInvalidArg) return kInvalidUsage;
  return kSystem;
}

// Joins the group and checks the ranks' devices (NCCL's "Multiple Ranks are using the same GPU").
void Join(Comm& c, const std::string& name) {
  cpucomm::Config cfg;
  cfg.name = name;
  cfg.rank = c.rank;
  cfg.size = c.size;
  cfg.timeoutMs = kHangMs;
  std::unique_ptr<cpucomm::Transport> t = std::make_unique<cpucomm::ShmTransport>(cfg);
  {
    std::lock_guard<std::mutex> lock(c.mu);
    if (c.aborted) Throw(code::kDistAborted, "ncclCommAbort was called during init");
    c.transport = std::move(t);
  }
  c.transport->Connect();
  std::vector<int64_t> devices(c.size);
  int64_t mine = c.device;
  cpucomm::Op op;
  op.kind = Kind::AllGather;
  op.dtype = cpucomm::DType::I64;
  op.count = 1;
  op.send = reinterpret_cast<uint8_t*>(&mine);
  op.recv = reinterpret_cast<uint8_t*>(devices.data());
  c.transport->Run(op);
  if (MultiRankEnabled()) return;
  for (int i = 0; i < c.size; i++)
    for (int j = 0; j < i; j++)
      if (devices[i] == devices[j])
        Throw(code::kInvalidArg, "Multiple Ranks are using the same GPU/Partition (ranks " + std::to_string(j) + " and " +
                                     std::to_string(i) + " on cuda:" + std::to_string(devices[i]) +
                                     "). Set NCCL_MULTI_RANK_GPU_ENABLE=1 to enable this configuration.");
}

void FinishInit(Comm& c, const std::string& name) {
  int r = kOk;
  std::string why;
  try {
    Join(c, name);
  } catch (const NativeError& e) {
    r = e.code == code::kInvalidArg ? kInvalidUsage : MapError(e);
    why = e.what();
  }
  std::lock_guard<std::mutex> lock(c.mu);
  c.state = r;
  c.ready = r == kOk;
  if (r != kOk) c.lastError = "init failed: " + why;
  c.cv.notify_all();
}

std::shared_ptr<Comm> NewComm(int nranks, int rank) {
  auto c = std::make_shared<Comm>();
  c->rank = rank;
  c->size = nranks;
  c->device = CurrentDevice();
  std::lock_guard<std::mutex> lock(Reg().mu);
  Reg().live[c.get()] = c;
  return c;
}

int CheckInitArgs(void** out, int nranks, const void* id, int rank, std::string* name) {
  if (!out) return Err(kInvalidArgument, "comm pointer is null");
  if (nranks < 1 || rank < 0 || rank >= nranks)
    return Err(kInvalidArgument, "rank " + std::to_string(rank) + " is not in [0, " + std::to_string(nranks) + ")");
  IdBytes b;
  std::memcpy(&b, id, sizeof b);
  if (std::memcmp(b.magic, kIdMagic, 8) != 0)
    return Err(kInvalidArgument, "the unique id was not made by this (simulated) NCCL's ncclGetUniqueId");
  char buf[40];
  snprintf(buf, sizeof buf, "/nnsim-nccl-%016llx", static_cast<unsigned long long>(b.nonce));
  *name = buf;
  return kOk;
}

// ncclCommInitRankConfig(comm*, nranks, id, rank, config*): config may be null (blocking).
int InitRankConfig(void** out, int nranks, UniqueId id, int rank, const void* config) {
  std::string name;
  if (int r = CheckInitArgs(out, nranks, id.internal, rank, &name)) return r;
  bool blocking = true;
  if (config) {
    size_t size;
    unsigned magic, version;
    std::memcpy(&size, config, sizeof size);
    std::memcpy(&magic, static_cast<const char*>(config) + sizeof(size_t), sizeof magic);
    std::memcpy(&version, static_cast<const char*>(config) + sizeof(size_t) + 4, sizeof version);
    if (magic != 0xcafebeef) return Err(kInvalidArgument, "ncclConfig_t argument not initialized via NCCL_CONFIG_INITIALIZER");
    if (version >= 21400 && size >= sizeof(size_t) + 12) {
      int b;
      std::memcpy(&b, static_cast<const char*>(config) + sizeof(size_t) + 8, sizeof b);
      blocking = b != 0;  // NCCL_CONFIG_UNDEF_INT (INT_MIN): the default, blocking
    }
  }
  std::shared_ptr<Comm> c = NewComm(nranks, rank);
  c->blocking = blocking;
  *out = c.get();
  if (blocking) {
    FinishInit(*c, name);
    std::lock_guard<std::mutex> lock(c->mu);
    tLastError = c->lastError;
    return c->state;
  }
  c->state = kInProgress;
  std::weak_ptr<Comm> weak = c;
  c->worker = std::thread([weak, name] {
    if (auto c = weak.lock()) FinishInit(*c, name);
  });
  c->worker.detach();
  return kInProgress;
}

int InitRank(void** out, int nranks, UniqueId id, int rank) { return InitRankConfig(out, nranks, id, rank, nullptr); }

// ncclCommInitAll(comms, ndev, devlist): one communicator per device of this process.
int InitAll(void** comms, int ndev, const int* devlist) {
  if (!comms || ndev < 1) return Err(kInvalidArgument, "ncclCommInitAll needs ndev >= 1 and a comms array");
  IdBytes id;
  std::memcpy(id.magic, kIdMagic, 8);
  id.nonce = std::random_device{}() * 0x100000001ull ^ std::random_device{}();
  std::string name;
  CheckInitArgs(comms, ndev, &id, 0, &name);
  std::vector<std::shared_ptr<Comm>> list;
  for (int i = 0; i < ndev; i++) {
    int d = devlist ? devlist[i] : i;
    if (d < 0 || d >= Cfg().devices) return Err(kInvalidArgument, "device " + std::to_string(d) + " does not exist");
    DeviceGuard guard(d);
    list.push_back(NewComm(ndev, i));
  }
  std::vector<std::thread> joins;
  for (auto& c : list) joins.emplace_back([c, name] { FinishInit(*c, name); });
  for (auto& t : joins) t.join();
  for (int i = 0; i < ndev; i++) {
    comms[i] = list[i].get();
    if (list[i]->state != kOk) {
      tLastError = list[i]->lastError;
      return list[i]->state;
    }
  }
  return kOk;
}

int GetUniqueId(UniqueId* out) {
  if (!out) return Err(kInvalidArgument, "uniqueId pointer is null");
  IdBytes b;
  std::memcpy(b.magic, kIdMagic, 8);
  std::random_device rd;
  b.nonce = (static_cast<uint64_t>(rd()) << 32) ^ rd() ^ static_cast<uint64_t>(getpid());
  std::memset(out, 0, sizeof *out);
  std::memcpy(out->internal, &b, sizeof b);
  return kOk;
}

// ---- operations ------------------------------------------------------------------------------------

// A group's (or a single call's) work on one communicator: runs once every stream it spans has
// reached it, in the communicator's issue order.
struct Job {
  std::shared_ptr<Comm> comm;
  uint64_t ticket = 0;
  std::vector<QueuedOp> ops;
  int streams = 1;
  std::mutex mu;
  std::condition_variable cv;
  int arrived = 0;
  bool done = false;

  void Run() {
    Comm& c = *comm;
    {
      std::unique_lock<std::mutex> lock(c.mu);
      c.cv.wait(lock, [&] { return c.ran + 1 == ticket || c.aborted; });
      if (c.aborted) return Finish(lock);
    }
    const NativeError* failure = nullptr;
    std::unique_ptr<NativeError> err;
    try {
      std::vector<cpucomm::Op*> p2p, selfSends, selfRecvs;
      for (QueuedOp& q : ops) {
        bool isP2P = q.op.kind == Kind::Send || q.op.kind == Kind::Recv;
        if (!isP2P) c.transport->Run(q.op);
        else if (q.op.root != c.rank) p2p.push_back(&q.op);
        else (q.op.kind == Kind::Send ? selfSends : selfRecvs).push_back(&q.op);
      }
      // A rank's sends to itself match its receives from itself in order, as in NCCL.
      if (selfSends.size() != selfRecvs.size())
        Throw(code::kInvalidArg, "a group has " + std::to_string(selfSends.size()) + " send(s) to this rank itself but " +
                                     std::to_string(selfRecvs.size()) + " receive(s) from itself: each must be matched");
      for (size_t i = 0; i < selfSends.size(); i++) {
        cpucomm::Op& snd = *selfSends[i];
        cpucomm::Op& rcv = *selfRecvs[i];
        if (snd.count != rcv.count || snd.dtype != rcv.dtype)
          Throw(code::kInvalidArg, "a send to this rank itself (" + std::to_string(snd.count) + " elements) does not match "
                                   "its receive (" + std::to_string(rcv.count) + " elements)");
        std::memmove(rcv.recv, snd.send, static_cast<size_t>(snd.count) * cpucomm::DTypeSize(snd.dtype));
      }
      if (!p2p.empty()) {
        struct Hooks : cpucomm::P2PHooks {
          std::unique_ptr<NativeError> first;
          cpucomm::Op* More() override { return nullptr; }
          void Done(cpucomm::Op*, const NativeError* e) override {
            if (e && !first) first = std::make_unique<NativeError>(*e);
          }
        } hooks;
        c.transport->RunP2P(p2p, hooks);
        if (hooks.first) throw *hooks.first;
      }
    } catch (const NativeError& e) {
      err = std::make_unique<NativeError>(e);
      failure = err.get();
    }
    std::unique_lock<std::mutex> lock(c.mu);
    if (failure && !c.aborted) {
      // As NCCL: the error is the communicator's, and the stream waits until the user aborts.
      if (c.state == kOk) {
        c.state = MapError(*failure);
        c.lastError = failure->what();
      }
      c.cv.notify_all();
      c.cv.wait(lock, [&] { return c.aborted; });
    }
    Finish(lock);
  }
  void Finish(std::unique_lock<std::mutex>& lock) {
    comm->ran = std::max(comm->ran, ticket);
    comm->cv.notify_all();
  }
};

// The calling thread's open groups (ncclGroupStart depth and the ops issued since).
struct GroupOp {
  std::shared_ptr<Comm> comm;
  StreamImpl* stream;
  QueuedOp op;
};
thread_local int tDepth = 0;
thread_local std::vector<GroupOp> tOps;
thread_local int tGroupError = kOk;

void Submit(const std::shared_ptr<Comm>& c, std::vector<std::pair<StreamImpl*, QueuedOp>> ops) {
  auto job = std::make_shared<Job>();
  job->comm = c;
  std::vector<StreamImpl*> streams;
  for (auto& [s, q] : ops) {
    job->ops.push_back(q);
    if (std::find(streams.begin(), streams.end(), s) == streams.end()) streams.push_back(s);
  }
  job->streams = static_cast<int>(streams.size());
  {
    std::lock_guard<std::mutex> lock(c->mu);
    job->ticket = ++c->issued;
  }
  for (size_t i = 0; i < streams.size(); i++) {
    const bool lead = i == 0;
    streams[i]->Enqueue([job, lead] {
      std::unique_lock<std::mutex> lock(job->mu);
      job->arrived++;
      job->cv.notify_all();
      if (lead) {
        job->cv.wait(lock, [&] { return job->arrived == job->streams; });
        lock.unlock();
        job->Run();
        lock.lock();
        job->done = true;
        job->cv.notify_all();
      } else {
        job->cv.wait(lock, [&] { return job->done; });
      }
    });
  }
}

// Non-blocking communicators issue in the background, as NCCL's group launch does: the call
// returns ncclInProgress and ncclCommGetAsyncError reports it until the op is on its streams. The
// first call of a communicator first waits until every rank has made one (NCCL connects lazily,
// at the first operation), so a peer that is late keeps the call in progress, never the caller.
void LaunchLoop(std::shared_ptr<Comm> c) {
  const auto delay = std::chrono::microseconds(Cfg().delayUs);
  for (;;) {
    std::vector<std::pair<StreamImpl*, QueuedOp>> ops;
    {
      std::unique_lock<std::mutex> lock(c->mu);
      c->launchCv.wait(lock, [&] { return !c->launches.empty() || c->aborted || c->destroyed; });
      if (c->aborted || c->destroyed) return;
      ops = std::move(c->launches.front());
      c->launches.pop_front();
    }
    if (delay.count() > 0) std::this_thread::sleep_for(delay);
    if (!c->connected) {
      try {
        cpucomm::Op barrier;
        barrier.kind = Kind::Barrier;
        c->transport->Run(barrier);
        c->connected = true;
      } catch (const NativeError& e) {
        std::lock_guard<std::mutex> lock(c->mu);
        if (!c->aborted) {
          c->state = MapError(e);
          c->lastError = std::string("connecting to the peers failed: ") + e.what();
        }
        c->launching = false;
        c->cv.notify_all();
        continue;
      }
    }
    Submit(c, std::move(ops));
    std::lock_guard<std::mutex> lock(c->mu);
    if (c->state == kInProgress) c->state = kOk;
    c->launching = false;
    c->cv.notify_all();
  }
}

// Issues ops of one communicator: at once (blocking communicators) or in the background.
int Launch(const std::shared_ptr<Comm>& c, std::vector<std::pair<StreamImpl*, QueuedOp>> ops) {
  if (c->blocking) {
    Submit(c, std::move(ops));
    return kOk;
  }
  std::lock_guard<std::mutex> lock(c->mu);
  c->state = kInProgress;
  c->launching = true;
  c->launches.push_back(std::move(ops));
  if (!c->launcherStarted) {
    c->launcherStarted = true;
    std::thread(LaunchLoop, c).detach();
  }
  c->launchCv.notify_one();
  return kInProgress;
}

bool DType(int code, cpucomm::DType* out) {
  using D = cpucomm::DType;
  static const D map[] = {D::I8, D::U8, D::I32, D::U32, D::I64, D::U64, D::F16, D::F32, D::F64, D::BF16};
  if (code < 0 || code > 9) return false;
  *out = map[code];
  return true;
}

// Checks a call and queues it (or adds it to the open group).
int Issue(const char* fn, void* h, Kind kind, const void* send, size_t sendElems, void* recv, size_t recvElems,
          size_t count, int dtype, int redop, int root, Stream stream) {
  auto fail = [&](int r, const std::string& why) {
    if (tDepth > 0 && tGroupError == kOk) tGroupError = r;
    return Err(r, std::string(fn) + ": " + why);
  };
  std::shared_ptr<Comm> c = Find(h);
  if (!c) return fail(kInvalidArgument, "not a live communicator");
  {
    std::lock_guard<std::mutex> lock(c->mu);
    if (c->aborted) return fail(kInvalidUsage, "the communicator was aborted");
    if (!c->ready) return fail(kInvalidUsage, c->state == kInProgress ? "communicator initialization has not completed"
                                                                     : "communicator initialization failed");
    if (c->launching)
      return fail(kInvalidUsage, "the previous call on this non-blocking communicator is still in progress "
                                 "(poll ncclCommGetAsyncError until it is no longer ncclInProgress)");
    if (c->state != kOk) return fail(c->state, "the communicator has an asynchronous error: " + c->lastError);
  }
  cpucomm::Op op;
  op.kind = kind;
  if (!DType(dtype, &op.dtype)) return fail(kInvalidArgument, "invalid data type " + std::to_string(dtype));
  if (redop < 0 || redop > 4) return fail(kInvalidArgument, "invalid reduction operation " + std::to_string(redop));
  static const cpucomm::RedOp ops[] = {cpucomm::RedOp::Sum, cpucomm::RedOp::Prod, cpucomm::RedOp::Max,
                                       cpucomm::RedOp::Min, cpucomm::RedOp::Avg};
  op.op = ops[redop];
  if (root < 0 || root >= c->size) return fail(kInvalidArgument, "invalid root/peer " + std::to_string(root));
  op.root = root;
  op.count = static_cast<int64_t>(count);
  const size_t es = cpucomm::DTypeSize(op.dtype);
  for (auto [p, n, what] : {std::tuple<const void*, size_t, const char*>{send, sendElems, "sendbuff"},
                            {recv, recvElems, "recvbuff"}}) {
    if (n == 0) continue;
    if (!OnDevice(p, n * es, c->device))
      return fail(kInvalidArgument, std::string(what) + " " + Describe(p) + " is not " + std::to_string(n * es) +
                                        " B of memory of the communicator's device cuda:" + std::to_string(c->device));
  }
  StreamImpl* s;
  {
    DeviceGuard guard(c->device);  // NCCL makes the communicator's device current itself
    s = ResolveStream(stream);
  }
  if (!s) return fail(kInvalidArgument, "invalid stream");
  if (s->device != c->device)
    return fail(kUnhandledCuda, "the stream belongs to cuda:" + std::to_string(s->device) +
                                    ", the communicator to cuda:" + std::to_string(c->device));
  if (Sticky(c->device)) return fail(kUnhandledCuda, "the device has a sticky CUDA error");
  QueuedOp q;
  q.op = op;
  q.op.send = const_cast<uint8_t*>(static_cast<const uint8_t*>(send));
  q.op.recv = static_cast<uint8_t*>(recv);
  if (kind == Kind::Broadcast && c->rank != root) q.op.send = q.op.recv;  // the root copies send to recv itself
  if (kind == Kind::Send) q.op.recv = nullptr;
  if (kind == Kind::Recv) q.op.send = nullptr;
  if (tDepth > 0) {
    tOps.push_back({c, s, q});
    return kOk;
  }
  return Launch(c, {{s, q}});
}

int AllReduce(const void* sb, void* rb, size_t n, int dt, int op, void* c, Stream s) {
  return Issue("ncclAllReduce", c, Kind::AllReduce, sb, n, rb, n, n, dt, op, 0, s);
}
int Broadcast(const void* sb, void* rb, size_t n, int dt, int root, void* c, Stream s) {
  auto comm = Find(c);
  bool isRoot = comm && comm->rank == root;
  return Issue("ncclBroadcast", c, Kind::Broadcast, sb, isRoot ? n : 0, rb, n, n, dt, 0, root, s);
}
int Reduce(const void* sb, void* rb, size_t n, int dt, int op, int root, void* c, Stream s) {
  auto comm = Find(c);
  bool isRoot = comm && comm->rank == root;
  // Every rank's recvbuff gets the result of the transport's reduce; NCCL needs it on the root only,
  // and the transport writes it only there.
  return Issue("ncclReduce", c, Kind::Reduce, sb, n, rb, isRoot ? n : 0, n, dt, op, root, s);
}
int AllGather(const void* sb, void* rb, size_t n, int dt, void* c, Stream s) {
  auto comm = Find(c);
  size_t world = comm ? static_cast<size_t>(comm->size) : 1;
  return Issue("ncclAllGather", c, Kind::AllGather, sb, n, rb, n * world, n, dt, 0, 0, s);
}
int ReduceScatter(const void* sb, void* rb, size_t n, int dt, int op, void* c, Stream s) {
  auto comm = Find(c);
  size_t world = comm ? static_cast<size_t>(comm->size) : 1;
  return Issue("ncclReduceScatter", c, Kind::ReduceScatter, sb, n * world, rb, n, n, dt, op, 0, s);
}
int Send(const void* b, size_t n, int dt, int peer, void* c, Stream s) {
  return Issue("ncclSend", c, Kind::Send, b, n, nullptr, 0, n, dt, 0, peer, s);
}
int Recv(void* b, size_t n, int dt, int peer, void* c, Stream s) {
  return Issue("ncclRecv", c, Kind::Recv, nullptr, 0, b, n, n, dt, 0, peer, s);
}

int GroupStart() {
  if (tDepth == 0) tGroupError = kOk;
  tDepth++;
  return kOk;
}

int GroupEnd() {
  if (tDepth == 0) return Err(kInvalidUsage, "ncclGroupEnd without a matching ncclGroupStart");
  if (--tDepth > 0) return kOk;
  std::vector<GroupOp> ops;
  ops.swap(tOps);
  if (tGroupError != kOk) return tGroupError;  // a call of the group failed: nothing is launched
  std::vector<std::shared_ptr<Comm>> order;
  for (GroupOp& g : ops)
    if (std::find(order.begin(), order.end(), g.comm) == order.end()) order.push_back(g.comm);
  for (auto& c : order)
    if (c->blocking != order[0]->blocking)
      return Err(kInvalidUsage, "Blocking and nonblocking communicators are not allowed in the same group.");
  int r = kOk;
  for (auto& c : order) {
    std::vector<std::pair<StreamImpl*, QueuedOp>> mine;
    for (GroupOp& g : ops)
      if (g.comm == c) mine.push_back({g.stream, g.op});
    if (Launch(c, std::move(mine)) == kInProgress) r = kInProgress;
  }
  return r;
}

int GetAsyncError(void* h, int* state) {
  auto c = Find(h);
  if (!c || !state) return Err(kInvalidArgument, "ncclCommGetAsyncError: not a live communicator");
  std::lock_guard<std::mutex> lock(c->mu);
  *state = c->state;
  if (c->state != kOk && c->state != kInProgress) tLastError = c->lastError;
  return kOk;
}

void Forget(Comm* c) {
  std::lock_guard<std::mutex> lock(Reg().mu);
  Reg().live.erase(c);
}

int Abort(void* h) {
  auto c = Find(h);
  if (!c) return Err(kInvalidArgument, "ncclCommAbort: not a live communicator");
  Forget(c.get());
  std::lock_guard<std::mutex> lock(c->mu);
  c->aborted = true;
  if (c->transport) c->transport->Abort("ncclCommAbort was called");
  c->cv.notify_all();
  c->launchCv.notify_all();
  return kOk;
}

// Waits until every job issued on c has run (or c is aborted). Caller holds lock.
void Quiesce(Comm& c, std::unique_lock<std::mutex>& lock) {
  c.cv.wait(lock, [&] { return (c.ran >= c.issued && !c.launching) || c.aborted; });
}

int Finalize(void* h) {
  auto c = Find(h);
  if (!c) return Err(kInvalidArgument, "ncclCommFinalize: not a live communicator");
  std::unique_lock<std::mutex> lock(c->mu);
  if (c->blocking) {
    Quiesce(*c, lock);
    return c->state == kInProgress ? kOk : c->state;
  }
  if (c->state != kOk) return c->state;
  c->state = kInProgress;
  std::weak_ptr<Comm> weak = c;
  std::thread([weak] {
    auto c = weak.lock();
    if (!c) return;
    std::unique_lock<std::mutex> lock(c->mu);
    Quiesce(*c, lock);
    if (c->state == kInProgress) c->state = kOk;
  }).detach();
  return kInProgress;
}

int Destroy(void* h) {
  auto c = Find(h);
  if (!c) return Err(kInvalidArgument, "ncclCommDestroy: not a live communicator");
  {
    std::unique_lock<std::mutex> lock(c->mu);
    Quiesce(*c, lock);
    c->destroyed = true;
    c->launchCv.notify_all();
  }
  Forget(c.get());
  if (c->transport && c->ready) c->transport->Leave();
  return kOk;
}

const char* GetLastError(void*) { return tLastError.c_str(); }

int GetVersion(int* v) {
  if (!v) return kInvalidArgument;
  *v = kVersion;
  return kOk;
}

void* Lookup(const char* name) {
  static const std::unordered_map<std::string, void*> table = {
      {"ncclGetVersion", reinterpret_cast<void*>(&GetVersion)},
      {"ncclGetUniqueId", reinterpret_cast<void*>(&GetUniqueId)},
      {"ncclCommInitRank", reinterpret_cast<void*>(&InitRank)},
      {"ncclCommInitRankConfig", reinterpret_cast<void*>(&InitRankConfig)},
      {"ncclCommInitAll", reinterpret_cast<void*>(&InitAll)},
      {"ncclCommGetAsyncError", reinterpret_cast<void*>(&GetAsyncError)},
      {"ncclCommAbort", reinterpret_cast<void*>(&Abort)},
      {"ncclCommFinalize", reinterpret_cast<void*>(&Finalize)},
      {"ncclCommDestroy", reinterpret_cast<void*>(&Destroy)},
      {"ncclGetLastError", reinterpret_cast<void*>(&GetLastError)},
      {"ncclAllReduce", reinterpret_cast<void*>(&AllReduce)},
      {"ncclBroadcast", reinterpret_cast<void*>(&Broadcast)},
      {"ncclReduce", reinterpret_cast<void*>(&Reduce)},
      {"ncclAllGather", reinterpret_cast<void*>(&AllGather)},
      {"ncclReduceScatter", reinterpret_cast<void*>(&ReduceScatter)},
      {"ncclSend", reinterpret_cast<void*>(&Send)},
      {"ncclRecv", reinterpret_cast<void*>(&Recv)},
      {"ncclGroupStart", reinterpret_cast<void*>(&GroupStart)},
      {"ncclGroupEnd", reinterpret_cast<void*>(&GroupEnd)},
  };
  auto it = table.find(name);
  return it == table.end() ? nullptr : it->second;
}

}  // namespace

const SymbolTable& Nccl() {
  static const SymbolTable t{"(simulated NCCL, node-nccl, on the cpu backend's shared-memory transport)", kVersion,
                             "2.30.7", &Lookup};
  return t;
}

}  // namespace sim
}  // namespace dev
}  // namespace nn
