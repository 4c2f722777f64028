import { TransportError } from '../errors/transport-error.js';
import { loadAddon, type NativeAddon } from '../native/addon.js';
import { callNative } from '../native/native-call.js';
import type { SomeIpHeader } from '../ring/someip-header.js';
import type {
  OpenResult,
  RecordCipher,
  RecordCipherOptions,
  RecordCryptoBackend,
} from './record-crypto.js';
import { directionCode, messageIdWord, protocolWord, requestIdWord } from './record-format.js';

/**
 * Record crypto in the native addon (native/record_crypto.cc): OpenSSL contexts set up once
 * per channel direction, and one call per record that builds A and the nonce, writes or checks
 * the sequence field and runs the cipher, writing into the caller's buffers (the ring slot, a
 * private buffer) and allocating nothing on the JS heap. The default whenever the addon loads
 * (docs/performance.md).
 */
class NativeRecordCipher implements RecordCipher {
  readonly #addon: NativeAddon;
  // The addon's functions, looked up once: its exports object is a dictionary, so a property
  // load per record would not be inlined.
  readonly #seal: NativeAddon['recordSeal'];
  readonly #open: NativeAddon['recordOpen'];
  #handle: object | undefined;

  constructor(addon: NativeAddon, o: RecordCipherOptions) {
    this.#addon = addon;
    this.#seal = addon.recordSeal;
    this.#open = addon.recordOpen;
    const mode = o.mode === 'mac' ? 0 : 1;
    const direction = directionCode(o.direction) as 1 | 2;
    // A wrong key or channel id becomes ERR_BAD_ARGUMENT, like the JS cipher's.
    this.#handle = callNative(() => addon.recordCipherCreate(mode, o.key, o.channelId, direction));
  }

  seal(sequence: number, h: SomeIpHeader, plain: Uint8Array, record: Uint8Array): void {
    const seal = this.#seal;
    seal(
      this.#live(),
      sequence,
      messageIdWord(h),
      requestIdWord(h),
      protocolWord(h),
      plain,
      record,
    );
  }

  open(expected: number, h: SomeIpHeader, ringRecord: Uint8Array, out: Uint8Array): OpenResult {
    const open = this.#open;
    return open(
      this.#live(),
      expected,
      messageIdWord(h),
      requestIdWord(h),
      protocolWord(h),
      ringRecord,
      out,
    );
  }

  dispose(): void {
    if (this.#handle !== undefined) this.#addon.recordCipherDispose(this.#handle);
    this.#handle = undefined;
  }

  #live(): object {
    if (this.#handle === undefined) {
      throw new TransportError('ERR_CLOSED', 'the record cipher was disposed');
    }
    return this.#handle;
  }
}

/** Record crypto through the addon; `cipher` throws `ERR_ADDON` when the addon does not load. */
export const nativeRecordCrypto: RecordCryptoBackend = {
  name: 'native',
  cipher(o: RecordCipherOptions): RecordCipher {
    return new NativeRecordCipher(loadAddon(), o);
  },
};
