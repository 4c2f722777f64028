import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  randomFillSync,
  sign,
  verify,
} from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { CoreError } from '../errors/core-error.js';
import { handshakeTraceOn, traceStage } from '../handshake/handshake-trace.js';
import { equalConstantTime } from './constant-time.js';
import type { CryptoBackend } from './crypto-backend.js';
import {
  AEAD_TAG_SIZE,
  HKDF_SHA256_MAX_LENGTH,
  MAX_RANDOM_BYTES,
  requireAeadOpenInput,
  requireAeadSealInput,
  requireByteParts,
  requireBytes,
  requireLength,
} from './crypto-input.js';
import {
  hasSmallOrderY,
  isCanonicalScalar,
  isCanonicalY,
  isNegativeZeroX,
} from './ed25519-encoding.js';

type OkpCurve = 'Ed25519' | 'X25519';

// DER prefixes of PKCS#8 (RFC 8410 §7) and SPKI (§4) for the two curves; only used when the
// JWK import below is refused by some future Node.
const PKCS8_PREFIX: Record<OkpCurve, Buffer> = {
  Ed25519: Buffer.from('302e020100300506032b657004220420', 'hex'),
  X25519: Buffer.from('302e020100300506032b656e04220420', 'hex'),
};
const SPKI_PREFIX: Record<OkpCurve, Buffer> = {
  Ed25519: Buffer.from('302a300506032b6570032100', 'hex'),
  X25519: Buffer.from('302a300506032b656e032100', 'hex'),
};
const PUBLIC_KEY_CACHE_SIZE = 256;
const ZERO_32 = new Uint8Array(32);

function b64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

/** A plain Uint8Array over a Buffer's bytes: a view when it owns its memory, else a copy. */
function plain(buf: Buffer): Uint8Array {
  if (buf.byteOffset === 0 && buf.buffer.byteLength === buf.byteLength) {
    return new Uint8Array(buf.buffer, 0, buf.byteLength);
  }
  // Small Buffers share Node's pool with unrelated data: never hand out a view of that.
  return new Uint8Array(buf);
}

// Raw keys go in as JWK, not DER: on OpenSSL 3.0 the DER decoder costs about ten times the JWK
// import, from which OpenSSL takes the raw bytes directly (figures: docs/performance.md §5). For
// a private key Node reads only `d` and derives the public part itself.
function importPrivate(curve: OkpCurve, seed: Uint8Array): KeyObject {
  try {
    return createPrivateKey({
      key: { kty: 'OKP', crv: curve, d: b64url(seed), x: '' },
      format: 'jwk',
    });
  } catch {
    return createPrivateKey({
      key: Buffer.concat([PKCS8_PREFIX[curve], seed]),
      format: 'der',
      type: 'pkcs8',
    });
  }
}

function importPublic(curve: OkpCurve, raw: Uint8Array, x: string): KeyObject {
  try {
    return createPublicKey({ key: { kty: 'OKP', crv: curve, x }, format: 'jwk' });
  } catch {
    return createPublicKey({
      key: Buffer.concat([SPKI_PREFIX[curve], raw]),
      format: 'der',
      type: 'spki',
    });
  }
}

function rawPublic(key: KeyObject): Uint8Array {
  const { x } = createPublicKey(key).export({ format: 'jwk' });
  if (typeof x !== 'string') throw new CoreError('ERR_BAD_KEY', 'OpenSSL exported no public key');
  return plain(Buffer.from(x, 'base64url'));
}

interface PrivateEntry {
  readonly copy: Uint8Array;
  readonly key: KeyObject;
  publicKey?: Uint8Array;
}

/**
 * KeyObjects for secret keys, keyed by the caller's array object: a long-lived identity is
 * imported once (the import would otherwise be about half of every sign; docs/performance.md §5). Keying by object, not by
 * value, keeps no secret alive longer than the caller's own array and puts no secret in a
 * string; the stored copy is compared on every hit because the caller may have overwritten
 * the array in place since.
 */
