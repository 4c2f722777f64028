// The region header and channel table the host tools (`record`, `capture`, `inspect`) trust:
// hostd's own copy in the control file beside the region (docs/protocol.md §10.4), never the
// region's mirror, which root in any VM can overwrite (docs/security.md §12).
import { closeSync, fstatSync, openSync, statSync } from 'node:fs';
import {
  ChannelTableReader,
  controlPathFor,
  mapFile,
  readControlHeader,
  readRegionHeader,
  unmap,
  type MappedFile,
  type RegionHeaderInfo,
} from '@sivshm/transport-ivshmem';
import { CliError } from '../errors/cli-error.js';

/** The control file as mapped (read-only), with the inode it was mapped from. */
interface MappedControl {
  readonly mapping: MappedFile;
  readonly ino: number;
  readonly header: RegionHeaderInfo;
  readonly table: ChannelTableReader;
}

/**
 * The header and channel table of a region, read where hostd keeps them: from
 * `<region>.control` when the region has one, else (a region made without hostd: tests,
 * benches) from the region itself, as the emulated runtime device does. Once a control file was
 * seen, the region's copy is never read: a control file hostd made anew (a restart) is mapped
 * again, and one that went (hostd stopped) leaves the last one in use.
 */
export class HostdTable {
  readonly #regionPath: string;
  readonly #region: Uint8Array;
  #control: MappedControl | undefined;
  readonly #regionTable: { header: RegionHeaderInfo; table: ChannelTableReader } | undefined;

  /** `region`: the region at `regionPath`, mapped (read-only) by the caller. */
  constructor(regionPath: string, region: Uint8Array) {
    this.#regionPath = regionPath;
    this.#region = region;
    if (inodeOf(controlPathFor(regionPath)) !== undefined) {
      this.#control = this.#mapControl();
    } else {
      const header = readRegionHeader(region);
      this.#regionTable = { header, table: new ChannelTableReader(region, header) };
    }
  }

  /** Where the table is read from, for messages. */
  get source(): string {
    return this.#control === undefined ? this.#regionPath : controlPathFor(this.#regionPath);
  }

  /** The header as read at open (its page granule and layout do not change while hostd runs). */
  get header(): RegionHeaderInfo {
    return (this.#control ?? this.#regionTable)!.header;
  }

  /** The channel table now; throws `ERR_REGION` while hostd is writing a new control file. */
  table(): ChannelTableReader {
    if (this.#control === undefined) return this.#regionTable!.table;
    const ino = inodeOf(controlPathFor(this.#regionPath));
    if (ino !== undefined && ino !== this.#control.ino) {
      const next = this.#mapControl();
      unmap(this.#control.mapping.handle);
      this.#control = next;
    }
    return this.#control.table;
  }

  close(): void {
    if (this.#control !== undefined) unmap(this.#control.mapping.handle);
    this.#control = undefined;
  }

  #mapControl(): MappedControl {
    const path = controlPathFor(this.#regionPath);
    const fd = openSync(path, 'r');
    let mapping: MappedFile | undefined;
    try {
      const st = fstatSync(fd);
      mapping = mapFile(fd, 0, st.size, { writable: false });
      const bytes = new Uint8Array(mapping.shared);
      const header = readControlHeader(bytes);
      if (header.regionSize !== this.#region.byteLength) {
        throw new CliError(
          'ERR_INPUT',
          `control file ${path} names a region of ${header.regionSize} bytes, but ${this.#regionPath} has ${this.#region.byteLength}`,
        );
      }
      return { mapping, ino: st.ino, header, table: new ChannelTableReader(bytes, header) };
    } catch (e) {
      if (mapping !== undefined) unmap(mapping.handle);
      throw e;
    } finally {
      closeSync(fd);
    }
  }
}

function inodeOf(path: string): number | undefined {
  try {
    return statSync(path).ino;
  } catch {
    return undefined;
  }
}
