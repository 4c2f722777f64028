import { fstatSync, ftruncateSync } from 'node:fs';
import { writeRegionHeader } from '@sivshm/transport-ivshmem';
import type { JsonLogger } from '../log/logger.js';
import type { HostdRegion } from '../startup/hostd-startup.js';

/** What the guard needs to put a shrunk region back. */
export interface RegionRecovery {
  readonly region: HostdRegion;
  /** The size hostd mapped. */
  readonly size: number;
  readonly path: string;
  readonly epoch: bigint;
  readonly log: JsonLogger;
  /** Drops every VM's link: their channels close the usual way (their contents are gone). */
  readonly dropEveryVm: () => void;
}

/**
 * Watches the size of the region file hostd mapped. Someone with write access to the file
 * (`truncate -s 4096`) would make every later access past the new end a SIGBUS, which kills
 * hostd outright: Node cannot catch it. So hostd looks before it touches the mapping — on
 * every tick and before the work that writes the channel table or reads the rings — and, when
 * the file shrank, stops using what it had and recovers. A truncation between the look and the
 * access can still fault; docs/security.md says what remains.
 */
export class RegionSizeGuard {
  /** Set while the file is found shrunk and not (or not yet) restored. */
  #recovering = false;

  constructor(private readonly r: RegionRecovery) {}

  get size(): number {
    return this.r.size;
  }

  /** The file's size now, or -1 when it cannot be read (the fd is closed). */
  actualSize(): number {
    try {
      return fstatSync(this.r.region.fd).size;
    } catch {
      return -1;
    }
  }

  /**
   * True while the file still has the size hostd mapped. When it shrank, hostd grows the file
   * back (the lost pages come back as zeros), writes the header afresh and drops every VM's
   * link; the VMs reconnect and start over on the restored region. False while that cannot be
   * done (nothing may touch the mapping then).
   */
  intact(): boolean {
    if (this.actualSize() >= this.r.size) return true;
    // Re-entered from a link drop during the recovery, or a restore that failed: stays shrunk.
    if (this.#recovering) return false;
    this.#recovering = true;
    const restored = this.#restore();
    if (restored) this.#recovering = false;
    return restored;
  }

  #restore(): boolean {
    const { region, size, log } = this.r;
    log.error('region-shrunk', {
      region: this.r.path,
      expected: size,
      actual: this.actualSize(),
      detail: 'the region file was truncated under hostd: it is restored and every VM dropped',
    });
    try {
      ftruncateSync(region.fd, size);
    } catch (e) {
      log.error('region-restore-failed', { error: (e as Error).message });
      return false; // stays shrunk: nothing touches the mapping, every check says so again
    }
    writeRegionHeader(new Uint8Array(region.mapping.shared), region.layout, this.r.epoch);
    this.r.dropEveryVm();
    return true;
  }
}
