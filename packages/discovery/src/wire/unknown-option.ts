/**
 * An option whose type this implementation does not interpret (e.g. vsomeip's proprietary
 * 0x03 / 0x20, or 0x15 MAC groupcast). Decoders skip it by Length + 3 and keep its bytes so
 * that a message re-encodes to the same bytes; entries referencing it ignore it.
 */
export interface UnknownOption {
  readonly type: 'unknown';
  /** The Type byte. */
  readonly optionType: number;
  /** The Length bytes after the Type byte (the reserved/first byte included). */
  readonly data: Uint8Array;
}
