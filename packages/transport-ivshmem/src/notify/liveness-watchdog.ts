import { TransportError } from '../errors/transport-error.js';

/** Options of {@link LivenessWatchdog}. */
export interface LivenessWatchdogOptions {
  /** Reads the peer's heartbeat counter (e.g. `() => consumer.peerProgress()`). */
  readonly readHeartbeat: () => number;
  /** The stated bound: a heartbeat unchanged for longer than this means the peer is gone (ms, default 1000). */
  readonly staleAfterMs?: number;
  /** Monotonic clock in ms; injectable for tests (default `performance.now`). */
  readonly now?: () => number;
}

/**
 * Decides whether the peer of a ring is alive from its heartbeat counter.
 *
 * The producer bumps its heartbeat every {@link DEFAULT_HEARTBEAT_INTERVAL_MS} ms (a
 * `HeartbeatTimer`); the watchdog remembers when it last saw the value change and reports
 * the peer gone once it stayed the same for more than `staleAfterMs` (default 1000 ms = ten
 * missed beats, tolerant of GC pauses and a loaded 2-vCPU host). Inter-VM there is no kernel
 * to tell us a peer died, so the heartbeat in shared memory is the signal (docs/architecture.md §8); hostd
 * can also declare a peer gone directly ({@link LivenessWatchdog.declareGone}).
 *
 * It is checked by whoever waits on the ring (a `RingWaiter`), i.e. exactly while work is
 * pending; an idle ring costs nothing.
 *
 * @example
 * ```ts
 * declare const consumer: RingConsumer, waker: Waker;
 * const watchdog = new LivenessWatchdog({ readHeartbeat: () => consumer.peerProgress() });
 * const waiter = new RingWaiter(consumer, { waker, watchdog });
 * ```
 */
export class LivenessWatchdog {
  /** The stated bound in ms. */
  readonly staleAfterMs: number;
  readonly #read: () => number;
  readonly #now: () => number;
  #last: number;
  #lastChange: number;
  #gone = false;

  constructor(options: LivenessWatchdogOptions) {
    const stale = options.staleAfterMs ?? 1000;
    if (!Number.isFinite(stale) || stale < DEFAULT_HEARTBEAT_INTERVAL_MS * 2) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        `staleAfterMs ${stale} must be at least two heartbeat intervals (${DEFAULT_HEARTBEAT_INTERVAL_MS * 2} ms)`,
      );
    }
    this.staleAfterMs = stale;
    this.#read = options.readHeartbeat;
    this.#now = options.now ?? (() => performance.now());
    this.#last = this.#read();
    this.#lastChange = this.#now();
  }

  /** True while the peer counts as alive; false once its heartbeat stalled beyond the bound. */
  check(): boolean {
    if (this.#gone) return false;
    const beat = this.#read();
    const now = this.#now();
    if (beat !== this.#last) {
      this.#last = beat;
      this.#lastChange = now;
      return true;
    }
    if (now - this.#lastChange > this.staleAfterMs) this.#gone = true;
    return !this.#gone;
  }

  /** Marks the peer gone now (hostd said so); {@link check} returns false from then on. */
  declareGone(): void {
    this.#gone = true;
  }
}

/** How often a `HeartbeatTimer` bumps the heartbeat by default (ms). */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 100;
