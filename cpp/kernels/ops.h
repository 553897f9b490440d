// The elementwise operations' math, one definition shared by the host loops (elementwise.cc) and
// the CUDA kernels (elementwise.cu), so both compute the same function in the same precision.
// C is the compute type (float, double or int64_t; see dtype.h).
#pragma once
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "dtype.h"

namespace nn {
namespace k {

enum class UOp : int {
  Neg, Abs, Exp, Log, Sqrt, Rsqrt, Sin, Cos, Tanh, Sigmoid, Relu, Gelu, GeluTanh, Silu, Sign, Square,
  Reciprocal, Log1p, Expm1, Erf, LogicalNot,
  Fill, AddS, MulS, RSubS, RDivS, PowS, RPowS, MaxS, MinS, Clamp,
  EqS, NeS, LtS, LeS, GtS, GeS,
  // Round: p0 = 10^|decimals| (1 for plain rounding), p1 != 0 when decimals < 0 (torch's
  // round_decimals); half to even. Integer dtypes: identity (as torch's floor/ceil/trunc/round).
  Round, Floor, Ceil, Trunc,
  IsNan, IsInf, IsFinite,
  Count
};
enum class BOp : int {
  Add, Sub, Mul, Div, Pow, Maximum, Minimum, Atan2,
  Eq, Ne, Lt, Le, Gt, Ge, LogicalAnd, LogicalOr,
  ReluBw, GeluBw, GeluTanhBw, SiluBw, SigmoidBwY, TanhBwY,
  Count
};

// Ops whose output is bool (code 7) whatever the input dtype.
constexpr bool UOpBoolOut(UOp op) {
  return op == UOp::LogicalNot || (op >= UOp::EqS && op <= UOp::GeS) || (op >= UOp::IsNan && op <= UOp::IsFinite);
}
constexpr bool BOpBoolOut(BOp op) { return op >= BOp::Eq && op <= BOp::LogicalOr; }
// Ops defined only for floating dtypes (transcendental functions and backward helpers).
constexpr bool UOpFloatOnly(UOp op) {
  return (op >= UOp::Exp && op <= UOp::Silu && op != UOp::Relu) || op == UOp::Reciprocal ||
         (op >= UOp::Log1p && op <= UOp::Erf) || op == UOp::RDivS || op == UOp::RPowS;
}
constexpr bool BOpFloatOnly(BOp op) { return op == BOp::Atan2 || op >= BOp::ReluBw; }

// ---- float/double math wrappers (the same names on host and device) ----------------------------
NN_HD float Exp(float x) { return expf(x); }
NN_HD double Exp(double x) { return exp(x); }
NN_HD float Log(float x) { return logf(x); }
NN_HD double Log(double x) { return log(x); }
NN_HD float Sqrt(float x) { return sqrtf(x); }
NN_HD double Sqrt(double x) { return sqrt(x); }
NN_HD float Sin(float x) { return sinf(x); }
NN_HD double Sin(double x) { return sin(x); }
NN_HD float Cos(float x) { return cosf(x); }
NN_HD double Cos(double x) { return cos(x); }
NN_HD float Tanh(float x) { return tanhf(x); }
NN_HD double Tanh(double x) { return tanh(x); }
NN_HD float Erf(float x) { return erff(x); }
NN_HD double Erf(double x) { return erf(x); }
NN_HD float Log1p(float x) { return log1pf(x); }
NN_HD double Log1p(double x) { return log1p(x); }
NN_HD float Expm1(float x) { return expm1f(x); }
NN_HD double Expm1(double x) { return expm1(x); }
NN_HD float Pow(float x, float y) { return powf(x, y); }
NN_HD double Pow(double x, double y) { return pow(x, y); }
NN_HD float Atan2(float x, float y) { return atan2f(x, y); }
NN_HD double Atan2(double x, double y) { return atan2(x, y); }
NN_HD float Fabs(float x) { return fabsf(x); }
NN_HD double Fabs(double x) { return fabs(x); }
NN_HD float Floor(float x) { return floorf(x); }
NN_HD double Floor(double x) { return floor(x); }
NN_HD float Ceil(float x) { return ceilf(x); }
NN_HD double Ceil(double x) { return ceil(x); }
NN_HD float Trunc(float x) { return truncf(x); }
NN_HD double Trunc(double x) { return trunc(x); }
// Round half to even (the default rounding mode, as torch's std::nearbyint).
NN_HD float Rint(float x) { return rintf(x); }
NN_HD double Rint(double x) { return rint(x); }

template <class C> NN_HD bool IsNan(C x) { return x != x; }
template <class C> NN_HD C Sigmoid(C x) { return C(1) / (C(1) + Exp(-x)); }

// Integer power by squaring; negative exponents give 0 except for bases 1 and -1 (as integer
// division would), so no input can trap.
NN_HD int64_t IPow(int64_t b, int64_t e) {
  if (e < 0) return b == 1 ? 1 : b == -1 ? ((e & 1) ? -1 : 1) : 0;
  uint64_t r = 1, base = static_cast<uint64_t>(b);
  while (e) {
    if (e & 1) r *= base;
    base *= base;
    e >>= 1;
  }
  return static_cast<int64_t>(r);
}
// Floor division for integers; a zero divisor gives 0 instead of trapping.
NN_HD int64_t IFloorDiv(int64_t a, int64_t b) {
  if (b == 0) return 0;
  if (b == -1) return static_cast<int64_t>(0ull - static_cast<uint64_t>(a));  // INT64_MIN / -1 wraps
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
  return q;
}

template <class C> NN_HD C Max(C a, C b) {
  if (IsNan(a)) return a;
  if (IsNan(b)) return b;
  return a > b ? a : b;
}
template <class C> NN_HD C Min(C a, C b) {
  if (IsNan(a)) return a;
  if (IsNan(b)) return b;
  return a < b ? a : b;
}

constexpr double kSqrt1_2 = 0.70710678118654752440;
constexpr double kSqrt2OverPi = 0.79788456080286535588;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;

template <UOp OP, class C>
NN_HD C ApplyUnary(C a, C p0, C p1) {
  constexpr bool F = std::is_floating_point<C>::value;
  if constexpr (OP == UOp::Neg) return C(0) - a;
  else if constexpr (OP == UOp::Abs) { if constexpr (F) return Fabs(a); else return a < 0 ? C(0) - a : a; }
  else if constexpr (OP == UOp::Sign) return C((a > C(0)) - (a < C(0))) + (IsNan(a) ? a : C(0));
  else if constexpr (OP == UOp::Square) return a * a;
  else if constexpr (OP == UOp::Relu) return IsNan(a) ? a : (a > C(0) ? a : C(0));
  else if constexpr (OP == UOp::LogicalNot) return C(a == C(0));
  else if constexpr (OP == UOp::Fill) return p0;
  else if constexpr (OP == UOp::AddS) return a + p0;
  else if constexpr (OP == UOp::MulS) return a * p0;
  else if constexpr (OP == UOp::RSubS) return p0 - a;
  else if constexpr (OP == UOp::MaxS) return Max(a, p0);
  else if constexpr (OP == UOp::MinS) return Min(a, p0);
  else if constexpr (OP == UOp::Clamp) return Min(Max(a, p0), p1);
  else if constexpr (OP == UOp::EqS) return C(a == p0);
  else if constexpr (OP == UOp::NeS) return C(a != p0);
  else if constexpr (OP == UOp::LtS) return C(a < p0);
  else if constexpr (OP == UOp::LeS) return C(a <= p0);
  else if constexpr (OP == UOp::GtS) return C(a > p0);
  else if constexpr (OP == UOp::GeS) return C(a >= p0);
  else if constexpr (OP == UOp::IsNan) return C(IsNan(a));
  else if constexpr (OP == UOp::IsInf) { if constexpr (F) return C(Fabs(a) == C(INFINITY)); else return C(0); }
  else if constexpr (OP == UOp::IsFinite) { if constexpr (F) return C(!IsNan(a) && Fabs(a) != C(INFINITY)); else return C(1); }
  else if constexpr (OP == UOp::PowS) {
    if constexpr (F) return Pow(a, p0); else return IPow(a, p0);
  } else if constexpr (!F) {
    return a;  // float-only ops are refused before dispatch (UOpFloatOnly)
  } else if constexpr (OP == UOp::Exp) return Exp(a);
  else if constexpr (OP == UOp::Log) return Log(a);
  else if constexpr (OP == UOp::Sqrt) return Sqrt(a);
  else if constexpr (OP == UOp::Rsqrt) return C(1) / Sqrt(a);
  else if constexpr (OP == UOp::Sin) return Sin(a);
  else if constexpr (OP == UOp::Cos) return Cos(a);
  else if constexpr (OP == UOp::Tanh) return Tanh(a);
  else if constexpr (OP == UOp::Sigmoid) return Sigmoid(a);
  else if constexpr (OP == UOp::Gelu) return C(0.5) * a * (C(1) + Erf(a * C(kSqrt1_2)));
  else if constexpr (OP == UOp::GeluTanh)
    return C(0.5) * a * (C(1) + Tanh(C(kSqrt2OverPi) * (a + C(0.044715) * a * a * a)));
  else if constexpr (OP == UOp::Silu) return a / (C(1) + Exp(-a));
  else if constexpr (OP == UOp::Reciprocal) return C(1) / a;
  else if constexpr (OP == UOp::Log1p) return Log1p(a);
  else if constexpr (OP == UOp::Expm1) return Expm1(a);
  else if constexpr (OP == UOp::Erf) return Erf(a);
  else if constexpr (OP == UOp::RDivS) return p0 / a;
  else if constexpr (OP == UOp::RPowS) return Pow(p0, a);
  else if constexpr (OP == UOp::Round) return p1 != C(0) ? Rint(a / p0) * p0 : Rint(a * p0) / p0;
  else if constexpr (OP == UOp::Floor) return Floor(a);
  else if constexpr (OP == UOp::Ceil) return Ceil(a);
  else if constexpr (OP == UOp::Trunc) return Trunc(a);
  else return a;
}

template <BOp OP, class C>
NN_HD C ApplyBinary(C a, C b) {
  constexpr bool F = std::is_floating_point<C>::value;
  if constexpr (OP == BOp::Add) return a + b;
  else if constexpr (OP == BOp::Sub) return a - b;
  else if constexpr (OP == BOp::Mul) return a * b;
  else if constexpr (OP == BOp::Div) { if constexpr (F) return a / b; else return IFloorDiv(a, b); }
  else if constexpr (OP == BOp::Pow) { if constexpr (F) return Pow(a, b); else return IPow(a, b); }
  else if constexpr (OP == BOp::Maximum) return Max(a, b);
  else if constexpr (OP == BOp::Minimum) return Min(a, b);
  else if constexpr (OP == BOp::Eq) return C(a == b);
  else if constexpr (OP == BOp::Ne) return C(a != b);
  else if constexpr (OP == BOp::Lt) return C(a < b);
  else if constexpr (OP == BOp::Le) return C(a <= b);
  else if constexpr (OP == BOp::Gt) return C(a > b);
  else if constexpr (OP == BOp::Ge) return C(a >= b);
  else if constexpr (OP == BOp::LogicalAnd) return C(a != C(0) && b != C(0));
  else if constexpr (OP == BOp::LogicalOr) return C(a != C(0) || b != C(0));
  else if constexpr (!F) return a;  // float-only ops are refused before dispatch (BOpFloatOnly)
  else if constexpr (OP == BOp::Atan2) return Atan2(a, b);
  else if constexpr (OP == BOp::ReluBw) return b > C(0) ? a : C(0);
  else if constexpr (OP == BOp::GeluBw) {
    C cdf = C(0.5) * (C(1) + Erf(b * C(kSqrt1_2)));
    C pdf = Exp(C(-0.5) * b * b) * C(kInvSqrt2Pi);
    return a * (cdf + b * pdf);
  } else if constexpr (OP == BOp::GeluTanhBw) {
    C k = C(kSqrt2OverPi), c = C(0.044715);
    C inner = k * (b + c * b * b * b);
    C t = Tanh(inner);
    C left = C(0.5) * b, right = C(1) + t;
    C dleft = C(0.5) * right;
    C dright = left * (C(1) - t * t) * k * (C(1) + C(3) * c * b * b);
    return a * (dleft + dright);
  } else if constexpr (OP == BOp::SiluBw) {
    C s = Sigmoid(b);
    return a * s * (C(1) + b * (C(1) - s));
  } else if constexpr (OP == BOp::SigmoidBwY) return a * b * (C(1) - b);
  else if constexpr (OP == BOp::TanhBwY) return a * (C(1) - b * b);
  else return a;
}

}  // namespace k
}  // namespace nn

