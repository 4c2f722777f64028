/** Which protection a channel's records get. */
export type ProtectedMode = 'mac' | 'aead';

/**
 * The primitives of one direction's key, behind one interface so the record format is checked
 * against more than one implementation (`node:crypto` for speed, noble as an independent
 * reference; the known-answer vectors run through both).
 *
 * `mac` mode: HMAC-SHA256(key, A ‖ body) truncated to 16 bytes. `aead` mode: AES-256-GCM with a
 * 16-byte tag (chosen over ChaCha20-Poly1305 by measurement, docs/performance.md).
 * Implementations write into the caller's buffers and must not keep references to them.
 */
export interface RecordCipher {
  /** aead: encrypts `plain` into `out` (same length) and writes the 16-byte tag into `tag`. */
  seal(
    nonce: Uint8Array,
    associated: Uint8Array,
    plain: Uint8Array,
    out: Uint8Array,
    tag: Uint8Array,
  ): void;
  /** aead: decrypts into `out` and returns true only when the tag verifies (else `out` is junk). */
  open(
    nonce: Uint8Array,
    associated: Uint8Array,
    body: Uint8Array,
    tag: Uint8Array,
    out: Uint8Array,
  ): boolean;
  /** mac: writes the 16-byte tag over `associated ‖ body` into `tag`. */
  mac(associated: Uint8Array, body: Uint8Array, tag: Uint8Array): void;
  /** Zeroes this cipher's copy of the key; it is unusable afterwards. */
  dispose(): void;
}

/** Makes the cipher of one direction key. */
export interface RecordCryptoBackend {
  readonly name: string;
  cipher(mode: ProtectedMode, key: Uint8Array): RecordCipher;
}
