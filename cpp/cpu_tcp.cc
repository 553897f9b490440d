#include "cpu_tcp.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sstream>

namespace nn {
namespace cpucomm {

void Fd::Reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

namespace {
constexpr uint64_t kHelloMagic = 0x7063746363636e6eULL;  // "nnccctcp"
constexpr uint32_t kVersion = 1;
constexpr size_t kMaxSecret = 64;
constexpr size_t kSmallBytes = 32 << 10;  // all-reduce/reduce/broadcast: direct below this
constexpr size_t kMaxAbortMsg = 2048;
constexpr size_t kMaxPendingInbound = 64;  // unauthenticated connections held during setup
constexpr int kSliceMs = 5;                // poll slices: abort and deadlines are noticed this fast
constexpr size_t kMaxScratch = 64 << 20;   // large reductions: pieces shrink with many ranks to stay below

enum FrameType : uint32_t { kData = 0x61746164, kP2PMsg = 0x6d703270, kAbortFrame = 0x74726261, kLeaveFrame = 0x7661656c };

// Collective frames: the op's description. P2P: a = tag, b = the message's bytes. All-to-all:
// a = elements the sender sends to the receiver, b = elements it expects from the receiver.
// Abort: aux = AbortCode, root = the rank that failed, bytes = the message's length.
struct FrameHdr {
  uint32_t type, kind, dtype, op;
  int32_t root;
  uint32_t aux;
  uint64_t seq;
  int64_t count;
  int64_t a, b;
  uint64_t bytes;
};
static_assert(sizeof(FrameHdr) == 64, "frame header layout");
constexpr size_t kHdr = sizeof(FrameHdr);

struct Hello {
  uint64_t magic;
  uint32_t version;
  int32_t rank;
  uint32_t channel;
  uint32_t size;
  uint32_t secretLen;
  uint32_t pad;
  uint8_t secret[kMaxSecret];
};
static_assert(sizeof(Hello) == 96, "hello layout");



// "host:port" or "[v6]:port" -> host, port.
bool SplitHostPort(const std::string& s, std::string& host, int& port) {
  size_t colon;
  if (!s.empty() && s[0] == '[') {
    size_t rb = s.find(']');
    if (rb == std::string::npos || rb + 1 >= s.size() || s[rb + 1] != ':') return false;
    host = s.substr(1, rb - 1);
    colon = rb + 1;
  } else {
    colon = s.rfind(':');
    if (colon == std::string::npos) return false;
    host = s.substr(0, colon);
    if (host.find(':') != std::string::npos) return false;
  }
  std::string p = s.substr(colon + 1);
  if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos) return false;
  port = std::stoi(p);
  return port >= 1 && port <= 65535 && !host.empty();
}

bool ToSockaddr(const std::string& host, int port, sockaddr_storage& ss, socklen_t& len) {
  std::memset(&ss, 0, sizeof ss);
  auto* a4 = reinterpret_cast<sockaddr_in*>(&ss);
  if (inet_pton(AF_INET, host.c_str(), &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons(static_cast<uint16_t>(port));
    len = sizeof(sockaddr_in);
    return true;
  }
  auto* a6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET6, host.c_str(), &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(static_cast<uint16_t>(port));
    len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

std::string FormatAddr(const sockaddr_storage& ss) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (ss.ss_family == AF_INET6) {
    auto* a6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a6->sin6_addr, buf, sizeof buf);
    return "[" + std::string(buf) + "]:" + std::to_string(ntohs(a6->sin6_port));
  }
  auto* a4 = reinterpret_cast<const sockaddr_in*>(&ss);
  inet_ntop(AF_INET, &a4->sin_addr, buf, sizeof buf);
  return std::string(buf) + ":" + std::to_string(ntohs(a4->sin_port));
}

std::string ErrnoText(int err) {
  char buf[128];
  const char* m = strerror_r(err, buf, sizeof buf);
  return m ? m : "error " + std::to_string(err);
}

// Every data connection: no Nagle delay (small frames go out at once), and a peer host that
// vanishes without closing its sockets (power loss, a network partition) is noticed by the
// kernel within about half a minute: keepalive probes on an idle connection (after 10 s, every
// 5 s, 3 tries) and at most 30 s of unacknowledged data. The op then fails as a peer failure
// instead of waiting out the group's timeout. Best effort: a refused option changes nothing else.
void TuneDataSocket(int fd) {
  int one = 1, idle = 10, interval = 5, count = 3;
  unsigned int userTimeoutMs = 30000;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
  setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &userTimeoutMs, sizeof userTimeoutMs);
}

Hello MakeHello(int rank, int channel, int size, const std::vector<uint8_t>& secret) {
  Hello h;
  std::memset(&h, 0, sizeof h);
  h.magic = kHelloMagic;
  h.version = kVersion;
  h.rank = rank;
  h.channel = static_cast<uint32_t>(channel);
  h.size = static_cast<uint32_t>(size);
  h.secretLen = static_cast<uint32_t>(secret.size());
  std::memcpy(h.secret, secret.data(), secret.size());
  return h;
}

bool HelloOk(const Hello& h, int size, const std::vector<uint8_t>& secret) {
  if (h.magic != kHelloMagic || h.version != kVersion || h.size != static_cast<uint32_t>(size) || h.channel > 1 ||
      h.secretLen != secret.size())
    return false;
  uint8_t diff = 0;  // constant time in the secret's bytes
  for (size_t i = 0; i < secret.size(); i++) diff |= static_cast<uint8_t>(h.secret[i] ^ secret[i]);
  return diff == 0;
}

// > 0: bytes read; 0: would block; -1: the peer closed or reset the connection (`reset` tells).
ssize_t RecvSome(int fd, void* p, size_t n, bool& reset) {
  for (;;) {
    ssize_t k = ::recv(fd, p, n, MSG_DONTWAIT);
    if (k > 0) return k;
    if (k == 0) return -1;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    reset = true;
    return -1;
  }
}
}  // namespace

// ---- connections ----------------------------------------------------------------------------

struct TcpConn {
  Fd fd;
  int peer = -1;
  bool eof = false, reset = false, left = false;
  bool dead = false;  // after a failure: the stream is no longer parsed
  // receive side: the next frame's header (held once complete until a transfer takes it)
  FrameHdr rh{};
  size_t rhGot = 0;
  std::string msg;  // an abort frame's message
  size_t msgGot = 0;
  // send side: the frame being sent
  FrameHdr th{};
  const uint8_t* tp = nullptr;
  size_t tlen = 0, tsent = 0;
  bool txBusy = false;

