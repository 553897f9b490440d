// The simulation's kernel table: each entry checks the launch as sim::Launch does (the stream is on
// the current device, every operand is memory of that device) and queues the kernel's host twin
// (cpp/kernels/*.cc) on the stream, with its arguments copied: it runs later, on the stream's
// worker thread. Scratch sizes are 0: host twins need no device scratch.
#include "../kernels/kernels.h"
#include "sim.h"

namespace nn {
namespace dev {
namespace sim {
namespace {

using namespace nn::k;

template <int N>
std::vector<const void*> Ptrs(const Iter<N>& it) {
  if (it.Numel() == 0) return {};
  return std::vector<const void*>(it.ptr, it.ptr + N);
}

void Unary(UOp op, DType dt, Iter<2> it, double p0, double p1, bool scalarF, Stream s) {
  Launch("unary", s, Ptrs(it), [=] { HostUnary(op, dt, it, p0, p1, scalarF); });
}
void Binary(BOp op, DType dt, Iter<3> it, Stream s) {
  Launch("binary", s, Ptrs(it), [=] { HostBinary(op, dt, it); });
}
void Where(DType dt, Iter<4> it, Stream s) { Launch("where", s, Ptrs(it), [=] { HostWhere(dt, it); }); }
void Copy(DType src, DType dst, Iter<2> it, Stream s) {
  Launch("copy", s, Ptrs(it), [=] { HostCopy(src, dst, it); });
}
size_t NoScratch2(int64_t, int64_t) { return 0; }
size_t NoScratch3(int64_t, int64_t, int64_t) { return 0; }
void Reduce(ROp op, DType dt, int64_t outer, int64_t size, int64_t inner, void* out, const void* in, int64_t* idx,
            double correction, void*, Stream s) {
  Launch("reduce", s, {out, size > 0 ? in : nullptr, idx},
         [=] { HostReduce(op, dt, outer, size, inner, out, in, idx, correction); });
}
void Softmax(DType dt, int64_t rows, int64_t cols, void* out, const void* in, bool log, void*, Stream s) {
  Launch("softmax", s, {out, in}, [=] { HostSoftmax(dt, rows, cols, out, in, log); });
}
void SoftmaxBackward(DType dt, int64_t rows, int64_t cols, void* gin, const void* gout, const void* y, bool log, Stream s) {
  Launch("softmaxBackward", s, {gin, gout, y}, [=] { HostSoftmaxBackward(dt, rows, cols, gin, gout, y, log); });
}
void LayerNorm(DType dt, int64_t rows, int64_t cols, void* out, void* mean, void* rstd, const void* x, const void* w,
               const void* b, double eps, void*, Stream s) {
  Launch("layerNorm", s, {out, mean, rstd, x, w, b},
         [=] { HostLayerNorm(dt, rows, cols, out, mean, rstd, x, w, b, eps); });
}
void LayerNormBackward(DType dt, int64_t rows, int64_t cols, void* gx, void* gw, void* gb, const void* gout,
                       const void* x, const void* mean, const void* rstd, const void* w, void*, Stream s) {
  Launch("layerNormBackward", s, {gx, gw, gb, gout, rows > 0 ? x : nullptr, rows > 0 ? mean : nullptr, rows > 0 ? rstd : nullptr, w},
         [=] { HostLayerNormBackward(dt, rows, cols, gx, gw, gb, gout, x, mean, rstd, w); });
}
void BatchNormStats(DType dt, int64_t outer, int64_t ch, int64_t inner, void* mean, void* var, const void* x, Stream s) {
  Launch("batchNormStats", s, {mean, var, outer * inner > 0 ? x : nullptr},
         [=] { HostBatchNormStats(dt, outer, ch, inner, mean, var, x); });
}
void BatchNormElemt(DType dt, int64_t outer, int64_t ch, int64_t inner, void* out, const void* x, const void* mean,
                    const void* invstd, const void* w, const void* b, Stream s) {
  Launch("batchNormElemt", s, {out, x, mean, invstd, w, b},
         [=] { HostBatchNormElemt(dt, outer, ch, inner, out, x, mean, invstd, w, b); });
}
void BatchNormBackwardReduce(DType dt, int64_t outer, int64_t ch, int64_t inner, void* dy, void* dyXmu, void* gw, void* gb,
                             const void* gout, const void* x, const void* mean, const void* invstd, double scale,
                             Stream s) {
  const bool any = outer * inner > 0;
  Launch("batchNormBackwardReduce", s, {dy, dyXmu, gw, gb, any ? gout : nullptr, any ? x : nullptr, mean, invstd},
         [=] { HostBatchNormBackwardReduce(dt, outer, ch, inner, dy, dyXmu, gw, gb, gout, x, mean, invstd, scale); });
}
void BatchNormBackwardElemt(DType dt, int64_t outer, int64_t ch, int64_t inner, void* gx, const void* gout, const void* x,
                            const void* mean, const void* invstd, const void* w, const void* meanDy,
                            const void* meanDyXmu, Stream s) {
  Launch("batchNormBackwardElemt", s, {gx, gout, x, mean, invstd, w, meanDy, meanDyXmu},
         [=] { HostBatchNormBackwardElemt(dt, outer, ch, inner, gx, gout, x, mean, invstd, w, meanDy, meanDyXmu); });
}
void IndexSelect(DType dt, int64_t outer, int64_t srcSize, int64_t inner, void* out, const void* src, const int64_t* index,
                 int64_t idxLen, Stream s) {
  Launch("indexSelect", s, {out, srcSize > 0 ? src : nullptr, index},
         [=] { HostIndexSelect(dt, outer, srcSize, inner, out, src, index, idxLen); });
}
void IndexAdd(DType dt, int64_t outer, int64_t outSize, int64_t inner, void* out, const void* src, const int64_t* index,
              int64_t idxLen, Stream s) {
  Launch("indexAdd", s, {outSize > 0 ? out : nullptr, src, index},
         [=] { HostIndexAdd(dt, outer, outSize, inner, out, src, index, idxLen); });
}
void Gather(DType dt, const GatherArgs& g, void* out, const void* src, const int64_t* index, Stream s) {
  Launch("gather", s, {out, src, index}, [=] { HostGather(dt, g, out, src, index); });
}
void ScatterAdd(DType dt, const GatherArgs& g, void* out, const void* src, const int64_t* index, Stream s) {
  Launch("scatterAdd", s, {out, src, index}, [=] { HostScatterAdd(dt, g, out, src, index); });
}
void Random(Dist dist, DType dt, void* out, int64_t numel, uint64_t seed, uint64_t offset, double p0, double p1, Stream s) {
  Launch("random", s, {out}, [=] { HostRandom(dist, dt, out, numel, seed, offset, p0, p1); });
}
void Arange(DType dt, void* out, int64_t numel, double start, double step, Stream s) {
  Launch("arange", s, {out}, [=] { HostArange(dt, out, numel, start, step); });
}

std::vector<const void*> OptimPtrs(const std::vector<OptimTensor>& ts) {
  std::vector<const void*> p;
  for (const OptimTensor& t : ts) {
    if (t.numel == 0) continue;
    for (const void* q : {static_cast<const void*>(t.param), t.grad, static_cast<const void*>(t.s0),
                          static_cast<const void*>(t.s1), static_cast<const void*>(t.s2)})
      if (q) p.push_back(q);
  }
  return p;
}
void Adam(DType dt, const std::vector<OptimTensor>& ts, const AdamOpts& o, Stream s) {
  Launch("adam", s, OptimPtrs(ts), [=] { HostAdam(dt, ts, o); });
}
void Sgd(DType dt, const std::vector<OptimTensor>& ts, const SgdOpts& o, Stream s) {
  Launch("sgd", s, OptimPtrs(ts), [=] { HostSgd(dt, ts, o); });
}
void SumSquares(DType dt, const std::vector<const void*>& ptrs, const std::vector<int64_t>& numels, double* out, Stream s) {
  std::vector<const void*> p{out};
  for (size_t i = 0; i < ptrs.size(); i++)
    if (numels[i] > 0) p.push_back(ptrs[i]);
  Launch("sumSquares", s, p, [=] { HostSumSquares(dt, ptrs, numels, out); });
}

void Sort(DType dt, int64_t rows, int64_t n, int64_t k, void* values, int64_t* indices, const void* in, bool descending,
          void*, Stream s) {
  Launch("sort", s, {values, indices, in}, [=] { HostSort(dt, rows, n, k, values, indices, in, descending); });
}
void Scan(ScanOp op, DType dt, int64_t outer, int64_t size, int64_t inner, void* out, const void* in, bool reverse,
          Stream s) {
  Launch("scan", s, {out, in}, [=] { HostScan(op, dt, outer, size, inner, out, in, reverse); });
}
void Compact(DType dt, int64_t n, void* out, int64_t outLen, const void* src, const uint8_t* mask, const int64_t* pos,
             Stream s) {
  Launch("compact", s, {outLen > 0 ? out : nullptr, src, mask, pos},
         [=] { HostCompact(dt, n, out, outLen, src, mask, pos); });
}
void Nonzero(const NonzeroArgs& a, int64_t* out, int64_t outLen, const uint8_t* mask, const int64_t* pos, Stream s) {
  Launch("nonzero", s, {outLen > 0 ? out : nullptr, mask, pos}, [=] { HostNonzero(a, out, outLen, mask, pos); });
}

void Im2col(DType dt, const ConvGeom& g, int64_t nb, const void* x, void* col, int64_t sN, int64_t sK, Stream s) {
  Launch("im2col", s, {x, col}, [=] { HostIm2col(dt, g, nb, x, col, sN, sK); });
}
void Col2im(DType dt, const ConvGeom& g, int64_t nb, const void* col, int64_t sN, int64_t sK, void* gx, Stream s) {
  Launch("col2im", s, {col, gx}, [=] { HostCol2im(dt, g, nb, col, sN, sK, gx); });
}
void MaxPool2d(DType dt, const PoolGeom& g, void* out, int64_t* indices, const void* x, Stream s) {
  Launch("maxPool2d", s, {out, indices, x}, [=] { HostMaxPool2d(dt, g, out, indices, x); });
}
void MaxPool2dBackward(DType dt, const PoolGeom& g, void* gx, const void* gout, const int64_t* indices, Stream s) {
  Launch("maxPool2dBackward", s, {gx, gout, indices}, [=] { HostMaxPool2dBackward(dt, g, gx, gout, indices); });
}
void AvgPool2d(DType dt, const PoolGeom& g, void* out, const void* x, bool cip, int64_t divisor, Stream s) {
  Launch("avgPool2d", s, {out, x}, [=] { HostAvgPool2d(dt, g, out, x, cip, divisor); });
}
void AvgPool2dBackward(DType dt, const PoolGeom& g, void* gx, const void* gout, bool cip, int64_t divisor, Stream s) {
  Launch("avgPool2dBackward", s, {gx, gout}, [=] { HostAvgPool2dBackward(dt, g, gx, gout, cip, divisor); });
}
void AdaptiveAvgPool2d(DType dt, const PoolGeom& g, void* out, const void* x, Stream s) {
  Launch("adaptiveAvgPool2d", s, {out, x}, [=] { HostAdaptiveAvgPool2d(dt, g, out, x); });
}
void AdaptiveAvgPool2dBackward(DType dt, const PoolGeom& g, void* gx, const void* gout, Stream s) {
  Launch("adaptiveAvgPool2dBackward", s, {gx, gout}, [=] { HostAdaptiveAvgPool2dBackward(dt, g, gx, gout); });
}
void Triangle(DType dt, int64_t batch, int64_t rows, int64_t cols, int64_t diagonal, bool upper, void* out,
              const void* in, Stream s) {
  Launch("triangle", s, {out, in}, [=] { HostTriangle(dt, batch, rows, cols, diagonal, upper, out, in); });
}

KernelTable Make() {
  KernelTable t{};
  t.unary = &Unary;
  t.binary = &Binary;
  t.where = &Where;
  t.copy = &Copy;
  t.reduceScratch = &NoScratch3;
  t.reduce = &Reduce;
  t.softmaxScratch = &NoScratch2;
  t.layerNormScratch = &NoScratch2;
  t.softmax = &Softmax;
  t.softmaxBackward = &SoftmaxBackward;
  t.layerNorm = &LayerNorm;
  t.layerNormBackwardScratch = &NoScratch2;
  t.layerNormBackward = &LayerNormBackward;
  t.batchNormStats = &BatchNormStats;
  t.batchNormElemt = &BatchNormElemt;
  t.batchNormBackwardReduce = &BatchNormBackwardReduce;
  t.batchNormBackwardElemt = &BatchNormBackwardElemt;
  t.indexSelect = &IndexSelect;
  t.indexAdd = &IndexAdd;
  t.gather = &Gather;
  t.scatterAdd = &ScatterAdd;
  t.random = &Random;
  t.arange = &Arange;
  t.adam = &Adam;
  t.sgd = &Sgd;
  t.sumSquares = &SumSquares;
  t.sortScratch = &NoScratch2;
  t.sort = &Sort;
  t.scan = &Scan;
  t.compact = &Compact;
  t.nonzero = &Nonzero;
  t.im2col = &Im2col;
  t.col2im = &Col2im;
  t.maxPool2d = &MaxPool2d;
  t.maxPool2dBackward = &MaxPool2dBackward;
  t.avgPool2d = &AvgPool2d;
  t.avgPool2dBackward = &AvgPool2dBackward;
  t.adaptiveAvgPool2d = &AdaptiveAvgPool2d;
  t.adaptiveAvgPool2dBackward = &AdaptiveAvgPool2dBackward;
  t.triangle = &Triangle;
  return t;
}

}  // namespace

const KernelTable& Kernels() {
  static const KernelTable t = Make();
  return t;
}

}  // namespace sim
}  // namespace dev
}  // namespace nn
