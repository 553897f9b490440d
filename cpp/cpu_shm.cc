#include "cpu_shm.h"

#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <new>
#include <sstream>
#include <thread>

namespace nn {
namespace cpucomm {

namespace {
constexpr uint64_t kMagic = 0x75706c63636e6e31ULL;  // "1nnccl.cpu"
constexpr uint32_t kVersion = 1;
constexpr size_t kSmallBytes = 32 << 10;  // all-reduce/reduce: every rank reduces everything below this
constexpr auto kLivenessEvery = std::chrono::milliseconds(20);

// Thrown by a wait in TryRun when the budget is spent; the op resumes in Run.
struct WouldBlock {};


size_t RoundUp(size_t x, size_t a) { return (x + a - 1) / a * a; }

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

void FutexWait(std::atomic<uint32_t>* addr, uint32_t expected, long nanos) {
  struct timespec ts {0, nanos};
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(addr), FUTEX_WAIT, expected, &ts, nullptr, 0);
}
void FutexWakeAll(std::atomic<uint32_t>* addr) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(addr), FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

// A process that no longer exists, or a zombie that has not been reaped yet.
bool ProcessGone(int pid) {
  if (pid <= 0) return false;
  if (kill(pid, 0) != 0 && errno == ESRCH) return true;
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s;
  if (!std::getline(f, s)) return false;
  size_t p = s.rfind(')');
  return p != std::string::npos && p + 2 < s.size() && (s[p + 2] == 'Z' || s[p + 2] == 'X');
}


}  // namespace

// ---- shared layout ------------------------------------------------------------------------

struct Header {
  std::atomic<uint64_t> magic;  // set last by the creator (release)
  uint32_t version;
  uint32_t size;
  uint64_t slotBytes;
  uint64_t chanBytes;
  uint64_t totalBytes;
  std::atomic<uint32_t> attached;
  std::atomic<uint32_t> abortClaim;  // the first failing rank claims the message
  std::atomic<uint32_t> abortCode;   // AbortCode, published after the message (release)
  int32_t abortRank;                 // the rank that failed or was not heard from (-1: none)
  int32_t abortBy;                   // the rank that noticed
  char abortMsg[768];
};

struct Desc {
  uint64_t seq;
  uint32_t kind, dtype, op;
  int32_t root;
  int64_t count;
};

enum RankState : uint32_t { kAbsent = 0, kAttached = 1, kLeft = 2 };

struct alignas(64) RankCtl {
  std::atomic<uint32_t> arrive;    // the last phase this rank arrived at; also the futex word
  std::atomic<uint32_t> sleepers;  // peers sleeping on `arrive`
  std::atomic<int32_t> pid;
  std::atomic<uint32_t> state;     // RankState
  Desc desc[2];                    // by phase parity
  // followed by int64 counts[2][2 * size] (all-to-all splits: send then recv), by phase parity
};

struct ChanHdr {
  int64_t total;  // bytes of the whole message
  int64_t tag;
  int64_t bytes;  // bytes in this chunk
  uint32_t dtype;
  uint32_t pad;
};

struct alignas(64) Chan {
  std::atomic<uint32_t> sent;   // chunks written by the sender
  char pad0[60];
  std::atomic<uint32_t> acked;  // chunks consumed by the receiver
  char pad1[60];
  ChanHdr hdr[2];
};

namespace {
std::string DescribeDesc(const Desc& d) { return DescribeCall(d.kind, d.dtype, d.op, d.root, d.count); }
}  // namespace

// ---- engine -------------------------------------------------------------------------------

ShmTransport::ShmTransport(Config cfg) : cfg_(std::move(cfg)) {
  if (cfg_.size < 1 || cfg_.rank < 0 || cfg_.rank >= cfg_.size)
    Throw(code::kInvalidArg, "cpu communicator: rank " + std::to_string(cfg_.rank) + " is not in [0, " +
                                 std::to_string(cfg_.size) + ")");
  cfg_.slotBytes = std::max<size_t>(RoundUp(cfg_.slotBytes, 4096), 4096);
  if (cfg_.size > 8) cfg_.chanBytes = std::min<size_t>(cfg_.chanBytes, 64 << 10);
  cfg_.chanBytes = std::max<size_t>(RoundUp(cfg_.chanBytes, 4096), 4096);
  size_t n = static_cast<size_t>(cfg_.size);
  ctlOff_ = RoundUp(sizeof(Header), 64);
  ctlStride_ = RoundUp(sizeof(RankCtl) + 2 * 2 * n * sizeof(int64_t), 64);
  dataOff_ = RoundUp(ctlOff_ + n * ctlStride_, 4096);
  chanOff_ = dataOff_ + n * 2 * cfg_.slotBytes;
  chanStride_ = RoundUp(sizeof(Chan), 4096) + 2 * cfg_.chanBytes;
  for (int r = 0; r < cfg_.size; r++)
    if (r != cfg_.rank) peers_.push_back(r);
}

ShmTransport::~ShmTransport() {
  if (hdr_) Leave();
}

RankCtl* ShmTransport::Ctl(int r) const {
  return reinterpret_cast<RankCtl*>(static_cast<uint8_t*>(seg_.base()) + ctlOff_ + static_cast<size_t>(r) * ctlStride_);
}
int64_t* ShmTransport::Counts(int r, uint32_t phase) const {
  return reinterpret_cast<int64_t*>(reinterpret_cast<uint8_t*>(Ctl(r)) + sizeof(RankCtl)) +
         (phase & 1) * 2 * static_cast<size_t>(cfg_.size);
}
uint8_t* ShmTransport::Buf(int r, uint32_t phase) const {
  return static_cast<uint8_t*>(seg_.base()) + dataOff_ + (static_cast<size_t>(r) * 2 + (phase & 1)) * cfg_.slotBytes;
}
Chan* ShmTransport::Channel(int src, int dst) const {
  return reinterpret_cast<Chan*>(static_cast<uint8_t*>(seg_.base()) + chanOff_ +
                                 (static_cast<size_t>(src) * cfg_.size + dst) * chanStride_);
}
uint8_t* ShmTransport::ChanBuf(int src, int dst, uint32_t slot) const {
  return reinterpret_cast<uint8_t*>(Channel(src, dst)) + RoundUp(sizeof(Chan), 4096) + (slot & 1) * cfg_.chanBytes;
}

std::string ShmTransport::brokenReason() const {
  while (reasonLock_.exchange(1, std::memory_order_acquire)) CpuRelax();
  std::string r = brokenReason_;
  reasonLock_.store(0, std::memory_order_release);
  return r;
}

void ShmTransport::Connect() {
  using clock = std::chrono::steady_clock;
  const size_t n = static_cast<size_t>(cfg_.size);
  const size_t total = chanOff_ + n * n * chanStride_;
  auto deadline = clock::now() + std::chrono::milliseconds(cfg_.timeoutMs);
  const std::string where = "cpu backend setup (rank " + std::to_string(cfg_.rank) + " of " + std::to_string(cfg_.size) +
                            ", shared memory " + cfg_.name + ")";
  if (cfg_.rank == 0) {
    seg_ = ShmSegment::Create(cfg_.name, total);
    auto* h = new (seg_.base()) Header();
    h->version = kVersion;
    h->size = static_cast<uint32_t>(n);
    h->slotBytes = cfg_.slotBytes;
    h->chanBytes = cfg_.chanBytes;
    h->totalBytes = total;
    h->abortRank = -1;
    h->abortBy = -1;
    for (int r = 0; r < cfg_.size; r++) new (Ctl(r)) RankCtl();
    for (int s = 0; s < cfg_.size; s++)
      for (int d = 0; d < cfg_.size; d++) new (Channel(s, d)) Chan();
    h->magic.store(kMagic, std::memory_order_release);
  } else {
    for (int i = 0;; i++) {
      seg_ = ShmSegment::TryOpen(cfg_.name, sizeof(Header));
      if (seg_.ok() && reinterpret_cast<Header*>(seg_.base())->magic.load(std::memory_order_acquire) == kMagic) break;
      seg_.Reset();
      if (localAbort_.load()) Throw(code::kDistAborted, where + ": aborted");
      if (clock::now() > deadline)
        Throw(code::kDistTimeout, where + ": rank 0 did not create the segment within " + std::to_string(cfg_.timeoutMs) +
                                      " ms (ranks not heard from: 0)");
      std::this_thread::sleep_for(std::chrono::microseconds(i < 100 ? 200 : 2000));
    }
    auto* h = reinterpret_cast<Header*>(seg_.base());
    if (h->version != kVersion || h->size != n || h->slotBytes != cfg_.slotBytes || h->chanBytes != cfg_.chanBytes ||
        h->totalBytes != total)
      Throw(code::kDistMismatch, where + ": rank 0 set the group up with world size " + std::to_string(h->size) +
                                     ", slot " + std::to_string(h->slotBytes) + " B, channel " +
                                     std::to_string(h->chanBytes) + " B; this rank expected world size " +
                                     std::to_string(n) + ", slot " + std::to_string(cfg_.slotBytes) + " B, channel " +
                                     std::to_string(cfg_.chanBytes) + " B");
    seg_.Reset();
    for (;;) {
      seg_ = ShmSegment::TryOpen(cfg_.name, total);
      if (seg_.ok()) break;
      if (clock::now() > deadline) Throw(code::kDistTimeout, where + ": the segment vanished before it was mapped");
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
  }
  hdr_ = reinterpret_cast<Header*>(seg_.base());
  RankCtl* me = Ctl(cfg_.rank);
  if (me->state.load() != kAbsent) {
    hdr_ = nullptr;
    Throw(code::kDistMismatch, where + ": another process already joined as rank " + std::to_string(cfg_.rank));
  }
  me->pid.store(static_cast<int32_t>(getpid()));
  me->state.store(kAttached, std::memory_order_release);
  hdr_->attached.fetch_add(1);
  for (int i = 0; hdr_->attached.load(std::memory_order_acquire) < n; i++) {
    std::vector<int> missing;
    for (int r = 0; r < cfg_.size; r++) {
      uint32_t st = Ctl(r)->state.load(std::memory_order_acquire);
      if (st == kAbsent) missing.push_back(r);
      if (st == kLeft || (st == kAttached && ProcessGone(Ctl(r)->pid.load()))) {
        ShmSegment::Unlink(cfg_.name);
        Throw(code::kDistPeer, where + ": rank " + std::to_string(r) + " exited during setup");
      }
    }
    if (localAbort_.load()) {
      ShmSegment::Unlink(cfg_.name);
      Throw(code::kDistAborted, where + ": aborted");
    }
    if (clock::now() > deadline) {
      ShmSegment::Unlink(cfg_.name);
      Throw(code::kDistTimeout, where + ": timed out after " + std::to_string(cfg_.timeoutMs) +
                                    " ms waiting for rank(s) " + RankList(missing) + " to join");
    }
    std::this_thread::sleep_for(std::chrono::microseconds(i < 100 ? 200 : 2000));
  }
  ShmSegment::Unlink(cfg_.name);  // every rank has it mapped: nothing is left behind in /dev/shm
  lastLiveness_ = clock::now();
}

void ShmTransport::Abort(const std::string& why) {
  while (reasonLock_.exchange(1, std::memory_order_acquire)) CpuRelax();
  if (abortWhy_.empty()) abortWhy_ = why;
  reasonLock_.store(0, std::memory_order_release);
  localAbort_.store(true, std::memory_order_release);
}

void ShmTransport::Leave() {
  if (!hdr_) return;
  RankCtl* me = Ctl(cfg_.rank);
  me->state.store(kLeft, std::memory_order_release);
  FutexWakeAll(&me->arrive);  // a peer sleeping on us re-checks at once
  hdr_ = nullptr;
  seg_.Reset();
}

std::string ShmTransport::OpLabel() const {
  std::string s = cur_ ? KindName(cur_->kind) : "operation";
  if (cur_ && (cur_->kind == Kind::Send || cur_->kind == Kind::Recv))
    s += std::string(cur_->kind == Kind::Send ? " to" : " from") + " rank " + std::to_string(cur_->root);
  bool p2p = cur_ && (cur_->kind == Kind::Send || cur_->kind == Kind::Recv);
  s += std::string(p2p ? " (p2p #" : " (seq ") + std::to_string(cur_ ? cur_->seq : seq_) + ", rank " + std::to_string(cfg_.rank) + " of " +
       std::to_string(cfg_.size) + ")";
  return s;
}

void ShmTransport::Fail(const char* errCode, const std::string& msg, int failedRank) {
  uint32_t ac = AbortCodeOf(errCode);
  if (ac == kPeer) MarkDead(failedRank);
  if (ac != kNone && hdr_ && hdr_->abortClaim.exchange(1) == 0) {
    hdr_->abortRank = failedRank;
    hdr_->abortBy = cfg_.rank;
    std::snprintf(hdr_->abortMsg, sizeof hdr_->abortMsg, "%s", msg.c_str());
    hdr_->abortCode.store(ac, std::memory_order_release);
    for (int r = 0; r < cfg_.size; r++) FutexWakeAll(&Ctl(r)->arrive);
  }
  while (reasonLock_.exchange(1, std::memory_order_acquire)) CpuRelax();
  if (brokenReason_.empty()) brokenReason_ = msg;
  reasonLock_.store(0, std::memory_order_release);
  broken_.store(true, std::memory_order_release);
  throw NativeError(errCode, msg);
}

void ShmTransport::CheckUsable(const Op& op) {
  if (broken_.load(std::memory_order_acquire))
    throw NativeError(code::kDistAborted, std::string(KindName(op.kind)) +
                                              ": the communicator was aborted after an earlier failure: " + brokenReason());
  if (localAbort_.load(std::memory_order_acquire)) {
    broken_.store(true);
    throw NativeError(code::kDistAborted, std::string(KindName(op.kind)) + ": the communicator was aborted: " + abortWhy_);
  }
  if (!hdr_) throw NativeError(code::kDistAborted, std::string(KindName(op.kind)) + ": the communicator is not connected");
}

bool ShmTransport::Reached(int r, uint32_t target) const {
  return static_cast<int32_t>(Ctl(r)->arrive.load(std::memory_order_acquire) - target) >= 0;
}

void ShmTransport::CheckWaiting(const std::vector<int>& ranks, const std::vector<int>& missing) {
  using clock = std::chrono::steady_clock;
  if (localAbort_.load(std::memory_order_acquire)) {
    broken_.store(true);
    throw NativeError(code::kDistAborted, OpLabel() + ": aborted: " + abortWhy_);
  }
  uint32_t ac = hdr_->abortCode.load(std::memory_order_acquire);
  if (ac != kNone) {
    std::string msg = OpLabel() + ": failed because rank " + std::to_string(hdr_->abortBy) + " reported: " +
                      std::string(hdr_->abortMsg, strnlen(hdr_->abortMsg, sizeof hdr_->abortMsg));
    Fail(CodeFor(ac), msg, hdr_->abortRank);
  }
  auto now = clock::now();
  if (now - lastLiveness_ >= kLivenessEvery) {
    lastLiveness_ = now;
    for (int r : ranks) {
      RankCtl* c = Ctl(r);
      if (c->state.load(std::memory_order_acquire) == kLeft)
        Fail(code::kDistPeer, OpLabel() + ": rank " + std::to_string(r) +
                                  " left the group (destroyed its communicator or exited) before completing it", r);
      int pid = c->pid.load();
      if (ProcessGone(pid))
        Fail(code::kDistPeer, OpLabel() + ": rank " + std::to_string(r) + " (pid " + std::to_string(pid) +
                                  ") died before completing it", r);
    }
  }
  if (now > deadline_)
    Fail(code::kDistTimeout, OpLabel() + ": timed out after " + std::to_string(cfg_.timeoutMs) +
                                 " ms waiting for rank(s) " + RankList(missing),
         missing.empty() ? -1 : missing[0]);
}

void ShmTransport::SleepOn(std::atomic<uint32_t>* word, uint32_t seen, std::atomic<uint32_t>* sleepers) {
  sleepers->fetch_add(1);
  if (word->load() == seen) FutexWait(word, seen, 1000000);  // 1 ms slices: faults are noticed promptly
  sleepers->fetch_sub(1);
}

void ShmTransport::WaitRanks(const std::vector<int>& ranks, uint32_t target) {
  using clock = std::chrono::steady_clock;
  clock::time_point t0;
  const auto spin = std::chrono::microseconds(cfg_.spinUs);
  std::vector<int> missing;
  for (uint64_t iter = 0;; iter++) {
    missing.clear();
    for (int r : ranks)
      if (!Reached(r, target)) missing.push_back(r);
    if (missing.empty()) return;
    if (iter < 64) {
      CpuRelax();
      continue;
    }
    auto now = clock::now();
    if (iter == 64) t0 = now;
    if (trying_ && (now >= tryUntil_ || now - t0 >= spin)) throw WouldBlock{};
    if (now - t0 < spin) {
      if ((iter & 15) == 0) sched_yield(); else CpuRelax();
      continue;
    }
    CheckWaiting(ranks, missing);
    RankCtl* c = Ctl(missing[0]);
    uint32_t seen = c->arrive.load(std::memory_order_acquire);
    if (static_cast<int32_t>(seen - target) < 0) SleepOn(&c->arrive, seen, &c->sleepers);
  }
}

void ShmTransport::WaitAllPeers(uint32_t target) { WaitRanks(peers_, target); }

void ShmTransport::BeginWrite() { WaitAllPeers(phase_); }

void ShmTransport::Arrive() {
  phase_++;
  RankCtl* me = Ctl(cfg_.rank);
  me->arrive.store(phase_, std::memory_order_seq_cst);
  if (me->sleepers.load(std::memory_order_seq_cst) > 0) FutexWakeAll(&me->arrive);
}

void ShmTransport::PublishDesc(const Op& op) {
  Desc& d = Ctl(cfg_.rank)->desc[(phase_ + 1) & 1];
  d.seq = op.seq;
  d.kind = static_cast<uint32_t>(op.kind);
  d.dtype = static_cast<uint32_t>(op.dtype);
  d.op = static_cast<uint32_t>(op.op);
  d.root = op.root;
  d.count = op.count;
  if (op.kind == Kind::AllToAll) {
    int64_t* c = Counts(cfg_.rank, phase_ + 1);
    for (int r = 0; r < cfg_.size; r++) {
      c[r] = op.sendCounts[r];
      c[cfg_.size + r] = op.recvCounts[r];
    }
  }
}

void ShmTransport::CheckDescs(const Op& op) {
  const Desc& mine = Ctl(cfg_.rank)->desc[phase_ & 1];
  bool reduces = op.kind == Kind::AllReduce || op.kind == Kind::Reduce || op.kind == Kind::ReduceScatter;
  bool rooted = op.kind == Kind::Broadcast || op.kind == Kind::Reduce || op.kind == Kind::Gather || op.kind == Kind::Scatter;
  std::vector<int> bad;
  for (int r : peers_) {
    const Desc& d = Ctl(r)->desc[phase_ & 1];
    bool same = d.seq == mine.seq && d.kind == mine.kind && d.dtype == mine.dtype &&
                (op.kind == Kind::AllToAll || d.count == mine.count) && (!reduces || d.op == mine.op) &&
                (!rooted || d.root == mine.root);
    if (!same) bad.push_back(r);
  }
  std::string detail;
  if (!bad.empty()) {
    detail = "rank " + std::to_string(cfg_.rank) + " called " + DescribeDesc(mine) + " as op #" + std::to_string(mine.seq);
    for (int r : bad) {
      const Desc& d = Ctl(r)->desc[phase_ & 1];
      detail += "; rank " + std::to_string(r) + " called " + DescribeDesc(d) + " as op #" + std::to_string(d.seq);
    }
  } else if (op.kind == Kind::AllToAll) {
    for (int i = 0; i < cfg_.size && detail.empty(); i++) {
      const int64_t* ci = Counts(i, phase_);
      for (int j = 0; j < cfg_.size; j++) {
        int64_t sends = ci[j], expects = Counts(j, phase_)[cfg_.size + i];
        if (sends != expects) {
          detail = "rank " + std::to_string(i) + " sends " + std::to_string(sends) + " element(s) to rank " +
                   std::to_string(j) + ", which expects " + std::to_string(expects) + " from it";
          bad.push_back(i == cfg_.rank ? j : i);
          break;
        }
      }
    }
  }
  if (!detail.empty())
    Fail(code::kDistMismatch, OpLabel() + ": the ranks' calls do not match: " + detail, bad.empty() ? -1 : bad[0]);
}

// ---- collectives --------------------------------------------------------------------------

void ShmTransport::Start(Op& op) {
  CheckUsable(op);
  op.seq = ++seq_;
  deadline_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(cfg_.timeoutMs);
}

// Ops of one phase whose data fits the small-message path: their only waits are before writing
// (nothing done yet) and after arriving (stage 1), so a TryRun that gives up can be resumed.
bool ShmTransport::Direct(const Op& op) const {
  const size_t bytes = static_cast<size_t>(op.count) * DTypeSize(op.dtype);
  const bool small = bytes <= kSmallBytes && bytes <= cfg_.slotBytes;
  switch (op.kind) {
    case Kind::Barrier: return true;
    case Kind::AllReduce: case Kind::Reduce: case Kind::Broadcast: case Kind::AllGather: return small;
    default: return false;
  }
}

bool ShmTransport::TryRun(Op& op, int64_t budgetUs) {
  if (!Direct(op) || op.seq != 0) return false;
  Start(op);
  trying_ = true;
  tryUntil_ = std::chrono::steady_clock::now() + std::chrono::microseconds(budgetUs);
  struct Untry {
    bool& t;
    ~Untry() { t = false; }
  } untry{trying_};
  try {
    Run(op);
    return true;
  } catch (const WouldBlock&) {
    return false;
  }
}

void ShmTransport::Run(Op& op) {
  if (op.seq == 0) Start(op);  // else: resuming an op a TryRun started
  else CheckUsable(op);
  cur_ = &op;
  struct Clear {
    const Op*& p;
    ~Clear() { p = nullptr; }
  } clear{cur_};
  if (cfg_.size == 1) return RunAlone(op);
  switch (op.kind) {
    case Kind::Barrier: return Barrier(op);
    case Kind::AllReduce: return AllReduce(op);
    case Kind::Broadcast: return Broadcast(op);
    case Kind::Reduce: return Reduce(op);
    case Kind::AllGather: return AllGather(op);
    case Kind::ReduceScatter: return ReduceScatter(op);
    case Kind::Gather: return Gather(op);
    case Kind::Scatter: return Scatter(op);
    case Kind::AllToAll: return AllToAll(op);
    case Kind::Send: case Kind::Recv:
      Throw(code::kInternal, "send/recv must go through RunP2P");
  }
}

void ShmTransport::Barrier(Op& op) {
  if (op.stage == 0) {
    BeginWrite();
    PublishDesc(op);
    Arrive();
    op.stage = 1;
  }
  WaitAllPeers(phase_);
  CheckDescs(op);
}

void ShmTransport::AllReduce(Op& op) { ReduceSmall(op, true); }

void ShmTransport::Reduce(Op& op) { ReduceSmall(op, false); }

// Messages that fit one slot: every rank publishes its input, then every rank (all) or the root
// alone reduces the whole vector from all slots. Larger ones go through ReduceLarge.
void ShmTransport::ReduceSmall(Op& op, bool all) {
  const size_t es = DTypeSize(op.dtype);
  const size_t bytes = static_cast<size_t>(op.count) * es;
  if (bytes > kSmallBytes || bytes > cfg_.slotBytes) return ReduceLarge(op, all);
  if (op.stage == 0) {
    BeginWrite();
    PublishDesc(op);
    std::memcpy(Buf(cfg_.rank, phase_ + 1), op.send, bytes);
    Arrive();
    op.stage = 1;
  }
  WaitAllPeers(phase_);
  CheckDescs(op);
  if (!all && cfg_.rank != op.root) return;
  std::vector<const void*> in(cfg_.size);
  for (int r = 0; r < cfg_.size; r++) in[r] = Buf(r, phase_);
  ReduceN(op.dtype, op.op, op.recv, in.data(), cfg_.size, static_cast<size_t>(op.count), cfg_.size);
}

// Reduce-scatter then all-gather through the slots, one chunk of slotBytes at a time: in phase A
// every rank copies in the slices of its chunk that the others reduce; in phase B rank r reduces
// slice r from its own input and the others' slots (in rank order) into its other buffer; then
// every rank (or only the root) copies the reduced slices out. Each byte crosses between
// processes once each way: the shared-memory form of ring reduce-scatter + all-gather, with no
// dependence on the number of ranks.
void ShmTransport::ReduceLarge(Op& op, bool all) {
  const size_t es = DTypeSize(op.dtype);
  const int n = cfg_.size, me = cfg_.rank;
  const size_t count = static_cast<size_t>(op.count);
  const size_t chunkElems = cfg_.slotBytes / es;
  std::vector<const void*> in(n);
  auto sliceBeg = [&](size_t m, int j) { return m * static_cast<size_t>(j) / static_cast<size_t>(n); };
  bool first = true;
  for (size_t off = 0; first || off < count;) {
    const size_t m = std::min(chunkElems, count - off);
    BeginWrite();
    if (first) PublishDesc(op);
    for (int j = 0; j < n; j++) {  // the slices the others reduce; this rank reads its own in place
      if (j == me) continue;
      const size_t a = sliceBeg(m, j), b = sliceBeg(m, j + 1);
      std::memcpy(Buf(me, phase_ + 1) + a * es, op.send + (off + a) * es, (b - a) * es);
    }
    Arrive();
    WaitAllPeers(phase_);
    if (first) CheckDescs(op);
    first = false;
    const uint32_t pa = phase_;
    const size_t lo = sliceBeg(m, me), hi = sliceBeg(m, me + 1);
    for (int r = 0; r < n; r++) in[r] = (r == me ? op.send + off * es : Buf(r, pa)) + lo * es;
    BeginWrite();
    ReduceN(op.dtype, op.op, Buf(me, pa + 1) + lo * es, in.data(), n, hi - lo, n);
    Arrive();
    if (all || me == op.root) {
      WaitAllPeers(phase_);
      for (int r = 0; r < n; r++) {
        size_t a = sliceBeg(m, r), b = sliceBeg(m, r + 1);
        std::memcpy(op.recv + (off + a) * es, Buf(r, phase_) + a * es, (b - a) * es);
      }
    }
    off += m;
  }
}

void ShmTransport::Broadcast(Op& op) {
  const size_t total = static_cast<size_t>(op.count) * DTypeSize(op.dtype);
  const bool writer = cfg_.rank == op.root;
  bool first = true;
  for (size_t off = 0; first || off < total;) {
    const size_t len = std::min(cfg_.slotBytes, total - off);
    if (!first || op.stage == 0) {  // stage 1: a TryRun already arrived with the first chunk
      if (writer || first) BeginWrite();
      if (first) PublishDesc(op);
      if (writer) std::memcpy(Buf(cfg_.rank, phase_ + 1), op.send + off, len);
      Arrive();
      op.stage = 1;
    }
    if (first) {
      WaitAllPeers(phase_);
      CheckDescs(op);
    } else if (!writer) {
      WaitPeer(op.root, phase_);
    }
    first = false;
    if (!writer) std::memcpy(op.recv + off, Buf(op.root, phase_), len);
    else if (op.recv != op.send) std::memcpy(op.recv + off, op.send + off, len);
    off += len;
  }
}

void ShmTransport::AllGather(Op& op) {
  const size_t total = static_cast<size_t>(op.count) * DTypeSize(op.dtype);
  bool first = true;
  for (size_t off = 0; first || off < total;) {
    const size_t len = std::min(cfg_.slotBytes, total - off);
    if (!first || op.stage == 0) {  // stage 1: a TryRun already arrived with the first chunk
      BeginWrite();
      if (first) PublishDesc(op);
      std::memcpy(Buf(cfg_.rank, phase_ + 1), op.send + off, len);
      Arrive();
      op.stage = 1;
    }
    WaitAllPeers(phase_);
    if (first) CheckDescs(op);
    first = false;
    for (int r = 0; r < cfg_.size; r++) std::memcpy(op.recv + r * total + off, Buf(r, phase_), len);
    off += len;
  }
}

namespace {
// Bytes per destination piece when a slot is split n ways (a multiple of 64 and of es).
size_t PieceBytes(size_t slot, int n, size_t es) {
  size_t p = slot / static_cast<size_t>(n) / 64 * 64;
  if (p < 64) p = slot / static_cast<size_t>(n) / es * es;
  return p;
}
}  // namespace

void ShmTransport::ReduceScatter(Op& op) {
  const size_t es = DTypeSize(op.dtype);
  const int n = cfg_.size, me = cfg_.rank;
  const size_t count = static_cast<size_t>(op.count);
  const size_t piece = PieceBytes(cfg_.slotBytes, n, es), pieceElems = piece / es;
  std::vector<const void*> in(n);
  bool first = true;
  for (size_t off = 0; first || off < count;) {
    const size_t m = std::min(pieceElems, count - off);
    BeginWrite();
    if (first) PublishDesc(op);
    uint8_t* mine = Buf(me, phase_ + 1);
    for (int r = 0; r < n; r++) std::memcpy(mine + r * piece, op.send + (r * count + off) * es, m * es);
    Arrive();
    WaitAllPeers(phase_);
    if (first) CheckDescs(op);
    first = false;
    for (int r = 0; r < n; r++) in[r] = Buf(r, phase_) + me * piece;
    ReduceN(op.dtype, op.op, op.recv + off * es, in.data(), n, m, n);
    off += m;
  }
}

void ShmTransport::Gather(Op& op) {
  const size_t total = static_cast<size_t>(op.count) * DTypeSize(op.dtype);
  const bool root = cfg_.rank == op.root;
  bool first = true;
  for (size_t off = 0; first || off < total;) {
    const size_t len = std::min(cfg_.slotBytes, total - off);
    BeginWrite();
    if (first) PublishDesc(op);
    std::memcpy(Buf(cfg_.rank, phase_ + 1), op.send + off, len);
    Arrive();
    if (first || root) WaitAllPeers(phase_);
    if (first) CheckDescs(op);
    first = false;
    if (root)
      for (int r = 0; r < cfg_.size; r++) std::memcpy(op.recv + r * total + off, Buf(r, phase_), len);
    off += len;
  }
}

void ShmTransport::Scatter(Op& op) {
  const size_t es = DTypeSize(op.dtype);
  const size_t total = static_cast<size_t>(op.count) * es;
  const size_t piece = PieceBytes(cfg_.slotBytes, cfg_.size, es);
  const bool writer = cfg_.rank == op.root;
  bool first = true;
  for (size_t off = 0; first || off < total;) {
    const size_t len = std::min(piece, total - off);
    if (writer || first) BeginWrite();
    if (first) PublishDesc(op);
    if (writer)
      for (int r = 0; r < cfg_.size; r++) std::memcpy(Buf(cfg_.rank, phase_ + 1) + r * piece, op.send + r * total + off, len);
    Arrive();
    if (first) {
      WaitAllPeers(phase_);
      CheckDescs(op);
    } else if (!writer) {
      WaitPeer(op.root, phase_);
    }
    first = false;
    std::memcpy(op.recv + off, Buf(op.root, phase_) + cfg_.rank * piece, len);
    off += len;
  }
}

void ShmTransport::AllToAll(Op& op) {
  const size_t es = DTypeSize(op.dtype);
  const int n = cfg_.size, me = cfg_.rank;
  const size_t piece = PieceBytes(cfg_.slotBytes, n, es);
  std::vector<size_t> sOff(n), rOff(n);
  for (int r = 1; r < n; r++) {
    sOff[r] = sOff[r - 1] + static_cast<size_t>(op.sendCounts[r - 1]) * es;
    rOff[r] = rOff[r - 1] + static_cast<size_t>(op.recvCounts[r - 1]) * es;
  }
  size_t rounds = 1;
  for (size_t k = 0; k < rounds; k++) {
    const size_t lo = k * piece;
    BeginWrite();
    if (k == 0) PublishDesc(op);
    uint8_t* mine = Buf(me, phase_ + 1);
    for (int r = 0; r < n; r++) {
      size_t b = static_cast<size_t>(op.sendCounts[r]) * es;
      if (lo < b) std::memcpy(mine + r * piece, op.send + sOff[r] + lo, std::min(piece, b - lo));
    }
    Arrive();
    WaitAllPeers(phase_);
    if (k == 0) {
      CheckDescs(op);
      for (int i = 0; i < n; i++) {
        const int64_t* c = Counts(i, phase_);
        for (int j = 0; j < n; j++) rounds = std::max(rounds, (static_cast<size_t>(c[j]) * es + piece - 1) / piece);
      }
    }
    for (int r = 0; r < n; r++) {
      size_t b = static_cast<size_t>(op.recvCounts[r]) * es;
      if (lo < b) std::memcpy(op.recv + rOff[r] + lo, Buf(r, phase_) + me * piece, std::min(piece, b - lo));
    }
  }
}

// ---- point to point -----------------------------------------------------------------------

namespace {
struct P2PState {
  Op* op;
  size_t total = 0;   // bytes
  size_t off = 0;
  bool started = false;
  bool done = false;
};
}  // namespace

void ShmTransport::RunP2P(std::vector<Op*> ops, P2PHooks& hooks) {
  using clock = std::chrono::steady_clock;
  std::vector<P2PState> st;
  auto add = [&](Op* op) {
    try {
      CheckUsable(*op);
    } catch (const NativeError& e) {
      hooks.Done(op, &e);
      return;
    }
    op->seq = ++p2pSeq_;
    P2PState s;
    s.op = op;
    s.total = static_cast<size_t>(op->count) * DTypeSize(op->dtype);
    st.push_back(s);
  };
  for (Op* op : ops) add(op);
  deadline_ = clock::now() + std::chrono::milliseconds(cfg_.timeoutMs);
  const size_t C = cfg_.chanBytes;
  clock::time_point idleSince;
  bool idle = false;
  uint64_t idleIter = 0;
  std::vector<uint8_t> busy(static_cast<size_t>(cfg_.size) * 2);
  try {
    for (;;) {
      while (Op* more = hooks.More()) add(more);
      bool progress = false, pending = false;
      std::fill(busy.begin(), busy.end(), 0);
      std::vector<int> waitingOn;
      for (auto& s : st) {
        if (s.done) continue;
        Op& op = *s.op;
        bool isSend = op.kind == Kind::Send;
        uint8_t& b = busy[static_cast<size_t>(op.root) * 2 + (isSend ? 0 : 1)];
        if (b) {  // an earlier op on the same channel goes first (messages are FIFO per pair)
          pending = true;
          continue;
        }
        b = 1;
        for (;;) {
          if (isSend) {
            Chan* c = Channel(cfg_.rank, op.root);
            uint32_t sent = c->sent.load(std::memory_order_relaxed);
            if (sent - c->acked.load(std::memory_order_acquire) >= 2) break;
            size_t len = std::min(C, s.total - s.off);
            ChanHdr& h = c->hdr[sent & 1];
            h.total = static_cast<int64_t>(s.total);
            h.tag = op.tag;
            h.bytes = static_cast<int64_t>(len);
            h.dtype = static_cast<uint32_t>(op.dtype);
            std::memcpy(ChanBuf(cfg_.rank, op.root, sent), op.send + s.off, len);
            c->sent.store(sent + 1, std::memory_order_release);
            s.off += len;
          } else {
            Chan* c = Channel(op.root, cfg_.rank);
            uint32_t acked = c->acked.load(std::memory_order_relaxed);
            if (c->sent.load(std::memory_order_acquire) == acked) break;
            const ChanHdr& h = c->hdr[acked & 1];
            cur_ = &op;
            if (!s.started &&
                (h.total != static_cast<int64_t>(s.total) || h.tag != op.tag || h.dtype != static_cast<uint32_t>(op.dtype)))
              Fail(code::kDistMismatch,
                   OpLabel() + ": the message does not match: rank " + std::to_string(op.root) + " sent " +
                       std::to_string(h.total) + " bytes of " + DTypeName(static_cast<DType>(h.dtype % kNumDTypes)) +
                       " with tag " + std::to_string(h.tag) + "; this rank receives " + std::to_string(s.total) +
                       " bytes of " + DTypeName(op.dtype) + " with tag " + std::to_string(op.tag),
                   op.root);
            size_t len = static_cast<size_t>(h.bytes);
            if (len > C || len > s.total - s.off)
              Fail(code::kDistMismatch, OpLabel() + ": rank " + std::to_string(op.root) + " sent a malformed chunk", op.root);
            std::memcpy(op.recv + s.off, ChanBuf(op.root, cfg_.rank, acked), len);
            c->acked.store(acked + 1, std::memory_order_release);
            s.off += len;
          }
          s.started = true;
          progress = true;
          if (s.off >= s.total) {
            s.done = true;
            break;
          }
        }
        if (s.done) {
          hooks.Done(&op, nullptr);
        } else {
          pending = true;
          waitingOn.push_back(op.root);
        }
      }
      st.erase(std::remove_if(st.begin(), st.end(), [](const P2PState& s) { return s.done; }), st.end());
      if (!pending) {
        while (Op* more = hooks.More()) add(more);
        if (st.empty()) return;
        continue;
      }
      if (progress) {
        idle = false;
        deadline_ = clock::now() + std::chrono::milliseconds(cfg_.timeoutMs);
        continue;
      }
      auto now = clock::now();
      if (!idle) {
        idle = true;
        idleSince = now;
        idleIter = 0;
      }
      idleIter++;
      if (now - idleSince < std::chrono::microseconds(cfg_.spinUs)) {
        if ((idleIter & 15) == 0) sched_yield(); else CpuRelax();
        continue;
      }
      for (auto& s : st)
        if (!s.done) {
          cur_ = s.op;
          break;
        }
      std::sort(waitingOn.begin(), waitingOn.end());
      waitingOn.erase(std::unique(waitingOn.begin(), waitingOn.end()), waitingOn.end());
      CheckWaiting(waitingOn, waitingOn);
      auto slept = now - idleSince;
      std::this_thread::sleep_for(slept < std::chrono::milliseconds(2) ? std::chrono::microseconds(20)
                                                                        : std::chrono::microseconds(200));
    }
  } catch (const NativeError& e) {
    cur_ = nullptr;
    for (auto& s : st)
      if (!s.done) hooks.Done(s.op, &e);
    FailQueuedP2P(hooks, e);
    if (!broken_.load()) broken_.store(true);
    return;
  }
}

}  // namespace cpucomm
}  // namespace nn
