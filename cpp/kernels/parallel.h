// A small host fork-join for kernels whose rows (images, planes) are independent: splits [0, n)
// into contiguous parts over up to IntraOpThreads() std::threads (NODE_NCCL_CPU_THREADS) when the
// work is big enough to pay for starting them, and runs the last part on the calling thread.
#pragma once
#include <algorithm>
#include <cstdint>
#include <thread>
#include <vector>

#include "../loader.h"

namespace nn {
namespace k {

// Threads worth using for `work` (about one multiply-add or element per unit) over n parts.
inline int ThreadsFor(int64_t n, double work) {
  if (n <= 1 || work < 2e5) return 1;
  return static_cast<int>(std::min<int64_t>(IntraOpThreads(), n));
}

// f(part, begin, end) for `parts` contiguous ranges of [0, n).
template <class F>
void ParallelParts(int64_t n, int parts, F&& f) {
  if (parts <= 1) {
    if (n > 0) f(0, int64_t(0), n);
    return;
  }
  std::vector<std::thread> pool;
  pool.reserve(parts - 1);
  for (int p = 0; p + 1 < parts; p++) {
    const int64_t b = n * p / parts, e = n * (p + 1) / parts;
    pool.emplace_back([&f, p, b, e] { f(p, b, e); });
  }
  f(parts - 1, n * (parts - 1) / parts, n);
  for (auto& t : pool) t.join();
}

}  // namespace k
}  // namespace nn
