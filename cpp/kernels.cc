// native.kernels: the N-API layer of the kernel ABI (typings/native.ts, NativeKernels). Each
// export reads its arguments through nn::Args into plain structs, checks every byte range a kernel
// will touch against its buffer BEFORE any work, checks that all operands live on one device,
// then calls the host twin (cpp/kernels/*.cc) or launches the device kernel through the device
// interface's kernel table (dev::Get().Kernels(): CUDA's kernels, or the simulation's) or cuBLAS
// (cpp/cublas.cc), on the device's current stream.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "addon.h"
#include "allocator.h"
#include "conv.h"
#include "buffer.h"
#include "common.h"
#include "errors.h"
#include "kernels/kernels.h"
#include "memref.h"
#include "runtime.h"

namespace nn {
namespace {

using k::DType;
constexpr int64_t kMaxSize = int64_t(1) << 53;  // sizes and strides are JS numbers

// ---- reading memory -----------------------------------------------------------------------------

// GetMemRef reads call arguments by index; views and spans carry their memory in a property, so
// it is read here with the same rules (host views: their byteOffset applied; DeviceBuffers:
// type-tagged unwrap and a liveness check).
MemRef MemOf(const Args& args, const Napi::Value& v, const std::string& base, const char* suffix) {
  MemRef m;
  HostMem h;
  if (ReadHostMem(v.Env(), v, &h)) {
    m.ptr = h.ptr;
    m.bytes = h.bytes;
    m.shared = h.shared;
    return m;
  }
  if (DeviceBuffer* b = DeviceBuffer::FromValue(v)) {
    if (b->disposed())
      throw NativeError(code::kDisposed, std::string(args.fn()) + ": '" + base + suffix + "' is a DeviceBuffer that was disposed");
    m.ptr = b->ptr();
    m.bytes = b->bytes();
    m.device = b->device();
    return m;
  }
  if (IsBareSharedArrayBuffer(v.Env(), v))
    args.Fail("'" + base + suffix + "' is a bare SharedArrayBuffer, which Node-API cannot read: pass a view of it (new Uint8Array(sab))");
  args.Fail("'" + base + suffix + "' must be an ArrayBuffer, a TypedArray, a DataView or a DeviceBuffer, got " + Describe(v));
}

// ---- reading views and spans ---------------------------------------------------------------------

struct Operand {
  std::string name;
  MemRef mem;
  int64_t offset = 0;              // elements
  std::vector<int64_t> strides;    // elements (views only)
  size_t esize = 1;
  char* Ptr() const { return static_cast<char*>(mem.ptr) + offset * static_cast<int64_t>(esize); }
};

// The names a view or span is read by (AddonData's cached keys).
Napi::Value ViewKey(Napi::Env env, uint32_t i) { return Data(env).viewKeys.Value().Get(i); }
Napi::Value GetMem(const Napi::Object& o) { return o.Get(ViewKey(o.Env(), 0)); }
Napi::Value GetOffset(const Napi::Object& o) { return o.Get(ViewKey(o.Env(), 1)); }
Napi::Value GetStrides(const Napi::Object& o) { return o.Get(ViewKey(o.Env(), 2)); }

int64_t FieldInt(const Args& args, const Napi::Value& v, const char* key, const std::string& what, int64_t min,
                 int64_t max) {
  double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
  if (!std::isfinite(d) || std::floor(d) != d || d < static_cast<double>(min) || d > static_cast<double>(max))
    args.Fail("'" + what + "." + key + "' must be an integer in [" + std::to_string(min) + ", " + std::to_string(max) +
              "], got " + Describe(v));
  return static_cast<int64_t>(d);
}

Operand ReadSpanValue(const Args& args, const Napi::Value& v, const std::string& name, DType dt) {
  if (!v.IsObject() || v.IsArray() || v.IsArrayBuffer() || v.IsTypedArray())
    args.Fail("'" + name + "' must be a span { mem, offset }, got " + Describe(v));
  Napi::Object o = v.As<Napi::Object>();
  Operand op;
  op.name = name;
  op.esize = k::DTypeSize(dt);
  op.mem = MemOf(args, GetMem(o), name, ".mem");
  op.offset = FieldInt(args, GetOffset(o), "offset", name, 0, kMaxSize);
  return op;
}

Operand ReadSpan(const Args& args, size_t i, const char* name, DType dt) {
  if (i >= args.size()) args.Fail(i, name, "a span { mem, offset }");
  return ReadSpanValue(args, args[i], name, dt);
}

Operand ReadView(const Args& args, size_t i, const char* name, DType dt, size_t ndim) {
  if (i >= args.size() || !args[i].IsObject() || args[i].IsArray()) args.Fail(i, name, "a view { mem, offset, strides }");
  Operand op = ReadSpan(args, i, name, dt);
  Napi::Value sv = GetStrides(args[i].As<Napi::Object>());
  auto want = [&] {  // built only on failure: this runs on every kernel call
    return std::string("'") + name + ".strides' must be an array of " + std::to_string(ndim) +
           " integers (one per dim of shape), got ";
  };
  if (!sv.IsArray()) args.Fail(want() + Describe(sv));
  Napi::Array arr = sv.As<Napi::Array>();
  if (arr.Length() != ndim) args.Fail(want() + std::to_string(arr.Length()) + " entries");
  op.strides.reserve(ndim);
  for (uint32_t d = 0; d < ndim; d++) {
    Napi::Value e = arr.Get(d);
    double x = e.IsNumber() ? e.As<Napi::Number>().DoubleValue() : NAN;
    if (!std::isfinite(x) || std::floor(x) != x || std::fabs(x) > static_cast<double>(kMaxSize))
      args.Fail(want() + "entry " + std::to_string(d) + " = " + Describe(e));
    op.strides.push_back(static_cast<int64_t>(x));
  }
  return op;
}

// Checks that elements [offset + lo, offset + hi] (hi >= lo) of op lie in its buffer.
void CheckElems(const Args& args, const Operand& op, int64_t lo, int64_t hi) {
  int64_t first = CheckedAdd(op.offset, lo, args.fn());
  int64_t last = CheckedAdd(op.offset, hi, args.fn());
  if (first < 0)
    args.Fail("'" + op.name + "' reaches element " + std::to_string(first) + ", before the start of its buffer");
  int64_t es = static_cast<int64_t>(op.esize);
  CheckRange(args, op.mem, CheckedMul(first, es, args.fn()),
             CheckedMul(CheckedAdd(last - first, 1, args.fn()), es, args.fn()), op.name.c_str());
}

void CheckSpan(const Args& args, const Operand& op, int64_t numel) {
  if (numel > 0) CheckElems(args, op, 0, numel - 1);
}

void CheckView(const Args& args, const Operand& op, const std::vector<int64_t>& shape) {
  int64_t lo = 0, hi = 0;
  for (size_t d = 0; d < shape.size(); d++) {
    if (shape[d] == 0) return;  // touches nothing
    int64_t ext = CheckedMul(shape[d] - 1, op.strides[d], args.fn());
    if (ext < 0) lo = CheckedAdd(lo, ext, args.fn());
    else hi = CheckedAdd(hi, ext, args.fn());
  }
  CheckElems(args, op, lo, hi);
}

DType ReadDType(const Args& args, size_t i, const char* name) {
  return static_cast<DType>(args.Int(i, name, 0, k::kNumDTypes - 1));
}

// Callers building `what` at run time test IsFloat first, so the string is only made to fail.
void RequireFloat(const Args& args, DType dt, const std::string& what) {
  if (!k::IsFloat(dt))
    throw NativeError(code::kDtype, std::string(args.fn()) + ": " + what + " needs a floating dtype (float32, float64, "
                                    "float16 or bfloat16), got " + k::DTypeName(dt));
}

std::vector<int64_t> ReadShape(const Args& args, size_t i, const char* name) {
  std::vector<int64_t> s = args.Ints(i, name, 0, kMaxSize, k::kMaxDims);
  int64_t n = 1;
  for (int64_t d : s) n = CheckedMul(n, d, args.fn());
  if (n > kMaxSize) args.Fail(std::string("'") + name + "' has more than 2^53 elements");
  return s;
}

int64_t Numel(const std::vector<int64_t>& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

// ---- devices -------------------------------------------------------------------------------------

// All operands on one device; returns it (-1: host).
int SameDevice(const Args& args, std::initializer_list<const Operand*> ops) {
  const Operand* first = nullptr;
  for (const Operand* op : ops) {
    if (!op) continue;
    if (!first) {
      first = op;
    } else if (op->mem.device != first->mem.device) {
      auto where = [](int d) { return d < 0 ? std::string("cpu") : "cuda:" + std::to_string(d); };
      throw NativeError(code::kDeviceMismatch, std::string(args.fn()) + ": all operands must be on one device, but '" +
                                                   first->name + "' is on " + where(first->mem.device) + " and '" +
                                                   op->name + "' is on " + where(op->mem.device));
    }
  }
  return first ? first->mem.device : -1;
}

int SameDevice(const Args& args, const std::vector<Operand>& ops, int dev) {
  for (const Operand& op : ops)
    if (op.mem.device != dev) {
      auto where = [](int d) { return d < 0 ? std::string("cpu") : "cuda:" + std::to_string(d); };
      throw NativeError(code::kDeviceMismatch, std::string(args.fn()) + ": all operands must be on one device, but '" +
                                                   op.name + "' is on " + where(op.mem.device) + " and the others on " +
                                                   where(dev));
    }
  return dev;
}

// Runs host() for host memory, or device(kernels, stream) on the device's current stream with the
// device current for the call (and the caller's current device restored after).
template <class H, class D>
void Dispatch(const Args& args, int dev, H&& host, D&& device) {
  if (dev < 0) return host();
  CheckDevice(dev, args.fn());
  dev::DeviceGuard guard(dev);
  device(dev::Get().Kernels(), CurrentStream(dev));
}

// Runs f(scratch) with `bytes` of device memory from the caching allocator, ordered on stream s
// (freed right after the launch: the allocator reuses it only for later work on that stream).
template <class F>
void WithScratch(int dev, k::Stream s, size_t bytes, F&& f) {
  if (bytes == 0) return f(nullptr);
  DeviceAllocation a = DeviceMalloc(dev, bytes, s);
  struct Free {
    DeviceAllocation& a;
    ~Free() { DeviceFree(a); }
  } guard{a};
  f(a.ptr);
}

template <int N>
k::Iter<N> MakeIter(const std::vector<int64_t>& shape, std::initializer_list<const Operand*> ops) {
  k::Iter<N> it;
  it.ndim = static_cast<int>(shape.size());
  for (int d = 0; d < it.ndim; d++) it.size[d] = shape[d];
  int o = 0;
  for (const Operand* op : ops) {
    it.ptr[o] = op->Ptr();
    for (int d = 0; d < it.ndim; d++) it.st[o][d] = op->strides[d];
    o++;
  }
  it.Coalesce();
  return it;
}

// ---- op names --------------------------------------------------------------------------------------

const char* const kUnaryNames[] = {
    "neg", "abs", "exp", "log", "sqrt", "rsqrt", "sin", "cos", "tanh", "sigmoid", "relu", "gelu", "gelu_tanh",
    "silu", "sign", "square", "reciprocal", "log1p", "expm1", "erf", "logical_not", "fill", "add_scalar",
    "mul_scalar", "rsub_scalar", "rdiv_scalar", "pow_scalar", "rpow_scalar", "maximum_scalar", "minimum_scalar",
    "clamp", "eq_scalar", "ne_scalar", "lt_scalar", "le_scalar", "gt_scalar", "ge_scalar", "round", "floor", "ceil",
    "trunc", "isnan", "isinf", "isfinite"};
const char* const kBinaryNames[] = {
    "add", "sub", "mul", "div", "pow", "maximum", "minimum", "atan2", "eq", "ne", "lt", "le", "gt", "ge",
    "logical_and", "logical_or", "relu_backward", "gelu_backward", "gelu_tanh_backward", "silu_backward",
    "sigmoid_backward_y", "tanh_backward_y"};
const char* const kReduceNames[] = {"sum", "mean", "prod", "max", "min", "argmax", "argmin", "var"};
const char* const kDistNames[] = {"uniform", "normal", "randint", "bernoulli"};

template <size_t N>
int ReadEnum(const Args& args, size_t i, const char* name, const char* const (&names)[N]) {
  auto list = [&] {  // built only on failure: this runs on every kernel call
    std::string l;
    for (size_t j = 0; j < N; j++) l += (j ? ", " : "") + std::string(names[j]);
    return l;
  };
  if (i >= args.size() || !args[i].IsString()) args.Fail(i, name, "one of " + list());
  char buf[32];
  size_t len = 0;
  napi_get_value_string_utf8(args.env(), args[i], buf, sizeof buf, &len);
  if (len < sizeof buf - 1)  // else longer than any name
    for (size_t j = 0; j < N; j++)
      if (std::strcmp(buf, names[j]) == 0) return static_cast<int>(j);
  args.Fail("argument '" + std::string(name) + "' must be one of " + list() + ", got '" +
            args[i].As<Napi::String>().Utf8Value() + "'");
}
static_assert(sizeof(kUnaryNames) / sizeof(kUnaryNames[0]) == static_cast<size_t>(k::UOp::Count), "unary names");
static_assert(sizeof(kBinaryNames) / sizeof(kBinaryNames[0]) == static_cast<size_t>(k::BOp::Count), "binary names");

bool Integral(double x) { return std::isfinite(x) && std::floor(x) == x && std::fabs(x) <= 9.2e18; }

// ---- exports --------------------------------------------------------------------------------------

Napi::Value Unary(const Napi::CallbackInfo& info) {
  Args args(info, "kernels.unary");
  args.Count(5, 7);
  auto op = static_cast<k::UOp>(ReadEnum(args, 0, "op", kUnaryNames));
  DType dt = ReadDType(args, 1, "dtype");
  auto shape = ReadShape(args, 2, "shape");
  const bool boolOut = k::UOpBoolOut(op);
  Operand out = ReadView(args, 3, "out", boolOut ? DType::Bool : dt, shape.size());
  Operand a = ReadView(args, 4, "a", dt, shape.size());
  double p0 = args.IsMissing(5) ? (op == k::UOp::Clamp ? -INFINITY : 0.0) : args.Number(5, "p0");
  double p1 = args.IsMissing(6) ? (op == k::UOp::Clamp ? INFINITY : 0.0) : args.Number(6, "p1");
  if (k::UOpFloatOnly(op) && !k::IsFloat(dt)) RequireFloat(args, dt, std::string("'") + kUnaryNames[static_cast<int>(op)] + "'");
  if (op == k::UOp::Round) {
    // p0 is `decimals` (default 0): the kernel gets 10^|decimals| in p0 and the sign in p1
    if (!Integral(p0)) args.Fail("'round' needs an integer 'decimals' (p0), got " + std::to_string(p0));
    if (p0 != 0 && !k::IsFloat(dt)) RequireFloat(args, dt, "'round' with decimals != 0");
    p1 = p0 < 0 ? 1.0 : 0.0;
    p0 = std::pow(10.0, std::fabs(p0));
  }
  bool scalarF = false;
  if (!k::IsFloat(dt)) {
    bool cmp = op >= k::UOp::EqS && op <= k::UOp::GeS;
    if (cmp) {
      scalarF = !Integral(p0);
    } else if (op == k::UOp::Clamp) {
      // infinite bounds mean "no bound"; fractional bounds would need a float result
      if (!(std::isinf(p0) && p0 < 0) && !Integral(p0)) RequireFloat(args, dt, "clamp with a non-integral bound");
      if (!(std::isinf(p1) && p1 > 0) && !Integral(p1)) RequireFloat(args, dt, "clamp with a non-integral bound");
      p0 = std::isinf(p0) ? -9.2e18 : p0;
      p1 = std::isinf(p1) ? 9.2e18 : p1;
    } else if (op == k::UOp::Fill) {
      if (!std::isfinite(p0)) args.Fail("fill of an integer dtype needs a finite value, got " + std::to_string(p0));
      p0 = std::trunc(p0);
    } else if (op >= k::UOp::AddS && op <= k::UOp::MinS) {
      if (!Integral(p0))
        RequireFloat(args, dt, std::string("'") + kUnaryNames[static_cast<int>(op)] + "' with the non-integral scalar " +
                                   std::to_string(p0));
    }
  }
  CheckView(args, out, shape);
  CheckView(args, a, shape);
  int dev = SameDevice(args, {&out, &a});
  auto it = MakeIter<2>(shape, {&out, &a});
  Dispatch(args, dev, [&] { k::HostUnary(op, dt, it, p0, p1, scalarF); },
           [&](const k::KernelTable& kt, k::Stream s) { kt.unary(op, dt, it, p0, p1, scalarF, s); });
  return info.Env().Undefined();
}

Napi::Value Binary(const Napi::CallbackInfo& info) {
  Args args(info, "kernels.binary");
  args.Count(6, 6);
  auto op = static_cast<k::BOp>(ReadEnum(args, 0, "op", kBinaryNames));
  DType dt = ReadDType(args, 1, "dtype");
  auto shape = ReadShape(args, 2, "shape");
  Operand out = ReadView(args, 3, "out", k::BOpBoolOut(op) ? DType::Bool : dt, shape.size());
  Operand a = ReadView(args, 4, "a", dt, shape.size());
  Operand b = ReadView(args, 5, "b", dt, shape.size());
  if (k::BOpFloatOnly(op) && !k::IsFloat(dt)) RequireFloat(args, dt, std::string("'") + kBinaryNames[static_cast<int>(op)] + "'");
  CheckView(args, out, shape);
  CheckView(args, a, shape);
  CheckView(args, b, shape);
  int dev = SameDevice(args, {&out, &a, &b});
  auto it = MakeIter<3>(shape, {&out, &a, &b});
  Dispatch(args, dev, [&] { k::HostBinary(op, dt, it); }, [&](const k::KernelTable& kt, k::Stream s) { kt.binary(op, dt, it, s); });
  return info.Env().Undefined();
}

Napi::Value Where(const Napi::CallbackInfo& info) {
  Args args(info, "kernels.where");
  args.Count(6, 6);
  DType dt = ReadDType(args, 0, "dtype");
  auto shape = ReadShape(args, 1, "shape");
  Operand out = ReadView(args, 2, "out", dt, shape.size());
  Operand cond = ReadView(args, 3, "cond", DType::Bool, shape.size());
  Operand a = ReadView(args, 4, "a", dt, shape.size());
  Operand b = ReadView(args, 5, "b", dt, shape.size());
  for (const Operand* op : {&out, &cond, &a, &b}) CheckView(args, *op, shape);
  int dev = SameDevice(args, {&out, &cond, &a, &b});
  auto it = MakeIter<4>(shape, {&out, &cond, &a, &b});
  Dispatch(args, dev, [&] { k::HostWhere(dt, it); }, [&](const k::KernelTable& kt, k::Stream s) { kt.where(dt, it, s); });
  return info.Env().Undefined();
}

Napi::Value Copy(const Napi::CallbackInfo& info) {
  Args args(info, "kernels.copy");
  args.Count(5, 5);
  DType src = ReadDType(args, 0, "srcDtype");
  DType dst = ReadDType(args, 1, "dstDtype");
  auto shape = ReadShape(args, 2, "shape");
  Operand out = ReadView(args, 3, "out", dst, shape.size());
  Operand a = ReadView(args, 4, "a", src, shape.size());
  CheckView(args, out, shape);
  CheckView(args, a, shape);
  int dev = SameDevice(args, {&out, &a});
  auto it = MakeIter<2>(shape, {&out, &a});
  Dispatch(args, dev, [&] { k::HostCopy(src, dst, it); }, [&](const k::KernelTable& kt, k::Stream s) { kt.copy(src, dst, it, s); });
  return info.Env().Undefined();
}

Napi::Value Reduce(const Napi::CallbackInfo& info) {
  Args args(info, "kernels.reduce");
  args.Count(7, 9);
  auto op = static_cast<k::ROp>(ReadEnum(args, 0, "op", kReduceNames));
  DType dt = ReadDType(args, 1, "dtype");
  int64_t outer = args.Int(2, "outer", 0, kMaxSize);
  int64_t size = args.Int(3, "size", 0, kMaxSize);
  int64_t inner = args.Int(4, "inner", 0, kMaxSize);
  int64_t outN = CheckedMul(outer, inner, args.fn());
  int64_t inN = CheckedMul(outN, size, args.fn());
  const bool arg = op == k::ROp::Argmax || op == k::ROp::Argmin;
  Operand out = ReadSpan(args, 5, "out", arg ? DType::I64 : dt);
  Operand in = ReadSpan(args, 6, "input", dt);
  bool hasIdx = !args.IsMissing(7);
  Operand idx;
  if (hasIdx) {
    if (op != k::ROp::Max && op != k::ROp::Min) args.Fail("argument 'indices' is only for 'max' and 'min'");
    idx = ReadSpan(args, 7, "indices", DType::I64);
  }
  double correction = args.IsMissing(8) ? 1.0 : args.Finite(8, "correction");
  if ((op == k::ROp::Mean || op == k::ROp::Var) && !k::IsFloat(dt)) RequireFloat(args, dt, std::string("'") + kReduceNames[int(op)] + "'");
  if (size == 0 && outN > 0 && op >= k::ROp::Max && op <= k::ROp::Argmin)
    args.Fail(std::string("'") + kReduceNames[int(op)] + "' of an empty dimension (size 0) has no identity");
  CheckSpan(args, out, outN);
  CheckSpan(args, in, inN);
  if (hasIdx) CheckSpan(args, idx, outN);
  int dev = SameDevice(args, {&out, &in, hasIdx ? &idx : nullptr});
  if (outN == 0) return info.Env().Undefined();
  int64_t* ip = hasIdx ? reinterpret_cast<int64_t*>(idx.Ptr()) : nullptr;
  Dispatch(args, dev, [&] { k::HostReduce(op, dt, outer, size, inner, out.Ptr(), in.Ptr(), ip, correction); },
           [&](const k::KernelTable& kt, k::Stream s) {
             WithScratch(dev, s, kt.reduceScratch(outer, size, inner), [&](void* scratch) {
               kt.reduce(op, dt, outer, size, inner, out.Ptr(), in.Ptr(), ip, correction, scratch, s);
             });
           });
  return info.Env().Undefined();
}

Napi::Value Softmax(const Napi::CallbackInfo& info) {
  Args args(info, "kernels.softmax");
  args.Count(6, 6);
  DType dt = ReadDType(args, 0, "dtype");
  int64_t rows = args.Int(1, "rows", 0, kMaxSize), cols = args.Int(2, "cols", 0, kMaxSize);
  int64_t n = CheckedMul(rows, cols, args.fn());
  Operand out = ReadSpan(args, 3, "out", dt), in = ReadSpan(args, 4, "input", dt);
  bool log = args.Bool(5, "log");
  RequireFloat(args, dt, "softmax");
  CheckSpan(args, out, n);
  CheckSpan(args, in, n);
  int dev = SameDevice(args, {&out, &in});
  if (n == 0) return info.Env().Undefined();
  Dispatch(args, dev, [&] { k::HostSoftmax(dt, rows, cols, out.Ptr(), in.Ptr(), log); },
           [&](const k::KernelTable& kt, k::Stream s) {
             WithScratch(dev, s, kt.softmaxScratch(rows, cols),
                         [&](void* scratch) { kt.softmax(dt, rows, cols, out.Ptr(), in.Ptr(), log, scratch, s); });
           });
  return info.Env().Undefined();
}

Napi::Value SoftmaxBackward(const Napi::CallbackInfo& info) {
  Args args(info, "kernels.softmaxBackward");
  args.Count(7, 7);
  DType dt = ReadDType(args, 0, "dtype");
  int64_t rows = args.Int(1, "rows", 0, kMaxSize), cols = args.Int(2, "cols", 0, kMaxSize);
  int64_t n = CheckedMul(rows, cols, args.fn());
  Operand gin = ReadSpan(args, 3, "gradIn", dt), gout = ReadSpan(args, 4, "gradOut", dt), y = ReadSpan(args, 5, "y", dt);
  bool log = args.Bool(6, "log");
  RequireFloat(args, dt, "softmaxBackward");
  for (const Operand* op : {&gin, &gout, &y}) CheckSpan(args, *op, n);
  int dev = SameDevice(args, {&gin, &gout, &y});
  if (n == 0) return info.Env().Undefined();
  Dispatch(args, dev, [&] { k::HostSoftmaxBackward(dt, rows, cols, gin.Ptr(), gout.Ptr(), y.Ptr(), log); },
           [&](const k::KernelTable& kt, k::Stream s) { kt.softmaxBackward(dt, rows, cols, gin.Ptr(), gout.Ptr(), y.Ptr(), log, s); });
  return info.Env().Undefined();
}

// LayerNorm's saved mean and rstd: float64 for float64 inputs, else float32 (the compute type).
DType StatsDType(DType dt) { return dt == DType::F64 ? DType::F64 : DType::F32; }

Napi::Value LayerNorm(const Napi::CallbackInfo& info) {
  Args args(info, "kernels.layerNorm");
  args.Count(10, 10);
  DType dt = ReadDType(args, 0, "dtype");
  int64_t rows = args.Int(1, "rows", 0, kMaxSize), cols = args.Int(2, "cols", 0, kMaxSize);
  int64_t n = CheckedMul(rows, cols, args.fn());
  Operand out = ReadSpan(args, 3, "out", dt), mean = ReadSpan(args, 4, "mean", StatsDType(dt)),
          rstd = ReadSpan(args, 5, "rstd", StatsDType(dt)), x = ReadSpan(args, 6, "x", dt);
  bool hasW = !args.IsMissing(7), hasB = !args.IsMissing(8);
  Operand w, b;
  if (hasW) w = ReadSpan(args, 7, "weight", dt);
  if (hasB) b = ReadSpan(args, 8, "bias", dt);
  double eps = args.Finite(9, "eps");
  if (eps < 0) args.Fail(9, "eps", "a finite number >= 0");
  RequireFloat(args, dt, "layerNorm");
  CheckSpan(args, out, n);
  CheckSpan(args, x, n);
  CheckSpan(args, mean, rows);
  CheckSpan(args, rstd, rows);
  if (hasW) CheckSpan(args, w, cols);
  if (hasB) CheckSpan(args, b, cols);
  int dev = SameDevice(args, {&out, &mean, &rstd, &x, hasW ? &w : nullptr, hasB ? &b : nullptr});
  if (rows == 0) return info.Env().Undefined();
  void* mp = mean.Ptr();
  void* rp = rstd.Ptr();
  const void* wp = hasW ? w.Ptr() : nullptr;
  const void* bp = hasB ? b.Ptr() : nullptr;
  Dispatch(args, dev, [&] { k::HostLayerNorm(dt, rows, cols, out.Ptr(), mp, rp, x.Ptr(), wp, bp, eps); },
           [&](const k::KernelTable& kt, k::Stream s) {
             WithScratch(dev, s, kt.layerNormScratch(rows, cols), [&](void* scratch) {
               kt.layerNorm(dt, rows, cols, out.Ptr(), mp, rp, x.Ptr(), wp, bp, eps, scratch, s);
             });
           });
  return info.Env().Undefined();
}

Napi::Value LayerNormBackward(const Napi::CallbackInfo& info) {
  Args args(info, "kernels.layerNormBackward");
  args.Count(11, 11);
  DType dt = ReadDType(args, 0, "dtype");
  int64_t rows = args.Int(1, "rows", 0, kMaxSize), cols = args.Int(2, "cols", 0, kMaxSize);
  int64_t n = CheckedMul(rows, cols, args.fn());
  Operand gx = ReadSpan(args, 3, "gradX", dt);
  bool hasGw = !args.IsMissing(4), hasGb = !args.IsMissing(5), hasW = !args.IsMissing(10);
  Operand gw, gb, w;
  if (hasGw) gw = ReadSpan(args, 4, "gradWeight", dt);
  if (hasGb) gb = ReadSpan(args, 5, "gradBias", dt);
  Operand gout = ReadSpan(args, 6, "gradOut", dt), x = ReadSpan(args, 7, "x", dt),
          mean = ReadSpan(args, 8, "mean", StatsDType(dt)), rstd = ReadSpan(args, 9, "rstd", StatsDType(dt));
  if (hasW) w = ReadSpan(args, 10, "weight", dt);
  RequireFloat(args, dt, "layerNormBackward");
  CheckSpan(args, gx, n);
  CheckSpan(args, gout, n);
  CheckSpan(args, x, n);
  CheckSpan(args, mean, rows);
  CheckSpan(args, rstd, rows);
  if (hasGw) CheckSpan(args, gw, cols);
  if (hasGb) CheckSpan(args, gb, cols);
  if (hasW) CheckSpan(args, w, cols);
  int dev = SameDevice(args, {&gx, hasGw ? &gw : nullptr, hasGb ? &gb : nullptr, &gout, &x, &mean, &rstd,
                              hasW ? &w : nullptr});
  if (cols == 0) return info.Env().Undefined();
  void* gwp = hasGw ? gw.Ptr() : nullptr;
  void* gbp = hasGb ? gb.Ptr() : nullptr;
  const void* wp = hasW ? w.Ptr() : nullptr;
  const void* mp = mean.Ptr();
  const void* rp = rstd.Ptr();
  Dispatch(args, dev,
           [&] { k::HostLayerNormBackward(dt, rows, cols, gx.Ptr(), gwp, gbp, gout.Ptr(), x.Ptr(), mp, rp, wp); },
           [&](const k::KernelTable& kt, k::Stream s) {
             WithScratch(dev, s, kt.layerNormBackwardScratch(rows, cols), [&](void* scratch) {
               kt.layerNormBackward(dt, rows, cols, gx.Ptr(), gwp, gbp, gout.Ptr(), x.Ptr(), mp, rp, wp, scratch, s);
             });
           });
  return info.Env().Undefined();
}

// ---- batch normalization (contiguous [outer, channels, inner]; per-channel stats in StatsDType) ----

struct BnShape {
  int64_t outer, ch, inner, n;
};
BnShape ReadBnShape(const Args& args) {
  BnShape b;
  b.outer = args.Int(1, "outer", 0, kMaxSize);
  b.ch = args.Int(2, "channels", 0, kMaxSize);
  b.inner = args.Int(3, "inner", 0, kMaxSize);
  b.n = CheckedMul(CheckedMul(b.outer, b.ch, args.fn()), b.inner, args.fn());
  if (b.n > kMaxSize) args.Fail("'outer' x 'channels' x 'inner' has more than 2^53 elements");
  return b;
}
// An optional per-channel span at argument i (null/undefined: absent).
bool OptSpan(const Args& args, size_t i, const char* name, DType dt, int64_t len, Operand* op) {
  if (args.IsMissing(i)) return false;
  *op = ReadSpan(args, i, name, dt);
  CheckSpan(args, *op, len);
  return true;
}
const void* PtrOr(bool has, const Operand& op) { return has ? op.Ptr() : nullptr; }
void* MutPtrOr(bool has, const Operand& op) { return has ? op.Ptr() : nullptr; }

Napi::Value BatchNormStats(const Napi::CallbackInfo& info) {
  Args args(info, "kernels.batchNormStats");
  args.Count(7, 7);
  DType dt = ReadDType(args, 0, "dtype");
  RequireFloat(args, dt, "batchNormStats");
  BnShape b = ReadBnShape(args);
  Operand mean = ReadSpan(args, 4, "mean", StatsDType(dt)), var = ReadSpan(args, 5, "var", StatsDType(dt)),
          x = ReadSpan(args, 6, "x", dt);
  CheckSpan(args, mean, b.ch);
  CheckSpan(args, var, b.ch);
  CheckSpan(args, x, b.n);
  int dev = SameDevice(args, {&mean, &var, &x});
  if (b.ch == 0) return info.Env().Undefined();
  Dispatch(args, dev, [&] { k::HostBatchNormStats(dt, b.outer, b.ch, b.inner, mean.Ptr(), var.Ptr(), x.Ptr()); },
           [&](const k::KernelTable& kt, k::Stream s) { kt.batchNormStats(dt, b.outer, b.ch, b.inner, mean.Ptr(), var.Ptr(), x.Ptr(), s); });
  return info.Env().Undefined();
}

Napi::Value BatchNormElemt(const Napi::CallbackInfo& info) {
  Args args(info, "kernels.batchNormElemt");
  args.Count(10, 10);
  DType dt = ReadDType(args, 0, "dtype");
  RequireFloat(args, dt, "batchNormElemt");
  BnShape b = ReadBnShape(args);
  Operand out = ReadSpan(args, 4, "out", dt), x = ReadSpan(args, 5, "x", dt),
          mean = ReadSpan(args, 6, "mean", StatsDType(dt)), invstd = ReadSpan(args, 7, "invstd", StatsDType(dt));
  CheckSpan(args, out, b.n);
  CheckSpan(args, x, b.n);
  CheckSpan(args, mean, b.ch);
  CheckSpan(args, invstd, b.ch);
  Operand w, bias;
  bool hasW = OptSpan(args, 8, "weight", dt, b.ch, &w), hasB = OptSpan(args, 9, "bias", dt, b.ch, &bias);
  int dev = SameDevice(args, {&out, &x, &mean, &invstd, hasW ? &w : nullptr, hasB ? &bias : nullptr});
  if (b.n == 0) return info.Env().Undefined();
  const void* wp = PtrOr(hasW, w);
  const void* bp = PtrOr(hasB, bias);
  Dispatch(args, dev,
           [&] { k::HostBatchNormElemt(dt, b.outer, b.ch, b.inner, out.Ptr(), x.Ptr(), mean.Ptr(), invstd.Ptr(), wp, bp); },
           [&](const k::KernelTable& kt, k::Stream s) {
             kt.batchNormElemt(dt, b.outer, b.ch, b.inner, out.Ptr(), x.Ptr(), mean.Ptr(), invstd.Ptr(), wp, bp, s);
           });
  return info.Env().Undefined();
}

Napi::Value BatchNormBackwardReduce(const Napi::CallbackInfo& info) {
  Args args(info, "kernels.batchNormBackwardReduce");
  args.Count(13, 13);
  DType dt = ReadDType(args, 0, "dtype");
  RequireFloat(args, dt, "batchNormBackwardReduce");
  BnShape b = ReadBnShape(args);
  Operand dy, dyXmu, gw, gb;
  bool hasDy = OptSpan(args, 4, "dy", StatsDType(dt), b.ch, &dy);
  bool hasDx = OptSpan(args, 5, "dyXmu", StatsDType(dt), b.ch, &dyXmu);
  bool hasGw = OptSpan(args, 6, "gradWeight", dt, b.ch, &gw), hasGb = OptSpan(args, 7, "gradBias", dt, b.ch, &gb);
  Operand gout = ReadSpan(args, 8, "gradOut", dt), x = ReadSpan(args, 9, "x", dt),
          mean = ReadSpan(args, 10, "mean", StatsDType(dt)), invstd = ReadSpan(args, 11, "invstd", StatsDType(dt));
  double scale = args.Finite(12, "scale");
  CheckSpan(args, gout, b.n);
  CheckSpan(args, x, b.n);
  CheckSpan(args, mean, b.ch);
  CheckSpan(args, invstd, b.ch);
  int dev = SameDevice(args, {hasDy ? &dy : nullptr, hasDx ? &dyXmu : nullptr, hasGw ? &gw : nullptr,
                              hasGb ? &gb : nullptr, &gout, &x, &mean, &invstd});
  if (b.ch == 0 || !(hasDy || hasDx || hasGw || hasGb)) return info.Env().Undefined();
  void* dyp = MutPtrOr(hasDy, dy);
  void* dxp = MutPtrOr(hasDx, dyXmu);
  void* gwp = MutPtrOr(hasGw, gw);
  void* gbp = MutPtrOr(hasGb, gb);
  Dispatch(args, dev,
           [&] {
             k::HostBatchNormBackwardReduce(dt, b.outer, b.ch, b.inner, dyp, dxp, gwp, gbp, gout.Ptr(), x.Ptr(),
                                            mean.Ptr(), invstd.Ptr(), scale);
           },
           [&](const k::KernelTable& kt, k::Stream s) {
             kt.batchNormBackwardReduce(dt, b.outer, b.ch, b.inner, dyp, dxp, gwp, gbp, gout.Ptr(), x.Ptr(), mean.Ptr(),
                                        invstd.Ptr(), scale, s);
           });
  return info.Env().Undefined();
}

Napi::Value BatchNormBackwardElemt(const Napi::CallbackInfo& info) {
  Args args(info, "kernels.batchNormBackwardElemt");
  args.Count(12, 12);
  DType dt = ReadDType(args, 0, "dtype");
  RequireFloat(args, dt, "batchNormBackwardElemt");
  BnShape b = ReadBnShape(args);
  Operand gx = ReadSpan(args, 4, "gradX", dt), gout = ReadSpan(args, 5, "gradOut", dt), x = ReadSpan(args, 6, "x", dt),
          mean = ReadSpan(args, 7, "mean", StatsDType(dt)), invstd = ReadSpan(args, 8, "invstd", StatsDType(dt));
  CheckSpan(args, gx, b.n);
  CheckSpan(args, gout, b.n);
  CheckSpan(args, x, b.n);
  CheckSpan(args, mean, b.ch);
  CheckSpan(args, invstd, b.ch);
  Operand w, mdy, mdx;
  bool hasW = OptSpan(args, 9, "weight", dt, b.ch, &w);
  bool hasMdy = OptSpan(args, 10, "meanDy", StatsDType(dt), b.ch, &mdy);
  bool hasMdx = OptSpan(args, 11, "meanDyXmu", StatsDType(dt), b.ch, &mdx);
  if (hasMdy != hasMdx) args.Fail("'meanDy' and 'meanDyXmu' must both be given (training) or both be null (eval)");
  int dev = SameDevice(args, {&gx, &gout, &x, &mean, &invstd, hasW ? &w : nullptr, hasMdy ? &mdy : nullptr,
                              hasMdx ? &mdx : nullptr});
  if (b.n == 0) return info.Env().Undefined();
  const void* wp = PtrOr(hasW, w);
  const void* mdyp = PtrOr(hasMdy, mdy);
  const void* mdxp = PtrOr(hasMdx, mdx);
  Dispatch(args, dev,
           [&] {
             k::HostBatchNormBackwardElemt(dt, b.outer, b.ch, b.inner, gx.Ptr(), gout.Ptr(), x.Ptr(), mean.Ptr(),
                                           invstd.Ptr(), wp, mdyp, mdxp);
           },
           [&](const k::KernelTable& kt, k::Stream s) {
             kt.batchNormBackwardElemt(dt, b.outer, b.ch, b.inner, gx.Ptr(), gout.Ptr(), x.Ptr(), mean.Ptr(), invstd.Ptr(),
                                       wp, mdyp, mdxp, s);
           });
  return info.Env().Undefined();
}

Napi::Value Matmul(const Napi::CallbackInfo& info) {
  Args args(info, "kernels.matmul");
  args.Count(19, 19);
  DType dt = ReadDType(args, 0, "dtype");
  RequireFloat(args, dt, "matmul");
  k::GemmArgs g{};
  g.batch = args.Int(1, "batch", 0, kMaxSize);
  g.m = args.Int(2, "m", 0, kMaxSize);
  g.n = args.Int(3, "n", 0, kMaxSize);
  g.k = args.Int(4, "k", 0, kMaxSize);
  Operand a = ReadSpan(args, 5, "a", dt);
  g.lda = args.Int(6, "lda", 0, kMaxSize);
  g.strideA = args.Int(7, "strideA", 0, kMaxSize);
  g.transA = args.Bool(8, "transA");
  Operand b = ReadSpan(args, 9, "b", dt);
  g.ldb = args.Int(10, "ldb", 0, kMaxSize);
  g.strideB = args.Int(11, "strideB", 0, kMaxSize);
  g.transB = args.Bool(12, "transB");
  Operand c = ReadSpan(args, 13, "c", dt);
  g.ldc = args.Int(14, "ldc", 0, kMaxSize);
  g.strideC = args.Int(15, "strideC", 0, kMaxSize);
  g.alpha = args.Finite(16, "alpha");
  g.beta = args.Finite(17, "beta");
  g.allowTf32 = args.Bool(18, "allowTf32");
  // stored shapes: A is (transA ? k x m : m x k), B is (transB ? n x k : k x n), C is m x n
  struct Mat { const char* name; Operand* op; int64_t rows, cols, ld, stride; };
  Mat mats[] = {{"a", &a, g.transA ? g.k : g.m, g.transA ? g.m : g.k, g.lda, g.strideA},
                {"b", &b, g.transB ? g.n : g.k, g.transB ? g.k : g.n, g.ldb, g.strideB},
                {"c", &c, g.m, g.n, g.ldc, g.strideC}};
  for (const Mat& mt : mats) {
    if (mt.ld < std::max<int64_t>(1, mt.cols))
      args.Fail(std::string("the row stride of '") + mt.name + "' (ld" + mt.name + " = " + std::to_string(mt.ld) +
                ") must be >= max(1, its stored column count " + std::to_string(mt.cols) + ")");
    if (g.batch == 0 || mt.rows == 0 || mt.cols == 0) continue;
    int64_t hi = CheckedAdd(CheckedMul(g.batch - 1, mt.stride, args.fn()),
                            CheckedAdd(CheckedMul(mt.rows - 1, mt.ld, args.fn()), mt.cols - 1, args.fn()), args.fn());
    CheckElems(args, *mt.op, 0, hi);
  }
  int dev = SameDevice(args, {&a, &b, &c});
  g.a = a.Ptr();
  g.b = b.Ptr();
  g.c = c.Ptr();
  if (g.batch == 0 || g.m == 0 || g.n == 0) return info.Env().Undefined();
  Dispatch(args, dev, [&] { k::HostMatmul(dt, g); }, [&](const k::KernelTable& kt, k::Stream s) { k::CublasMatmul(dt, g, dev, s); });
  return info.Env().Undefined();
}

Napi::Value IndexOp(const Napi::CallbackInfo& info, bool add) {
  Args args(info, add ? "kernels.indexAdd" : "kernels.indexSelect");
  args.Count(8, 8);
  DType dt = ReadDType(args, 0, "dtype");
  int64_t outer = args.Int(1, "outer", 0, kMaxSize);
  int64_t size = args.Int(2, add ? "outSize" : "srcSize", 0, kMaxSize);
  int64_t inner = args.Int(3, "inner", 0, kMaxSize);
  Operand out = ReadSpan(args, 4, "out", dt), src = ReadSpan(args, 5, "src", dt),
          index = ReadSpan(args, 6, "index", DType::I64);
  int64_t idxLen = args.Int(7, "idxLen", 0, kMaxSize);
  int64_t bigN = CheckedMul(CheckedMul(outer, size, args.fn()), inner, args.fn());
  int64_t smallN = CheckedMul(CheckedMul(outer, idxLen, args.fn()), inner, args.fn());
  CheckSpan(args, out, add ? bigN : smallN);
  CheckSpan(args, src, add ? smallN : bigN);
  CheckSpan(args, index, idxLen);
  int dev = SameDevice(args, {&out, &src, &index});
  if (smallN == 0) return info.Env().Undefined();
  const int64_t* ip = reinterpret_cast<const int64_t*>(index.Ptr());
  if (add)
    Dispatch(args, dev, [&] { k::HostIndexAdd(dt, outer, size, inner, out.Ptr(), src.Ptr(), ip, idxLen); },
             [&](const k::KernelTable& kt, k::Stream s) { kt.indexAdd(dt, outer, size, inner, out.Ptr(), src.Ptr(), ip, idxLen, s); });
  else
    Dispatch(args, dev, [&] { k::HostIndexSelect(dt, outer, size, inner, out.Ptr(), src.Ptr(), ip, idxLen); },
             [&](const k::KernelTable& kt, k::Stream s) { kt.indexSelect(dt, outer, size, inner, out.Ptr(), src.Ptr(), ip, idxLen, s); });
  return info.Env().Undefined();
}
Napi::Value IndexSelect(const Napi::CallbackInfo& info) { return IndexOp(info, false); }
Napi::Value IndexAdd(const Napi::CallbackInfo& info) { return IndexOp(info, true); }

Napi::Value GatherOp(const Napi::CallbackInfo& info, bool scatter) {
  Args args(info, scatter ? "kernels.scatterAdd" : "kernels.gather");
  args.Count(7, 7);
  DType dt = ReadDType(args, 0, "dtype");
  auto shape = ReadShape(args, 2, "shape");
  auto other = ReadShape(args, 3, scatter ? "outShape" : "srcShape");
  int64_t dim = args.Int(1, "dim", 0, std::max<int64_t>(0, static_cast<int64_t>(shape.size()) - 1));
  if (shape.empty()) args.Fail("'shape' must have at least one dim");
  if (other.size() != shape.size())
    throw NativeError(code::kShapeMismatch, std::string(args.fn()) + ": index has " + std::to_string(shape.size()) +
                                                " dims but " + (scatter ? "out" : "src") + " has " +
                                                std::to_string(other.size()));
  for (size_t d = 0; d < shape.size(); d++)
    if (static_cast<int64_t>(d) != dim && shape[d] > other[d])
      throw NativeError(code::kShapeMismatch, std::string(args.fn()) + ": index size " + std::to_string(shape[d]) +
                                                  " at dim " + std::to_string(d) + " exceeds the " +
                                                  (scatter ? "out" : "src") + " size " + std::to_string(other[d]));
  Operand out = ReadSpan(args, 4, "out", dt), src = ReadSpan(args, 5, "src", dt),
          index = ReadSpan(args, 6, "index", DType::I64);
  int64_t n = Numel(shape), on = Numel(other);
  CheckSpan(args, out, scatter ? on : n);
  CheckSpan(args, src, scatter ? n : on);
  CheckSpan(args, index, n);
  int dev = SameDevice(args, {&out, &src, &index});
  if (n == 0) return info.Env().Undefined();
  k::GatherArgs g{};
  g.ndim = static_cast<int>(shape.size());
  g.dim = static_cast<int>(dim);
  for (int d = 0; d < g.ndim; d++) {
    g.shape[d] = shape[d];
    g.other[d] = other[d];
  }
  const int64_t* ip = reinterpret_cast<const int64_t*>(index.Ptr());
  if (scatter)
    Dispatch(args, dev, [&] { k::HostScatterAdd(dt, g, out.Ptr(), src.Ptr(), ip); },
             [&](const k::KernelTable& kt, k::Stream s) { kt.scatterAdd(dt, g, out.Ptr(), src.Ptr(), ip, s); });
  else
    Dispatch(args, dev, [&] { k::HostGather(dt, g, out.Ptr(), src.Ptr(), ip); },
             [&](const k::KernelTable& kt, k::Stream s) { kt.gather(dt, g, out.Ptr(), src.Ptr(), ip, s); });
  return info.Env().Undefined();
}
Napi::Value Gather(const Napi::CallbackInfo& info) { return GatherOp(info, false); }
Napi::Value ScatterAdd(const Napi::CallbackInfo& info) { return GatherOp(info, true); }

uint64_t ReadU64(const Args& args, size_t i, const char* name) {
  std::string want = "a bigint or an integer in [0, 2^64)";
  if (i >= args.size()) args.Fail(i, name, want);
  Napi::Value v = args[i];
  if (v.IsBigInt()) {
    bool lossless = false;
    uint64_t r = v.As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless) args.Fail(i, name, want);
    return r;
  }
  return static_cast<uint64_t>(args.Int(i, name, 0, kMaxSize));
}

Napi::Value Random(const Napi::CallbackInfo& info) {
  Args args(info, "kernels.random");
  args.Count(8, 8);
  auto dist = static_cast<k::Dist>(ReadEnum(args, 0, "dist", kDistNames));
  DType dt = ReadDType(args, 1, "dtype");
  Operand out = ReadSpan(args, 2, "out", dt);
  int64_t numel = args.Int(3, "numel", 0, kMaxSize);
  uint64_t seed = ReadU64(args, 4, "seed"), offset = ReadU64(args, 5, "offset");
  double p0 = args.Finite(6, "p0"), p1 = args.Finite(7, "p1");
  if ((dist == k::Dist::Uniform || dist == k::Dist::Normal) && !k::IsFloat(dt)) RequireFloat(args, dt, std::string("'") + kDistNames[int(dist)] + "'");
  if (dist == k::Dist::Uniform && !(p0 <= p1)) args.Fail("uniform needs p0 <= p1 (the range [p0, p1))");
  if (dist == k::Dist::Normal && p1 < 0) args.Fail("normal needs a standard deviation p1 >= 0");
  if (dist == k::Dist::Randint) {
    if (!Integral(p0) || !Integral(p1) || !(p0 < p1)) args.Fail("randint needs integers p0 < p1 (the range [p0, p1))");
  }
  if (dist == k::Dist::Bernoulli && !(p0 >= 0 && p0 <= 1)) args.Fail("bernoulli needs a probability p0 in [0, 1]");
  CheckSpan(args, out, numel);
  int dev = SameDevice(args, {&out});
  if (numel == 0) return info.Env().Undefined();
  Dispatch(args, dev, [&] { k::HostRandom(dist, dt, out.Ptr(), numel, seed, offset, p0, p1); },
           [&](const k::KernelTable& kt, k::Stream s) { kt.random(dist, dt, out.Ptr(), numel, seed, offset, p0, p1, s); });
  return info.Env().Undefined();
}

Napi::Value Arange(const Napi::CallbackInfo& info) {
  Args args(info, "kernels.arange");
  args.Count(5, 5);
  DType dt = ReadDType(args, 0, "dtype");
  Operand out = ReadSpan(args, 1, "out", dt);
  int64_t numel = args.Int(2, "numel", 0, kMaxSize);
  double start = args.Finite(3, "start"), step = args.Finite(4, "step");
  CheckSpan(args, out, numel);
  int dev = SameDevice(args, {&out});
  if (numel == 0) return info.Env().Undefined();
  Dispatch(args, dev, [&] { k::HostArange(dt, out.Ptr(), numel, start, step); },
           [&](const k::KernelTable& kt, k::Stream s) { kt.arange(dt, out.Ptr(), numel, start, step, s); });
  return info.Env().Undefined();
}

// Reads a list of spans (each checked for numels[i] elements of dt).
std::vector<Operand> ReadSpanList(const Args& args, size_t i, const char* name, DType dt,
                                  const std::vector<int64_t>& numels) {
  if (i >= args.size() || !args[i].IsArray()) args.Fail(i, name, "an array of spans");
  Napi::Array arr = args[i].As<Napi::Array>();
  if (arr.Length() != numels.size())
    args.Fail(std::string("'") + name + "' has " + std::to_string(arr.Length()) + " entries, but 'numels' has " +
              std::to_string(numels.size()));
  std::vector<Operand> out;
  for (uint32_t j = 0; j < arr.Length(); j++) {
    out.push_back(ReadSpanValue(args, arr.Get(j), std::string(name) + "[" + std::to_string(j) + "]", dt));
    CheckSpan(args, out.back(), numels[j]);
  }
  return out;
}

double OptNum(const Args& args, const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber() || !std::isfinite(v.As<Napi::Number>().DoubleValue()))
    args.Fail(std::string("option '") + key + "' must be a finite number, got " + Describe(v));
  return v.As<Napi::Number>().DoubleValue();
}
bool OptBoolReq(const Args& args, const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsBoolean()) args.Fail(std::string("option '") + key + "' must be a boolean, got " + Describe(v));
  return v.As<Napi::Boolean>().Value();
}

