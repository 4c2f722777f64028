import { encodedLength, encodeInto } from '../protobuf/encode-into.js';
import type { MessageCodec } from '../protobuf/message-codec.js';
import type { SomeIpHeader } from '../ring/someip-header.js';
import type { Channel } from './channel.js';

/**
 * Encodes `message` straight into a loaned slot of `channel`'s send ring and sends it: no
 * payload buffer and no copy (sized first, then written in place by `encodeInto`). False,
 * with nothing sent, when the ring has no room now: the caller picks the waiting lane then.
 * In a `mac`/`aead` channel the loaned slot is private memory and sending seals it.
 * Throws `ERR_BAD_ARGUMENT` (nothing sent) when the message does not encode as `type`.
 * `sized`: its `encodedLength`, when the caller already has it (sending one message to many
 * rings sizes it once); `encodeInto` still refuses a message that writes another length.
 */
export function sendEncoded(
  channel: Channel,
  header: SomeIpHeader,
  type: MessageCodec,
  message: object,
  sized?: number,
): boolean {
  const length = sized ?? encodedLength(type, message);
  const slot = channel.loan(length);
  if (slot === undefined) return false;
  try {
    encodeInto(type, message, slot.payload, { length });
  } catch (e) {
    channel.abandon(slot);
    throw e;
  }
  // Field by field: the slot's header object is the ring's, reused by every loan.
  const h = slot.header;
  h.service = header.service;
  h.method = header.method;
  h.client = header.client;
  h.session = header.session;
  h.interfaceVersion = header.interfaceVersion;
  h.messageType = header.messageType;
  h.returnCode = header.returnCode;
  channel.send(slot);
  return true;
}
