import type { Waker } from '../notify/waker.js';

/**
 * A VM's doorbells: one own vector that every channel of the VM sleeps on, and rings to a
 * channel's peer. Two implementations share this surface, and the runtime picks one by mode:
 * {@link EmulatedDoorbells} (hostd's ivshmem server, emulated mode) and {@link KernelDoorbells}
 * (the guest's ivshmem-doorbell device through sivshm.ko, qemu mode).
 *
 * Why every channel shares one vector: ivshmem hands a VM vectors, not one per channel, so a
 * ring means "look at your rings"; a woken channel re-checks its own ring (one `Atomics.load`)
 * and parks again if it has nothing. A doorbell is a hint: a spurious ring costs one load, a
 * lost one is impossible (see {@link SharedVector}).
 */
export interface Doorbells {
  /** This VM's doorbell id: what its peers ring (hostd learns it as DoorbellId). */
  readonly id: number;
  /** Doorbells received on the own vector so far. */
  readonly received: number;
  /**
   * A waker for one channel: `wake()` rings the channel's peer `peerId` (every peer when it is
   * undefined: spurious wake-ups elsewhere, never a lost one), `wait()` sleeps on the own vector.
   */
  waker(peerId?: number): Waker;
  /** Stops listening and releases every doorbell resource; pending waits resolve false. */
  close(): void;
}
