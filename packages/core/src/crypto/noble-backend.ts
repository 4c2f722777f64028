import * as ed from '@noble/ed25519';
import { gcm } from '@noble/ciphers/aes.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { expand, extract } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { randomBytes as nobleRandomBytes } from '@noble/hashes/utils.js';
import { CoreError } from '../errors/core-error.js';
import type { CryptoBackend } from './crypto-backend.js';
import { noblePublicKey, nobleSign, nobleVerify } from './noble-ed25519-keys.js';
import {
  HKDF_SHA256_MAX_LENGTH,
  MAX_RANDOM_BYTES,
  requireAeadOpenInput,
  requireAeadSealInput,
  requireByteParts,
  requireBytes,
  requireLength,
} from './crypto-input.js';

// WebCrypto's getRandomValues serves at most 64 KiB per call.
const RANDOM_CHUNK = 65536;

function randomBytes(length: number): Uint8Array {
  requireLength('randomBytes', 'length', length, MAX_RANDOM_BYTES);
  if (length <= RANDOM_CHUNK) return nobleRandomBytes(length);
  const out = new Uint8Array(length);
  for (let at = 0; at < length; at += RANDOM_CHUNK) {
    out.set(nobleRandomBytes(Math.min(RANDOM_CHUNK, length - at)), at);
  }
  return out;
}

function isAllZero(bytes: Uint8Array): boolean {
  let acc = 0;
  for (const b of bytes) acc |= b;
  return acc === 0;
}

/**
 * The pure-JavaScript backend on the audited `@noble/*` libraries: the portable reference.
 *
 * Use it where `node:crypto` is missing or distrusted, and as the second opinion in tests; it is
 * 10–20× slower than {@link nodeBackend} for Ed25519 and X25519. Its Ed25519 verification is
 * RFC 8032 strict with the cofactored equation; see `nodeBackend` for the one class of crafted
 * signatures on which the two differ.
 *
 * @example
 * ```ts
 * const secretKey = nobleBackend.randomBytes(32);
 * const message = new TextEncoder().encode('hello');
 * const sig = nobleBackend.ed25519Sign(secretKey, message);
 * nobleBackend.ed25519Verify(sig, message, nobleBackend.ed25519PublicKey(secretKey)); // true
 * ```
 */
