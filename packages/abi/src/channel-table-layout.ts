/**
 * Byte layout of one channel-table entry in the control section (layout v1), little-endian.
 *
 * The table is an array of `capacity` entries of {@link ChannelEntryLayout.size} bytes starting
 * at the control section's offset. Only hostd writes it (`ChannelTableWriter`); every VM may
 * read it (`ChannelTableReader`) and must validate what it reads.
 *
 * ```
 *  0 channel_id u64         random, never reused within an epoch; 0 only when FREE
 *  8 generation u32         +1 each time the slot is (re)used; a reader holding (index,
 *                           generation) notices that the slot was recycled under it
 * 12 state u32              ChannelEntryState
 * 16 offset u64             window offset from the region start, page-aligned, in the data section
 * 24 length u64             window length = WindowLayout.windowLength(ring_data_size)
 * 32 consumer_vm u32
 * 36 provider_vm u32
 * 40 service u16            SOME/IP service id
 * 42 instance u16           SOME/IP instance id
 * 44 major u8               interface major version
 * 45 mode u8                ChannelModeCode (plain 0, mac 1, aead 2)
 * 46 reserved u16           0
 * 48 ring_data_size u32     data area per direction (both directions are equal in layout v1),
 *                           a power of two ≥ PAGE_SIZE
 * 52 reserved u32           0
 * 56 reserved u32           0
 * 60 seq u32                seqlock: odd while hostd rewrites the entry, +2 per rewrite
 * ```
 *
 * Why a seqlock: hostd rewrites entries while readers in other VMs read them, and a 64-byte entry
 * cannot be stored atomically. Readers copy the entry between two loads of `seq` and retry when
 * it was odd or changed, so they never act on a torn mix of two versions.
 */
export const ChannelEntryLayout = {
  size: 64,
  off: {
    channelId: 0,
    generation: 8,
    state: 12,
    offset: 16,
    length: 24,
    consumerVm: 32,
    providerVm: 36,
    service: 40,
    instance: 42,
    major: 44,
    mode: 45,
    reserved0: 46,
    ringDataSize: 48,
    reserved1: 52,
    reserved2: 56,
    seq: 60,
  },
} as const;

/** Lifecycle state of a channel-table entry (`state` word). */
export const ChannelEntryState = {
  /** Slot unused. */
  FREE: 0,
  /** Window reserved during the handshake; not yet mapped by anyone. */
  PENDING: 1,
  /** Handshake finished; both grant holders may map and use the window. */
  ACTIVE: 2,
  /** Teardown in progress; revokes sent, waiting for the kernel modules' acks. */
  CLOSING: 3,
  /** A revoke was not acknowledged in time; the window stays out of use until the VM resets. */
  QUARANTINED: 4,
} as const;

/** Name of a {@link ChannelEntryState} value. */
export type ChannelEntryStateName = keyof typeof ChannelEntryState;

/** Names indexed by state value, for messages and decoding. */
export const CHANNEL_STATE_NAMES: readonly ChannelEntryStateName[] = [
  'FREE',
  'PENDING',
  'ACTIVE',
  'CLOSING',
  'QUARANTINED',
];

/**
 * Who a channel is between and what it carries: the fields a channel-table entry and a channel
 * device header both store, declared once so the two never describe a channel differently.
 */
export interface ChannelIdentity {
  readonly consumerVm: number;
  readonly providerVm: number;
  readonly service: number;
  readonly instance: number;
  readonly major: number;
  /** Channel protection mode code (`ChannelModeCode`). */
  readonly mode: number;
}

/** One decoded channel-table entry. */
export interface ChannelEntry extends ChannelIdentity {
  readonly channelId: bigint;
  readonly generation: number;
  readonly state: ChannelEntryStateName;
  /** Window offset from the region start. */
  readonly offset: number;
  /** Window length in bytes. */
  readonly length: number;
  /** Data area per ring direction in bytes. */
  readonly ringDataSize: number;
}
