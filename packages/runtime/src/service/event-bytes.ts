import type protobuf from 'protobufjs';
import { decodeOwned } from '@sivshm/transport-ivshmem';
import { RuntimeError } from '../errors/runtime-error.js';

// The raw-bytes event path, for a participant that only carries events on (the SOME/IP
// gateway): payloads cross as the protobuf bytes they already are, so nothing is decoded into
// an object and encoded again on the way through.
//
// - Consuming: `ConsumedService.eventBytes(name)` hands out each event's payload bytes as the
//   providing VM sent them, through the channel's `ServiceConsumer.eventBytes` (transport: the
//   event id checked, the lane claimed as `event()`'s is, ended when the consumer closes). The
//   bytes are NOT checked: whoever passes them on (to a network) forwards what the provider
//   wrote, as a SOME/IP peer on the network would anyway.
// - Publishing: `ServicePublisher.publishBytes(bytes)` sends bytes that are already the event's
//   encoded message, but only after they decode as the event's type (always, whatever
//   `checkPayloads` says): bytes from outside (a network) never reach a VM that could not
//   decode them.

/**
 * A check that `bytes` decode as `type` (the way every consumer will decode them), throwing
 * `RuntimeError('ERR_BAD_PAYLOAD')` naming `what`, the type and the decoder's complaint.
 */
export function encodedPayloadCheck(
  type: protobuf.Type,
  what: string,
): (bytes: Uint8Array) => void {
  return (bytes) => {
    if (!(bytes instanceof Uint8Array))
      throw new RuntimeError(
        'ERR_BAD_PAYLOAD',
        `${what}: publishBytes takes a Uint8Array of the encoded message, got ${typeof bytes}`,
      );
    try {
      decodeOwned(type, bytes);
    } catch (e) {
      const typeName = type.fullName.replace(/^\./, '');
      throw new RuntimeError(
        'ERR_BAD_PAYLOAD',
        `${what}: ${bytes.byteLength} bytes do not decode as ${typeName} (${(e as Error).message}); nothing was sent`,
        { cause: e },
      );
    }
  };
}
