/**
 * The one small interface every sivshm protocol component uses for cryptography.
 *
 * Two backends implement it and must agree byte for byte (tests run the same vectors through
 * both): `nobleBackend` (pure JS, `@noble/*`, the portable reference) and `nodeBackend`
 * (`node:crypto`/OpenSSL, fast). All operations are synchronous so the handshake state machines
 * stay pure functions of their inputs. Pick one with `cryptoBackend()` in a composition root and
 * pass it down; outputs are plain `Uint8Array`s the caller owns.
 *
 * Ed25519 verification is STRICT everywhere (RFC 8032 §5.1.7 with canonical R, A and S, and no
 * small-order A: noble's `zip215: false`, and the same checks in front of OpenSSL). The one
 * allowed difference: noble uses the cofactored equation, OpenSSL the cofactorless one, so a
 * signature crafted by a key holder with a small-order component in R (or in a key that
 * `checkEd25519PublicKey` would refuse) can verify under noble only. Functions throw
 * `CoreError` (`ERR_CRYPTO_INPUT` for wrong types and sizes, `ERR_ZERO_SHARED_SECRET`,
 * `ERR_CRYPTO_VERIFY` for a failed AEAD open); `verify` returns false instead of throwing for
 * any malformed signature or key.
 *
 * Inputs may be views of shared memory (SharedArrayBuffer or a mapped alias). Only the AEAD
 * opens (`chacha20Poly1305Open`, `aes256GcmOpen`) snapshot their input; for everything else a peer that rewrites the
 * bytes during or after the call defeats the check, so copy a record out of the ring first and
 * parse the copy you authenticated (docs/architecture.md §4 reader rules: no double fetch).
 *
 * @example
 * ```ts
 * declare const identity: { secretKey: Uint8Array }, peer: { publicKey: Uint8Array };
 * declare const transcript: Uint8Array;
 * const crypto = cryptoBackend();
 * const sig = crypto.ed25519Sign(identity.secretKey, transcript);
 * if (!crypto.ed25519Verify(sig, transcript, peer.publicKey)) throw new Error('bad signature');
 * ```
 */
export interface CryptoBackend {
  /** `'noble'` or `'node'`; shows in benchmarks and logs. */
  readonly name: CryptoBackendName;

  /** Cryptographically secure random bytes; `length` in 0..1 MiB. */
  randomBytes(length: number): Uint8Array;

  /** SHA-256 of the concatenation of `parts` (one call, no intermediate copy needed). */
  sha256(...parts: Uint8Array[]): Uint8Array;
  /** HMAC-SHA256(key, concatenation of `parts`); any key length (RFC 2104). */
  hmacSha256(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array;
  /** HKDF-Extract (RFC 5869 §2.2); an empty salt means HashLen zero bytes. */
  hkdfExtract(salt: Uint8Array, ikm: Uint8Array): Uint8Array;
  /**
   * HKDF-Expand (RFC 5869 §2.3); `length` ≤ 255·32 and `prk` at least 32 bytes, else
   * `ERR_CRYPTO_INPUT`.
   */
  hkdfExpand(prk: Uint8Array, info: Uint8Array, length: number): Uint8Array;

  /** A new 32-byte Ed25519 secret key (seed). */
  ed25519GenerateSecretKey(): Uint8Array;
  /** The 32-byte public key of a 32-byte secret key. */
  ed25519PublicKey(secretKey: Uint8Array): Uint8Array;
  /** A 64-byte RFC 8032 signature. */
  ed25519Sign(secretKey: Uint8Array, message: Uint8Array): Uint8Array;
  /** Strict verification; false (never a throw) for any bad signature, key or size. */
  ed25519Verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;

  /** A new 32-byte X25519 secret key. */
  x25519GenerateSecretKey(): Uint8Array;
  /** The 32-byte X25519 public key of a secret key. */
  x25519PublicKey(secretKey: Uint8Array): Uint8Array;
  /** X25519(secret, peerPublic); throws `ERR_ZERO_SHARED_SECRET` for an all-zero result. */
  x25519SharedSecret(secretKey: Uint8Array, peerPublicKey: Uint8Array): Uint8Array;

  /**
   * ChaCha20-Poly1305 (RFC 8439): returns ciphertext ‖ 16-byte tag. `key` is 32 bytes, `nonce`
   * 12 bytes and must never repeat under one key (a repeat reveals the XOR of two plaintexts and
   * lets the Poly1305 key be recovered).
   */
  chacha20Poly1305Seal(
    key: Uint8Array,
    nonce: Uint8Array,
    plaintext: Uint8Array,
    aad: Uint8Array,
  ): Uint8Array;
  /**
   * Opens ciphertext ‖ tag; throws `ERR_CRYPTO_VERIFY` when the tag does not match or `sealed`
   * is shorter than the tag. Nothing of an unauthenticated plaintext is returned.
   */
  chacha20Poly1305Open(
    key: Uint8Array,
    nonce: Uint8Array,
    sealed: Uint8Array,
    aad: Uint8Array,
  ): Uint8Array;

  /**
   * AES-256-GCM (NIST SP 800-38D) with a 12-byte nonce and a 16-byte tag: returns ciphertext ‖
   * tag. The record crypto of `mac` (GMAC: an empty plaintext) and `aead` channels in its JS
   * form; the same nonce rule as ChaCha20-Poly1305 holds, and a repeat also reveals the GHASH
   * key, so a repeated nonce allows forgeries.
   */
  aes256GcmSeal(
    key: Uint8Array,
    nonce: Uint8Array,
    plaintext: Uint8Array,
    aad: Uint8Array,
  ): Uint8Array;
  /** Opens ciphertext ‖ tag like {@link chacha20Poly1305Open} (`ERR_CRYPTO_VERIFY`). */
  aes256GcmOpen(
    key: Uint8Array,
    nonce: Uint8Array,
    sealed: Uint8Array,
    aad: Uint8Array,
  ): Uint8Array;
}

/** Names of the available backends. */
export type CryptoBackendName = 'noble' | 'node';
