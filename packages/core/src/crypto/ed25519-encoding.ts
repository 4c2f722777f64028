/**
 * Byte-level checks on Ed25519 encodings (RFC 8032 §5.1.2–5.1.3), no point arithmetic.
 *
 * `nodeBackend` runs them before OpenSSL, which on its own accepts non-canonical and small-order
 * public keys; each costs a few dozen byte comparisons, nothing next to a verification.
 */

// p = 2^255 - 19, little-endian.
const P_LOW_BYTE = 0xed;
// L = 2^252 + 27742317777372353535851937790883648493, little-endian.
const L_BYTES = Uint8Array.from([
  0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
]);

/**
 * The y coordinates (sign bit cleared) of the 8 points of order dividing 8: 0, 1, p-1 and the
 * two order-8 values. Each y belongs to at most two points (±x), and the torsion subgroup is
 * closed under negation, so an encoding whose y is listed is small-order whatever its sign bit
 * (and for y = 1 or p-1, where x = 0, a set sign bit is also non-canonical). The spec checks
 * this list against the subgroup that noble generates.
 */
export const SMALL_ORDER_Y: readonly Uint8Array[] = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
].map((hex) => Uint8Array.from(Buffer.from(hex, 'hex')));

/**
 * True when the 32 bytes at `offset` of `bytes` encode y < p, i.e. the encoding is canonical
 * (sign bit ignored). Only values in p..2^255-1 fail: `ed ff … ff 7f` and the 18 above it.
 */
export function isCanonicalY(bytes: Uint8Array, offset = 0): boolean {
  if (((bytes[offset + 31] ?? 0) & 0x7f) !== 0x7f) return true;
  for (let i = 30; i >= 1; i--) if (bytes[offset + i] !== 0xff) return true;
  return (bytes[offset] ?? 0) < P_LOW_BYTE;
}

/** True when the y coordinate (sign bit cleared) at `offset` is one of {@link SMALL_ORDER_Y}. */
export function hasSmallOrderY(bytes: Uint8Array, offset = 0): boolean {
  for (const y of SMALL_ORDER_Y) {
    let diff = ((bytes[offset + 31] ?? 0) & 0x7f) ^ (y[31] ?? 0);
    for (let i = 0; i < 31; i++) diff |= (bytes[offset + i] ?? 0) ^ (y[i] ?? 0);
    if (diff === 0) return true;
  }
  return false;
}

/**
 * True when the encoding at `offset` sets the sign bit for a point with x = 0 (y = 1 or p-1),
 * which RFC 8032 §5.1.3 step 4 rejects.
 */
export function isNegativeZeroX(bytes: Uint8Array, offset = 0): boolean {
  if (((bytes[offset + 31] ?? 0) & 0x80) === 0) return false;
  const y = bytes.subarray(offset, offset + 32);
  return equalY(y, SMALL_ORDER_Y[1]) || equalY(y, SMALL_ORDER_Y[2]);
}

/** True when the 32 little-endian bytes at `offset` are an integer below the group order L. */
export function isCanonicalScalar(bytes: Uint8Array, offset = 0): boolean {
  for (let i = 31; i >= 0; i--) {
    const a = bytes[offset + i] ?? 0;
    const b = L_BYTES[i] ?? 0;
    if (a !== b) return a < b;
  }
  return false; // equal to L
}

function equalY(y: Uint8Array, ref: Uint8Array | undefined): boolean {
  if (ref === undefined) return false;
  if (((y[31] ?? 0) & 0x7f) !== ref[31]) return false;
  for (let i = 0; i < 31; i++) if (y[i] !== ref[i]) return false;
  return true;
}
