import { CoreError } from '../errors/core-error.js';
import {
  ChannelModeCode,
  DoorbellRoute,
  GrantLayout,
  GrantTarget,
  type GrantTargetName,
  GrantPerm,
  GrantRole,
  type ChannelMode,
  type GrantRoleName,
} from '@sivshm/abi';

/**
 * A channel's doorbell route as its grant names it (docs/protocol.md §7): the holder may ring
 * vector v of the VM at IVPosition `peer` for every bit v of `ring`, and sees its own VM's
 * vector v for every bit v of `observe`. The device allows nothing else.
 */
export interface GrantDoorbellRoute {
  /** IVPosition of the peer VM's doorbell device; undefined: the channel has no route. */
  readonly peer: number | undefined;
  /** Bit mask of the peer's vectors the holder may ring (0 when `peer` is undefined). */
  readonly ring: number;
  /** Bit mask of the own VM's vectors the holder may observe. */
  readonly observe: number;
}

/** The route of a channel without doorbells: nothing to ring, nothing to observe. */
export const NO_DOORBELL_ROUTE: GrantDoorbellRoute = { peer: undefined, ring: 0, observe: 0 };

/** The fields of a grant token (docs/protocol.md §7), before encoding. */
export interface GrantToken {
  readonly role: GrantRoleName;
  /** `GrantPerm` bits. */
  readonly perms: number;
  readonly epoch: bigint;
  /** Single-use per VM; see `SerialWindow`. */
  readonly grantSerial: bigint;
  readonly vmId: number;
  readonly channelId: bigint;
  readonly windowOffset: bigint;
  readonly windowLength: bigint;
  /** The 16-byte nonce of the device file the token is bound to. */
  readonly kn: Uint8Array;
  /** Expiry, unix time in nanoseconds. */
  readonly notAfterNs: bigint;
  readonly mode: ChannelMode;
  /** The channel's doorbell route; absent when encoding: {@link NO_DOORBELL_ROUTE}. */
  readonly doorbell?: GrantDoorbellRoute;
  /**
   * Where the window lives (byte 81): absent or `region`, the shared region; `device`, the
   * channel's own memory (docs/protocol.md §10), whose offsets the window fields then are.
   */
  readonly target?: GrantTargetName;
}

const U32_MAX = 0xffff_ffff;
const U64_MAX = (1n << 64n) - 1n;

function checkU64(name: string, v: bigint): void {
  if (v < 0n || v > U64_MAX) {
    throw new CoreError('ERR_GRANT_INVALID', `grant ${name} ${v} is out of range 0..2^64-1`);
  }
}

function checkRoute(r: GrantDoorbellRoute): void {
  const mask = (name: string, v: number): void => {
    if (!Number.isInteger(v) || v < 0 || v > U32_MAX) {
      throw new CoreError(
        'ERR_GRANT_INVALID',
        `grant doorbell ${name} mask ${v} is out of range 0..2^32-1`,
      );
    }
  };
  mask('ring', r.ring);
  mask('observe', r.observe);
  if (r.peer === undefined) {
    if (r.ring !== 0) {
      throw new CoreError(
        'ERR_GRANT_INVALID',
        'grant doorbell route rings vectors but names no peer: give the peer IVPosition or ring 0',
      );
    }
  } else if (!Number.isInteger(r.peer) || r.peer < 0 || r.peer >= DoorbellRoute.noPeer) {
    throw new CoreError(
      'ERR_GRANT_INVALID',
      `grant doorbell peer ${r.peer} is out of range 0..${DoorbellRoute.noPeer - 1}`,
    );
  }
}

/**
 * Encodes a grant token into its fixed 104-byte little-endian form (without the tag).
 *
 * @example
 * ```ts
 * const bytes = encodeGrant({
 *   role: 'consumer',
 *   perms: GrantPerm.map,
 *   epoch: 7n,
 *   grantSerial: 1n,
 *   vmId: 2,
 *   channelId: 0x1234n,
 *   windowOffset: 0x10000n,
 *   windowLength: 0x6000n,
 *   kn: new Uint8Array(16), // the nonce of the consumer's device file
 *   notAfterNs: BigInt(Date.now() + 10_000) * 1_000_000n,
 *   mode: 'plain',
 *   doorbell: { peer: 1, ring: 0b10, observe: 0b10 }, // vector 1, both ways
 * });
 * ```
 */
