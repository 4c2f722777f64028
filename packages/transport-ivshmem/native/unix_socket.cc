// AF_UNIX sockets created by the addon (Node's net.Socket cannot carry SCM_RIGHTS), all
// non-blocking and close-on-exec; readiness comes from pollStart. Used by the ivshmem-server
// protocol (stream) and for handing eventfds between processes.
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <vector>

#include "common.h"

namespace sivshm {

using v8::Array;
using v8::Context;
using v8::FunctionCallbackInfo;
using v8::Integer;
using v8::Isolate;
using v8::Local;
using v8::Object;
using v8::String;
using v8::Value;

namespace {

// The kernel's limit (SCM_MAX_FD) on fds in one SCM_RIGHTS message.
constexpr int64_t kMaxFds = 253;

bool ArgType(const FunctionCallbackInfo<Value>& a, int i, int* type) {
  Isolate* iso = a.GetIsolate();
  if (a[i]->IsString()) {
    String::Utf8Value s(iso, a[i]);
    if (strcmp(*s, "stream") == 0) {
      *type = SOCK_STREAM;
      return true;
    }
    if (strcmp(*s, "seqpacket") == 0) {
      *type = SOCK_SEQPACKET;
      return true;
    }
    if (strcmp(*s, "dgram") == 0) {
      *type = SOCK_DGRAM;
      return true;
    }
  }
  ThrowBadArg(iso, "socket type must be 'stream', 'seqpacket' or 'dgram'");
  return false;
}

bool ArgAddr(const FunctionCallbackInfo<Value>& a, int i, sockaddr_un* sa) {
  std::string path;
  if (!ArgPath(a, i, "path", &path)) return false;
  if (path.size() >= sizeof sa->sun_path) {
    ThrowBadArg(a.GetIsolate(),
                "socket path is " + std::to_string(path.size()) + " bytes; at most " +
                    std::to_string(sizeof sa->sun_path - 1) + " are allowed",
                1);
    return false;
  }
  memset(sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  memcpy(sa->sun_path, path.data(), path.size());
  return true;
}

// unixSocket(type) -> fd
void UnixSocket(const FunctionCallbackInfo<Value>& a) {
  int type;
  if (!ArgType(a, 0, &type)) return;
  int fd = socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(a.GetIsolate(), "socket", errno);
  a.GetReturnValue().Set(fd);
}

// unixSocketPair(type) -> [fd, fd]
void UnixSocketPair(const FunctionCallbackInfo<Value>& a) {
  Isolate* iso = a.GetIsolate();
  int type;
  if (!ArgType(a, 0, &type)) return;
  int sv[2];
  if (socketpair(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
    return ThrowErrno(iso, "socketpair", errno);
  }
  Local<Array> out = Array::New(iso, 2);
  Local<Context> ctx = iso->GetCurrentContext();
  out->Set(ctx, 0, Integer::New(iso, sv[0])).Check();
  out->Set(ctx, 1, Integer::New(iso, sv[1])).Check();
  a.GetReturnValue().Set(out);
}

// unixBind(fd, path)
void UnixBind(const FunctionCallbackInfo<Value>& a) {
  int fd;
  sockaddr_un sa;
  if (!ArgFd(a, 0, &fd) || !ArgAddr(a, 1, &sa)) return;
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    return ThrowErrno(a.GetIsolate(), "bind", errno);
  }
}

// unixListen(fd, backlog)
void UnixListen(const FunctionCallbackInfo<Value>& a) {
  int fd;
  int64_t backlog;
  if (!ArgFd(a, 0, &fd) || !ArgInt(a, 1, "backlog", 1, 4096, &backlog)) return;
  if (listen(fd, static_cast<int>(backlog)) != 0) return ThrowErrno(a.GetIsolate(), "listen", errno);
}

// unixAccept(fd) -> new fd, or -1 when no connection is pending.
void UnixAccept(const FunctionCallbackInfo<Value>& a) {
  int fd;
  if (!ArgFd(a, 0, &fd)) return;
  int c;
  do c = accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  while (c < 0 && errno == EINTR);
  if (c < 0) {
    // Errors the man page says to treat like EAGAIN: the pending connection already died.
    if (errno == EAGAIN || errno == ECONNABORTED || errno == EPROTO) return a.GetReturnValue().Set(-1);
    return ThrowErrno(a.GetIsolate(), "accept4", errno);
  }
  a.GetReturnValue().Set(c);
}

// unixConnect(fd, path) -> true when connected, false when the listener's backlog is full
// (EAGAIN on a non-blocking AF_UNIX socket; retry later).
void UnixConnect(const FunctionCallbackInfo<Value>& a) {
  int fd;
  sockaddr_un sa;
  if (!ArgFd(a, 0, &fd) || !ArgAddr(a, 1, &sa)) return;
  int r;
  do r = connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  while (r < 0 && errno == EINTR);
  if (r != 0) {
    if (errno == EAGAIN) return a.GetReturnValue().Set(false);
    return ThrowErrno(a.GetIsolate(), "connect", errno);
  }
  a.GetReturnValue().Set(true);
}

// sendFds(fd, data, fds) -> bytes sent (>= 1), or -1 when the socket buffer is full. The fds
// travel with the first byte; a partial send on a stream socket has already delivered them.
void SendFds(const FunctionCallbackInfo<Value>& a) {
  Isolate* iso = a.GetIsolate();
  Local<Context> ctx = iso->GetCurrentContext();
  int fd;
  uint8_t* data;
  size_t len;
  if (!ArgFd(a, 0, &fd) || !ArgBytes(a, 1, "data", &data, &len)) return;
  if (len == 0) return ThrowBadArg(iso, "data must hold at least one byte (fds ride on data)", 1);
  std::vector<int> fds;
  if (!a[2]->IsUndefined()) {
    if (!a[2]->IsArray()) return ThrowBadArg(iso, "fds must be an array of file descriptors");
    Local<Array> arr = a[2].As<Array>();
    if (arr->Length() > kMaxFds) {
      return ThrowBadArg(iso, "at most " + std::to_string(kMaxFds) + " fds per message", 1);
    }
    for (uint32_t k = 0; k < arr->Length(); k++) {
      Local<Value> v;
      if (!arr->Get(ctx, k).ToLocal(&v)) return;  // a throwing getter: its exception propagates
      if (!v->IsInt32() || v.As<Integer>()->Value() < 0) {
        return ThrowBadArg(iso, "fds[" + std::to_string(k) + "] must be a file descriptor");
      }
      fds.push_back(static_cast<int>(v.As<Integer>()->Value()));
    }
  }
  iovec iov = {data, len};
  msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::vector<char> control;
  if (!fds.empty()) {
    control.assign(CMSG_SPACE(sizeof(int) * fds.size()), 0);
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  ssize_t r;
  do r = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
  while (r < 0 && errno == EINTR);
  if (r < 0) {
    if (errno == EAGAIN) return a.GetReturnValue().Set(-1);
    return ThrowErrno(iso, "sendmsg", errno);
  }
  a.GetReturnValue().Set(static_cast<double>(r));
}

// recvWithFds(fd, maxData, maxFds) -> { data: Uint8Array, fds: number[], truncated } or
// undefined when nothing is pending. data.length 0 on a stream socket means end of stream.
// `truncated` is true when data or fds did not fit (MSG_TRUNC / MSG_CTRUNC); fds that did fit
// are still returned (and owned by the caller), so the caller can close them.
void RecvWithFds(const FunctionCallbackInfo<Value>& a) {
  Isolate* iso = a.GetIsolate();
  Local<Context> ctx = iso->GetCurrentContext();
  int fd;
  int64_t max_data, max_fds;
  if (!ArgFd(a, 0, &fd)) return;
  if (!ArgInt(a, 1, "maxData", 1, 1 << 24, &max_data)) return;
  if (!ArgInt(a, 2, "maxFds", 0, kMaxFds, &max_fds)) return;
  std::shared_ptr<v8::BackingStore> store =
      v8::ArrayBuffer::NewBackingStore(iso, static_cast<size_t>(max_data));
  iovec iov = {store->Data(), static_cast<size_t>(max_data)};
  std::vector<char> control(CMSG_SPACE(sizeof(int) * (max_fds > 0 ? max_fds : 1)), 0);
  msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  ssize_t r;
  do r = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  while (r < 0 && errno == EINTR);
  if (r < 0) {
    if (errno == EAGAIN) return;
    return ThrowErrno(iso, "recvmsg", errno);
  }
  Local<Array> fds = Array::New(iso);
  uint32_t n = 0;
  bool extra = false;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t k = 0; k < count; k++) {
      int got;
      memcpy(&got, CMSG_DATA(c) + k * sizeof(int), sizeof got);
      // CMSG_SPACE pads, so the kernel may deliver more fds than asked for: close the extras
      // here and report truncation, as if they had not fit.
      if (static_cast<int64_t>(n) >= max_fds) {
        close(got);
        extra = true;
        continue;
      }
      fds->Set(ctx, n++, Integer::New(iso, got)).Check();
    }
  }
  Local<v8::ArrayBuffer> ab = v8::ArrayBuffer::New(iso, store);
  Local<Object> out = Object::New(iso);
  out->Set(ctx, Str(iso, "data"), v8::Uint8Array::New(ab, 0, static_cast<size_t>(r))).Check();
  out->Set(ctx, Str(iso, "fds"), fds).Check();
  out->Set(ctx, Str(iso, "truncated"),
           v8::Boolean::New(iso, extra || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0))
      .Check();
  a.GetReturnValue().Set(out);
}

// unixPeerCred(fd) -> { pid, uid, gid } of the process at the other end (SO_PEERCRED).
void UnixPeerCred(const FunctionCallbackInfo<Value>& a) {
  Isolate* iso = a.GetIsolate();
  Local<Context> ctx = iso->GetCurrentContext();
  int fd;
  if (!ArgFd(a, 0, &fd)) return;
  ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    return ThrowErrno(iso, "getsockopt", errno);
  }
  Local<Object> out = Object::New(iso);
  out->Set(ctx, Str(iso, "pid"), Integer::New(iso, cred.pid)).Check();
  out->Set(ctx, Str(iso, "uid"), Integer::NewFromUnsigned(iso, cred.uid)).Check();
  out->Set(ctx, Str(iso, "gid"), Integer::NewFromUnsigned(iso, cred.gid)).Check();
  a.GetReturnValue().Set(out);
}

}  // namespace

void InitUnixSocket(Local<Context> ctx, Local<Object> exports) {
  Local<Value> none;
  SetMethod(ctx, exports, "unixSocket", UnixSocket, none);
  SetMethod(ctx, exports, "unixSocketPair", UnixSocketPair, none);
  SetMethod(ctx, exports, "unixBind", UnixBind, none);
  SetMethod(ctx, exports, "unixListen", UnixListen, none);
  SetMethod(ctx, exports, "unixAccept", UnixAccept, none);
  SetMethod(ctx, exports, "unixConnect", UnixConnect, none);
  SetMethod(ctx, exports, "sendFds", SendFds, none);
  SetMethod(ctx, exports, "recvWithFds", RecvWithFds, none);
  SetMethod(ctx, exports, "unixPeerCred", UnixPeerCred, none);
}

}  // namespace sivshm
