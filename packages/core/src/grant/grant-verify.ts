import type { CryptoBackend } from '../crypto/crypto-backend.js';
import { equalConstantTime } from '../crypto/constant-time.js';
import { CoreError } from '../errors/core-error.js';
import {
  GRANT_TAG_LABEL,
  GrantLayout,
  TOKEN_TAG_SIZE,
  type ChannelDeviceHeader,
} from '@sivshm/abi';
import {
  decodeGrant,
  encodeGrant,
  type GrantDecodeFailure,
  type GrantToken,
} from './grant-token.js';
import type { SerialWindow } from './serial-window.js';

const PAGE = 4096n;
const grantLabel = new TextEncoder().encode(GRANT_TAG_LABEL);

/** What the device knows when a token arrives (docs/protocol.md §7). */
export interface GrantCheckContext {
  /** The VM this device belongs to. */
  readonly vmId: number;
  /** The current epoch (from the region header / the key provisioning). */
  readonly epoch: bigint;
  /** Nonce of the open file the token was presented on. */
  readonly kn: Uint8Array;
  /** Now, unix nanoseconds. */
  readonly nowNs: bigint;
  /** Geometry of the region: windows must lie inside the data section. */
  readonly region: {
    readonly size: bigint;
    readonly dataOffset: bigint;
    readonly dataSize: bigint;
  };
  /** The VM's single-use serial state; committed only when the token is accepted. */
  readonly serials: SerialWindow;
  /**
   * The header of the channel device bound to `channelId` in this VM, if one is: how a grant
   * with target `device` is checked (docs/protocol.md §10). Absent: no device is ever bound.
   */
  readonly channelDevice?: (channelId: bigint) => ChannelDeviceHeader | undefined;
}

/** Why a grant was refused; the kernel module refuses for the same reasons. */
export type GrantRejectReason =
  | GrantDecodeFailure
  | 'tag'
  | 'vm'
  | 'epoch'
  | 'kn'
  | 'window'
  | 'expired'
  | 'replay'
  /** A device grant whose channel device is not bound in this VM. */
  | 'nodev';

export type GrantVerdict =
  | { readonly ok: true; readonly token: GrantToken }
  | { readonly ok: false; readonly reason: GrantRejectReason };

/** HMAC-SHA256(K_vm, "sivshm v1 grant\0" || token): the 32-byte tag of a grant. */
export function grantTag(crypto: CryptoBackend, key: Uint8Array, token: Uint8Array): Uint8Array {
  if (key.length !== 32) {
    throw new CoreError('ERR_GRANT_INVALID', `grant key must be 32 bytes, got ${key.length}`);
  }
  return crypto.hmacSha256(key, grantLabel, token);
}

/** Encodes and tags a grant: what hostd sends, and what the device receives. */
export function signGrant(
  crypto: CryptoBackend,
  key: Uint8Array,
  token: GrantToken,
): { readonly token: Uint8Array; readonly tag: Uint8Array } {
  const bytes = encodeGrant(token);
  return { token: bytes, tag: grantTag(crypto, key, bytes) };
}

/**
 * Applies every rule of docs/protocol.md §7 except "the caller is the process that opened the file"
 * (a property of the device, checked there), in the kernel module's order: size, tag (constant
 * time), structure, vm, epoch, kn, window, expiry, then replay — the serial is committed only if
 * everything else passed, so a refused token never burns a serial.
 */
export function verifyGrant(
  crypto: CryptoBackend,
  key: Uint8Array,
  token: Uint8Array,
  tag: Uint8Array,
  ctx: GrantCheckContext,
): GrantVerdict {
  if (token.length !== GrantLayout.size || tag.length !== TOKEN_TAG_SIZE) {
    return { ok: false, reason: 'size' };
  }
  if (!equalConstantTime(grantTag(crypto, key, token), tag)) return { ok: false, reason: 'tag' };
  const decoded = decodeGrant(token);
  if (!decoded.ok) return decoded;
  const t = decoded.token;
  if (t.vmId !== ctx.vmId) return { ok: false, reason: 'vm' };
  if (t.epoch !== ctx.epoch) return { ok: false, reason: 'epoch' };
  if (!equalConstantTime(t.kn, ctx.kn)) return { ok: false, reason: 'kn' };
  if (t.target === 'device') {
    const refused = deviceWindowRefusal(t, ctx.channelDevice?.(t.channelId));
    if (refused !== undefined) return { ok: false, reason: refused };
  } else if (!windowInsideData(t.windowOffset, t.windowLength, ctx.region)) {
    return { ok: false, reason: 'window' };
  }
  if (t.notAfterNs <= ctx.nowNs) return { ok: false, reason: 'expired' };
  if (!ctx.serials.isFresh(t.grantSerial)) return { ok: false, reason: 'replay' };
  ctx.serials.commit(t.grantSerial);
  return { ok: true, token: t };
}

/**
 * A device grant's window against the header of the device bound to its channel: `nodev` when
 * none is, `window` when the header's epoch, window or pair does not match the token's.
 */
function deviceWindowRefusal(
  t: GrantToken,
  h: ChannelDeviceHeader | undefined,
): 'nodev' | 'window' | undefined {
  if (h === undefined) return 'nodev';
  const vm = t.role === 'consumer' ? h.consumerVm : h.providerVm;
  const matches =
    h.epoch === t.epoch &&
    t.windowOffset === BigInt(h.pageGranule) &&
    t.windowLength === BigInt(h.windowLength) &&
    vm === t.vmId;
  return matches ? undefined : 'window';
}

/** Page-aligned, non-empty, inside the data section (so never over the header or control). */
export function windowInsideData(
  offset: bigint,
  length: bigint,
  region: GrantCheckContext['region'],
): boolean {
  if (offset % PAGE !== 0n || length % PAGE !== 0n || length === 0n) return false;
  if (region.dataOffset + region.dataSize > region.size) return false;
  return offset >= region.dataOffset && offset + length <= region.dataOffset + region.dataSize;
}
