import * as ed from '@noble/ed25519';
import { CoreError } from '../errors/core-error.js';
import { bytesToHex } from './bytes.js';

/**
 * Throws `ERR_BAD_KEY` unless `publicKey` is a usable Ed25519 identity key: 32 bytes, a
 * canonical encoding (y < p, no x = 0 with the sign bit set) of a point on the curve, in the
 * prime-order subgroup.
 *
 * Use it wherever a key is accepted for the long term — the CA at issuance, config loading —
 * not per signature (it costs a full scalar multiplication). Small-order keys let one
 * signature verify for many messages; keys with a small-order component are refused too
 * because honest keys (multiples of the base point) never have one and, with them, the
 * cofactored (noble) and cofactorless (OpenSSL) verifiers could disagree.
 *
 * @example
 * ```ts
 * declare const csr: { publicKey: Uint8Array };
 * checkEd25519PublicKey(csr.publicKey); // throws CoreError ERR_BAD_KEY
 * ```
 */
export function checkEd25519PublicKey(publicKey: Uint8Array): void {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) {
    const got = publicKey instanceof Uint8Array ? `${publicKey.length} bytes` : typeof publicKey;
    throw new CoreError('ERR_BAD_KEY', `Ed25519 public key must be 32 bytes, got ${got}`);
  }
  let point: ed.Point;
  try {
    // zip215 = false: strict RFC 8032 §5.1.3 decoding, refusing y >= p and x = 0 with sign 1.
    point = ed.Point.fromBytes(publicKey, false);
  } catch (cause) {
    throw new CoreError(
      'ERR_BAD_KEY',
      `Ed25519 public key ${bytesToHex(publicKey)} is not a canonical encoding of a curve point`,
      { cause },
    );
  }
  if (point.isSmallOrder()) {
    throw new CoreError(
      'ERR_BAD_KEY',
      `Ed25519 public key ${bytesToHex(publicKey)} is a small-order point`,
    );
  }
  if (!point.isTorsionFree()) {
    throw new CoreError(
      'ERR_BAD_KEY',
      `Ed25519 public key ${bytesToHex(publicKey)} has a small-order component (not in the prime-order subgroup)`,
    );
  }
}
