import { TransportError } from '../errors/transport-error.js';
import { loadAddon } from './addon.js';
import { callNative } from './native-call.js';

/** Throws `ERR_BAD_ARGUMENT` unless `fd` is a plausible file descriptor. */
export function checkFd(fd: unknown, name = 'fd'): asserts fd is number {
  if (typeof fd !== 'number' || !Number.isInteger(fd) || fd < 0 || fd > 2 ** 31 - 1) {
    throw new TransportError(
      'ERR_BAD_ARGUMENT',
      `${name} must be a file descriptor (integer 0..2^31-1), got ${String(fd)}`,
    );
  }
}

/**
 * Opens a file or device and returns its fd (always close-on-exec).
 *
 * Use it for device nodes such as `/dev/sivshm` whose fd goes to `ioctl` and `mapFile`;
 * `flags` are `fs.constants.O_*`.
 */
export function openFd(path: string, flags: number, mode = 0o600): number {
  if (typeof path !== 'string' || path.length === 0 || path.includes('\0')) {
    throw new TransportError('ERR_BAD_ARGUMENT', 'path must be a non-empty string without NUL');
  }
  if (!Number.isInteger(flags) || flags < 0) {
    throw new TransportError('ERR_BAD_ARGUMENT', 'flags must be a non-negative integer (O_*)');
  }
  const addon = loadAddon();
  return callNative(() => addon.open(path, flags, mode));
}

/** Closes an fd made by this package (eventfd, socket, region file, received fd). */
export function closeFd(fd: number): void {
  checkFd(fd);
  const addon = loadAddon();
  callNative(() => addon.close(fd));
}

/**
 * `ioctl(fd, request, arg)`: `arg` is a buffer passed by pointer (the kernel reads and writes
 * it in place), an integer passed by value, or omitted. Returns the call's non-negative result.
 *
 * Use it for `/dev/sivshm` requests; size the buffer from the UAPI struct the request names.
 */
export function ioctl(
  fd: number,
  request: number,
  arg?: ArrayBufferView | ArrayBuffer | number | bigint,
): number {
  checkFd(fd);
  if (!Number.isInteger(request) || request < 0 || request > 0xffff_ffff) {
    throw new TransportError('ERR_BAD_ARGUMENT', 'request must be an integer in 0..0xFFFFFFFF');
  }
  const addon = loadAddon();
  return callNative(() => addon.ioctl(fd, request, arg));
}

/** Duplicates an fd (close-on-exec; same open file description). */
export function dupFd(fd: number): number {
  checkFd(fd);
  const addon = loadAddon();
  return callNative(() => addon.dup(fd));
}
