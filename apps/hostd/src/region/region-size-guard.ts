import { fstatSync, ftruncateSync } from 'node:fs';
import { lossProbe, remapFile, writeRegionHeader } from '@sivshm/transport-ivshmem';
import type { JsonLogger } from '../log/logger.js';
import type { HostdRegion } from '../startup/hostd-startup.js';

/** What the guard needs to put a shrunk region back. */
export interface RegionRecovery {
  readonly region: Pick<HostdRegion, 'fd' | 'mapping' | 'layout'>;
  /** The size hostd mapped. */
  readonly size: number;
  readonly path: string;
  readonly epoch: bigint;
  readonly log: JsonLogger;
  /** Drops every VM's link: their channels close the usual way (their contents are gone). */
  readonly dropEveryVm: () => void;
}

/**
 * Watches the region file hostd mapped. Someone with write access to the file
 * (`truncate -s 4096`) makes every later access past the new end a SIGBUS. The transport's
 * SIGBUS guard keeps hostd alive through such an access (the lost pages read as zeros and the
 * mapping is marked lost); this guard notices — on every tick and before the work that writes
 * the channel table or reads the rings, by the file's size and by that mark — stops trusting
 * what it had and recovers. docs/security.md §11 says what remains.
 */
export class RegionSizeGuard {
  /** Set while the file is found shrunk and not (or not yet) restored. */
  #recovering = false;
  /** Whether the SIGBUS guard absorbed a fault in hostd's mapping (cheap: one atomic load). */
  readonly #lost: () => boolean;

  constructor(private readonly r: RegionRecovery) {
    this.#lost = lossProbe(r.region.mapping.handle);
  }

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
   * True while the file still has the size hostd mapped and no access of hostd's fell past its
   * end. Otherwise hostd grows the file back (the lost pages come back as zeros), maps it again
   * over its own mapping (so every view sees the file, not the guard's zero pages), writes the
   * header afresh and drops every VM's link; the VMs reconnect and start over on the restored
   * region. False while that cannot be done.
   */
  intact(): boolean {
    if (this.actualSize() >= this.r.size && !this.#lost()) return true;
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
      faultAbsorbed: this.#lost(),
      detail: 'the region file was truncated under hostd: it is restored and every VM dropped',
    });
    try {
      if (this.actualSize() < size) ftruncateSync(region.fd, size);
      remapFile(region.mapping.handle, region.fd);
    } catch (e) {
      log.error('region-restore-failed', { error: (e as Error).message });
      return false; // stays shrunk: nothing trusts the mapping, every check says so again
    }
    writeRegionHeader(new Uint8Array(region.mapping.shared), region.layout, this.r.epoch);
    this.r.dropEveryVm();
    return true;
  }
}
