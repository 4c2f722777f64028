import { TransportError } from '../errors/transport-error.js';
import type { SomeIpHeader } from '../ring/someip-header.js';
import { GuardScope, guardScope, unwrapGuard } from './sample-guard.js';
import type { SampleLedger } from './sample-ledger.js';
import { toOwned } from './to-owned.js';

/** Options of {@link Sample}. */
export interface SampleOptions {
  /** Gives the memory back, called once by the first `release()` (e.g. `() => consumer.release()`). */
  readonly onRelease?: () => void;
  /** SOME/IP header of the record the message came from; the sample keeps a copy. */
  readonly header?: SomeIpHeader;
  /** Counts the sample and reports it if it is dropped without `release()`. */
  readonly ledger?: SampleLedger;
  /** Names the sample in leak reports, e.g. the message type. */
  readonly label?: string;
}

/**
 * A decoded message on the zero-copy receive lane: its `bytes` fields alias ring memory and
 * are valid until {@link release}.
 *
 * Use it for large payloads read once in place (`ServiceConsumer.samples`); use decoded copies
 * (`ServiceConsumer.event`, `toOwned`) for anything kept. `message` is a read-only guard over the
 * decoded object: reads of fields, nested messages, arrays, maps and `bytes` views pass through
 * while the sample lives; after `release()` every one of them throws
 * `TransportError('ERR_CLOSED')`, including through references taken earlier. The guard does not
 * cover what a caller copies out of it while it lives (numbers, strings, `toOwned()` results are
 * independent; `raw()` views and an `ArrayBuffer` from `.buffer` are not).
 *
 * @example
 * ```ts
 * declare const VehicleSignal: MessageCodec, record: RingRecord, consumer: RingConsumer;
 * declare const sink: { write(bytes: Uint8Array): void };
 * const sample = new Sample(decodeFrom<{ payload: Uint8Array }>(VehicleSignal, record.payload), {
 *   header: record.header,
 *   onRelease: () => consumer.release(),
 * });
 * try {
 *   sink.write(sample.raw(sample.message.payload));
 * } finally {
 *   sample.release();
 * }
 * ```
 */
export class Sample<T extends object = Record<string, unknown>> {
  /** Copy of the SOME/IP header of the record, if one was given; stays readable after release. */
  readonly header: Readonly<SomeIpHeader> | undefined;
  readonly #scope = new GuardScope();
  #message: T | undefined;
  #onRelease: (() => void) | undefined;
  readonly #ledger: SampleLedger | undefined;
  readonly #token = {};

  constructor(message: T, options: SampleOptions = {}) {
    if (typeof message !== 'object' || message === null) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        `a Sample wraps a decoded message object, got ${message === null ? 'null' : typeof message}`,
      );
    }
    this.#message = message;
    this.#onRelease = options.onRelease;
    this.header = options.header === undefined ? undefined : Object.freeze({ ...options.header });
    this.#ledger = options.ledger;
    this.#ledger?.track(this, this.#token, this.#describe(options.label));
  }

  /** The guarded message; throws `ERR_CLOSED` after {@link release}. */
  get message(): T {
    this.#scope.check();
    return this.#scope.wrap(this.#message as T);
  }

  /** True once {@link release} was called. */
  get released(): boolean {
    return this.#scope.released;
  }

  /**
   * Ends the sample: every guard of its message throws from now on, and the ring record is
   * given back (`onRelease`). Idempotent; only the first call releases.
   */
  release(): void {
    if (this.#scope.released) return;
    this.#scope.release();
    this.#message = undefined;
    this.#ledger?.untrack(this.#token);
    const onRelease = this.#onRelease;
    this.#onRelease = undefined;
    onRelease?.();
  }

  /** A deep copy of the message that stays valid after release (fresh `bytes`); see `toOwned`. */
  toOwned(): T {
    this.#scope.check();
    return toOwned(this.#message as T);
  }

  /**
   * The real view behind a guarded `bytes` field of this sample, for APIs that need a genuine
   * `Uint8Array` (`TextDecoder`, `crypto`, `Buffer.from`). It aliases ring memory and is NOT
   * revoked by `release()`: do not use it afterwards.
   */
  raw<V extends ArrayBufferView>(view: V): V {
    this.#scope.check();
    if (guardScope(view) !== this.#scope) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        'raw() takes a bytes view read from this sample',
      );
    }
    const raw = unwrapGuard(view);
    if (raw === undefined || !ArrayBuffer.isView(raw)) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        'raw() takes a bytes view (Uint8Array) read from this sample',
      );
    }
    return raw as V;
  }

  #describe(label: string | undefined): string {
    const h = this.header;
    const ids =
      h === undefined
        ? ''
        : ` (service 0x${h.service.toString(16)}, method/event 0x${h.method.toString(16)}, session ${h.session})`;
    return `${label ?? 'sample'}${ids}`;
  }
}
