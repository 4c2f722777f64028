import { gcm } from '@noble/ciphers/aes.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import type { ProtectedMode, RecordCipher, RecordCryptoBackend } from './record-crypto.js';

const TAG = 16;

/** Record crypto in pure JS (noble): slower, independent of OpenSSL; the vectors' second opinion. */
class NobleRecordCipher implements RecordCipher {
  readonly #key: Uint8Array;

  constructor(key: Uint8Array) {
    this.#key = key.slice();
  }

  seal(
    nonce: Uint8Array,
    associated: Uint8Array,
    plain: Uint8Array,
    out: Uint8Array,
    tag: Uint8Array,
  ): void {
    const sealed = gcm(this.#key, nonce, associated).encrypt(plain);
    out.set(sealed.subarray(0, plain.length), 0);
    tag.set(sealed.subarray(plain.length), 0);
  }

  open(
    nonce: Uint8Array,
    associated: Uint8Array,
    body: Uint8Array,
    tag: Uint8Array,
    out: Uint8Array,
  ): boolean {
    const sealed = new Uint8Array(body.length + TAG);
    sealed.set(body, 0);
    sealed.set(tag, body.length);
    try {
      out.set(gcm(this.#key, nonce, associated).decrypt(sealed), 0);
      return true;
    } catch {
      return false;
    }
  }

  mac(associated: Uint8Array, body: Uint8Array, tag: Uint8Array): void {
    const h = hmac.create(sha256, this.#key).update(associated).update(body).digest();
    tag.set(h.subarray(0, TAG), 0);
  }

  dispose(): void {
    this.#key.fill(0);
  }
}

/** Pure-JS record crypto (noble). */
export const nobleRecordCrypto: RecordCryptoBackend = {
  name: 'noble',
  cipher(_mode: ProtectedMode, key: Uint8Array): RecordCipher {
    return new NobleRecordCipher(key);
  },
};
