import {
  ChannelEntryLayout,
  MAX_CHANNEL_CAPACITY,
  MAX_REGION_SIZE,
  MIN_REGION_SIZE,
  PAGE_GRANULES,
  isPageGranule,
  minWindowSize,
  regionSections,
  type PageGranule,
} from '@sivshm/abi';
import { TransportError } from '../errors/transport-error.js';

/** Offsets and sizes of the three sections of a layout-v1 region (docs/architecture.md). */
export interface RegionLayoutInfo {
  /** Total bytes of the region; a power of two. */
  readonly regionSize: number;
  /** Bytes of the header page (always `PAGE_SIZE` of `@sivshm/abi`, at offset 0). */
  readonly headerSize: number;
  /** Offset of the control section (channel table). */
  readonly controlOffset: number;
  /** Bytes of the control section, a whole number of pages. */
  readonly controlSize: number;
  /** Offset of the data section (channel windows). */
  readonly dataOffset: number;
  /** Bytes of the data section, a whole number of pages. */
  readonly dataSize: number;
  /** Number of entries in the channel table. */
  readonly channelCapacity: number;
  /** Bytes per channel-table entry. */
  readonly channelEntrySize: number;
  /**
   * The page granule every window is laid out for (`region.pageGranule`): 4096 is layout v1,
   * larger granules are layout version 2 (docs/protocol.md).
   */
  readonly pageGranule: PageGranule;
}

function isPowerOfTwo(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0 && 2 ** Math.round(Math.log2(n)) === n;
}

/**
 * Computes the section offsets of a region; the only place that decides where sections start.
 *
 * Use it in hostd to create a region and in tests to build one on a heap buffer; a reader of an
 * existing region gets the same numbers back from {@link readRegionHeader}, which checks them
 * against this function.
 *
 * @example
 * ```ts
 * const layout = RegionLayout.compute({ regionSize: 4 << 20, channelCapacity: 64 });
 * layout.dataOffset; // 8192: header page + one control page
 * ```
 */
export const RegionLayout = {
  compute(opts: {
    regionSize: number;
    channelCapacity: number;
    pageGranule?: number;
  }): RegionLayoutInfo {
    const { regionSize, channelCapacity } = opts;
    const pageGranule = opts.pageGranule ?? PAGE_GRANULES[0];
    if (!isPageGranule(pageGranule)) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        `pageGranule ${pageGranule} is not allowed: it must be one of ${PAGE_GRANULES.join(', ')} (the largest kernel page size of the VMs)`,
      );
    }
    if (!isPowerOfTwo(regionSize) || regionSize < MIN_REGION_SIZE || regionSize > MAX_REGION_SIZE) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        `regionSize ${regionSize} is not allowed: it must be a power of two from ${MIN_REGION_SIZE} to ${MAX_REGION_SIZE} bytes (QEMU requires a power-of-two BAR2)`,
      );
    }
    if (
      !Number.isSafeInteger(channelCapacity) ||
      channelCapacity < 1 ||
      channelCapacity > MAX_CHANNEL_CAPACITY
    ) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        `channelCapacity ${channelCapacity} is out of range 1..${MAX_CHANNEL_CAPACITY}`,
      );
    }
    const { headerSize, controlOffset, controlSize, dataOffset, dataSize } = regionSections(
      regionSize,
      channelCapacity,
      pageGranule,
    );
    const minWindow = minWindowSize(pageGranule);
    if (dataSize < minWindow) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        `a region of ${regionSize} bytes with ${channelCapacity} channel entries leaves ${dataSize} bytes of data section; at least ${minWindow} (one minimal window) is needed`,
      );
    }
    return {
      regionSize,
      headerSize,
      controlOffset,
      controlSize,
      dataOffset,
      dataSize,
      channelCapacity,
      channelEntrySize: ChannelEntryLayout.size,
      pageGranule,
    };
  },
} as const;
