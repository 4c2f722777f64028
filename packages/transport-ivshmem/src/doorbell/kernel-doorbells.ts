import { readSync } from 'node:fs';
import { EventLayout } from '@sivshm/abi';
import type { DeviceFile } from '../device/channel-device.js';
import { KernelDeviceFile, type KernelDevice } from '../device/kernel-device.js';
import { TransportError } from '../errors/transport-error.js';
import { closeFd, dupFd } from '../native/fd.js';
import { watchReadable, type FdWatcher } from '../native/fd-watcher.js';
import type { Waker } from '../notify/waker.js';
import { ringTargets } from './doorbell-routes.js';
import type { Doorbells } from './doorbells.js';
import { FileVectors } from './file-vectors.js';

/** Event records read per `read()`: sivshm.ko reports at most one per vector (≤ 8). */
const EVENTS_PER_READ = 8;

/**
 * The qemu mode's {@link Doorbells}: a QEMU guest's, through `sivshm.ko`: the guest cannot reach
 * hostd's ivshmem server socket, but its `ivshmem-doorbell` device can — QEMU delivers the
 * peers' rings as MSI-X interrupts, which the module counts per vector.
 *
 * Everything goes through the channel's own granted file, because sivshm.ko routes doorbells
 * per grant: `wake()` is `SIVSHM_IOC_DOORBELL` on that file to each (peer, vector) its grant
 * names (any other pair is EPERM), and `wait()` is `uv_poll` on a duplicate of that file's fd
 * plus `read()` of the interrupt counts (`struct sivshm_event`) of the vectors its grants
 * observe — the module reports no other vector on it — so the JS thread never blocks.
 *
 * @example
 * ```ts
 * declare const link: { send(m: { kind: 'doorbellId'; id: number }): void };
 * declare const grant: { grantToken: Uint8Array; grantTag: Uint8Array };
 * const device = new KernelDevice();
 * const doorbells = new KernelDoorbells(device);
 * link.send({ kind: 'doorbellId', id: doorbells.id });
 * const file = device.open();
 * const waker = doorbells.waker(file); // rings and hears what the grant on `file` routes
 * file.presentGrant(grant.grantToken, grant.grantTag);
 * ```
 */
export class KernelDoorbells implements Doorbells {
  readonly #id: number;
  readonly #vectors: number;
  readonly #files = new FileVectors();
  #closed = false;
  /** Doorbells received on the vectors of this process's granted files (interrupts counted). */
  received = 0;
  /** Rings that could not be sent (the file's grants route nothing, or the device refused). */
  ringFailures = 0;

  constructor(device: KernelDevice) {
    const info = device.doorbellInfo();
    this.#id = info.ivPosition;
    this.#vectors = info.vectors;
  }

  /** This VM's IVPosition: the id its peers ring (hostd learns it as DoorbellId). */
  get id(): number {
    return this.#id;
  }

  /** MSI-X vectors of the device; 0 on ivshmem-plain (no doorbells at all). */
  get vectors(): number {
    return this.#vectors;
  }

  /** See {@link Doorbells.waker}; `file` must be a `KernelDevice` file. */
  waker(file: DeviceFile): Waker {
    if (!(file instanceof KernelDeviceFile)) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        'KernelDoorbells routes through sivshm.ko: the waker needs a KernelDevice file',
      );
    }
    return this.#files.waker(
      file,
      () => this.#ring(file),
      () => !this.#closed && this.#vectors > 0,
      () => this.#watch(file),
    );
  }

  /** Stops watching and closes the duplicated fds; pending waits resolve false. */
  close(): void {
    this.#closed = true;
    this.#files.close();
  }

  #ring(file: KernelDeviceFile): void {
    const targets = ringTargets(file.doorbellRoutes());
    if (targets.length === 0) this.ringFailures++;
    for (const t of targets) {
      try {
        file.ring(t.peer, t.vector);
      } catch {
        // EPERM (the grant was revoked) or a closed file: the peer's park slice is bounded.
        this.ringFailures++;
      }
    }
  }

  /**
   * Watches a duplicate of `file`'s fd, so closing the file never pulls an fd from under libuv.
   * The duplicate shares the file's open description: sivshm.ko keeps the file's grants until
   * both are closed, so the returned release must run (the channel closes its wakers before its
   * file is closed; `close()` releases every duplicate).
   */
  #watch(file: KernelDeviceFile): () => void {
    const fd0 = file.eventFd();
    if (fd0 === undefined || this.#vectors === 0) return () => undefined;
    const fd = dupFd(fd0);
    let watcher: FdWatcher | undefined;
    const stop = (): void => {
      watcher?.stop();
      watcher = undefined;
    };
    watcher = watchReadable(fd, (_events, error) => {
      const count = error === undefined ? this.#drain(fd) : undefined;
      if (count === undefined) stop();
      else if (count > 0) this.#files.rang(file);
    }).unref();
    return () => {
      stop();
      closeFd(fd);
    };
  }

  /** Reads every pending event of `fd`: the interrupts counted, undefined when the fd is unusable. */
  #drain(fd: number): number | undefined {
    // Level-triggered: read until EAGAIN, or the watcher fires again next loop turn.
    const buf = Buffer.alloc(EventLayout.size * EVENTS_PER_READ);
    let count = 0;
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buf, 0, buf.length, null);
      } catch (e) {
        // EPERM: this file holds no live grant right now (before the grant, after a revoke)
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN' || code === 'EPERM') break;
        return undefined;
      }
      if (n <= 0) break;
      for (let off = 0; off + EventLayout.size <= n; off += EventLayout.size) {
        count += buf.readUInt32LE(off + EventLayout.off.count);
      }
    }
    this.received += count;
    return count;
  }
}
