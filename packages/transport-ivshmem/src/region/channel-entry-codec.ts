import {
  CHANNEL_STATE_NAMES,
  ChannelEntryLayout,
  ChannelEntryState,
  windowLayout,
  type ChannelEntry,
} from '@sivshm/abi';
import type { RegionLayoutInfo } from './region-layout.js';

const O = ChannelEntryLayout.off;
/** Highest `mode` code defined in layout v1 (`aead`). */
const MAX_MODE = 2;

/**
 * Checks one entry against the region it belongs to; returns what is wrong, or undefined.
 *
 * Shared by the writer (refuses to store it) and the reader (refuses to return it), so both
 * sides agree on exactly one definition of a valid entry.
 */
export function checkChannelEntry(e: ChannelEntry, layout: RegionLayoutInfo): string | undefined {
  if (!(e.state in ChannelEntryState)) return `unknown state ${String(e.state)}`;
  if (!isU32(e.generation)) return `generation ${e.generation} is not a u32`;
  if (e.state === 'FREE') return undefined;
  if (
    typeof e.channelId !== 'bigint' ||
    e.channelId <= 0n ||
    e.channelId > 0xffff_ffff_ffff_ffffn
  ) {
    return `channel_id ${String(e.channelId)} is out of range 1..2^64-1`;
  }
  if (e.generation === 0) return 'generation 0 on a used slot (generations start at 1)';
  if (!isU32(e.consumerVm) || !isU32(e.providerVm)) return 'consumer_vm/provider_vm must be u32';
  if (!isU16(e.service) || !isU16(e.instance)) return 'service/instance must be u16';
  if (!isU8(e.major)) return `major ${e.major} is not a u8`;
  if (!Number.isInteger(e.mode) || e.mode < 0 || e.mode > MAX_MODE) {
    return `mode ${e.mode} is not one of 0 (plain), 1 (mac), 2 (aead)`;
  }
  const d = e.ringDataSize;
  const g = layout.pageGranule;
  if (!isU32(d) || d < g || (d & (d - 1)) !== 0) {
    return `ring_data_size ${d} is not a power of two ≥ ${g} (the region's page granule)`;
  }
  const length = windowLayout(g).windowLength(d);
  if (e.length !== length) {
    return `length ${e.length} differs from the window length ${length} for ring_data_size ${d}`;
  }
  if (!Number.isSafeInteger(e.offset) || e.offset % g !== 0) {
    return `offset ${e.offset} is not aligned to the region's page granule ${g}`;
  }
  const dataEnd = layout.dataOffset + layout.dataSize;
  if (e.offset < layout.dataOffset || e.offset + e.length > dataEnd) {
    return `window [${e.offset}, ${e.offset + e.length}) is outside the data section [${layout.dataOffset}, ${dataEnd})`;
  }
  return undefined;
}

/** Reads an entry from `v` (a private copy of its 64 bytes); no validation. */
export function decodeChannelEntry(v: DataView): ChannelEntry {
  const state = v.getUint32(O.state, true);
  return {
    channelId: v.getBigUint64(O.channelId, true),
    generation: v.getUint32(O.generation, true),
    // An unknown state becomes a name the checker rejects, so decode never throws.
    state: CHANNEL_STATE_NAMES[state] ?? (`#${state}` as 'FREE'),
    offset: safeU64(v, O.offset),
    length: safeU64(v, O.length),
    consumerVm: v.getUint32(O.consumerVm, true),
    providerVm: v.getUint32(O.providerVm, true),
    service: v.getUint16(O.service, true),
    instance: v.getUint16(O.instance, true),
    major: v.getUint8(O.major),
    mode: v.getUint8(O.mode),
    ringDataSize: v.getUint32(O.ringDataSize, true),
  };
}

/** Reserved words that must be zero; returns the offending field or undefined. */
export function checkReserved(v: DataView): string | undefined {
  if (v.getUint16(O.reserved0, true) !== 0) return 'reserved field at byte 46 is not zero';
  if (v.getUint32(O.reserved1, true) !== 0) return 'reserved field at byte 52 is not zero';
  if (v.getUint32(O.reserved2, true) !== 0) return 'reserved field at byte 56 is not zero';
  return undefined;
}

/** Writes every field but `seq` into `v`; the caller has validated `e`. */
export function encodeChannelEntry(v: DataView, e: ChannelEntry): void {
  v.setBigUint64(O.channelId, e.state === 'FREE' ? 0n : e.channelId, true);
  v.setUint32(O.generation, e.generation, true);
  v.setUint32(O.state, ChannelEntryState[e.state], true);
  v.setBigUint64(O.offset, BigInt(e.offset), true);
  v.setBigUint64(O.length, BigInt(e.length), true);
  v.setUint32(O.consumerVm, e.consumerVm, true);
  v.setUint32(O.providerVm, e.providerVm, true);
  v.setUint16(O.service, e.service, true);
  v.setUint16(O.instance, e.instance, true);
  v.setUint8(O.major, e.major);
  v.setUint8(O.mode, e.mode);
  v.setUint16(O.reserved0, 0, true);
  v.setUint32(O.ringDataSize, e.ringDataSize, true);
  v.setUint32(O.reserved1, 0, true);
  v.setUint32(O.reserved2, 0, true);
}

function safeU64(v: DataView, off: number): number {
  const x = v.getBigUint64(off, true);
  // Out-of-range values map to -1, which every range check rejects.
  return x > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(x);
}

function isU32(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 0xffff_ffff;
}
function isU16(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 0xffff;
}
function isU8(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 0xff;
}
