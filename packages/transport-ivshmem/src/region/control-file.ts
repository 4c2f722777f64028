import { chmodSync, closeSync, fstatSync, openSync, readSync, rmSync, statSync } from 'node:fs';
import { ControlFileLayout, PAGE_SIZE } from '@sivshm/abi';
import { TransportError } from '../errors/transport-error.js';
import { closeFd } from '../native/fd.js';
import { createRegionFile, mapFile, unmap, type MappedFile } from '../native/map-file.js';
import { readControlHeader, writeControlHeader, type RegionHeaderInfo } from './region-header.js';
import type { RegionLayoutInfo } from './region-layout.js';

/**
 * The read-only control file of the region at `regionPath` (docs/protocol.md §10.4): the file
 * beside it, `<region path>.control`, so every VM that is told the region's path finds it
 * without a new field on the control link.
 *
 * @example
 * ```ts
 * controlPathFor('/dev/shm/sivshm-demo'); // '/dev/shm/sivshm-demo.control'
 * ```
 */
export function controlPathFor(regionPath: string): string {
  return `${regionPath}.control`;
}

/** The control file hostd owns: its path, fd and writable mapping (hostd is its only writer). */
export interface ControlFile {
  readonly path: string;
  readonly fd: number;
  readonly mapping: MappedFile;
}

/**
 * Creates the control file of a region afresh (hostd, at start): the header for `layout` and
 * `epoch` under the control magic, an empty table. Mode 0644: VMs' QEMUs and emulated VMs read
 * it; only hostd's user may write it, and guests get it through a read-only backend.
 *
 * @example
 * ```ts
 * declare const layout: RegionLayoutInfo;
 * const control = createControlFile(controlPathFor('/dev/shm/sivshm-demo'), layout, 1n);
 * ```
 */
export function createControlFile(
  path: string,
  layout: RegionLayoutInfo,
  epoch: bigint,
): ControlFile {
  rmSync(path, { force: true });
  const size = ControlFileLayout.sizeFor(layout.dataOffset);
  const fd = createRegionFile(path, size, { exclusive: true });
  let mapping: MappedFile | undefined;
  try {
    chmodSync(path, 0o644);
    mapping = mapFile(path, 0, size, { writable: true });
    writeControlHeader(new Uint8Array(mapping.shared), layout, epoch);
  } catch (e) {
    if (mapping !== undefined) unmap(mapping.handle);
    closeFd(fd);
    rmSync(path, { force: true });
    throw e;
  }
  return { path, fd, mapping };
}

/**
 * A VM's read-only view of the control file in emulated mode: the file is opened `O_RDONLY`
 * and kept open, so nothing in the VM's process can write to it through this descriptor
 * (`EBADF`). It is opened again when hostd made a new one (a restart: another inode).
 */
export class ControlFileReader {
  #fd: number | undefined;
  #ino = -1;

  constructor(readonly path: string) {}

  /** Whether the file exists (a region made without hostd has none). */
  exists(): boolean {
    try {
      statSync(this.path);
      return true;
    } catch {
      return false;
    }
  }

  /** The control file's header now, validated; throws `ERR_REGION`. */
  header(): RegionHeaderInfo {
    const page = new Uint8Array(PAGE_SIZE);
    let n: number;
    try {
      n = readSync(this.#open(), page, 0, PAGE_SIZE, 0);
    } catch (e) {
      throw new TransportError(
        'ERR_REGION',
        `cannot read the control file ${this.path}: ${(e as Error).message}`,
        { cause: e },
      );
    }
    return readControlHeader(page.subarray(0, n));
  }

  /** The descriptor it reads through (open read-only), for a caller that checks so. */
  get fd(): number | undefined {
    return this.#fd;
  }

  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }

  #open(): number {
    const ino = statSync(this.path).ino;
    if (this.#fd !== undefined && ino === this.#ino && fstatSync(this.#fd).ino === ino) {
      return this.#fd;
    }
    this.close();
    this.#fd = openSync(this.path, 'r');
    this.#ino = fstatSync(this.#fd).ino;
    return this.#fd;
  }
}
