import { TransportError } from '../errors/transport-error.js';
import { loadAddon, type NativeAddon, type RecordCipherHandle } from '../native/addon.js';
import { callNative, toTransportError } from '../native/native-call.js';
import type { SomeIpHeader } from '../ring/someip-header.js';
import type {
  OpenResult,
  RecordCipher,
  RecordCipherOptions,
  RecordCryptoBackend,
} from './record-crypto.js';
import { directionCode, messageIdWord, protocolWord, requestIdWord } from './record-format.js';

/** Words of the call block (native/record_crypto.cc `CallWord`). */
const CallWord = {
  sequenceLow: 0,
  sequenceHigh: 1,
  w0: 2,
  w2: 3,
  w3: 4,
  offset: 5,
  length: 6,
  recordOffset: 7,
} as const;
const CALL_WORDS = 8;

/**
 * Record crypto in the native addon (native/record_crypto.cc): OpenSSL contexts set up once
 * per channel direction, and one call per record that builds A and the nonce, writes or checks
 * the sequence field and runs the cipher, writing into the caller's buffers (the ring slot, a
 * private buffer) and allocating nothing on the JS heap. The default whenever the addon loads
 * (docs/performance.md). A channel binds its ring and private buffer once and then passes
 * offsets only (`sealAt`, `openAt`): no typed array is made or unwrapped per record.
 */
class NativeRecordCipher implements RecordCipher {
  readonly #addon: NativeAddon;
  // The addon's functions, looked up once: its exports object is a dictionary, so a property
  // load per record would not be inlined.
  readonly #seal: NativeAddon['recordSeal'];
  readonly #open: NativeAddon['recordOpen'];
  /**
   * The offset forms' arguments (`CallWord`), bound to the cipher once: writing eight words
   * costs less than passing eight arguments through the V8 API.
   */
  readonly #block = new Uint32Array(CALL_WORDS);
  /** The addon's cipher; its `sealAt`/`openAt` methods are the record path (see addon.ts). */
  #handle: RecordCipherHandle | undefined;

  constructor(addon: NativeAddon, o: RecordCipherOptions) {
    this.#addon = addon;
    this.#seal = addon.recordSeal;
    this.#open = addon.recordOpen;
    const mode = o.mode === 'mac' ? 0 : 1;
    const direction = directionCode(o.direction) as 1 | 2;
    // A wrong key or channel id becomes ERR_BAD_ARGUMENT, like the JS cipher's.
    const handle = callNative(() => addon.recordCipherCreate(mode, o.key, o.channelId, direction));
    this.#handle = handle;
    callNative(() => addon.recordBind(handle, 2, this.#block));
  }

  seal(sequence: number, h: SomeIpHeader, plain: Uint8Array, record: Uint8Array): void {
    const seal = this.#seal;
    try {
      seal(
        this.#live(),
        sequence,
        messageIdWord(h),
        requestIdWord(h),
        protocolWord(h),
        plain,
        record,
      );
    } catch (e) {
      throw toTransportError(e);
    }
  }

  open(expected: number, h: SomeIpHeader, ringRecord: Uint8Array, out: Uint8Array): OpenResult {
    const open = this.#open;
    try {
      return open(
        this.#live(),
        expected,
        messageIdWord(h),
        requestIdWord(h),
        protocolWord(h),
        ringRecord,
        out,
      );
    } catch (e) {
      throw toTransportError(e);
    }
  }

  bind(which: 'ring' | 'private', bytes: Uint8Array): void {
    const handle = this.#live();
    callNative(() => this.#addon.recordBind(handle, which === 'ring' ? 0 : 1, bytes));
  }

  sealAt(
    sequence: number,
    h: SomeIpHeader,
    plainOffset: number,
    length: number,
    recordOffset: number,
  ): void {
    const handle = this.#handle ?? this.#disposed();
    const block = this.#block;
    block[CallWord.sequenceLow] = sequence;
    block[CallWord.sequenceHigh] = sequence / 0x1_0000_0000;
    block[CallWord.w0] = messageIdWord(h);
    block[CallWord.w2] = requestIdWord(h);
    block[CallWord.w3] = protocolWord(h);
    block[CallWord.offset] = plainOffset;
    block[CallWord.length] = length;
    block[CallWord.recordOffset] = recordOffset;
    try {
      handle.sealAt();
    } catch (e) {
      throw toTransportError(e);
    }
  }

  openAt(expected: number, h: SomeIpHeader, recordOffset: number, length: number): OpenResult {
    const handle = this.#handle ?? this.#disposed();
    const block = this.#block;
    block[CallWord.sequenceLow] = expected;
    block[CallWord.sequenceHigh] = expected / 0x1_0000_0000;
    block[CallWord.w0] = messageIdWord(h);
    block[CallWord.w2] = requestIdWord(h);
    block[CallWord.w3] = protocolWord(h);
    block[CallWord.offset] = recordOffset;
    block[CallWord.length] = length;
    try {
      return handle.openAt();
    } catch (e) {
      throw toTransportError(e);
    }
  }

  dispose(): void {
    if (this.#handle !== undefined) this.#addon.recordCipherDispose(this.#handle);
    this.#handle = undefined;
  }

  #live(): RecordCipherHandle {
    return this.#handle ?? this.#disposed();
  }

  #disposed(): never {
    throw new TransportError('ERR_CLOSED', 'the record cipher was disposed');
  }
}

/** Record crypto through the addon; `cipher` throws `ERR_ADDON` when the addon does not load. */
export const nativeRecordCrypto: RecordCryptoBackend = {
  name: 'native',
  cipher(o: RecordCipherOptions): RecordCipher {
    return new NativeRecordCipher(loadAddon(), o);
  },
};
