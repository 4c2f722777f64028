import { equalConstantTime, type CryptoBackend } from '@sivshm/core';
import { TransportError } from '../errors/transport-error.js';
import type { SomeIpHeader } from '../ring/someip-header.js';
import {
  OpenResult,
  type ProtectedMode,
  type RecordCipher,
  type RecordCipherOptions,
  type RecordCryptoBackend,
} from './record-crypto.js';
import { RecordContext, SealedRecordLayout, putSequence, readSequence } from './record-format.js';

const EMPTY = new Uint8Array(0);
const { overhead: TRAILER, sequenceSize: TAG_AFTER_BODY, tagSize: TAG } = SealedRecordLayout;

/**
 * The record step on core's JS crypto backends (`node:crypto` or noble, `CryptoBackend`'s
 * AES-256-GCM): the framing of docs/protocol.md §4.1 written once, the backend providing only
 * the cipher. Allocates per record; the addon's cipher is the one channels use when it loads.
 */
export class JsRecordCipher implements RecordCipher {
  readonly #crypto: CryptoBackend;
  readonly #mode: ProtectedMode;
  readonly #key: Uint8Array;
  readonly #ctx: RecordContext;
  #ring: Uint8Array = EMPTY;
  #private: Uint8Array = EMPTY;
  #disposed = false;

  constructor(crypto: CryptoBackend, o: RecordCipherOptions) {
    // Checked here, as the addon's cipher does, rather than at the first record.
    if (o.key.length !== 32) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        `record cipher key must be 32 bytes, got ${o.key.length}`,
      );
    }
    this.#crypto = crypto;
    this.#mode = o.mode;
    this.#key = o.key.slice(); // a private copy, zeroed by dispose()
    this.#ctx = new RecordContext(o.channelId, o.direction);
  }

  seal(sequence: number, h: SomeIpHeader, plain: Uint8Array, record: Uint8Array): void {
    this.#assertLive();
    const n = plain.length;
    if (record.length !== n + TRAILER) {
      throw new TransportError('ERR_BAD_ARGUMENT', `record must be plain + ${TRAILER} bytes`);
    }
    const { nonce, associated } = this.#ctx;
    this.#ctx.set(sequence, h, record.length);
    if (this.#mode === 'mac') {
      const tag = this.#gmac(plain);
      record.set(plain, 0);
      record.set(tag, n + TAG_AFTER_BODY);
    } else {
      const sealed = this.#crypto.aes256GcmSeal(this.#key, nonce, plain, associated);
      record.set(sealed.subarray(0, n), 0);
      record.set(sealed.subarray(n), n + TAG_AFTER_BODY);
    }
    putSequence(record, n, sequence);
  }

  open(expected: number, h: SomeIpHeader, ringRecord: Uint8Array, out: Uint8Array): OpenResult {
    this.#assertLive();
    if (ringRecord.length < TRAILER) {
      throw new TransportError('ERR_BAD_ARGUMENT', `record is shorter than ${TRAILER} bytes`);
    }
    if (out.length < ringRecord.length) {
      throw new TransportError('ERR_BAD_ARGUMENT', 'out is shorter than the record');
    }
    const record = out.subarray(0, ringRecord.length);
    record.set(ringRecord, 0);
    const n = record.length - TRAILER;
    if (readSequence(record, n) !== expected) return OpenResult.wrongSequence;
    this.#ctx.set(expected, h, record.length);
    const body = record.subarray(0, n);
    const tag = record.subarray(n + TAG_AFTER_BODY);
    if (this.#mode === 'mac') {
      return equalConstantTime(this.#gmac(body), tag) ? OpenResult.opened : OpenResult.badTag;
    }
    const { nonce, associated } = this.#ctx;
    const sealed = new Uint8Array(n + TAG);
    sealed.set(body, 0);
    sealed.set(tag, n);
    try {
      body.set(this.#crypto.aes256GcmOpen(this.#key, nonce, sealed, associated), 0);
      return OpenResult.opened;
    } catch {
      body.fill(0); // ERR_CRYPTO_VERIFY: no ciphertext-derived bytes stay behind
      return OpenResult.badTag;
    }
  }

  bind(which: 'ring' | 'private', bytes: Uint8Array): void {
    if (which === 'ring') this.#ring = bytes;
    else this.#private = bytes;
  }

  sealAt(
    sequence: number,
    h: SomeIpHeader,
    plainOffset: number,
    length: number,
    recordOffset: number,
  ): void {
    const plain = this.#private.subarray(plainOffset, plainOffset + length);
    const record = this.#ring.subarray(recordOffset, recordOffset + length + TRAILER);
    if (plain.length !== length || record.length !== length + TRAILER) {
      throw new TransportError('ERR_BAD_ARGUMENT', 'range is outside the bound bytes');
    }
    this.seal(sequence, h, plain, record);
  }

  openAt(expected: number, h: SomeIpHeader, recordOffset: number, length: number): OpenResult {
    const record = this.#ring.subarray(recordOffset, recordOffset + length);
    if (record.length !== length) {
      throw new TransportError('ERR_BAD_ARGUMENT', 'ring range is outside the bound bytes');
    }
    return this.open(expected, h, record, this.#private);
  }

  dispose(): void {
    this.#key.fill(0);
    this.#disposed = true;
  }

  // A disposed cipher's key is zeroed: sealing under it would not fail by itself.
  #assertLive(): void {
    if (this.#disposed) throw new TransportError('ERR_CLOSED', 'the record cipher was disposed');
  }

  /** GMAC: the GCM tag of no plaintext with A ‖ body as associated data. */
  #gmac(body: Uint8Array): Uint8Array {
    const { nonce, associated } = this.#ctx;
    const aad = new Uint8Array(associated.length + body.length);
    aad.set(associated, 0);
    aad.set(body, associated.length);
    return this.#crypto.aes256GcmSeal(this.#key, nonce, EMPTY, aad);
  }
}

/** The record crypto of one of core's JS backends (`cryptoBackend('node')`, `('noble')`). */
export function jsRecordCrypto(crypto: CryptoBackend): RecordCryptoBackend {
  return {
    name: crypto.name,
    cipher: (o: RecordCipherOptions): RecordCipher => new JsRecordCipher(crypto, o),
  };
}
