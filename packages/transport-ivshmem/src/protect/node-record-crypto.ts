import { createCipheriv, createDecipheriv, timingSafeEqual } from 'node:crypto';
import { JsRecordCipher, type Gcm } from './js-record-cipher.js';
import type { RecordCipher, RecordCipherOptions, RecordCryptoBackend } from './record-crypto.js';

const TAG = 16;

/** AES-256-GCM through `node:crypto`: a cipher object and result buffers per record. */
const nodeGcm: Gcm = {
  seal(key, nonce, aad, plain) {
    const c = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG });
    c.setAAD(aad);
    const body = c.update(plain);
    c.final();
    return { body, tag: c.getAuthTag() };
  },
  open(key, nonce, aad, body, tag) {
    const d = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG });
    d.setAAD(aad);
    d.setAuthTag(tag);
    const plain = d.update(body);
    try {
      d.final();
    } catch {
      plain.fill(0);
      return undefined;
    }
    return plain;
  },
  equal: (a, b) => a.length === b.length && timingSafeEqual(a, b),
};

/** Record crypto through `node:crypto` (OpenSSL): the fallback when the addon does not load. */
export const nodeRecordCrypto: RecordCryptoBackend = {
  name: 'node',
  cipher(o: RecordCipherOptions): RecordCipher {
    return new JsRecordCipher(nodeGcm, o);
  },
};