class PrivateKeyCache {
  private readonly entries = new WeakMap<Uint8Array, PrivateEntry>();

  constructor(private readonly curve: OkpCurve) {}

  get(seed: Uint8Array): PrivateEntry {
    const hit = this.entries.get(seed);
    if (hit !== undefined && equalConstantTime(hit.copy, seed)) return hit;
    const entry: PrivateEntry = { copy: seed.slice(), key: importPrivate(this.curve, seed) };
    this.entries.set(seed, entry);
    return entry;
  }
}

/**
 * KeyObjects for peer public keys, keyed by value (certificates are decoded into new arrays
 * each time), least recently used evicted first. Public keys are not secret. A hit saves the
 * JWK import, about a tenth of a verification (docs/performance.md §5).
 */
class PublicKeyCache {
  private readonly entries = new Map<string, KeyObject>();

  constructor(private readonly curve: OkpCurve) {}

  get(raw: Uint8Array): KeyObject {
    const x = b64url(raw);
    const hit = this.entries.get(x);
    if (hit !== undefined) {
      this.entries.delete(x);
      this.entries.set(x, hit);
      return hit;
    }
    const key = importPublic(this.curve, raw, x);
    this.entries.set(x, key);
    if (this.entries.size > PUBLIC_KEY_CACHE_SIZE) {
      const oldest = this.entries.keys().next();
      if (oldest.done !== true) this.entries.delete(oldest.value);
    }
    return key;
  }
}

const edSecret = new PrivateKeyCache('Ed25519');
const edPublic = new PublicKeyCache('Ed25519');
const xSecret = new PrivateKeyCache('X25519');

function randomBytes(length: number): Uint8Array {
  requireLength('randomBytes', 'length', length, MAX_RANDOM_BYTES);
  return randomFillSync(new Uint8Array(length));
}

/**
 * RFC 5869 §2.3 on Node's HMAC; `hkdfSync` only offers extract and expand fused together.
 * The 1-byte counter limits the output to 255 blocks, checked by the caller.
 */
function hkdfExpand(prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  requireBytes('hkdfExpand', 'prk', prk, { minLength: 32 });
  requireBytes('hkdfExpand', 'info', info);
  requireLength('hkdfExpand', 'length', length, HKDF_SHA256_MAX_LENGTH);
  const okm = new Uint8Array(length);
  let t: Buffer = Buffer.alloc(0);
  const counter = new Uint8Array(1);
  for (let at = 0, i = 1; at < length; at += 32, i++) {
    counter[0] = i;
    t = createHmac('sha256', prk).update(t).update(info).update(counter).digest();
    okm.set(t.subarray(0, Math.min(32, length - at)), at);
  }
  return okm;
}

/**
 * The fast backend on `node:crypto` (OpenSSL): the default.
 *
 * Use it everywhere Node runs; {@link nobleBackend} gives byte-identical results (the specs run
 * every vector through both). OpenSSL's Ed25519 verification is made strict by byte checks run
 * first: canonical S (< L), canonical R and A (y < p, no x = 0 with the sign bit set), and no
 * small-order A — OpenSSL alone accepts the last two. OpenSSL then checks the cofactorless
 * equation [S]B = R + [k]A by comparing encodings, where noble checks the cofactored
 * [8][S]B = [8]R + [8][k]A; both are allowed by RFC 8032 §5.1.7 and they differ only for
 * signatures crafted with a small-order component in R or A, which only the key holder can
 * make and no honest signer produces (C2SP CCTV: noble accepts 212 vectors, this backend 86,
 * a strict subset). Certified keys are torsion-free ({@link checkEd25519PublicKey}).
 *
 * @example
 * ```ts
 * declare const grantKey: Uint8Array, token: Uint8Array;
 * const tag = nodeBackend.hmacSha256(grantKey, token);
 * ```
 */
