import { SivshmError } from '@sivshm/core';

/** Reasons `@sivshm/runtime` fails; see each throw site for the exact condition. */
export type RuntimeErrorCode =
  | 'ERR_BAD_ARGUMENT'
  | 'ERR_BAD_PAYLOAD'
  | 'ERR_TOO_LARGE'
  | 'ERR_CONFIG'
  | 'ERR_CONNECT'
  | 'ERR_ENROL'
  | 'ERR_NOT_OFFERED'
  | 'ERR_HANDSHAKE'
  | 'ERR_NO_SPACE'
  | 'ERR_PEER_GONE'
  | 'ERR_HOSTD_GONE'
  | 'ERR_REMOTE'
  | 'ERR_BUSY'
  | 'ERR_TIMEOUT'
  | 'ERR_CLOSED';

/**
 * The one error class of `@sivshm/runtime`: what went wrong between an app and hostd, with a
 * message that says what to fix.
 */
export class RuntimeError extends SivshmError<RuntimeErrorCode> {
  static readonly brand = Symbol.for('sivshm.RuntimeError');

  /** True for a `RuntimeError` from any copy of this package. */
  static is(e: unknown): e is RuntimeError {
    return SivshmError.hasBrand(e, RuntimeError.brand);
  }

  constructor(code: RuntimeErrorCode, message: string, options?: ErrorOptions) {
    super(RuntimeError.brand, 'RuntimeError', code, message, options);
  }
}
