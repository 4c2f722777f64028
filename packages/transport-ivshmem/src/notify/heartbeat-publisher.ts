import { TransportError } from '../errors/transport-error.js';
import { DEFAULT_HEARTBEAT_INTERVAL_MS } from './liveness-watchdog.js';

/** Anything with a heartbeat word to bump (a `RingProducer`). */
export interface HeartbeatSource {
  beat(): void;
}

/**
 * Bumps a producer's heartbeat on a timer so the peer's {@link LivenessWatchdog} knows this
 * process is alive even when it sends nothing.
 *
 * The timer is `unref()`ed: it never keeps a process alive. It only runs while the event loop
 * turns, which is the point: a process stuck in a loop that never yields is as useless to its
 * peer as a dead one. `RingWaiter` spins are bounded, so they never starve it.
 *
 * @example
 * ```ts
 * const hb = new HeartbeatPublisher(producer).start();
 * // …
 * hb.stop();
 * ```
 */
export class HeartbeatPublisher {
  readonly #source: HeartbeatSource;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(source: HeartbeatSource, intervalMs: number = DEFAULT_HEARTBEAT_INTERVAL_MS) {
    if (!Number.isFinite(intervalMs) || intervalMs < 1 || intervalMs > 60_000) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        `heartbeat interval ${intervalMs} ms is out of range 1..60000`,
      );
    }
    this.#source = source;
    this.#intervalMs = intervalMs;
  }

  /** Beats once now and then every interval; idempotent. */
  start(): this {
    if (this.#timer !== undefined) return this;
    this.#source.beat();
    this.#timer = setInterval(() => this.#source.beat(), this.#intervalMs);
    this.#timer.unref();
    return this;
  }

  /** Stops beating (the peer will declare this side gone after its bound). */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
