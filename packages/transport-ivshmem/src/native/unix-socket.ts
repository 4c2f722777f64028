import { TransportError } from '../errors/transport-error.js';
import { loadAddon } from './addon.js';
import { checkFd } from './fd.js';
import { callNative } from './native-call.js';

/** Kind of AF_UNIX socket. */
export type UnixSocketType = 'stream' | 'seqpacket' | 'dgram';

/** One message read by {@link recvWithFds}. */
export interface ReceivedMessage {
  /** The bytes read (a fresh buffer). Empty on a stream socket means end of stream. */
  readonly data: Uint8Array;
  /** fds that arrived with these bytes (close-on-exec); the caller owns and closes them. */
  readonly fds: number[];
  /** The data or the fds did not fit (MSG_TRUNC / MSG_CTRUNC). */
  readonly truncated: boolean;
}

/** The kernel's limit on fds per SCM_RIGHTS message (SCM_MAX_FD). */
export const MAX_FDS_PER_MESSAGE = 253;

/**
 * Sends `data` with `fds` attached (SCM_RIGHTS) on a non-blocking AF_UNIX socket. Returns the
 * bytes sent, or -1 when the socket buffer is full (nothing was sent; retry when writable).
 *
 * The receiver gets its own duplicates of the fds; the sender keeps and still closes its own.
 * On a stream socket a partial send is possible: the fds went with the first byte, send the
 * rest without them.
 */
export function sendFds(socketFd: number, data: Uint8Array, fds: readonly number[] = []): number {
  checkFd(socketFd, 'socketFd');
  if (!(data instanceof Uint8Array) || data.length === 0) {
    throw new TransportError('ERR_BAD_ARGUMENT', 'data must be a non-empty Uint8Array');
  }
  if (!Array.isArray(fds) || fds.length > MAX_FDS_PER_MESSAGE) {
    throw new TransportError(
      'ERR_BAD_ARGUMENT',
      `fds must be an array of at most ${MAX_FDS_PER_MESSAGE} file descriptors`,
    );
  }
  fds.forEach((fd, i) => checkFd(fd, `fds[${i}]`));
  const addon = loadAddon();
  return callNative(() => addon.sendFds(socketFd, data, fds));
}

/**
 * Reads up to `maxData` bytes and up to `maxFds` fds (received close-on-exec) without
 * blocking; `undefined` when nothing is pending.
 */
export function recvWithFds(
  socketFd: number,
  maxData: number,
  maxFds: number,
): ReceivedMessage | undefined {
  checkFd(socketFd, 'socketFd');
  if (!Number.isInteger(maxData) || maxData < 1 || maxData > 1 << 24) {
    throw new TransportError('ERR_BAD_ARGUMENT', 'maxData must be an integer in 1..16777216');
  }
  if (!Number.isInteger(maxFds) || maxFds < 0 || maxFds > MAX_FDS_PER_MESSAGE) {
    throw new TransportError(
      'ERR_BAD_ARGUMENT',
      `maxFds must be an integer in 0..${MAX_FDS_PER_MESSAGE}`,
    );
  }
  const addon = loadAddon();
  return callNative(() => addon.recvWithFds(socketFd, maxData, maxFds));
}

/**
 * Creates a connected pair of non-blocking AF_UNIX sockets.
 *
 * Use it to hand one end to a child process (as a `stdio` entry of `child_process.spawn`) or
 * for in-process tests of fd passing.
 */
export function unixSocketPair(type: UnixSocketType = 'stream'): [number, number] {
  const addon = loadAddon();
  return callNative(() => addon.unixSocketPair(type));
}

/** Credentials of the process at the other end of a connected AF_UNIX socket (SO_PEERCRED). */
export function unixPeerCredentials(socketFd: number): { pid: number; uid: number; gid: number } {
  checkFd(socketFd, 'socketFd');
  const addon = loadAddon();
  return callNative(() => addon.unixPeerCred(socketFd));
}
