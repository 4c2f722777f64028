export {};
export { TransportError } from './errors/transport-error.js';
export type { TransportErrorCode, SyscallFailure } from './errors/transport-error.js';
export { loadAddon } from './native/addon.js';
export type { NativeAddon } from './native/addon.js';
export { mapFile, unmap, createRegionFile, memfdCreate, fileSize } from './native/map-file.js';
export type {
  MappedFile,
  MappingHandle,
  MapFileOptions,
  CreateRegionFileOptions,
} from './native/map-file.js';
export { openFd, closeFd, ioctl } from './native/fd.js';
export { eventfdCreate, eventfdWrite, eventfdRead } from './native/eventfd.js';
export type { EventfdOptions } from './native/eventfd.js';
export { dupFd } from './native/fd.js';
export { FdWatcher, FdEvents, watchFd, watchReadable } from './native/fd-watcher.js';
export type { FdReadyCallback } from './native/fd-watcher.js';
export {
  sendFds,
  recvWithFds,
  unixSocketPair,
  unixPeerCredentials,
  MAX_FDS_PER_MESSAGE,
} from './native/unix-socket.js';
export type { ReceivedMessage, UnixSocketType } from './native/unix-socket.js';
export { UnixStream } from './native/unix-stream.js';
export type { UnixStreamOptions, UnixConnectOptions } from './native/unix-stream.js';
export { UnixListener } from './native/unix-listener.js';
export type { UnixListenOptions } from './native/unix-listener.js';
export { IvshmemServer } from './ivshmem-server/ivshmem-server.js';
export type { IvshmemServerOptions, IvshmemShmSource } from './ivshmem-server/ivshmem-server.js';
export { IvshmemClient } from './ivshmem-server/ivshmem-client.js';
export type {
  IvshmemClientOptions,
  IvshmemNotification,
  IvshmemPeerEvent,
} from './ivshmem-server/ivshmem-client.js';
export {
  IVSHMEM_PROTOCOL_VERSION,
  IVSHMEM_MAX_VECTORS,
  IVSHMEM_MAX_PEER_ID,
  encodeIvshmemMessage,
  decodeIvshmemMessage,
} from './ivshmem-server/ivshmem-protocol.js';
