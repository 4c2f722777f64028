/** Which protection a channel's records get. */
export type ProtectedMode = 'mac' | 'aead';

/**
 * The primitives of one direction's key, in the shape of a sealed record (`SealedRecordLayout`:
 * body ‖ 8 bytes of sequence ‖ 16 bytes of tag, so a record is its body's length + 24), behind
 * one interface so the format is checked against more than one implementation (the addon's
 * OpenSSL for speed, `node:crypto`, noble as an independent reference; the known-answer vectors
 * run through all three).
 *
 * `mac` mode: tag = HMAC-SHA256(key, A ‖ body) truncated to 16 bytes. `aead` mode: AES-256-GCM
 * with a 16-byte tag (chosen over ChaCha20-Poly1305 by measurement, docs/performance.md).
 * Implementations write into the caller's buffers, leave the sequence bytes alone, and keep no
 * reference to any buffer.
 */
export interface RecordCipher {
  /** aead: encrypts `plain` into the body of `record` and writes the tag. */
  seal(nonce: Uint8Array, associated: Uint8Array, plain: Uint8Array, record: Uint8Array): void;
  /**
   * aead: copies `record` (in the ring) into `scratch` (private, at least as long) with one
   * read, decrypts the copy's body into `out` (at least as long) and returns true only when the
   * copy's tag verifies; otherwise `out` holds no plaintext.
   */
  open(
    nonce: Uint8Array,
    associated: Uint8Array,
    record: Uint8Array,
    scratch: Uint8Array,
    out: Uint8Array,
  ): boolean;
  /** mac: copies `plain` into the body of `record` and writes the tag over `associated ‖ plain`. */
  macSeal(associated: Uint8Array, plain: Uint8Array, record: Uint8Array): void;
  /**
   * mac: copies `record` into `scratch` with one read and returns true when the copy's tag is
   * that of `associated ‖ its body` (constant time); the body is then read from `scratch`.
   */
  macCheck(associated: Uint8Array, record: Uint8Array, scratch: Uint8Array): boolean;
  /** Zeroes this cipher's copy of the key; it is unusable afterwards. */
  dispose(): void;
}

/** Makes the cipher of one direction key. */
export interface RecordCryptoBackend {
  readonly name: string;
  cipher(mode: ProtectedMode, key: Uint8Array): RecordCipher;
}

/** Bytes after a record's body: sequence (8) and tag (16). */
export const RECORD_TRAILER = 24;
/** Where the tag starts after the body. */
export const TAG_AFTER_BODY = 8;

/** A backend's HMAC-SHA256 over A ‖ body, truncated to the tag size. */
export type MacTag = (associated: Uint8Array, body: Uint8Array) => Uint8Array;

/**
 * `mac` framing shared by the JS backends: the body stays plain, its tag goes after the
 * sequence field (which the sealer writes).
 */
export function macSealRecord(
  tag: MacTag,
  associated: Uint8Array,
  plain: Uint8Array,
  record: Uint8Array,
): void {
  const n = record.length - RECORD_TRAILER;
  record.set(plain, 0);
  record.set(tag(associated, plain), n + TAG_AFTER_BODY);
}

/**
 * Copies the ring record into private `scratch` first and checks the tag on the copy, so the
 * peer cannot change the body between the check and the read.
 */
export function macCheckRecord(
  tag: MacTag,
  equal: (a: Uint8Array, b: Uint8Array) => boolean,
  associated: Uint8Array,
  ringRecord: Uint8Array,
  scratch: Uint8Array,
): boolean {
  const record = scratch.subarray(0, ringRecord.length);
  record.set(ringRecord, 0);
  const n = record.length - RECORD_TRAILER;
  return equal(tag(associated, record.subarray(0, n)), record.subarray(n + TAG_AFTER_BODY));
}
