// Entry point of sivshm_native.node: registers every concept file's functions. Context-aware,
// so the addon also loads in worker threads (each instance keeps its own state).
#include "common.h"
#include "file_lock.h"
#include "sigbus_guard.h"

NODE_MODULE_INIT(/* exports, module, context */) {
  sivshm::InitMapping(context, exports);
  sivshm::InitEventfd(context, exports);
  sivshm::InitFd(context, exports);
  sivshm::InitPoll(context, exports);
  sivshm::InitUnixSocket(context, exports);
  sivshm::InitRecordCrypto(context, exports);
  sivshm::InitSigbusGuard(context, exports);
  sivshm::InitFileLock(context, exports);
}
