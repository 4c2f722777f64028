import { SomeIpMessageType } from '@sivshm/abi';

/**
 * SOME/IP message header fields of a ring record (AUTOSAR PRS_SOMEIP, "Header Format").
 *
 * On the wire (big-endian): message id = service << 16 | method (or event) id; length =
 * 8 + payload length (it counts request id, versions, type and code); request id = client << 16
 * | session; protocol version (always 1); interface version (= the service's major version);
 * message type; return code.
 */
export interface SomeIpHeader {
  /** Service id, u16. */
  service: number;
  /** Method id, or event id (bit 15 set), u16. */
  method: number;
  /** Client id, u16. */
  client: number;
  /** Session id, u16 (0 = session handling off). */
  session: number;
  /** Interface (major) version, u8. */
  interfaceVersion: number;
  /** Message type, one of `SomeIpMessageType` of `@sivshm/abi`. */
  messageType: number;
  /** Return code, u8 (0 = E_OK). */
  returnCode: number;
}

// A 256-entry table: one indexed load on the receive path instead of a Set lookup.
const VALID_TYPES = new Uint8Array(256);
for (const t of Object.values(SomeIpMessageType)) VALID_TYPES[t] = 1;

/** True when `t` is a message type a record may carry. */
export function isSomeIpMessageType(t: number): boolean {
  return VALID_TYPES[t & 0xff] === 1 && (t & 0xff) === t;
}

/**
 * Checks header fields supplied by the application; returns what is wrong, or undefined.
 * Cheap enough for the send path (integer masks only).
 */
export function checkSomeIpHeader(h: SomeIpHeader): string | undefined {
  if ((h.service & 0xffff) !== h.service || h.service === 0xffff) {
    return `service 0x${Number(h.service).toString(16)} is not in 0x0000..0xFFFE`;
  }
  if ((h.method & 0xffff) !== h.method) return `method ${h.method} is not a u16`;
  if ((h.client & 0xffff) !== h.client) return `client ${h.client} is not a u16`;
  if ((h.session & 0xffff) !== h.session) return `session ${h.session} is not a u16`;
  if ((h.interfaceVersion & 0xff) !== h.interfaceVersion) {
    return `interfaceVersion ${h.interfaceVersion} is not a u8`;
  }
  if (!isSomeIpMessageType(h.messageType)) {
    return `messageType 0x${Number(h.messageType).toString(16)} is not a SOME/IP message type`;
  }
  if ((h.returnCode & 0xff) !== h.returnCode) return `returnCode ${h.returnCode} is not a u8`;
  return undefined;
}