  bool HeaderHeld() const { return rhGot == kHdr && (rh.type == kData || rh.type == kP2PMsg); }
  // Sends what is left of the current frame: 1 done, 0 would block, -1 failed (errno kept).
  int SendFrame() {
    const size_t total = kHdr + tlen;
    while (tsent < total) {
      iovec iov[2];
      int n = 0;
      if (tsent < kHdr) {
        iov[n++] = {reinterpret_cast<char*>(&th) + tsent, kHdr - tsent};
        if (tlen) iov[n++] = {const_cast<uint8_t*>(tp), tlen};
      } else {
        iov[n++] = {const_cast<uint8_t*>(tp) + (tsent - kHdr), total - tsent};
      }
      msghdr m{};
      m.msg_iov = iov;
      m.msg_iovlen = static_cast<size_t>(n);
      ssize_t k = ::sendmsg(fd.get(), &m, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (k > 0) {
        tsent += static_cast<size_t>(k);
        continue;
      }
      if (k < 0 && errno == EINTR) continue;
      if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
      return -1;
    }
    txBusy = false;
    tp = nullptr;
    return 1;
  }
};

struct TcpXfer {
  int peer = -1;
  bool send = false;
  FrameHdr hdr{};  // send only
  const uint8_t* src = nullptr;
  uint8_t* dst = nullptr;
  size_t len = 0;
  size_t done = 0;
  bool started = false, complete = false;
  Op* op = nullptr;  // point-to-point
};

// ---- setup ----------------------------------------------------------------------------------

TcpTransport::TcpTransport(Config cfg, const std::string& listenHost) : cfg_(std::move(cfg)) {
  if (cfg_.size < 1 || cfg_.rank < 0 || cfg_.rank >= cfg_.size)
    Throw(code::kInvalidArg, "cpu communicator: rank " + std::to_string(cfg_.rank) + " is not in [0, " +
                                 std::to_string(cfg_.size) + ")");
  cfg_.slotBytes = std::max<size_t>(cfg_.slotBytes, 4096);
  std::string host = listenHost;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  sockaddr_storage ss;
  socklen_t len;
  if (!ToSockaddr(host, 0, ss, len))
    Throw(code::kInvalidArg, "cpu communicator: option 'listenHost' must be an IPv4 or IPv6 address literal, got '" +
                                 listenHost + "'");
  listener_.Reset(::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!listener_.ok()) ThrowErrno("cpu backend: socket()", errno);
  int one = 1;
  setsockopt(listener_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(listener_.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0)
    ThrowErrno("cpu backend: cannot listen on " + host + " (bind)", errno);
  if (::listen(listener_.get(), SOMAXCONN) != 0) ThrowErrno("cpu backend: listen() on " + host, errno);
  socklen_t sl = sizeof ss;
  if (::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&ss), &sl) != 0) ThrowErrno("cpu backend: getsockname()", errno);
  address_ = FormatAddr(ss);
  cfg_.name = "tcp " + address_;
}

TcpTransport::~TcpTransport() { Leave(); }

void TcpTransport::SetPeers(std::vector<std::string> peers, std::vector<uint8_t> secret) {
  if (peers.size() != static_cast<size_t>(cfg_.size))
    Throw(code::kInvalidArg, "cpu communicator: 'peers' must list " + std::to_string(cfg_.size) +
                                 " addresses (one per rank), got " + std::to_string(peers.size()));
  for (size_t r = 0; r < peers.size(); r++) {
    std::string host;
    int port;
    sockaddr_storage ss;
    socklen_t len;
    if (!SplitHostPort(peers[r], host, port) || !ToSockaddr(host, port, ss, len))
      Throw(code::kInvalidArg, "cpu communicator: peers[" + std::to_string(r) + "] must be \"host:port\" with an IPv4 or "
                               "[IPv6] address literal, got '" + peers[r] + "'");
  }
  if (secret.empty() || secret.size() > kMaxSecret)
    Throw(code::kInvalidArg, "cpu communicator: 'secret' must hold 1 to " + std::to_string(kMaxSecret) + " bytes, got " +
                                 std::to_string(secret.size()));
  std::lock_guard<std::mutex> lk(peersMu_);
  peerAddrs_ = std::move(peers);
  secret_ = std::move(secret);
}

void TcpTransport::Connect() {
  std::vector<std::string> peers;
  std::vector<uint8_t> secret;
  {
    std::lock_guard<std::mutex> lk(peersMu_);
    peers = peerAddrs_;
    secret = secret_;
  }
  if (connected_) Throw(code::kInvalidArg, "cpu communicator: connect() was already called");
  if (cfg_.size > 1 && peers.empty())
    Throw(code::kInvalidArg, "cpu communicator (tcp): connect() needs every rank's address and the group's secret");
  conns_.clear();
  conns_.resize(static_cast<size_t>(cfg_.size) * 2);
  if (cfg_.size > 1) Mesh(peers, secret);
  listener_.Reset();  // the mesh is complete: later connections to the port are refused
  connected_ = true;
}

namespace {
struct Dial {
  int rank = -1, channel = 0;
  Fd fd;
  int stage = 0;  // 0 idle (retry at retryAt), 1 connecting, 2 sending hello, 3 reading the reply, 4 done
  std::chrono::steady_clock::time_point retryAt;
  Hello out{}, in{};
  size_t sent = 0, got = 0;
  std::string lastError;
};
struct Inbound {
  Fd fd;
  Hello in{};
  size_t got = 0;
};
}  // namespace

