// fd readiness on the libuv loop (uv_poll_t): the JS thread never blocks waiting for an eventfd
// or a socket. Watchers are addressed by a numeric id; the TypeScript FdWatcher owns the id.
#include <errno.h>
#include <uv.h>

#include <unordered_map>

#include "common.h"

namespace sivshm {

using v8::Context;
using v8::Function;
using v8::FunctionCallbackInfo;
using v8::Global;
using v8::HandleScope;
using v8::Integer;
using v8::Isolate;
using v8::Local;
using v8::Object;
using v8::Value;

namespace {

struct PollData;

struct Watch {
  uv_poll_t poll;
  PollData* owner;
  uint32_t id;
  int fd;
  Global<Function> cb;
  Global<Object> resource;
  node::async_context async;
};

struct PollData {
  Isolate* iso;
  Global<Context> ctx;
  uint32_t next_id = 1;
  std::unordered_map<uint32_t, Watch*> watches;
};

void OnClosed(uv_handle_t* h) { delete static_cast<Watch*>(h->data); }

void CloseWatch(Watch* w, bool env_alive = true) {
  uv_poll_stop(&w->poll);
  w->cb.Reset();
  w->owner->watches.erase(w->id);
  if (!w->resource.IsEmpty()) {
    // During environment teardown async hooks are gone; only drop the handle.
    if (env_alive) node::EmitAsyncDestroy(w->owner->iso, w->async);
    w->resource.Reset();
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&w->poll), OnClosed);
}

void OnPoll(uv_poll_t* h, int status, int events) {
  Watch* w = static_cast<Watch*>(h->data);
  Isolate* iso = w->owner->iso;
  HandleScope hs(iso);
  Local<Context> ctx = w->owner->ctx.Get(iso);
  Context::Scope cs(ctx);
  // status < 0 is a libuv error (-errno); events: 1 readable, 2 writable, 4 disconnect.
  Local<Value> argv[2] = {Integer::New(iso, status < 0 ? -status : 0),
                          Integer::New(iso, status < 0 ? 0 : events)};
  Local<Function> cb = w->cb.Get(iso);
  if (cb.IsEmpty()) return;
  // MakeCallback runs the microtask queue afterwards and routes a throw to 'uncaughtException'.
  node::MakeCallback(iso, w->resource.Get(iso), cb, 2, argv, w->async).FromMaybe(Local<Value>());
}

Watch* Find(const FunctionCallbackInfo<Value>& a, PollData* pd) {
  int64_t id;
  if (!ArgInt(a, 0, "watcher id", 1, UINT32_MAX, &id)) return nullptr;
  auto it = pd->watches.find(static_cast<uint32_t>(id));
  return it == pd->watches.end() ? nullptr : it->second;
}

int UvEvents(int64_t mask) {
  return ((mask & 1) ? UV_READABLE : 0) | ((mask & 2) ? UV_WRITABLE : 0) |
         ((mask & 4) ? UV_DISCONNECT : 0);
}

// pollStart(fd, events, cb(errno, events)) -> id. events: bit 0 readable, 1 writable, 2 hang-up.
void PollStart(const FunctionCallbackInfo<Value>& a) {
  Isolate* iso = a.GetIsolate();
  PollData* pd = static_cast<PollData*>(a.Data().As<v8::External>()->Value());
  int fd;
  int64_t mask;
  if (!ArgFd(a, 0, &fd)) return;
  if (!ArgInt(a, 1, "events", 1, 7, &mask)) return;
  if (!a[2]->IsFunction()) return ThrowBadArg(iso, "callback must be a function");
  // libuv documents that two active poll handles on one fd make it busy-loop or misbehave;
  // refuse instead (a watcher left running on a closed and reused fd number shows up here too).
  for (const auto& entry : pd->watches) {
    if (entry.second->fd == fd) {
      return ThrowBadArg(iso, "fd " + std::to_string(fd) +
                                  " is already watched; stop that watcher first (one watcher per fd)");
    }
  }
  Watch* w = new Watch();
  w->fd = fd;
  w->owner = pd;
  int r = uv_poll_init(node::GetCurrentEventLoop(iso), &w->poll, fd);
  if (r != 0) {
    delete w;
    return ThrowErrno(iso, "uv_poll_init", -r);
  }
  w->poll.data = w;
  r = uv_poll_start(&w->poll, UvEvents(mask), OnPoll);
  if (r != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&w->poll), OnClosed);
    return ThrowErrno(iso, "uv_poll_start", -r);
  }
  w->id = pd->next_id++;
  if (pd->next_id == 0) pd->next_id = 1;
  w->cb.Reset(iso, a[2].As<Function>());
  Local<Object> resource = Object::New(iso);
  w->resource.Reset(iso, resource);
  w->async = node::EmitAsyncInit(iso, resource, "SIVSHM_FDWATCH");
  pd->watches[w->id] = w;
  a.GetReturnValue().Set(static_cast<double>(w->id));
}

// pollSetEvents(id, events): change the interest set of a running watcher.
void PollSetEvents(const FunctionCallbackInfo<Value>& a) {
  PollData* pd = static_cast<PollData*>(a.Data().As<v8::External>()->Value());
  Watch* w = Find(a, pd);
  if (w == nullptr) return;
  int64_t mask;
  if (!ArgInt(a, 1, "events", 1, 7, &mask)) return;
  int r = uv_poll_start(&w->poll, UvEvents(mask), OnPoll);
  if (r != 0) return ThrowErrno(a.GetIsolate(), "uv_poll_start", -r);
}

// pollStop(id) -> whether it was running. Idempotent.
void PollStop(const FunctionCallbackInfo<Value>& a) {
  PollData* pd = static_cast<PollData*>(a.Data().As<v8::External>()->Value());
  Watch* w = Find(a, pd);
  if (w == nullptr) return a.GetReturnValue().Set(false);
  CloseWatch(w);
  a.GetReturnValue().Set(true);
}

// pollRef(id, ref): whether the watcher keeps the event loop (the process) alive.
void PollRef(const FunctionCallbackInfo<Value>& a) {
  PollData* pd = static_cast<PollData*>(a.Data().As<v8::External>()->Value());
  Watch* w = Find(a, pd);
  if (w == nullptr) return;
  uv_handle_t* h = reinterpret_cast<uv_handle_t*>(&w->poll);
  if (a[1]->IsTrue()) {
    uv_ref(h);
  } else {
    uv_unref(h);
  }
}

void Cleanup(void* arg) {
  PollData* pd = static_cast<PollData*>(arg);
  while (!pd->watches.empty()) CloseWatch(pd->watches.begin()->second, false);
  delete pd;
}

}  // namespace

void InitPoll(Local<Context> ctx, Local<Object> exports) {
  Isolate* iso = ctx->GetIsolate();
  PollData* pd = new PollData();
  pd->iso = iso;
  pd->ctx.Reset(iso, ctx);
  node::AddEnvironmentCleanupHook(iso, Cleanup, pd);
  Local<v8::External> data = v8::External::New(iso, pd);
  SetMethod(ctx, exports, "pollStart", PollStart, data);
  SetMethod(ctx, exports, "pollSetEvents", PollSetEvents, data);
  SetMethod(ctx, exports, "pollStop", PollStop, data);
  SetMethod(ctx, exports, "pollRef", PollRef, data);
}

}  // namespace sivshm
