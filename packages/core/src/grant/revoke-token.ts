import type { CryptoBackend } from '../crypto/crypto-backend.js';
import { equalConstantTime } from '../crypto/constant-time.js';
import { CoreError } from '../errors/core-error.js';
import { REVOKE_TAG_LABEL, RevokeLayout, TOKEN_TAG_SIZE } from '@sivshm/abi';
import type { SerialWindow } from './serial-window.js';

/** A REVOKE token (docs/protocol.md §7): tells one VM's device to zap a channel's mappings. */
export interface RevokeToken {
  readonly epoch: bigint;
  readonly revokeSerial: bigint;
  readonly vmId: number;
  readonly channelId: bigint;
}

const revokeLabel = new TextEncoder().encode(REVOKE_TAG_LABEL);

/** Encodes a revoke token into its fixed 40-byte form (without the tag). */
export function encodeRevoke(t: RevokeToken): Uint8Array {
  const L = RevokeLayout;
  if (!Number.isInteger(t.vmId) || t.vmId < 0 || t.vmId > 0xffff_ffff) {
    throw new CoreError('ERR_GRANT_INVALID', `revoke vmId ${t.vmId} is out of range 0..2^32-1`);
  }
  const out = new Uint8Array(L.size);
  const dv = new DataView(out.buffer);
  dv.setUint32(L.off.magic, L.magic, true);
  dv.setUint8(L.off.version, L.version);
  dv.setBigUint64(L.off.epoch, BigInt.asUintN(64, t.epoch), true);
  dv.setBigUint64(L.off.revokeSerial, BigInt.asUintN(64, t.revokeSerial), true);
  dv.setUint32(L.off.vmId, t.vmId, true);
  dv.setBigUint64(L.off.channelId, BigInt.asUintN(64, t.channelId), true);
  return out;
}

/** Encodes and tags a revoke token with the VM's grant key. */
export function signRevoke(
  crypto: CryptoBackend,
  key: Uint8Array,
  t: RevokeToken,
): { readonly token: Uint8Array; readonly tag: Uint8Array } {
  const token = encodeRevoke(t);
  return { token, tag: crypto.hmacSha256(key, revokeLabel, token) };
}

export type RevokeVerdict =
  | { readonly ok: true; readonly token: RevokeToken }
  | {
      readonly ok: false;
      readonly reason: 'size' | 'tag' | 'magic' | 'version' | 'pad' | 'vm' | 'epoch' | 'replay';
    };

/**
 * Verifies a revoke token for a device: tag (constant time), structure, own VM, current epoch,
 * single-use serial (committed only on success). Forged or replayed revokes change nothing.
 */
export function verifyRevoke(
  crypto: CryptoBackend,
  key: Uint8Array,
  token: Uint8Array,
  tag: Uint8Array,
  ctx: { readonly vmId: number; readonly epoch: bigint; readonly serials: SerialWindow },
): RevokeVerdict {
  const L = RevokeLayout;
  if (token.length !== L.size || tag.length !== TOKEN_TAG_SIZE)
    return { ok: false, reason: 'size' };
  if (!equalConstantTime(crypto.hmacSha256(key, revokeLabel, token), tag)) {
    return { ok: false, reason: 'tag' };
  }
  const dv = new DataView(token.buffer, token.byteOffset, token.byteLength);
  if (dv.getUint32(L.off.magic, true) !== L.magic) return { ok: false, reason: 'magic' };
  if (dv.getUint8(L.off.version) !== L.version) return { ok: false, reason: 'version' };
  for (let i = 0; i < L.pad0Size; i++) {
    if (token[L.off.pad0 + i] !== 0) return { ok: false, reason: 'pad' };
  }
  if (dv.getUint32(L.off.pad1, true) !== 0) return { ok: false, reason: 'pad' };
  const t: RevokeToken = {
    epoch: dv.getBigUint64(L.off.epoch, true),
    revokeSerial: dv.getBigUint64(L.off.revokeSerial, true),
    vmId: dv.getUint32(L.off.vmId, true),
    channelId: dv.getBigUint64(L.off.channelId, true),
  };
  if (t.vmId !== ctx.vmId) return { ok: false, reason: 'vm' };
  if (t.epoch !== ctx.epoch) return { ok: false, reason: 'epoch' };
  if (!ctx.serials.isFresh(t.revokeSerial)) return { ok: false, reason: 'replay' };
  ctx.serials.commit(t.revokeSerial);
  return { ok: true, token: t };
}
