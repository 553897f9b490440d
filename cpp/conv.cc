// The device convolution (NCHW) as im2col + cuBLAS GEMM, PyTorch's slow_conv2d scheme on CUDA
// (no cuDNN here: node-nccl loads only cuBLAS). Why im2col and not an implicit GEMM: it reuses
// cuBLAS's tuned GEMMs for every dtype (fp32/tf32, fp16, bf16, fp64) and the two small kernels are
// memory-bound gathers, so one code path serves every shape; its cost is the col buffer, which is
// bounded by processing the batch in chunks of images (ColBudget() bytes of scratch at most, at
// least one image). NCHW because it is torch's default layout and the layout of every tensor here:
// weight [outC, c/groups, kh, kw] rows are then GEMM rows, and no layout conversion is needed.
//
//   forward          out[i, g]   = W[g] @ col[i, g]        one strided-batched GEMM per group and
//                                                          chunk (W broadcast: strideA = 0); the
//                                                          bias is copied into out first (beta 1)
//   backward input   col[i, g]   = W[g]^T @ gout[i, g]     then col2im into gx
//   backward weight  gW[g]      += goutT[g] @ colT[g]^T     over a chunk at once: col in the
//                                                          [K, chunk*L] layout and gout transposed
//                                                          to [outC, chunk*L], so the sum over the
//                                                          chunk's images is the GEMM's own K loop
// A 1x1 convolution with stride 1 and no padding uses the input (or gx) as its col.
#include "conv.h"

#include <algorithm>
#include <cstdlib>

#include "allocator.h"
#include "device/device.h"
#include "errors.h"

