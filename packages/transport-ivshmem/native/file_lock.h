// Kernel file locks (file_lock.cc): open-file-description locks the kernel drops when their holder
// exits, however it exits.
#ifndef SIVSHM_NATIVE_FILE_LOCK_H
#define SIVSHM_NATIVE_FILE_LOCK_H

#include <node.h>

namespace sivshm {

void InitFileLock(v8::Local<v8::Context> ctx, v8::Local<v8::Object> exports);

}  // namespace sivshm

#endif
