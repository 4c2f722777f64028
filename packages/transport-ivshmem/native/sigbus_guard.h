// The SIGBUS guard of shared file mappings (sigbus_guard.cc): mapping.cc registers every
// MAP_SHARED mapping of a regular file here, so that a truncation of the file by another
// process no longer kills this one on its next access.
#ifndef SIVSHM_NATIVE_SIGBUS_GUARD_H
#define SIVSHM_NATIVE_SIGBUS_GUARD_H

#include <node.h>
#include <stddef.h>

namespace sivshm {

// Guards [addr, addr + len), mapped with `prot`; installs the handler on first use. Returns the
// guard's slot, or -1 when the table is full (the mapping then works unguarded; counted).
int GuardRegister(void* addr, size_t len, int prot);

// Stops guarding `slot` and waits until no handler still works on it; returns whether a fault
// in it was absorbed. After it returns no handler will map anything into the range, so the
// caller may munmap it or put a reservation back.
bool GuardUnregister(int slot);

// Whether a fault in `slot` was absorbed since it was registered or last cleared.
bool GuardLost(int slot);

// Clears the lost flag of `slot` (before the caller maps the file over the range again).
void GuardClearLost(int slot);

void InitSigbusGuard(v8::Local<v8::Context> ctx, v8::Local<v8::Object> exports);

}  // namespace sivshm

#endif