export const nobleBackend: CryptoBackend = Object.freeze({
  name: 'noble',

  randomBytes,

  sha256(...parts: Uint8Array[]): Uint8Array {
    requireByteParts('sha256', parts);
    const h = sha256.create();
    for (const p of parts) h.update(p);
    return h.digest();
  },

  hmacSha256(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
    requireBytes('hmacSha256', 'key', key);
    requireByteParts('hmacSha256', parts);
    const h = hmac.create(sha256, key);
    for (const p of parts) h.update(p);
    return h.digest();
  },

  hkdfExtract(salt: Uint8Array, ikm: Uint8Array): Uint8Array {
    requireBytes('hkdfExtract', 'salt', salt);
    requireBytes('hkdfExtract', 'ikm', ikm);
    // An empty salt is an empty HMAC key, which HMAC pads to the same block as HashLen zeros.
    return extract(sha256, ikm, salt);
  },

  hkdfExpand(prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
    requireBytes('hkdfExpand', 'prk', prk, { minLength: 32 });
    requireBytes('hkdfExpand', 'info', info);
    requireLength('hkdfExpand', 'length', length, HKDF_SHA256_MAX_LENGTH);
    return expand(sha256, prk, info, length);
  },

  ed25519GenerateSecretKey(): Uint8Array {
    return ed.utils.randomSecretKey();
  },

  ed25519PublicKey(secretKey: Uint8Array): Uint8Array {
    requireBytes('ed25519PublicKey', 'secretKey', secretKey, { length: 32 });
    return noblePublicKey(secretKey);
  },

  ed25519Sign(secretKey: Uint8Array, message: Uint8Array): Uint8Array {
    requireBytes('ed25519Sign', 'secretKey', secretKey, { length: 32 });
    requireBytes('ed25519Sign', 'message', message);
    return nobleSign(secretKey, message);
  },

  ed25519Verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
    if (!(signature instanceof Uint8Array) || signature.length !== 64) return false;
    if (!(message instanceof Uint8Array)) return false;
    if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) return false;
    try {
      return nobleVerify(signature, message, publicKey);
    } catch {
      return false;
    }
  },

  x25519GenerateSecretKey(): Uint8Array {
    return x25519.utils.randomSecretKey();
  },

  x25519PublicKey(secretKey: Uint8Array): Uint8Array {
    requireBytes('x25519PublicKey', 'secretKey', secretKey, { length: 32 });
    return x25519.getPublicKey(secretKey);
  },

  x25519SharedSecret(secretKey: Uint8Array, peerPublicKey: Uint8Array): Uint8Array {
    requireBytes('x25519SharedSecret', 'secretKey', secretKey, { length: 32 });
    requireBytes('x25519SharedSecret', 'peerPublicKey', peerPublicKey, { length: 32 });
    let shared: Uint8Array;
    try {
      // With sizes checked, noble throws only for a low-order peer key (refused before the
      // ladder runs) or an all-zero result: both are the zero-shared-secret case.
      shared = x25519.getSharedSecret(secretKey, peerPublicKey);
    } catch (cause) {
      throw new CoreError(
        'ERR_ZERO_SHARED_SECRET',
        'x25519SharedSecret: the peer public key has low order, the shared secret would be zero',
        { cause },
      );
    }
    if (isAllZero(shared)) {
      throw new CoreError('ERR_ZERO_SHARED_SECRET', 'x25519SharedSecret: shared secret is zero');
    }
    return shared;
  },

  chacha20Poly1305Seal(
    key: Uint8Array,
    nonce: Uint8Array,
    plaintext: Uint8Array,
    aad: Uint8Array,
  ): Uint8Array {
    return aeadSeal(chacha20poly1305, 'chacha20Poly1305Seal', key, nonce, plaintext, aad);
  },

  chacha20Poly1305Open(
    key: Uint8Array,
    nonce: Uint8Array,
    sealed: Uint8Array,
    aad: Uint8Array,
  ): Uint8Array {
    return aeadOpen(chacha20poly1305, 'chacha20Poly1305Open', key, nonce, sealed, aad);
  },

  aes256GcmSeal(
    key: Uint8Array,
    nonce: Uint8Array,
    plaintext: Uint8Array,
    aad: Uint8Array,
  ): Uint8Array {
    return aeadSeal(gcm, 'aes256GcmSeal', key, nonce, plaintext, aad);
  },

  aes256GcmOpen(
    key: Uint8Array,
    nonce: Uint8Array,
    sealed: Uint8Array,
    aad: Uint8Array,
  ): Uint8Array {
    return aeadOpen(gcm, 'aes256GcmOpen', key, nonce, sealed, aad);
  },
});

/** A noble AEAD constructor: key, nonce, AAD → encrypt/decrypt of ciphertext ‖ 16-byte tag. */
type NobleAead = (
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
) => { encrypt(p: Uint8Array): Uint8Array; decrypt(c: Uint8Array): Uint8Array };

function aeadSeal(
  aead: NobleAead,
  op: string,
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array,
): Uint8Array {
  requireAeadSealInput(op, key, nonce, plaintext, aad);
  return aead(key, nonce, aad).encrypt(plaintext);
}

function aeadOpen(
  aead: NobleAead,
  op: string,
  key: Uint8Array,
  nonce: Uint8Array,
  sealed: Uint8Array,
  aad: Uint8Array,
): Uint8Array {
  requireAeadOpenInput(op, key, nonce, sealed, aad);
  try {
    // decrypt() reads the ciphertext twice (tag, then keystream XOR); a snapshot makes sure a
    // peer writing into shared memory meanwhile cannot change what was authenticated.
    return aead(key, nonce, aad).decrypt(sealed.slice());
  } catch (cause) {
    throw new CoreError('ERR_CRYPTO_VERIFY', `${op}: tag does not match`, { cause });
  }
}
