// The module's binding: the global `performance` is an accessor, a getter call on every read.
import { performance } from 'node:perf_hooks';
import { TransportError } from '../errors/transport-error.js';
import type { RingConsumer } from '../ring/ring-consumer.js';
import type { LivenessWatchdog } from './liveness-watchdog.js';
import type { Waker } from './waker.js';

/**
 * Adaptive mode spins before parking only while records come at most this far apart. Not a
 * multiple of the spin budget: under load a parked round trip can exceed any small budget,
 * and a threshold that tight would lock a busy channel into event mode (on a loaded machine
 * back-to-back adaptive calls became several times slower; docs/performance.md §5).
 */
const HOT_GAP_MS = 1;

/** Adaptive mode does not spin for this long after this many spins in a row caught nothing. */
const SPIN_BACKOFF_MS = 10;
const FUTILE_SPINS_BEFORE_BACKOFF = 4;

/** How a consumer waits for records (docs/architecture.md §7). */
export type NotifyMode = 'spin' | 'event' | 'adaptive';

/** Options of {@link RingWaiter}. */
export interface RingWaiterOptions {
  /** Default `adaptive`. */
  readonly mode?: NotifyMode;
  /** Doorbell to sleep on; required for `event` and `adaptive`. */
  readonly waker?: Waker;
  /**
   * Busy-poll budget per turn in microseconds. `adaptive` spins this long before parking while traffic is hot
   * (default 50 µs); `spin` spins this long, then yields one event-loop turn (default 1000 µs)
   * so timers and I/O still run.
   */
  readonly spinBudgetUs?: number;
  /** Longest single sleep in `event`/`adaptive` before the ring and liveness are re-checked (ms, default 100). */
  readonly parkSliceMs?: number;
  /** Checked between sleeps; when it reports the peer gone, the consumer fails with `ERR_PEER_GONE`. */
  readonly watchdog?: LivenessWatchdog;
}

/**
 * Waits until a {@link RingConsumer} has something to receive, in one of three modes:
 *
 * - `spin`: bounded busy poll with `Atomics.load`; lowest latency, burns a core; yields to the
 *   event loop between budgets (never spins unbounded: on 2 vCPUs an unbounded spinner loses
 *   whole time slices; docs/performance.md §5).
 * - `event`: park at once and sleep on the {@link Waker}; no CPU while idle.
 * - `adaptive` (default): while records arrive within a millisecond of each other, spin for
 *   the budget before parking; at a lower rate park at once (a spin that cannot
 *   catch the next record only takes the CPU from the peer that would send it), and after
 *   four spins in a row caught nothing, park at once for the next 10 ms.
 *
 * Parking is the consumer half of the parked-flag protocol: `Atomics.store(parked = 1)`, then
 * re-load the producer index (`hasPending()`); sleep only if it did not move. The producer does
 * `Atomics.store(index)` then `Atomics.load(parked)`. Both sequentially consistent, so
 * (Dekker) one of the two always sees the other: a wake-up is never lost. The consumer clears
 * the flag when it wakes. Every sleep is bounded by `parkSliceMs`, so a missed doorbell from a
 * buggy or malicious producer costs at most one slice, and liveness is re-checked each time.
 *
 * @example
 * ```ts
 * declare const consumer: RingConsumer, waker: Waker;
 * declare function use(record: RingRecord): void;
 * const waiter = new RingWaiter(consumer, { mode: 'adaptive', waker });
 * while (await waiter.wait(1000)) {
 *   for (let r = consumer.receive(); r; r = consumer.receive()) {
 *     use(r);
 *     consumer.release();
 *   }
 *   if (consumer.failure) break;
 * }
 * ```
 */
