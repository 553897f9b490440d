#include "common.h"

#include <limits>
#include <sstream>

namespace nn {

std::string Describe(const Napi::Value& v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value() ? "true" : "false";
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (std::isnan(d)) return "NaN";
    std::ostringstream os;
    os << d;
    return os.str();
  }
  if (v.IsBigInt()) return "a bigint";
  if (v.IsString()) return "a string";
  if (v.IsFunction()) return "a function";
  if (v.IsArray()) return "an array";
  if (v.IsArrayBuffer()) return "an ArrayBuffer";
  if (v.IsTypedArray()) return "a TypedArray";
  if (v.IsObject()) return "an object";
  return "an unknown value";
}

void Args::Count(size_t min, size_t max) const {
  size_t n = info_.Length();
  if (n < min || n > max) {
    std::string want = min == max ? std::to_string(min) : std::to_string(min) + " to " + std::to_string(max);
    Fail(std::string("expected ") + want + " argument(s), got " + std::to_string(n));
  }
}

void Args::Fail(size_t i, const char* name, const std::string& expected) const {
  std::string got = i < info_.Length() ? Describe(info_[i]) : "nothing";
  throw NativeError(code::kInvalidArg, std::string(fn_) + ": argument '" + name + "' must be " + expected + ", got " + got);
}

void Args::Fail(const std::string& message) const {
  throw NativeError(code::kInvalidArg, std::string(fn_) + ": " + message);
}

int64_t Args::Int(size_t i, const char* name, int64_t min, int64_t max) const {
  auto range = [&] { return "an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]"; };
  if (i >= info_.Length()) Fail(i, name, range());
  Napi::Value v = info_[i];
  int64_t r = 0;
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(d) || std::floor(d) != d || std::fabs(d) > 9007199254740992.0) Fail(i, name, range());
    r = static_cast<int64_t>(d);
  } else if (v.IsBigInt()) {
    bool lossless = false;
    r = v.As<Napi::BigInt>().Int64Value(&lossless);
    if (!lossless) Fail(i, name, range());
  } else {
    Fail(i, name, range());
  }
  if (r < min || r > max) Fail(i, name, range());
  return r;
}

int64_t Args::IntOr(size_t i, const char* name, int64_t dflt, int64_t min, int64_t max) const {
  return IsMissing(i) ? dflt : Int(i, name, min, max);
}

double Args::Number(size_t i, const char* name) const {
  if (i >= info_.Length() || !info_[i].IsNumber()) Fail(i, name, "a number");
  return info_[i].As<Napi::Number>().DoubleValue();
}

double Args::Finite(size_t i, const char* name) const {
  if (i >= info_.Length() || !info_[i].IsNumber() || !std::isfinite(info_[i].As<Napi::Number>().DoubleValue()))
    Fail(i, name, "a finite number");
  return info_[i].As<Napi::Number>().DoubleValue();
}

bool Args::Bool(size_t i, const char* name) const {
  if (i >= info_.Length() || !info_[i].IsBoolean()) Fail(i, name, "a boolean");
  return info_[i].As<Napi::Boolean>().Value();
}

bool Args::BoolOr(size_t i, const char* name, bool dflt) const { return IsMissing(i) ? dflt : Bool(i, name); }

std::string Args::String(size_t i, const char* name) const {
  if (i >= info_.Length() || !info_[i].IsString()) Fail(i, name, "a string");
  return info_[i].As<Napi::String>().Utf8Value();
}

Napi::Object Args::Object(size_t i, const char* name) const {
  if (i >= info_.Length() || !info_[i].IsObject()) Fail(i, name, "an object");
  return info_[i].As<Napi::Object>();
}

Napi::Function Args::Function(size_t i, const char* name) const {
  if (i >= info_.Length() || !info_[i].IsFunction()) Fail(i, name, "a function");
  return info_[i].As<Napi::Function>();
}

std::vector<int64_t> Args::Ints(size_t i, const char* name, int64_t min, int64_t max, size_t maxLen) const {
  auto want = [&] {  // built only on failure
    return "an array of at most " + std::to_string(maxLen) + " integers in [" + std::to_string(min) + ", " +
           std::to_string(max) + "]";
  };
  if (i >= info_.Length()) Fail(i, name, want());
  Napi::Value v = info_[i];
  std::vector<int64_t> out;
  auto check = [&](double d) {
    if (!std::isfinite(d) || std::floor(d) != d || d < static_cast<double>(min) || d > static_cast<double>(max))
      Fail(i, name, want());
    out.push_back(static_cast<int64_t>(d));
  };
  if (v.IsArray()) {
    Napi::Array a = v.As<Napi::Array>();
    if (a.Length() > maxLen) Fail(i, name, want());
    for (uint32_t k = 0; k < a.Length(); k++) {
      Napi::Value e = a.Get(k);
      if (!e.IsNumber()) Fail(i, name, want());
      check(e.As<Napi::Number>().DoubleValue());
    }
  } else if (v.IsTypedArray()) {
    Napi::TypedArray t = v.As<Napi::TypedArray>();
    if (t.ElementLength() > maxLen) Fail(i, name, want());
    switch (t.TypedArrayType()) {
      case napi_int32_array: {
        auto a = v.As<Napi::Int32Array>();
        for (size_t k = 0; k < a.ElementLength(); k++) check(a[k]);
        break;
      }
      case napi_float64_array: {
        auto a = v.As<Napi::Float64Array>();
        for (size_t k = 0; k < a.ElementLength(); k++) check(a[k]);
        break;
      }
      default:
        Fail(i, name, want());
    }
  } else {
    Fail(i, name, want());
  }
  return out;
}

int64_t Args::OptInt(const Napi::Object& o, const char* key, int64_t dflt, int64_t min, int64_t max) const {
  if (o.IsEmpty() || !o.Has(key)) return dflt;
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return dflt;
  double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
  if (!std::isfinite(d) || std::floor(d) != d || d < static_cast<double>(min) || d > static_cast<double>(max))
    Fail(std::string("option '") + key + "' must be an integer in [" + std::to_string(min) + ", " + std::to_string(max) +
         "], got " + Describe(v));
  return static_cast<int64_t>(d);
}

bool Args::OptBool(const Napi::Object& o, const char* key, bool dflt) const {
  if (o.IsEmpty() || !o.Has(key)) return dflt;
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return dflt;
  if (!v.IsBoolean()) Fail(std::string("option '") + key + "' must be a boolean, got " + Describe(v));
  return v.As<Napi::Boolean>().Value();
}

std::string Args::OptString(const Napi::Object& o, const char* key, const std::string& dflt) const {
  if (o.IsEmpty() || !o.Has(key)) return dflt;
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return dflt;
  if (!v.IsString()) Fail(std::string("option '") + key + "' must be a string, got " + Describe(v));
  return v.As<Napi::String>().Utf8Value();
}

int64_t CheckedMul(int64_t a, int64_t b, const char* what) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) Throw(code::kInvalidArg, std::string(what) + ": size overflows 64 bits");
  return r;
}

int64_t CheckedAdd(int64_t a, int64_t b, const char* what) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) Throw(code::kInvalidArg, std::string(what) + ": size overflows 64 bits");
  return r;
}

}  // namespace nn
