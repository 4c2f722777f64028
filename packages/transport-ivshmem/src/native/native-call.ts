import { constants } from 'node:os';
import { TransportError } from '../errors/transport-error.js';

const errnoNames = new Map<number, string>(
  Object.entries(constants.errno).map(([name, no]) => [no, name]),
);

/** Symbolic name of a positive errno (`"EBADF"`), or `"errno N"` if unknown. */
export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `errno ${errno}`;
}

/** A `TransportError('ERR_SYSCALL')` for a failure reported as a bare errno. */
export function syscallError(syscall: string, errno: number, detail = ''): TransportError {
  const name = errnoName(errno);
  return new TransportError(
    'ERR_SYSCALL',
    `${syscall} failed: ${name}${detail === '' ? '' : ` (${detail})`}`,
    { syscall: { syscall, errno, errnoName: name } },
  );
}

interface NativeErrorShape {
  message: string;
  code?: unknown;
  errno?: unknown;
  syscall?: unknown;
}

/**
 * Converts an error thrown by the addon into a `TransportError`: `ERR_SYSCALL` (with errno,
 * errno name and syscall) for failed system calls, `ERR_BAD_ARGUMENT` for rejected arguments,
 * `ERR_CRYPTO` when the crypto library failed.
 */
export function toTransportError(e: unknown): unknown {
  if (TransportError.is(e) || typeof e !== 'object' || e === null) return e;
  const n = e as NativeErrorShape;
  if (typeof n.syscall === 'string' && typeof n.errno === 'number') {
    const errnoName = typeof n.code === 'string' ? n.code : `errno ${n.errno}`;
    return new TransportError('ERR_SYSCALL', n.message, {
      cause: e,
      syscall: { syscall: n.syscall, errno: n.errno, errnoName },
    });
  }
  if (n.code === 'ERR_BAD_ARGUMENT' || n.code === 'ERR_CRYPTO') {
    return new TransportError(n.code, n.message, { cause: e });
  }
  return e;
}

/** Runs a native call and rethrows its failure as a `TransportError`. */
export function callNative<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw toTransportError(e);
  }
}
