import { DiscoveryError } from '../errors/discovery-error.js';
import type { SdClock, SdTimer } from './clock.js';

interface Pending {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
  cancelled: boolean;
}

/**
 * A clock that only moves when told: `advance(ms)` fires every timer due up to `now + ms` in
 * time order, letting promise callbacks and queued deliveries run between timers. For tests
 * of code that takes an `SdClock`.
 *
 * @example
 * ```ts
 * const transport = new MemorySdNetwork().attach('10.0.0.1');
 * const clock = new VirtualClock();
 * const agent = new SdAgent({ transport, clock });
 * await clock.advance(3000); // three seconds of SD traffic, instantly
 * ```
 */
export class VirtualClock implements SdClock {
  private t = 0;
  private seq = 0;
  private queue: Pending[] = [];

  now(): number {
    return this.t;
  }

  setTimer(ms: number, fn: () => void): SdTimer {
    const p: Pending = { at: this.t + Math.max(0, ms), seq: this.seq++, fn, cancelled: false };
    this.queue.push(p);
    return { cancel: () => void (p.cancelled = true) };
  }

  /** Number of timers not yet fired or cancelled. */
  get pendingTimers(): number {
    return this.queue.filter((p) => !p.cancelled).length;
  }

  /**
   * Moves time forward by `ms`, firing due timers in order. At most `maxTimers` fire, so a
   * timer that re-arms itself at zero delay cannot hang a test.
   */
  async advance(ms: number, maxTimers = 100_000): Promise<void> {
    const target = this.t + ms;
    await settle();
    for (let fired = 0; ; fired++) {
      this.queue = this.queue.filter((p) => !p.cancelled);
      let next: Pending | undefined;
      for (const p of this.queue) {
        if (
          p.at <= target &&
          (next === undefined || p.at < next.at || (p.at === next.at && p.seq < next.seq))
        )
          next = p;
      }
      if (next === undefined) break;
      if (fired >= maxTimers)
        throw new DiscoveryError(
          'ERR_SD_STATE',
          `VirtualClock: more than ${maxTimers} timers in one advance`,
        );
      this.queue.splice(this.queue.indexOf(next), 1);
      this.t = next.at;
      next.fn();
      await settle();
    }
    this.t = target;
    await settle();
  }
}

/** Lets queued microtasks and immediates run (promise chains of the code under test). */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>((r) => setImmediate(r));
}
