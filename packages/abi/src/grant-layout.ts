/**
 * Byte layout of grant and revoke tokens (docs/protocol.md), all integers little-endian.
 *
 * The C definition in `packages/kmod/include/uapi/sivshm.h` is the single source of truth; this
 * file mirrors it and `packages/kmod/test/uapi.int.spec.ts` compiles the header and compares
 * every offset and size.
 *
 * ```
 * GRANT (104 bytes) then tag (32 bytes)     REVOKE (40 bytes) then tag (32 bytes)
 *  0 magic "SIVG"   4 version u8             0 magic "SIVR"   4 version u8   5 pad[3]
 *  5 role u8        6 perms u16              8 epoch u64
 *  8 epoch u64     16 grant_serial u64      16 revoke_serial u64
 * 24 vm_id u32     28 pad u32               24 vm_id u32     28 pad u32
 * 32 channel_id u64                         32 channel_id u64
 * 40 window_offset u64  48 window_length u64
 * 56 kn[16]        72 not_after u64 (unix ns)
 * 80 mode u8       81 pad[7]
 * 88 db_peer u16   90 pad u16   92 db_ring u32   96 db_observe u32   100 pad u32
 * tag = HMAC-SHA256(K_vm, label || token), label "sivshm v1 grant\0" / "sivshm v1 revoke\0"
 * ```
 *
 * Grant version 2 added the channel's doorbell route (db_*): the peer VM's IVPosition, the
 * vectors the holder may ring there and the own vectors it may observe (docs/protocol.md §7).
 */
export const GrantLayout = {
  size: 104,
  magic: 0x47564953, // "SIVG" read as a little-endian u32
  version: 2,
  off: {
    magic: 0,
    version: 4,
    role: 5,
    perms: 6,
    epoch: 8,
    grantSerial: 16,
    vmId: 24,
    pad0: 28,
    channelId: 32,
    windowOffset: 40,
    windowLength: 48,
    kn: 56,
    notAfter: 72,
    mode: 80,
    /** GrantTarget: 0 the window is in the region, 1 in the channel's own device. */
    target: 81,
    pad1: 82,
    dbPeer: 88,
    pad2: 90,
    dbRing: 92,
    dbObserve: 96,
    pad3: 100,
  },
  knSize: 16,
  pad1Size: 6,
} as const;

export const RevokeLayout = {
  size: 40,
  magic: 0x52564953, // "SIVR"
  version: 1,
  off: {
    magic: 0,
    version: 4,
    pad0: 5,
    epoch: 8,
    revokeSerial: 16,
    vmId: 24,
    pad1: 28,
    channelId: 32,
  },
  pad0Size: 3,
} as const;

/**
 * The doorbell route fields of a grant: `db_peer` when the channel has no route (then `db_ring`
 * must be 0), and how many vectors the `db_ring`/`db_observe` bit masks can name.
 */
export const DoorbellRoute = { noPeer: 0xffff, maxVectors: 32 } as const;

/** Length of a VM's grant key `K_vm`, the HMAC-SHA256 key of its tokens (`SIVSHM_KEY_SIZE`). */
export const GRANT_KEY_SIZE = 32;

/** Length of the HMAC-SHA256 tag that follows a token. */
export const TOKEN_TAG_SIZE = 32;

/** Domain-separation labels hashed in front of the token bytes (NUL included). */
export const GRANT_TAG_LABEL = 'sivshm v1 grant\0';
export const REVOKE_TAG_LABEL = 'sivshm v1 revoke\0';
/**
 * Label of a revoke receipt, `HMAC(K_vm, label ‖ token)`, the proof a device returns after it
 * tore down a revoked channel's mappings. No NUL: exactly these 24 ASCII bytes.
 */
export const REVOKE_RECEIPT_LABEL = 'sivshm v1 revoke-receipt';
/** Length of a revoke receipt (an HMAC-SHA256). */
export const REVOKE_RECEIPT_SIZE = 32;

/** Role of the grant holder in its channel (`role` byte). */
export const GrantRole = { consumer: 1, provider: 2 } as const;
export type GrantRoleName = keyof typeof GrantRole;

/** `perms` bits. MAP: the holder may map the window with its role's page protections. */
export const GrantPerm = { map: 0x0001 } as const;

/** `mode` byte: the channel's protection mode (docs/protocol.md). */
export const ChannelModeCode = { plain: 0, mac: 1, aead: 2 } as const;
export type ChannelMode = keyof typeof ChannelModeCode;

/**
 * Replay rule shared by the kernel module and EmulatedDevice: serials are accepted once, within
 * a window of this many below the highest serial seen (older ones are refused).
 */
export const SERIAL_WINDOW = 64;
