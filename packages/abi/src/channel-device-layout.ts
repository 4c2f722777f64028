/**
 * The memory of an `isolation: device` channel (docs/protocol.md §10): one ivshmem-plain device
 * hot-plugged into the channel's two VMs only (qemu mode), or one file told to those two only
 * (emulated mode). All integers little-endian.
 *
 * ```
 * 0               header (one granule G; hostd writes it once, before anyone maps the memory)
 * G               the window, laid out exactly like a region window of granule G
 * G + window      .. device size: zero, never granted
 * device size     a power of two (a PCI BAR; QEMU aborts on anything else)
 *
 * header:  0 magic "SIVCHN\0\1"   8 layout_version u32   12 header_size u32 (= G)
 *         16 device_size u64     24 epoch u64           32 channel_id u64
 *         40 window_offset u64 (= G)   48 window_length u64
 *         56 page_granule u32    60 ring_data_size u32
 *         64 consumer_vm u32     68 provider_vm u32
 *         72 service u16  74 instance u16  76 major u8  77 mode u8  78 reserved u16 (0)
 *         80 .. G reserved (0)
 * ```
 *
 * A grant names such a window with `target` = device (byte 81 of the grant token, formerly the
 * first pad byte): its window offset and length are then relative to this memory, and the device
 * maps it at {@link DEVICE_MAP_BASE}.
 */
import type { ChannelIdentity } from './channel-table-layout.js';
import { GrantLayout } from './grant-layout.js';
import { PAGE_GRANULES, windowLayout, type PageGranule } from './region-layout.js';

export const ChannelDeviceHeaderLayout = {
  /** "SIVCHN\0\1": never the region's "SIVSHM\0\1", so a device is one or the other. */
  magic: Uint8Array.of(0x53, 0x49, 0x56, 0x43, 0x48, 0x4e, 0x00, 0x01),
  version: 1,
  /** Bytes of the header that carry fields; the rest of the granule is zero. */
  size: 80,
  off: {
    magic: 0,
    layoutVersion: 8,
    headerSize: 12,
    deviceSize: 16,
    epoch: 24,
    channelId: 32,
    windowOffset: 40,
    windowLength: 48,
    pageGranule: 56,
    ringDataSize: 60,
    consumerVm: 64,
    providerVm: 68,
    service: 72,
    instance: 74,
    major: 76,
    mode: 77,
    reserved: 78,
  },
} as const;

/** Where a grant's window lives (`target`, byte 81 of the grant token). */
export const GrantTarget = { region: 0, device: 1 } as const;
export type GrantTargetName = keyof typeof GrantTarget;

/** The target byte and the pad bytes after it: `GrantLayout`'s, named here too. */
export const GrantTargetLayout = {
  off: { target: GrantLayout.off.target, pad1: GrantLayout.off.pad1 },
  pad1Size: GrantLayout.pad1Size,
} as const;

/** The mmap offset of a device window on the device file: above any region (at most 2^36). */
export const DEVICE_MAP_BASE = 2 ** 40;

/** Smallest device memory, bytes: a small power of two QEMU maps as a BAR. */
export const MIN_CHANNEL_DEVICE_SIZE = 64 * 1024;

/** The fields of a channel device header. */
export interface ChannelDeviceHeader extends ChannelIdentity {
  readonly deviceSize: number;
  readonly epoch: bigint;
  readonly channelId: bigint;
  readonly pageGranule: PageGranule;
  readonly windowLength: number;
  readonly ringDataSize: number;
}

/** The device size for a window: the smallest power of two ≥ G + window, at least 64 KiB. */
export function channelDeviceSize(granule: PageGranule, windowLength: number): number {
  let size = MIN_CHANNEL_DEVICE_SIZE;
  while (size < granule + windowLength) size *= 2;
  return size;
}

/** Writes `h` into the first granule of `mem` (zeroing the rest of it). */
export function writeChannelDeviceHeader(mem: Uint8Array, h: ChannelDeviceHeader): void {
  const L = ChannelDeviceHeaderLayout;
  mem.fill(0, 0, h.pageGranule);
  mem.set(L.magic, L.off.magic);
  const dv = new DataView(mem.buffer, mem.byteOffset, h.pageGranule);
  dv.setUint32(L.off.layoutVersion, L.version, true);
  dv.setUint32(L.off.headerSize, h.pageGranule, true);
  dv.setBigUint64(L.off.deviceSize, BigInt(h.deviceSize), true);
  dv.setBigUint64(L.off.epoch, h.epoch, true);
  dv.setBigUint64(L.off.channelId, h.channelId, true);
  dv.setBigUint64(L.off.windowOffset, BigInt(h.pageGranule), true);
  dv.setBigUint64(L.off.windowLength, BigInt(h.windowLength), true);
  dv.setUint32(L.off.pageGranule, h.pageGranule, true);
  dv.setUint32(L.off.ringDataSize, h.ringDataSize, true);
  dv.setUint32(L.off.consumerVm, h.consumerVm, true);
  dv.setUint32(L.off.providerVm, h.providerVm, true);
  dv.setUint16(L.off.service, h.service, true);
  dv.setUint16(L.off.instance, h.instance, true);
  dv.setUint8(L.off.major, h.major);
  dv.setUint8(L.off.mode, h.mode);
}

/**
 * Reads and validates a channel device header from `mem` (the device memory): the magic
 * and version, a granule the layout knows, the window at one granule and of a length the
 * granule's layout makes, inside the memory, and a channel id. undefined when any rule fails:
 * such memory is not a channel device.
 */
export function readChannelDeviceHeader(
  mem: Uint8Array,
  /** Bytes of the whole device memory when `mem` holds only its start (a file's first page). */
  memorySize = mem.length,
): ChannelDeviceHeader | undefined {
  const L = ChannelDeviceHeaderLayout;
  if (mem.length < L.size) return undefined;
  for (let i = 0; i < L.magic.length; i++) if (mem[i] !== L.magic[i]) return undefined;
  const dv = new DataView(mem.buffer, mem.byteOffset, L.size);
  const granule = dv.getUint32(L.off.pageGranule, true);
  if (!(PAGE_GRANULES as readonly number[]).includes(granule)) return undefined;
  const g = granule as PageGranule;
  const windowLength = Number(dv.getBigUint64(L.off.windowLength, true));
  const ringDataSize = dv.getUint32(L.off.ringDataSize, true);
  const deviceSize = Number(dv.getBigUint64(L.off.deviceSize, true));
  const channelId = dv.getBigUint64(L.off.channelId, true);
  const valid =
    dv.getUint32(L.off.layoutVersion, true) === L.version &&
    dv.getUint32(L.off.headerSize, true) === g &&
    dv.getBigUint64(L.off.windowOffset, true) === BigInt(g) &&
    windowLayout(g).dataSizeOf(windowLength) === ringDataSize &&
    deviceSize === memorySize &&
    g + windowLength <= deviceSize &&
    channelId !== 0n &&
    dv.getUint16(L.off.reserved, true) === 0;
  if (!valid) return undefined;
  return {
    deviceSize,
    epoch: dv.getBigUint64(L.off.epoch, true),
    channelId,
    pageGranule: g,
    windowLength,
    ringDataSize,
    consumerVm: dv.getUint32(L.off.consumerVm, true),
    providerVm: dv.getUint32(L.off.providerVm, true),
    service: dv.getUint16(L.off.service, true),
    instance: dv.getUint16(L.off.instance, true),
    major: dv.getUint8(L.off.major),
    mode: dv.getUint8(L.off.mode),
  };
}
