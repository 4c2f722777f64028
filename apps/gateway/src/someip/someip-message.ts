import {
  SOMEIP_E_OK,
  SOMEIP_HEADER_SIZE,
  SOMEIP_PROTOCOL_VERSION,
  SomeIpHeaderOffset as At,
  SomeIpMessageType,
} from '@sivshm/abi';

/**
 * SOME/IP messages on the network (PRS_SOMEIP, "SOME/IP Header Format"): the 16-byte header
 * whose layout, protocol version and message types `@sivshm/abi` defines (the ring records and
 * SD use the same), then the payload. Payloads are the service's protobuf bytes; the gateway
 * has no SOME/IP serialization engine.
 */

/** Message types the gateway speaks (PRS_SOMEIP_00055); their TP variants (0x20 set) are segments (tp-reassembler.ts, tp-segmenter.ts). */
export const MessageType = {
  request: SomeIpMessageType.REQUEST,
  requestNoReturn: SomeIpMessageType.REQUEST_NO_RETURN,
  notification: SomeIpMessageType.NOTIFICATION,
  response: SomeIpMessageType.RESPONSE,
  error: SomeIpMessageType.ERROR,
} as const;
export type MessageTypeName = keyof typeof MessageType;

/** Return codes (PRS_SOMEIP_00191). */
export const ReturnCode = {
  ok: SOMEIP_E_OK,
  notOk: 0x01,
  unknownService: 0x02,
  unknownMethod: 0x03,
  notReady: 0x04,
  notReachable: 0x05,
  timeout: 0x06,
  wrongProtocolVersion: 0x07,
  wrongInterfaceVersion: 0x08,
  malformedMessage: 0x09,
  wrongMessageType: 0x0a,
} as const;

/** One SOME/IP message. */
export interface SomeIpMessage {
  readonly serviceId: number;
  /** Method id (0x0000..0x7FFF) or event id (0x8000..0xFFFE). */
  readonly methodId: number;
  readonly clientId: number;
  readonly sessionId: number;
  readonly protocolVersion: number;
  readonly interfaceVersion: number;
  readonly messageType: number;
  readonly returnCode: number;
  readonly payload: Uint8Array;
}

/** Why bytes from the network are not a SOME/IP message; the gateway counts and drops them. */
export type SomeIpMalformed = 'short' | 'length' | 'tooLarge';

/** What one datagram held: the messages, and why the rest (if any) was dropped. */
export interface SomeIpSplit {
  readonly messages: SomeIpMessage[];
  readonly malformed?: SomeIpMalformed;
}

/**
 * Splits a UDP datagram into its SOME/IP messages (a datagram may carry several, PRS_SOMEIP
 * "Transporting more than one SOME/IP message in one UDP message"). The first message whose
 * header is cut short, or whose Length runs past the datagram, stops the split: what follows it
 * cannot be framed, so it is dropped. Payloads are views into `bytes`.
 */
export function splitSomeIpDatagram(bytes: Uint8Array, maxPayload: number): SomeIpSplit {
  const messages: SomeIpMessage[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  while (at < bytes.byteLength) {
    if (bytes.byteLength - at < SOMEIP_HEADER_SIZE) return { messages, malformed: 'short' };
    const length = view.getUint32(at + At.length);
    if (length < 8 || at + 8 + length > bytes.byteLength) return { messages, malformed: 'length' };
    if (length - 8 > maxPayload) return { messages, malformed: 'tooLarge' };
    messages.push({
      serviceId: view.getUint16(at + At.messageId),
      methodId: view.getUint16(at + At.messageId + 2),
      clientId: view.getUint16(at + At.requestId),
      sessionId: view.getUint16(at + At.requestId + 2),
      protocolVersion: bytes[at + At.protocolVersion]!,
      interfaceVersion: bytes[at + At.interfaceVersion]!,
      messageType: bytes[at + At.messageType]!,
      returnCode: bytes[at + At.returnCode]!,
      payload: bytes.subarray(at + SOMEIP_HEADER_SIZE, at + 8 + length),
    });
    at += 8 + length;
  }
  return { messages };
}

/**
 * True for a SOME/IP Magic Cookie (PRS_SOMEIP_00159ff): Message ID 0xFFFF0000 (client to
 * server) or 0xFFFF8000 (server to client), Request ID 0xDEADBEEF, no payload. A peer that
 * resynchronises a TCP stream sends them; they carry nothing, so they are skipped without
 * answer or count.
 */
export function isMagicCookie(m: SomeIpMessage): boolean {
  return (
    m.serviceId === 0xffff &&
    (m.methodId === 0x0000 || m.methodId === 0x8000) &&
    m.clientId === 0xdead &&
    m.sessionId === 0xbeef &&
    m.payload.byteLength === 0
  );
}

/** The bytes of one message (header and payload). */
export function encodeSomeIp(m: Omit<SomeIpMessage, 'protocolVersion'>): Uint8Array {
  const out = new Uint8Array(SOMEIP_HEADER_SIZE + m.payload.byteLength);
  writeSomeIp(out, 0, m);
  return out;
}

/**
 * Writes one message (header and payload) into `out` at `at` and returns where it ends; `out`
 * must have the room (`SOMEIP_HEADER_SIZE` + payload). No view or buffer is allocated, so a
 * batch of messages can be written into one datagram.
 */
export function writeSomeIp(
  out: Uint8Array,
  at: number,
  m: Omit<SomeIpMessage, 'protocolVersion'>,
): number {
  const length = 8 + m.payload.byteLength;
  const put16 = (offset: number, v: number): void => {
    out[at + offset] = v >>> 8;
    out[at + offset + 1] = v & 0xff;
  };
  put16(At.messageId, m.serviceId);
  put16(At.messageId + 2, m.methodId);
  put16(At.length, length >>> 16);
  put16(At.length + 2, length & 0xffff);
  put16(At.requestId, m.clientId);
  put16(At.requestId + 2, m.sessionId);
  out[at + At.protocolVersion] = SOMEIP_PROTOCOL_VERSION;
  out[at + At.interfaceVersion] = m.interfaceVersion;
  out[at + At.messageType] = m.messageType;
  out[at + At.returnCode] = m.returnCode;
  out.set(m.payload, at + SOMEIP_HEADER_SIZE);
  return at + SOMEIP_HEADER_SIZE + m.payload.byteLength;
}

/** The response or error to a request: same Message ID and Request ID (PRS_SOMEIP_00043). */
export function replyTo(
  request: SomeIpMessage,
  returnCode: number,
  payload: Uint8Array = new Uint8Array(0),
): Uint8Array {
  return encodeSomeIp({
    ...request,
    messageType: returnCode === ReturnCode.ok ? MessageType.response : MessageType.error,
    returnCode,
    payload,
  });
}
