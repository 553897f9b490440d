// Philox-4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11), the
// counter-based generator of cuRAND and PyTorch. One definition for host and device, and the
// per-element transforms, so both produce bit-identical integers and uniforms and identical
// normals (computed in double, then rounded) for the same (seed, offset).
//
// Element i of a fill uses the 64-bit counter (offset + i / 4) (high counter words 0) and lane
// i % 4, under the key (seed low 32 bits, seed high 32 bits).
#pragma once
#include <cstdint>

#include "dtype.h"

namespace nn {
namespace k {

struct Philox4 { uint32_t v[4]; };

NN_HD uint32_t MulHiLo(uint32_t a, uint32_t b, uint32_t* hi) {
  uint64_t p = static_cast<uint64_t>(a) * b;
  *hi = static_cast<uint32_t>(p >> 32);
  return static_cast<uint32_t>(p);
}

NN_HD Philox4 Philox(uint64_t counter, uint64_t seed) {
  uint32_t c0 = static_cast<uint32_t>(counter), c1 = static_cast<uint32_t>(counter >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int r = 0; r < 10; r++) {
    uint32_t hi0, hi1;
    uint32_t lo0 = MulHiLo(0xD2511F53u, c0, &hi0);
    uint32_t lo1 = MulHiLo(0xCD9E8D57u, c2, &hi1);
    uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0; c1 = n1; c2 = n2; c3 = n3;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return Philox4{{c0, c1, c2, c3}};
}

// Uniform in [0, 1) with 24 random bits (exact in float and double).
NN_HD double Uniform24(uint32_t x) { return static_cast<double>(x >> 8) * (1.0 / 16777216.0); }
// Uniform in (0, 1] with 24 random bits (a safe argument for log).
NN_HD double UniformOpen24(uint32_t x) { return (static_cast<double>(x >> 8) + 1.0) * (1.0 / 16777216.0); }
// Uniform in [0, 1) with 32 random bits.
NN_HD double Uniform32(uint32_t x) { return static_cast<double>(x) * (1.0 / 4294967296.0); }

// The value of element i (lane = i % 4) of the block r, as a double, for each distribution.
// Normal: Box-Muller over the lane pairs (0, 1) and (2, 3): even lanes take the cosine, odd lanes the sine.
NN_HD double NormalLane(const Philox4& r, int lane) {
  const double u1 = UniformOpen24(r.v[lane & 2]), u2 = Uniform24(r.v[(lane & 2) | 1]);
  const double rad = sqrt(-2.0 * log(u1));
  const double th = 6.283185307179586476925 * u2;
  return (lane & 1) ? rad * sin(th) : rad * cos(th);
}
// Randint in [lo, lo + range): 32-bit lanes when the range fits, else 64 bits from the lane pair.
NN_HD int64_t RandintLane(const Philox4& r, int lane, int64_t lo, uint64_t range) {
  uint64_t x = range <= 0x100000000ull ? r.v[lane]
                                       : ((static_cast<uint64_t>(r.v[lane]) << 32) | r.v[lane ^ 1]);
  return lo + static_cast<int64_t>(x % range);
}

}  // namespace k
}  // namespace nn
