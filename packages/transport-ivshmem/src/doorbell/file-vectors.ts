import type { DeviceFile } from '../device/channel-device.js';
import type { Waker } from '../notify/waker.js';
import { SharedVector } from './shared-vector.js';

interface FileEntry {
  readonly vector: SharedVector;
  users: number;
  /** Released with the entry's last waker (KernelDoorbells: its fd watcher). */
  readonly release: () => void;
}

/**
 * The channels' sleeping places, one per granted device file: the doorbells a file's grants
 * observe wake the wakers of that file only, as sivshm.ko reports a file's observed vectors only
 * on that file. Shared by {@link EmulatedDoorbells} and {@link KernelDoorbells}.
 */
export class FileVectors {
  readonly #files = new Map<DeviceFile, FileEntry>();

  /** The files that have a live waker. */
  files(): IterableIterator<DeviceFile> {
    return this.#files.keys();
  }

  /** A doorbell for `file` arrived: its parked wakers wake. */
  rang(file: DeviceFile): void {
    this.#files.get(file)?.vector.rang();
  }

  /**
   * A waker for `file`: `wake()` calls `ring`, `wait()` sleeps on the file's vector. The first
   * waker of a file calls `setup` (which returns its release), the last one closed releases it.
   */
  waker(
    file: DeviceFile,
    ring: () => void,
    canRing: () => boolean,
    setup: () => () => void,
  ): Waker {
    let e = this.#files.get(file);
    if (e === undefined) {
      e = { vector: new SharedVector(), users: 0, release: setup() };
      this.#files.set(file, e);
    }
    const entry = e;
    entry.users++;
    const inner = entry.vector.waker(ring, canRing);
    let closed = false;
    return {
      wake: () => inner.wake(),
      wait: (timeoutMs, ring) => inner.wait(timeoutMs, ring),
      close: () => {
        inner.close();
        if (closed) return;
        closed = true;
        if (--entry.users === 0 && this.#files.get(file) === entry) {
          this.#files.delete(file);
          entry.release();
        }
      },
    };
  }

  /** Every pending wait resolves false and every file's resources are released. */
  close(): void {
    for (const e of this.#files.values()) {
      e.vector.close();
      e.release();
    }
    this.#files.clear();
  }
}
