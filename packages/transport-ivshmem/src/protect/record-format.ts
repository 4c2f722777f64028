import { SOMEIP_PROTOCOL_VERSION } from '@sivshm/abi';
import type { SomeIpHeader } from '../ring/someip-header.js';

/**
 * Layout of a protected record (`mac` and `aead` modes; docs/protocol.md §4.1).
 *
 * The ring record stays a SOME/IP frame: 16-byte header, then a payload that is
 *
 * ```
 * body (n bytes: plaintext in mac, ciphertext in aead) ‖ sequence (u64 LE) ‖ tag (16 bytes)
 * ```
 *
 * and the header's length field counts all of it (8 + n + 24). Tag and encryption are bound to
 * the associated data A = channel id (u64 LE) ‖ direction (u8: 1 c2p, 2 p2c) ‖ sequence
 * (u64 LE) ‖ the 16 header bytes as they stand in the ring, so a record cannot be moved to
 * another channel, direction or position, nor its header changed.
 */
export const SealedRecordLayout = {
  sequenceSize: 8,
  tagSize: 16,
  /** Bytes a protected record adds after the body. */
  overhead: 24,
  /** Bytes of the associated data A. */
  associatedSize: 33,
  /** AEAD nonce: direction (u32 LE) ‖ sequence (u64 LE). */
  nonceSize: 12,
} as const;

/** Which way a record travels: consumer → provider or provider → consumer. */
export type RecordDirection = 'c2p' | 'p2c';

/** The direction's code in nonces and associated data. */
export function directionCode(d: RecordDirection): number {
  return d === 'c2p' ? 1 : 2;
}

/** Largest sequence number a sealer uses: JS numbers are exact up to here; the wire field is u64. */
export const MAX_RECORD_SEQUENCE = Number.MAX_SAFE_INTEGER;

/**
 * Reusable scratch of one direction: the associated data A and the nonce, rewritten in place
 * for every record so the hot path allocates nothing for them.
 */
export class RecordContext {
  readonly associated = new Uint8Array(SealedRecordLayout.associatedSize);
  readonly nonce = new Uint8Array(SealedRecordLayout.nonceSize);
  readonly #a: DataView;
  readonly #n: DataView;

  constructor(channelId: bigint, direction: RecordDirection) {
    this.#a = new DataView(this.associated.buffer);
    this.#n = new DataView(this.nonce.buffer);
    this.#a.setBigUint64(0, channelId, true);
    this.associated[8] = directionCode(direction);
    this.#n.setUint32(0, directionCode(direction), true);
  }

  /** Writes sequence and header (with the SOME/IP length of a `sealedLength`-byte payload). */
  set(sequence: number, h: SomeIpHeader, sealedLength: number): void {
    const a = this.#a;
    writeSequence(a, 9, sequence);
    writeSequence(this.#n, 4, sequence);
    a.setUint32(17, messageIdWord(h) >>> 0);
    a.setUint32(21, 8 + sealedLength);
    a.setUint32(25, requestIdWord(h) >>> 0);
    a.setUint32(29, protocolWord(h) >>> 0);
  }
}

// The SOME/IP header's words as A holds them (big-endian), as int32: the addon takes them so
// (native-record-crypto.ts); the length word between them is the record's own.

/** Message id: service ‖ method. */
export function messageIdWord(h: SomeIpHeader): number {
  return (h.service << 16) | h.method;
}

/** Request id: client ‖ session. */
export function requestIdWord(h: SomeIpHeader): number {
  return (h.client << 16) | h.session;
}

/** Protocol version ‖ interface version ‖ message type ‖ return code. */
export function protocolWord(h: SomeIpHeader): number {
  return (
    (SOMEIP_PROTOCOL_VERSION << 24) |
    (h.interfaceVersion << 16) |
    (h.messageType << 8) |
    h.returnCode
  );
}

/** Writes `n` (an exact integer below 2^53) as u64 little-endian without a BigInt. */
export function writeSequence(dv: DataView, at: number, n: number): void {
  dv.setUint32(at, n >>> 0, true);
  dv.setUint32(at + 4, Math.floor(n / 0x1_0000_0000), true);
}

/** {@link writeSequence} into bytes, without a DataView per call. */
export function putSequence(b: Uint8Array, at: number, n: number): void {
  const lo = n >>> 0;
  const hi = Math.floor(n / 0x1_0000_0000);
  b[at] = lo & 0xff;
  b[at + 1] = (lo >>> 8) & 0xff;
  b[at + 2] = (lo >>> 16) & 0xff;
  b[at + 3] = lo >>> 24;
  b[at + 4] = hi & 0xff;
  b[at + 5] = (hi >>> 8) & 0xff;
  b[at + 6] = (hi >>> 16) & 0xff;
  b[at + 7] = hi >>> 24;
}

/** Reads a u64 little-endian sequence; values above 2^53 come back inexact but > any valid one. */
export function readSequence(b: Uint8Array, at: number): number {
  const lo = (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
  const hi = (b[at + 4]! | (b[at + 5]! << 8) | (b[at + 6]! << 16) | (b[at + 7]! << 24)) >>> 0;
  return lo + hi * 0x1_0000_0000;
}
