/**
 * How much of a region the fixed parts need, so a config can be refused before hostd tries to
 * lay out a region that cannot work (ARCHITECTURE.md §4).
 *
 * core sits below kmod and transport, so it cannot import their layout; instead it fixes the
 * budget they must stay within: a channel-table entry takes at most `CHANNEL_ENTRY_MAX_SIZE`
 * bytes (the transport's layout asserts its entry size against this constant), the header is
 * one page, and a channel window is at least two directions of producer page, consumer page
 * and a one-page data area.
 */
import { formatSize } from './config-numbers.js';

/** Page granularity of every section and window. */
export const CONFIG_PAGE_SIZE = 4096;

/** Smallest region accepted: 1 MiB. */
export const MIN_REGION_SIZE = 1024 * 1024;

/** Largest region accepted: 1 TiB (catches unit slips; window offsets are u64 anyway). */
export const MAX_REGION_SIZE = 1024 ** 4;

/** Upper bound on one channel-table entry; the transport's entry layout must fit in it. */
export const CHANNEL_ENTRY_MAX_SIZE = 128;

/** Channel-table entries when `region.channelCapacity` is not given. */
export const DEFAULT_CHANNEL_CAPACITY = 64;

/** Largest `region.channelCapacity` accepted. */
export const MAX_CHANNEL_CAPACITY = 65536;

/** Smallest channel window: 2 directions × (producer page + consumer page + 1 data page). */
export const MIN_WINDOW_SIZE = 2 * 3 * CONFIG_PAGE_SIZE;

/** Bytes the header page and a channel table of `capacity` entries take, page-rounded. */
export function regionOverhead(capacity: number): number {
  const table =
    Math.ceil((capacity * CHANNEL_ENTRY_MAX_SIZE) / CONFIG_PAGE_SIZE) * CONFIG_PAGE_SIZE;
  return CONFIG_PAGE_SIZE + table;
}

/** Bytes left for channel windows in a region of `size` bytes with `capacity` entries. */
export function dataSectionSize(size: number, capacity: number): number {
  return size - regionOverhead(capacity);
}

/**
 * Why a region of `size` bytes with `capacity` table entries cannot hold even one window, or
 * undefined when it can.
 */
export function regionTooSmall(size: number, capacity: number): string | undefined {
  const need = regionOverhead(capacity) + MIN_WINDOW_SIZE;
  if (size >= need) return undefined;
  return (
    `${formatSize(size)} cannot hold the header page, a ${capacity}-entry channel table ` +
    `(${formatSize(regionOverhead(capacity) - CONFIG_PAGE_SIZE)}) and one ` +
    `${formatSize(MIN_WINDOW_SIZE)} window; raise region.size or lower region.channelCapacity`
  );
}
