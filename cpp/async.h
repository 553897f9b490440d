// Promise-returning native work that never blocks the JS thread: a PromiseWorker runs `Run()` on
// the libuv thread pool and resolves (OnOK) or rejects (OnError) its Deferred on the JS thread.
// Errors thrown in Run() as nn::NativeError keep their code, native code and name.
#pragma once
#include <napi.h>

#include <exception>
#include <functional>
#include <memory>
#include <optional>

#include "errors.h"

namespace nn {

class PromiseWorker : public Napi::AsyncWorker {
 public:
  explicit PromiseWorker(Napi::Env env, const char* name = "node-nccl")
      : Napi::AsyncWorker(env, name), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  // Runs on a worker thread: no N-API calls here.
  virtual void Run() = 0;
  // Runs on the JS thread after Run() succeeded: the value the Promise resolves to.
  virtual Napi::Value Result(Napi::Env env) { return env.Undefined(); }

 private:
  void Execute() final {
    try {
      Run();
    } catch (const NativeError& e) {
      error_.emplace(e);
      SetError(e.what());
    } catch (const std::bad_alloc&) {
      error_.emplace(code::kHostOom, "host memory allocation failed");
      SetError("host memory allocation failed");
    } catch (const std::exception& e) {
      error_.emplace(code::kInternal, std::string("internal error: ") + e.what());
      SetError(e.what());
    }
  }
  void OnOK() final {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    try {
      deferred_.Resolve(Guard(env, [&] { return Result(env); }));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }
  void OnError(const Napi::Error&) final {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    NativeError e = error_ ? *error_ : NativeError(code::kInternal, "internal error");
    deferred_.Reject(ToJsError(env, e).Value());
  }

  Napi::Promise::Deferred deferred_;
  std::optional<NativeError> error_;
};

// A PromiseWorker from a lambda: run() on the pool, result(env) on the JS thread.
class LambdaWorker : public PromiseWorker {
 public:
  LambdaWorker(Napi::Env env, std::function<void()> run,
               std::function<Napi::Value(Napi::Env)> result = nullptr, const char* name = "node-nccl")
      : PromiseWorker(env, name), run_(std::move(run)), result_(std::move(result)) {}

 protected:
  void Run() override { run_(); }
  Napi::Value Result(Napi::Env env) override { return result_ ? result_(env) : env.Undefined(); }

 private:
  std::function<void()> run_;
  std::function<Napi::Value(Napi::Env)> result_;
};

// Queues fn on the thread pool and returns the Promise (the worker deletes itself when done).
inline Napi::Promise RunAsync(Napi::Env env, std::function<void()> run,
                              std::function<Napi::Value(Napi::Env)> result = nullptr) {
  auto* w = new LambdaWorker(env, std::move(run), std::move(result));
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

}  // namespace nn
