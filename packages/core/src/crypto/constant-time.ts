import { timingSafeEqual } from 'node:crypto';

/**
 * True when `a` and `b` hold the same bytes, in time that depends only on their lengths.
 *
 * Use it for every comparison of a MAC, tag, grant token field or other secret-derived value with
 * one that came from a peer; `===` loops and `Buffer.equals` stop at the first difference and
 * so tell an attacker how many leading bytes were right. Lengths are public: unequal lengths
 * return false at once.
 *
 * @example
 * ```ts
 * declare const key: Uint8Array, body: Uint8Array, tag: Uint8Array;
 * const crypto = cryptoBackend();
 * if (!equalConstantTime(crypto.hmacSha256(key, body), tag)) throw new Error('bad tag');
 * ```
 */
export function equalConstantTime(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  // OpenSSL's CRYPTO_memcmp underneath: no early exit, no data-dependent branch.
  return timingSafeEqual(a, b);
}
