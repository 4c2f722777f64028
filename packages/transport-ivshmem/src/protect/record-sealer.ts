import { TransportError } from '../errors/transport-error.js';
import type { SomeIpHeader } from '../ring/someip-header.js';
import type { ProtectedMode, RecordCipher, RecordCryptoBackend } from './record-crypto.js';
import { MAX_RECORD_SEQUENCE, SealedRecordLayout, type RecordDirection } from './record-format.js';

const OVERHEAD = SealedRecordLayout.overhead;

/** What one direction's sealer or opener is built from. */
export interface RecordProtectionOptions {
  readonly mode: ProtectedMode;
  /** This direction's key from the handshake (copied; the caller may zero its own). */
  readonly key: Uint8Array;
  readonly channelId: bigint;
  readonly direction: RecordDirection;
  readonly crypto: RecordCryptoBackend;
  /**
   * Called with the `ERR_SEQUENCE_EXHAUSTED` error before it is thrown, so the channel can end
   * itself and be re-established with fresh keys.
   */
  readonly onExhausted?: (e: TransportError) => void;
}

/**
 * Protects the records one end sends (record layout: `SealedRecordLayout`).
 *
 * The plaintext is read from private memory and only the result is written to the ring slot:
 * in `aead` mode the ring never holds plaintext. Sequence numbers start at 1 and advance only
 * when a record is really sealed into a reserved slot, so the peer sees exactly last + 1.
 */
export class RecordSealer {
  readonly #cipher: RecordCipher;
  readonly #onExhausted: ((e: TransportError) => void) | undefined;
  #sequence = 0;

  constructor(o: RecordProtectionOptions) {
    this.#cipher = o.crypto.cipher(o);
    this.#onExhausted = o.onExhausted;
  }

  /** Sequence number of the last sealed record (0 before the first). */
  get sequence(): number {
    return this.#sequence;
  }

  /**
   * Seals `plain` under header `h` into `out`, which must be exactly `plain.length + 24` bytes
   * (the ring slot's payload).
   */
  seal(h: SomeIpHeader, plain: Uint8Array, out: Uint8Array): void {
    const n = plain.length;
    if (out.length !== n + OVERHEAD) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        `sealed record needs ${n + OVERHEAD} bytes, the slot has ${out.length}`,
      );
    }
    // The tag is computed over the private plaintext, not over the ring copy a peer could
    // already be changing.
    const sequence = this.#next();
    this.#cipher.seal(sequence, h, plain, out);
    this.#sequence = sequence;
  }

  /**
   * Binds the memory {@link sealAt} addresses: the data area of the ring records go into, or
   * the private buffer plaintext is encoded into (again whenever it is replaced).
   */
  bind(which: 'ring' | 'private', bytes: Uint8Array): void {
    this.#cipher.bind(which, bytes);
  }

  /**
   * {@link seal} of `length` bytes of the bound private buffer at `plainOffset` into the bound
   * ring at `recordOffset` (`length + 24` bytes, reserved by the caller).
   */
  sealAt(h: SomeIpHeader, plainOffset: number, length: number, recordOffset: number): void {
    const sequence = this.#next();
    this.#cipher.sealAt(sequence, h, plainOffset, length, recordOffset);
    this.#sequence = sequence;
  }

  /**
   * The next sequence number, or `ERR_SEQUENCE_EXHAUSTED` past the last one. It counts as used
   * only once the cipher has sealed with it: a refused seal leaves no gap for the peer to see.
   */
  #next(): number {
    if (this.#sequence >= MAX_RECORD_SEQUENCE) {
      const e = new TransportError(
        'ERR_SEQUENCE_EXHAUSTED',
        `record sequence numbers of this channel are used up (${MAX_RECORD_SEQUENCE} sealed); the channel ends and is re-established with fresh keys`,
      );
      this.#onExhausted?.(e);
      throw e;
    }
    return this.#sequence + 1;
  }

  /** Test hook: continue as if `sequence` records had been sealed (vectors, exhaustion). */
  resumeAfterForTest(sequence: number): void {
    this.#sequence = sequence;
  }

  /** Zeroes the key. */
  dispose(): void {
    this.#cipher.dispose();
  }
}
