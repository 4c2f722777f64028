import type { SomeIpHeader } from '../ring/someip-header.js';
import {
  OpenResult,
  RECORD_TRAILER,
  TAG_AFTER_BODY,
  type ProtectedMode,
  type RecordCipher,
  type RecordCipherOptions,
} from './record-crypto.js';
import { RecordContext, putSequence, readSequence } from './record-format.js';

const EMPTY = new Uint8Array(0);

/** AES-256-GCM as a JS library gives it: a fresh result per call. */
export interface Gcm {
  /** The ciphertext of `plain` (same length) and the 16-byte tag. */
  seal(
    key: Uint8Array,
    nonce: Uint8Array,
    aad: Uint8Array,
    plain: Uint8Array,
  ): { readonly body: Uint8Array; readonly tag: Uint8Array };
  /** The plaintext, or undefined when the tag does not verify. */
  open(
    key: Uint8Array,
    nonce: Uint8Array,
    aad: Uint8Array,
    body: Uint8Array,
    tag: Uint8Array,
  ): Uint8Array | undefined;
  /** Constant-time equality of two tags. */
  equal(a: Uint8Array, b: Uint8Array): boolean;
}

/**
 * The record step on a JS AES-256-GCM (`node:crypto`, noble): the framing of
 * docs/protocol.md §4.1 written once, each library providing only the cipher. Allocates per
 * record; the addon's cipher is the one channels use when it loads.
 */
export class JsRecordCipher implements RecordCipher {
  readonly #gcm: Gcm;
  readonly #mode: ProtectedMode;
  readonly #key: Uint8Array;
  readonly #ctx: RecordContext;

  constructor(gcm: Gcm, o: RecordCipherOptions) {
    this.#gcm = gcm;
    this.#mode = o.mode;
    this.#key = o.key.slice(); // a private copy, zeroed by dispose()
    this.#ctx = new RecordContext(o.channelId, o.direction);
  }

  seal(sequence: number, h: SomeIpHeader, plain: Uint8Array, record: Uint8Array): void {
    const n = plain.length;
    const { nonce, associated } = this.#ctx;
    this.#ctx.set(sequence, h, record.length);
    if (this.#mode === 'mac') {
      const tag = this.#gmac(plain);
      record.set(plain, 0);
      record.set(tag, n + TAG_AFTER_BODY);
    } else {
      const sealed = this.#gcm.seal(this.#key, nonce, associated, plain);
      record.set(sealed.body, 0);
      record.set(sealed.tag, n + TAG_AFTER_BODY);
    }
    putSequence(record, n, sequence);
  }

  open(expected: number, h: SomeIpHeader, ringRecord: Uint8Array, out: Uint8Array): OpenResult {
    const record = out.subarray(0, ringRecord.length);
    record.set(ringRecord, 0);
    const n = record.length - RECORD_TRAILER;
    if (readSequence(record, n) !== expected) return OpenResult.wrongSequence;
    this.#ctx.set(expected, h, record.length);
    const body = record.subarray(0, n);
    const tag = record.subarray(n + TAG_AFTER_BODY);
    if (this.#mode === 'mac') {
      return this.#gcm.equal(this.#gmac(body), tag) ? OpenResult.opened : OpenResult.badTag;
    }
    const { nonce, associated } = this.#ctx;
    const plain = this.#gcm.open(this.#key, nonce, associated, body, tag);
    if (plain === undefined) {
      body.fill(0);
      return OpenResult.badTag;
    }
    body.set(plain, 0);
    return OpenResult.opened;
  }

  dispose(): void {
    this.#key.fill(0);
  }

  /** GMAC: the GCM tag of no plaintext with A ‖ body as associated data. */
  #gmac(body: Uint8Array): Uint8Array {
    const { nonce, associated } = this.#ctx;
    const aad = new Uint8Array(associated.length + body.length);
    aad.set(associated, 0);
    aad.set(body, associated.length);
    return this.#gcm.seal(this.#key, nonce, aad, EMPTY).tag;
  }
}
