#include "cpu_comm.h"

#include <cstring>

namespace nn {
namespace cpucomm {

const char* KindName(Kind k) {
  static const char* names[] = {"barrier", "allReduce", "broadcast", "reduce", "allGather", "reduceScatter",
                                "gather", "scatter", "allToAll", "send", "recv"};
  return static_cast<uint32_t>(k) < kNumKinds ? names[static_cast<uint32_t>(k)] : "unknown";
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
