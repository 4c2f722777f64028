import { IntegrityError } from './integrity-error.js';
import type { SomeIpHeader } from '../ring/someip-header.js';
import type { ProtectedMode, RecordCipher } from './record-crypto.js';
import {
  RecordContext,
  SealedRecordLayout,
  readSequence,
  type RecordDirection,
} from './record-format.js';
import type { RecordProtectionOptions } from './record-sealer.js';

const OVERHEAD = SealedRecordLayout.overhead;

/**
 * Checks and opens the records one end receives, before anything else reads them.
 *
 * Order: its length must hold a sequence number and a tag; the sequence must be exactly
 * last + 1 (a replayed, reordered, dropped or duplicated record fails here); then the record is
 * copied out of the ring into private memory with one read (the peer may be rewriting it) and
 * the copy's tag is checked, over the expected sequence. Only then does `open` return the
 * plaintext, in private memory that is reused by the next call. Any failure throws `IntegrityError` (`ERR_INTEGRITY`) and the
 * opener stays failed: the channel must be re-established.
 */
export class RecordOpener {
  readonly #cipher: RecordCipher;
  readonly #mode: ProtectedMode;
  readonly #ctx: RecordContext;
  readonly #channelId: bigint;
  readonly #direction: RecordDirection;
  #sealed = new Uint8Array(0);
  #plain = new Uint8Array(0);
  #last = 0;
  #failed: IntegrityError | undefined;

  constructor(o: RecordProtectionOptions) {
    this.#mode = o.mode;
    this.#cipher = o.crypto.cipher(o.mode, o.key);
    this.#ctx = new RecordContext(o.channelId, o.direction);
    this.#channelId = o.channelId;
    this.#direction = o.direction;
  }

  /** Sequence number of the last record accepted (0 before the first). */
  get sequence(): number {
    return this.#last;
  }

  /**
   * Opens the record with header `h` whose payload in the ring is `sealed`; returns its body
   * (plaintext) as a view of private memory, valid until the next call.
   */
  open(h: SomeIpHeader, sealed: Uint8Array): Uint8Array {
    if (this.#failed !== undefined) throw this.#failed;
    const length = sealed.length;
    if (length < OVERHEAD) {
      return this.#fail('short', this.#last + 1, `${length} bytes cannot hold sequence and tag`);
    }
    if (this.#sealed.length < length) this.#sealed = new Uint8Array(grow(length));
    const n = length - OVERHEAD;
    // Read from the ring once for the check; the crypto below acts on its own single copy and
    // authenticates the sequence expected here (in A and the nonce), never the copy's bytes.
    const sequence = readSequence(sealed, n);
    if (sequence !== this.#last + 1) {
      return this.#fail(
        sequence <= this.#last ? 'replayed' : 'out-of-order',
        sequence,
        `expected sequence ${this.#last + 1}`,
      );
    }
    this.#ctx.set(sequence, h, length);
    let plain: Uint8Array;
    if (this.#mode === 'mac') {
      if (!this.#cipher.macCheck(this.#ctx.associated, sealed, this.#sealed)) {
        return this.#fail('bad-tag', sequence, 'the MAC does not verify');
      }
      plain = this.#sealed.subarray(0, n);
    } else {
      if (this.#plain.length < n) this.#plain = new Uint8Array(grow(n));
      const { nonce, associated } = this.#ctx;
      if (!this.#cipher.open(nonce, associated, sealed, this.#sealed, this.#plain)) {
        return this.#fail('bad-tag', sequence, 'the AEAD tag does not verify');
      }
      plain = this.#plain.subarray(0, n);
    }
    this.#last = sequence;
    return plain;
  }

  /** Test hook: continue as if record `sequence` had been the last one accepted. */
  resumeAfterForTest(sequence: number): void {
    this.#last = sequence;
  }

  /** Zeroes the key and the private buffers. */
  dispose(): void {
    this.#cipher.dispose();
    this.#sealed.fill(0);
    this.#plain.fill(0);
  }

  #fail(reason: IntegrityError['reason'], sequence: number, detail: string): never {
    this.#failed = new IntegrityError({
      channelId: this.#channelId,
      direction: this.#direction,
      sequence,
      reason,
      detail,
    });
    throw this.#failed;
  }
}

/** Private buffers grow in powers of two so a stream of growing records reallocates rarely. */
function grow(n: number): number {
  let size = 256;
  while (size < n) size *= 2;
  return size;
}
