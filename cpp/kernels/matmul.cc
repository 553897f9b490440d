// Host batched GEMM (row-major, C = alpha * op(A) @ op(B) + beta * C).
//
// float32/float64 use the host BLAS (cblas_sgemm / cblas_dgemm, loaded at run time through
// cpp/loader.h) when an optimized one (OpenBLAS, BLIS, MKL) is present and NODE_NCCL_BLAS is not
// "0" (the loader then does not search). Otherwise, and always for float16/bfloat16, a GotoBLAS-style kernel:
// op(B) is packed into KC x NC panels and op(A) into MC x KC panels (16-bit inputs converted to
// float while packing, so they accumulate in fp32), and an MR x NR register-tiled micro-kernel
// (AVX2+FMA when the CPU has it, chosen at run time; a portable one otherwise) computes each tile.
// Rows of C are split over std::thread workers when the problem is big (IntraOpThreads():
// NODE_NCCL_CPU_THREADS, default the hardware's; at most GemmArgs::threads when that is set).
#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <type_traits>
#include <vector>

#include "../loader.h"
#include "kernels.h"

namespace nn {
namespace k {
namespace {

constexpr int kMR = 6;
template <class Acc> constexpr int NR() { return std::is_same<Acc, float>::value ? 16 : 8; }
constexpr int64_t kKC = 256;
constexpr int64_t kMC = kMR * 16;   // 96 rows of A per packed block
constexpr int64_t kNC = 2048;

// ---- micro-kernels: tile[MR][NR] = Ap(MR x kc) @ Bp(kc x NR) -----------------------------------
template <class Acc>
void MicroGeneric(int64_t kc, const Acc* __restrict a, const Acc* __restrict b, Acc* __restrict tile) {
  constexpr int nr = NR<Acc>();
  Acc c[kMR][nr] = {};
  for (int64_t p = 0; p < kc; p++) {
    const Acc* bp = b + p * nr;
    const Acc* ap = a + p * kMR;
    for (int r = 0; r < kMR; r++)
      for (int j = 0; j < nr; j++) c[r][j] += ap[r] * bp[j];
  }
  for (int r = 0; r < kMR; r++)
    for (int j = 0; j < nr; j++) tile[r * nr + j] = c[r][j];
}

__attribute__((target("avx2,fma"))) void MicroAvx2(int64_t kc, const float* __restrict a, const float* __restrict b,
                                                    float* __restrict tile) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00,
         c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  for (int64_t p = 0; p < kc; p++) {
    __m256 b0 = _mm256_loadu_ps(b + p * 16), b1 = _mm256_loadu_ps(b + p * 16 + 8);
    const float* ap = a + p * kMR;
    __m256 x = _mm256_broadcast_ss(ap + 0);
    c00 = _mm256_fmadd_ps(x, b0, c00); c01 = _mm256_fmadd_ps(x, b1, c01);
    x = _mm256_broadcast_ss(ap + 1);
    c10 = _mm256_fmadd_ps(x, b0, c10); c11 = _mm256_fmadd_ps(x, b1, c11);
    x = _mm256_broadcast_ss(ap + 2);
    c20 = _mm256_fmadd_ps(x, b0, c20); c21 = _mm256_fmadd_ps(x, b1, c21);
    x = _mm256_broadcast_ss(ap + 3);
    c30 = _mm256_fmadd_ps(x, b0, c30); c31 = _mm256_fmadd_ps(x, b1, c31);
    x = _mm256_broadcast_ss(ap + 4);
    c40 = _mm256_fmadd_ps(x, b0, c40); c41 = _mm256_fmadd_ps(x, b1, c41);
    x = _mm256_broadcast_ss(ap + 5);
    c50 = _mm256_fmadd_ps(x, b0, c50); c51 = _mm256_fmadd_ps(x, b1, c51);
  }
  _mm256_storeu_ps(tile + 0, c00); _mm256_storeu_ps(tile + 8, c01);
  _mm256_storeu_ps(tile + 16, c10); _mm256_storeu_ps(tile + 24, c11);
  _mm256_storeu_ps(tile + 32, c20); _mm256_storeu_ps(tile + 40, c21);
  _mm256_storeu_ps(tile + 48, c30); _mm256_storeu_ps(tile + 56, c31);
  _mm256_storeu_ps(tile + 64, c40); _mm256_storeu_ps(tile + 72, c41);
  _mm256_storeu_ps(tile + 80, c50); _mm256_storeu_ps(tile + 88, c51);
}

__attribute__((target("avx2,fma"))) void MicroAvx2(int64_t kc, const double* __restrict a, const double* __restrict b,
                                                    double* __restrict tile) {
  __m256d c00 = _mm256_setzero_pd(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00,
          c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  for (int64_t p = 0; p < kc; p++) {
    __m256d b0 = _mm256_loadu_pd(b + p * 8), b1 = _mm256_loadu_pd(b + p * 8 + 4);
    const double* ap = a + p * kMR;
    __m256d x = _mm256_broadcast_sd(ap + 0);
    c00 = _mm256_fmadd_pd(x, b0, c00); c01 = _mm256_fmadd_pd(x, b1, c01);
    x = _mm256_broadcast_sd(ap + 1);
    c10 = _mm256_fmadd_pd(x, b0, c10); c11 = _mm256_fmadd_pd(x, b1, c11);
    x = _mm256_broadcast_sd(ap + 2);
    c20 = _mm256_fmadd_pd(x, b0, c20); c21 = _mm256_fmadd_pd(x, b1, c21);
    x = _mm256_broadcast_sd(ap + 3);
    c30 = _mm256_fmadd_pd(x, b0, c30); c31 = _mm256_fmadd_pd(x, b1, c31);
    x = _mm256_broadcast_sd(ap + 4);
    c40 = _mm256_fmadd_pd(x, b0, c40); c41 = _mm256_fmadd_pd(x, b1, c41);
    x = _mm256_broadcast_sd(ap + 5);
    c50 = _mm256_fmadd_pd(x, b0, c50); c51 = _mm256_fmadd_pd(x, b1, c51);
  }
  _mm256_storeu_pd(tile + 0, c00); _mm256_storeu_pd(tile + 4, c01);
  _mm256_storeu_pd(tile + 8, c10); _mm256_storeu_pd(tile + 12, c11);
  _mm256_storeu_pd(tile + 16, c20); _mm256_storeu_pd(tile + 20, c21);
  _mm256_storeu_pd(tile + 24, c30); _mm256_storeu_pd(tile + 28, c31);
  _mm256_storeu_pd(tile + 32, c40); _mm256_storeu_pd(tile + 36, c41);
  _mm256_storeu_pd(tile + 40, c50); _mm256_storeu_pd(tile + 44, c51);
}

bool HasAvx2() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
}

template <class T, class Acc>
struct Gemm {
  static constexpr int nr = NR<Acc>();
  const GemmArgs& g;
  using Micro = void (*)(int64_t, const Acc*, const Acc*, Acc*);
  Micro micro;

