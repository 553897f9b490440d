// CUDA kernel of tril / triu (meaning: triangle.cc): one thread per element in a grid-stride loop,
// moving raw elements of the dtype's size (zero is all-zero bits in every dtype).
#include "cuda_common.cuh"

namespace nn {
namespace k {
namespace {

template <class R>
__global__ void TriangleK(int64_t n, int64_t rows, int64_t cols, int64_t diagonal, bool upper, R* out, const R* in) {
  for (int64_t t = GlobalId(); t < n; t += GlobalStride()) {
    const int64_t j = t % cols, i = (t / cols) % rows;
    const int64_t d = j - i;
    const bool keep = upper ? d >= diagonal : d <= diagonal;
    out[t] = keep ? in[t] : R(0);
  }
}

}  // namespace

void CudaTriangle(DType dt, int64_t batch, int64_t rows, int64_t cols, int64_t diagonal, bool upper, void* out,
                  const void* in, Stream s) {
  const int64_t n = batch * rows * cols;
  if (n == 0) return;
  auto run = [&](auto tag) {
    using R = decltype(tag);
    TriangleK<R><<<GridFor(n), kThreads, 0, s>>>(n, rows, cols, diagonal, upper, static_cast<R*>(out),
                                                 static_cast<const R*>(in));
    NN_CUDA_CHECK_LAUNCH("TriangleK");
  };
  switch (DTypeSize(dt)) {
    case 8: run(uint64_t{}); break;
    case 4: run(uint32_t{}); break;
    case 2: run(uint16_t{}); break;
    default: run(uint8_t{}); break;
  }
}

}  // namespace k
}  // namespace nn