// Full mesh: rank r dials every lower rank (twice: collectives, point-to-point) and accepts the
// higher ones. Refused or failed dials retry until the timeout; inbound connections whose hello
// is wrong (magic, version, size, secret, rank, channel, duplicate) are closed and forgotten.
void TcpTransport::Mesh(const std::vector<std::string>& peers, const std::vector<uint8_t>& secret) {
  const int n = cfg_.size, me = cfg_.rank;
  const std::string where = "cpu backend setup (rank " + std::to_string(me) + " of " + std::to_string(n) + ", tcp, listening on " +
                            address_ + ")";
  const auto deadline = Clock::now() + std::chrono::milliseconds(cfg_.timeoutMs);
  std::vector<Dial> dials(static_cast<size_t>(me) * 2);
  for (int r = 0; r < me; r++)
    for (int ch = 0; ch < 2; ch++) {
      Dial& d = dials[static_cast<size_t>(r) * 2 + ch];
      d.rank = r;
      d.channel = ch;
      d.out = MakeHello(me, ch, n, secret);
    }
  std::vector<Inbound> ins;
  auto adopt = [&](Fd fd, int peer, int ch) {
    auto c = std::make_unique<TcpConn>();
    c->fd = std::move(fd);
    c->peer = peer;
    conns_[static_cast<size_t>(peer) * 2 + ch] = std::move(c);
  };
  auto retry = [&](Dial& d, const std::string& why) {
    d.fd.Reset();
    d.stage = 0;
    d.sent = d.got = 0;
    d.lastError = why;
    d.retryAt = Clock::now() + std::chrono::milliseconds(50);
  };
  auto missing = [&] {
    std::vector<int> m;
    for (int r = 0; r < n; r++)
      if (r != me && (!conns_[static_cast<size_t>(r) * 2] || !conns_[static_cast<size_t>(r) * 2 + 1])) m.push_back(r);
    return m;
  };
  for (;;) {
    std::vector<int> miss = missing();
    if (miss.empty()) return;
    if (localAbort_.load()) {
      std::lock_guard<std::mutex> lk(reasonMu_);
      Throw(code::kDistAborted, where + ": aborted: " + abortWhy_);
    }
    auto now = Clock::now();
    if (now > deadline) {
      std::string detail;
      for (auto& d : dials)
        if (d.stage != 4 && !d.lastError.empty()) {
          detail = " (last attempt to reach rank " + std::to_string(d.rank) + " at " + peers[d.rank] + ": " + d.lastError + ")";
          break;
        }
      Throw(code::kDistTimeout, where + ": timed out after " + std::to_string(cfg_.timeoutMs) + " ms waiting for rank(s) " +
                                    RankList(miss) + " to connect" + detail);
    }
    for (auto& d : dials) {
      if (d.stage != 0 || now < d.retryAt) continue;
      std::string host;
      int port = 0;
      sockaddr_storage ss;
      socklen_t len = 0;
      SplitHostPort(peers[d.rank], host, port);
      ToSockaddr(host, port, ss, len);
      d.fd.Reset(::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
      if (!d.fd.ok()) ThrowErrno(where + ": socket()", errno);
      TuneDataSocket(d.fd.get());
      if (::connect(d.fd.get(), reinterpret_cast<sockaddr*>(&ss), len) == 0) d.stage = 2;
      else if (errno == EINPROGRESS || errno == EINTR) d.stage = 1;
      else retry(d, ErrnoText(errno));
    }
    // poll: the listener, dials in flight, inbound hellos
    std::vector<pollfd> pf;
    std::vector<int> who;  // -1 listener, 0..: dial index, 1000000+: inbound index
    pf.push_back({listener_.get(), POLLIN, 0});
    who.push_back(-1);
    for (size_t i = 0; i < dials.size(); i++) {
      Dial& d = dials[i];
      if (d.stage >= 1 && d.stage <= 3) {
        pf.push_back({d.fd.get(), static_cast<short>(d.stage == 3 ? POLLIN : POLLOUT), 0});
        who.push_back(static_cast<int>(i));
      }
    }
    for (size_t i = 0; i < ins.size(); i++) {
      pf.push_back({ins[i].fd.get(), POLLIN, 0});
      who.push_back(1000000 + static_cast<int>(i));
    }
    ::poll(pf.data(), pf.size(), 10);
    for (size_t k = 0; k < pf.size(); k++) {
      if (who[k] < 0 || who[k] >= 1000000) continue;
      Dial& d = dials[static_cast<size_t>(who[k])];
      if (d.stage == 1) {
        if (!(pf[k].revents & (POLLOUT | POLLERR | POLLHUP))) continue;
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(d.fd.get(), SOL_SOCKET, SO_ERROR, &err, &el);
        if (err != 0) {
          retry(d, ErrnoText(err));
          continue;
        }
        d.stage = 2;
      }
      if (d.stage == 2) {
        ssize_t k2 = ::send(d.fd.get(), reinterpret_cast<char*>(&d.out) + d.sent, sizeof(Hello) - d.sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k2 > 0) d.sent += static_cast<size_t>(k2);
        else if (k2 < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
          retry(d, ErrnoText(errno));
          continue;
        }
        if (d.sent == sizeof(Hello)) d.stage = 3;
      }
      if (d.stage == 3) {
        bool reset = false;
        ssize_t k3 = RecvSome(d.fd.get(), reinterpret_cast<char*>(&d.in) + d.got, sizeof(Hello) - d.got, reset);
        if (k3 < 0) {
          retry(d, "the connection was closed during the handshake");
          continue;
        }
        d.got += static_cast<size_t>(k3);
        if (d.got < sizeof(Hello)) continue;
        if (!HelloOk(d.in, n, secret) || d.in.rank != d.rank || static_cast<int>(d.in.channel) != d.channel) {
          retry(d, "the process there answered with a wrong handshake (another group?)");
          continue;
        }
        adopt(std::move(d.fd), d.rank, d.channel);
        d.stage = 4;
      }
    }
    // inbound hellos (before accepting more: indices above refer to this list)
    for (size_t i = 0; i < ins.size();) {
      Inbound& in = ins[i];
      bool reset = false;
      ssize_t k = RecvSome(in.fd.get(), reinterpret_cast<char*>(&in.in) + in.got, sizeof(Hello) - in.got, reset);
      bool drop = k < 0;
      if (k > 0) in.got += static_cast<size_t>(k);
      if (!drop && in.got == sizeof(Hello)) {
        const Hello& h = in.in;
        const int r = h.rank;
        drop = true;
        if (HelloOk(h, n, secret) && r > me && r < n && !conns_[static_cast<size_t>(r) * 2 + h.channel]) {
          Hello reply = MakeHello(me, static_cast<int>(h.channel), n, secret);
          ssize_t s = ::send(in.fd.get(), &reply, sizeof reply, MSG_NOSIGNAL | MSG_DONTWAIT);
          if (s == static_cast<ssize_t>(sizeof reply)) {
            TuneDataSocket(in.fd.get());
            adopt(std::move(in.fd), r, static_cast<int>(h.channel));
          }
        }
      }
      if (drop) ins.erase(ins.begin() + static_cast<long>(i));
      else i++;
    }
    for (;;) {
      int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) break;
      if (ins.size() >= kMaxPendingInbound) ins.erase(ins.begin());  // the oldest unauthenticated one goes
      ins.emplace_back();
      ins.back().fd.Reset(fd);
    }
  }
}

// ---- state and failure ----------------------------------------------------------------------

std::string TcpTransport::BrokenReason() {
  std::lock_guard<std::mutex> lk(reasonMu_);
  return brokenReason_;
}

void TcpTransport::Abort(const std::string& why) {
  {
    std::lock_guard<std::mutex> lk(reasonMu_);
    if (abortWhy_.empty()) abortWhy_ = why;
  }
  localAbort_.store(true, std::memory_order_release);
}

