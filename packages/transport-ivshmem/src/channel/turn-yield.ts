// How a channel's receive loop lets the app run between the batches it dispatches.
// The module's binding: the global `performance` is an accessor, a getter call on every read.
import { performance } from 'node:perf_hooks';

/**
 * Longest a receive loop goes on dispatching batch after batch before it takes a whole turn of
 * the event loop, so that timers (the heartbeat, call deadlines) and I/O run under sustained
 * traffic, in ms.
 */
export const EVENT_LOOP_TURN_EVERY_MS = 1;

/**
 * Batches between two looks at the clock. A clock read costs as much as a small record's
 * whole dispatch on some virtual machines (docs/performance.md §5), so the time since the last
 * turn is read every this many batches only; between two reads the loop either dispatches (a
 * few µs per batch) or has taken a turn already (a spin that runs out of budget, or a park).
 */
const BATCHES_PER_CLOCK_READ = 16;

/**
 * The pause a receive loop takes after dispatching a batch, before it spins or parks again.
 *
 * Handlers resolve promises whose continuations (an awaited call, the next request it sends)
 * are microtasks that a synchronous spin would starve, so the loop must let them run first. A
 * `process.nextTick` does exactly that: Node runs it once the microtask queue is empty,
 * including every microtask those continuations queue in turn. It costs no event-loop turn,
 * which a `setImmediate` does (timers, an `epoll_wait`, the check phase): on the full path's
 * spin round trip that turn, taken by both processes after every batch, was about as long as
 * the round trip itself (docs/performance.md §5). At least once every
 * {@link EVENT_LOOP_TURN_EVERY_MS}, and after a batch cut short at the per-turn record bound,
 * the pause is a whole event-loop turn (the time is looked at every
 * {@link BATCHES_PER_CLOCK_READ} batches).
 */
export class TurnYield {
  /** `performance.now()` of the last whole event-loop turn taken. */
  #lastTurn = 0;
  #batches = 0;

  /** Resolves once the app's queued continuations ran (and, now and then, the event loop). */
  afterBatch(cutShort: boolean): Promise<void> {
    this.#batches = (this.#batches + 1) % BATCHES_PER_CLOCK_READ;
    if (cutShort || (this.#batches === 0 && this.#turnDue())) {
      this.#lastTurn = performance.now();
      return new Promise<void>((resolve) => setImmediate(resolve));
    }
    return new Promise<void>((resolve) => process.nextTick(resolve));
  }

  #turnDue(): boolean {
    return performance.now() - this.#lastTurn >= EVENT_LOOP_TURN_EVERY_MS;
  }
}
