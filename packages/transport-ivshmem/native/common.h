// Shared helpers of the sivshm native addon: argument checks and errno-carrying exceptions.
//
// Every exported function validates its arguments itself (the TypeScript layer does too, but
// a native crash must never be one wrong call away) and reports failures as JS errors:
//   syscall failures: Error with { errno: <positive int>, code: "<ENAME>", syscall: "<name>" }
//   bad arguments:    TypeError / RangeError with { code: "ERR_BAD_ARGUMENT" }
#ifndef SIVSHM_NATIVE_COMMON_H
#define SIVSHM_NATIVE_COMMON_H

#include <node.h>
#include <stdint.h>

#include <string>

namespace sivshm {

// A JS string from a C string (ToLocalChecked: V8 fails it only past its string size limit).
v8::Local<v8::String> Str(v8::Isolate* iso, const char* s);

// Throws Error("<syscall> failed: <ENAME> (<description>)") with errno/code/syscall set.
void ThrowErrno(v8::Isolate* iso, const char* syscall, int err);

// Throws TypeError (kind 0) or RangeError (kind 1) with code ERR_BAD_ARGUMENT.
void ThrowBadArg(v8::Isolate* iso, const std::string& msg, int kind = 0);

// Reads a[i] as an integer in [min, max]; on failure throws and returns false.
bool ArgInt(const v8::FunctionCallbackInfo<v8::Value>& a, int i, const char* name, int64_t min,
            int64_t max, int64_t* out);

// Reads a[i] as a file descriptor (integer 0..INT32_MAX).
bool ArgFd(const v8::FunctionCallbackInfo<v8::Value>& a, int i, int* out);

// Reads a[i] as a non-empty string without NUL bytes (a filesystem path).
bool ArgPath(const v8::FunctionCallbackInfo<v8::Value>& a, int i, const char* name,
             std::string* out);

// Reads a[i] as bytes (ArrayBufferView, ArrayBuffer or SharedArrayBuffer): pointer + length.
bool ArgBytes(const v8::FunctionCallbackInfo<v8::Value>& a, int i, const char* name,
              uint8_t** data, size_t* len);

// Reads opts[key] as boolean; missing/undefined gives `dflt`.
bool OptBool(v8::Isolate* iso, v8::Local<v8::Value> opts, const char* key, bool dflt, bool* out);

// Defines `name` on `target` as a function calling `fn` with `data` as its Data().
void SetMethod(v8::Local<v8::Context> ctx, v8::Local<v8::Object> target, const char* name,
               v8::FunctionCallback fn, v8::Local<v8::Value> data);

// Per-instance registration functions (one per concept file).
void InitMapping(v8::Local<v8::Context> ctx, v8::Local<v8::Object> exports);
void InitEventfd(v8::Local<v8::Context> ctx, v8::Local<v8::Object> exports);
void InitFd(v8::Local<v8::Context> ctx, v8::Local<v8::Object> exports);
void InitPoll(v8::Local<v8::Context> ctx, v8::Local<v8::Object> exports);
void InitUnixSocket(v8::Local<v8::Context> ctx, v8::Local<v8::Object> exports);
void InitRecordCrypto(v8::Local<v8::Context> ctx, v8::Local<v8::Object> exports);

}  // namespace sivshm

#endif
