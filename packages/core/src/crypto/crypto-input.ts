import { CoreError } from '../errors/core-error.js';

/** Largest `randomBytes` request either backend serves in one call (1 MiB). */
export const MAX_RANDOM_BYTES = 1 << 20;
/** Largest HKDF-SHA256 output (RFC 5869 §2.3: 255 · HashLen). */
export const HKDF_SHA256_MAX_LENGTH = 255 * 32;

/**
 * Throws `ERR_CRYPTO_INPUT` unless `value` is a Uint8Array (of exactly `length` bytes, or at
 * least `minLength` bytes, when given).
 *
 * Both backends call it first in every method, so a wrong size fails the same way, with the
 * same message, whichever backend is in use; the libraries underneath would otherwise throw
 * their own untyped errors (or, for OpenSSL, quietly accept an IV of another length).
 */
export function requireBytes(
  op: string,
  name: string,
  value: unknown,
  size?: { length?: number; minLength?: number },
): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new CoreError(
      'ERR_CRYPTO_INPUT',
      `${op}: ${name} must be a Uint8Array, got ${describe(value)}`,
    );
  }
  if (size?.length !== undefined && value.length !== size.length) {
    throw new CoreError(
      'ERR_CRYPTO_INPUT',
      `${op}: ${name} must be ${size.length} bytes, got ${value.length}`,
    );
  }
  if (size?.minLength !== undefined && value.length < size.minLength) {
    throw new CoreError(
      'ERR_CRYPTO_INPUT',
      `${op}: ${name} must be at least ${size.minLength} bytes, got ${value.length}`,
    );
  }
}

/** Bytes of the tag every AEAD here appends (ChaCha20-Poly1305 and AES-256-GCM). */
export const AEAD_TAG_SIZE = 16;

/**
 * The checks of an AEAD seal, shared by both backends and both ciphers: a 32-byte key, a
 * 12-byte nonce, plaintext and AAD as bytes (`ERR_CRYPTO_INPUT`).
 */
export function requireAeadSealInput(
  op: string,
  key: unknown,
  nonce: unknown,
  plaintext: unknown,
  aad: unknown,
): asserts plaintext is Uint8Array {
  requireBytes(op, 'key', key, { length: 32 });
  requireBytes(op, 'nonce', nonce, { length: 12 });
  requireBytes(op, 'plaintext', plaintext);
  requireBytes(op, 'aad', aad);
}

/**
 * The checks of an AEAD open: as {@link requireAeadSealInput} for `sealed`, which must also
 * hold the tag; a shorter one is refused as `ERR_CRYPTO_VERIFY` (it cannot verify), not as an
 * input error.
 */
export function requireAeadOpenInput(
  op: string,
  key: unknown,
  nonce: unknown,
  sealed: unknown,
  aad: unknown,
): asserts sealed is Uint8Array {
  requireBytes(op, 'key', key, { length: 32 });
  requireBytes(op, 'nonce', nonce, { length: 12 });
  requireBytes(op, 'sealed', sealed);
  requireBytes(op, 'aad', aad);
  if (sealed.length < AEAD_TAG_SIZE) {
    throw new CoreError(
      'ERR_CRYPTO_VERIFY',
      `${op}: sealed input is ${sealed.length} bytes, shorter than the ${AEAD_TAG_SIZE}-byte tag`,
    );
  }
}

/** Throws `ERR_CRYPTO_INPUT` unless every element of `parts` is a Uint8Array. */
export function requireByteParts(op: string, parts: readonly unknown[]): void {
  for (let i = 0; i < parts.length; i++) requireBytes(op, `part ${i}`, parts[i]);
}

/** Throws `ERR_CRYPTO_INPUT` unless `value` is an integer in `0..max`. */
export function requireLength(op: string, name: string, value: unknown, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > max) {
    throw new CoreError(
      'ERR_CRYPTO_INPUT',
      `${op}: ${name} must be an integer in 0..${max}, got ${describe(value)}`,
    );
  }
  return value;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return value.constructor?.name ?? 'object';
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  return typeof value;
}
