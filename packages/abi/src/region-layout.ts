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

/** The header page at offset 0 of the region, written only by hostd. */
export const RegionHeaderLayout = {
  size: PAGE_SIZE,
  /** "SIVSHM\0\1" */
  magic: new Uint8Array([0x53, 0x49, 0x56, 0x53, 0x48, 0x4d, 0x00, 0x01]),
  layoutVersion: 1,
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
  },
} as const;

/**
 * A channel window: two directions, consumer→provider (c2p) first, then provider→consumer (p2c).
 * Each direction is `[producer page][consumer page][data area]`; the data area is a power of
 * two of at least one page. Only the direction's producer writes its producer page and data
 * area; only its consumer writes its consumer page.
 */
export const WindowLayout = {
  producerPage: 0,
  consumerPage: PAGE_SIZE,
  dataArea: 2 * PAGE_SIZE,
  /** Bytes of one direction for a data area of `dataSize` bytes. */
  directionSize: (dataSize: number): number => 2 * PAGE_SIZE + dataSize,
  /** Total window length for a data area of `dataSize` bytes per direction. */
  windowLength: (dataSize: number): number => 2 * (2 * PAGE_SIZE + dataSize),
  /** Data area per direction implied by a window length, or undefined if it is not valid. */
  dataSizeOf: (windowLength: number): number | undefined => {
    const d = windowLength / 2 - 2 * PAGE_SIZE;
    return Number.isInteger(d) && d >= PAGE_SIZE && (d & (d - 1)) === 0 ? d : undefined;
  },
} as const;

/** Which side of a window a grant holder is; decides which pages it may write. */
export type WindowRole = 'consumer' | 'provider';

/**
 * Byte ranges (relative to the window start) that `role` may write; everything else in the
 * window is mapped read-only for it. The consumer produces c2p and consumes p2c.
 */
export function writableRanges(
  role: WindowRole,
  dataSize: number,
): ReadonlyArray<{ offset: number; length: number }> {
  const dir = WindowLayout.directionSize(dataSize);
  const own = role === 'consumer' ? 0 : dir; // the direction this role produces
  const peer = role === 'consumer' ? dir : 0; // the direction this role consumes
  return [
    { offset: own + WindowLayout.producerPage, length: PAGE_SIZE },
    { offset: own + WindowLayout.dataArea, length: dataSize },
    { offset: peer + WindowLayout.consumerPage, length: PAGE_SIZE },
  ];
}
