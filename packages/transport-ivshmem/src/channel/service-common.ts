// What the typed service ends share: the service address, SOME/IP return codes, id checks.
import { TransportError } from '../errors/transport-error.js';

/** Which SOME/IP service a channel carries, and who we are on it. */
export interface ServiceAddress {
  readonly service: number;
  /** Interface (major) version carried in every header. */
  readonly major: number;
  /** Client id of the consumer side (request ids = client << 16 | session). */
  readonly client: number;
}

/** SOME/IP return codes used here (PRS_SOMEIP_00191). */
export const ReturnCode = { ok: 0x00, notOk: 0x01, unknownMethod: 0x03, notReady: 0x04 } as const;

/** Longest error text sent in, or read from, an ERROR answer. */
export const MAX_ERROR_TEXT = 512;

export function isPromiseLike<T>(v: T | PromiseLike<T>): v is PromiseLike<T> {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}

export function checkEventId(id: number): void {
  if (!Number.isInteger(id) || id < 0x8000 || id > 0xfffe) {
    throw new TransportError(
      'ERR_BAD_ARGUMENT',
      `event id 0x${id.toString(16)} is not in 0x8000..0xFFFE`,
    );
  }
}

export function checkMethodId(id: number): void {
  if (!Number.isInteger(id) || id < 0x0001 || id > 0x7fff) {
    throw new TransportError(
      'ERR_BAD_ARGUMENT',
      `method id 0x${id.toString(16)} is not in 0x0001..0x7FFF`,
    );
  }
}
