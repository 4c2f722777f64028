/**
 * How much of a region the fixed parts need, so a config can be refused before hostd tries to
 * lay out a region that cannot work (docs/architecture.md).
 *
 * The section arithmetic and the bounds come from `@sivshm/abi`, the same numbers the transport
 * lays the region out with, so a config accepted here is one hostd can create.
 */
import { PAGE_SIZE, minWindowSize, regionSections, type PageGranule } from '@sivshm/abi';
import { formatSize } from './config-numbers.js';

/** Channel-table entries when `region.channelCapacity` is not given. */
export const DEFAULT_CHANNEL_CAPACITY = 64;

/**
 * Bytes the header page and a channel table of `capacity` entries take, rounded up to the page
 * granule (where the data section starts).
 */
export function regionOverhead(capacity: number, granule: PageGranule = PAGE_SIZE): number {
  return regionSections(0, capacity, granule).dataOffset;
}

/** Bytes left for channel windows in a region of `size` bytes with `capacity` entries. */
export function dataSectionSize(
  size: number,
  capacity: number,
  granule: PageGranule = PAGE_SIZE,
): number {
  return regionSections(size, capacity, granule).dataSize;
}

/**
 * Why a region of `size` bytes with `capacity` table entries cannot hold even one window, or
 * undefined when it can.
 */
export function regionTooSmall(
  size: number,
  capacity: number,
  granule: PageGranule = PAGE_SIZE,
): string | undefined {
  const overhead = regionOverhead(capacity, granule);
  const minWindow = minWindowSize(granule);
  if (size >= overhead + minWindow) return undefined;
  const padded = granule === PAGE_SIZE ? '' : ` padded to the ${formatSize(granule)} page granule`;
  return (
    `${formatSize(size)} cannot hold the header page, a ${capacity}-entry channel table ` +
    `(${formatSize(overhead - PAGE_SIZE)}${padded}) and one ` +
    `${formatSize(minWindow)} window; raise region.size or lower region.channelCapacity`
  );
}