export const nodeBackend: CryptoBackend = Object.freeze({
  name: 'node',

  randomBytes,

  sha256(...parts: Uint8Array[]): Uint8Array {
    requireByteParts('sha256', parts);
    const h = createHash('sha256');
    for (const p of parts) h.update(p);
    return plain(h.digest());
  },

  hmacSha256(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
    requireBytes('hmacSha256', 'key', key);
    requireByteParts('hmacSha256', parts);
    const h = createHmac('sha256', key);
    for (const p of parts) h.update(p);
    return plain(h.digest());
  },

  hkdfExtract(salt: Uint8Array, ikm: Uint8Array): Uint8Array {
    requireBytes('hkdfExtract', 'salt', salt);
    requireBytes('hkdfExtract', 'ikm', ikm);
    // An empty HMAC key is zero-padded to the block size: the same as HashLen zero bytes.
    return plain(createHmac('sha256', salt).update(ikm).digest());
  },

  hkdfExpand,

  ed25519GenerateSecretKey(): Uint8Array {
    return randomBytes(32);
  },

  ed25519PublicKey(secretKey: Uint8Array): Uint8Array {
    requireBytes('ed25519PublicKey', 'secretKey', secretKey, { length: 32 });
    const entry = edSecret.get(secretKey);
    entry.publicKey ??= rawPublic(entry.key);
    return entry.publicKey.slice();
  },

  ed25519Sign(secretKey: Uint8Array, message: Uint8Array): Uint8Array {
    requireBytes('ed25519Sign', 'secretKey', secretKey, { length: 32 });
    requireBytes('ed25519Sign', 'message', message);
    if (!handshakeTraceOn) return plain(sign(null, message, edSecret.get(secretKey).key));
    traceStage('crypto:sign<');
    const signature = plain(sign(null, message, edSecret.get(secretKey).key));
    traceStage('crypto:sign>');
    return signature;
  },

  ed25519Verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
    if (!(signature instanceof Uint8Array) || signature.length !== 64) return false;
    if (!(message instanceof Uint8Array)) return false;
    if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) return false;
    if (!isCanonicalScalar(signature, 32)) return false;
    if (!isCanonicalY(signature, 0) || isNegativeZeroX(signature, 0)) return false;
    // hasSmallOrderY also covers A with x = 0 and the sign bit set (y = 1 or p-1).
    if (!isCanonicalY(publicKey, 0) || hasSmallOrderY(publicKey, 0)) return false;
    try {
      if (!handshakeTraceOn) return verify(null, message, edPublic.get(publicKey), signature);
      traceStage('crypto:verify<');
      const ok = verify(null, message, edPublic.get(publicKey), signature);
      traceStage('crypto:verify>');
      return ok;
    } catch {
      return false;
    }
  },

  x25519GenerateSecretKey(): Uint8Array {
    return randomBytes(32);
  },

  x25519PublicKey(secretKey: Uint8Array): Uint8Array {
    requireBytes('x25519PublicKey', 'secretKey', secretKey, { length: 32 });
    const entry = xSecret.get(secretKey);
    entry.publicKey ??= rawPublic(entry.key);
    return entry.publicKey.slice();
  },

  x25519SharedSecret(secretKey: Uint8Array, peerPublicKey: Uint8Array): Uint8Array {
    requireBytes('x25519SharedSecret', 'secretKey', secretKey, { length: 32 });
    requireBytes('x25519SharedSecret', 'peerPublicKey', peerPublicKey, { length: 32 });
    const privateKey = xSecret.get(secretKey).key;
    // Peer keys are ephemeral, so they are imported each time rather than cached.
    const publicKey = importPublic('X25519', peerPublicKey, b64url(peerPublicKey));
    let shared: Buffer;
    try {
      shared = diffieHellman({ privateKey, publicKey });
    } catch (cause) {
      // OpenSSL refuses to return an all-zero X25519 result: ERR_OSSL_FAILED_DURING_DERIVATION.
      throw new CoreError(
        'ERR_ZERO_SHARED_SECRET',
        'x25519SharedSecret: the peer public key has low order, the shared secret would be zero',
        { cause },
      );
    }
    if (equalConstantTime(shared, ZERO_32)) {
      throw new CoreError('ERR_ZERO_SHARED_SECRET', 'x25519SharedSecret: shared secret is zero');
    }
    return plain(shared);
  },

  chacha20Poly1305Seal(
    key: Uint8Array,
    nonce: Uint8Array,
    plaintext: Uint8Array,
    aad: Uint8Array,
  ): Uint8Array {
    return aeadSeal('chacha20-poly1305', 'chacha20Poly1305Seal', key, nonce, plaintext, aad);
  },

  chacha20Poly1305Open(
    key: Uint8Array,
    nonce: Uint8Array,
    sealed: Uint8Array,
    aad: Uint8Array,
  ): Uint8Array {
    return aeadOpen('chacha20-poly1305', 'chacha20Poly1305Open', key, nonce, sealed, aad);
  },

  aes256GcmSeal(
    key: Uint8Array,
    nonce: Uint8Array,
    plaintext: Uint8Array,
    aad: Uint8Array,
  ): Uint8Array {
    return aeadSeal('aes-256-gcm', 'aes256GcmSeal', key, nonce, plaintext, aad);
  },

  aes256GcmOpen(
    key: Uint8Array,
    nonce: Uint8Array,
    sealed: Uint8Array,
    aad: Uint8Array,
  ): Uint8Array {
    return aeadOpen('aes-256-gcm', 'aes256GcmOpen', key, nonce, sealed, aad);
  },
});

