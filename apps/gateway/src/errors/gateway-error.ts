import { SivshmError } from '@sivshm/core';

/** Reasons `@sivshm/gateway` fails; see each throw site for the exact condition. */
export type GatewayErrorCode =
  /** Command-line arguments that cannot be used. */
  | 'ERR_ARGS'
  /** A `Gateway.start` bound (peer budget, call timeout, payload size) out of its range. */
  | 'ERR_BAD_ARGUMENT'
  /** The config has no usable `gateway:` section, or it does not fit the VM given. */
  | 'ERR_CONFIG'
  /**
   * A network socket could not be opened (address not on this host, port in use), a request
   * to a network provider could not be sent, or the provider went away while it waited.
   */
  | 'ERR_NETWORK'
  /** A network provider did not answer an imported method's request within the bound. */
  | 'ERR_TIMEOUT'
  /** A network provider answered an imported method's request with an error return code. */
  | 'ERR_REMOTE'
  /** Every SOME/IP session id toward one network provider is in flight. */
  | 'ERR_BUSY';

/** The one error class of `@sivshm/gateway`. */
export class GatewayError extends SivshmError<GatewayErrorCode> {
  static readonly brand = Symbol.for('sivshm.GatewayError');

  /** True for a `GatewayError` from any copy of this package. */
  static is(e: unknown): e is GatewayError {
    return SivshmError.hasBrand(e, GatewayError.brand);
  }

  constructor(code: GatewayErrorCode, message: string, options?: ErrorOptions) {
    super(GatewayError.brand, 'GatewayError', code, message, options);
  }
}
