/**
 * The bytes of a region file as hostd lays it out, for the guest tiers that play hostd: the
 * header (layout v1 for a 4 KiB granule, version 2 naming the granule otherwise) and zeros.
 */
import {
  ControlFileLayout,
  RegionHeaderLayout,
  layoutVersionFor,
  type PageGranule,
} from '@sivshm/abi';

export interface RegionImage {
  readonly size: number;
  readonly epoch: bigint;
  readonly controlOffset: number;
  /** Where the data section starts; the control section fills the space before it. */
  readonly dataOffset: number;
  readonly granule: PageGranule;
}

/** A zeroed region of `r.size` bytes with its header written; 16 channel entries of 128 bytes. */
export function regionImage(r: RegionImage): Buffer {
  const b = Buffer.alloc(r.size);
  const o = RegionHeaderLayout.off;
  Buffer.from(RegionHeaderLayout.magic).copy(b, o.magic);
  b.writeUInt32LE(layoutVersionFor(r.granule), o.layoutVersion);
  b.writeUInt32LE(RegionHeaderLayout.size, o.headerSize);
  b.writeBigUInt64LE(BigInt(r.size), o.regionSize);
  b.writeBigUInt64LE(r.epoch, o.epoch);
  b.writeBigUInt64LE(BigInt(r.controlOffset), o.controlOffset);
  b.writeBigUInt64LE(BigInt(r.dataOffset - r.controlOffset), o.controlSize);
  b.writeBigUInt64LE(BigInt(r.dataOffset), o.dataOffset);
  b.writeBigUInt64LE(BigInt(r.size - r.dataOffset), o.dataSize);
  b.writeUInt32LE(16, o.channelCapacity);
  b.writeUInt32LE(128, o.channelEntrySize);
  // layout v1 has no granule field: it reads as 0 there
  b.writeUInt32LE(r.granule === 4096 ? 0 : r.granule, o.pageGranule);
  return b;
}

/**
 * hostd's read-only control file for the region `r` (docs/protocol.md §10.4): the region's
 * header under the control magic and an empty table, in the smallest power-of-two file.
 */
export function controlImage(r: RegionImage): Buffer {
  const b = Buffer.alloc(ControlFileLayout.sizeFor(r.dataOffset));
  regionImage(r).copy(b, 0, 0, RegionHeaderLayout.size);
  Buffer.from(ControlFileLayout.magic).copy(b, RegionHeaderLayout.off.magic);
  return b;
}