void TcpTransport::Leave() {
  FrameHdr h{};
  h.type = kLeaveFrame;
  for (auto& c : conns_) {
    if (!c || !c->fd.ok()) continue;
    if (!c->txBusy && !c->dead && !c->eof) (void)::send(c->fd.get(), &h, sizeof h, MSG_NOSIGNAL | MSG_DONTWAIT);
    c->fd.Reset();
  }
  listener_.Reset();
  connected_ = false;
}

std::string TcpTransport::OpLabel() const {
  std::string s = cur_ ? KindName(cur_->kind) : "operation";
  bool p2p = cur_ && (cur_->kind == Kind::Send || cur_->kind == Kind::Recv);
  if (p2p) s += std::string(cur_->kind == Kind::Send ? " to" : " from") + " rank " + std::to_string(cur_->root);
  s += std::string(p2p ? " (p2p #" : " (seq ") + std::to_string(cur_ ? cur_->seq : seq_) + ", rank " +
       std::to_string(cfg_.rank) + " of " + std::to_string(cfg_.size) + ")";
  return s;
}

void TcpTransport::Fail(const char* errCode, const std::string& msg, int failedRank, bool tellPeers) {
  if (AbortCodeOf(errCode) == kPeer) MarkDead(failedRank);
  if (tellPeers && AbortCodeOf(errCode) != kNone && connected_) SendAborts(errCode, msg, failedRank);
  {
    std::lock_guard<std::mutex> lk(reasonMu_);
    if (brokenReason_.empty()) brokenReason_ = msg;
  }
  broken_.store(true, std::memory_order_release);
  throw NativeError(errCode, msg);
}

void TcpTransport::PeerFail(int peer) {
  const TcpConn* c = conns_[static_cast<size_t>(peer) * 2] ? conns_[static_cast<size_t>(peer) * 2].get() : nullptr;
  const TcpConn* c2 = conns_[static_cast<size_t>(peer) * 2 + 1].get();
  bool left = (c && c->left) || (c2 && c2->left);
  bool reset = (c && c->reset) || (c2 && c2->reset);
  const std::string r = "rank " + std::to_string(peer);
  std::string why = left ? r + " left the group (destroyed its communicator or exited) before completing it"
                    : reset ? "the connection to " + r +
                                  " was reset before it completed it (the process died, or its host or the network failed)"
                            : r + " closed its connection before completing it (the process exited or died, or its host or "
                                  "the network failed)";
  Fail(code::kDistPeer, OpLabel() + ": " + why, peer);
}

// Tells every peer why this rank fails: an ABORT frame on each collective connection, after what
// is left of a frame being sent (so the peer reads it as a frame). Best effort, for at most a
// second; what peers send meanwhile is read and dropped so that none of them stays blocked on us.
void TcpTransport::SendAborts(const char* errCode, const std::string& msg, int failedRank) {
  const std::string text = msg.substr(0, kMaxAbortMsg);
  FrameHdr h{};
  h.type = kAbortFrame;
  h.aux = AbortCodeOf(errCode);
  h.root = failedRank;
  h.seq = cur_ ? cur_->seq : seq_;
  h.bytes = text.size();
  struct Out {
    TcpConn* c;
    std::string tail;
    size_t off = 0;
    bool done = false;
  };
  std::vector<Out> outs;
  for (int p = 0; p < cfg_.size; p++) {
    if (p == cfg_.rank) continue;
    TcpConn& c = Conn(p, kColl);
    if (!c.fd.ok() || c.eof || c.dead) continue;
    c.dead = true;
    Out o{&c, std::string(reinterpret_cast<const char*>(&h), kHdr) + text};
    outs.push_back(std::move(o));
  }
  const auto until = Clock::now() + std::chrono::milliseconds(std::min<int64_t>(cfg_.timeoutMs, 1000));
  std::vector<char> sink(64 << 10);
  for (;;) {
    bool pending = false;
    std::vector<pollfd> pf;
    for (auto& o : outs) {
      if (o.done) continue;
      TcpConn& c = *o.c;
      int st = c.txBusy ? c.SendFrame() : 1;
      while (st == 1 && o.off < o.tail.size()) {
        ssize_t k = ::send(c.fd.get(), o.tail.data() + o.off, o.tail.size() - o.off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k > 0) o.off += static_cast<size_t>(k);
        else if (k < 0 && errno == EINTR) continue;
        else st = (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) ? 0 : -1;
      }
      if (st == 1 && o.off == o.tail.size()) o.done = true;
      if (st < 0) o.done = true;
      bool reset = false;
      while (!o.done && RecvSome(c.fd.get(), sink.data(), sink.size(), reset) > 0) {
      }
      if (!o.done) {
        pending = true;
        pf.push_back({c.fd.get(), static_cast<short>(POLLOUT | POLLIN), 0});
      }
    }
    if (!pending || Clock::now() > until || localAbort_.load()) return;
    ::poll(pf.data(), pf.size(), kSliceMs);
  }
}

void TcpTransport::CheckUsable(const Op& op) {
  if (broken_.load(std::memory_order_acquire))
    throw NativeError(code::kDistAborted, std::string(KindName(op.kind)) +
                                              ": the communicator was aborted after an earlier failure: " + BrokenReason());
  if (localAbort_.load(std::memory_order_acquire)) {
    broken_.store(true);
    std::lock_guard<std::mutex> lk(reasonMu_);
    throw NativeError(code::kDistAborted, std::string(KindName(op.kind)) + ": the communicator was aborted: " + abortWhy_);
  }
  if (!connected_) throw NativeError(code::kDistAborted, std::string(KindName(op.kind)) + ": the communicator is not connected");
}

// ---- progress ---------------------------------------------------------------------------------

bool TcpTransport::PumpSend(TcpConn& c, TcpXfer& x) {
  if (x.op) cur_ = x.op;
  if (c.eof || c.dead || !c.fd.ok()) PeerFail(c.peer);
  if (!x.started) {
    c.th = x.hdr;
    c.th.bytes = x.len;
    c.tp = x.src;
    c.tlen = x.len;
    c.tsent = 0;
    c.txBusy = true;
    x.started = true;
  }
  const size_t before = c.tsent;
  int st = c.SendFrame();
  if (st < 0) {
    c.eof = true;
    c.reset = errno == ECONNRESET || errno == EPIPE;
    PeerFail(c.peer);
  }
  if (st == 1) x.complete = true;
  return c.tsent != before;
}

