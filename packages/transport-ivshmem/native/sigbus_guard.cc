// The SIGBUS guard. Touching a page of a MAP_SHARED file mapping that lies past the file's end
// raises SIGBUS, and Node cannot catch a signal raised by a memory access: whoever can write
// the region file (`truncate -s 4096`) could kill hostd and every app mapping it. So every
// mapping of a regular file that mapping.cc makes is registered here, and one process-wide
// handler absorbs such a fault:
//
//   - the faulting page and every page after it up to the end of that mapping are replaced in
//     place (MAP_FIXED) by private anonymous zero pages with the mapping's protection. A
//     truncation removes the file's tail, so every later page of the mapping is past the end
//     too: one replacement covers them and the mapping is not split page by page;
//   - the mapping is marked lost (an atomic flag JS reads through mappingInfo), and a
//     process-wide counter of absorbed faults is bumped (JS reads it without a native call,
//     through a SharedArrayBuffer over it, to decide cheaply whether to look at its mappings);
//   - the handler returns, and the access completes on the zero page.
//
// The data behind those pages is gone either way; the owner of the mapping stops trusting it
// (channels fail with ERR_REGION_LOST, hostd restores the file and maps it again with remap).
//
// Everything else goes to the handler that was installed before ours (Node 20 installs none
// for SIGBUS; the default action then kills the process as before): faults outside guarded
// ranges, hardware memory errors (BUS_MCEERR_*), alignment faults and SIGBUS sent with kill.
// Mappings of devices are not registered: /dev/sivshm answers accesses it refuses (a peer's
// pages, a revoked window) with SIGBUS on purpose, and that must still end the process.
//
// Only async-signal-safe work runs in the handler: atomics on a fixed table, the mmap system
// call, sigaction and raise. The table is never resized or freed; a slot is retired by its
// owner only after no handler can still be working on it (g_inflight).
#include "sigbus_guard.h"

#include <errno.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>

#include "common.h"

