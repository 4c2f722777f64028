import {
  ControlFileLayout,
  PAGE_SIZE,
  RegionHeaderLayout,
  isPageGranule,
  layoutVersionFor,
  type PageGranule,
} from '@sivshm/abi';
import { TransportError } from '../errors/transport-error.js';
import { RegionLayout } from './region-layout.js';
import type { RegionLayoutInfo } from './region-layout.js';

/** What a validated region header says, beyond the section layout. */
export interface RegionHeaderInfo extends RegionLayoutInfo {
  /** hostd epoch (docs/protocol.md §9), ≥ 1. */
  readonly epoch: bigint;
}

const O = RegionHeaderLayout.off;
/** Header flags defined in layout v1: none. Unknown bits make the header foreign. */
const KNOWN_FLAGS = 0;

function headerView(region: Uint8Array): DataView {
  if (region.byteLength < PAGE_SIZE) {
    throw new TransportError(
      'ERR_REGION',
      `region view of ${region.byteLength} bytes is smaller than the ${PAGE_SIZE}-byte header page`,
    );
  }
  return new DataView(region.buffer, region.byteOffset, PAGE_SIZE);
}

/**
 * Writes a fresh header at the start of `region` (hostd only, once per start): layout v1 for a
 * 4 KiB page granule (byte-identical to the original layout), version 2 naming a larger one.
 *
 * The magic goes in last, after every other field, so a reader that races the initialisation
 * sees "no magic" (foreign) rather than a valid magic over half-written fields.
 *
 * @example
 * ```ts
 * declare const region: Uint8Array; // the freshly created region file, mapped
 * const layout = RegionLayout.compute({ regionSize: 1 << 22, channelCapacity: 64 });
 * writeRegionHeader(region, layout, 1n);
 * ```
 */
export function writeRegionHeader(
  region: Uint8Array,
  layout: RegionLayoutInfo,
  epoch: bigint,
): void {
  checkEpoch(epoch);
  if (region.byteLength !== layout.regionSize) {
    throw new TransportError(
      'ERR_BAD_ARGUMENT',
      `region view is ${region.byteLength} bytes but the layout is for ${layout.regionSize}`,
    );
  }
  writeHeaderPage(region, layout, epoch, RegionHeaderLayout.magic);
}

/**
 * Writes the header of the read-only control file (docs/protocol.md §10.4): the region's header
 * for `layout` and `epoch` with the control magic `SIVCTL\0\1`, into `control`, a mapping of
 * the whole control file ({@link ControlFileLayout.sizeFor} bytes). hostd only.
 *
 * @example
 * ```ts
 * declare const control: Uint8Array; // the control file, mapped
 * const layout = RegionLayout.compute({ regionSize: 1 << 22, channelCapacity: 64 });
 * writeControlHeader(control, layout, 1n);
 * ```
 */
export function writeControlHeader(
  control: Uint8Array,
  layout: RegionLayoutInfo,
  epoch: bigint,
): void {
  checkEpoch(epoch);
  const size = ControlFileLayout.sizeFor(layout.dataOffset);
  if (control.byteLength !== size) {
    throw new TransportError(
      'ERR_BAD_ARGUMENT',
      `control view is ${control.byteLength} bytes but the layout needs a ${size}-byte control file`,
    );
  }
  writeHeaderPage(control, layout, epoch, ControlFileLayout.magic);
}

function checkEpoch(epoch: bigint): void {
  if (typeof epoch !== 'bigint' || epoch < 1n || epoch > 0xffff_ffff_ffff_ffffn) {
    throw new TransportError(
      'ERR_BAD_ARGUMENT',
      `epoch ${String(epoch)} is out of range 1..2^64-1`,
    );
  }
}

function writeHeaderPage(
  region: Uint8Array,
  layout: RegionLayoutInfo,
  epoch: bigint,
  magicBytes: Uint8Array,
): void {
  const v = headerView(region);
  region.fill(0, 0, PAGE_SIZE);
  v.setUint32(O.layoutVersion, layoutVersionFor(layout.pageGranule), true);
  v.setUint32(O.headerSize, layout.headerSize, true);
  v.setBigUint64(O.regionSize, BigInt(layout.regionSize), true);
  v.setBigUint64(O.epoch, epoch, true);
  v.setBigUint64(O.controlOffset, BigInt(layout.controlOffset), true);
  v.setBigUint64(O.controlSize, BigInt(layout.controlSize), true);
  v.setBigUint64(O.dataOffset, BigInt(layout.dataOffset), true);
  v.setBigUint64(O.dataSize, BigInt(layout.dataSize), true);
  v.setUint32(O.channelCapacity, layout.channelCapacity, true);
  v.setUint32(O.channelEntrySize, layout.channelEntrySize, true);
  v.setUint32(O.flags, KNOWN_FLAGS, true);
  v.setUint32(O.pageGranule, layout.pageGranule === PAGE_SIZE ? 0 : layout.pageGranule, true);
  // Publish: a seq-cst store orders every field above before the magic becomes visible.
  const magicWord = new Uint32Array(region.buffer, region.byteOffset + O.magic, 2);
  const magic = new DataView(magicBytes.buffer, magicBytes.byteOffset, 8);
  Atomics.store(magicWord, 1, magic.getUint32(4, true));
  Atomics.store(magicWord, 0, magic.getUint32(0, true));
}

