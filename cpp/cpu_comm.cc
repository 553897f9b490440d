#include "cpu_comm.h"

#include <cstring>
#include <sstream>

namespace nn {
namespace cpucomm {

const char* KindName(Kind k) {
  static const char* names[] = {"barrier", "allReduce", "broadcast", "reduce", "allGather", "reduceScatter",
                                "gather", "scatter", "allToAll", "send", "recv"};
  return static_cast<uint32_t>(k) < kNumKinds ? names[static_cast<uint32_t>(k)] : "unknown";
}

const char* CodeFor(uint32_t c) {
  switch (c) {
    case kTimeout: return code::kDistTimeout;
    case kPeer: return code::kDistPeer;
    case kMismatch: return code::kDistMismatch;
    default: return code::kDistAborted;
  }
}

uint32_t AbortCodeOf(const char* c) {
  if (std::strcmp(c, code::kDistTimeout) == 0) return kTimeout;
  if (std::strcmp(c, code::kDistPeer) == 0) return kPeer;
  if (std::strcmp(c, code::kDistMismatch) == 0) return kMismatch;
  return kNone;
}

std::string RankList(const std::vector<int>& r) {
  std::string s;
  for (size_t i = 0; i < r.size(); i++) s += (i ? ", " : "") + std::to_string(r[i]);
  return s;
}

std::string DescribeCall(uint32_t kind, uint32_t dtype, uint32_t op, int32_t root, int64_t count) {
  std::ostringstream os;
  Kind k = static_cast<Kind>(kind);
  os << KindName(k) << "(" << DTypeName(static_cast<DType>(dtype % kNumDTypes)) << ", count " << count;
  if (k == Kind::AllReduce || k == Kind::Reduce || k == Kind::ReduceScatter)
    os << ", op " << RedOpName(static_cast<RedOp>(op));
  if (k == Kind::Broadcast || k == Kind::Scatter) os << ", src " << root;
  if (k == Kind::Reduce || k == Kind::Gather) os << ", dst " << root;
  os << ")";
  return os.str();
}

void FailQueuedP2P(P2PHooks& hooks, const NativeError& e) {
  while (Op* more = hooks.More()) {
    NativeError again(code::kDistAborted, std::string(KindName(more->kind)) +
                                              ": the communicator was aborted after an earlier failure: " + e.what());
    hooks.Done(more, &again);
  }
}

void RunAlone(const Op& op) {
  const size_t es = DTypeSize(op.dtype);
  size_t bytes = static_cast<size_t>(op.count) * es;
  if (op.kind == Kind::AllToAll) bytes = static_cast<size_t>(op.sendCounts[0]) * es;
  if (op.kind == Kind::Barrier || op.send == op.recv || !op.send || !op.recv) return;
  std::memmove(op.recv, op.send, bytes);
}

}  // namespace cpucomm
}  // namespace nn
