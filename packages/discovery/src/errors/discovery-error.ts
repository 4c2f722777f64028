import { SivshmError } from '@sivshm/core';

/** Reasons `@sivshm/discovery` fails; see each throw site for the exact condition. */
export type DiscoveryErrorCode =
  /** Fewer bytes than a field or a declared length needs. */
  | 'ERR_SD_TRUNCATED'
  /** A SOME/IP header field that SD fixes (message id, client, versions, type, code) is wrong. */
  | 'ERR_SD_HEADER'
  /** A length field disagrees with the bytes it describes. */
  | 'ERR_SD_LENGTH'
  /** An entry is not one SD knows (type) or breaks a rule of its format. */
  | 'ERR_SD_ENTRY'
  /** An option is malformed (wrong length for its type, bad protocol, bad string). */
  | 'ERR_SD_OPTION'
  /** A message handed to the encoder breaks a rule of the specification. */
  | 'ERR_SD_ENCODE'
  /** A caller passed an argument outside the allowed range. */
  | 'ERR_SD_INPUT'
  /** A JSON document does not have the documented shape. */
  | 'ERR_SD_JSON'
  /** The SD runtime was used after `stop()` or in a state that forbids the call. */
  | 'ERR_SD_STATE'
  /** A transport could not send or bind. */
  | 'ERR_SD_TRANSPORT';

/**
 * The one error class of `@sivshm/discovery`.
 *
 * Decoding errors carry `offset`, the byte (from the start of the SOME/IP message) where the
 * problem was found; the message repeats it for people.
 *
 * @example
 * ```ts
 * declare const bytes: Uint8Array;
 * try {
 *   decodeSdMessage(bytes);
 * } catch (e) {
 *   if (DiscoveryError.is(e)) console.warn(e.code, e.offset);
 * }
 * ```
 */
export class DiscoveryError extends SivshmError<DiscoveryErrorCode> {
  static readonly brand = Symbol.for('sivshm.DiscoveryError');

  /** Byte offset of the fault within the SD message, when the error comes from decoding. */
  readonly offset: number | undefined;

  /** True for a `DiscoveryError` from any copy of this package. */
  static is(e: unknown): e is DiscoveryError {
    return SivshmError.hasBrand(e, DiscoveryError.brand);
  }

  constructor(
    code: DiscoveryErrorCode,
    message: string,
    options?: ErrorOptions & { offset?: number },
  ) {
    super(DiscoveryError.brand, 'DiscoveryError', code, message, options);
    this.offset = options?.offset;
  }

  /** A decoding error at `offset`: the message names the byte and the reason. */
  static at(code: DiscoveryErrorCode, offset: number, why: string): DiscoveryError {
    return new DiscoveryError(code, `SD byte ${offset}: ${why}`, { offset });
  }
}
