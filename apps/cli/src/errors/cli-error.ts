import { SivshmError } from '@sivshm/core';

/**
 * Reasons a `sivshm` command refuses to go on:
 * - `ERR_USAGE`: the command line itself is wrong (exit 2, like commander's own usage errors);
 * - `ERR_INPUT`: a file or argument the command reads does not hold what it must;
 * - `ERR_IO`: a file or directory cannot be read, created or written;
 * - `ERR_REFUSED`: the request is well formed but would do something wrong (e.g. revoke a serial
 *   the CA never issued);
 * - `ERR_HOSTD`: the running hostd cannot be reached or answered something unusable.
 */
export type CliErrorCode = 'ERR_USAGE' | 'ERR_INPUT' | 'ERR_IO' | 'ERR_REFUSED' | 'ERR_HOSTD';

/** The one error class of the `sivshm` command line. */
export class CliError extends SivshmError<CliErrorCode> {
  static readonly brand = Symbol.for('sivshm.CliError');

  /** True for a `CliError` from any copy of this package. */
  static is(e: unknown): e is CliError {
    return SivshmError.hasBrand(e, CliError.brand);
  }

  constructor(code: CliErrorCode, message: string, options?: ErrorOptions) {
    super(CliError.brand, 'CliError', code, message, options);
  }
}
