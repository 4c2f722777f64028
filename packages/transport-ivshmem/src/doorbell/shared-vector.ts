import type { PendingProbe, Waker } from '../notify/waker.js';

/** A parked wait: how it ends, and the ring it waits on (see {@link Waker.wait}). */
interface Sleeper {
  readonly finish: (rung: boolean) => void;
  readonly ring: PendingProbe | undefined;
}

/**
 * One doorbell vector that every channel of a VM sleeps on (ivshmem gives a VM vectors, not one
 * per channel): `rang()` on each doorbell wakes the parked channels it may be for, and each
 * channel's {@link Waker} comes from `waker(ring)`, whose `wake()` is the given ring to the peer.
 *
 * A wait that names its ring (the consumer end, `Waker.wait`'s second argument) is woken only
 * when that ring has something pending: a doorbell meant for another channel costs it one look
 * at its ring, not a wake-up, a re-check and a re-park. A wait without one wakes on every
 * doorbell and re-checks itself. No wake-up is lost either way: the producer publishes before it
 * rings, so the doorbell meant for a ring finds `hasPending()` true, and a doorbell that arrives
 * between two waits of a channel is seen by the next one (a counter, not an edge).
 *
 * Shared by both `Doorbells`: `EmulatedDoorbells` (an ivshmem server's eventfds) and
 * `KernelDoorbells` (sivshm.ko's interrupt counts).
 */
export class SharedVector {
  readonly #sleepers = new Set<Sleeper>();
  #rung = 0;

  /** A doorbell arrived on the vector: every waiting channel it may be for wakes. */
  rang(): void {
    this.#rung++;
    for (const s of [...this.#sleepers]) {
      if (s.ring === undefined || s.ring.hasPending()) s.finish(true);
    }
  }

  /** The vector's source closed: every pending wait resolves false. */
  close(): void {
    for (const s of [...this.#sleepers]) s.finish(false);
    this.#sleepers.clear();
  }

  /**
   * A waker for one channel: `wake()` calls `ring` (unless `canRing()` says the source is gone
   * or the waker was closed), `wait()` sleeps until the vector is rung for it or `timeoutMs`
   * passed.
   */
  waker(ring: () => void, canRing: () => boolean = () => true): Waker {
    let seen = this.#rung;
    let closed = false;
    let sleeping: Sleeper | undefined;
    return {
      wake: () => {
        if (!closed && canRing()) ring();
      },
      wait: (timeoutMs, ring) => {
        if (closed) return Promise.resolve(false);
        if (this.#rung !== seen) {
          seen = this.#rung;
          // Rung since the last wait: for this channel only if its ring shows something.
          if (ring === undefined || ring.hasPending()) return Promise.resolve(true);
        }
        return new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => finish(false), timeoutMs);
          const finish = (rung: boolean): void => {
            clearTimeout(timer);
            this.#sleepers.delete(sleeper);
            sleeping = undefined;
            seen = this.#rung;
            resolve(rung);
          };
          const sleeper: Sleeper = { finish, ring };
          sleeping = sleeper;
          this.#sleepers.add(sleeper);
        });
      },
      close: () => {
        closed = true;
        sleeping?.finish(false);
      },
    };
  }
}
