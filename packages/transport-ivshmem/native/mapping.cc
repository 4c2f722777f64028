// mapFile / unmap: a file (or device) mapped MAP_SHARED and handed to JS twice over the same
// memory: a SharedArrayBuffer for control words (Atomics) and a non-shared ArrayBuffer for bulk
// copies (V8 copies into SharedArrayBuffers with relaxed atomics, 1.3-3.2x slower).
//
// Lifetime. V8 frees a BackingStore whenever the last buffer using it is collected, possibly on
// a GC thread, and a SharedArrayBuffer can never be detached. So the address range is owned by
// a reference-counted Region: one reference per backing store plus one for the JS handle. The
// range is munmap()ed only when all three are gone. unmap() before that replaces the mapping
// in place (MAP_FIXED) with an anonymous PROT_NONE reservation and detaches the non-shared
// buffer: stale SharedArrayBuffer views then fault (SIGSEGV) deterministically instead of
// reading whatever the allocator would later place at that address, and the reservation is
// released by the same last-reference rule.
//
// Truncation. Mappings of regular files are registered with the SIGBUS guard
// (sigbus_guard.cc): if another process truncates the file, an access past its new end gets
// zero pages instead of killing the process, and the mapping reads as `lost` in mappingInfo.
// remap() maps the file over the same addresses again once its owner has restored it.
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>

#include "common.h"
#include "sigbus_guard.h"

