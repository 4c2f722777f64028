/**
 * Region and channel-window layout v1 (docs/architecture.md) as the kernel module sees it.
 *
 * Mirrors `packages/kmod/include/uapi/sivshm.h` (the single source);
 * `packages/kmod/test/uapi.int.spec.ts` compiles the header and compares.
 * Everything is little-endian and page-aligned (4 KiB). The transport builds its region and
 * rings on these numbers; the kernel uses them to refuse grants outside the data section and to
 * map the peer's pages of a window read-only.
 */
export const PAGE_SIZE = 4096;

/**
 * Page granules a region may be laid out for (`region.pageGranule` in services.yaml): the
 * largest kernel page size among the VMs that map its windows. Every window page of one role
 * (producer page, consumer page, data area) starts and ends on a granule boundary, so no kernel
 * page of that size ever holds pages of both roles. 4096 is layout v1 exactly.
 */
export const PAGE_GRANULES = [4096, 16384, 65536] as const;
export type PageGranule = (typeof PAGE_GRANULES)[number];

/** Is `n` one of {@link PAGE_GRANULES}? */
export function isPageGranule(n: unknown): n is PageGranule {
  return (PAGE_GRANULES as readonly unknown[]).includes(n);
}

/**
 * The header's `layout_version` for a granule: 1 for 4 KiB (byte-identical to the original
 * layout, `page_granule` left 0), 2 for a larger granule (named in `page_granule`). A kernel or
 * reader that knows only version 1 refuses a version 2 region instead of misplacing its pages.
 */
export function layoutVersionFor(granule: PageGranule): 1 | 2 {
  return granule === PAGE_SIZE ? 1 : 2;
}

/** The header page at offset 0 of the region, written only by hostd. */
export const RegionHeaderLayout = {
  size: PAGE_SIZE,
  /** "SIVSHM\0\1" */
  magic: new Uint8Array([0x53, 0x49, 0x56, 0x53, 0x48, 0x4d, 0x00, 0x01]),
  layoutVersion: 1,
  /** The version of a region whose page granule is larger than 4 KiB ({@link layoutVersionFor}). */
  granuleLayoutVersion: 2,
  off: {
    magic: 0, // 8 bytes
    layoutVersion: 8, // u32
    headerSize: 12, // u32
    regionSize: 16, // u64
    epoch: 24, // u64
    controlOffset: 32, // u64
    controlSize: 40, // u64
    dataOffset: 48, // u64
    dataSize: 56, // u64
    channelCapacity: 64, // u32
    channelEntrySize: 68, // u32
    hostdHeartbeatNs: 72, // u64
    flags: 80, // u32
    pageGranule: 84, // u32: 0 in version 1 (meaning 4096), the granule in version 2
  },
} as const;

/**
 * The read-only control file (docs/protocol.md §10.4): the region's header page and channel
 * table, at the region's own offsets, in a file of their own that guests get through a
 * read-only memory backend. Its header is the region header with another magic, so no reader
 * takes it for a region or a channel device; `region_size` still names the region.
 */
export const ControlFileLayout = {
  /** "SIVCTL\0\1" */
  magic: new Uint8Array([0x53, 0x49, 0x56, 0x43, 0x54, 0x4c, 0x00, 0x01]),
  /** The smallest file (and BAR) size: QEMU's ivshmem wants a power of two. */
  minSize: 64 * 1024,
  /**
   * Bytes of the control file of a region whose data section starts at `dataOffset`: the
   * smallest power of two that holds the header and the table, at least {@link minSize}.
   */
  sizeFor(dataOffset: number): number {
    let size: number = ControlFileLayout.minSize;
    while (size < dataOffset) size *= 2;
    return size;
  },
} as const;

/** Where the pages of a channel window lie for one page granule (see {@link windowLayout}). */
export interface WindowLayoutOf {
  /** The page granule: size of each control page and alignment of every part. */
  readonly granule: PageGranule;
  readonly producerPage: number;
  readonly consumerPage: number;
  readonly dataArea: number;
  /** Bytes of one direction for a data area of `dataSize` bytes. */
  directionSize(dataSize: number): number;
  /** Total window length for a data area of `dataSize` bytes per direction. */
  windowLength(dataSize: number): number;
  /** Data area per direction implied by a window length, or undefined if it is not valid. */
  dataSizeOf(windowLength: number): number | undefined;
}

/**
 * A channel window: two directions, consumer→provider (c2p) first, then provider→consumer (p2c).
 * Each direction is `[producer page][consumer page][data area]`, each control page one granule
 * long and the data area a power of two of at least one granule. Only the direction's producer
 * writes its producer page and data area; only its consumer writes its consumer page.
 *
 * Why whole granules: the kernel module sets write permission per kernel page; a kernel page
 * holding both a page this role writes and one it must not can only be read-only, and the role's
 * own writes then fault. With `granule` ≥ the kernel's page size that never happens.
 */
export function windowLayout(granule: PageGranule): WindowLayoutOf {
  const g = granule;
  return {
    granule: g,
    producerPage: 0,
    consumerPage: g,
    dataArea: 2 * g,
    directionSize: (dataSize) => 2 * g + dataSize,
    windowLength: (dataSize) => 2 * (2 * g + dataSize),
    dataSizeOf: (windowLength) => {
      const d = windowLength / 2 - 2 * g;
      return Number.isInteger(d) && d >= g && (d & (d - 1)) === 0 ? d : undefined;
    },
  };
}

/** The window layout of layout v1 (granule 4 KiB). */
export const WindowLayout = windowLayout(PAGE_SIZE);

/** Which side of a window a grant holder is; decides which pages it may write. */
export type WindowRole = 'consumer' | 'provider';

/**
 * Byte ranges (relative to the window start) that `role` may write; everything else in the
 * window is mapped read-only for it. The consumer produces c2p and consumes p2c.
 */
export function writableRanges(
  role: WindowRole,
  dataSize: number,
  granule: PageGranule = PAGE_SIZE,
): ReadonlyArray<{ offset: number; length: number }> {
  const layout = windowLayout(granule);
  const dir = layout.directionSize(dataSize);
  const own = role === 'consumer' ? 0 : dir; // the direction this role produces
  const peer = role === 'consumer' ? dir : 0; // the direction this role consumes
  return [
    { offset: own + layout.producerPage, length: granule },
    { offset: own + layout.dataArea, length: dataSize },
    { offset: peer + layout.consumerPage, length: granule },
  ];
}
