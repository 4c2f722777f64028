// How a channel's receive loop lets the app run between the batches it dispatches.

/**
 * Longest a receive loop goes on dispatching batch after batch before it takes a whole turn of
 * the event loop, so that timers (the heartbeat, call deadlines) and I/O run under sustained
 * traffic, in ms.
 */
export const EVENT_LOOP_TURN_EVERY_MS = 1;

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
 * the pause is a whole event-loop turn.
 */
export class TurnYield {
  /** `performance.now()` of the last whole event-loop turn taken. */
  #lastTurn = 0;

  /** Resolves once the app's queued continuations ran (and, now and then, the event loop). */
  afterBatch(cutShort: boolean): Promise<void> {
    const now = performance.now();
    if (cutShort || now - this.#lastTurn >= EVENT_LOOP_TURN_EVERY_MS) {
      this.#lastTurn = now;
      return new Promise<void>((resolve) => setImmediate(resolve));
    }
    return new Promise<void>((resolve) => process.nextTick(resolve));
  }
}