/** The page granule a header names: 4096 in layout v1, its `page_granule` word in version 2. */
function granuleOf(v: DataView, bad: (what: string) => TransportError): PageGranule {
  const version = v.getUint32(O.layoutVersion, true);
  const word = v.getUint32(O.pageGranule, true);
  if (version === RegionHeaderLayout.layoutVersion) {
    if (word !== 0) throw bad(`layout v1 with page_granule ${word} (must be 0)`);
    return PAGE_SIZE;
  }
  if (version !== RegionHeaderLayout.granuleLayoutVersion) {
    throw bad(
      `layout version ${version}, this build reads ${RegionHeaderLayout.layoutVersion} and ${RegionHeaderLayout.granuleLayoutVersion}`,
    );
  }
  if (!isPageGranule(word)) throw bad(`page_granule ${word} is not 4096, 16384 or 65536`);
  return word;
}

function u64AsNumber(v: DataView, off: number, field: string): number {
  const x = v.getBigUint64(off, true);
  if (x > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new TransportError('ERR_REGION', `region header field ${field} = ${x} is out of range`);
  }
  return Number(x);
}

/**
 * Reads and validates the header of an existing region; throws `ERR_REGION` for a foreign or
 * corrupt header.
 *
 * Every field is read once into a local and checked against what {@link RegionLayout.compute}
 * gives for the stated size and capacity, and against the mapped length: a region whose header
 * says anything else is refused, so nothing downstream trusts an offset from a bad header.
 *
 * @example
 * ```ts
 * declare const mapped: Uint8Array;
 * const info = readRegionHeader(mapped); // throws TransportError ERR_REGION if foreign
 * ```
 *
 * `mappedSize` is the size of the whole region when `region` holds only its header page (read
 * from the file, say); by default the view is the whole region.
 */
export function readRegionHeader(
  region: Uint8Array,
  mappedSize: number = region.byteLength,
): RegionHeaderInfo {
  return readHeaderPage(region, mappedSize, RegionHeaderLayout.magic, 'region');
}

/**
 * Reads and validates the header of the read-only control file (docs/protocol.md §10.4) from
 * `page`, its first bytes (at least the header page): the same checks as
 * {@link readRegionHeader} under the control magic `SIVCTL\0\1`; `region_size` names the
 * region, whose size the caller checks where it maps one. Throws `ERR_REGION`.
 *
 * @example
 * ```ts
 * declare const page: Uint8Array; // the first page of <region path>.control
 * const { epoch, dataOffset } = readControlHeader(page);
 * ```
 */
export function readControlHeader(page: Uint8Array): RegionHeaderInfo {
  return readHeaderPage(page, undefined, ControlFileLayout.magic, 'control file');
}

function readHeaderPage(
  region: Uint8Array,
  mappedSize: number | undefined,
  magic: Uint8Array,
  what: 'region' | 'control file',
): RegionHeaderInfo {
  const v = headerView(region);
  const bad = (why: string): TransportError =>
    new TransportError('ERR_REGION', `${what} header rejected: ${why}`);
  for (let i = 0; i < magic.length; i++) {
    if (v.getUint8(O.magic + i) !== magic[i]) {
      throw bad(`bad magic (not a sivshm ${what}, or not initialised yet)`);
    }
  }
  const pageGranule = granuleOf(v, bad);
  const flags = v.getUint32(O.flags, true);
  if ((flags & ~KNOWN_FLAGS) !== 0) {
    throw bad(`unknown flags 0x${flags.toString(16)}`);
  }
  const headerSize = v.getUint32(O.headerSize, true);
  const regionSize = u64AsNumber(v, O.regionSize, 'region_size');
  const epoch = v.getBigUint64(O.epoch, true);
  const controlOffset = u64AsNumber(v, O.controlOffset, 'control_offset');
  const controlSize = u64AsNumber(v, O.controlSize, 'control_size');
  const dataOffset = u64AsNumber(v, O.dataOffset, 'data_offset');
  const dataSize = u64AsNumber(v, O.dataSize, 'data_size');
  const channelCapacity = v.getUint32(O.channelCapacity, true);
  const channelEntrySize = v.getUint32(O.channelEntrySize, true);

  if (mappedSize !== undefined && regionSize !== mappedSize) {
    throw bad(`region_size ${regionSize} differs from the mapped size ${mappedSize}`);
  }
  if (epoch === 0n) throw bad('epoch 0 (hostd epochs start at 1)');
  let expected: RegionLayoutInfo;
  try {
    expected = RegionLayout.compute({ regionSize, channelCapacity, pageGranule });
  } catch (e) {
    throw new TransportError('ERR_REGION', `${what} header rejected: ${(e as Error).message}`, {
      cause: e,
    });
  }
  const got: RegionLayoutInfo = {
    regionSize,
    headerSize,
    controlOffset,
    controlSize,
    dataOffset,
    dataSize,
    channelCapacity,
    channelEntrySize,
    pageGranule,
  };
  for (const k of Object.keys(expected) as (keyof RegionLayoutInfo)[]) {
    if (expected[k] !== got[k]) {
      throw bad(
        `${k} is ${got[k]}, the layout requires ${expected[k]} for this size, capacity and granule`,
      );
    }
  }
  return { ...expected, epoch };
}

/**
 * The hostd heartbeat word of the header (u64, nanoseconds of hostd's monotonic clock).
 *
 * hostd stores it periodically; VMs load it to tell a live broker from a dead one. A single
 * 64-bit atomic store, so a reader never sees a torn value.
 */
export class HostdHeartbeat {
  readonly #word: BigUint64Array;

  constructor(region: Uint8Array) {
    headerView(region);
    this.#word = new BigUint64Array(region.buffer, region.byteOffset + O.hostdHeartbeatNs, 1);
  }

  /** Stores `ns` (hostd only). */
  store(ns: bigint): void {
    Atomics.store(this.#word, 0, ns);
  }

  /** Loads the last stored value. */
  load(): bigint {
    return Atomics.load(this.#word, 0);
  }
}
