import type { ChannelMode } from '@sivshm/abi';
import type { SomeIpHeader } from '../ring/someip-header.js';
import type { RecordDirection } from './record-format.js';

/** Which protection a channel's records get: abi's channel modes other than `plain`. */
export type ProtectedMode = Exclude<ChannelMode, 'plain'>;

/** What {@link RecordCipher.open} found. */
export const OpenResult = {
  /** The tag verified: the private copy holds the plaintext body. */
  opened: 0,
  /** The record's sequence field is not the expected one (it is in the copy, after the body). */
  wrongSequence: 1,
  /** The tag does not verify (in `aead` the copy's body was zeroed: no plaintext is left). */
  badTag: 2,
} as const;
export type OpenResult = (typeof OpenResult)[keyof typeof OpenResult];

/**
 * The record step of one channel direction, in the shape of a sealed record
 * (`SealedRecordLayout`: body ‖ sequence u64 LE ‖ 16-byte tag, so a record is its body's length
 * + 24), behind one interface so the format is checked against more than one implementation
 * (the addon's OpenSSL for speed, `node:crypto`, noble as an independent reference; the
 * known-answer vectors run through all three).
 *
 * Both modes use AES-256-GCM with nonce = direction ‖ sequence and the associated data
 * A = channel id ‖ direction ‖ sequence ‖ SOME/IP header (docs/protocol.md §4.1). `mac`: the tag
 * is GMAC over A ‖ body, the body stays readable. `aead`: the body is encrypted, A
 * authenticated. Implementations write into the caller's buffers and keep no reference to any.
 */
export interface RecordCipher {
  /**
   * Seals `plain` as record number `sequence` under header `h` into `record` (exactly
   * `plain.length + 24` bytes: the ring slot): body, sequence and tag. The tag is computed over
   * the private `plain`, never over what is already in the ring.
   */
  seal(sequence: number, h: SomeIpHeader, plain: Uint8Array, record: Uint8Array): void;
  /**
   * Copies `ringRecord` (in the ring, which the peer may be rewriting) into private `out` (at
   * least as long) reading each byte once, then checks the copy only: its sequence field must
   * be `expected`, and its tag that of record `expected` under header `h`.
   */
  open(expected: number, h: SomeIpHeader, ringRecord: Uint8Array, out: Uint8Array): OpenResult;
  /**
   * Binds the memory {@link sealAt} and {@link openAt} address by offset: `ring`, the data area
   * of the ring this direction's records go through (its `dataBulk`), or `private`, the
   * plaintext side (bound again whenever it is replaced by a larger buffer).
   */
  bind(which: 'ring' | 'private', bytes: Uint8Array): void;
  /**
   * {@link seal} from `length` bytes of the bound private buffer at `plainOffset` into the bound
   * ring at `recordOffset` (`length + 24` bytes): the channel's send path, with no view per record.
   */
  sealAt(
    sequence: number,
    h: SomeIpHeader,
    plainOffset: number,
    length: number,
    recordOffset: number,
  ): void;
  /**
   * {@link open} of the `length`-byte record at `recordOffset` in the bound ring into the start
   * of the bound private buffer (at least `length` bytes).
   */
  openAt(expected: number, h: SomeIpHeader, recordOffset: number, length: number): OpenResult;
  /** Zeroes this cipher's copy of the key; it is unusable afterwards. */
  dispose(): void;
}

/** What one direction's cipher is bound to. */
export interface RecordCipherOptions {
  readonly mode: ProtectedMode;
  /** 32 bytes; the cipher keeps its own copy. */
  readonly key: Uint8Array;
  readonly channelId: bigint;
  readonly direction: RecordDirection;
}

/** Makes the cipher of one direction key. */
export interface RecordCryptoBackend {
  readonly name: string;
  cipher(o: RecordCipherOptions): RecordCipher;
}
