import { MessageType, type MessageTypeCode } from './handshake-messages.js';

// Why hand-read protobuf here: the broker refuses a flooding VM's messages before it decodes
// them (docs/security.md), yet an M1 refused for rate should still name its req_seq so the
// consumer learns why; and a VM routes each message from hostd to the one handshake it belongs
// to before that handshake decodes it. A full decode (canonical check included) costs tens of
// microseconds per message, these bounded scans about one (docs/performance.md). Field numbers
// are those of proto/sivshm.proto.

const ENVELOPE_TYPE = 1;
const ENVELOPE_BODY = 2;
const REQUEST_REQ_SEQ = 6;
const ABORT_REQ_SEQ = 2;
/** channel_id is field 1 of OfferBody (M2), AcceptBody (M3), FinishBody (M5) and AbortBody. */
const BODY_CHANNEL_ID = 1;
const GRANT_C_M2_BODY = 1;
const OFFER_M1 = 10;
const GRANT_P_M5 = 1;

/** Which handshake a control message belongs to, read without decoding it. */
export type ControlPeek =
  | {
      readonly type: MessageTypeCode;
      /**
       * A consumer's request, named by its req_seq: M1, the M4 that answers it (req_seq of the
       * M1 inside), an ABORT with a req_seq. 0 when the bytes do not carry one.
       */
      readonly by: 'request';
      readonly reqSeq: bigint;
    }
  | {
      readonly type: MessageTypeCode;
      /** A handshake in flight, named by its channel: M2, M3, M5, M6, an ABORT without req_seq. */
      readonly by: 'channel';
      readonly channelId: bigint;
    };

/** A varint at `at` in `b` (at most 10 bytes): its value and the offset after it. */
export function readVarint(b: Uint8Array, at: number): { value: bigint; next: number } | undefined {
  let value = 0n;
  for (let i = 0; i < 10; i++) {
    const byte = b[at + i];
    if (byte === undefined) return undefined;
    value |= BigInt(byte & 0x7f) << BigInt(7 * i);
    if ((byte & 0x80) === 0) return { value, next: at + i + 1 };
  }
  return undefined;
}

/**
 * Finds field `want` in the protobuf message `b`: its value (varint) or its bytes
 * (length-delimited). Unknown wire types end the scan. Bounded by `b.length`.
 */
function field(b: Uint8Array, want: number): bigint | Uint8Array | undefined {
  let at = 0;
  while (at < b.length) {
    const tag = readVarint(b, at);
    if (tag === undefined) return undefined;
    at = tag.next;
    const num = Number(tag.value >> 3n);
    const wire = Number(tag.value & 7n);
    if (wire === 0) {
      const v = readVarint(b, at);
      if (v === undefined) return undefined;
      if (num === want) return v.value;
      at = v.next;
    } else if (wire === 2) {
      const len = readVarint(b, at);
      if (len === undefined || len.value > BigInt(b.length - len.next)) return undefined;
      const end = len.next + Number(len.value);
      if (num === want) return b.subarray(len.next, end);
      at = end;
    } else if (wire === 1) {
      at += 8;
    } else if (wire === 5) {
      at += 4;
    } else {
      return undefined;
    }
  }
  return undefined;
}

/** The bytes of the nested fields `path` (each length-delimited), or undefined. */
function bytesAt(b: Uint8Array | undefined, ...path: number[]): Uint8Array | undefined {
  let at: Uint8Array | undefined = b;
  for (const f of path) {
    if (at === undefined) return undefined;
    const v = field(at, f);
    at = v instanceof Uint8Array ? v : undefined;
  }
  return at;
}

/** A varint field of `b`, 0 when absent or unreadable (proto3: absent means 0). */
function numberAt(b: Uint8Array | undefined, f: number): bigint {
  if (b === undefined) return 0n;
  const v = field(b, f);
  return typeof v === 'bigint' ? v : 0n;
}

/** The message type of a HandshakeMessage without decoding it; undefined if not readable. */
export function peekMessageType(bytes: Uint8Array): MessageTypeCode | undefined {
  const t = field(bytes, ENVELOPE_TYPE);
  if (typeof t !== 'bigint' || t < 1n || t > 7n) return undefined;
  return Number(t) as MessageTypeCode;
}

/**
 * The one router of handshake messages, for hostd's broker and a VM's broker client alike:
 * the message type and the handshake it belongs to (request or channel), by bounded scans that
 * never throw. Undefined when the bytes carry no valid type. Nothing here is checked: the
 * handshake the message is routed to decodes and verifies it.
 */
export function peekControl(bytes: Uint8Array): ControlPeek | undefined {
  const type = peekMessageType(bytes);
  if (type === undefined) return undefined;
  const body = bytesAt(bytes, ENVELOPE_BODY);
  switch (type) {
    case MessageType.m1:
      return { type, by: 'request', reqSeq: numberAt(body, REQUEST_REQ_SEQ) };
    case MessageType.m4: {
      const request = bytesAt(body, GRANT_C_M2_BODY, OFFER_M1, ENVELOPE_BODY);
      return { type, by: 'request', reqSeq: numberAt(request, REQUEST_REQ_SEQ) };
    }
    case MessageType.m6: {
      const finish = bytesAt(body, GRANT_P_M5, ENVELOPE_BODY);
      return { type, by: 'channel', channelId: numberAt(finish, BODY_CHANNEL_ID) };
    }
    case MessageType.abort: {
      const reqSeq = numberAt(body, ABORT_REQ_SEQ);
      if (reqSeq !== 0n) return { type, by: 'request', reqSeq };
      return { type, by: 'channel', channelId: numberAt(body, BODY_CHANNEL_ID) };
    }
    default:
      return { type, by: 'channel', channelId: numberAt(body, BODY_CHANNEL_ID) };
  }
}

/** The req_seq of an M1 (or of whatever carries one) without decoding it; 0 when none. */
export function peekRequestSeq(bytes: Uint8Array): bigint {
  const p = peekControl(bytes);
  return p?.by === 'request' ? p.reqSeq : 0n;
}
