import { loadAddon } from '../native/addon.js';
import { nativeRecordCrypto } from './native-record-crypto.js';
import { nodeRecordCrypto } from './node-record-crypto.js';
import type { RecordCryptoBackend } from './record-crypto.js';

let chosen: RecordCryptoBackend | undefined;

/**
 * The record crypto channels use unless told otherwise: the addon's (no allocation per record)
 * when it loads, else `node:crypto`. Both produce the same bytes (record-vectors.spec.ts).
 */
export function defaultRecordCrypto(): RecordCryptoBackend {
  if (chosen === undefined) {
    try {
      loadAddon();
      chosen = nativeRecordCrypto;
    } catch {
      chosen = nodeRecordCrypto;
    }
  }
  return chosen;
}
