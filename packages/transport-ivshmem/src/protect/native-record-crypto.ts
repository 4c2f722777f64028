import { loadAddon, type NativeAddon } from '../native/addon.js';
import type { ProtectedMode, RecordCipher, RecordCryptoBackend } from './record-crypto.js';

/**
 * Record crypto in the native addon (native/record_crypto.cc): OpenSSL contexts set up once
 * per key, so a record costs one call that writes into the caller's buffers (the ring slot, a
 * private plaintext buffer) and allocates nothing on the JS heap. The default whenever the
 * addon loads (docs/performance.md).
 */
class NativeRecordCipher implements RecordCipher {
  readonly #addon: NativeAddon;
  #handle: object | undefined;

  constructor(addon: NativeAddon, mode: ProtectedMode, key: Uint8Array) {
    this.#addon = addon;
    this.#handle = addon.recordCipherCreate(mode === 'mac' ? 0 : 1, key);
  }

  seal(nonce: Uint8Array, associated: Uint8Array, plain: Uint8Array, record: Uint8Array): void {
    this.#addon.recordSeal(this.#live(), nonce, associated, plain, record);
  }

  open(
    nonce: Uint8Array,
    associated: Uint8Array,
    record: Uint8Array,
    scratch: Uint8Array,
    out: Uint8Array,
  ): boolean {
    return this.#addon.recordOpen(this.#live(), nonce, associated, record, scratch, out);
  }

  macSeal(associated: Uint8Array, plain: Uint8Array, record: Uint8Array): void {
    this.#addon.recordMacSeal(this.#live(), associated, plain, record);
  }

  macCheck(associated: Uint8Array, record: Uint8Array, scratch: Uint8Array): boolean {
    return this.#addon.recordMacCheck(this.#live(), associated, record, scratch);
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

/** Record crypto through the addon; `cipher` throws `ERR_ADDON` when the addon does not load. */
export const nativeRecordCrypto: RecordCryptoBackend = {
  name: 'native',
  cipher(mode: ProtectedMode, key: Uint8Array): RecordCipher {
    return new NativeRecordCipher(loadAddon(), mode, key);
  },
};