bool TcpTransport::PumpRecv(TcpConn& c, TcpXfer* x) {
  if (x && x->op) cur_ = x->op;
  bool progress = false;
  for (;;) {
    if (c.eof || c.dead || !c.fd.ok()) {
      if (x) PeerFail(c.peer);
      return progress;
    }
    if (c.rhGot < kHdr) {
      ssize_t k = RecvSome(c.fd.get(), reinterpret_cast<char*>(&c.rh) + c.rhGot, kHdr - c.rhGot, c.reset);
      if (k == 0) return progress;
      if (k < 0) {
        c.eof = true;
        continue;
      }
      c.rhGot += static_cast<size_t>(k);
      progress = true;
      continue;
    }
    if (c.rh.type == kLeaveFrame) {
      c.left = true;
      c.rhGot = 0;
      progress = true;
      continue;
    }
    if (c.rh.type == kAbortFrame) {
      if (c.rh.bytes > kMaxAbortMsg)
        Fail(code::kDistMismatch, OpLabel() + ": rank " + std::to_string(c.peer) + " sent a malformed abort frame", c.peer);
      c.msg.resize(c.rh.bytes);
      while (c.msgGot < c.msg.size()) {
        ssize_t k = RecvSome(c.fd.get(), &c.msg[c.msgGot], c.msg.size() - c.msgGot, c.reset);
        if (k == 0) return progress;
        if (k < 0) {
          c.eof = true;
          PeerFail(c.peer);
        }
        c.msgGot += static_cast<size_t>(k);
        progress = true;
      }
      c.dead = true;
      Fail(CodeFor(c.rh.aux), OpLabel() + ": failed because rank " + std::to_string(c.peer) + " reported: " + c.msg, c.rh.root,
           false);
    }
    if (!x) return progress;  // a data frame waits for the transfer that takes it
    if (!x->started) {
      CheckFrame(c, *x);
      x->started = true;
    }
    while (x->done < x->len) {
      ssize_t k = RecvSome(c.fd.get(), x->dst + x->done, x->len - x->done, c.reset);
      if (k == 0) return progress;
      if (k < 0) {
        c.eof = true;
        PeerFail(c.peer);
      }
      x->done += static_cast<size_t>(k);
      progress = true;
    }
    x->complete = true;
    c.rhGot = 0;
    return true;
  }
}

// The header of the frame from c.peer against this rank's own op, before any payload is read.
void TcpTransport::CheckFrame(const TcpConn& c, const TcpXfer& x) {
  const FrameHdr& h = c.rh;
  const int p = c.peer, me = cfg_.rank;
  const std::string from = "rank " + std::to_string(p);
  if (x.op) {
    const Op& op = *x.op;
    if (h.type != kP2PMsg)
      Fail(code::kDistMismatch, OpLabel() + ": " + from + " sent a frame this rank cannot read on the point-to-point connection", p);
    if (h.b != static_cast<int64_t>(x.len) || h.a != op.tag || h.dtype != static_cast<uint32_t>(op.dtype))
      Fail(code::kDistMismatch,
           OpLabel() + ": the message does not match: " + from + " sent " + std::to_string(h.b) + " bytes of " +
               DTypeName(static_cast<DType>(h.dtype)) + " with tag " + std::to_string(h.a) + "; this rank receives " +
               std::to_string(x.len) + " bytes of " + DTypeName(op.dtype) + " with tag " + std::to_string(op.tag),
           p);
    if (h.bytes != x.len) Fail(code::kDistMismatch, OpLabel() + ": " + from + " sent a malformed message", p);
    return;
  }
  const Op& op = *cur_;
  if (h.type != kData)
    Fail(code::kDistMismatch, OpLabel() + ": " + from + " sent a frame this rank cannot read on the collective connection", p);
  const bool reduces = op.kind == Kind::AllReduce || op.kind == Kind::Reduce || op.kind == Kind::ReduceScatter;
  const bool rooted = op.kind == Kind::Broadcast || op.kind == Kind::Reduce || op.kind == Kind::Gather || op.kind == Kind::Scatter;
  const bool a2a = op.kind == Kind::AllToAll;
  bool same = h.seq == op.seq && h.kind == static_cast<uint32_t>(op.kind) && h.dtype == static_cast<uint32_t>(op.dtype) &&
              (a2a || h.count == op.count) && (!reduces || h.op == static_cast<uint32_t>(op.op)) &&
              (!rooted || h.root == op.root);
  if (!same)
    Fail(code::kDistMismatch,
         OpLabel() + ": the ranks' calls do not match: rank " + std::to_string(me) + " called " +
             DescribeCall(static_cast<uint32_t>(op.kind), static_cast<uint32_t>(op.dtype), static_cast<uint32_t>(op.op), op.root,
                      op.count) +
             " as op #" + std::to_string(op.seq) + "; " + from + " called " + DescribeCall(h.kind, h.dtype, h.op, h.root, h.count) +
             " as op #" + std::to_string(h.seq),
         p);
  if (a2a) {
    const int64_t expects = op.recvCounts[static_cast<size_t>(p)], sends = op.sendCounts[static_cast<size_t>(p)];
    if (h.a != expects)
      Fail(code::kDistMismatch,
           OpLabel() + ": the ranks' calls do not match: " + from + " sends " + std::to_string(h.a) + " element(s) to rank " +
               std::to_string(me) + ", which expects " + std::to_string(expects) + " from it",
           p);
    if (h.b != sends)
      Fail(code::kDistMismatch,
           OpLabel() + ": the ranks' calls do not match: rank " + std::to_string(me) + " sends " + std::to_string(sends) +
               " element(s) to " + from + ", which expects " + std::to_string(h.b) + " from it",
           p);
  }
  if (h.bytes != x.len)
    Fail(code::kDistMismatch, OpLabel() + ": " + from + " sent a malformed message (" + std::to_string(h.bytes) +
                                  " bytes where this rank expects " + std::to_string(x.len) + ")",
         p);
}