Napi::Value AdamStep(const Napi::CallbackInfo& info) {
  Args args(info, "kernels.adamStep");
  args.Count(8, 8);
  DType dt = ReadDType(args, 0, "dtype");
  RequireFloat(args, dt, "adamStep");
  auto numels = args.Ints(6, "numels", 0, kMaxSize, 1 << 20);
  auto params = ReadSpanList(args, 1, "params", dt, numels);
  auto grads = ReadSpanList(args, 2, "grads", dt, numels);
  // The state has the parameters' dtype, as torch's.
  auto m = ReadSpanList(args, 3, "expAvg", dt, numels);
  auto v = ReadSpanList(args, 4, "expAvgSq", dt, numels);
  bool hasMax = !args.IsMissing(5);
  std::vector<Operand> vmax;
  if (hasMax) vmax = ReadSpanList(args, 5, "maxExpAvgSq", dt, numels);
  Napi::Object o = args.Object(7, "opts");
  k::AdamOpts opt{};
  opt.lr = OptNum(args, o, "lr");
  opt.beta1 = OptNum(args, o, "beta1");
  opt.beta2 = OptNum(args, o, "beta2");
  opt.eps = OptNum(args, o, "eps");
  opt.weightDecay = OptNum(args, o, "weightDecay");
  opt.step = args.OptInt(o, "step", -1, 1, kMaxSize);
  if (opt.step < 1) args.Fail("option 'step' (the 1-based step count, after incrementing) is required");
  opt.decoupled = OptBoolReq(args, o, "decoupled");
  opt.amsgrad = OptBoolReq(args, o, "amsgrad");
  opt.maximize = OptBoolReq(args, o, "maximize");
  if (!(opt.beta1 >= 0 && opt.beta1 < 1) || !(opt.beta2 >= 0 && opt.beta2 < 1))
    args.Fail("betas must be in [0, 1), got " + std::to_string(opt.beta1) + ", " + std::to_string(opt.beta2));
  if (opt.amsgrad && !hasMax) args.Fail("amsgrad needs 'maxExpAvgSq' state spans");
  if (params.empty()) return info.Env().Undefined();
  int dev = params[0].mem.device;
  for (auto* l : {&params, &grads, &m, &v, &vmax}) SameDevice(args, *l, dev);
  std::vector<k::OptimTensor> ts;
  for (size_t i = 0; i < params.size(); i++)
    ts.push_back({params[i].Ptr(), grads[i].Ptr(), m[i].Ptr(), v[i].Ptr(),
                  opt.amsgrad ? vmax[i].Ptr() : nullptr, numels[i]});
  Dispatch(args, dev, [&] { k::HostAdam(dt, ts, opt); }, [&](const k::KernelTable& kt, k::Stream s) { kt.adam(dt, ts, opt, s); });
  return info.Env().Undefined();
}

