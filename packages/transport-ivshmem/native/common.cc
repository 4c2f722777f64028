#include "common.h"

#include <errno.h>
#include <string.h>

#include <cmath>

namespace sivshm {

using v8::Context;
using v8::Exception;
using v8::FunctionCallbackInfo;
using v8::Integer;
using v8::Isolate;
using v8::Local;
using v8::Object;
using v8::String;
using v8::Value;

Local<String> Str(Isolate* iso, const char* s) {
  return String::NewFromUtf8(iso, s).ToLocalChecked();
}

void ThrowErrno(Isolate* iso, const char* syscall, int err) {
  // strerrorname_np (glibc >= 2.32) gives the symbolic name the message and `code` carry.
  const char* name = strerrorname_np(err);
  const char* desc = strerrordesc_np(err);
  std::string ename = name != nullptr ? name : ("E#" + std::to_string(err));
  std::string msg = std::string(syscall) + " failed: " + ename + " (" +
                    (desc != nullptr ? desc : "unknown error") + ")";
  Local<Context> ctx = iso->GetCurrentContext();
  Local<Object> e = Exception::Error(Str(iso, msg.c_str())).As<Object>();
  e->Set(ctx, Str(iso, "errno"), Integer::New(iso, err)).Check();
  e->Set(ctx, Str(iso, "code"), Str(iso, ename.c_str())).Check();
  e->Set(ctx, Str(iso, "syscall"), Str(iso, syscall)).Check();
  iso->ThrowException(e);
}

void ThrowBadArg(Isolate* iso, const std::string& msg, int kind) {
  Local<Context> ctx = iso->GetCurrentContext();
  Local<String> m = Str(iso, msg.c_str());
  Local<Object> e = (kind == 0 ? Exception::TypeError(m) : Exception::RangeError(m)).As<Object>();
  e->Set(ctx, Str(iso, "code"), Str(iso, "ERR_BAD_ARGUMENT")).Check();
  iso->ThrowException(e);
}

bool ArgInt(const FunctionCallbackInfo<Value>& a, int i, const char* name, int64_t min,
            int64_t max, int64_t* out) {
  Isolate* iso = a.GetIsolate();
  Local<Value> v = a[i];
  double d;
  if (v->IsNumber()) {
    d = v.As<v8::Number>()->Value();
  } else if (v->IsBigInt()) {
    bool lossless = true;
    int64_t x = v.As<v8::BigInt>()->Int64Value(&lossless);
    if (!lossless || x < min || x > max) {
      ThrowBadArg(iso, std::string(name) + " is out of range " + std::to_string(min) + ".." +
                           std::to_string(max), 1);
      return false;
    }
    *out = x;
    return true;
  } else {
    ThrowBadArg(iso, std::string(name) + " must be an integer");
    return false;
  }
  if (!std::isfinite(d) || std::trunc(d) != d) {
    ThrowBadArg(iso, std::string(name) + " must be an integer");
    return false;
  }
  if (d < static_cast<double>(min) || d > static_cast<double>(max)) {
    ThrowBadArg(iso, std::string(name) + " is out of range " + std::to_string(min) + ".." +
                         std::to_string(max), 1);
    return false;
  }
  *out = static_cast<int64_t>(d);
  return true;
}

bool ArgFd(const FunctionCallbackInfo<Value>& a, int i, int* out) {
  int64_t v;
  if (!ArgInt(a, i, "fd", 0, INT32_MAX, &v)) return false;
  *out = static_cast<int>(v);
  return true;
}

bool ArgPath(const FunctionCallbackInfo<Value>& a, int i, const char* name, std::string* out) {
  Isolate* iso = a.GetIsolate();
  if (!a[i]->IsString()) {
    ThrowBadArg(iso, std::string(name) + " must be a string");
    return false;
  }
  String::Utf8Value s(iso, a[i]);
  std::string str(*s, s.length());
  if (str.empty() || str.find('\0') != std::string::npos) {
    ThrowBadArg(iso, std::string(name) + " must be non-empty and contain no NUL byte");
    return false;
  }
  *out = std::move(str);
  return true;
}

bool ArgBytes(const FunctionCallbackInfo<Value>& a, int i, const char* name, uint8_t** data,
              size_t* len) {
  Local<Value> v = a[i];
  if (v->IsArrayBufferView()) {
    Local<v8::ArrayBufferView> view = v.As<v8::ArrayBufferView>();
    void* base = view->Buffer()->Data();
    *data = base != nullptr ? static_cast<uint8_t*>(base) + view->ByteOffset() : nullptr;
    *len = view->ByteLength();
    if (*len == 0) *data = nullptr;
    return true;
  }
  if (v->IsArrayBuffer()) {
    Local<v8::ArrayBuffer> ab = v.As<v8::ArrayBuffer>();
    *data = static_cast<uint8_t*>(ab->Data());
    *len = ab->ByteLength();
    return true;
  }
  if (v->IsSharedArrayBuffer()) {
    Local<v8::SharedArrayBuffer> ab = v.As<v8::SharedArrayBuffer>();
    *data = static_cast<uint8_t*>(ab->Data());
    *len = ab->ByteLength();
    return true;
  }
  ThrowBadArg(a.GetIsolate(), std::string(name) + " must be a Uint8Array, DataView or ArrayBuffer");
  return false;
}

bool OptBool(Isolate* iso, Local<Value> opts, const char* key, bool dflt, bool* out) {
  *out = dflt;
  if (opts->IsUndefined() || opts->IsNull()) return true;
  if (!opts->IsObject()) {
    ThrowBadArg(iso, "options must be an object");
    return false;
  }
  Local<Context> ctx = iso->GetCurrentContext();
  Local<Value> v;
  if (!opts.As<Object>()->Get(ctx, Str(iso, key)).ToLocal(&v)) return false;
  if (v->IsUndefined()) return true;
  if (!v->IsBoolean()) {
    ThrowBadArg(iso, std::string("options.") + key + " must be a boolean");
    return false;
  }
  *out = v->IsTrue();
  return true;
}

void SetMethod(Local<Context> ctx, Local<Object> target, const char* name,
               v8::FunctionCallback fn, Local<Value> data) {
  Isolate* iso = ctx->GetIsolate();
  Local<v8::FunctionTemplate> t = v8::FunctionTemplate::New(iso, fn, data);
  Local<v8::Function> f = t->GetFunction(ctx).ToLocalChecked();
  Local<String> n = Str(iso, name);
  f->SetName(n);
  target->Set(ctx, n, f).Check();
}

}  // namespace sivshm
