// The shared-memory transport of the CPU backend: one communicator of `size` processes on one
// host, talking through one POSIX shared-memory segment (cpp/shm_segment.h).
//
// Segment layout: a header; per rank a control block (its arrival counter, which is also its
// futex word, its pid and liveness state, and the descriptor of the op it is in); per rank two
// data buffers (`slotBytes` each, used by alternate phases); per ordered pair (src, dst) a
// point-to-point channel with two chunk buffers (`chanBytes` each).
//
// Protocol. Every collective is a sequence of phases that all ranks step through together. In
// phase p a rank (1) waits until every peer has arrived at p-1 when it is about to write (so
// nobody still reads what it wrote in p-2), (2) writes its buffer p%2 and, in an op's first
// phase, its descriptor, (3) publishes arrival p (release store + futex wake when a peer sleeps),
// (4) waits for the peers whose data it needs to arrive at p (acquire), then reads their buffers.
// Reads of phase-p data finish before the reader arrives at p+1. Each rank only ever writes its
// own control block and buffers; the first phase of every op checks all ranks' descriptors
// (kind, dtype, op, count, root; all-to-all splits) before any data is read: ERR_DIST_MISMATCH.
//
// Waits spin briefly, then yield, then sleep on the futex in short slices; between slices they
// check the op's deadline (ERR_DIST_TIMEOUT naming the ranks not heard from), whether the awaited
// peers' processes still exist and have not left (ERR_DIST_PEER_FAILURE), and the segment's
// shared abort word, through which the first rank that fails tells the others why. After any
// failure the engine is broken: later ops fail at once (ERR_DIST_ABORTED).
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "cpu_comm.h"
#include "shm_segment.h"

namespace nn {
namespace cpucomm {

struct Header;
struct RankCtl;
struct Chan;

class ShmTransport final : public Transport {
 public:
  explicit ShmTransport(Config cfg);
  ~ShmTransport() override;
  ShmTransport(const ShmTransport&) = delete;
  ShmTransport& operator=(const ShmTransport&) = delete;

  // Creates (rank 0) or opens the segment, waits until every rank has mapped it, unlinks its name.
  void Connect() override;
  void Run(Op& op) override;
  // Barrier and small (one-slot) all-reduce, reduce, broadcast and all-gather run directly.
  bool TryRun(Op& op, int64_t budgetUs) override;
  bool Direct(const Op& op) const override;
  void RunP2P(std::vector<Op*> ops, P2PHooks& hooks) override;

  void Abort(const std::string& why) override;
  void Leave() override;
  bool broken() const override { return broken_.load(std::memory_order_acquire); }
  std::string brokenReason() const;
  uint64_t seq() const { return seq_; }
  const Config& config() const override { return cfg_; }

 private:
  [[noreturn]] void Fail(const char* code, const std::string& msg, int failedRank);
  void CheckUsable(const Op& op);
  uint8_t* Buf(int r, uint32_t phase) const;
  RankCtl* Ctl(int r) const;
  int64_t* Counts(int r, uint32_t phase) const;
  Chan* Channel(int src, int dst) const;
  uint8_t* ChanBuf(int src, int dst, uint32_t slot) const;

  bool Reached(int r, uint32_t target) const;
  void WaitRanks(const std::vector<int>& ranks, uint32_t target);
  void WaitAllPeers(uint32_t target);
  void WaitPeer(int r, uint32_t target) { WaitRanks({r}, target); }
  void BeginWrite();  // waits all peers >= phase_
  void Arrive();      // phase_++, publish
  void PublishDesc(const Op& op);
  void CheckDescs(const Op& op);
  // Between sleeps: deadline, local abort, shared abort, peers' liveness. `ranks`: awaited peers.
  void CheckWaiting(const std::vector<int>& ranks, const std::vector<int>& missing);
  void SleepOn(std::atomic<uint32_t>* word, uint32_t seen, std::atomic<uint32_t>* sleepers);
  std::string OpLabel() const;

  void AllReduce(Op& op);
  void Broadcast(Op& op);
  void Reduce(Op& op);
  void AllGather(Op& op);
  void ReduceScatter(Op& op);
  void Gather(Op& op);
  void Scatter(Op& op);
  void AllToAll(Op& op);
  void Barrier(Op& op);
  void Start(Op& op);  // checks usability, numbers the op, sets its deadline
  void ReduceSmall(Op& op, bool all);
  void ReduceLarge(Op& op, bool all);

  Config cfg_;
  ShmSegment seg_;
  Header* hdr_ = nullptr;
  size_t ctlOff_ = 0, ctlStride_ = 0, dataOff_ = 0, chanOff_ = 0, chanStride_ = 0;
  uint32_t phase_ = 0;
  uint64_t seq_ = 0;     // collectives (the same on every rank)
  uint64_t p2pSeq_ = 0;  // point-to-point ops (per rank)
  const Op* cur_ = nullptr;  // the op being run, for messages
  bool trying_ = false;      // in TryRun: waits give up (WouldBlock) instead of sleeping
  std::chrono::steady_clock::time_point tryUntil_;
  std::chrono::steady_clock::time_point deadline_;
  std::chrono::steady_clock::time_point lastLiveness_;
  std::atomic<bool> broken_{false};
  std::atomic<bool> localAbort_{false};
  std::string brokenReason_;
  std::string abortWhy_;
  mutable std::atomic<int> reasonLock_{0};
  std::vector<int> peers_;  // every rank but this one
};

}  // namespace cpucomm
}  // namespace nn
