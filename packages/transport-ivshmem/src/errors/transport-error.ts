import { SivshmError } from '@sivshm/core';

/** Reasons `@sivshm/transport-ivshmem` fails; see each throw site for the exact condition. */
export type TransportErrorCode =
  /** A system call failed; `errno` and `syscall` say which and why. */
  | 'ERR_SYSCALL'
  /** The native addon is missing or was built for another Node ABI. */
  | 'ERR_ADDON'
  /** A ring has no room for the record right now. */
  | 'ERR_RING_FULL'
  /**
   * A call was not sent: the provider takes no more requests from this channel now (it is
   * overloaded, or holds requests while its replies to this channel wait to be read). Nothing
   * was executed; the call may be retried.
   */
  | 'ERR_BUSY'
  /** The peer broke a ring invariant (index out of range, bad length, straddling record). */
  | 'ERR_RING_VIOLATION'
  /** The peer closed, crashed or stopped its heartbeat. */
  | 'ERR_PEER_GONE'
  /** The object was used after `close()` / `unmap()`. */
  | 'ERR_CLOSED'
  /** A grant token was refused or does not cover the request. */
  | 'ERR_GRANT'
  /** An operation did not finish in its time bound. */
  | 'ERR_TIMEOUT'
  /** The shared region's layout is invalid or does not match. */
  | 'ERR_REGION'
  /**
   * The region file was truncated under this process: the mapping now holds private zeros
   * where the shared pages were (the SIGBUS guard kept the process alive; sigbus-guard.ts).
   */
  | 'ERR_REGION_LOST'
  /** A public entry point got an argument outside its allowed range or type. */
  | 'ERR_BAD_ARGUMENT'
  /** A peer spoke the ivshmem-server protocol wrongly (bad version, message or fd count). */
  | 'ERR_PROTOCOL'
  /** The peer answered a method call with a SOME/IP ERROR (its message is in the text). */
  | 'ERR_REMOTE'
  /** Bytes received from a peer are not a valid encoding of the expected protobuf message. */
  | 'ERR_DECODE'
  /**
   * The crypto library (OpenSSL in the native addon) failed an operation that no input makes
   * fail, such as setting up a record cipher or sealing a record: nothing was sent. A defect of
   * the build or the machine, not of the peer; report it with the message.
   */
  | 'ERR_CRYPTO'
  /** A `mac`/`aead` record failed its tag or sequence check (`IntegrityError` says which). */
  | 'ERR_INTEGRITY'
  /**
   * A `mac`/`aead` channel sealed its last sequence number (2^53 − 1) in one direction: the
   * channel ends (`failed`) rather than reuse a nonce, and its owner re-establishes it, which
   * brings fresh keys. Nothing was sent with the refused record.
   */
  | 'ERR_SEQUENCE_EXHAUSTED';

/** Details of a failed system call, attached to `ERR_SYSCALL` errors. */
export interface SyscallFailure {
  /** Name of the call that failed, e.g. `"mmap"`. */
  readonly syscall: string;
  /** Positive errno value, e.g. 12. */
  readonly errno: number;
  /** Symbolic errno name, e.g. `"ENOMEM"`. */
  readonly errnoName: string;
}

/**
 * The one error class of `@sivshm/transport-ivshmem`.
 *
 * @example
 * ```ts
 * try { mapFile('/dev/shm/x', 0, 4096, { writable: true }); }
 * catch (e) { if (TransportError.is(e) && e.code === 'ERR_SYSCALL') console.error(e.errnoName); }
 * ```
 */
export class TransportError extends SivshmError<TransportErrorCode> {
  static readonly brand = Symbol.for('sivshm.TransportError');

  /** Name of the failed system call (only for `ERR_SYSCALL`). */
  readonly syscall: string | undefined;
  /** Positive errno (only for `ERR_SYSCALL`). */
  readonly errno: number | undefined;
  /** Symbolic errno name such as `"EBADF"` (only for `ERR_SYSCALL`). */
  readonly errnoName: string | undefined;

  /** True for a `TransportError` from any copy of this package. */
  static is(e: unknown): e is TransportError {
    return SivshmError.hasBrand(e, TransportError.brand);
  }

  constructor(
    code: TransportErrorCode,
    message: string,
    options?: ErrorOptions & { syscall?: SyscallFailure },
  ) {
    super(TransportError.brand, 'TransportError', code, message, options);
    this.syscall = options?.syscall?.syscall;
    this.errno = options?.syscall?.errno;
    this.errnoName = options?.syscall?.errnoName;
  }
}
