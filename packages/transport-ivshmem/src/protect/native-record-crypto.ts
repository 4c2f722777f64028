import { loadAddon, type NativeAddon } from '../native/addon.js';
import type { ProtectedMode, RecordCipher, RecordCryptoBackend } from './record-crypto.js';

/**
 * Record crypto in the native addon (native/record_crypto.cc): OpenSSL contexts set up once
 * per key, so a record costs one call that writes into the caller's buffers and allocates
 * nothing on the JS heap. The default whenever the addon loads (docs/performance.md).
 */
class NativeRecordCipher implements RecordCipher {
  readonly #addon: NativeAddon;
  #handle: object | undefined;

  constructor(addon: NativeAddon, mode: ProtectedMode, key: Uint8Array) {
    this.#addon = addon;
    this.#handle = addon.recordCipherCreate(mode === 'mac' ? 0 : 1, key);
  }

  seal(
    nonce: Uint8Array,
    associated: Uint8Array,
    plain: Uint8Array,
    out: Uint8Array,
    tag: Uint8Array,
  ): void {
    this.#addon.recordSeal(this.#live(), nonce, associated, plain, out, tag);
  }

  open(
    nonce: Uint8Array,
    associated: Uint8Array,
    body: Uint8Array,
    tag: Uint8Array,
    out: Uint8Array,
  ): boolean {
    return this.#addon.recordOpen(this.#live(), nonce, associated, body, tag, out);
  }

  mac(associated: Uint8Array, body: Uint8Array, tag: Uint8Array): void {
    this.#addon.recordMac(this.#live(), associated, body, tag);
  }

  dispose(): void {
    if (this.#handle !== undefined) this.#addon.recordCipherDispose(this.#handle);
    this.#handle = undefined;
  }

  #live(): object {
    if (this.#handle === undefined) throw new Error('the record cipher was disposed');
    return this.#handle;
  }
}

/** Record crypto through the addon; throws `ERR_ADDON` (from `cipher`) when it does not load. */
export const nativeRecordCrypto: RecordCryptoBackend = {
  name: 'native',
  cipher(mode: ProtectedMode, key: Uint8Array): RecordCipher {
    return new NativeRecordCipher(loadAddon(), mode, key);
  },
};
