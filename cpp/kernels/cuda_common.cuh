// Shared pieces of the CUDA kernels: device storage types, dtype dispatch, launch geometry,
// strided offsets, warp/block reductions and 16-bit-safe atomics. Included by *.cu only.
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "kernels.h"

namespace nn {
// errors.cc (kept out of nvcc's view: it needs node's headers).
void CheckCuda(int cudaStatus, const char* what);
}  // namespace nn

namespace nn {
namespace k {

constexpr int kThreads = 256;

// Blocks for a grid-stride loop over n items with `perThread` items per thread and iteration.
inline unsigned GridFor(int64_t n, int threads = kThreads, int perThread = 1) {
  int64_t b = (n + static_cast<int64_t>(threads) * perThread - 1) / (static_cast<int64_t>(threads) * perThread);
  return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>(b, 65535LL * 32)));
}

// Split-row path of softmax/layerNorm: rows longer than 4 chunks, fewer than two rows per SM.
constexpr int64_t kSplitChunk = 8192;
inline int64_t SplitChunks(int64_t cols) { return (cols + kSplitChunk - 1) / kSplitChunk; }
inline int SmCount();
inline bool SplitRows(int64_t rows, int64_t cols) {
  if (cols <= 4 * kSplitChunk || rows > 65535) return false;
  return rows < 2 * static_cast<int64_t>(SmCount());
}

// Multiprocessors of the current device (0 when it cannot be read).
inline int SmCount() {
  int dev = 0, sms = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return sms;
}

// Blocks for a row-per-block kernel that loops over rows (row = blockIdx.x; row += gridDim.x): as
// many as fill the device (32 per SM), never more than rows, so any row count is launched (a grid
// of `rows` blocks would overflow unsigned and gridDim.x's 2^31 - 1 limit).
inline unsigned RowGrid(int64_t rows) {
  const int64_t cap = std::max<int64_t>(1, static_cast<int64_t>(SmCount()) * 32);
  return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>(rows, cap)));
}

// Row chunks for a two-stage column reduction of `outputs` columns over `rows`: enough threads
// (outputs x chunks) to fill the device, each chunk at least 16 rows, at most 256 chunks; 1 when
// one thread per column already fills it.
inline int64_t ColumnChunks(int64_t outputs, int64_t rows) {
  const int64_t want = static_cast<int64_t>(std::max(SmCount(), 1)) * 2048;
  if (outputs <= 0 || outputs >= want) return 1;
  return std::max<int64_t>(1, std::min<int64_t>({(want + outputs - 1) / outputs, rows / 16, 256}));
}

#define NN_CUDA_CHECK_LAUNCH(name) ::nn::CheckCuda(static_cast<int>(cudaGetLastError()), name)

__device__ __forceinline__ int64_t GlobalId() { return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ __forceinline__ int64_t GlobalStride() { return static_cast<int64_t>(blockDim.x) * gridDim.x; }

// Element offsets (in elements) of linear index i for each operand of a strided problem.
template <int N>
__device__ __forceinline__ void Offsets(const Iter<N>& it, int64_t i, int64_t (&off)[N]) {
#pragma unroll
  for (int o = 0; o < N; o++) off[o] = 0;
  for (int d = it.ndim - 1; d >= 0; d--) {
    const int64_t s = it.size[d];
    const int64_t q = i / s, r = i - q * s;
    i = q;
#pragma unroll
    for (int o = 0; o < N; o++) off[o] += r * it.st[o][d];
  }
}

template <class T, int V>
struct alignas(sizeof(T) * V) Vec {
  T v[V];
};

template <class T>
__device__ __forceinline__ T WarpSum(T v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  return v;
}
template <class T>
__device__ __forceinline__ T WarpMax(T v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = Max(v, __shfl_down_sync(0xffffffffu, v, o));
  return v;
}

// Block-wide sum/max; the result is valid in every thread. `sh` holds 32 values.
template <class T>
__device__ T BlockSum(T v, T* sh) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = WarpSum(v);
  __syncthreads();
  if (lane == 0) sh[warp] = v;
  __syncthreads();
  const int nw = (blockDim.x + 31) >> 5;
  v = threadIdx.x < nw ? sh[threadIdx.x] : T(0);
  if (warp == 0) v = WarpSum(v);
  if (threadIdx.x == 0) sh[0] = v;
  __syncthreads();
  return sh[0];
}
template <class T>
__device__ T BlockMax(T v, T* sh) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = WarpMax(v);
  __syncthreads();
  if (lane == 0) sh[warp] = v;
  __syncthreads();
  const int nw = (blockDim.x + 31) >> 5;
  v = threadIdx.x < nw ? sh[threadIdx.x] : sh[0];
  if (warp == 0) v = WarpMax(v);
  if (threadIdx.x == 0) sh[0] = v;
  __syncthreads();
  return sh[0];
}

