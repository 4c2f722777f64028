import { createCipheriv, createDecipheriv, createHmac, timingSafeEqual } from 'node:crypto';
import {
  macCheckRecord,
  macSealRecord,
  RECORD_TRAILER,
  TAG_AFTER_BODY,
  type MacTag,
  type ProtectedMode,
  type RecordCipher,
  type RecordCryptoBackend,
} from './record-crypto.js';

const TAG = 16;

/**
 * Record crypto on `node:crypto` (OpenSSL): each record creates a cipher or HMAC object and
 * a result buffer. The fallback when the addon does not load.
 */
class NodeRecordCipher implements RecordCipher {
  readonly #key: Buffer;

  constructor(key: Uint8Array) {
    this.#key = Buffer.from(key); // a private copy, zeroed by dispose()
  }

  seal(nonce: Uint8Array, associated: Uint8Array, plain: Uint8Array, record: Uint8Array): void {
    const n = record.length - RECORD_TRAILER;
    const c = createCipheriv('aes-256-gcm', this.#key, nonce, { authTagLength: TAG });
    c.setAAD(associated);
    record.set(c.update(plain), 0);
    c.final();
    record.set(c.getAuthTag(), n + TAG_AFTER_BODY);
  }

  open(
    nonce: Uint8Array,
    associated: Uint8Array,
    ringRecord: Uint8Array,
    scratch: Uint8Array,
    out: Uint8Array,
  ): boolean {
    const record = scratch.subarray(0, ringRecord.length);
    record.set(ringRecord, 0);
    const n = record.length - RECORD_TRAILER;
    const d = createDecipheriv('aes-256-gcm', this.#key, nonce, { authTagLength: TAG });
    d.setAAD(associated);
    d.setAuthTag(record.subarray(n + TAG_AFTER_BODY));
    const plain = d.update(record.subarray(0, n));
    try {
      d.final();
    } catch {
      plain.fill(0);
      return false;
    }
    out.set(plain, 0);
    return true;
  }

  macSeal(associated: Uint8Array, plain: Uint8Array, record: Uint8Array): void {
    macSealRecord(this.#macTag, associated, plain, record);
  }

  macCheck(associated: Uint8Array, ringRecord: Uint8Array, scratch: Uint8Array): boolean {
    return macCheckRecord(this.#macTag, timingSafeEqual, associated, ringRecord, scratch);
  }

  readonly #macTag: MacTag = (associated, body) => this.#tag(associated, body);

  dispose(): void {
    this.#key.fill(0);
  }

  #tag(associated: Uint8Array, body: Uint8Array): Buffer {
    return createHmac('sha256', this.#key)
      .update(associated)
      .update(body)
      .digest()
      .subarray(0, TAG);
  }
}

/** Record crypto through `node:crypto`. */
export const nodeRecordCrypto: RecordCryptoBackend = {
  name: 'node',
  cipher(_mode: ProtectedMode, key: Uint8Array): RecordCipher {
    return new NodeRecordCipher(key);
  },
};
