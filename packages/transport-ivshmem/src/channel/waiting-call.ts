import type protobuf from 'protobufjs';
import type { TransportError } from '../errors/transport-error.js';
import type { PendingCall } from './pending-calls.js';

/**
 * `mapError(e)`, or what it threw: a mapper that throws still rejects the call (it runs in the
 * deadline timer and the ring's receive path, where a throw would leave the call pending).
 */
export function mappedError(mapError: (e: unknown) => Error, e: unknown): unknown {
  try {
    return mapError(e);
  } catch (thrown) {
    return thrown;
  }
}

/**
 * A sent call of a `ServiceConsumer` waiting for its answer. A class, so that a call whose
 * failures a layer above maps (`CallOptions.mapError`) carries the mapping as a field and
 * `reject` is a method: no rejecting closure is made per call on the data path.
 */
export class WaitingCall implements PendingCall {
  readonly #rejectRaw: (reason: unknown) => void;
  readonly #mapError: ((e: unknown) => Error) | undefined;

  constructor(
    readonly resolve: (response: unknown) => void,
    rejectRaw: (reason: unknown) => void,
    mapError: ((e: unknown) => Error) | undefined,
    readonly deadline: number,
    readonly methodId: number,
    readonly timeoutMs: number,
    readonly responseType: protobuf.Type,
    public sent: boolean,
  ) {
    this.#rejectRaw = rejectRaw;
    this.#mapError = mapError;
  }

  /** Fails the call with `e`, mapped first when the caller gave a mapping. */
  reject(e: TransportError): void {
    const map = this.#mapError;
    this.#rejectRaw(map === undefined ? e : mappedError(map, e));
  }
}
