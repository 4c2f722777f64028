/** A sample that was garbage-collected without `release()`, as reported by a {@link SampleLedger}. */
export interface SampleLeak {
  /** What the sample was (message type and SOME/IP ids when known). */
  readonly description: string;
  /** Where it was created, when the ledger captures stacks. */
  readonly stack: string | undefined;
}

/** Options of {@link SampleLedger}. */
export interface SampleLedgerOptions {
  /** Record the creation stack of every sample (costly: for debugging a leak). */
  readonly captureStacks?: boolean;
  /** Called for each sample collected without `release()`. */
  readonly onLeak?: (leak: SampleLeak) => void;
}

/**
 * Counts live samples and reports those that were dropped without `release()`.
 *
 * Use one per subscriber (or per node) and pass it in `SampleOptions.ledger`. A sample that is
 * never released keeps its ring record held, so the ring stalls; `live` shows it at once, and
 * a `FinalizationRegistry` reports the sample through `onLeak` once the garbage collector has
 * collected it (some time after it became unreachable, or never if the process exits first).
 *
 * @example
 * ```ts
 * declare const msg: object, consumer: RingConsumer;
 * const ledger = new SampleLedger({ onLeak: (l) => console.warn(`sample leaked: ${l.description}`) });
 * const sample = new Sample(msg, { ledger, onRelease: () => consumer.release() });
 * ```
 */
export class SampleLedger {
  #live = 0;
  #released = 0;
  #leaked = 0;
  readonly #captureStacks: boolean;
  readonly #onLeak: ((leak: SampleLeak) => void) | undefined;
  readonly #registry: FinalizationRegistry<SampleLeak>;

  constructor(options: SampleLedgerOptions = {}) {
    this.#captureStacks = options.captureStacks ?? false;
    this.#onLeak = options.onLeak;
    this.#registry = new FinalizationRegistry((leak) => {
      this.#live--;
      this.#leaked++;
      this.#onLeak?.(leak);
    });
  }

  /** Samples created and neither released nor collected. */
  get live(): number {
    return this.#live;
  }

  /** Samples released so far. */
  get released(): number {
    return this.#released;
  }

  /** Samples collected without `release()` so far. */
  get leaked(): number {
    return this.#leaked;
  }

  /** @internal Starts watching `sample`; `token` later stops it. */
  track(sample: object, token: object, description: string): void {
    const stack = this.#captureStacks ? new Error('sample created here').stack : undefined;
    this.#registry.register(sample, { description, stack }, token);
    this.#live++;
  }

  /** @internal The sample registered with `token` was released. */
  untrack(token: object): void {
    if (this.#registry.unregister(token)) {
      this.#live--;
      this.#released++;
    }
  }
}
