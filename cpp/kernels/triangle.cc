// Host kernel of tril / triu (issue 14): the lower or upper triangle of each [rows, cols] matrix
// of a contiguous [batch, rows, cols] input, the other elements zero. Element (i, j) is kept when
// j - i <= diagonal (lower) or j - i >= diagonal (upper), as torch.tril / torch.triu. Only bytes
// move (zero is all-zero bits in every dtype), so the kernel works on rows of element size bytes;
// out may be in (in place).
#include <algorithm>
#include <cstring>

#include "kernels.h"

namespace nn {
namespace k {

void HostTriangle(DType dt, int64_t batch, int64_t rows, int64_t cols, int64_t diagonal, bool upper, void* out,
                  const void* in) {
  const size_t es = DTypeSize(dt);
  auto* o = static_cast<char*>(out);
  auto* x = static_cast<const char*>(in);
  for (int64_t b = 0; b < batch; b++)
    for (int64_t i = 0; i < rows; i++) {
      const int64_t r = (b * rows + i) * cols;
      // the kept columns are [lo, hi): lower keeps j <= i + diagonal, upper keeps j >= i + diagonal
      const int64_t edge = i + diagonal;
      const int64_t lo = upper ? std::clamp<int64_t>(edge, 0, cols) : 0;
      const int64_t hi = upper ? cols : std::clamp<int64_t>(edge + 1, 0, cols);
      char* row = o + r * static_cast<int64_t>(es);
      const char* src = x + r * static_cast<int64_t>(es);
      if (lo > 0) std::memset(row, 0, static_cast<size_t>(lo) * es);
      if (hi > lo && row != src) std::memmove(row + lo * es, src + lo * es, static_cast<size_t>(hi - lo) * es);
      if (hi < cols) std::memset(row + std::max(hi, lo) * es, 0, static_cast<size_t>(cols - std::max(hi, lo)) * es);
    }
}

}  // namespace k
}  // namespace nn