// Expands M(UOp::X) for every unary op / M(BOp::X) for every binary op (dispatch tables).
#define NN_FOR_EACH_UOP(M)                                                                              \
  M(Neg) M(Abs) M(Exp) M(Log) M(Sqrt) M(Rsqrt) M(Sin) M(Cos) M(Tanh) M(Sigmoid) M(Relu) M(Gelu)         \
  M(GeluTanh) M(Silu) M(Sign) M(Square) M(Reciprocal) M(Log1p) M(Expm1) M(Erf) M(LogicalNot) M(Fill)    \
  M(AddS) M(MulS) M(RSubS) M(RDivS) M(PowS) M(RPowS) M(MaxS) M(MinS) M(Clamp) M(EqS) M(NeS) M(LtS)      \
  M(LeS) M(GtS) M(GeS) M(Round) M(Floor) M(Ceil) M(Trunc) M(IsNan) M(IsInf) M(IsFinite)
#define NN_FOR_EACH_BOP(M)                                                                              \
  M(Add) M(Sub) M(Mul) M(Div) M(Pow) M(Maximum) M(Minimum) M(Atan2) M(Eq) M(Ne) M(Lt) M(Le) M(Gt)       \
  M(Ge) M(LogicalAnd) M(LogicalOr) M(ReluBw) M(GeluBw) M(GeluTanhBw) M(SiluBw) M(SigmoidBwY) M(TanhBwY)
