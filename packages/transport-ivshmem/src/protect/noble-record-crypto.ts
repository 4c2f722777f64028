import { gcm } from '@noble/ciphers/aes.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { equalBytes } from '@noble/ciphers/utils.js';
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

/** Record crypto in pure JS (noble): slower, independent of OpenSSL; the vectors' second opinion. */
class NobleRecordCipher implements RecordCipher {
  readonly #key: Uint8Array;

  constructor(key: Uint8Array) {
    this.#key = key.slice();
  }

  seal(nonce: Uint8Array, associated: Uint8Array, plain: Uint8Array, record: Uint8Array): void {
    const n = record.length - RECORD_TRAILER;
    const sealed = gcm(this.#key, nonce, associated).encrypt(plain);
    record.set(sealed.subarray(0, n), 0);
    record.set(sealed.subarray(n), n + TAG_AFTER_BODY);
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
    const sealed = new Uint8Array(n + TAG);
    sealed.set(record.subarray(0, n), 0);
    sealed.set(record.subarray(n + TAG_AFTER_BODY), n);
    try {
      out.set(gcm(this.#key, nonce, associated).decrypt(sealed), 0);
      return true;
    } catch {
      return false;
    }
  }

  macSeal(associated: Uint8Array, plain: Uint8Array, record: Uint8Array): void {
    macSealRecord(this.#macTag, associated, plain, record);
  }

  macCheck(associated: Uint8Array, ringRecord: Uint8Array, scratch: Uint8Array): boolean {
    return macCheckRecord(this.#macTag, equalBytes, associated, ringRecord, scratch);
  }

  readonly #macTag: MacTag = (associated, body) => this.#tag(associated, body);

  dispose(): void {
    this.#key.fill(0);
  }

  #tag(associated: Uint8Array, body: Uint8Array): Uint8Array {
    return hmac.create(sha256, this.#key).update(associated).update(body).digest().subarray(0, TAG);
  }
}

/** Pure-JS record crypto (noble). */
export const nobleRecordCrypto: RecordCryptoBackend = {
  name: 'noble',
  cipher(_mode: ProtectedMode, key: Uint8Array): RecordCipher {
    return new NobleRecordCipher(key);
  },
};
