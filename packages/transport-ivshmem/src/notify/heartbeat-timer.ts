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
 * declare const producer: HeartbeatSource; // a RingProducer
 * const hb = new HeartbeatTimer(producer).start();
 * // …
 * hb.stop();
 * ```
 */
export class HeartbeatTimer {
  readonly #source: HeartbeatSource;
  readonly #intervalMs: number;
  #running = false;

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
    if (this.#running) return this;
    this.#running = true;
    this.#source.beat();
    SharedTicker.for(this.#intervalMs).add(this.#source);
    return this;
  }

  /** Stops beating (the peer will declare this side gone after its bound). */
  stop(): void {
    if (!this.#running) return;
    this.#running = false;
    SharedTicker.for(this.#intervalMs).delete(this.#source);
  }
}

/**
 * One unref'd interval timer per period, shared by every heartbeat timer of that period: a process
 * with hundreds of idle channels pays one timer, not one each (JS heap per idle channel).
 */
class SharedTicker {
  static readonly #byPeriod = new Map<number, SharedTicker>();
  readonly #sources = new Set<HeartbeatSource>();
  #timer: NodeJS.Timeout | undefined;

  private constructor(private readonly periodMs: number) {}

  static for(periodMs: number): SharedTicker {
    let t = SharedTicker.#byPeriod.get(periodMs);
    if (t === undefined) {
      t = new SharedTicker(periodMs);
      SharedTicker.#byPeriod.set(periodMs, t);
    }
    return t;
  }

  add(source: HeartbeatSource): void {
    this.#sources.add(source);
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => {
        for (const s of this.#sources) {
          try {
            s.beat();
          } catch {
            // One broken source (a closed ring) must not stop the others' heartbeats.
            this.#sources.delete(s);
          }
        }
      }, this.periodMs);
      this.#timer.unref();
    }
  }

  delete(source: HeartbeatSource): void {
    this.#sources.delete(source);
    if (this.#sources.size === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }
}