Napi::Value SgdStep(const Napi::CallbackInfo& info) {
  Args args(info, "kernels.sgdStep");
  args.Count(6, 6);
  DType dt = ReadDType(args, 0, "dtype");
  RequireFloat(args, dt, "sgdStep");
  auto numels = args.Ints(4, "numels", 0, kMaxSize, 1 << 20);
  auto params = ReadSpanList(args, 1, "params", dt, numels);
  auto grads = ReadSpanList(args, 2, "grads", dt, numels);
  bool hasMom = !args.IsMissing(3);
  std::vector<Operand> mom;
  if (hasMom) mom = ReadSpanList(args, 3, "momentum", dt, numels);
  Napi::Object o = args.Object(5, "opts");
  k::SgdOpts opt{};
  opt.lr = OptNum(args, o, "lr");
  opt.momentum = OptNum(args, o, "momentum");
  opt.dampening = OptNum(args, o, "dampening");
  opt.weightDecay = OptNum(args, o, "weightDecay");
  opt.nesterov = OptBoolReq(args, o, "nesterov");
  opt.maximize = OptBoolReq(args, o, "maximize");
  opt.firstStep = OptBoolReq(args, o, "firstStep");
  if (opt.momentum != 0 && !hasMom) args.Fail("momentum != 0 needs 'momentum' buffer spans");
  if (opt.nesterov && (opt.momentum <= 0 || opt.dampening != 0))
    args.Fail("nesterov momentum requires a momentum > 0 and zero dampening");
  if (params.empty()) return info.Env().Undefined();
  int dev = params[0].mem.device;
  for (auto* l : {&params, &grads, &mom}) SameDevice(args, *l, dev);
  std::vector<k::OptimTensor> ts;
  for (size_t i = 0; i < params.size(); i++)
    ts.push_back({params[i].Ptr(), grads[i].Ptr(), opt.momentum != 0 ? mom[i].Ptr() : nullptr, nullptr, nullptr,
                  numels[i]});
  Dispatch(args, dev, [&] { k::HostSgd(dt, ts, opt); }, [&](const k::KernelTable& kt, k::Stream s) { kt.sgd(dt, ts, opt, s); });
  return info.Env().Undefined();
}

