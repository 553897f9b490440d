#include "cpu_comm.h"

namespace nn {
namespace cpucomm {

const char* KindName(Kind k) {
  static const char* names[] = {"barrier", "allReduce", "broadcast", "reduce", "allGather", "reduceScatter",
                                "gather", "scatter", "allToAll", "send", "recv"};
  return static_cast<uint32_t>(k) < kNumKinds ? names[static_cast<uint32_t>(k)] : "unknown";
}

}  // namespace cpucomm
}  // namespace nn
