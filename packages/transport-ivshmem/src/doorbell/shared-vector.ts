import { TransportError } from '../errors/transport-error.js';
import type { PendingProbe, Waker } from '../notify/waker.js';

/** A channel's place on the vector, made once per waker: how its parked wait ends, and its ring. */
interface Sleeper {
  readonly finish: (rung: boolean) => void;
  /** The ring the current park waits on (see {@link Waker.wait}). */
  ring: PendingProbe | undefined;
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
    // No copy: finish removes its own entry (a Set walk allows that), and waking only resolves
    // promises, so nothing is added meanwhile.
    for (const s of this.#sleepers) {
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
    // One park at a time per channel: its resolve and timer live here, and the sleeper and its
    // finish are made once, so a park costs a promise and a timer, no closures.
    let resolvePark: ((rung: boolean) => void) | undefined;
    let timer: NodeJS.Timeout | undefined;
    const sleeper: Sleeper = {
      finish: (rung) => {
        const resolve = resolvePark;
        if (resolve === undefined) return;
        clearTimeout(timer);
        this.#sleepers.delete(sleeper);
        resolvePark = undefined;
        timer = undefined;
        sleeper.ring = undefined;
        seen = this.#rung;
        resolve(rung);
      },
      ring: undefined,
    };
    return {
      wake: () => {
        if (!closed && canRing()) ring();
      },
      wait: (timeoutMs, ringOf) => {
        if (closed) return Promise.resolve(false);
        if (resolvePark !== undefined) {
          return Promise.reject(
            new TransportError('ERR_BAD_ARGUMENT', 'a shared-vector wait is already pending'),
          );
        }
        if (this.#rung !== seen) {
          seen = this.#rung;
          // Rung since the last wait: for this channel only if its ring shows something.
          if (ringOf === undefined || ringOf.hasPending()) return Promise.resolve(true);
        }
        return new Promise<boolean>((resolve) => {
          resolvePark = resolve;
          sleeper.ring = ringOf;
          timer = setTimeout(sleeper.finish, timeoutMs, false);
          this.#sleepers.add(sleeper);
        });
      },
      close: () => {
        closed = true;
        sleeper.finish(false);
      },
    };
  }
}