Napi::Value SumSquares(const Napi::CallbackInfo& info) {
  Args args(info, "kernels.sumSquares");
  args.Count(4, 4);
  DType dt = ReadDType(args, 0, "dtype");
  RequireFloat(args, dt, "sumSquares");
  auto numels = args.Ints(2, "numels", 0, kMaxSize, 1 << 20);
  auto spans = ReadSpanList(args, 1, "spans", dt, numels);
  Operand out = ReadSpan(args, 3, "out", DType::F64);
  CheckSpan(args, out, 1);
  int dev = SameDevice(args, spans, out.mem.device);
  std::vector<const void*> ptrs;
  for (auto& s : spans) ptrs.push_back(s.Ptr());
  double* op = reinterpret_cast<double*>(out.Ptr());
  Dispatch(args, dev, [&] { k::HostSumSquares(dt, ptrs, numels, op); },
           [&](const k::KernelTable& kt, k::Stream s) { kt.sumSquares(dt, ptrs, numels, op, s); });
  return info.Env().Undefined();
}

// ---- sort, scan, compaction (issue 14) -----------------------------------------------------------

Napi::Value Sort(const Napi::CallbackInfo& info) {
  Args args(info, "kernels.sort");
  args.Count(8, 8);
  DType dt = ReadDType(args, 0, "dtype");
  int64_t rows = args.Int(1, "rows", 0, kMaxSize);
  int64_t n = args.Int(2, "n", 0, kMaxSize);
  int64_t kk = args.Int(3, "k", 0, kMaxSize);
  if (kk > n) throw NativeError(code::kInvalidArg, "kernels.sort: k (" + std::to_string(kk) + ") must be <= n (" + std::to_string(n) + ")");
  Operand values = ReadSpan(args, 4, "values", dt), indices = ReadSpan(args, 5, "indices", DType::I64),
          in = ReadSpan(args, 6, "input", dt);
  bool descending = args.Bool(7, "descending");
  int64_t outN = CheckedMul(rows, kk, args.fn());
  CheckSpan(args, values, outN);
  CheckSpan(args, indices, outN);
  CheckSpan(args, in, CheckedMul(rows, n, args.fn()));
  int dev = SameDevice(args, {&values, &indices, &in});
  if (outN == 0) return info.Env().Undefined();
  int64_t* ip = reinterpret_cast<int64_t*>(indices.Ptr());
  Dispatch(args, dev, [&] { k::HostSort(dt, rows, n, kk, values.Ptr(), ip, in.Ptr(), descending); },
           [&](const k::KernelTable& kt, k::Stream s) {
             WithScratch(dev, s, kt.sortScratch(rows, n), [&](void* scratch) {
               kt.sort(dt, rows, n, kk, values.Ptr(), ip, in.Ptr(), descending, scratch, s);
             });
           });
  return info.Env().Undefined();
}