namespace sivshm {

using v8::ArrayBuffer;
using v8::BackingStore;
using v8::Context;
using v8::FunctionCallbackInfo;
using v8::Global;
using v8::Isolate;
using v8::Local;
using v8::Object;
using v8::ObjectTemplate;
using v8::SharedArrayBuffer;
using v8::String;
using v8::Value;

namespace {

// Tag in internal field 1 proving an object is one of our mapping handles.
int kMappingTag = 0;

struct Region {
  void* addr;
  size_t len;
  std::atomic<int> refs;
  int prot;
  int64_t offset;
  // The SIGBUS guard's slot while the file is mapped (-1: a device, or no longer mapped).
  std::atomic<int> guard_slot;
  // Whether the guard absorbed a fault in it before its slot was given back.
  std::atomic<bool> lost_when_unguarded;
};

// Gives the guard slot back (once); true when a fault in the mapping was absorbed.
bool Unguard(Region* r) {
  int slot = r->guard_slot.exchange(-1);
  if (slot >= 0 && GuardUnregister(slot)) r->lost_when_unguarded.store(true);
  return r->lost_when_unguarded.load();
}

bool Lost(Region* r) {
  int slot = r->guard_slot.load();
  return slot >= 0 ? GuardLost(slot) : r->lost_when_unguarded.load();
}

// Address ranges still held (mapped, or reserved PROT_NONE after unmap), process-wide.
std::atomic<int64_t> g_live_regions{0};

void ReleaseRegion(Region* r) {
  if (r->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    Unguard(r);  // no handler may map into the range once it is released
    munmap(r->addr, r->len);
    delete r;
    g_live_regions.fetch_sub(1, std::memory_order_relaxed);
  }
}

void BackingStoreDeleter(void*, size_t, void* deleter_data) {
  ReleaseRegion(static_cast<Region*>(deleter_data));
}

// State behind a JS handle; owned by the handle (freed by unmap or by the handle's GC).
struct Handle {
  Region* region;
  Global<ArrayBuffer> bulk;
  Global<Object> self;
  bool unmapped = false;
};

struct MappingData {
  Global<ObjectTemplate> handle_template;
};

void OnHandleCollected(const v8::WeakCallbackInfo<Handle>& info) {
  Handle* h = info.GetParameter();
  h->self.Reset();
  h->bulk.Reset();
  // Without an explicit unmap the memory stays mapped for as long as any buffer lives.
  if (!h->unmapped) ReleaseRegion(h->region);
  delete h;
}

// mapFile(pathOrFd, offset, length, { writable, populate }) -> { shared, bulk, handle }
void MapFile(const FunctionCallbackInfo<Value>& a) {
  Isolate* iso = a.GetIsolate();
  Local<Context> ctx = iso->GetCurrentContext();
  MappingData* md = static_cast<MappingData*>(a.Data().As<v8::External>()->Value());
  bool writable, populate;
  if (!OptBool(iso, a[3], "writable", false, &writable)) return;
  if (!OptBool(iso, a[3], "populate", false, &populate)) return;
  int64_t offset, length;
  const int64_t page = sysconf(_SC_PAGESIZE);
  if (!ArgInt(a, 1, "offset", 0, INT64_MAX / 2, &offset)) return;
  if (!ArgInt(a, 2, "length", 1, INT64_MAX / 2, &length)) return;
  if (offset % page != 0) {
    ThrowBadArg(iso, "offset must be a multiple of the page size (" + std::to_string(page) + ")", 1);
    return;
  }
  int fd;
  bool own_fd = false;
  if (a[0]->IsString()) {
    std::string path;
    if (!ArgPath(a, 0, "path", &path)) return;
    fd = open(path.c_str(), (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (fd < 0) return ThrowErrno(iso, "open", errno);
    own_fd = true;
  } else if (!ArgFd(a, 0, &fd)) {
    return;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    if (own_fd) close(fd);
    return ThrowErrno(iso, "fstat", err);
  }
  // A directory, pipe or socket has no pages: mmap would only say ENODEV.
  if (S_ISDIR(st.st_mode) || S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)) {
    if (own_fd) close(fd);
    ThrowBadArg(iso, std::string(S_ISDIR(st.st_mode) ? "a directory" : "a pipe or socket") +
                         " cannot be mapped: give a regular file or a device");
    return;
  }
  // Touching a MAP_SHARED page past the end of a regular file raises SIGBUS, which would kill
  // the process on first access; refuse up front. Devices (sysfs BARs are regular files with
  // the BAR size; /dev/sivshm is a character device) validate in their own mmap handler.
  if (S_ISREG(st.st_mode) && offset + length > st.st_size) {
    if (own_fd) close(fd);
    ThrowBadArg(iso,
                "offset + length (" + std::to_string(offset + length) +
                    ") exceeds the file size (" + std::to_string(st.st_size) + ")",
                1);
    return;
  }
  int prot = PROT_READ | (writable ? PROT_WRITE : 0);
  // MAP_POPULATE pre-faults every page now, so the data path never takes a page fault.
  void* p = mmap(nullptr, static_cast<size_t>(length), prot,
                 MAP_SHARED | (populate ? MAP_POPULATE : 0), fd, static_cast<off_t>(offset));
  int err = errno;
  if (own_fd) close(fd);  // the mapping keeps its own reference to the file
  if (p == MAP_FAILED) return ThrowErrno(iso, "mmap", err);

  size_t len = static_cast<size_t>(length);
  Region* r = new Region{p, len, {3}, prot, offset, {-1}, {false}};
  // Only regular files can shrink under the mapping; a device's SIGBUS is its refusal.
  if (S_ISREG(st.st_mode)) r->guard_slot.store(GuardRegister(p, len, prot));
  g_live_regions.fetch_add(1, std::memory_order_relaxed);
  std::unique_ptr<BackingStore> sbs =
      SharedArrayBuffer::NewBackingStore(p, len, BackingStoreDeleter, r);
  std::unique_ptr<BackingStore> bbs = ArrayBuffer::NewBackingStore(p, len, BackingStoreDeleter, r);
  Local<SharedArrayBuffer> shared = SharedArrayBuffer::New(iso, std::move(sbs));
  Local<ArrayBuffer> bulk = ArrayBuffer::New(iso, std::move(bbs));

  Local<Object> handle = md->handle_template.Get(iso)->NewInstance(ctx).ToLocalChecked();
  Handle* h = new Handle();
  h->region = r;
  h->bulk.Reset(iso, bulk);
  h->self.Reset(iso, handle);
  h->self.SetWeak(h, OnHandleCollected, v8::WeakCallbackType::kParameter);
  handle->SetAlignedPointerInInternalField(0, h);
  handle->SetAlignedPointerInInternalField(1, &kMappingTag);

  Local<Object> out = Object::New(iso);
  out->Set(ctx, Str(iso, "shared"), shared).Check();
  out->Set(ctx, Str(iso, "bulk"), bulk).Check();
  out->Set(ctx, Str(iso, "handle"), handle).Check();
  a.GetReturnValue().Set(out);
}

Handle* GetHandle(Isolate* iso, Local<Value> v) {
  if (v->IsObject()) {
    Local<Object> o = v.As<Object>();
    if (o->InternalFieldCount() == 2 && o->GetAlignedPointerFromInternalField(1) == &kMappingTag) {
      return static_cast<Handle*>(o->GetAlignedPointerFromInternalField(0));
    }
  }
  ThrowBadArg(iso, "handle must be a mapping handle returned by mapFile");
  return nullptr;
}

// unmap(handle): detach the non-shared buffer; turn the range into a PROT_NONE reservation.
// Returns false when the handle was already unmapped (idempotent).
void Unmap(const FunctionCallbackInfo<Value>& a) {
  Isolate* iso = a.GetIsolate();
  Handle* h = GetHandle(iso, a[0]);
  if (h == nullptr) return;
  if (h->unmapped) return a.GetReturnValue().Set(false);
  Region* r = h->region;
  void* q = mmap(r->addr, r->len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED,
                 -1, 0);
  if (q == MAP_FAILED) return ThrowErrno(iso, "mmap", errno);
  // A handler racing this unmap may have put zero pages over part of the reservation.
  if (Unguard(r)) {
    mmap(r->addr, r->len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
  }
  Local<ArrayBuffer> bulk = h->bulk.Get(iso);
  // The buffer may already have been detached (transferred to a worker); that copy then faults
  // on the reservation like a SharedArrayBuffer view would.
  if (!bulk->WasDetached() && bulk->IsDetachable()) {
    // No detach key is ever set on these buffers, so this cannot fail; never crash if it did.
    bulk->Detach(Local<Value>()).FromMaybe(false);
  }
  h->bulk.Reset();
  h->unmapped = true;
  ReleaseRegion(r);
  a.GetReturnValue().Set(true);
}

// mappingInfo(handle) -> { length, unmapped, lost }
void MappingInfo(const FunctionCallbackInfo<Value>& a) {
  Isolate* iso = a.GetIsolate();
  Local<Context> ctx = iso->GetCurrentContext();
  Handle* h = GetHandle(iso, a[0]);
  if (h == nullptr) return;
  Local<Object> out = Object::New(iso);
  out->Set(ctx, Str(iso, "length"), v8::Number::New(iso, static_cast<double>(h->region->len)))
      .Check();
  out->Set(ctx, Str(iso, "unmapped"), v8::Boolean::New(iso, h->unmapped)).Check();
  out->Set(ctx, Str(iso, "lost"), v8::Boolean::New(iso, Lost(h->region))).Check();
  a.GetReturnValue().Set(out);
}

// remap(handle, fd): maps the file behind `fd` over the mapping's own addresses again (same
// offset, length and protection), so every buffer of it sees the file instead of the zero
// pages the SIGBUS guard put in; clears `lost`. The file must be long enough again.
void Remap(const FunctionCallbackInfo<Value>& a) {
  Isolate* iso = a.GetIsolate();
  Handle* h = GetHandle(iso, a[0]);
  if (h == nullptr) return;
  int fd;
  if (!ArgFd(a, 1, &fd)) return;
  Region* r = h->region;
  int slot = r->guard_slot.load();
  if (h->unmapped || slot < 0) {
    ThrowBadArg(iso, "remap needs a live mapping of a regular file");
    return;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) return ThrowErrno(iso, "fstat", errno);
  if (!S_ISREG(st.st_mode) || r->offset + static_cast<int64_t>(r->len) > st.st_size) {
    ThrowBadArg(iso, "the file is shorter than the mapping (" + std::to_string(st.st_size) + ")", 1);
    return;
  }
  // Cleared first: a fault after the new mapping is in place sets it again.
  GuardClearLost(slot);
  void* q = mmap(r->addr, r->len, r->prot, MAP_SHARED | MAP_FIXED, fd, static_cast<off_t>(r->offset));
  if (q == MAP_FAILED) return ThrowErrno(iso, "mmap", errno);
}

// liveRegions() -> address ranges this process still holds for mappings (a leak check).
void LiveRegions(const FunctionCallbackInfo<Value>& a) {
  a.GetReturnValue().Set(static_cast<double>(g_live_regions.load(std::memory_order_relaxed)));
}

}  // namespace

void InitMapping(Local<Context> ctx, Local<Object> exports) {
  Isolate* iso = ctx->GetIsolate();
  MappingData* md = new MappingData();
  Local<ObjectTemplate> t = ObjectTemplate::New(iso);
  t->SetInternalFieldCount(2);
  md->handle_template.Reset(iso, t);
  node::AddEnvironmentCleanupHook(
      iso, [](void* arg) { delete static_cast<MappingData*>(arg); }, md);
  Local<v8::External> data = v8::External::New(iso, md);
  SetMethod(ctx, exports, "mapFile", MapFile, data);
  SetMethod(ctx, exports, "unmap", Unmap, data);
  SetMethod(ctx, exports, "mappingInfo", MappingInfo, data);
  SetMethod(ctx, exports, "remap", Remap, data);
  SetMethod(ctx, exports, "liveRegions", LiveRegions, data);
}

}  // namespace sivshm
