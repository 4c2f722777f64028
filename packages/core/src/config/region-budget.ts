/**
 * How much of a region the fixed parts need, so a config can be refused before hostd tries to
 * lay out a region that cannot work (docs/architecture.md).
 *
 * The section arithmetic and the bounds come from `@sivshm/abi`, the same numbers the transport
 * lays the region out with, so a config accepted here is one hostd can create.
 */
import { MIN_WINDOW_SIZE, PAGE_SIZE, regionSections } from '@sivshm/abi';
import { formatSize } from './config-numbers.js';

/** Channel-table entries when `region.channelCapacity` is not given. */
export const DEFAULT_CHANNEL_CAPACITY = 64;

/** Bytes the header page and a channel table of `capacity` entries take, page-rounded. */
export function regionOverhead(capacity: number): number {
  return regionSections(0, capacity).dataOffset;
}

/** Bytes left for channel windows in a region of `size` bytes with `capacity` entries. */
export function dataSectionSize(size: number, capacity: number): number {
  return regionSections(size, capacity).dataSize;
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
    `(${formatSize(regionOverhead(capacity) - PAGE_SIZE)}) and one ` +
    `${formatSize(MIN_WINDOW_SIZE)} window; raise region.size or lower region.channelCapacity`
  );
}