const char* const kScanNames[] = {"cumsum", "cumprod"};

Napi::Value Scan(const Napi::CallbackInfo& info) {
  Args args(info, "kernels.scan");
  args.Count(8, 8);
  auto op = static_cast<k::ScanOp>(ReadEnum(args, 0, "op", kScanNames));
  DType dt = ReadDType(args, 1, "dtype");
  int64_t outer = args.Int(2, "outer", 0, kMaxSize);
  int64_t size = args.Int(3, "size", 0, kMaxSize);
  int64_t inner = args.Int(4, "inner", 0, kMaxSize);
  Operand out = ReadSpan(args, 5, "out", dt), in = ReadSpan(args, 6, "input", dt);
  bool reverse = args.Bool(7, "reverse");
  int64_t n = CheckedMul(CheckedMul(outer, size, args.fn()), inner, args.fn());
  CheckSpan(args, out, n);
  CheckSpan(args, in, n);
  int dev = SameDevice(args, {&out, &in});
  if (n == 0) return info.Env().Undefined();
  Dispatch(args, dev, [&] { k::HostScan(op, dt, outer, size, inner, out.Ptr(), in.Ptr(), reverse); },
           [&](const k::KernelTable& kt, k::Stream s) { kt.scan(op, dt, outer, size, inner, out.Ptr(), in.Ptr(), reverse, s); });
  return info.Env().Undefined();
}