namespace nn {
namespace {

using k::ConvGeom;
using k::DType;

// The most scratch bytes (col, and gout's transpose for the weight gradient) one call takes:
// NODE_NCCL_CONV_CHUNK_BYTES, default 256 MiB; the batch is processed in chunks that fit (at
// least one image per chunk, whatever its size).
size_t ColBudget() {
  const char* e = std::getenv("NODE_NCCL_CONV_CHUNK_BYTES");
  if (e && *e) {
    char* end = nullptr;
    unsigned long long v = std::strtoull(e, &end, 10);
    if (end && *end == '\0' && v > 0) return static_cast<size_t>(v);
  }
  return size_t{256} << 20;
}

int64_t PatchSize(const ConvGeom& g) { return g.c * g.kh * g.kw; }
int64_t Positions(const ConvGeom& g) { return g.oh * g.ow; }
bool Pointwise(const ConvGeom& g) {
  return g.kh == 1 && g.kw == 1 && g.strideH == 1 && g.strideW == 1 && g.padH == 0 && g.padW == 0 && g.oh == g.h &&
         g.ow == g.w;
}

// Images per chunk so that `perImage` bytes of scratch per image stay within the budget.
int64_t ChunkImages(int64_t n, size_t perImage) {
  if (perImage == 0) return std::max<int64_t>(n, 1);
  return std::max<int64_t>(1, std::min<int64_t>(n, static_cast<int64_t>(ColBudget() / perImage)));
}

// Device scratch from the caching allocator, freed in stream order when it goes out of scope.
struct Scratch {
  DeviceAllocation a;
  Scratch(int device, size_t bytes, k::Stream s) {
    if (bytes) a = DeviceMalloc(device, bytes, s);
  }
  ~Scratch() {
    if (a.ptr) DeviceFree(a);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  char* ptr() const { return static_cast<char*>(a.ptr); }
};

const char* At(const void* p, int64_t elems, size_t es) {
  return static_cast<const char*>(p) + elems * static_cast<int64_t>(es);
}
char* At(void* p, int64_t elems, size_t es) { return static_cast<char*>(p) + elems * static_cast<int64_t>(es); }

k::GemmArgs Gemm(int64_t batch, int64_t m, int64_t n, int64_t kk, const void* a, int64_t lda, int64_t strideA,
                 bool transA, const void* b, int64_t ldb, int64_t strideB, bool transB, void* c, int64_t ldc,
                 int64_t strideC, double beta, bool allowTf32) {
  k::GemmArgs g{};
  g.batch = batch;
  g.m = m;
  g.n = n;
  g.k = kk;
  g.a = a;
  g.lda = std::max<int64_t>(1, lda);
  g.strideA = strideA;
  g.transA = transA;
  g.b = b;
  g.ldb = std::max<int64_t>(1, ldb);
  g.strideB = strideB;
  g.transB = transB;
  g.c = c;
  g.ldc = std::max<int64_t>(1, ldc);
  g.strideC = strideC;
  g.alpha = 1;
  g.beta = beta;
  g.allowTf32 = allowTf32;
  return g;
}

// dst[i0, i1, i2] = src[i0, i1, i2] with the given element strides (a kt.copy launch).
void Copy3(const k::KernelTable& kt, k::Stream s, DType dt, const int64_t (&size)[3], void* dst,
           const int64_t (&dstSt)[3], const void* src, const int64_t (&srcSt)[3]) {
  k::Iter<2> it;
  it.ndim = 3;
  for (int d = 0; d < 3; d++) {
    it.size[d] = size[d];
    it.st[0][d] = dstSt[d];
    it.st[1][d] = srcSt[d];
  }
  it.ptr[0] = static_cast<char*>(dst);
  it.ptr[1] = const_cast<char*>(static_cast<const char*>(src));
  if (it.Numel() == 0) return;
  it.Coalesce();
  kt.copy(dt, dt, it, s);
}

}  // namespace

void DeviceConv2d(const k::KernelTable& kt, int device, k::Stream s, DType dt, const ConvGeom& g, void* out,
                  const void* x, const void* w, const void* b, bool allowTf32) {
  const size_t es = k::DTypeSize(dt);
  const int64_t K = PatchSize(g), L = Positions(g), Kg = K / g.groups, OCg = g.outC / g.groups, CHW = g.c * g.h * g.w;
  const bool pw = Pointwise(g);
  const int64_t nb = ChunkImages(g.n, pw ? 0 : static_cast<size_t>(K * L) * es);
  Scratch col(device, pw ? 0 : static_cast<size_t>(nb * K * L) * es, s);
  for (int64_t n0 = 0; n0 < g.n; n0 += nb) {
    const int64_t cnt = std::min(nb, g.n - n0);
    const void* xi = At(x, n0 * CHW, es);
    void* oi = At(out, n0 * g.outC * L, es);
    if (b) Copy3(kt, s, dt, {cnt, g.outC, L}, oi, {g.outC * L, L, 1}, b, {0, 1, 0});
    if (!pw) kt.im2col(dt, g, cnt, xi, col.ptr(), K * L, L, s);
    const void* cp = pw ? xi : col.ptr();
    for (int64_t gi = 0; gi < g.groups; gi++)
      k::CublasMatmul(dt,
                      Gemm(cnt, OCg, L, Kg, At(w, gi * OCg * Kg, es), Kg, 0, false, At(cp, gi * Kg * L, es), L, K * L,
                           false, At(oi, gi * OCg * L, es), L, g.outC * L, b ? 1.0 : 0.0, allowTf32),
                      device, s);
  }
}

void DeviceConv2dBackwardInput(const k::KernelTable& kt, int device, k::Stream s, DType dt, const ConvGeom& g,
                               void* gx, const void* gout, const void* w, bool allowTf32) {
  const size_t es = k::DTypeSize(dt);
  const int64_t K = PatchSize(g), L = Positions(g), Kg = K / g.groups, OCg = g.outC / g.groups, CHW = g.c * g.h * g.w;
  const bool pw = Pointwise(g);
  const int64_t nb = ChunkImages(g.n, pw ? 0 : static_cast<size_t>(K * L) * es);
  Scratch col(device, pw ? 0 : static_cast<size_t>(nb * K * L) * es, s);
  for (int64_t n0 = 0; n0 < g.n; n0 += nb) {
    const int64_t cnt = std::min(nb, g.n - n0);
    void* gxi = At(gx, n0 * CHW, es);
    const void* goi = At(gout, n0 * g.outC * L, es);
    void* cp = pw ? gxi : col.ptr();
    for (int64_t gi = 0; gi < g.groups; gi++)
      k::CublasMatmul(dt,
                      Gemm(cnt, Kg, L, OCg, At(w, gi * OCg * Kg, es), Kg, 0, true, At(goi, gi * OCg * L, es), L,
                           g.outC * L, false, At(cp, gi * Kg * L, es), L, K * L, 0.0, allowTf32),
                      device, s);
    if (!pw) kt.col2im(dt, g, cnt, col.ptr(), K * L, L, gxi, s);
  }
}

void DeviceConv2dBackwardWeight(const k::KernelTable& kt, int device, k::Stream s, DType dt, const ConvGeom& g,
                                void* gw, void* gb, const void* gout, const void* x, bool allowTf32) {
  const size_t es = k::DTypeSize(dt);
  const int64_t K = PatchSize(g), L = Positions(g), Kg = K / g.groups, OCg = g.outC / g.groups, CHW = g.c * g.h * g.w;
  if (g.n == 0 || L == 0) {
    if (gw) CheckCuda(dev::Get().MemsetAsync(gw, 0, static_cast<size_t>(g.outC * Kg) * es, s), "conv2dBackwardWeight");
    if (gb) CheckCuda(dev::Get().MemsetAsync(gb, 0, static_cast<size_t>(g.outC) * es, s), "conv2dBackwardWeight");
    return;
  }
  const int64_t nb = ChunkImages(g.n, static_cast<size_t>(((gw ? K : 0) + g.outC) * L) * es);
  Scratch col(device, gw ? static_cast<size_t>(nb * K * L) * es : 0, s);
  Scratch goT(device, static_cast<size_t>(nb * g.outC * L) * es, s);
  Scratch part(device, gb && nb < g.n ? static_cast<size_t>(g.outC) * es : 0, s);
  for (int64_t n0 = 0; n0 < g.n; n0 += nb) {
    const int64_t cnt = std::min(nb, g.n - n0), CL = cnt * L;
    // gout as [outC, cnt * L]; col as [K, cnt * L] (image i's positions at columns i*L..)
    Copy3(kt, s, dt, {g.outC, cnt, L}, goT.ptr(), {CL, L, 1}, At(gout, n0 * g.outC * L, es), {L, g.outC * L, 1});
    if (gb) {
      // the bias gradient: goT's row sums (one reduction per chunk, added up over chunks)
      void* dst = n0 == 0 ? gb : part.ptr();
      Scratch red(device, kt.reduceScratch(g.outC, CL, 1), s);
      kt.reduce(k::ROp::Sum, dt, g.outC, CL, 1, dst, goT.ptr(), nullptr, 0, red.ptr(), s);
      if (n0 > 0) {
        k::Iter<3> it;
        it.ndim = 1;
        it.size[0] = g.outC;
        for (int o = 0; o < 3; o++) it.st[o][0] = 1;
        it.ptr[0] = static_cast<char*>(gb);
        it.ptr[1] = static_cast<char*>(gb);
        it.ptr[2] = part.ptr();
        kt.binary(k::BOp::Add, dt, it, s);
      }
    }
    if (!gw) continue;
    kt.im2col(dt, g, cnt, At(x, n0 * CHW, es), col.ptr(), L, CL, s);
    for (int64_t gi = 0; gi < g.groups; gi++)
      k::CublasMatmul(dt,
                      Gemm(1, OCg, Kg, CL, At(goT.ptr(), gi * OCg * CL, es), CL, 0, false, At(col.ptr(), gi * Kg * CL, es),
                           CL, 0, true, At(gw, gi * OCg * Kg, es), Kg, 0, n0 == 0 ? 0.0 : 1.0, allowTf32),
                      device, s);
  }
}

}  // namespace nn
