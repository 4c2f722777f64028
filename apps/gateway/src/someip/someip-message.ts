/**
 * The SOME/IP message header (PRS_SOMEIP, "SOME/IP Header Format"): 16 bytes big-endian —
 * Message ID (service id, method/event id), Length (bytes after the Length field: 8 + payload),
 * Request ID (client id, session id), protocol version 0x01, interface version, message type,
 * return code — then the payload. Payloads are the service's protobuf bytes; the gateway has no
 * SOME/IP serialization engine.
 */

/** Bytes of the header. */
export const SOMEIP_HEADER_BYTES = 16;
/** The only protocol version (PRS_SOMEIP_00052). */
export const SOMEIP_PROTOCOL_VERSION = 0x01;

/** Message types the gateway speaks (PRS_SOMEIP_00055); TP variants are not supported. */
export const MessageType = {
  request: 0x00,
  requestNoReturn: 0x01,
  notification: 0x02,
  response: 0x80,
  error: 0x81,
} as const;
export type MessageTypeName = keyof typeof MessageType;

/** Return codes (PRS_SOMEIP_00191). */
export const ReturnCode = {
  ok: 0x00,
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
    if (bytes.byteLength - at < SOMEIP_HEADER_BYTES) return { messages, malformed: 'short' };
    const length = view.getUint32(at + 4);
    if (length < 8 || at + 8 + length > bytes.byteLength) return { messages, malformed: 'length' };
    if (length - 8 > maxPayload) return { messages, malformed: 'tooLarge' };
    messages.push({
      serviceId: view.getUint16(at),
      methodId: view.getUint16(at + 2),
      clientId: view.getUint16(at + 8),
      sessionId: view.getUint16(at + 10),
      protocolVersion: bytes[at + 12]!,
      interfaceVersion: bytes[at + 13]!,
      messageType: bytes[at + 14]!,
      returnCode: bytes[at + 15]!,
      payload: bytes.subarray(at + SOMEIP_HEADER_BYTES, at + 8 + length),
    });
    at += 8 + length;
  }
  return { messages };
}

/** The bytes of one message (header and payload). */
export function encodeSomeIp(m: Omit<SomeIpMessage, 'protocolVersion'>): Uint8Array {
  const out = new Uint8Array(SOMEIP_HEADER_BYTES + m.payload.byteLength);
  const view = new DataView(out.buffer);
  view.setUint16(0, m.serviceId);
  view.setUint16(2, m.methodId);
  view.setUint32(4, 8 + m.payload.byteLength);
  view.setUint16(8, m.clientId);
  view.setUint16(10, m.sessionId);
  out[12] = SOMEIP_PROTOCOL_VERSION;
  out[13] = m.interfaceVersion;
  out[14] = m.messageType;
  out[15] = m.returnCode;
  out.set(m.payload, SOMEIP_HEADER_BYTES);
  return out;
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