// Sleeps until a socket is ready or a slice passes; then the local abort and the deadline.
void TcpTransport::WaitIo(const std::vector<TcpXfer*>& activeSend, const std::vector<TcpXfer*>& activeRecv, bool p2p, int sliceMs) {
  std::vector<pollfd> pf;
  std::vector<int> waiting;
  for (int p = 0; p < cfg_.size; p++) {
    if (p == cfg_.rank) continue;
    const size_t i = static_cast<size_t>(p);
    if (activeSend[i] || activeRecv[i]) waiting.push_back(p);
    for (int ch = 0; ch < (p2p ? 2 : 1); ch++) {
      TcpConn& c = Conn(p, static_cast<Channel>(ch));
      if (!c.fd.ok() || c.eof || c.dead) continue;
      const bool data = ch == (p2p ? kP2P : kColl);
      short ev = 0;
      if (!c.HeaderHeld() || (data && activeRecv[i])) ev |= POLLIN;
      if (data && activeSend[i]) ev |= POLLOUT;
      if (ev) pf.push_back({c.fd.get(), ev, 0});
    }
  }
  auto now = Clock::now();
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - now).count() + 1;
  ::poll(pf.data(), pf.size(), static_cast<int>(std::max<int64_t>(0, std::min<int64_t>(sliceMs, left))));
  if (localAbort_.load(std::memory_order_acquire)) {
    broken_.store(true);
    std::string why;
    {
      std::lock_guard<std::mutex> lk(reasonMu_);
      why = abortWhy_;
    }
    throw NativeError(code::kDistAborted, OpLabel() + ": aborted: " + why);
  }
  if (Clock::now() > deadline_)
    Fail(code::kDistTimeout,
         OpLabel() + ": timed out after " + std::to_string(cfg_.timeoutMs) + " ms waiting for rank(s) " + RankList(waiting),
         waiting.empty() ? -1 : waiting[0]);
}

void TcpTransport::Exchange(std::vector<TcpXfer>& xs, bool) {
  const size_t n = static_cast<size_t>(cfg_.size);
  std::vector<TcpXfer*> as(n), ar(n);
  deadline_ = Clock::now() + std::chrono::milliseconds(cfg_.timeoutMs);
  for (;;) {
    std::fill(as.begin(), as.end(), nullptr);
    std::fill(ar.begin(), ar.end(), nullptr);
    bool all = true;
    for (auto& x : xs) {
      if (x.complete) continue;
      all = false;
      TcpXfer*& slot = x.send ? as[static_cast<size_t>(x.peer)] : ar[static_cast<size_t>(x.peer)];
      if (!slot) slot = &x;
    }
    if (all) return;
    bool progress = false;
    for (size_t p = 0; p < n; p++)
      if (as[p]) progress |= PumpSend(Conn(static_cast<int>(p), kColl), *as[p]);
    for (size_t p = 0; p < n; p++)
      if (static_cast<int>(p) != cfg_.rank) progress |= PumpRecv(Conn(static_cast<int>(p), kColl), ar[p]);
    if (progress) {
      deadline_ = Clock::now() + std::chrono::milliseconds(cfg_.timeoutMs);
      continue;
    }
    WaitIo(as, ar, false, kSliceMs);
  }
}

TcpXfer TcpTransport::SendTo(int peer, const uint8_t* src, size_t len) const {
  const Op& op = *cur_;
  TcpXfer x;
  x.peer = peer;
  x.send = true;
  x.src = src;
  x.len = len;
  FrameHdr& h = x.hdr;
  h.type = kData;
  h.kind = static_cast<uint32_t>(op.kind);
  h.dtype = static_cast<uint32_t>(op.dtype);
  h.op = static_cast<uint32_t>(op.op);
  h.root = op.root;
  h.seq = op.seq;
  h.count = op.count;
  if (op.kind == Kind::AllToAll) {
    h.a = op.sendCounts[static_cast<size_t>(peer)];
    h.b = op.recvCounts[static_cast<size_t>(peer)];
  }
  return x;
}

TcpXfer TcpTransport::RecvFrom(int peer, uint8_t* dst, size_t len) const {
  TcpXfer x;
  x.peer = peer;
  x.dst = dst;
  x.len = len;
  return x;
}

// An op's first step opens with an empty frame each way between every pair (whatever the
// algorithm sends), so every rank checks every peer's call before any data moves.
void TcpTransport::Step(std::vector<TcpXfer> xs) {
  if (firstStep_) {
    firstStep_ = false;
    std::vector<TcpXfer> pre;
    for (int p = 0; p < cfg_.size; p++) {
      if (p == cfg_.rank) continue;
      pre.push_back(SendTo(p, nullptr, 0));
      pre.push_back(RecvFrom(p, nullptr, 0));
    }
    pre.insert(pre.end(), xs.begin(), xs.end());
    xs.swap(pre);
  }
  Exchange(xs, false);
}

// Elements per piece of a large reduction that keeps `slots` pieces in scratch memory.
size_t TcpTransport::PieceElems(size_t es, size_t slots) const {
  return std::max<size_t>(1, std::min(cfg_.slotBytes, kMaxScratch / slots) / es);
}

uint8_t* TcpTransport::Scratch(size_t bytes) {
  if (scratch_.size() < bytes) scratch_.resize(bytes);
  return scratch_.data();
}

// ---- collectives --------------------------------------------------------------------------------

void TcpTransport::Run(Op& op) {
  CheckUsable(op);
  op.seq = ++seq_;
  cur_ = &op;
  firstStep_ = true;
  struct Clear {
    const Op*& p;
    ~Clear() { p = nullptr; }
  } clear{cur_};
  if (cfg_.size == 1) return RunAlone(op);
  switch (op.kind) {
    case Kind::Barrier: return Barrier(op);
    case Kind::AllReduce: return ReduceSmall(op, true);
    case Kind::Reduce: return ReduceSmall(op, false);
    case Kind::Broadcast: return Broadcast(op);
    case Kind::AllGather: return AllGather(op);
    case Kind::ReduceScatter: return ReduceScatter(op);
    case Kind::Gather: return Gather(op);
    case Kind::Scatter: return Scatter(op);
    case Kind::AllToAll: return AllToAll(op);
    case Kind::Send: case Kind::Recv:
      Throw(code::kInternal, "send/recv must go through RunP2P");
  }
}

void TcpTransport::Barrier(Op&) { Step({}); }

// Every rank sends its vector to every rank that keeps a result; those reduce all n inputs in
// rank order (bitwise the same everywhere). Larger ones go through ReduceLarge.
void TcpTransport::ReduceSmall(Op& op, bool all) {
  const size_t es = DTypeSize(op.dtype), count = static_cast<size_t>(op.count), bytes = count * es;
  if (bytes > kSmallBytes) return ReduceLarge(op, all);
  const int n = cfg_.size, me = cfg_.rank;
  const bool keeps = all || me == op.root;
  uint8_t* tmp = keeps ? Scratch(bytes * static_cast<size_t>(n)) : nullptr;
  std::vector<TcpXfer> xs;
  for (int p = 0; p < n; p++) {
    if (p == me) continue;
    if (all || p == op.root) xs.push_back(SendTo(p, op.send, bytes));
    if (keeps) xs.push_back(RecvFrom(p, tmp + static_cast<size_t>(p) * bytes, bytes));
  }
  Step(std::move(xs));
  if (!keeps) return;
  std::vector<const void*> in(static_cast<size_t>(n));
  for (int r = 0; r < n; r++) in[static_cast<size_t>(r)] = r == me ? op.send : tmp + static_cast<size_t>(r) * bytes;
  ReduceN(op.dtype, op.op, op.recv, in.data(), n, count, n);
}

