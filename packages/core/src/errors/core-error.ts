import { SivshmError } from './sivshm-error.js';

/** Reasons `@sivshm/core` fails; see each throw site for the exact condition. */
export type CoreErrorCode =
  | 'ERR_CRYPTO_INPUT'
  | 'ERR_CRYPTO_VERIFY'
  | 'ERR_ZERO_SHARED_SECRET'
  | 'ERR_DECODE'
  | 'ERR_NON_CANONICAL'
  | 'ERR_CERT_INVALID'
  | 'ERR_CERT_EXPIRED'
  | 'ERR_CERT_EPOCH'
  | 'ERR_CERT_REVOKED'
  | 'ERR_CERT_RIGHTS'
  | 'ERR_BAD_KEY'
  | 'ERR_CSR_INVALID'
  | 'ERR_GRANT_INVALID'
  | 'ERR_HANDSHAKE'
  | 'ERR_FRAME'
  | 'ERR_CONFIG'
  | 'ERR_IO'
  | 'ERR_CA_LOCKED'
  | 'ERR_SELF_TEST';

/** The one error class of `@sivshm/core`. */
export class CoreError extends SivshmError<CoreErrorCode> {
  static readonly brand = Symbol.for('sivshm.CoreError');

  /** True for a `CoreError` from any copy of this package. */
  static is(e: unknown): e is CoreError {
    return SivshmError.hasBrand(e, CoreError.brand);
  }

  constructor(code: CoreErrorCode, message: string, options?: ErrorOptions) {
    super(CoreError.brand, 'CoreError', code, message, options);
  }
}
