// Plain file-descriptor calls: open, close, ioctl, region files (O_CREAT + ftruncate, memfd).
// Every fd the addon creates is close-on-exec so child processes never inherit it by accident.
#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"

namespace sivshm {

using v8::Context;
using v8::FunctionCallbackInfo;
using v8::Isolate;
using v8::Local;
using v8::Object;
using v8::Value;

namespace {

// open(path, flags, mode) -> fd. O_CLOEXEC is always added.
void Open(const FunctionCallbackInfo<Value>& a) {
  Isolate* iso = a.GetIsolate();
  std::string path;
  int64_t flags, mode;
  if (!ArgPath(a, 0, "path", &path)) return;
  if (!ArgInt(a, 1, "flags", 0, INT32_MAX, &flags)) return;
  if (!ArgInt(a, 2, "mode", 0, 07777, &mode)) return;
  int fd = open(path.c_str(), static_cast<int>(flags) | O_CLOEXEC, static_cast<mode_t>(mode));
  if (fd < 0) return ThrowErrno(iso, "open", errno);
  a.GetReturnValue().Set(fd);
}

// close(fd). EINTR still released the fd on Linux, so it is not reported.
void Close(const FunctionCallbackInfo<Value>& a) {
  int fd;
  if (!ArgFd(a, 0, &fd)) return;
  if (close(fd) != 0 && errno != EINTR) return ThrowErrno(a.GetIsolate(), "close", errno);
}

// ioctl(fd, request, arg) -> int. arg: bytes (passed by pointer), integer, or undefined (0).
void Ioctl(const FunctionCallbackInfo<Value>& a) {
  Isolate* iso = a.GetIsolate();
  int fd;
  int64_t req;
  if (!ArgFd(a, 0, &fd)) return;
  if (!ArgInt(a, 1, "request", 0, UINT32_MAX, &req)) return;
  int r;
  if (a[2]->IsUndefined()) {
    r = ioctl(fd, static_cast<unsigned long>(req), 0UL);
  } else if (a[2]->IsNumber() || a[2]->IsBigInt()) {
    int64_t v;
    if (!ArgInt(a, 2, "arg", INT64_MIN, INT64_MAX, &v)) return;
    r = ioctl(fd, static_cast<unsigned long>(req), static_cast<unsigned long>(v));
  } else {
    uint8_t* p;
    size_t n;
    if (!ArgBytes(a, 2, "arg", &p, &n)) return;
    // The kernel reads and writes the struct in place; the caller sized it from the UAPI.
    r = ioctl(fd, static_cast<unsigned long>(req), p);
  }
  if (r < 0) return ThrowErrno(iso, "ioctl", errno);
  a.GetReturnValue().Set(r);
}

// createRegionFile(path, size, { exclusive }) -> fd (O_RDWR). Grows the file to `size` if it is
// smaller; never shrinks it, so peers already mapping it do not fault.
void CreateRegionFile(const FunctionCallbackInfo<Value>& a) {
  Isolate* iso = a.GetIsolate();
  std::string path;
  int64_t size;
  bool exclusive;
  if (!ArgPath(a, 0, "path", &path)) return;
  if (!ArgInt(a, 1, "size", 1, INT64_MAX / 2, &size)) return;
  if (!OptBool(iso, a[2], "exclusive", false, &exclusive)) return;
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | (exclusive ? O_EXCL : 0), 0600);
  if (fd < 0) return ThrowErrno(iso, "open", errno);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(iso, "fstat", err);
  }
  if (st.st_size < size && ftruncate(fd, static_cast<off_t>(size)) != 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(iso, "ftruncate", err);
  }
  a.GetReturnValue().Set(fd);
}

// memfdCreate(name, size) -> fd of an anonymous shared file of `size` bytes.
void MemfdCreate(const FunctionCallbackInfo<Value>& a) {
  Isolate* iso = a.GetIsolate();
  std::string name;
  int64_t size;
  if (!ArgPath(a, 0, "name", &name)) return;
  if (!ArgInt(a, 1, "size", 1, INT64_MAX / 2, &size)) return;
  int fd = memfd_create(name.c_str(), MFD_CLOEXEC);
  if (fd < 0) return ThrowErrno(iso, "memfd_create", errno);
  if (ftruncate(fd, static_cast<off_t>(size)) != 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(iso, "ftruncate", err);
  }
  a.GetReturnValue().Set(fd);
}

// dup(fd) -> a close-on-exec duplicate (same open file description).
void Dup(const FunctionCallbackInfo<Value>& a) {
  int fd;
  if (!ArgFd(a, 0, &fd)) return;
  int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (d < 0) return ThrowErrno(a.GetIsolate(), "fcntl", errno);
  a.GetReturnValue().Set(d);
}

// fileSize(fd) -> bytes (st_size).
void FileSize(const FunctionCallbackInfo<Value>& a) {
  int fd;
  if (!ArgFd(a, 0, &fd)) return;
  struct stat st;
  if (fstat(fd, &st) != 0) return ThrowErrno(a.GetIsolate(), "fstat", errno);
  a.GetReturnValue().Set(static_cast<double>(st.st_size));
}

}  // namespace

void InitFd(Local<Context> ctx, Local<Object> exports) {
  Local<Value> none;
  SetMethod(ctx, exports, "open", Open, none);
  SetMethod(ctx, exports, "close", Close, none);
  SetMethod(ctx, exports, "ioctl", Ioctl, none);
  SetMethod(ctx, exports, "createRegionFile", CreateRegionFile, none);
  SetMethod(ctx, exports, "memfdCreate", MemfdCreate, none);
  SetMethod(ctx, exports, "fileSize", FileSize, none);
  SetMethod(ctx, exports, "dup", Dup, none);
}

}  // namespace sivshm
