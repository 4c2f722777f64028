/**
 * SOME/IP message header constants (AUTOSAR PRS_SOMEIP, "Header Format"), shared by the ring
 * records of `@sivshm/transport-ivshmem` and the SD messages of `@sivshm/discovery`.
 *
 * On the wire (big-endian): message id = service << 16 | method (or event) id; length =
 * 8 + payload length (it counts request id, versions, type and code); request id = client << 16
 * | session; protocol version (always 1); interface version (= the service's major version);
 * message type; return code.
 */

/** Bytes of the SOME/IP header. */
export const SOMEIP_HEADER_SIZE = 16;

/** Byte offsets of the header fields. */
export const SomeIpHeaderOffset = {
  messageId: 0, // u32: service << 16 | method
  length: 4, // u32: bytes after this field
  requestId: 8, // u32: client << 16 | session
  protocolVersion: 12, // u8
  interfaceVersion: 13, // u8
  messageType: 14, // u8
  returnCode: 15, // u8
} as const;

/** SOME/IP protocol version carried in every header. */
export const SOMEIP_PROTOCOL_VERSION = 1;

/** SOME/IP message types (PRS_SOMEIP_00055); the `TP_` variants carry segmented payloads. */
export const SomeIpMessageType = {
  REQUEST: 0x00,
  REQUEST_NO_RETURN: 0x01,
  NOTIFICATION: 0x02,
  RESPONSE: 0x80,
  ERROR: 0x81,
  TP_REQUEST: 0x20,
  TP_REQUEST_NO_RETURN: 0x21,
  TP_NOTIFICATION: 0x22,
  TP_RESPONSE: 0xa0,
  TP_ERROR: 0xa1,
} as const;

/** SOME/IP return code of a successful message. */
export const SOMEIP_E_OK = 0x00;

/**
 * SOME/IP-TP (PRS_SOMEIP_00720ff): the bit of the Message Type that marks one segment of a
 * message too large for one UDP datagram (0x02 → 0x22, 0x80 → 0xA0).
 */
export const SOMEIP_TP_FLAG = 0x20;

/** Bytes of the TP header (Offset, reserved bits, More Segments flag) after the SOME/IP header. */
export const SOMEIP_TP_HEADER_SIZE = 4;

/** The TP Offset counts 16-byte units: every segment but the last carries a multiple of 16 bytes. */
export const SOMEIP_TP_UNIT = 16;
