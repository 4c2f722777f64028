// `@sivshm/transport-ivshmem/testing`: internals that tests and benchmarks of OTHER packages
// need to play a peer by hand (raw fds, an ivshmem client, an eventfd doorbell). Not part of
// the public API (`./index.ts`); apps must not import it.
export { fileSize } from './native/map-file.js';
export { openFd, dupFd } from './native/fd.js';
export { eventfdCreate } from './native/eventfd.js';
export { IvshmemClient } from './ivshmem-server/ivshmem-client.js';
export { EventfdWaker } from './notify/eventfd-waker.js';
export { LocalWaker } from './notify/local-waker.js';
