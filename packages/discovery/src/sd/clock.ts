/** A pending timer; `cancel()` is idempotent. */
export interface SdTimer {
  cancel(): void;
}

/**
 * Time as the SD state machines see it: milliseconds and one-shot timers. Inject
 * `systemClock` in production and a `VirtualClock` in tests, so that phases, TTLs and
 * repetitions are tested without real sleeps.
 */
export interface SdClock {
  /** Milliseconds on a monotonic scale. */
  now(): number;
  /** Calls `fn` once after `ms` milliseconds unless cancelled. */
  setTimer(ms: number, fn: () => void): SdTimer;
}

/** The real clock: `performance.now()` and Node timers (unref'd so they never hold the process). */
export const systemClock: SdClock = {
  now: () => performance.now(),
  setTimer(ms, fn) {
    const t = setTimeout(fn, ms);
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};
