import type { Waker } from './waker.js';

/**
 * A {@link Waker} that rings its inner doorbell at most once per JavaScript turn: `wake()` only
 * marks a ring as due, and a microtask rings once when the current synchronous work is done.
 *
 * Use it on the producer side of a channel whose sends come in groups from one piece of code —
 * a method handler that publishes an event and then returns its response is the common case.
 * Ringing at the first record wakes the peer for that record alone; the peer handles it, parks
 * again, and the response then needs a second doorbell and a second wake-up (on a machine that
 * runs both peers on one vCPU, the woken peer even pre-empts the producer before it has sent
 * the response). Deferred to the end of the turn, one doorbell carries every record of the
 * turn, at the cost of one microtask hop for a lone record.
 *
 * `close()` rings a ring that is still due before closing the inner waker, so the last
 * doorbell (a producer's close) is never lost.
 *
 * @example
 * ```ts
 * const producer = new RingProducer(views, { waker: new TurnWaker(peerWaker) });
 * ```
 */
export class TurnWaker implements Waker {
  readonly #inner: Waker;
  #due = false;
  readonly #ring = (): void => {
    if (!this.#due) return;
    this.#due = false;
    this.#inner.wake();
  };

  constructor(inner: Waker) {
    this.#inner = inner;
  }

  wake(): void {
    if (this.#due) return;
    this.#due = true;
    queueMicrotask(this.#ring);
  }

  wait(timeoutMs: number): Promise<boolean> {
    return this.#inner.wait(timeoutMs);
  }

  close(): void {
    this.#ring();
    this.#inner.close();
  }
}
