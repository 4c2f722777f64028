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
