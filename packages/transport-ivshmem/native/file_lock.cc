// lockExclusive / lockTest: open-file-description locks (fcntl F_OFD_SETLK) on
// an fd JS opened, over the whole file. Node has no file locks; a lock file holding a pid is
// not a lock (the holder can die without removing it, and its pid can be reused by an
// unrelated process). An OFD lock belongs to the open file description, and the kernel drops
// it when the last fd of that description closes — also when the holder is killed with
// SIGKILL. Unlike flock(2), F_OFD_GETLK can ask whether someone holds it without taking it,
// so naming the holder never makes a concurrent taker fail. Unlike classic POSIX locks, two
// descriptions in one process conflict, and closing another fd of the file does not drop it.
// Callers open lock files close-on-exec (Node always does): a child never inherits one.
#include "file_lock.h"

#include <errno.h>
#include <fcntl.h>

#include "common.h"

namespace sivshm {

using v8::Context;
using v8::FunctionCallbackInfo;
using v8::Local;
using v8::Object;
using v8::Value;

namespace {

struct flock WholeFile(short type) {
  struct flock l = {};
  l.l_type = type;
  l.l_whence = SEEK_SET;
  l.l_start = 0;
  l.l_len = 0;  // to the end, however long the file grows
  return l;
}

// lockExclusive(fd) -> true when this fd's description now holds the write lock, false when
// another description holds a lock on the file. Never blocks. The fd must be open for writing.
void LockExclusive(const FunctionCallbackInfo<Value>& a) {
  int fd;
  if (!ArgFd(a, 0, &fd)) return;
  struct flock l = WholeFile(F_WRLCK);
  int r;
  do {
    r = fcntl(fd, F_OFD_SETLK, &l);
  } while (r != 0 && errno == EINTR);
  if (r == 0) return a.GetReturnValue().Set(true);
  if (errno == EAGAIN || errno == EACCES) return a.GetReturnValue().Set(false);
  ThrowErrno(a.GetIsolate(), "fcntl", errno);
}

// lockTest(fd) -> true when another description holds a lock that would refuse ours.
void LockTest(const FunctionCallbackInfo<Value>& a) {
  int fd;
  if (!ArgFd(a, 0, &fd)) return;
  struct flock l = WholeFile(F_WRLCK);
  if (fcntl(fd, F_OFD_GETLK, &l) != 0) return ThrowErrno(a.GetIsolate(), "fcntl", errno);
  a.GetReturnValue().Set(l.l_type != F_UNLCK);
}

}  // namespace

void InitFileLock(Local<Context> ctx, Local<Object> exports) {
  Local<Value> none = v8::Undefined(ctx->GetIsolate());
  SetMethod(ctx, exports, "lockExclusive", LockExclusive, none);
  SetMethod(ctx, exports, "lockTest", LockTest, none);
}

}  // namespace sivshm