// out += v with the compute type C, for every storage type (16-bit and 8-bit types through a
// compare-and-swap on the containing 32-bit word, so it works on every architecture).
template <class T, class C>
__device__ void AtomicAddT(T* addr, C v) {
  if constexpr (std::is_same<T, float>::value) {
    atomicAdd(addr, static_cast<float>(v));
  } else if constexpr (std::is_same<T, double>::value) {
    atomicAdd(addr, static_cast<double>(v));
  } else if constexpr (std::is_same<T, int32_t>::value) {
    atomicAdd(reinterpret_cast<int*>(addr), static_cast<int>(v));
  } else if constexpr (std::is_same<T, int64_t>::value) {
    atomicAdd(reinterpret_cast<unsigned long long*>(addr), static_cast<unsigned long long>(static_cast<int64_t>(v)));
  } else {
    static_assert(sizeof(T) <= 2, "16/8-bit types only");
    uintptr_t a = reinterpret_cast<uintptr_t>(addr);
    unsigned int* word = reinterpret_cast<unsigned int*>(a & ~uintptr_t(3));
    const unsigned shift = static_cast<unsigned>(a & 3) * 8;
    const unsigned mask = (sizeof(T) == 2 ? 0xffffu : 0xffu) << shift;
    unsigned old = *word, assumed;
    do {
      assumed = old;
      T cur;
      const unsigned bits = (assumed & mask) >> shift;
      if constexpr (sizeof(T) == 2) {
        unsigned short s = static_cast<unsigned short>(bits);
        memcpy(&cur, &s, 2);
      } else {
        unsigned char c = static_cast<unsigned char>(bits);
        memcpy(&cur, &c, 1);
      }
      T next = Store<T>(Load<C>(cur) + v);
      unsigned nb;
      if constexpr (sizeof(T) == 2) {
        unsigned short s;
        memcpy(&s, &next, 2);
        nb = s;
      } else {
        unsigned char c;
        memcpy(&c, &next, 1);
        nb = c;
      }
      old = atomicCAS(word, assumed, (assumed & ~mask) | (nb << shift));
    } while (old != assumed);
  }
}

}  // namespace k
}  // namespace nn

#define NN_DEV_CASE(code, type, ...) \
  case ::nn::k::DType::code: { using T = type; __VA_ARGS__; break; }
#define NN_DISPATCH_DEV(dt, ...)                          \
  switch (dt) {                                           \
    NN_DEV_CASE(F32, float, __VA_ARGS__)                  \
    NN_DEV_CASE(F64, double, __VA_ARGS__)                 \
    NN_DEV_CASE(F16, __half, __VA_ARGS__)                 \
    NN_DEV_CASE(BF16, __nv_bfloat16, __VA_ARGS__)         \
    NN_DEV_CASE(I32, int32_t, __VA_ARGS__)                \
    NN_DEV_CASE(I64, int64_t, __VA_ARGS__)                \
    NN_DEV_CASE(U8, uint8_t, __VA_ARGS__)                 \
    NN_DEV_CASE(Bool, ::nn::k::Bool8, __VA_ARGS__)        \
  }
#define NN_DISPATCH_DEV_FLOAT(dt, ...)                    \
  switch (dt) {                                           \
    NN_DEV_CASE(F32, float, __VA_ARGS__)                  \
    NN_DEV_CASE(F64, double, __VA_ARGS__)                 \
    NN_DEV_CASE(F16, __half, __VA_ARGS__)                 \
    NN_DEV_CASE(BF16, __nv_bfloat16, __VA_ARGS__)         \
    default: break;                                       \
  }
