import { IntegrityError } from './integrity-error.js';
import type { SomeIpHeader } from '../ring/someip-header.js';
import { OpenResult, type RecordCipher } from './record-crypto.js';
import { SealedRecordLayout, readSequence, type RecordDirection } from './record-format.js';
import { privateBufferSize } from './private-buffer.js';
import type { RecordProtectionOptions } from './record-sealer.js';

const OVERHEAD = SealedRecordLayout.overhead;

/**
 * Checks and opens the records one end receives, before anything else reads them.
 *
 * Order: its length must hold a sequence number and a tag; then the record is copied out of the
 * ring into private memory reading each byte once (the peer may be rewriting it), and only the
 * copy is checked: its sequence must be exactly last + 1 (a replayed, reordered, dropped or
 * duplicated record fails here), then its tag, over that sequence. Only then does `open` return
 * the plaintext, in private memory that is reused by the next call. Any failure throws
 * `IntegrityError` (`ERR_INTEGRITY`) and the opener stays failed: the channel must be
 * re-established.
 */
export class RecordOpener {
  readonly #cipher: RecordCipher;
  readonly #mode: RecordProtectionOptions['mode'];
  readonly #channelId: bigint;
  readonly #direction: RecordDirection;
  #out = new Uint8Array(0);
  #last = 0;
  #failed: IntegrityError | undefined;

  constructor(o: RecordProtectionOptions) {
    this.#mode = o.mode;
    this.#cipher = o.crypto.cipher(o);
    this.#channelId = o.channelId;
    this.#direction = o.direction;
  }

  /** Sequence number of the last record accepted (0 before the first). */
  get sequence(): number {
    return this.#last;
  }

  /**
   * The private buffer {@link openInPlace} leaves the plaintext at the start of; replaced by a
   * larger one when a longer record arrives.
   */
  get plaintext(): Uint8Array {
    return this.#out;
  }

  /**
   * Opens the record with header `h` whose payload in the ring is `sealed`; returns its body
   * (plaintext) as a view of private memory, valid until the next call.
   */
  open(h: SomeIpHeader, sealed: Uint8Array): Uint8Array {
    const n = this.openInPlace(h, sealed); // first: it may replace the buffer
    return this.#out.subarray(0, n);
  }

  /**
   * {@link open} without making a view: returns the body's length; the body is at the start of
   * {@link plaintext}.
   */
  openInPlace(h: SomeIpHeader, sealed: Uint8Array): number {
    const length = this.#check(sealed.length);
    return this.#result(this.#cipher.open(this.#last + 1, h, sealed, this.#out), length);
  }

  /**
   * Binds the data area of the ring records arrive in, which {@link openAt} addresses by
   * offset (a `RingRecord`'s `payloadOffset`).
   */
  bindRing(ring: Uint8Array): void {
    this.#cipher.bind('ring', ring);
  }

  /**
   * {@link openInPlace} of the record whose sealed payload is `length` bytes at `offset` in the
   * bound ring: no view of the ring is made.
   */
  openAt(h: SomeIpHeader, offset: number, length: number): number {
    this.#check(length);
    return this.#result(this.#cipher.openAt(this.#last + 1, h, offset, length), length);
  }

  /** Refuses what cannot be a record and makes room for the private copy; returns `length`. */
  #check(length: number): number {
    if (this.#failed !== undefined) throw this.#failed;
    if (length < OVERHEAD) {
      return this.#fail('short', this.#last + 1, `${length} bytes cannot hold sequence and tag`);
    }
    if (this.#out.length < length) {
      this.#out = new Uint8Array(privateBufferSize(length));
      // Bound before the first record, and again for a larger one.
      this.#cipher.bind('private', this.#out);
    }
    return length;
  }

  #result(result: OpenResult, length: number): number {
    const expected = this.#last + 1;
    const n = length - OVERHEAD;
    if (result === OpenResult.wrongSequence) {
      const sequence = readSequence(this.#out, n);
      return this.#fail(
        sequence <= this.#last ? 'replayed' : 'out-of-order',
        sequence,
        `expected sequence ${expected}`,
      );
    }
    if (result !== OpenResult.opened) {
      const what = this.#mode === 'mac' ? 'the MAC' : 'the AEAD tag';
      return this.#fail('bad-tag', expected, `${what} does not verify`);
    }
    this.#last = expected;
    return n;
  }

  /** Test hook: continue as if record `sequence` had been the last one accepted. */
  resumeAfterForTest(sequence: number): void {
    this.#last = sequence;
  }

  /** Zeroes the key and the private buffers. */
  dispose(): void {
    this.#cipher.dispose();
    this.#out.fill(0);
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