// Rounds of n slices of up to slotBytes each: every rank sends slice j of its input to rank j,
// which reduces the n pieces of its slice in rank order (the reduce-scatter); then the reduced
// slices go to every rank (all-reduce) or to the root (reduce). Each round's reduced slices travel
// in the same step as the next round's pieces. Per rank and round, (n-1) pieces are in flight.
void TcpTransport::ReduceLarge(Op& op, bool all) {
  const size_t es = DTypeSize(op.dtype), count = static_cast<size_t>(op.count);
  const int n = cfg_.size, me = cfg_.rank;
  const size_t un = static_cast<size_t>(n);
  const size_t piece = PieceElems(es, un + 1), roundElems = piece * un;
  const bool keeps = all || me == op.root;
  uint8_t* tmp = Scratch((un + 1) * piece * es);  // slot r: rank r's piece of this rank's slice
  uint8_t* mine = tmp + un * piece * es;          // this rank's reduced slice where it keeps none
  auto beg = [&](size_t m, int j) { return m * static_cast<size_t>(j) / un; };
  std::vector<const void*> in(un);
  std::vector<TcpXfer> gather;
  for (size_t off = 0; off < count; off += roundElems) {
    const size_t m = std::min(roundElems, count - off);
    std::vector<TcpXfer> xs = std::move(gather);
    gather.clear();
    const size_t lo = off + beg(m, me), hi = off + beg(m, me + 1);
    for (int p = 0; p < n; p++) {
      if (p == me) continue;
      const size_t plo = off + beg(m, p), phi = off + beg(m, p + 1);
      xs.push_back(SendTo(p, op.send + plo * es, (phi - plo) * es));
      xs.push_back(RecvFrom(p, tmp + static_cast<size_t>(p) * piece * es, (hi - lo) * es));
    }
    Step(std::move(xs));
    for (int r = 0; r < n; r++) in[static_cast<size_t>(r)] = r == me ? op.send + lo * es : tmp + static_cast<size_t>(r) * piece * es;
    uint8_t* out = keeps ? op.recv + lo * es : mine;
    ReduceN(op.dtype, op.op, out, in.data(), n, hi - lo, n);
    for (int p = 0; p < n; p++) {
      if (p == me) continue;
      const size_t plo = off + beg(m, p), phi = off + beg(m, p + 1);
      if (all || p == op.root) gather.push_back(SendTo(p, out, (hi - lo) * es));
      if (keeps) gather.push_back(RecvFrom(p, op.recv + plo * es, (phi - plo) * es));
    }
  }
  Step(std::move(gather));
}

// Small or two ranks: the root sends to everyone. Otherwise a chain from the root, in chunks of
// slotBytes, each rank forwarding chunk i-1 while it receives chunk i.
void TcpTransport::Broadcast(Op& op) {
  const size_t total = static_cast<size_t>(op.count) * DTypeSize(op.dtype);
  const int n = cfg_.size, me = cfg_.rank;
  const bool root = me == op.root;
  if (total <= kSmallBytes || n <= 2) {
    std::vector<TcpXfer> xs;
    for (int p = 0; p < n; p++) {
      if (p == me) continue;
      if (root) xs.push_back(SendTo(p, op.send, total));
      else if (p == op.root) xs.push_back(RecvFrom(p, op.recv, total));
    }
    return Step(std::move(xs));
  }
  const int pos = (me - op.root + n) % n, next = (me + 1) % n, prev = (me - 1 + n) % n;
  const size_t chunk = cfg_.slotBytes, k = (total + chunk - 1) / chunk;
  auto len = [&](size_t i) { return std::min(chunk, total - i * chunk); };
  if (root) {
    std::vector<TcpXfer> xs;
    for (size_t i = 0; i < k; i++) xs.push_back(SendTo(next, op.send + i * chunk, len(i)));
    return Step(std::move(xs));
  }
  for (size_t i = 0; i <= k; i++) {
    std::vector<TcpXfer> xs;
    if (i < k) xs.push_back(RecvFrom(prev, op.recv + i * chunk, len(i)));
    if (i > 0 && pos < n - 1) xs.push_back(SendTo(next, op.recv + (i - 1) * chunk, len(i - 1)));
    Step(std::move(xs));
  }
}

// Ring: in step s each rank passes on the block it got in step s-1 (its own first).
void TcpTransport::AllGather(Op& op) {
  const size_t total = static_cast<size_t>(op.count) * DTypeSize(op.dtype);
  const int n = cfg_.size, me = cfg_.rank, next = (me + 1) % n, prev = (me - 1 + n) % n;
  uint8_t* own = op.recv + static_cast<size_t>(me) * total;
  if (op.send != own) std::memmove(own, op.send, total);
  for (int s = 0; s < n - 1; s++) {
    const size_t sb = static_cast<size_t>((me - s + n) % n), rb = static_cast<size_t>((me - s - 1 + 2 * n) % n);
    std::vector<TcpXfer> xs;
    xs.push_back(SendTo(next, op.recv + sb * total, total));
    xs.push_back(RecvFrom(prev, op.recv + rb * total, total));
    Step(std::move(xs));
  }
}

// Direct: block j of every rank goes to rank j, which reduces the n blocks in rank order (a ring
// would add them in another order on every rank: not bitwise the reference, nor shm's result).
void TcpTransport::ReduceScatter(Op& op) {
  const size_t es = DTypeSize(op.dtype), count = static_cast<size_t>(op.count);
  const int n = cfg_.size, me = cfg_.rank;
  const size_t piece = PieceElems(es, static_cast<size_t>(n));
  uint8_t* tmp = Scratch(static_cast<size_t>(n) * piece * es);
  std::vector<const void*> in(static_cast<size_t>(n));
  size_t off = 0;
  do {
    const size_t m = std::min(piece, count - off);
    std::vector<TcpXfer> xs;
    for (int p = 0; p < n; p++) {
      if (p == me) continue;
      xs.push_back(SendTo(p, op.send + (static_cast<size_t>(p) * count + off) * es, m * es));
      xs.push_back(RecvFrom(p, tmp + static_cast<size_t>(p) * piece * es, m * es));
    }
    Step(std::move(xs));
    for (int r = 0; r < n; r++)
      in[static_cast<size_t>(r)] = r == me ? op.send + (static_cast<size_t>(me) * count + off) * es : tmp + static_cast<size_t>(r) * piece * es;
    ReduceN(op.dtype, op.op, op.recv + off * es, in.data(), n, m, n);
    off += m;
  } while (off < count);
}

