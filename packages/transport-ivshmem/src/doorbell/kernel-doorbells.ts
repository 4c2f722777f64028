import { closeSync, constants, openSync, readSync } from 'node:fs';
import { EventLayout } from '@sivshm/abi';
import { TransportError } from '../errors/transport-error.js';
import { watchReadable, type FdWatcher } from '../native/fd-watcher.js';
import type { KernelDevice } from '../device/kernel-device.js';
import type { Waker } from '../notify/waker.js';
import type { Doorbells } from './doorbells.js';
import { SharedVector } from './shared-vector.js';

/** The vector a VM is rung on for "a ring of one of your channels has records" (as in EmulatedDoorbells). */
const DATA_VECTOR = 0;
/** Event records read per `read()`: sivshm.ko reports at most one per vector (≤ 8). */
const EVENTS_PER_READ = 8;
/**
 * Peers rung when the channel's peer is not known: ivshmem servers number peers from 0 in
 * join order, and hostd's deployments are a handful of VMs.
 */
const DEFAULT_MAX_PEERS = 8;

/** Options of {@link KernelDoorbells}. */
export interface KernelDoorbellsOptions {
  /** Ring IVPositions 0..maxPeers-1 (except our own) when a waker has no peer id; default 8. */
  readonly maxPeers?: number;
}

/**
 * The qemu mode's {@link Doorbells}: a QEMU guest's, through `sivshm.ko`: the guest cannot reach
 * hostd's ivshmem server socket, but its `ivshmem-doorbell` device can — QEMU delivers the
 * peers' rings as MSI-X interrupts, which the module counts per vector.
 *
 * `wait()` is `uv_poll` on a non-blocking fd of `/dev/sivshm` plus `read()` of the interrupt
 * counts (`struct sivshm_event`), so the JS thread never blocks; `wake()` is
 * `SIVSHM_IOC_DOORBELL` to the peer's IVPosition on a file that holds a grant.
 *
 * @example
 * ```ts
 * declare const link: { send(m: { kind: 'doorbellId'; id: number }): void };
 * declare const peerIdFromHostd: number;
 * const device = new KernelDevice();
 * const doorbells = new KernelDoorbells(device);
 * link.send({ kind: 'doorbellId', id: doorbells.id });
 * const waker = doorbells.waker(peerIdFromHostd);
 * ```
 */
export class KernelDoorbells implements Doorbells {
  readonly #device: KernelDevice;
  readonly #id: number;
  readonly #vectors: number;
  readonly #maxPeers: number;
  readonly #vector = new SharedVector();
  #fd: number | undefined;
  #watcher: FdWatcher | undefined;
  /** Doorbells received on the own vector (interrupts the module counted). */
  received = 0;
  /** Rings that could not be sent (no granted file yet, or the device refused). */
  ringFailures = 0;

  constructor(device: KernelDevice, options: KernelDoorbellsOptions = {}) {
    const maxPeers = options.maxPeers ?? DEFAULT_MAX_PEERS;
    if (!Number.isInteger(maxPeers) || maxPeers < 1 || maxPeers > 0x10000) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        `maxPeers must be an integer 1..65536, got ${maxPeers}`,
      );
    }
    this.#device = device;
    this.#maxPeers = maxPeers;
    const info = device.doorbellInfo();
    this.#id = info.ivPosition;
    this.#vectors = info.vectors;
    if (this.#vectors === 0) return; // ivshmem-plain: nothing will ever ring; waits time out
    try {
      this.#fd = openSync(device.path, constants.O_RDWR | constants.O_NONBLOCK);
    } catch (e) {
      throw new TransportError(
        'ERR_SYSCALL',
        `cannot open ${device.path} for doorbells: ${(e as Error).message}`,
        { cause: e },
      );
    }
    this.#watcher = watchReadable(this.#fd, (_events, error) => this.#onReadable(error)).unref();
  }

  /** This VM's IVPosition: the id its peers ring (hostd learns it as DoorbellId). */
  get id(): number {
    return this.#id;
  }

  /** MSI-X vectors of the device; 0 on ivshmem-plain (no doorbells at all). */
  get vectors(): number {
    return this.#vectors;
  }

  /**
   * A waker for one channel: `wake()` rings peer `peerId` (every other IVPosition below
   * `maxPeers` when undefined), `wait()` sleeps on the own vector.
   */
  waker(peerId?: number): Waker {
    const ring = (id: number): void => {
      try {
        if (!this.#device.ring(id, DATA_VECTOR)) this.ringFailures++;
      } catch {
        // The device is closing or refused (a revoked grant): the peer's park slice is bounded.
        this.ringFailures++;
      }
    };
    return this.#vector.waker(
      () => {
        if (peerId !== undefined) ring(peerId);
        else for (let id = 0; id < this.#maxPeers; id++) if (id !== this.#id) ring(id);
      },
      () => this.#fd !== undefined,
    );
  }

  /** Stops watching and closes the doorbell fd; pending waits resolve false. */
  close(): void {
    this.#watcher?.stop();
    this.#watcher = undefined;
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
    this.#vector.close();
  }

  #onReadable(error: TransportError | undefined): void {
    if (error !== undefined || this.#fd === undefined) {
      this.#watcher?.stop();
      this.#watcher = undefined;
      return;
    }
    // Level-triggered: read until EAGAIN, or the watcher fires again next loop turn.
    const buf = Buffer.alloc(EventLayout.size * EVENTS_PER_READ);
    let count = 0;
    for (;;) {
      let n: number;
      try {
        n = readSync(this.#fd, buf, 0, buf.length, null);
      } catch (e) {
        // EPERM: this process holds no grant right now (sivshm.ko tells grant holders only)
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN' || code === 'EPERM') break;
        this.#watcher?.stop();
        this.#watcher = undefined;
        return;
      }
      if (n <= 0) break;
      for (let off = 0; off + EventLayout.size <= n; off += EventLayout.size) {
        if (buf.readUInt32LE(off + EventLayout.off.vector) === DATA_VECTOR) {
          count += buf.readUInt32LE(off + EventLayout.off.count);
        }
      }
    }
    if (count === 0) return;
    this.received += count;
    this.#vector.rang();
  }
}