Napi::Value Compact(const Napi::CallbackInfo& info) {
  Args args(info, "kernels.compact");
  args.Count(7, 7);
  DType dt = ReadDType(args, 0, "dtype");
  int64_t n = args.Int(1, "n", 0, kMaxSize);
  Operand out = ReadSpan(args, 2, "out", dt);
  int64_t outLen = args.Int(3, "outLen", 0, kMaxSize);
  Operand src = ReadSpan(args, 4, "src", dt), mask = ReadSpan(args, 5, "mask", DType::Bool),
          pos = ReadSpan(args, 6, "pos", DType::I64);
  if (outLen > n) args.Fail("'outLen' (" + std::to_string(outLen) + ") must be <= n (" + std::to_string(n) + ")");
  CheckSpan(args, out, outLen);
  CheckSpan(args, src, n);
  CheckSpan(args, mask, n);
  CheckSpan(args, pos, n);
  int dev = SameDevice(args, {&out, &src, &mask, &pos});
  if (n == 0 || outLen == 0) return info.Env().Undefined();
  auto* mp = reinterpret_cast<const uint8_t*>(mask.Ptr());
  auto* pp = reinterpret_cast<const int64_t*>(pos.Ptr());
  Dispatch(args, dev, [&] { k::HostCompact(dt, n, out.Ptr(), outLen, src.Ptr(), mp, pp); },
           [&](const k::KernelTable& kt, k::Stream s) { kt.compact(dt, n, out.Ptr(), outLen, src.Ptr(), mp, pp, s); });
  return info.Env().Undefined();
}

Napi::Value Nonzero(const Napi::CallbackInfo& info) {
  Args args(info, "kernels.nonzero");
  args.Count(5, 5);
  auto shape = ReadShape(args, 0, "shape");
  Operand out = ReadSpan(args, 1, "out", DType::I64);
  int64_t outLen = args.Int(2, "outLen", 0, kMaxSize);
  Operand mask = ReadSpan(args, 3, "mask", DType::Bool), pos = ReadSpan(args, 4, "pos", DType::I64);
  k::NonzeroArgs a{};
  a.ndim = static_cast<int>(shape.size());
  a.numel = Numel(shape);
  for (int d = 0; d < a.ndim; d++) a.shape[d] = shape[d];
  if (outLen > a.numel) args.Fail("'outLen' (" + std::to_string(outLen) + ") must be <= the mask's element count (" + std::to_string(a.numel) + ")");
  CheckSpan(args, out, CheckedMul(outLen, a.ndim, args.fn()));
  CheckSpan(args, mask, a.numel);
  CheckSpan(args, pos, a.numel);
  int dev = SameDevice(args, {&out, &mask, &pos});
  if (a.numel == 0 || outLen == 0 || a.ndim == 0) return info.Env().Undefined();
  auto* op = reinterpret_cast<int64_t*>(out.Ptr());
  auto* mp = reinterpret_cast<const uint8_t*>(mask.Ptr());
  auto* pp = reinterpret_cast<const int64_t*>(pos.Ptr());
  Dispatch(args, dev, [&] { k::HostNonzero(a, op, outLen, mp, pp); },
           [&](const k::KernelTable& kt, k::Stream s) { kt.nonzero(a, op, outLen, mp, pp, s); });
  return info.Env().Undefined();
}

