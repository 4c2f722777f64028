import type protobuf from 'protobufjs';
import { Observable } from 'rxjs';
import { SomeIpMessageType } from '@sivshm/abi';
import { decodeOwned, dispatchKey, type Channel } from '@sivshm/transport-ivshmem';
import { RuntimeError } from '../errors/runtime-error.js';

// The raw-bytes event path, for a participant that only carries events on (the SOME/IP
// gateway): payloads cross as the protobuf bytes they already are, so nothing is decoded into
// an object and encoded again on the way through.
//
// - Consuming: `ConsumedService.eventBytes(name)` hands out each event's payload bytes as the
//   providing VM sent them. They are NOT checked: whoever passes them on (to a network) forwards
//   what the provider wrote, as a SOME/IP peer on the network would anyway.
// - Publishing: `ServicePublisher.publishBytes(bytes)` sends bytes that are already the event's
//   encoded message, but only after they decode as the event's type (always, whatever
//   `checkPayloads` says): bytes from outside (a network) never reach a VM that could not
//   decode them.

/**
 * Copies of the payload bytes of event `eventId` on `channel`, one per record, in order, as
 * received (a `mac`/`aead` channel has checked and opened the record first). The copy is the
 * caller's to keep. One stream per event and channel, as for `samples()`: the event's lane is
 * taken while it is subscribed, so `event()` of the same event on the same channel errors.
 */
export function eventBytesOn(channel: Channel, eventId: number): Observable<Uint8Array> {
  return new Observable<Uint8Array>((subscriber) =>
    channel.on(dispatchKey(SomeIpMessageType.NOTIFICATION, eventId), (r) => {
      if (r.header.messageType === SomeIpMessageType.NOTIFICATION)
        subscriber.next(r.payload.slice());
    }),
  );
}

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
