export {};
export { TransportError } from './errors/transport-error.js';
export type { TransportErrorCode, SyscallFailure } from './errors/transport-error.js';
