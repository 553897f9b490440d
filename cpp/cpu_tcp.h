// The TCP transport of the CPU backend: one communicator of `size` processes on any hosts.
//
// Setup. The constructor binds a listening socket to the given local address (port 0); its
// "host:port" is published through the store, and Connect() forms a full mesh from everyone's
// address: the higher rank connects to the lower, twice per pair (one connection for collectives,
// one for point-to-point, so a pending isend can never be taken for a collective's message). Each
// connection opens with a hello (magic, version, the group's secret, rank, channel) answered by
// the acceptor's own; a connection whose hello is wrong is closed and ignored.
//
// Data. Every message is a frame: a 64-byte header, then its payload. A collective's headers
// carry the op's description (seq, kind, dtype, op, root, count; for all-to-all the counts of the
// pair), checked by the receiver before any payload reaches the user's buffer; every op opens with
// an empty frame each way between every pair, so every rank sees every peer's call before data
// moves: ERR_DIST_MISMATCH describing both. All sockets are
// non-blocking and every send and receive of a step progresses in one poll() loop (a ring step
// sends and receives at once: large messages never deadlock on full socket buffers).
//
// Failures. EOF or a reset on a peer's connection is ERR_DIST_PEER_FAILURE naming it (a host that
// vanishes without closing its sockets too, within about 30 s: TCP keepalive and user timeout); no progress
// for timeoutMs is ERR_DIST_TIMEOUT naming the ranks not heard from. The rank that fails sends an
// ABORT frame (code, message) on every collective connection, so the others fail the same way at
// once ("failed because rank N reported: ..."); after any failure later ops fail with
// ERR_DIST_ABORTED. Leave() sends a LEAVE frame and closes everything.
//
// Reductions follow ShmTransport: every reduced element is ReduceN over the n inputs in rank
// order (large all-reduce: each rank reduces one slice from every rank's piece, then the reduced
// slices are exchanged), so the results are bitwise identical on every rank and to the shm path.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cpu_comm.h"

namespace nn {
namespace cpucomm {

// An owned file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { Reset(); }
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      Reset(o.fd_);
      o.fd_ = -1;
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  bool ok() const { return fd_ >= 0; }
  void Reset(int fd = -1);

 private:
  int fd_ = -1;
};

struct TcpConn;
struct TcpXfer;

class TcpTransport final : public Transport {
 public:
  // Binds and listens on `listenHost` (an IPv4 or IPv6 literal), port 0. Does not block.
  TcpTransport(Config cfg, const std::string& listenHost);
  ~TcpTransport() override;
  TcpTransport(const TcpTransport&) = delete;
  TcpTransport& operator=(const TcpTransport&) = delete;

  // "host:port" of the listening socket ("[v6]:port").
  const std::string& address() const { return address_; }
  // Every rank's address ("host:port", by rank) and the group's secret; before Connect().
  void SetPeers(std::vector<std::string> peers, std::vector<uint8_t> secret);

  void Connect() override;
  void Run(Op& op) override;
  void RunP2P(std::vector<Op*> ops, P2PHooks& hooks) override;
  void Abort(const std::string& why) override;
  void Leave() override;
  bool broken() const override { return broken_.load(std::memory_order_acquire); }
  const Config& config() const override { return cfg_; }

 private:
  using Clock = std::chrono::steady_clock;
  enum Channel { kColl = 0, kP2P = 1 };

  [[noreturn]] void Fail(const char* code, const std::string& msg, int failedRank, bool tellPeers = true);
  [[noreturn]] void PeerFail(int peer);
  void SendAborts(const char* code, const std::string& msg, int failedRank);
  void CheckUsable(const Op& op);
  std::string BrokenReason();
  std::string OpLabel() const;
  TcpConn& Conn(int peer, Channel ch) { return *conns_[static_cast<size_t>(peer) * 2 + ch]; }

  // Setup: the connect/accept state machine of Connect().
  void Mesh(const std::vector<std::string>& peers, const std::vector<uint8_t>& secret);

  // One step: runs every transfer to completion, all peers at once, FIFO per peer and direction.
  void Exchange(std::vector<TcpXfer>& xs, bool p2p);
  void Step(std::vector<TcpXfer> xs);  // a collective's step (the first one opens with empty frames)
  bool PumpSend(TcpConn& c, TcpXfer& x);
  bool PumpRecv(TcpConn& c, TcpXfer* x);
  void CheckFrame(const TcpConn& c, const TcpXfer& x);
  void WaitIo(const std::vector<TcpXfer*>& activeSend, const std::vector<TcpXfer*>& activeRecv, bool p2p, int sliceMs);
  TcpXfer SendTo(int peer, const uint8_t* src, size_t len) const;
  TcpXfer RecvFrom(int peer, uint8_t* dst, size_t len) const;
  uint8_t* Scratch(size_t bytes);
  size_t PieceElems(size_t es, size_t slots) const;

  void Barrier(Op& op);
  void ReduceSmall(Op& op, bool all);
  void ReduceLarge(Op& op, bool all);
  void Broadcast(Op& op);
  void AllGather(Op& op);
  void ReduceScatter(Op& op);
  void Gather(Op& op);
  void Scatter(Op& op);
  void AllToAll(Op& op);

  Config cfg_;
  Fd listener_;
  std::string address_;
  std::mutex peersMu_;
  std::vector<std::string> peerAddrs_;
  std::vector<uint8_t> secret_;
  std::vector<std::unique_ptr<TcpConn>> conns_;  // [peer * 2 + channel]; null for this rank
  bool connected_ = false;
  uint64_t seq_ = 0;
  uint64_t p2pSeq_ = 0;
  const Op* cur_ = nullptr;
  bool firstStep_ = false;
  Clock::time_point deadline_;
  std::vector<uint8_t> scratch_;
  std::atomic<bool> broken_{false};
  std::atomic<bool> localAbort_{false};
  std::mutex reasonMu_;
  std::string brokenReason_;
  std::string abortWhy_;
};

}  // namespace cpucomm
}  // namespace nn