export function encodeGrant(t: GrantToken): Uint8Array {
  const L = GrantLayout;
  if (t.kn.length !== L.knSize) {
    throw new CoreError(
      'ERR_GRANT_INVALID',
      `grant kn must be ${L.knSize} bytes, got ${t.kn.length}`,
    );
  }
  if (!Number.isInteger(t.vmId) || t.vmId < 0 || t.vmId > U32_MAX) {
    throw new CoreError('ERR_GRANT_INVALID', `grant vmId ${t.vmId} is out of range 0..2^32-1`);
  }
  if (!Number.isInteger(t.perms) || t.perms < 0 || t.perms > 0xffff) {
    throw new CoreError('ERR_GRANT_INVALID', `grant perms ${t.perms} is out of range 0..0xFFFF`);
  }
  if (!(t.role in GrantRole)) {
    throw new CoreError(
      'ERR_GRANT_INVALID',
      `grant role ${String(t.role)} is not consumer|provider`,
    );
  }
  if (!(t.mode in ChannelModeCode)) {
    throw new CoreError('ERR_GRANT_INVALID', `grant mode ${String(t.mode)} is not plain|mac|aead`);
  }
  for (const [name, v] of [
    ['epoch', t.epoch],
    ['grantSerial', t.grantSerial],
    ['channelId', t.channelId],
    ['windowOffset', t.windowOffset],
    ['windowLength', t.windowLength],
    ['notAfterNs', t.notAfterNs],
  ] as const) {
    checkU64(name, v);
  }
  const route = t.doorbell ?? NO_DOORBELL_ROUTE;
  checkRoute(route);
  const target = t.target ?? 'region';
  if (!(target in GrantTarget)) {
    throw new CoreError('ERR_GRANT_INVALID', `grant target ${String(target)} is not region|device`);
  }
  const out = new Uint8Array(L.size);
  const dv = new DataView(out.buffer);
  dv.setUint32(L.off.magic, L.magic, true);
  dv.setUint8(L.off.version, L.version);
  dv.setUint8(L.off.role, GrantRole[t.role]);
  dv.setUint16(L.off.perms, t.perms, true);
  dv.setBigUint64(L.off.epoch, t.epoch, true);
  dv.setBigUint64(L.off.grantSerial, t.grantSerial, true);
  dv.setUint32(L.off.vmId, t.vmId, true);
  dv.setBigUint64(L.off.channelId, t.channelId, true);
  dv.setBigUint64(L.off.windowOffset, t.windowOffset, true);
  dv.setBigUint64(L.off.windowLength, t.windowLength, true);
  out.set(t.kn, L.off.kn);
  dv.setBigUint64(L.off.notAfter, t.notAfterNs, true);
  dv.setUint8(L.off.mode, ChannelModeCode[t.mode]);
  dv.setUint8(L.off.target, GrantTarget[target]);
  dv.setUint16(L.off.dbPeer, route.peer ?? DoorbellRoute.noPeer, true);
  dv.setUint32(L.off.dbRing, route.ring, true);
  dv.setUint32(L.off.dbObserve, route.observe, true);
  return out;
}

/** Why a token's bytes do not decode; the same names the verifier reports. */
export type GrantDecodeFailure =
  'size' | 'magic' | 'version' | 'role' | 'perms' | 'pad' | 'mode' | 'doorbell';

/** Result of `decodeGrant`: the fields, or the first structural rule the bytes break. */
export type GrantDecodeResult =
  | { readonly ok: true; readonly token: GrantToken }
  | { readonly ok: false; readonly reason: GrantDecodeFailure };

/**
 * Decodes 104 grant bytes, applying every structural rule (magic, version, known role, only
 * known perms bits, zero padding, known mode, a route that rings only with a peer). It does not
 * check the tag; `verifyGrant` does.
 */
export function decodeGrant(bytes: Uint8Array): GrantDecodeResult {
  const L = GrantLayout;
  if (bytes.length !== L.size) return { ok: false, reason: 'size' };
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint32(L.off.magic, true) !== L.magic) return { ok: false, reason: 'magic' };
  if (dv.getUint8(L.off.version) !== L.version) return { ok: false, reason: 'version' };
  const roleCode = dv.getUint8(L.off.role);
  const role = (Object.keys(GrantRole) as GrantRoleName[]).find((k) => GrantRole[k] === roleCode);
  if (role === undefined) return { ok: false, reason: 'role' };
  const perms = dv.getUint16(L.off.perms, true);
  if ((perms & ~GrantPerm.map) !== 0 || (perms & GrantPerm.map) === 0) {
    return { ok: false, reason: 'perms' };
  }
  if (dv.getUint32(L.off.pad0, true) !== 0) return { ok: false, reason: 'pad' };
  // Byte 81 was the first pad byte: a target the reader does not know reads as non-zero padding.
  const targetCode = bytes[L.off.target];
  if (targetCode !== GrantTarget.region && targetCode !== GrantTarget.device) {
    return { ok: false, reason: 'pad' };
  }
  for (let i = 0; i < L.pad1Size; i++) {
    if (bytes[L.off.pad1 + i] !== 0) return { ok: false, reason: 'pad' };
  }
  if (dv.getUint16(L.off.pad2, true) !== 0 || dv.getUint32(L.off.pad3, true) !== 0) {
    return { ok: false, reason: 'pad' };
  }
  const modeCode = dv.getUint8(L.off.mode);
  const mode = (Object.keys(ChannelModeCode) as ChannelMode[]).find(
    (k) => ChannelModeCode[k] === modeCode,
  );
  if (mode === undefined) return { ok: false, reason: 'mode' };
  const dbPeer = dv.getUint16(L.off.dbPeer, true);
  const ring = dv.getUint32(L.off.dbRing, true);
  if (dbPeer === DoorbellRoute.noPeer && ring !== 0) return { ok: false, reason: 'doorbell' };
  return {
    ok: true,
    token: {
      role,
      perms,
      epoch: dv.getBigUint64(L.off.epoch, true),
      grantSerial: dv.getBigUint64(L.off.grantSerial, true),
      vmId: dv.getUint32(L.off.vmId, true),
      channelId: dv.getBigUint64(L.off.channelId, true),
      windowOffset: dv.getBigUint64(L.off.windowOffset, true),
      windowLength: dv.getBigUint64(L.off.windowLength, true),
      kn: bytes.slice(L.off.kn, L.off.kn + L.knSize),
      notAfterNs: dv.getBigUint64(L.off.notAfter, true),
      mode,
      doorbell: {
        peer: dbPeer === DoorbellRoute.noPeer ? undefined : dbPeer,
        ring,
        observe: dv.getUint32(L.off.dbObserve, true),
      },
      ...(targetCode === GrantTarget.device ? { target: 'device' as const } : {}),
    },
  };
}
