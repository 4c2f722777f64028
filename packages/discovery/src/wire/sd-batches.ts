import { optionKey, optionSize } from './option.js';
import type { PackEntry } from './sd-packer.js';

/** SOME/IP header (16) + SD flags/reserved (4) + entries length (4) + options length (4). */
const SD_FIXED_BYTES = 28;
const ENTRY_BYTES = 16;
/**
 * Distinct options one message may hold: option run indices are one byte, and an entry whose
 * options cannot reuse earlier copies gets its own block (up to 30) after them.
 */
const MAX_DISTINCT_OPTIONS = 200;

/** How large one batched SD message may grow. */
export interface SdBatchLimits {
  /** Most entries in one message (hostd's per-VM limit, or a peer's). */
  readonly maxEntries?: number;
  /** Most bytes of one encoded message (UDP: what fits a datagram). */
  readonly maxBytes?: number;
}

/**
 * Splits the entries due together into as few SD messages as the limits allow, keeping their
 * order (a StopSubscribe+Subscribe pair stays in one message unless it is the cut itself). One
 * message per cycle is the point (SD-836 packs all answers to a message together; vsomeip
 * sends all its cyclic Offers in one): the split only happens when a message would not fit.
 */
export function splitSdBatch(
  entries: readonly PackEntry[],
  limits: SdBatchLimits = {},
): PackEntry[][] {
  const maxEntries = Math.max(1, limits.maxEntries ?? 0xffff);
  const maxBytes = limits.maxBytes ?? Number.POSITIVE_INFINITY;
  const out: PackEntry[][] = [];
  let chunk: PackEntry[] = [];
  let keys = new Set<string>();
  let bytes = SD_FIXED_BYTES;
  for (const pe of entries) {
    let fresh = (pe.options ?? []).filter((o) => !keys.has(optionKey(o)));
    let add = ENTRY_BYTES + fresh.reduce((n, o) => n + optionSize(o), 0);
    const full =
      chunk.length >= maxEntries ||
      keys.size + fresh.length > MAX_DISTINCT_OPTIONS ||
      bytes + add > maxBytes;
    if (full && chunk.length > 0) {
      out.push(chunk);
      chunk = [];
      keys = new Set();
      bytes = SD_FIXED_BYTES;
      fresh = [...(pe.options ?? [])];
      add = ENTRY_BYTES + fresh.reduce((n, o) => n + optionSize(o), 0);
    }
    chunk.push(pe);
    for (const o of fresh) keys.add(optionKey(o));
    bytes += add;
  }
  if (chunk.length > 0) out.push(chunk);
  return out;
}