// ---- convolution and pooling (issue 15) --------------------------------------------------------

// A required non-negative integer field of a geometry object.
int64_t GeomInt(const Args& args, const Napi::Object& o, const char* what, const char* key, int64_t min) {
  return FieldInt(args, o.Get(key), key, what, min, kMaxSize);
}

k::ConvGeom ReadConvGeom(const Args& args, size_t i) {
  Napi::Object o = args.Object(i, "geometry");
  k::ConvGeom g{};
  const char* w = "geometry";
  g.n = GeomInt(args, o, w, "n", 0);
  g.c = GeomInt(args, o, w, "c", 1);
  g.h = GeomInt(args, o, w, "h", 0);
  g.w = GeomInt(args, o, w, "w", 0);
  g.outC = GeomInt(args, o, w, "outC", 1);
  g.kh = GeomInt(args, o, w, "kh", 1);
  g.kw = GeomInt(args, o, w, "kw", 1);
  g.oh = GeomInt(args, o, w, "oh", 0);
  g.ow = GeomInt(args, o, w, "ow", 0);
  g.strideH = GeomInt(args, o, w, "strideH", 1);
  g.strideW = GeomInt(args, o, w, "strideW", 1);
  g.padH = GeomInt(args, o, w, "padH", 0);
  g.padW = GeomInt(args, o, w, "padW", 0);
  g.dilH = GeomInt(args, o, w, "dilH", 1);
  g.dilW = GeomInt(args, o, w, "dilW", 1);
  g.groups = GeomInt(args, o, w, "groups", 1);
  if (g.c % g.groups != 0 || g.outC % g.groups != 0)
    args.Fail("'geometry.groups' (" + std::to_string(g.groups) + ") must divide both the input channels (" +
              std::to_string(g.c) + ") and the output channels (" + std::to_string(g.outC) + ")");
  // every product a kernel forms stays a JS-safe integer
  int64_t col = CheckedMul(CheckedMul(CheckedMul(g.c, g.kh, args.fn()), g.kw, args.fn()),
                           CheckedMul(g.oh, g.ow, args.fn()), args.fn());
  if (CheckedMul(col, std::max<int64_t>(g.n, 1), args.fn()) > kMaxSize) args.Fail("the convolution's im2col matrix has more than 2^53 elements");
  return g;
}

struct ConvSizes {
  int64_t in, out, weight;
};
ConvSizes Sizes(const Args& args, const k::ConvGeom& g) {
  const char* f = args.fn();
  ConvSizes z;
  z.in = CheckedMul(CheckedMul(g.n, g.c, f), CheckedMul(g.h, g.w, f), f);
  z.out = CheckedMul(CheckedMul(g.n, g.outC, f), CheckedMul(g.oh, g.ow, f), f);
  z.weight = CheckedMul(CheckedMul(g.outC, g.c / g.groups, f), CheckedMul(g.kh, g.kw, f), f);
  return z;
}

Napi::Value Conv2d(const Napi::CallbackInfo& info) {
  Args args(info, "kernels.conv2d");
  args.Count(7, 7);
  DType dt = ReadDType(args, 0, "dtype");
  RequireFloat(args, dt, "conv2d");
  k::ConvGeom g = ReadConvGeom(args, 1);
  Operand out = ReadSpan(args, 2, "out", dt), x = ReadSpan(args, 3, "input", dt), w = ReadSpan(args, 4, "weight", dt);
  bool hasB = !args.IsMissing(5);
  Operand b;
  if (hasB) b = ReadSpan(args, 5, "bias", dt);
  bool tf32 = args.Bool(6, "allowTf32");
  ConvSizes z = Sizes(args, g);
  CheckSpan(args, out, z.out);
  CheckSpan(args, x, z.in);
  CheckSpan(args, w, z.weight);
  if (hasB) CheckSpan(args, b, g.outC);
  int dev = SameDevice(args, {&out, &x, &w, hasB ? &b : nullptr});
  if (z.out == 0) return info.Env().Undefined();
  const void* bp = hasB ? b.Ptr() : nullptr;
  Dispatch(args, dev, [&] { k::HostConv2d(dt, g, out.Ptr(), x.Ptr(), w.Ptr(), bp); },
           [&](const k::KernelTable& kt, k::Stream s) { DeviceConv2d(kt, dev, s, dt, g, out.Ptr(), x.Ptr(), w.Ptr(), bp, tf32); });
  return info.Env().Undefined();
}

Napi::Value Conv2dBackwardInput(const Napi::CallbackInfo& info) {
  Args args(info, "kernels.conv2dBackwardInput");
  args.Count(6, 6);
  DType dt = ReadDType(args, 0, "dtype");
  RequireFloat(args, dt, "conv2dBackwardInput");
  k::ConvGeom g = ReadConvGeom(args, 1);
  Operand gx = ReadSpan(args, 2, "gradInput", dt), gout = ReadSpan(args, 3, "gradOut", dt),
          w = ReadSpan(args, 4, "weight", dt);
  bool tf32 = args.Bool(5, "allowTf32");
  ConvSizes z = Sizes(args, g);
  CheckSpan(args, gx, z.in);
  CheckSpan(args, gout, z.out);
  CheckSpan(args, w, z.weight);
  int dev = SameDevice(args, {&gx, &gout, &w});
  if (z.in == 0) return info.Env().Undefined();
  Dispatch(args, dev, [&] { k::HostConv2dBackwardInput(dt, g, gx.Ptr(), gout.Ptr(), w.Ptr()); },
           [&](const k::KernelTable& kt, k::Stream s) {
             DeviceConv2dBackwardInput(kt, dev, s, dt, g, gx.Ptr(), gout.Ptr(), w.Ptr(), tf32);
           });
  return info.Env().Undefined();
}

Napi::Value Conv2dBackwardWeight(const Napi::CallbackInfo& info) {
  Args args(info, "kernels.conv2dBackwardWeight");
  args.Count(7, 7);
  DType dt = ReadDType(args, 0, "dtype");
  RequireFloat(args, dt, "conv2dBackwardWeight");
  k::ConvGeom g = ReadConvGeom(args, 1);
  bool hasW = !args.IsMissing(2), hasB = !args.IsMissing(3);
  Operand gw, gb;
  if (hasW) gw = ReadSpan(args, 2, "gradWeight", dt);
  if (hasB) gb = ReadSpan(args, 3, "gradBias", dt);
  if (!hasW && !hasB) args.Fail("'gradWeight' and 'gradBias' are both null: nothing to compute");
  Operand gout = ReadSpan(args, 4, "gradOut", dt), x = ReadSpan(args, 5, "input", dt);
  bool tf32 = args.Bool(6, "allowTf32");
  ConvSizes z = Sizes(args, g);
  if (hasW) CheckSpan(args, gw, z.weight);
  if (hasB) CheckSpan(args, gb, g.outC);
  CheckSpan(args, gout, z.out);
  CheckSpan(args, x, z.in);
  int dev = SameDevice(args, {hasW ? &gw : nullptr, hasB ? &gb : nullptr, &gout, &x});
  void* gwp = hasW ? gw.Ptr() : nullptr;
  void* gbp = hasB ? gb.Ptr() : nullptr;
  Dispatch(args, dev, [&] { k::HostConv2dBackwardWeight(dt, g, gwp, gbp, gout.Ptr(), x.Ptr()); },
           [&](const k::KernelTable& kt, k::Stream s) {
             DeviceConv2dBackwardWeight(kt, dev, s, dt, g, gwp, gbp, gout.Ptr(), x.Ptr(), tf32);
           });
  return info.Env().Undefined();
}

k::PoolGeom ReadPoolGeom(const Args& args, size_t i, bool adaptive) {
  Napi::Object o = args.Object(i, "geometry");
  k::PoolGeom g{};
  const char* w = "geometry";
  g.planes = GeomInt(args, o, w, "planes", 0);
  g.h = GeomInt(args, o, w, "h", adaptive ? 1 : 0);
  g.w = GeomInt(args, o, w, "w", adaptive ? 1 : 0);
  g.oh = GeomInt(args, o, w, "oh", 0);
  g.ow = GeomInt(args, o, w, "ow", 0);
  if (adaptive) {
    g.kh = g.kw = g.strideH = g.strideW = g.dilH = g.dilW = 1;
    return g;
  }
  g.kh = GeomInt(args, o, w, "kh", 1);
  g.kw = GeomInt(args, o, w, "kw", 1);
  g.strideH = GeomInt(args, o, w, "strideH", 1);
  g.strideW = GeomInt(args, o, w, "strideW", 1);
  g.padH = GeomInt(args, o, w, "padH", 0);
  g.padW = GeomInt(args, o, w, "padW", 0);
  g.dilH = GeomInt(args, o, w, "dilH", 1);
  g.dilW = GeomInt(args, o, w, "dilW", 1);
  if (CheckedMul(g.kh, g.kw, args.fn()) > kMaxSize) args.Fail("the pooling window has more than 2^53 elements");
  return g;
}

// Elements of the pooled input and output planes.
std::pair<int64_t, int64_t> PoolSizes(const Args& args, const k::PoolGeom& g) {
  const char* f = args.fn();
  return {CheckedMul(g.planes, CheckedMul(g.h, g.w, f), f), CheckedMul(g.planes, CheckedMul(g.oh, g.ow, f), f)};
}

Napi::Value MaxPool2d(const Napi::CallbackInfo& info) {
  Args args(info, "kernels.maxPool2d");
  args.Count(5, 5);
  DType dt = ReadDType(args, 0, "dtype");
  RequireFloat(args, dt, "maxPool2d");
  k::PoolGeom g = ReadPoolGeom(args, 1, false);
  Operand out = ReadSpan(args, 2, "out", dt), idx = ReadSpan(args, 3, "indices", DType::I64),
          x = ReadSpan(args, 4, "input", dt);
  auto [inN, outN] = PoolSizes(args, g);
  CheckSpan(args, out, outN);
  CheckSpan(args, idx, outN);
  CheckSpan(args, x, inN);
  int dev = SameDevice(args, {&out, &idx, &x});
  if (outN == 0) return info.Env().Undefined();
  int64_t* ip = reinterpret_cast<int64_t*>(idx.Ptr());
  Dispatch(args, dev, [&] { k::HostMaxPool2d(dt, g, out.Ptr(), ip, x.Ptr()); },
           [&](const k::KernelTable& kt, k::Stream s) { kt.maxPool2d(dt, g, out.Ptr(), ip, x.Ptr(), s); });
  return info.Env().Undefined();
}

