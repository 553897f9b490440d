// Members of type-tagged ObjectWrap classes, installed on the class prototype by hand instead of
// through ObjectWrap::InstanceMethod/InstanceAccessor, whose wrappers unwrap `this` unchecked:
// `Stream.prototype.query.call(someEvent)` would reinterpret an Event as a Stream. Here `this` is
// checked with T::FromValue (the type tag) first; a foreign receiver is ERR_INVALID_ARG.
//
//   class Stream : public Napi::ObjectWrap<Stream> {
//    public:
//     static constexpr const char* kClassName = "Stream";
//     static Stream* FromValue(const Napi::Value&);   // nullptr unless type-tagged as a Stream
//     Napi::Value Query(const Napi::CallbackInfo&);
//   };
//   Napi::Function ctor = Stream::DefineClass(env, "Stream", {});
//   Members<Stream>::Install(env, ctor, {Members<Stream>::Method<&Stream::Query>(env, "query"), ...});
#pragma once
#include <napi.h>

#include <string>
#include <vector>

#include "errors.h"

namespace nn {

template <typename T>
class Members {
 public:
  using Fn = Napi::Value (T::*)(const Napi::CallbackInfo&);

  template <Fn M>
  static Napi::Value Invoke(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&]() -> Napi::Value {
      T* self = T::FromValue(info.This());
      if (!self)
        throw NativeError(code::kInvalidArg, std::string(T::kClassName) + "." + static_cast<const char*>(info.Data()) +
                                                 ": `this` must be an instance of " + T::kClassName + " (called on another object)");
      return (self->*M)(info);
    });
  }

  template <Fn M>
  static Napi::PropertyDescriptor Method(Napi::Env env, const char* name) {
    Napi::Function f = Napi::Function::New(env, Invoke<M>, name, const_cast<char*>(name));
    return Napi::PropertyDescriptor::Value(name, f, static_cast<napi_property_attributes>(napi_writable | napi_configurable));
  }

  template <Fn M>
  static Napi::PropertyDescriptor Getter(const char* name) {
    return Napi::PropertyDescriptor::Accessor<Invoke<M>>(name, napi_configurable, const_cast<char*>(name));
  }

  static void Install(Napi::Function ctor, const std::vector<Napi::PropertyDescriptor>& props) {
    ctor.Get("prototype").As<Napi::Object>().DefineProperties(props);
  }
};

}  // namespace nn