  Acc A(const T* a, int64_t i, int64_t p) const { return Load<Acc>(g.transA ? a[p * g.lda + i] : a[i * g.lda + p]); }
  Acc B(const T* b, int64_t p, int64_t j) const { return Load<Acc>(g.transB ? b[j * g.ldb + p] : b[p * g.ldb + j]); }

  // C rows [m0, m1) of batch entry `bi`.
  void Run(int64_t bi, int64_t m0, int64_t m1, std::vector<Acc>& ap, std::vector<Acc>& bp) const {
    const T* a = static_cast<const T*>(g.a) + bi * g.strideA;
    const T* b = static_cast<const T*>(g.b) + bi * g.strideB;
    T* c = static_cast<T*>(g.c) + bi * g.strideC;
    const Acc alpha = static_cast<Acc>(g.alpha), beta = static_cast<Acc>(g.beta);
    // 16-bit outputs are not re-rounded between K blocks: one block spans all of K.
    const bool wide = sizeof(T) < sizeof(float);
    const int64_t kcMax = wide ? g.k : kKC;
    const int64_t ncMax = wide ? std::max<int64_t>(nr, std::min<int64_t>(kNC, (int64_t(1) << 22) / std::max<int64_t>(1, g.k)) / nr * nr) : kNC;
    Acc tile[kMR * nr];
    for (int64_t jc = 0; jc < g.n; jc += ncMax) {
      const int64_t nc = std::min(ncMax, g.n - jc);
      const int64_t npanels = (nc + nr - 1) / nr;
      for (int64_t pc = 0; pc < g.k; pc += kcMax) {
        const int64_t kc = std::min(kcMax, g.k - pc);
        const bool first = pc == 0;
        bp.resize(static_cast<size_t>(npanels * kc * nr));
        for (int64_t jp = 0; jp < npanels; jp++) {
          Acc* dst = bp.data() + jp * kc * nr;
          const int64_t j0 = jc + jp * nr, jn = std::min<int64_t>(nr, g.n - j0);
          for (int64_t p = 0; p < kc; p++) {
            Acc* row = dst + p * nr;
            if (!g.transB) {
              const T* src = b + (pc + p) * g.ldb + j0;
              for (int64_t j = 0; j < jn; j++) row[j] = Load<Acc>(src[j]);
            } else {
              for (int64_t j = 0; j < jn; j++) row[j] = B(b, pc + p, j0 + j);
            }
            for (int64_t j = jn; j < nr; j++) row[j] = Acc(0);
          }
        }
        for (int64_t ic = m0; ic < m1; ic += kMC) {
          const int64_t mc = std::min(kMC, m1 - ic);
          const int64_t mpanels = (mc + kMR - 1) / kMR;
          ap.resize(static_cast<size_t>(mpanels * kc * kMR));
          for (int64_t ip = 0; ip < mpanels; ip++) {
            Acc* dst = ap.data() + ip * kc * kMR;
            const int64_t i0 = ic + ip * kMR, in = std::min<int64_t>(kMR, m1 - i0);
            if (g.transA) {
              for (int64_t p = 0; p < kc; p++) {
                const T* src = a + (pc + p) * g.lda + i0;
                for (int64_t r = 0; r < in; r++) dst[p * kMR + r] = Load<Acc>(src[r]);
                for (int64_t r = in; r < kMR; r++) dst[p * kMR + r] = Acc(0);
              }
            } else {
              for (int64_t r = 0; r < kMR; r++) {
                if (r < in) {
                  const T* src = a + (i0 + r) * g.lda + pc;
                  for (int64_t p = 0; p < kc; p++) dst[p * kMR + r] = Load<Acc>(src[p]);
                } else {
                  for (int64_t p = 0; p < kc; p++) dst[p * kMR + r] = Acc(0);
                }
              }
            }
          }
          for (int64_t jp = 0; jp < npanels; jp++) {
            const int64_t j0 = jc + jp * nr, jn = std::min<int64_t>(nr, g.n - j0);
            for (int64_t ip = 0; ip < mpanels; ip++) {
              const int64_t i0 = ic + ip * kMR, in = std::min<int64_t>(kMR, m1 - i0);
              micro(kc, ap.data() + ip * kc * kMR, bp.data() + jp * kc * nr, tile);
              for (int64_t r = 0; r < in; r++) {
                T* crow = c + (i0 + r) * g.ldc + j0;
                const Acc* t = tile + r * nr;
                if (!first) {
                  for (int64_t j = 0; j < jn; j++) crow[j] = Store<T>(Load<Acc>(crow[j]) + alpha * t[j]);
                } else if (beta == Acc(0)) {
                  for (int64_t j = 0; j < jn; j++) crow[j] = Store<T>(alpha * t[j]);
                } else {
                  for (int64_t j = 0; j < jn; j++) crow[j] = Store<T>(alpha * t[j] + beta * Load<Acc>(crow[j]));
                }
              }
            }
          }
        }
      }
    }
  }
};

int MaxThreads() { return IntraOpThreads(); }

template <class T, class Acc>
void BlockedGemm(const GemmArgs& g) {
  Gemm<T, Acc> gm{g, nullptr};
  if constexpr (true) gm.micro = HasAvx2() ? static_cast<typename Gemm<T, Acc>::Micro>(&MicroAvx2)
                                           : &MicroGeneric<Acc>;
  const double flops = 2.0 * g.m * g.n * g.k;
  int threads = 1;
  if (flops * g.batch >= 8e6) threads = g.threads > 0 ? std::min(g.threads, MaxThreads()) : MaxThreads();
  if (threads <= 1) {
    std::vector<Acc> ap, bp;
    for (int64_t bi = 0; bi < g.batch; bi++) gm.Run(bi, 0, g.m, ap, bp);
    return;
  }
  std::vector<std::thread> pool;
  if (g.batch >= threads && g.strideC != 0) {
    // many independent products: split the batch
    for (int t = 0; t < threads; t++)
      pool.emplace_back([&, t] {
        std::vector<Acc> ap, bp;
        for (int64_t bi = t; bi < g.batch; bi += threads) gm.Run(bi, 0, g.m, ap, bp);
      });
  } else {
    // split rows (in whole MR panels)
    const int64_t panels = (g.m + kMR - 1) / kMR;
    const int64_t parts = std::min<int64_t>(threads, panels);
    for (int64_t t = 0; t < parts; t++)
      pool.emplace_back([&, t] {
        std::vector<Acc> ap, bp;
        const int64_t m0 = std::min(g.m, panels * t / parts * kMR), m1 = std::min(g.m, panels * (t + 1) / parts * kMR);
        if (m0 < m1)
          for (int64_t bi = 0; bi < g.batch; bi++) gm.Run(bi, m0, m1, ap, bp);
      });
  }
  for (auto& th : pool) th.join();
}

// C = beta * C (K == 0: the product is empty).
template <class T>
void ScaleC(const GemmArgs& g) {
  using C = Compute<T>;
  for (int64_t bi = 0; bi < g.batch; bi++) {
    T* c = static_cast<T*>(g.c) + bi * g.strideC;
    for (int64_t i = 0; i < g.m; i++)
      for (int64_t j = 0; j < g.n; j++) {
        T& v = c[i * g.ldc + j];
        v = g.beta == 0 ? Store<T>(C(0)) : Store<T>(static_cast<C>(g.beta) * Load<C>(v));
      }
  }
}


using SgemmFn = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*, int);
using DgemmFn = void (*)(int, int, int, int, int, int, double, const double*, int, const double*, int, double, double*,
                         int);

template <class T, class Fn>
bool TryBlas(const GemmArgs& g, const char* sym) {
  const int64_t lim = INT32_MAX;
  if (g.m > lim || g.n > lim || g.k > lim || g.lda > lim || g.ldb > lim || g.ldc > lim) return false;
  auto fn = reinterpret_cast<Fn>(LibSymOrNull(Lib::Blas, sym));
  if (!fn) return false;
  constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;
  for (int64_t bi = 0; bi < g.batch; bi++)
    fn(kRowMajor, g.transA ? kTrans : kNoTrans, g.transB ? kTrans : kNoTrans, static_cast<int>(g.m),
       static_cast<int>(g.n), static_cast<int>(g.k), static_cast<T>(g.alpha),
       static_cast<const T*>(g.a) + bi * g.strideA, static_cast<int>(g.lda),
       static_cast<const T*>(g.b) + bi * g.strideB, static_cast<int>(g.ldb), static_cast<T>(g.beta),
       static_cast<T*>(g.c) + bi * g.strideC, static_cast<int>(g.ldc));
  return true;
}

}  // namespace

void HostMatmul(DType dt, const GemmArgs& g) {
  if (g.batch == 0 || g.m == 0 || g.n == 0) return;
  if (g.k == 0) {
    NN_DISPATCH_HOST_FLOAT(dt, ScaleC<T>(g));
    return;
  }
  switch (dt) {
    case DType::F32:
      if (TryBlas<float, SgemmFn>(g, "cblas_sgemm")) return;
      return BlockedGemm<float, float>(g);
    case DType::F64:
      if (TryBlas<double, DgemmFn>(g, "cblas_dgemm")) return;
      return BlockedGemm<double, double>(g);
    case DType::F16: return BlockedGemm<Half, float>(g);
    case DType::BF16: return BlockedGemm<BFloat16, float>(g);
    default: return;
  }
}

}  // namespace k
}  // namespace nn
