// The native CPU collective backend: what every transport of it shares. A Transport runs the
// ops of one communicator of `size` processes; the N-API face (cpu_comm_napi.cc) owns one and
// calls it from its communication thread only. No N-API here: failures are nn::NativeError.
//
// Transports: ShmTransport (cpu_shm.h), one POSIX shared-memory segment between the processes of
// one host; TcpTransport (cpu_tcp.h), sockets between hosts.
#pragma once
#include <atomic>
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "cpu_reduce.h"
#include "errors.h"

namespace nn {
namespace cpucomm {

enum class Kind : uint32_t {
  Barrier = 0, AllReduce, Broadcast, Reduce, AllGather, ReduceScatter, Gather, Scatter, AllToAll, Send, Recv
};
constexpr uint32_t kNumKinds = 11;
const char* KindName(Kind k);

struct Config {
  std::string name;           // shm name, e.g. "/nnccl-<group id>"
  int rank = 0;
  int size = 1;
  int64_t timeoutMs = 600000;
  size_t slotBytes = 1 << 20;  // per rank, per phase parity
  size_t chanBytes = 256 << 10;  // per p2p channel chunk
  int64_t spinUs = 50;         // busy-wait budget before sleeping
};

// One unit of work. Pointers are host memory kept alive by the caller until the op completes.
struct Op {
  Kind kind = Kind::Barrier;
  DType dtype = DType::F32;
  RedOp op = RedOp::Sum;
  int root = 0;               // broadcast/reduce/gather/scatter root; send/recv peer
  int64_t tag = 0;            // send/recv
  int64_t count = 0;          // elements (per rank where the op says so)
  uint8_t* send = nullptr;
  uint8_t* recv = nullptr;
  std::vector<int64_t> sendCounts, recvCounts;  // all-to-all: elements to/from each rank
  uint64_t seq = 0;           // assigned by the transport when the op starts
  int stage = 0;              // how far a TryRun got before it gave up (the transport's own marks)
};

// Failure codes a transport passes on to its peers (shm: the segment's abort word; tcp: ABORT
// frames), so every rank fails with the code of the first failure.
enum AbortCode : uint32_t { kNone = 0, kTimeout = 1, kPeer = 2, kMismatch = 3 };
const char* CodeFor(uint32_t abortCode);        // the nn::code of an AbortCode (kNone: ERR_DIST_ABORTED)
uint32_t AbortCodeOf(const char* errCode);      // kNone for codes that are not passed on

// "0, 2, 3": ranks for messages.
std::string RankList(const std::vector<int>& ranks);
// "allReduce(float32, count 10, op sum)": one rank's call, for ERR_DIST_MISMATCH messages.
std::string DescribeCall(uint32_t kind, uint32_t dtype, uint32_t op, int32_t root, int64_t count);

// A group of one rank: every collective is a copy from send to recv (the reduction of one value
// is that value); what transports run when size is 1.
void RunAlone(const Op& op);

// Told by RunP2P about point-to-point ops: `More` is polled for newly queued ops to add, `Done`
// is called once per op as it completes (err == nullptr) or fails.
struct P2PHooks {
  virtual ~P2PHooks() = default;
  virtual Op* More() = 0;
  virtual void Done(Op* op, const NativeError* err) = 0;
};

// After a point-to-point batch failed with `e`: the ops still queued behind it fail as well
// (ERR_DIST_ABORTED, naming the first failure).
void FailQueuedP2P(P2PHooks& hooks, const NativeError& e);

class Transport {
 public:
  virtual ~Transport() = default;
  // Joins the group (blocking: on the communication thread).
  virtual void Connect() = 0;
  // Runs one collective to completion (blocking). After any failure the transport is broken:
  // later ops fail at once with ERR_DIST_ABORTED.
  virtual void Run(Op& op) = 0;
  // Runs a small collective on the calling thread when it completes within `budgetUs` of spinning:
  // true when it completed; false when it would have to wait longer (or the transport does not
  // run this op so), and then the op must be finished with Run(op) before any other op, which
  // resumes it where it stopped. Failures throw, as Run's do. Never sleeps.
  virtual bool TryRun(Op& op, int64_t budgetUs) { return false; }
  // Whether TryRun may run this op at all (a small op of a kind it can resume).
  virtual bool Direct(const Op& op) const { return false; }
  // Point-to-point ops progress together, so a send and a receive between the same two ranks in
  // opposite directions never deadlock.
  virtual void RunP2P(std::vector<Op*> ops, P2PHooks& hooks) = 0;
  // Makes every current and later wait fail (ERR_DIST_ABORTED with `why`); safe from any thread.
  virtual void Abort(const std::string& why) = 0;
  // Tells the peers this rank has left (they fail promptly instead of waiting for the timeout).
  virtual void Leave() = 0;
  virtual bool broken() const = 0;
  virtual const Config& config() const = 0;

  // Ranks this transport knows to be gone: named by a peer failure (ERR_DIST_PEER_FAILURE) seen
  // here or reported by another rank. Safe from any thread.
  std::vector<int> DeadRanks() const {
    std::lock_guard<std::mutex> lk(deadMu_);
    return dead_;
  }

 protected:
  void MarkDead(int rank) {
    if (rank < 0) return;
    std::lock_guard<std::mutex> lk(deadMu_);
    if (std::find(dead_.begin(), dead_.end(), rank) == dead_.end()) dead_.push_back(rank);
  }

 private:
  mutable std::mutex deadMu_;
  std::vector<int> dead_;
};

}  // namespace cpucomm
}  // namespace nn
