import type { DeviceFile } from '../device/channel-device.js';
import type { Waker } from '../notify/waker.js';

/**
 * A VM's doorbells, routed per channel (docs/protocol.md §7): each channel's grant names its
 * route — the peer VM's doorbell id, the vectors it may ring there and the own vectors it may
 * observe — and a channel's {@link Waker} rings and sleeps on exactly those, through the device
 * file that holds the grant. Two implementations share this surface, and the runtime picks one
 * by mode: {@link EmulatedDoorbells} (hostd's ivshmem server, emulated mode, the route enforced
 * in user space as EmulatedDevice enforces grants) and {@link KernelDoorbells} (the guest's
 * ivshmem-doorbell device through sivshm.ko, which enforces the route).
 *
 * A VM has few vectors (hostd gives each channel the one its two VMs use least), so channels can
 * share one: a ring means "look at your ring"; a woken channel re-checks its own ring (one
 * `Atomics.load`) and parks again if it has nothing. A doorbell is a hint: a spurious ring costs
 * one load, a lost one is impossible (see {@link SharedVector}).
 */
export interface Doorbells {
  /** This VM's doorbell id: what its peers ring (hostd learns it as DoorbellId). */
  readonly id: number;
  /** Doorbells received on the vectors of this VM's granted files so far. */
  readonly received: number;
  /** Rings that were not sent: no live grant of the file routes them (or the device refused). */
  readonly ringFailures: number;
  /**
   * A waker for the channel granted on `file`: `wake()` rings every (peer, vector) the file's
   * live grants route, `wait()` sleeps until a vector they observe is rung. Before the grant is
   * presented, and after it is revoked, it rings nobody and hears nothing.
   */
  waker(file: DeviceFile): Waker;
  /** Stops listening and releases every doorbell resource; pending waits resolve false. */
  close(): void;
}
