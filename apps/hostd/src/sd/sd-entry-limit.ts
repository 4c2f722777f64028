/**
 * Where the SD header's "Length of Entries Array" sits: after the 16-byte SOME/IP header, the
 * SD flags byte and 3 reserved bytes. Each entry is 16 bytes.
 */
const ENTRIES_LENGTH_OFFSET = 20;
const ENTRY_SIZE = 16;

/**
 * The entry count an SD message claims, read from its header without decoding it; undefined
 * when the bytes are too short to say (the decoder then refuses them).
 */
export function sdEntryCount(bytes: Uint8Array): number | undefined {
  if (bytes.length < ENTRIES_LENGTH_OFFSET + 4) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Math.floor(view.getUint32(ENTRIES_LENGTH_OFFSET, false) / ENTRY_SIZE);
}
