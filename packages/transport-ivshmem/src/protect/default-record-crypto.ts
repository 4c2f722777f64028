import { cryptoBackend } from '@sivshm/core';
import { loadAddon } from '../native/addon.js';
import { jsRecordCrypto } from './js-record-cipher.js';
import { nativeRecordCrypto } from './native-record-crypto.js';
import type { RecordCryptoBackend } from './record-crypto.js';

let chosen: RecordCryptoBackend | undefined;

/**
 * The record crypto channels use unless told otherwise: the addon's (no allocation per record)
 * when it loads, else core's crypto backend (`node:crypto` unless `SIVSHM_CRYPTO` picks noble).
 * All produce the same bytes (record-vectors.spec.ts).
 */
export function defaultRecordCrypto(): RecordCryptoBackend {
  if (chosen === undefined) {
    try {
      loadAddon();
      chosen = nativeRecordCrypto;
    } catch {
      chosen = jsRecordCrypto(cryptoBackend());
    }
  }
  return chosen;
}
