import { createCipheriv, createDecipheriv, createHmac } from 'node:crypto';
import type { ProtectedMode, RecordCipher, RecordCryptoBackend } from './record-crypto.js';

const TAG = 16;

/**
 * Record crypto on `node:crypto` (OpenSSL). Each record creates a cipher or HMAC object: that
 * allocates, but costs less than the JS alternatives measured (docs/performance.md).
 */
class NodeRecordCipher implements RecordCipher {
  readonly #key: Buffer;

  constructor(key: Uint8Array) {
    this.#key = Buffer.from(key); // a private copy, zeroed by dispose()
  }

  seal(
    nonce: Uint8Array,
    associated: Uint8Array,
    plain: Uint8Array,
    out: Uint8Array,
    tag: Uint8Array,
  ): void {
    const c = createCipheriv('aes-256-gcm', this.#key, nonce, { authTagLength: TAG });
    c.setAAD(associated);
    out.set(c.update(plain), 0);
    c.final();
    tag.set(c.getAuthTag(), 0);
  }

  open(
    nonce: Uint8Array,
    associated: Uint8Array,
    body: Uint8Array,
    tag: Uint8Array,
    out: Uint8Array,
  ): boolean {
    const d = createDecipheriv('aes-256-gcm', this.#key, nonce, { authTagLength: TAG });
    d.setAAD(associated);
    d.setAuthTag(tag);
    out.set(d.update(body), 0);
    try {
      d.final();
      return true;
    } catch {
      return false;
    }
  }

  mac(associated: Uint8Array, body: Uint8Array, tag: Uint8Array): void {
    const h = createHmac('sha256', this.#key).update(associated).update(body).digest();
    tag.set(h.subarray(0, TAG), 0);
  }

  dispose(): void {
    this.#key.fill(0);
  }
}

/** The default record crypto: OpenSSL through `node:crypto`. */
export const nodeRecordCrypto: RecordCryptoBackend = {
  name: 'node',
  cipher(_mode: ProtectedMode, key: Uint8Array): RecordCipher {
    return new NodeRecordCipher(key);
  },
};