Napi::Value MaxPool2dBackward(const Napi::CallbackInfo& info) {
  Args args(info, "kernels.maxPool2dBackward");
  args.Count(5, 5);
  DType dt = ReadDType(args, 0, "dtype");
  RequireFloat(args, dt, "maxPool2dBackward");
  k::PoolGeom g = ReadPoolGeom(args, 1, false);
  Operand gx = ReadSpan(args, 2, "gradInput", dt), gout = ReadSpan(args, 3, "gradOut", dt),
          idx = ReadSpan(args, 4, "indices", DType::I64);
  auto [inN, outN] = PoolSizes(args, g);
  CheckSpan(args, gx, inN);
  CheckSpan(args, gout, outN);
  CheckSpan(args, idx, outN);
  int dev = SameDevice(args, {&gx, &gout, &idx});
  if (outN == 0 || inN == 0) return info.Env().Undefined();
  const int64_t* ip = reinterpret_cast<const int64_t*>(idx.Ptr());
  Dispatch(args, dev, [&] { k::HostMaxPool2dBackward(dt, g, gx.Ptr(), gout.Ptr(), ip); },
           [&](const k::KernelTable& kt, k::Stream s) { kt.maxPool2dBackward(dt, g, gx.Ptr(), gout.Ptr(), ip, s); });
  return info.Env().Undefined();
}

Napi::Value AvgPool2d(const Napi::CallbackInfo& info) {
  Args args(info, "kernels.avgPool2d");
  args.Count(6, 6);
  DType dt = ReadDType(args, 0, "dtype");
  RequireFloat(args, dt, "avgPool2d");
  k::PoolGeom g = ReadPoolGeom(args, 1, false);
  Operand out = ReadSpan(args, 2, "out", dt), x = ReadSpan(args, 3, "input", dt);
  bool cip = args.Bool(4, "countIncludePad");
  int64_t divisor = args.Int(5, "divisor", 0, kMaxSize);
  auto [inN, outN] = PoolSizes(args, g);
  CheckSpan(args, out, outN);
  CheckSpan(args, x, inN);
  int dev = SameDevice(args, {&out, &x});
  if (outN == 0) return info.Env().Undefined();
  Dispatch(args, dev, [&] { k::HostAvgPool2d(dt, g, out.Ptr(), x.Ptr(), cip, divisor); },
           [&](const k::KernelTable& kt, k::Stream s) { kt.avgPool2d(dt, g, out.Ptr(), x.Ptr(), cip, divisor, s); });
  return info.Env().Undefined();
}

Napi::Value AvgPool2dBackward(const Napi::CallbackInfo& info) {
  Args args(info, "kernels.avgPool2dBackward");
  args.Count(6, 6);
  DType dt = ReadDType(args, 0, "dtype");
  RequireFloat(args, dt, "avgPool2dBackward");
  k::PoolGeom g = ReadPoolGeom(args, 1, false);
  Operand gx = ReadSpan(args, 2, "gradInput", dt), gout = ReadSpan(args, 3, "gradOut", dt);
  bool cip = args.Bool(4, "countIncludePad");
  int64_t divisor = args.Int(5, "divisor", 0, kMaxSize);
  auto [inN, outN] = PoolSizes(args, g);
  CheckSpan(args, gx, inN);
  CheckSpan(args, gout, outN);
  int dev = SameDevice(args, {&gx, &gout});
  if (inN == 0) return info.Env().Undefined();
  Dispatch(args, dev, [&] { k::HostAvgPool2dBackward(dt, g, gx.Ptr(), gout.Ptr(), cip, divisor); },
           [&](const k::KernelTable& kt, k::Stream s) { kt.avgPool2dBackward(dt, g, gx.Ptr(), gout.Ptr(), cip, divisor, s); });
  return info.Env().Undefined();
}

Napi::Value AdaptiveAvgPool2d(const Napi::CallbackInfo& info) {
  Args args(info, "kernels.adaptiveAvgPool2d");
  args.Count(4, 4);
  DType dt = ReadDType(args, 0, "dtype");
  RequireFloat(args, dt, "adaptiveAvgPool2d");
  k::PoolGeom g = ReadPoolGeom(args, 1, true);
  Operand out = ReadSpan(args, 2, "out", dt), x = ReadSpan(args, 3, "input", dt);
  auto [inN, outN] = PoolSizes(args, g);
  CheckSpan(args, out, outN);
  CheckSpan(args, x, inN);
  int dev = SameDevice(args, {&out, &x});
  if (outN == 0) return info.Env().Undefined();
  Dispatch(args, dev, [&] { k::HostAdaptiveAvgPool2d(dt, g, out.Ptr(), x.Ptr()); },
           [&](const k::KernelTable& kt, k::Stream s) { kt.adaptiveAvgPool2d(dt, g, out.Ptr(), x.Ptr(), s); });
  return info.Env().Undefined();
}

Napi::Value AdaptiveAvgPool2dBackward(const Napi::CallbackInfo& info) {
  Args args(info, "kernels.adaptiveAvgPool2dBackward");
  args.Count(4, 4);
  DType dt = ReadDType(args, 0, "dtype");
  RequireFloat(args, dt, "adaptiveAvgPool2dBackward");
  k::PoolGeom g = ReadPoolGeom(args, 1, true);
  Operand gx = ReadSpan(args, 2, "gradInput", dt), gout = ReadSpan(args, 3, "gradOut", dt);
  auto [inN, outN] = PoolSizes(args, g);
  CheckSpan(args, gx, inN);
  CheckSpan(args, gout, outN);
  int dev = SameDevice(args, {&gx, &gout});
  if (inN == 0 || outN == 0) return info.Env().Undefined();
  Dispatch(args, dev, [&] { k::HostAdaptiveAvgPool2dBackward(dt, g, gx.Ptr(), gout.Ptr()); },
           [&](const k::KernelTable& kt, k::Stream s) { kt.adaptiveAvgPool2dBackward(dt, g, gx.Ptr(), gout.Ptr(), s); });
  return info.Env().Undefined();
}

// ---- tril / triu (issue 14) ---------------------------------------------------------------------

Napi::Value Triangle(const Napi::CallbackInfo& info) {
  Args args(info, "kernels.triangle");
  args.Count(8, 8);
  DType dt = ReadDType(args, 0, "dtype");
  int64_t batch = args.Int(1, "batch", 0, kMaxSize);
  int64_t rows = args.Int(2, "rows", 0, kMaxSize);
  int64_t cols = args.Int(3, "cols", 0, kMaxSize);
  int64_t diagonal = args.Int(4, "diagonal", -kMaxSize, kMaxSize);
  bool upper = args.Bool(5, "upper");
  Operand out = ReadSpan(args, 6, "out", dt), in = ReadSpan(args, 7, "input", dt);
  int64_t n = CheckedMul(CheckedMul(batch, rows, args.fn()), cols, args.fn());
  CheckSpan(args, out, n);
  CheckSpan(args, in, n);
  int dev = SameDevice(args, {&out, &in});
  if (n == 0) return info.Env().Undefined();
  Dispatch(args, dev, [&] { k::HostTriangle(dt, batch, rows, cols, diagonal, upper, out.Ptr(), in.Ptr()); },
           [&](const k::KernelTable& kt, k::Stream s) { kt.triangle(dt, batch, rows, cols, diagonal, upper, out.Ptr(), in.Ptr(), s); });
  return info.Env().Undefined();
}

}  // namespace

void RegisterKernels(Napi::Env env, Napi::Object exports) {
  AddonData& data = Data(env);
  Napi::Array keys = Napi::Array::New(env, 3);
  keys.Set(0u, "mem");
  keys.Set(1u, "offset");
  keys.Set(2u, "strides");
  data.viewKeys = Napi::Persistent(keys.As<Napi::Object>());
  Napi::Object k = Napi::Object::New(env);
  auto add = [&](const char* name, Napi::Function::Callback fn) { k.Set(name, Napi::Function::New(env, fn, name)); };
  add("unary", NN_FN(Unary));
  add("binary", NN_FN(Binary));
  add("where", NN_FN(Where));
  add("copy", NN_FN(Copy));
  add("reduce", NN_FN(Reduce));
  add("softmax", NN_FN(Softmax));
  add("softmaxBackward", NN_FN(SoftmaxBackward));
  add("layerNorm", NN_FN(LayerNorm));
  add("layerNormBackward", NN_FN(LayerNormBackward));
  add("batchNormStats", NN_FN(BatchNormStats));
  add("batchNormElemt", NN_FN(BatchNormElemt));
  add("batchNormBackwardReduce", NN_FN(BatchNormBackwardReduce));
  add("batchNormBackwardElemt", NN_FN(BatchNormBackwardElemt));
  add("matmul", NN_FN(Matmul));
  add("indexSelect", NN_FN(IndexSelect));
  add("indexAdd", NN_FN(IndexAdd));
  add("gather", NN_FN(Gather));
  add("scatterAdd", NN_FN(ScatterAdd));
  add("random", NN_FN(Random));
  add("arange", NN_FN(Arange));
  add("adamStep", NN_FN(AdamStep));
  add("sgdStep", NN_FN(SgdStep));
  add("sumSquares", NN_FN(SumSquares));
  add("sort", NN_FN(Sort));
  add("scan", NN_FN(Scan));
  add("compact", NN_FN(Compact));
  add("nonzero", NN_FN(Nonzero));
  add("conv2d", NN_FN(Conv2d));
  add("conv2dBackwardInput", NN_FN(Conv2dBackwardInput));
  add("conv2dBackwardWeight", NN_FN(Conv2dBackwardWeight));
  add("maxPool2d", NN_FN(MaxPool2d));
  add("maxPool2dBackward", NN_FN(MaxPool2dBackward));
  add("avgPool2d", NN_FN(AvgPool2d));
  add("avgPool2dBackward", NN_FN(AvgPool2dBackward));
  add("adaptiveAvgPool2d", NN_FN(AdaptiveAvgPool2d));
  add("adaptiveAvgPool2dBackward", NN_FN(AdaptiveAvgPool2dBackward));
  add("triangle", NN_FN(Triangle));
  exports.Set("kernels", k);
}

}  // namespace nn