type Aead = 'chacha20-poly1305' | 'aes-256-gcm';

/** Seals with a 32-byte key, a 12-byte nonce and a 16-byte tag: ciphertext ‖ tag. */
function aeadSeal(
  cipher: Aead,
  op: string,
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array,
): Uint8Array {
  requireAeadSealInput(op, key, nonce, plaintext, aad);
  // One call per name: Node's typings pick the AEAD overload (with authTagLength) by name.
  const c =
    cipher === 'aes-256-gcm'
      ? createCipheriv(cipher, key, nonce, { authTagLength: AEAD_TAG_SIZE })
      : createCipheriv(cipher, key, nonce, { authTagLength: AEAD_TAG_SIZE });
  c.setAAD(aad, { plaintextLength: plaintext.length });
  const out = new Uint8Array(plaintext.length + AEAD_TAG_SIZE);
  const head = c.update(plaintext);
  out.set(head, 0);
  const tail = c.final();
  out.set(tail, head.length);
  out.set(c.getAuthTag(), head.length + tail.length);
  return out;
}

/** Opens ciphertext ‖ tag; `ERR_CRYPTO_VERIFY` when short or the tag does not match. */
function aeadOpen(
  cipher: Aead,
  op: string,
  key: Uint8Array,
  nonce: Uint8Array,
  sealed: Uint8Array,
  aad: Uint8Array,
): Uint8Array {
  requireAeadOpenInput(op, key, nonce, sealed, aad);
  // One snapshot of the input, so a peer writing into shared memory during the call cannot
  // make the bytes that were authenticated differ from the bytes that were decrypted.
  const input = sealed.slice();
  const split = input.length - AEAD_TAG_SIZE;
  const d =
    cipher === 'aes-256-gcm'
      ? createDecipheriv(cipher, key, nonce, { authTagLength: AEAD_TAG_SIZE })
      : createDecipheriv(cipher, key, nonce, { authTagLength: AEAD_TAG_SIZE });
  d.setAAD(aad, { plaintextLength: split });
  d.setAuthTag(input.subarray(split));
  const out = new Uint8Array(split);
  const head = d.update(input.subarray(0, split));
  try {
    const tail = d.final();
    out.set(head, 0);
    out.set(tail, head.length);
  } catch (cause) {
    // Plaintext decrypted before the tag check is dropped: it never leaves this function.
    head.fill(0);
    throw new CoreError('ERR_CRYPTO_VERIFY', `${op}: tag does not match`, { cause });
  }
  return out;
}
