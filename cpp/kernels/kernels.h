// The kernels' plain C++ interface, below the N-API layer (cpp/kernels.cc reads and checks every
// argument, then calls these). Host* functions run on the calling thread (cpp/kernels/*.cc);
// Cuda* functions queue work on the given stream (cpp/kernels/*.cu). Pointers are already offset
// to the first element; strides are in elements of each operand's own dtype. Nothing here
// validates sizes or ranges again, except that index kernels check index values on the host.
#pragma once
#include <cstdint>
#include <vector>

#include "dtype.h"
#include "ops.h"

struct CUstream_st;

namespace nn {
namespace k {

using Stream = CUstream_st*;

// An elementwise problem over `ndim` dims with N operands (operand 0 is the output).
template <int N>
struct Iter {
  int ndim = 0;
  int64_t size[kMaxDims] = {};
  int64_t st[N][kMaxDims] = {};
  char* ptr[N] = {};
  int64_t Numel() const {
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) n *= size[d];
    return n;
  }
  // Drops size-1 dims and merges dims that are contiguous with the next one in every operand,
  // so a contiguous (or uniformly broadcast) problem becomes one flat loop.
  void Coalesce() {
    int nd = 0;
    for (int d = 0; d < ndim; d++) {
      if (size[d] == 1) continue;
      if (nd > 0) {
        bool merge = true;
        for (int o = 0; o < N; o++) merge = merge && st[o][nd - 1] == st[o][d] * size[d];
        if (merge) {
          size[nd - 1] *= size[d];
          for (int o = 0; o < N; o++) st[o][nd - 1] = st[o][d];
          continue;
        }
      }
      size[nd] = size[d];
      for (int o = 0; o < N; o++) st[o][nd] = st[o][d];
      nd++;
    }
    ndim = nd;
  }
};

enum class ROp : int { Sum, Mean, Prod, Max, Min, Argmax, Argmin, Var };
enum class Dist : int { Uniform, Normal, Randint, Bernoulli };

struct GemmArgs {
  int64_t batch, m, n, k;
  const void* a; int64_t lda, strideA; bool transA;
  const void* b; int64_t ldb, strideB; bool transB;
  void* c; int64_t ldc, strideC;
  double alpha, beta;
  bool allowTf32;
  int threads = 0;  // host: at most this many worker threads (0: IntraOpThreads())
};

struct OptimTensor {
  void* param;
  const void* grad;
  void* s0;   // adam: exp_avg;    sgd: momentum buffer (or null)
  void* s1;   // adam: exp_avg_sq
  void* s2;   // adam: max_exp_avg_sq (amsgrad) or null
  int64_t numel;
};
struct AdamOpts {
  double lr, beta1, beta2, eps, weightDecay;
  int64_t step;
  bool decoupled, amsgrad, maximize;
};
struct SgdOpts {
  double lr, momentum, dampening, weightDecay;
  bool nesterov, maximize, firstStep;
};

// A gather/scatter problem along `dim` of contiguous tensors (shape = index's shape).
struct GatherArgs {
  int ndim, dim;
  int64_t shape[kMaxDims];
  int64_t other[kMaxDims];  // src's shape (gather) or out's shape (scatterAdd)
};

// sort / scan / compaction (cpp/kernels/sort.cc, sort.cu).
enum class ScanOp : int { Sum, Prod };
// nonzero: the coordinates of the set elements of a contiguous bool mask of this shape.
struct NonzeroArgs {
  int ndim;
  int64_t numel;
  int64_t shape[kMaxDims];
};

// 2-D convolution (cpp/kernels/conv.cc, conv.cu), NCHW: input [n, c, h, w], weight
// [outC, c / groups, kh, kw], output [n, outC, oh, ow], all contiguous. padH/padW are the top/left
// padding; oh/ow are given, so any bottom/right padding is implied (torch's 'same' with an even
// kernel pads one more there). Reads outside the input are zeros.
struct ConvGeom {
  int64_t n, c, h, w, outC, kh, kw, oh, ow, strideH, strideW, padH, padW, dilH, dilW, groups;
};
// 2-D pooling over `planes` contiguous [h, w] planes into [oh, ow] ones (cpp/kernels/pool.cc,
// pool.cu). Adaptive pooling uses planes, h, w, oh, ow only.
struct PoolGeom {
  int64_t planes, h, w, oh, ow, kh, kw, strideH, strideW, padH, padW, dilH, dilW;
};

// ---- host ---------------------------------------------------------------------------------------
// scalarF: compute integer dtypes in double (a comparison with a non-integral scalar).
void HostUnary(UOp op, DType dt, Iter<2> it, double p0, double p1, bool scalarF);
void HostBinary(BOp op, DType dt, Iter<3> it);
void HostWhere(DType dt, Iter<4> it);
void HostCopy(DType src, DType dst, Iter<2> it);
void HostReduce(ROp op, DType dt, int64_t outer, int64_t size, int64_t inner, void* out, const void* in,
                int64_t* indices, double correction);
void HostSoftmax(DType dt, int64_t rows, int64_t cols, void* out, const void* in, bool log);
void HostSoftmaxBackward(DType dt, int64_t rows, int64_t cols, void* gin, const void* gout, const void* y, bool log);
void HostLayerNorm(DType dt, int64_t rows, int64_t cols, void* out, void* mean, void* rstd, const void* x,
                   const void* w, const void* b, double eps);
void HostLayerNormBackward(DType dt, int64_t rows, int64_t cols, void* gx, void* gw, void* gb, const void* gout,
                           const void* x, const void* mean, const void* rstd, const void* w);
void HostMatmul(DType dt, const GemmArgs& g);
// Batch normalization over the channel axis of contiguous [outer, channels, inner] (N, C, spatial):
// see cpp/kernels/batchnorm.cc. mean/var/invstd/dy/dyXmu/meanDy/meanDyXmu are per-channel arrays in
// the compute type (float32; float64 for float64); weight/bias/gradWeight/gradBias in dt, each may
// be null. stats writes the mean and the biased variance (0 for an empty channel); backwardReduce
// writes dy = scale * sum(gradOut), dyXmu = scale * sum(gradOut * (x - mean)) (either may be null),
// gradWeight = invstd * sum(gradOut * (x - mean)), gradBias = sum(gradOut); backwardElemt without
// meanDy (null) is the eval-mode gradient gradOut * invstd * weight.
void HostBatchNormStats(DType dt, int64_t outer, int64_t channels, int64_t inner, void* mean, void* var, const void* x);
void HostBatchNormElemt(DType dt, int64_t outer, int64_t channels, int64_t inner, void* out, const void* x,
                        const void* mean, const void* invstd, const void* w, const void* b);
void HostBatchNormBackwardReduce(DType dt, int64_t outer, int64_t channels, int64_t inner, void* dy, void* dyXmu,
                                 void* gw, void* gb, const void* gout, const void* x, const void* mean,
                                 const void* invstd, double scale);
void HostBatchNormBackwardElemt(DType dt, int64_t outer, int64_t channels, int64_t inner, void* gx, const void* gout,
                                const void* x, const void* mean, const void* invstd, const void* w,
                                const void* meanDy, const void* meanDyXmu);
// Index kernels throw ERR_INDEX_OUT_OF_RANGE (nn::NativeError) for an index outside [0, size).
void HostIndexSelect(DType dt, int64_t outer, int64_t srcSize, int64_t inner, void* out, const void* src,
                     const int64_t* index, int64_t idxLen);
void HostIndexAdd(DType dt, int64_t outer, int64_t outSize, int64_t inner, void* out, const void* src,
                  const int64_t* index, int64_t idxLen);
void HostGather(DType dt, const GatherArgs& g, void* out, const void* src, const int64_t* index);
void HostScatterAdd(DType dt, const GatherArgs& g, void* out, const void* src, const int64_t* index);
void HostRandom(Dist dist, DType dt, void* out, int64_t numel, uint64_t seed, uint64_t offset, double p0, double p1);
void HostArange(DType dt, void* out, int64_t numel, double start, double step);
void HostAdam(DType dt, const std::vector<OptimTensor>& ts, const AdamOpts& o);
void HostSgd(DType dt, const std::vector<OptimTensor>& ts, const SgdOpts& o);
void HostSumSquares(DType dt, const std::vector<const void*>& ptrs, const std::vector<int64_t>& numels, double* out);
// Sorts each row of a contiguous [rows, n] input (stable; NaN greatest) and writes the first k of
// each row: values [rows, k] (input dtype) and their column indices (int64).
void HostSort(DType dt, int64_t rows, int64_t n, int64_t k, void* values, int64_t* indices, const void* in,
              bool descending);
// Inclusive cumulative sum/product along the middle axis of contiguous [outer, size, inner] (out
// and in of dtype dt); reverse scans from the end (the backward of a scan).
void HostScan(ScanOp op, DType dt, int64_t outer, int64_t size, int64_t inner, void* out, const void* in, bool reverse);
// Stream compaction: for i < n with mask[i], out[pos[i] - 1] = src[i] (pos: the inclusive prefix
// count of mask, int64); positions outside [0, outLen) are skipped.
void HostCompact(DType dt, int64_t n, void* out, int64_t outLen, const void* src, const uint8_t* mask, const int64_t* pos);
// out[pos[i] - 1][d] = coordinate d of element i, for each set mask[i] ([outLen, ndim] int64).
void HostNonzero(const NonzeroArgs& a, int64_t* out, int64_t outLen, const uint8_t* mask, const int64_t* pos);
// tril / triu of each [rows, cols] matrix of a contiguous [batch, rows, cols] input (cpp/kernels/
// triangle.cc): (i, j) kept when j - i <= diagonal (lower) or >= diagonal (upper), else zero.
void HostTriangle(DType dt, int64_t batch, int64_t rows, int64_t cols, int64_t diagonal, bool upper, void* out,
                  const void* in);

// im2col of nb images x (contiguous [nb, c, h, w]): col[i * sN + k * sK + l] = the input under
// kernel tap k = (ci * kh + ki) * kw + kj at output position l = oy * ow + ox (0 in the padding).
// col2im is its adjoint: gx [nb, c, h, w] (overwritten) = the sum of the col entries taken from
// each input element.
void HostIm2col(DType dt, const ConvGeom& g, int64_t nb, const void* x, void* col, int64_t sN, int64_t sK);
void HostCol2im(DType dt, const ConvGeom& g, int64_t nb, const void* col, int64_t sN, int64_t sK, void* gx);
// The host convolution: im2col one image at a time per thread (memory bounded by the thread
// count, not the batch) and the host GEMM; the batch is split over IntraOpThreads() workers.
// out = conv(x, w) + b (b may be null); gx = the input gradient (overwritten); gw = the weight
// gradient and gb the bias gradient (either may be null; overwritten, accumulated in the compute
// type over the batch).
void HostConv2d(DType dt, const ConvGeom& g, void* out, const void* x, const void* w, const void* b);
void HostConv2dBackwardInput(DType dt, const ConvGeom& g, void* gx, const void* gout, const void* w);
void HostConv2dBackwardWeight(DType dt, const ConvGeom& g, void* gw, void* gb, const void* gout, const void* x);
// Max pooling: out and the flat per-plane index (iy * w + ix, int64) of each window's maximum
// (NaN wins; the first maximum in row-major window order). The backward adds gout[o] into
// gx[plane, indices[o]] (gx accumulates: zero it first).
void HostMaxPool2d(DType dt, const PoolGeom& g, void* out, int64_t* indices, const void* x);
void HostMaxPool2dBackward(DType dt, const PoolGeom& g, void* gx, const void* gout, const int64_t* indices);
// Average pooling (torch's avg_pool2d): the divisor is `divisor` when > 0, else the window's size
// clipped to the padded input (countIncludePad) or to the input. The backward overwrites gx.
void HostAvgPool2d(DType dt, const PoolGeom& g, void* out, const void* x, bool countIncludePad, int64_t divisor);
void HostAvgPool2dBackward(DType dt, const PoolGeom& g, void* gx, const void* gout, bool countIncludePad,
                           int64_t divisor);
// Adaptive average pooling: output (oy, ox) averages rows [floor(oy*h/oh), ceil((oy+1)*h/oh)) and
// the columns likewise. The backward adds into gx (zero it first).
void HostAdaptiveAvgPool2d(DType dt, const PoolGeom& g, void* out, const void* x);
void HostAdaptiveAvgPool2dBackward(DType dt, const PoolGeom& g, void* gx, const void* gout);

// ---- CUDA (same meanings; queued on `stream`, the current device already set) --------------------
void CudaUnary(UOp op, DType dt, Iter<2> it, double p0, double p1, bool scalarF, Stream s);
void CudaBinary(BOp op, DType dt, Iter<3> it, Stream s);
void CudaWhere(DType dt, Iter<4> it, Stream s);
void CudaCopy(DType src, DType dst, Iter<2> it, Stream s);
size_t CudaReduceScratch(int64_t outer, int64_t size, int64_t inner);
void CudaReduce(ROp op, DType dt, int64_t outer, int64_t size, int64_t inner, void* out, const void* in,
                int64_t* indices, double correction, void* scratch, Stream s);
// Rows too long for one block each (few rows, huge cols) are split over several blocks; those
// paths need `scratch` device bytes (0 when one block per row is used), from the caller's allocator.
size_t CudaSoftmaxScratch(int64_t rows, int64_t cols);
size_t CudaLayerNormScratch(int64_t rows, int64_t cols);
void CudaSoftmax(DType dt, int64_t rows, int64_t cols, void* out, const void* in, bool log, void* scratch, Stream s);
void CudaSoftmaxBackward(DType dt, int64_t rows, int64_t cols, void* gin, const void* gout, const void* y, bool log,
                         Stream s);
void CudaLayerNorm(DType dt, int64_t rows, int64_t cols, void* out, void* mean, void* rstd, const void* x,
                   const void* w, const void* b, double eps, void* scratch, Stream s);
// gradWeight/gradBias of few columns over many rows reduce in two stages through `scratch` bytes
// (CudaLayerNormBackwardScratch; 0: one stage).
size_t CudaLayerNormBackwardScratch(int64_t rows, int64_t cols);
void CudaLayerNormBackward(DType dt, int64_t rows, int64_t cols, void* gx, void* gw, void* gb, const void* gout,
                           const void* x, const void* mean, const void* rstd, const void* w, void* scratch, Stream s);
void CudaBatchNormStats(DType dt, int64_t outer, int64_t channels, int64_t inner, void* mean, void* var, const void* x,
                        Stream s);
void CudaBatchNormElemt(DType dt, int64_t outer, int64_t channels, int64_t inner, void* out, const void* x,
                        const void* mean, const void* invstd, const void* w, const void* b, Stream s);
void CudaBatchNormBackwardReduce(DType dt, int64_t outer, int64_t channels, int64_t inner, void* dy, void* dyXmu,
                                 void* gw, void* gb, const void* gout, const void* x, const void* mean,
                                 const void* invstd, double scale, Stream s);
void CudaBatchNormBackwardElemt(DType dt, int64_t outer, int64_t channels, int64_t inner, void* gx, const void* gout,
                                const void* x, const void* mean, const void* invstd, const void* w,
                                const void* meanDy, const void* meanDyXmu, Stream s);
// Device index kernels skip out-of-range indices (lib/tensor checks them before launch).
void CudaIndexSelect(DType dt, int64_t outer, int64_t srcSize, int64_t inner, void* out, const void* src,
                     const int64_t* index, int64_t idxLen, Stream s);
void CudaIndexAdd(DType dt, int64_t outer, int64_t outSize, int64_t inner, void* out, const void* src,
                  const int64_t* index, int64_t idxLen, Stream s);
void CudaGather(DType dt, const GatherArgs& g, void* out, const void* src, const int64_t* index, Stream s);
void CudaScatterAdd(DType dt, const GatherArgs& g, void* out, const void* src, const int64_t* index, Stream s);
void CudaRandom(Dist dist, DType dt, void* out, int64_t numel, uint64_t seed, uint64_t offset, double p0, double p1,
                Stream s);
void CudaArange(DType dt, void* out, int64_t numel, double start, double step, Stream s);
void CudaAdam(DType dt, const std::vector<OptimTensor>& ts, const AdamOpts& o, Stream s);
void CudaSgd(DType dt, const std::vector<OptimTensor>& ts, const SgdOpts& o, Stream s);
void CudaSumSquares(DType dt, const std::vector<const void*>& ptrs, const std::vector<int64_t>& numels, double* out,
                    Stream s);
// Rows of up to kSortSharedMax elements sort in one block's shared memory; longer rows need
// CudaSortScratch(rows, n) device bytes (a bitonic sort through global memory).
constexpr int64_t kSortSharedMax = 2048;
size_t CudaSortScratch(int64_t rows, int64_t n);
void CudaSort(DType dt, int64_t rows, int64_t n, int64_t k, void* values, int64_t* indices, const void* in,
              bool descending, void* scratch, Stream s);
void CudaScan(ScanOp op, DType dt, int64_t outer, int64_t size, int64_t inner, void* out, const void* in, bool reverse,
              Stream s);
void CudaCompact(DType dt, int64_t n, void* out, int64_t outLen, const void* src, const uint8_t* mask, const int64_t* pos,
                 Stream s);
void CudaNonzero(const NonzeroArgs& a, int64_t* out, int64_t outLen, const uint8_t* mask, const int64_t* pos, Stream s);
void CudaIm2col(DType dt, const ConvGeom& g, int64_t nb, const void* x, void* col, int64_t sN, int64_t sK, Stream s);
void CudaCol2im(DType dt, const ConvGeom& g, int64_t nb, const void* col, int64_t sN, int64_t sK, void* gx, Stream s);
void CudaMaxPool2d(DType dt, const PoolGeom& g, void* out, int64_t* indices, const void* x, Stream s);
void CudaMaxPool2dBackward(DType dt, const PoolGeom& g, void* gx, const void* gout, const int64_t* indices, Stream s);
void CudaAvgPool2d(DType dt, const PoolGeom& g, void* out, const void* x, bool countIncludePad, int64_t divisor, Stream s);
void CudaAvgPool2dBackward(DType dt, const PoolGeom& g, void* gx, const void* gout, bool countIncludePad,
                           int64_t divisor, Stream s);
void CudaAdaptiveAvgPool2d(DType dt, const PoolGeom& g, void* out, const void* x, Stream s);
void CudaAdaptiveAvgPool2dBackward(DType dt, const PoolGeom& g, void* gx, const void* gout, Stream s);
void CudaTriangle(DType dt, int64_t batch, int64_t rows, int64_t cols, int64_t diagonal, bool upper, void* out,
                  const void* in, Stream s);
// cuBLAS (cpp/cublas.cc): batched GEMM on `device`'s current stream.
void CublasMatmul(DType dt, const GemmArgs& g, int device, Stream s);


// ---- the kernel launch interface ------------------------------------------------------------------
// What kernels.cc calls for device memory: dev::Get().Kernels(). CUDA's table holds the Cuda*
// functions below; the simulation's (cpp/device/sim_kernels.cc) queues the Host* twin on the stream.
// Each entry has the Cuda* function's meaning: queued on `s`, the stream's device current.
struct KernelTable {
  void (*unary)(UOp op, DType dt, Iter<2> it, double p0, double p1, bool scalarF, Stream s);
  void (*binary)(BOp op, DType dt, Iter<3> it, Stream s);
  void (*where)(DType dt, Iter<4> it, Stream s);
  void (*copy)(DType src, DType dst, Iter<2> it, Stream s);
  size_t (*reduceScratch)(int64_t outer, int64_t size, int64_t inner);
  void (*reduce)(ROp op, DType dt, int64_t outer, int64_t size, int64_t inner, void* out, const void* in, int64_t* indices, double correction, void* scratch, Stream s);
  size_t (*softmaxScratch)(int64_t rows, int64_t cols);
  size_t (*layerNormScratch)(int64_t rows, int64_t cols);
  void (*softmax)(DType dt, int64_t rows, int64_t cols, void* out, const void* in, bool log, void* scratch, Stream s);
  void (*softmaxBackward)(DType dt, int64_t rows, int64_t cols, void* gin, const void* gout, const void* y, bool log, Stream s);
  void (*layerNorm)(DType dt, int64_t rows, int64_t cols, void* out, void* mean, void* rstd, const void* x, const void* w, const void* b, double eps, void* scratch, Stream s);
  size_t (*layerNormBackwardScratch)(int64_t rows, int64_t cols);
  void (*layerNormBackward)(DType dt, int64_t rows, int64_t cols, void* gx, void* gw, void* gb, const void* gout,
                            const void* x, const void* mean, const void* rstd, const void* w, void* scratch, Stream s);
  void (*batchNormStats)(DType dt, int64_t outer, int64_t channels, int64_t inner, void* mean, void* var, const void* x, Stream s);
  void (*batchNormElemt)(DType dt, int64_t outer, int64_t channels, int64_t inner, void* out, const void* x, const void* mean,
                         const void* invstd, const void* w, const void* b, Stream s);
  void (*batchNormBackwardReduce)(DType dt, int64_t outer, int64_t channels, int64_t inner, void* dy, void* dyXmu, void* gw,
                                  void* gb, const void* gout, const void* x, const void* mean, const void* invstd,
                                  double scale, Stream s);
  void (*batchNormBackwardElemt)(DType dt, int64_t outer, int64_t channels, int64_t inner, void* gx, const void* gout,
                                 const void* x, const void* mean, const void* invstd, const void* w, const void* meanDy,
                                 const void* meanDyXmu, Stream s);
  void (*indexSelect)(DType dt, int64_t outer, int64_t srcSize, int64_t inner, void* out, const void* src, const int64_t* index, int64_t idxLen, Stream s);
  void (*indexAdd)(DType dt, int64_t outer, int64_t outSize, int64_t inner, void* out, const void* src, const int64_t* index, int64_t idxLen, Stream s);
  void (*gather)(DType dt, const GatherArgs& g, void* out, const void* src, const int64_t* index, Stream s);
  void (*scatterAdd)(DType dt, const GatherArgs& g, void* out, const void* src, const int64_t* index, Stream s);
  void (*random)(Dist dist, DType dt, void* out, int64_t numel, uint64_t seed, uint64_t offset, double p0, double p1, Stream s);
  void (*arange)(DType dt, void* out, int64_t numel, double start, double step, Stream s);
  void (*adam)(DType dt, const std::vector<OptimTensor>& ts, const AdamOpts& o, Stream s);
  void (*sgd)(DType dt, const std::vector<OptimTensor>& ts, const SgdOpts& o, Stream s);
  void (*sumSquares)(DType dt, const std::vector<const void*>& ptrs, const std::vector<int64_t>& numels, double* out, Stream s);
  size_t (*sortScratch)(int64_t rows, int64_t n);
  void (*sort)(DType dt, int64_t rows, int64_t n, int64_t k, void* values, int64_t* indices, const void* in, bool descending, void* scratch, Stream s);
  void (*scan)(ScanOp op, DType dt, int64_t outer, int64_t size, int64_t inner, void* out, const void* in, bool reverse, Stream s);
  void (*compact)(DType dt, int64_t n, void* out, int64_t outLen, const void* src, const uint8_t* mask, const int64_t* pos, Stream s);
  void (*nonzero)(const NonzeroArgs& a, int64_t* out, int64_t outLen, const uint8_t* mask, const int64_t* pos, Stream s);
  void (*im2col)(DType dt, const ConvGeom& g, int64_t nb, const void* x, void* col, int64_t sN, int64_t sK, Stream s);
  void (*col2im)(DType dt, const ConvGeom& g, int64_t nb, const void* col, int64_t sN, int64_t sK, void* gx, Stream s);
  void (*maxPool2d)(DType dt, const PoolGeom& g, void* out, int64_t* indices, const void* x, Stream s);
  void (*maxPool2dBackward)(DType dt, const PoolGeom& g, void* gx, const void* gout, const int64_t* indices, Stream s);
  void (*avgPool2d)(DType dt, const PoolGeom& g, void* out, const void* x, bool countIncludePad, int64_t divisor, Stream s);
  void (*avgPool2dBackward)(DType dt, const PoolGeom& g, void* gx, const void* gout, bool countIncludePad, int64_t divisor, Stream s);
  void (*adaptiveAvgPool2d)(DType dt, const PoolGeom& g, void* out, const void* x, Stream s);
  void (*adaptiveAvgPool2dBackward)(DType dt, const PoolGeom& g, void* gx, const void* gout, Stream s);
  void (*triangle)(DType dt, int64_t batch, int64_t rows, int64_t cols, int64_t diagonal, bool upper, void* out, const void* in, Stream s);
};

}  // namespace k
}  // namespace nn
