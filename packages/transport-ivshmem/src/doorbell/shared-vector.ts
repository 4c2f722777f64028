import type { Waker } from '../notify/waker.js';

/**
 * One doorbell vector that every channel of a VM sleeps on (ivshmem gives a VM vectors, not one
 * per channel): `rang()` on each doorbell wakes every parked channel, and each channel's
 * {@link Waker} comes from `waker(ring)`, whose `wake()` is the given ring to the peer.
 *
 * A woken channel re-checks its own ring and parks again if it had nothing, so a doorbell
 * meant for another channel costs one load there, never a lost wake-up: a ring that arrives
 * between two waits of a channel is seen by the next one (a counter, not an edge).
 *
 * Shared by both `Doorbells`: `EmulatedDoorbells` (an ivshmem server's eventfds) and
 * `KernelDoorbells` (sivshm.ko's interrupt counts).
 */
export class SharedVector {
  readonly #sleepers = new Set<(rung: boolean) => void>();
  #rung = 0;

  /** A doorbell arrived on the vector: every waiting channel wakes. */
  rang(): void {
    this.#rung++;
    for (const s of [...this.#sleepers]) s(true);
    this.#sleepers.clear();
  }

  /** The vector's source closed: every pending wait resolves false. */
  close(): void {
    for (const s of [...this.#sleepers]) s(false);
    this.#sleepers.clear();
  }

  /**
   * A waker for one channel: `wake()` calls `ring` (unless `canRing()` says the source is gone
   * or the waker was closed), `wait()` sleeps until the vector is rung or `timeoutMs` passed.
   */
  waker(ring: () => void, canRing: () => boolean = () => true): Waker {
    let seen = this.#rung;
    let closed = false;
    let pending: ((rung: boolean) => void) | undefined;
    return {
      wake: () => {
        if (!closed && canRing()) ring();
      },
      wait: (timeoutMs) => {
        if (closed) return Promise.resolve(false);
        if (this.#rung !== seen) {
          seen = this.#rung;
          return Promise.resolve(true);
        }
        return new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => finish(false), timeoutMs);
          const finish = (rung: boolean): void => {
            clearTimeout(timer);
            this.#sleepers.delete(finish);
            pending = undefined;
            seen = this.#rung;
            resolve(rung);
          };
          pending = finish;
          this.#sleepers.add(finish);
        });
      },
      close: () => {
        closed = true;
        pending?.(false);
      },
    };
  }
}
