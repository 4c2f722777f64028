import { CoreError } from '../errors/core-error.js';

const U64_MAX = (1n << 64n) - 1n;
const HEX_RE = /^(?:[0-9a-fA-F]{2})*$/;
const utf8Encoder = new TextEncoder();
// fatal: a malformed sequence is an error, not a silent U+FFFD that could make two different
// byte strings decode to the same label.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * One new array holding `parts` back to back.
 *
 * Use it to build transcripts and signed bodies; the result never aliases an input.
 *
 * @example
 * ```ts
 * declare const transcriptHash: Uint8Array;
 * const body = concatBytes(utf8ToBytes('SIVSHM-v1 M1\0'), transcriptHash);
 * ```
 */
export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/**
 * The UTF-8 bytes of `text`.
 *
 * Use it for labels and other strings that go into a hash or a MAC.
 *
 * @example
 * ```ts
 * const label = utf8ToBytes('sivshm grant v1');
 * ```
 */
export function utf8ToBytes(text: string): Uint8Array {
  return utf8Encoder.encode(text);
}

/**
 * The string whose UTF-8 encoding is `bytes`; throws `ERR_DECODE` for malformed UTF-8.
 *
 * Use it for text that arrives from a peer, where a lossy decode would hide tampering.
 *
 * @example
 * ```ts
 * declare const field: Uint8Array; // text a peer sent
 * const name = bytesToUtf8(field);
 * ```
 */
export function bytesToUtf8(bytes: Uint8Array): string {
  try {
    return utf8Decoder.decode(bytes);
  } catch (cause) {
    throw new CoreError('ERR_DECODE', `${bytes.length} bytes are not valid UTF-8`, { cause });
  }
}

/**
 * Lower-case hex of `bytes`, two digits per byte.
 *
 * Use it for logs, fingerprints and test vectors.
 *
 * @example
 * ```ts
 * declare const certHash: Uint8Array;
 * console.info(`cert ${bytesToHex(certHash).slice(0, 16)}`);
 * ```
 */
export function bytesToHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/**
 * The bytes written as hex in `hex` (either case, no prefix, no separators).
 *
 * Throws `ERR_DECODE` for an odd length or a non-hex character; Node's own decoder would stop
 * silently at the first bad digit instead.
 *
 * @example
 * ```ts
 * const key = hexToBytes('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
 * ```
 */
export function hexToBytes(hex: string): Uint8Array {
  if (!HEX_RE.test(hex)) {
    throw new CoreError(
      'ERR_DECODE',
      `not a hex string (${hex.length} characters): expected an even number of 0-9, a-f, A-F`,
    );
  }
  const b = Buffer.from(hex, 'hex');
  // A plain Uint8Array of its own: Buffers compare unequal to Uint8Arrays in deep equality and
  // small ones share a pool with unrelated data.
  return new Uint8Array(b);
}

/**
 * Writes `value` as an unsigned 64-bit little-endian integer at `offset` of `target`.
 *
 * Throws `ERR_CRYPTO_INPUT` for a value outside 0..2^64-1 (or a non-integer number) and for an
 * offset that leaves fewer than 8 bytes.
 *
 * @example
 * ```ts
 * const counter = new Uint8Array(8);
 * writeU64LE(counter, 0, 42n);
 * ```
 */
export function writeU64LE(target: Uint8Array, offset: number, value: bigint | number): void {
  const v = typeof value === 'number' && Number.isSafeInteger(value) ? BigInt(value) : value;
  if (typeof v !== 'bigint' || v < 0n || v > U64_MAX) {
    throw new CoreError(
      'ERR_CRYPTO_INPUT',
      `u64 value ${String(value)} is out of range: expected an integer in 0..2^64-1`,
    );
  }
  checkRange(target, offset, 'ERR_CRYPTO_INPUT');
  new DataView(target.buffer, target.byteOffset, target.byteLength).setBigUint64(offset, v, true);
}

/**
 * Reads an unsigned 64-bit little-endian integer at `offset` of `source`.
 *
 * Throws `ERR_DECODE` when fewer than 8 bytes remain at `offset`.
 *
 * @example
 * ```ts
 * declare const frame: Uint8Array;
 * const seq = readU64LE(frame, 8);
 * ```
 */
export function readU64LE(source: Uint8Array, offset: number): bigint {
  checkRange(source, offset, 'ERR_DECODE');
  return new DataView(source.buffer, source.byteOffset, source.byteLength).getBigUint64(
    offset,
    true,
  );
}

function checkRange(
  bytes: Uint8Array,
  offset: number,
  code: 'ERR_DECODE' | 'ERR_CRYPTO_INPUT',
): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + 8 > bytes.length) {
    throw new CoreError(
      code,
      `u64 at offset ${offset} does not fit in ${bytes.length} bytes: need 0 <= offset <= ${bytes.length - 8}`,
    );
  }
}
