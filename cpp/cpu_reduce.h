// Element-wise reductions for the CPU collective backend: out[i] = op(in[0][i], ..., in[n-1][i]),
// for every dtype and reduce op the distributed API supports. Inputs are combined in rank order
// 0..n-1, so every rank that reduces the same inputs gets bit-identical results. Half types
// (float16, bfloat16) accumulate in float32 and round once. Integer sums and products wrap (two's
// complement), as they do in NCCL and PyTorch; bool uses logical or/and (sum/max = or,
// prod/min = and), as PyTorch maps it. Implemented in cpu_reduce.cc.
#pragma once
#include <cstddef>
#include <cstdint>

namespace nn {
namespace cpucomm {

// Same numbering as typings/native.ts DTypeCode (0..7, what the cpu backend's JS side passes);
// I8, U32 and U64 are for the simulated NCCL's ncclInt8, ncclUint32 and ncclUint64.
enum class DType : uint32_t { F32 = 0, F64 = 1, F16 = 2, BF16 = 3, I32 = 4, I64 = 5, U8 = 6, Bool = 7, I8 = 8, U32 = 9, U64 = 10 };
constexpr uint32_t kNumDTypes = 11;
constexpr uint32_t kNumTensorDTypes = 8;  // the DTypeCode range
enum class RedOp : uint32_t { Sum = 0, Prod = 1, Min = 2, Max = 3, Avg = 4 };
constexpr uint32_t kNumRedOps = 5;

size_t DTypeSize(DType t);
const char* DTypeName(DType t);
const char* RedOpName(RedOp op);

// out may alias in[k] for any k (element-wise, same index). `divisor` is used by Avg only (the
// group's size): floats divide the sum, integers divide it truncating toward zero (like ncclAvg).
// Avg on bool is rejected by the caller (PyTorch raises for it).
void ReduceN(DType t, RedOp op, void* out, const void* const* in, int n, size_t count, int divisor);

// float <-> half conversions (round to nearest even), exposed for tests and the fingerprint code.
float HalfToFloat(uint16_t h);
uint16_t FloatToHalf(float f);
float BF16ToFloat(uint16_t h);
uint16_t FloatToBF16(float f);

}  // namespace cpucomm
}  // namespace nn
