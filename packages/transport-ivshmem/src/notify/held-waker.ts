import type { PendingProbe, Waker } from './waker.js';

/**
 * A {@link Waker} whose rings can be held back and merged: between `hold()` and `release()`,
 * `wake()` only marks a ring as due, and `release()` rings once. Outside a hold it rings at once.
 *
 * A `Channel` holds its doorbell to the peer while it dispatches a received batch, so whatever
 * the handlers send in reply — a method handler that publishes an event and then returns its
 * response is the common case — reaches a parked peer with one doorbell. Ringing at the first
 * record wakes the peer for that record alone; the peer handles it, parks again, and the
 * response needs a second doorbell and a second wake-up. In the demo (hostd and two VM
 * processes, one call a second) that second wake-up was a third of the round trip, because the
 * woken caller pre-empted the provider on the vCPU they shared (docs/performance.md §5). Sends made outside a hold
 * (an app's call, a timer's publish) ring at once, so no doorbell waits for unrelated work.
 *
 * `close()` releases first, so a due ring (a producer's close) is never lost.
 *
 * @example
 * ```ts
 * declare const peerWaker: Waker;
 * declare const views: RingViews;
 * declare const eventHeader: SomeIpHeader, responseHeader: SomeIpHeader;
 * declare const event: Uint8Array, response: Uint8Array;
 * const doorbell = new HeldWaker(peerWaker);
 * const producer = new RingProducer(views, { waker: doorbell });
 * doorbell.hold();
 * producer.sendCopy(eventHeader, event);       // no ring yet
 * producer.sendCopy(responseHeader, response);
 * doorbell.release();                          // one ring for both
 * ```
 */
export class HeldWaker implements Waker {
  readonly #inner: Waker;
  #held = false;
  #due = false;

  constructor(inner: Waker) {
    this.#inner = inner;
  }

  /** Holds rings back until {@link release}. */
  hold(): void {
    this.#held = true;
  }

  /** Ends the hold; rings once if any `wake()` came during it. */
  release(): void {
    this.#held = false;
    if (!this.#due) return;
    this.#due = false;
    this.#inner.wake();
  }

  wake(): void {
    if (this.#held) this.#due = true;
    else this.#inner.wake();
  }

  wait(timeoutMs: number, ring?: PendingProbe): Promise<boolean> {
    return this.#inner.wait(timeoutMs, ring);
  }

  close(): void {
    this.release();
    this.#inner.close();
  }
}
