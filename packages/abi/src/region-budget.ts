/**
 * The size bounds of a layout-v1 region and where its sections start, shared by the config
 * check in `@sivshm/core` (refuses a region before hostd tries to create it) and the region
 * builder in `@sivshm/transport-ivshmem` (creates it), so both accept exactly the same regions.
 *
 * The kernel module puts no bound of its own on the region: it takes BAR2 as QEMU sized it (a
 * power of two) and checks every granted window against the data section the header names.
 */
import { ChannelEntryLayout } from './channel-table-layout.js';
import {
  PAGE_SIZE,
  RegionHeaderLayout,
  WindowLayout,
  windowLayout,
  type PageGranule,
} from './region-layout.js';

/**
 * Smallest region accepted (64 KiB): the header page, a one-page channel table and a few
 * minimal windows. Whether a given channel capacity still leaves room for one window is
 * decided by {@link regionSections}' caller against {@link MIN_WINDOW_SIZE}.
 */
export const MIN_REGION_SIZE = 64 * 1024;

/**
 * Largest region accepted (64 GiB). Catches unit slips in a config; window offsets and lengths
 * are handled as JavaScript numbers, exact far beyond this.
 */
export const MAX_REGION_SIZE = 2 ** 36;

/** Largest channel-table capacity accepted (entries). */
export const MAX_CHANNEL_CAPACITY = 65_536;

/** Smallest channel window: two directions of producer page, consumer page and one data page. */
export const MIN_WINDOW_SIZE = WindowLayout.windowLength(PAGE_SIZE);

/** Smallest channel window for a page granule (six granules). */
export function minWindowSize(granule: PageGranule): number {
  return windowLayout(granule).windowLength(granule);
}

/** Offsets and sizes of the header, control and data sections of a region. */
export interface RegionSections {
  /** Bytes of the header page, at offset 0. */
  readonly headerSize: number;
  /** Offset of the control section (the channel table). */
  readonly controlOffset: number;
  /** Bytes of the control section, a whole number of pages. */
  readonly controlSize: number;
  /** Offset of the data section (channel windows). */
  readonly dataOffset: number;
  /** Bytes of the data section; negative when the region is too small for its table. */
  readonly dataSize: number;
}

/** Rounds `n` up to a whole number of pages. */
export function roundUpToPage(n: number): number {
  return Math.ceil(n / PAGE_SIZE) * PAGE_SIZE;
}

/**
 * Where the sections of a region of `regionSize` bytes with `channelCapacity` table entries
 * start: the one place that decides it. Pure arithmetic; callers check the bounds above.
 *
 * With a page granule above 4 KiB the data section starts on a granule boundary (the control
 * section is padded up to it), so windows placed in granule steps from there are aligned to the
 * kernel page; with 4 KiB nothing moves (layout v1).
 */
export function regionSections(
  regionSize: number,
  channelCapacity: number,
  granule: PageGranule = PAGE_SIZE,
): RegionSections {
  const headerSize = RegionHeaderLayout.size;
  const controlOffset = headerSize;
  const tableEnd = controlOffset + roundUpToPage(channelCapacity * ChannelEntryLayout.size);
  const dataOffset = Math.ceil(tableEnd / granule) * granule;
  const controlSize = dataOffset - controlOffset;
  return { headerSize, controlOffset, controlSize, dataOffset, dataSize: regionSize - dataOffset };
}