namespace sivshm {

using v8::Context;
using v8::FunctionCallbackInfo;
using v8::Isolate;
using v8::Local;
using v8::Object;
using v8::SharedArrayBuffer;
using v8::Value;

namespace {

// How many mappings can be guarded at once: hostd's region plus one per window an app maps;
// a mapping past the table works unguarded and is counted in sigbusGuardInfo().unguarded.
constexpr int kSlots = 4096;

enum SlotState : int { kFree = 0, kClaimed = 1, kActive = 2 };

struct Slot {
  std::atomic<int> state{kFree};
  std::atomic<uintptr_t> start{0};
  std::atomic<size_t> len{0};
  std::atomic<int> prot{0};
  std::atomic<int> lost{0};
};

Slot g_slots[kSlots];
// Slots at or above this index were never claimed: the handler scans below it only.
std::atomic<int> g_high_water{0};
// Handlers currently between reading the table and finishing their replacement.
std::atomic<int> g_inflight{0};
// Faults absorbed in this process; exposed to JS as the first word of a SharedArrayBuffer.
alignas(8) std::atomic<int32_t> g_absorbed{0};
std::atomic<int> g_guarded{0};
std::atomic<int> g_unguarded{0};
std::atomic<int> g_installed{0};  // 0 no, 1 installing, 2 yes, 3 failed
struct sigaction g_previous;
// The page size, read once at install: sysconf is not async-signal-safe.
uintptr_t g_page = 4096;

void ResetToDefault() {
  struct sigaction dfl = {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(SIGBUS, &dfl, nullptr);
}

// Hands a signal we do not absorb to whoever had SIGBUS before us.
void Chain(int sig, siginfo_t* info, void* uctx) {
  if (g_previous.sa_flags & SA_SIGINFO) {
    if (g_previous.sa_sigaction != nullptr) return g_previous.sa_sigaction(sig, info, uctx);
  } else if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
    return g_previous.sa_handler(sig);
  }
  // Default action (ignoring a fault is not possible): restore it, then let the faulting
  // instruction run again — it faults once more and the kernel kills the process with SIGBUS
  // as it would have without us. A signal sent with kill() does not recur: send it again.
  ResetToDefault();
  if (info->si_code <= 0) raise(sig);
}

// Replaces [page of addr, end of slot) with zero pages; true when done.
bool Absorb(Slot& s, uintptr_t addr) {
  const uintptr_t start = s.start.load(std::memory_order_relaxed);
  const size_t len = s.len.load(std::memory_order_relaxed);
  if (addr < start || addr - start >= len) return false;
  const uintptr_t from = addr & ~(g_page - 1);
  const size_t rest = start + len - from;
  s.lost.store(1, std::memory_order_seq_cst);
  long r = syscall(SYS_mmap, reinterpret_cast<void*>(from), rest,
                   s.prot.load(std::memory_order_relaxed),
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0L);
  return r != -1 && reinterpret_cast<void*>(r) != MAP_FAILED;
}

void OnSigbus(int sig, siginfo_t* info, void* uctx) {
  const int saved_errno = errno;
  bool absorbed = false;
  // BUS_ADRERR: no page behind the address (a file mapping past the file's end).
  if (info->si_code == BUS_ADRERR) {
    g_inflight.fetch_add(1, std::memory_order_seq_cst);
    const uintptr_t addr = reinterpret_cast<uintptr_t>(info->si_addr);
    const int n = g_high_water.load(std::memory_order_acquire);
    for (int i = 0; i < n && !absorbed; i++) {
      Slot& s = g_slots[i];
      if (s.state.load(std::memory_order_seq_cst) != kActive) continue;
      absorbed = Absorb(s, addr);
    }
    g_inflight.fetch_sub(1, std::memory_order_seq_cst);
  }
  if (absorbed) {
    g_absorbed.fetch_add(1, std::memory_order_relaxed);
  } else {
    Chain(sig, info, uctx);
  }
  errno = saved_errno;
}

// Installs the handler once per process (signal dispositions are process-wide).
bool EnsureInstalled() {
  int expected = 0;
  if (g_installed.compare_exchange_strong(expected, 1)) {
    g_page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
    struct sigaction sa = {};
    sa.sa_sigaction = OnSigbus;
    sigemptyset(&sa.sa_mask);
    // SA_ONSTACK: run on an alternate stack if the thread has one (V8 may set one up).
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    const bool ok = sigaction(SIGBUS, &sa, &g_previous) == 0;
    g_installed.store(ok ? 2 : 3);
    return ok;
  }
  while (g_installed.load() == 1) {
  }
  return g_installed.load() == 2;
}

}  // namespace

int GuardRegister(void* addr, size_t len, int prot) {
  if (!EnsureInstalled()) {
    g_unguarded.fetch_add(1, std::memory_order_relaxed);
    return -1;
  }
  for (int i = 0; i < kSlots; i++) {
    Slot& s = g_slots[i];
    int expected = kFree;
    if (!s.state.compare_exchange_strong(expected, kClaimed)) continue;
    s.start.store(reinterpret_cast<uintptr_t>(addr), std::memory_order_relaxed);
    s.len.store(len, std::memory_order_relaxed);
    s.prot.store(prot, std::memory_order_relaxed);
    s.lost.store(0, std::memory_order_relaxed);
    int hw = g_high_water.load();
    while (hw < i + 1 && !g_high_water.compare_exchange_weak(hw, i + 1)) {
    }
    s.state.store(kActive, std::memory_order_seq_cst);
    g_guarded.fetch_add(1, std::memory_order_relaxed);
    return i;
  }
  g_unguarded.fetch_add(1, std::memory_order_relaxed);
  return -1;
}

bool GuardUnregister(int slot) {
  if (slot < 0 || slot >= kSlots) return false;
  Slot& s = g_slots[slot];
  s.state.store(kClaimed, std::memory_order_seq_cst);
  // A handler that saw the slot active is still replacing pages in it: wait for it. Handlers
  // are a table scan and one system call long.
  while (g_inflight.load(std::memory_order_seq_cst) != 0) sched_yield();
  const bool lost = s.lost.load(std::memory_order_seq_cst) != 0;
  s.state.store(kFree, std::memory_order_release);
  g_guarded.fetch_sub(1, std::memory_order_relaxed);
  return lost;
}

bool GuardLost(int slot) {
  if (slot < 0 || slot >= kSlots) return false;
  return g_slots[slot].lost.load(std::memory_order_seq_cst) != 0;
}

void GuardClearLost(int slot) {
  if (slot < 0 || slot >= kSlots) return;
  g_slots[slot].lost.store(0, std::memory_order_seq_cst);
}

namespace {

const char* PreviousName() {
  if (g_installed.load() != 2) return "none";
  if (g_previous.sa_flags & SA_SIGINFO) return "handler";
  if (g_previous.sa_handler == SIG_DFL) return "default";
  if (g_previous.sa_handler == SIG_IGN) return "ignore";
  return "handler";
}

// sigbusGuardInfo() -> { installed, previous, absorbed, guarded, unguarded }
void SigbusGuardInfo(const FunctionCallbackInfo<Value>& a) {
  Isolate* iso = a.GetIsolate();
  Local<Context> ctx = iso->GetCurrentContext();
  Local<Object> out = Object::New(iso);
  auto num = [&](const char* k, double v) {
    out->Set(ctx, Str(iso, k), v8::Number::New(iso, v)).Check();
  };
  out->Set(ctx, Str(iso, "installed"), v8::Boolean::New(iso, g_installed.load() == 2)).Check();
  out->Set(ctx, Str(iso, "previous"), Str(iso, PreviousName())).Check();
  num("absorbed", g_absorbed.load());
  num("guarded", g_guarded.load());
  num("unguarded", g_unguarded.load());
  a.GetReturnValue().Set(out);
}

// sigbusCounter() -> SharedArrayBuffer(4) over the process-wide count of absorbed faults, so
// that JS can poll it with Atomics.load on hot paths. The memory is static: never freed.
void SigbusCounter(const FunctionCallbackInfo<Value>& a) {
  Isolate* iso = a.GetIsolate();
  static_assert(sizeof(g_absorbed) == 4, "the counter is one Int32 word");
  std::unique_ptr<v8::BackingStore> bs = SharedArrayBuffer::NewBackingStore(
      static_cast<void*>(&g_absorbed), sizeof(g_absorbed), [](void*, size_t, void*) {}, nullptr);
  a.GetReturnValue().Set(SharedArrayBuffer::New(iso, std::move(bs)));
}

}  // namespace

void InitSigbusGuard(Local<Context> ctx, Local<Object> exports) {
  Local<Value> none = v8::Undefined(ctx->GetIsolate());
  SetMethod(ctx, exports, "sigbusGuardInfo", SigbusGuardInfo, none);
  SetMethod(ctx, exports, "sigbusCounter", SigbusCounter, none);
}

}  // namespace sivshm
