// eventfd: the doorbell of emulated mode (and what the ivshmem-server hands out per vector).
#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common.h"

namespace sivshm {

using v8::BigInt;
using v8::Context;
using v8::FunctionCallbackInfo;
using v8::Isolate;
using v8::Local;
using v8::Object;
using v8::Value;

namespace {

// eventfdCreate({ semaphore, nonblock }) -> fd (always close-on-exec).
void EventfdCreate(const FunctionCallbackInfo<Value>& a) {
  Isolate* iso = a.GetIsolate();
  bool semaphore, nonblock;
  if (!OptBool(iso, a[0], "semaphore", false, &semaphore)) return;
  if (!OptBool(iso, a[0], "nonblock", true, &nonblock)) return;
  int fd = eventfd(0, EFD_CLOEXEC | (semaphore ? EFD_SEMAPHORE : 0) | (nonblock ? EFD_NONBLOCK : 0));
  if (fd < 0) return ThrowErrno(iso, "eventfd", errno);
  a.GetReturnValue().Set(fd);
}

// eventfdWrite(fd, n): adds n (1..2^64-2) to the counter. EAGAIN (counter would overflow on a
// non-blocking fd) is thrown; a blocking fd would block, which callers avoid by creating them
// non-blocking.
void EventfdWrite(const FunctionCallbackInfo<Value>& a) {
  Isolate* iso = a.GetIsolate();
  int fd;
  if (!ArgFd(a, 0, &fd)) return;
  uint64_t n;
  if (a[1]->IsBigInt()) {
    bool lossless = true;
    n = a[1].As<BigInt>()->Uint64Value(&lossless);
    if (!lossless || n == 0 || n == UINT64_MAX) {
      return ThrowBadArg(iso, "n is out of range 1..2^64-2", 1);
    }
  } else {
    int64_t v;
    if (!ArgInt(a, 1, "n", 1, (int64_t{1} << 53) - 1, &v)) return;
    n = static_cast<uint64_t>(v);
  }
  ssize_t r;
  do r = write(fd, &n, sizeof n);
  while (r < 0 && errno == EINTR);
  if (r < 0) return ThrowErrno(iso, "write", errno);
}

// eventfdRead(fd) -> bigint counter value (reset to 0, or decremented by 1 in semaphore mode);
// 0n when nothing is pending. Never blocks, whatever the fd's own flags.
void EventfdRead(const FunctionCallbackInfo<Value>& a) {
  Isolate* iso = a.GetIsolate();
  int fd;
  if (!ArgFd(a, 0, &fd)) return;
  struct pollfd pfd = {fd, POLLIN, 0};
  int pr;
  do pr = poll(&pfd, 1, 0);
  while (pr < 0 && errno == EINTR);
  if (pr < 0) return ThrowErrno(iso, "poll", errno);
  if (pfd.revents & POLLNVAL) return ThrowErrno(iso, "read", EBADF);
  if (pr == 0 || !(pfd.revents & POLLIN)) return a.GetReturnValue().Set(BigInt::NewFromUnsigned(iso, 0));
  uint64_t v = 0;
  ssize_t r;
  do r = read(fd, &v, sizeof v);
  while (r < 0 && errno == EINTR);
  if (r < 0) {
    if (errno == EAGAIN) return a.GetReturnValue().Set(BigInt::NewFromUnsigned(iso, 0));
    return ThrowErrno(iso, "read", errno);
  }
  if (r != sizeof v) return ThrowErrno(iso, "read", EINVAL);
  a.GetReturnValue().Set(BigInt::NewFromUnsigned(iso, v));
}

}  // namespace

void InitEventfd(Local<Context> ctx, Local<Object> exports) {
  Local<Value> none;
  SetMethod(ctx, exports, "eventfdCreate", EventfdCreate, none);
  SetMethod(ctx, exports, "eventfdWrite", EventfdWrite, none);
  SetMethod(ctx, exports, "eventfdRead", EventfdRead, none);
}

}  // namespace sivshm
