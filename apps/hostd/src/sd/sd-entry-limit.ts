import { vmLoad, type ServiceConfig } from '@sivshm/core';

/**
 * Where the SD header's "Length of Entries Array" sits: after the 16-byte SOME/IP header, the
 * SD flags byte and 3 reserved bytes. Each entry is 16 bytes.
 */
const ENTRIES_LENGTH_OFFSET = 20;
const ENTRY_SIZE = 16;

/**
 * How many entries one SD message of `vmId` may carry: what its configuration can need at
 * once (`vmLoad` in core: per instance it provides an Offer and a StopOffer, and a
 * SubscribeAck and a Nack per eventgroup for each consumer; per instance it may consume a
 * Find, and a StopSubscribe and a Subscribe per eventgroup). So a VM can still batch its whole
 * cyclic traffic in one message, and no more: a 4000-entry Find is refused before it costs a
 * reply each.
 */
export function sdEntriesPerMessage(config: ServiceConfig, vmId: number): number {
  return vmLoad(config, vmId).sdEntriesPerMessage;
}

/**
 * The entry count an SD message claims, read from its header without decoding it; undefined
 * when the bytes are too short to say (the decoder then refuses them).
 */
export function sdEntryCount(bytes: Uint8Array): number | undefined {
  if (bytes.length < ENTRIES_LENGTH_OFFSET + 4) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Math.floor(view.getUint32(ENTRIES_LENGTH_OFFSET, false) / ENTRY_SIZE);
}