void TcpTransport::Gather(Op& op) {
  const size_t total = static_cast<size_t>(op.count) * DTypeSize(op.dtype);
  const int n = cfg_.size, me = cfg_.rank;
  const bool root = me == op.root;
  std::vector<TcpXfer> xs;
  if (root) {
    for (int p = 0; p < n; p++)
      if (p != me) xs.push_back(RecvFrom(p, op.recv + static_cast<size_t>(p) * total, total));
  } else {
    xs.push_back(SendTo(op.root, op.send, total));
  }
  Step(std::move(xs));
  uint8_t* own = root ? op.recv + static_cast<size_t>(me) * total : nullptr;
  if (root && own != op.send) std::memmove(own, op.send, total);
}

void TcpTransport::Scatter(Op& op) {
  const size_t total = static_cast<size_t>(op.count) * DTypeSize(op.dtype);
  const int n = cfg_.size, me = cfg_.rank;
  const bool root = me == op.root;
  std::vector<TcpXfer> xs;
  if (root) {
    for (int p = 0; p < n; p++)
      if (p != me) xs.push_back(SendTo(p, op.send + static_cast<size_t>(p) * total, total));
  } else {
    xs.push_back(RecvFrom(op.root, op.recv, total));
  }
  Step(std::move(xs));
  const uint8_t* own = root ? op.send + static_cast<size_t>(me) * total : nullptr;
  if (root && own != op.recv) std::memmove(op.recv, own, total);
}

// Pairwise: in step k each rank sends to (r+k)%n and receives from (r-k)%n.
void TcpTransport::AllToAll(Op& op) {
  const size_t es = DTypeSize(op.dtype);
  const int n = cfg_.size, me = cfg_.rank;
  const size_t un = static_cast<size_t>(n);
  std::vector<size_t> sOff(un + 1), rOff(un + 1);
  for (size_t r = 0; r < un; r++) {
    sOff[r + 1] = sOff[r] + static_cast<size_t>(op.sendCounts[r]) * es;
    rOff[r + 1] = rOff[r] + static_cast<size_t>(op.recvCounts[r]) * es;
  }
  const size_t m = static_cast<size_t>(me);
  if (op.sendCounts[m] != op.recvCounts[m])
    Fail(code::kDistMismatch,
         OpLabel() + ": the ranks' calls do not match: rank " + std::to_string(me) + " sends " + std::to_string(op.sendCounts[m]) +
             " element(s) to rank " + std::to_string(me) + ", which expects " + std::to_string(op.recvCounts[m]) + " from it",
         me);
  const uint8_t* src = op.send;
  if (src < op.recv + rOff[un] && op.recv < src + sOff[un]) {  // in place: keep the input
    uint8_t* copy = Scratch(sOff[un]);
    std::memcpy(copy, op.send, sOff[un]);
    src = copy;
  }
  for (int k = 1; k < n; k++) {
    const size_t to = static_cast<size_t>((me + k) % n), from = static_cast<size_t>((me - k + n) % n);
    std::vector<TcpXfer> xs;
    xs.push_back(SendTo(static_cast<int>(to), src + sOff[to], sOff[to + 1] - sOff[to]));
    xs.push_back(RecvFrom(static_cast<int>(from), op.recv + rOff[from], rOff[from + 1] - rOff[from]));
    Step(std::move(xs));
  }
  std::memmove(op.recv + rOff[m], src + sOff[m], sOff[m + 1] - sOff[m]);
}

// ---- point to point -------------------------------------------------------------------------

void TcpTransport::RunP2P(std::vector<Op*> ops, P2PHooks& hooks) {
  std::vector<std::unique_ptr<TcpXfer>> st;
  auto add = [&](Op* op) {
    try {
      CheckUsable(*op);
    } catch (const NativeError& e) {
      hooks.Done(op, &e);
      return;
    }
    op->seq = ++p2pSeq_;
    auto x = std::make_unique<TcpXfer>();
    x->op = op;
    x->peer = op->root;
    x->send = op->kind == Kind::Send;
    x->len = static_cast<size_t>(op->count) * DTypeSize(op->dtype);
    if (x->send) {
      x->src = op->send;
      FrameHdr& h = x->hdr;
      h.type = kP2PMsg;
      h.kind = static_cast<uint32_t>(op->kind);
      h.dtype = static_cast<uint32_t>(op->dtype);
      h.seq = op->seq;
      h.count = op->count;
      h.a = op->tag;
      h.b = static_cast<int64_t>(x->len);
    } else {
      x->dst = op->recv;
    }
    st.push_back(std::move(x));
  };
  for (Op* op : ops) add(op);
  const size_t n = static_cast<size_t>(cfg_.size);
  std::vector<TcpXfer*> as(n), ar(n);
  deadline_ = Clock::now() + std::chrono::milliseconds(cfg_.timeoutMs);
  try {
    for (;;) {
      while (Op* more = hooks.More()) add(more);
      if (st.empty()) return;
      std::fill(as.begin(), as.end(), nullptr);
      std::fill(ar.begin(), ar.end(), nullptr);
      for (auto& x : st) {
        TcpXfer*& slot = x->send ? as[static_cast<size_t>(x->peer)] : ar[static_cast<size_t>(x->peer)];
        if (!slot) slot = x.get();  // messages are FIFO per pair and direction
      }
      bool progress = false;
      for (size_t p = 0; p < n; p++)
        if (as[p]) progress |= PumpSend(Conn(static_cast<int>(p), kP2P), *as[p]);
      for (size_t p = 0; p < n; p++) {
        if (static_cast<int>(p) == cfg_.rank) continue;
        progress |= PumpRecv(Conn(static_cast<int>(p), kP2P), ar[p]);
        progress |= PumpRecv(Conn(static_cast<int>(p), kColl), nullptr);  // an abort frame from a failing peer
      }
      for (auto& x : st)
        if (x->complete) hooks.Done(x->op, nullptr);
      st.erase(std::remove_if(st.begin(), st.end(), [](const std::unique_ptr<TcpXfer>& x) { return x->complete; }), st.end());
      if (progress) {
        deadline_ = Clock::now() + std::chrono::milliseconds(cfg_.timeoutMs);
        continue;
      }
      if (st.empty()) continue;
      cur_ = st.front()->op;
      WaitIo(as, ar, true, 1);
    }
  } catch (const NativeError& e) {
    cur_ = nullptr;
    for (auto& x : st) hooks.Done(x->op, x->complete ? nullptr : &e);
    FailQueuedP2P(hooks, e);
    if (!broken_.load()) broken_.store(true);
    return;
  }
}

}  // namespace cpucomm
}  // namespace nn
