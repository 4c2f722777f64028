import { gcm } from '@noble/ciphers/aes.js';
import { equalBytes } from '@noble/ciphers/utils.js';
import { JsRecordCipher, type Gcm } from './js-record-cipher.js';
import type { RecordCipher, RecordCipherOptions, RecordCryptoBackend } from './record-crypto.js';

/** AES-256-GCM in pure JS (noble), independent of OpenSSL. */
const nobleGcm: Gcm = {
  seal(key, nonce, aad, plain) {
    const sealed = gcm(key, nonce, aad).encrypt(plain);
    return { body: sealed.subarray(0, plain.length), tag: sealed.subarray(plain.length) };
  },
  open(key, nonce, aad, body, tag) {
    const sealed = new Uint8Array(body.length + tag.length);
    sealed.set(body, 0);
    sealed.set(tag, body.length);
    try {
      return gcm(key, nonce, aad).decrypt(sealed);
    } catch {
      return undefined;
    }
  },
  equal: equalBytes,
};

/** Pure-JS record crypto (noble): slower; the vectors' second opinion. */
export const nobleRecordCrypto: RecordCryptoBackend = {
  name: 'noble',
  cipher(o: RecordCipherOptions): RecordCipher {
    return new JsRecordCipher(nobleGcm, o);
  },
};
