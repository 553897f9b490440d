// Argument readers for exports: each checks type and range and throws ERR_INVALID_ARG with the
// function's name, the argument's name, what it got and what it expected. No input from JS can
// crash the process: read everything through these before touching native state.
#pragma once
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "errors.h"

namespace nn {

std::string Describe(const Napi::Value& v);  // "a string", "NaN", "-1.5", "an object", ...

class Args {
 public:
  Args(const Napi::CallbackInfo& info, const char* fn) : info_(info), fn_(fn) {}
  const char* fn() const { return fn_; }
  Napi::Env env() const { return info_.Env(); }
  size_t size() const { return info_.Length(); }
  Napi::Value operator[](size_t i) const { return info_[i]; }

  void Count(size_t min, size_t max) const;
  [[noreturn]] void Fail(size_t i, const char* name, const std::string& expected) const;
  [[noreturn]] void Fail(const std::string& message) const;

  // An integer in [min, max] (a JS number with no fraction, or a BigInt that fits).
  int64_t Int(size_t i, const char* name, int64_t min = INT64_MIN / 2, int64_t max = INT64_MAX / 2) const;
  int64_t IntOr(size_t i, const char* name, int64_t dflt, int64_t min = INT64_MIN / 2, int64_t max = INT64_MAX / 2) const;
  double Number(size_t i, const char* name) const;             // finite or not: NaN/Inf are values here
  double Finite(size_t i, const char* name) const;             // finite only
  bool Bool(size_t i, const char* name) const;
  bool BoolOr(size_t i, const char* name, bool dflt) const;
  std::string String(size_t i, const char* name) const;
  Napi::Object Object(size_t i, const char* name) const;
  Napi::Function Function(size_t i, const char* name) const;
  std::vector<int64_t> Ints(size_t i, const char* name, int64_t min, int64_t max, size_t maxLen = 64) const;
  bool IsMissing(size_t i) const { return i >= info_.Length() || info_[i].IsUndefined() || info_[i].IsNull(); }

  // Options object fields (obj may be undefined: the default is used).
  int64_t OptInt(const Napi::Object& o, const char* key, int64_t dflt, int64_t min, int64_t max) const;
  bool OptBool(const Napi::Object& o, const char* key, bool dflt) const;
  std::string OptString(const Napi::Object& o, const char* key, const std::string& dflt) const;

 private:
  const Napi::CallbackInfo& info_;
  const char* fn_;
};

// Checked arithmetic for sizes coming from JS: throws ERR_INVALID_ARG on overflow.
int64_t CheckedMul(int64_t a, int64_t b, const char* what);
int64_t CheckedAdd(int64_t a, int64_t b, const char* what);

}  // namespace nn
