import { SivshmError } from '@sivshm/core';

/** Reasons `@sivshm/hostd` fails; see each throw site for the exact condition. */
export type HostdErrorCode =
  | 'ERR_ARGS'
  | 'ERR_STARTUP'
  | 'ERR_LINK'
  /** A new hello on a live link: the VM's app started over (not a fault). */
  | 'ERR_LINK_RESTART'
  | 'ERR_POLICY'
  | 'ERR_STATUS'
  /** The --metrics endpoint could not listen. */
  | 'ERR_METRICS'
  /** A VM's QEMU could not be reached over QMP, did not answer in time, or refused a command. */
  | 'ERR_QMP';

/** The one error class of `@sivshm/hostd`. */
export class HostdError extends SivshmError<HostdErrorCode> {
  static readonly brand = Symbol.for('sivshm.HostdError');

  /** True for a `HostdError` from any copy of this package. */
  static is(e: unknown): e is HostdError {
    return SivshmError.hasBrand(e, HostdError.brand);
  }

  constructor(code: HostdErrorCode, message: string, options?: ErrorOptions) {
    super(HostdError.brand, 'HostdError', code, message, options);
  }
}