export class RingWaiter {
  readonly #consumer: RingConsumer;
  readonly #mode: NotifyMode;
  readonly #waker: Waker | undefined;
  /** Kept in µs: usually an integer, so no boxed double per waiter (an idle channel's heap). */
  readonly #spinBudgetUs: number;
  readonly #parkSliceMs: number;
  readonly #watchdog: LivenessWatchdog | undefined;
  #readyStreak = 0;
  #streakStart = 0;
  /** `performance.now()` of the last arrival (adaptive mode). */
  #lastArrival = -(HOT_GAP_MS + 1); // far enough in the past; an integer, not a boxed -Infinity
  /** Adaptive: the last two arrivals were close enough that spinning for the next pays. */
  #hot = false;
  /** Adaptive: `performance.now()` before which no spin is tried (spins kept coming up empty). */
  #coldUntil = 0;
  /** Adaptive: spins in a row that ran out their budget. */
  #futileSpins = 0;

  constructor(consumer: RingConsumer, options: RingWaiterOptions = {}) {
    const mode = options.mode ?? 'adaptive';
    if (mode !== 'spin' && mode !== 'event' && mode !== 'adaptive') {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        `notify mode ${String(mode)} is not spin, event or adaptive`,
      );
    }
    if (mode !== 'spin' && options.waker === undefined) {
      throw new TransportError('ERR_BAD_ARGUMENT', `notify mode ${mode} needs a waker to sleep on`);
    }
    const budgetUs = options.spinBudgetUs ?? (mode === 'spin' ? 1000 : 50);
    const slice = options.parkSliceMs ?? 100;
    if (!Number.isFinite(budgetUs) || budgetUs < 0 || budgetUs > 1_000_000) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        `spinBudgetUs ${budgetUs} is out of range 0..1000000`,
      );
    }
    if (!Number.isFinite(slice) || slice < 1 || slice > 60_000) {
      throw new TransportError('ERR_BAD_ARGUMENT', `parkSliceMs ${slice} is out of range 1..60000`);
    }
    this.#consumer = consumer;
    this.#mode = mode;
    this.#waker = options.waker;
    this.#spinBudgetUs = budgetUs;
    this.#parkSliceMs = slice;
    this.#watchdog = options.watchdog;
  }

  /** The mode this waiter runs in. */
  get mode(): NotifyMode {
    return this.#mode;
  }

  /**
   * Busy-polls synchronously for at most the spin budget; true as soon as something is pending.
   * The hot path of `spin` mode: callers that can afford to block the thread for the budget
   * call this first and fall back to {@link wait}.
   */
  trySpin(): boolean {
    const c = this.#consumer;
    if (c.hasPending()) return this.#arrived();
    if (this.#mode === 'event') return false;
    if (this.#mode === 'adaptive' && !this.#hot) return false;
    // Poll before the first clock read (a clock read costs many times a poll): a
    // record that is already on its way is caught without paying for the clock at all.
    for (let i = 0; i < 64; i++) if (c.hasPending()) return this.#arrived();
    let last = performance.now();
    if (this.#mode === 'adaptive' && last < this.#coldUntil) return false;
    const until = last + this.#spinBudgetUs / 1000;
    for (;;) {
      for (let i = 0; i < 64; i++) {
        if (c.hasPending()) {
          this.#futileSpins = 0;
          return this.#arrived();
        }
      }
      const now = performance.now();
      // A gap of a millisecond between two clock reads 64 polls apart means the scheduler took
      // the CPU away: the machine is oversubscribed and spinning only steals time from the
      // peer (a contended spinner loses whole time slices; docs/performance.md §5). Stop at once.
      if (now >= until || now - last > 1) {
        // Adaptive: after several spins in a row caught nothing, stop spinning for a while.
        // When the scheduler runs both peers on one vCPU, the answer cannot come while we spin
        // — the peer waits for this very CPU — so every spin runs out and delays it by the
        // budget (back-to-back adaptive calls then ran slower than in event mode; figures in
        // docs/performance.md §5). A single miss (a GC pause in the peer) must not cost the back-off;
        // probing again after it finds out when the peers run apart again.
        if (++this.#futileSpins >= FUTILE_SPINS_BEFORE_BACKOFF) {
          this.#futileSpins = 0;
          this.#coldUntil = now + SPIN_BACKOFF_MS;
        }
        return false;
      }
      last = now;
    }
  }

  /**
   * Resolves true when the consumer has something pending (records, a close, or a failure —
   * `receive()` tells which), false when `timeoutMs` passed with nothing.
   *
   * The lowest-latency loop avoids the promise when data is already there:
   * `waiter.trySpin() || (await waiter.wait(t, { afterSpin: true }))`. A loop built that way
   * never yields under sustained traffic, so it must yield on its own now and then; plain
   * `wait()` does that for you (one event-loop turn per 10 ms of back-to-back traffic).
   */
  async wait(timeoutMs: number, options: { afterSpin?: boolean } = {}): Promise<boolean> {
    const c = this.#consumer;
    const deadline = performance.now() + timeoutMs;
    // afterSpin: the caller has just run trySpin(); go straight to parking instead of spinning
    // a second budget.
    let skipSpin = options.afterSpin === true;
    for (;;) {
      const ready = skipSpin ? c.hasPending() && this.#arrived() : this.trySpin();
      skipSpin = false;
      if (ready) {
        if (this.#shouldYield()) await new Promise<void>((resolve) => setImmediate(resolve));
        return true;
      }
      this.#readyStreak = 0;
      if (this.#checkLiveness()) return true;
      const left = deadline - performance.now();
      if (left <= 0) return false;
      if (this.#mode === 'spin') {
        await new Promise<void>((resolve) => setImmediate(resolve));
        continue;
      }
      c.setParked(true);
      if (c.hasPending()) {
        c.setParked(false);
        return this.#arrived();
      }
      try {
        // The consumer goes along: a doorbell shared with other channels wakes this park only
        // when something is pending here.
        await this.#waker!.wait(Math.min(left, this.#parkSliceMs), c);
      } finally {
        c.setParked(false);
      }
      // Never spin right after a sleep: a ring with nothing pending was meant for another
      // channel sharing the doorbell (one vector per VM), and a spin budget here delays that
      // channel — on a machine that packs both peers onto one vCPU, the peer too. Re-check
      // once and park again.
      skipSpin = true;
    }
  }

  /**
   * Notes that something was found pending; in `adaptive` mode also whether traffic is hot: the
   * gap since the previous arrival was at most {@link HOT_GAP_MS}. Only then does the next turn
   * spin before parking. A spin pays off only when the next record comes within the
   * budget; at a low rate it never does, and it burns the CPU the peer needs to answer (a
   * scheduler that packs both peers onto one vCPU — usual on a 2-vCPU machine, see
   * docs/performance.md §5 — makes the peer wait for the spinner: a provider spinning after each
   * answer keeps the woken caller off the CPU it needs).
   */
  #arrived(): true {
    if (this.#mode === 'adaptive') {
      const now = performance.now();
      this.#hot = now - this.#lastArrival <= HOT_GAP_MS;
      this.#lastArrival = now;
    }
    return true;
  }

  /**
   * Under sustained traffic `wait()` would resolve in microtasks forever and starve timers and
   * I/O (the heartbeat timer among them). After 10 ms of back-to-back ready results, yield one
   * event-loop turn. Checks the clock only every 256 ready results.
   */
  #shouldYield(): boolean {
    if ((++this.#readyStreak & 255) !== 1) return false;
    const now = performance.now();
    if (this.#readyStreak === 1) {
      this.#streakStart = now;
      return false;
    }
    if (now - this.#streakStart <= 10) return false;
    this.#readyStreak = 0;
    return true;
  }

  /** True when the watchdog just declared the peer gone (the consumer is then failed). */
  #checkLiveness(): boolean {
    const w = this.#watchdog;
    if (w === undefined || w.check()) return false;
    this.#consumer.fail(
      new TransportError(
        'ERR_PEER_GONE',
        `the producer's heartbeat stalled for more than ${w.staleAfterMs} ms`,
      ),
    );
    return true;
  }
}
