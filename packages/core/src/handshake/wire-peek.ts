import { abortMessage } from './handshake-failure.js';
import type { MessageTypeCode } from './handshake-messages.js';

// Why hand-read protobuf here: the broker refuses a flooding VM's messages before it decodes
// them (security-anchors §2.8), yet an M1 refused for rate should still name its req_seq so the
// consumer learns why. A full decode (canonical check included) costs ~40 µs per message, which
// at 10 000 M1/s is most of a core; these bounded scans and an ABORT spliced from a template
// cost ~1 µs. Field numbers are those of proto/sivshm.proto (HandshakeMessage, RequestBody,
// AbortBody).

const ENVELOPE_TYPE = 1;
const ENVELOPE_BODY = 2;
const REQUEST_REQ_SEQ = 6;
const ABORT_REQ_SEQ = 2;

/** A varint at `at` in `b` (at most 10 bytes): its value and the offset after it. */
function varint(b: Uint8Array, at: number): { value: bigint; next: number } | undefined {
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
 * Finds field `field` in the protobuf message `b`: its value (varint) or its bytes
 * (length-delimited). Unknown wire types end the scan. Bounded by `b.length`.
 */
function field(b: Uint8Array, want: number): bigint | Uint8Array | undefined {
  let at = 0;
  while (at < b.length) {
    const tag = varint(b, at);
    if (tag === undefined) return undefined;
    at = tag.next;
    const num = Number(tag.value >> 3n);
    const wire = Number(tag.value & 7n);
    if (wire === 0) {
      const v = varint(b, at);
      if (v === undefined) return undefined;
      if (num === want) return v.value;
      at = v.next;
    } else if (wire === 2) {
      const len = varint(b, at);
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

/** The message type of a HandshakeMessage without decoding it; undefined if not readable. */
export function peekMessageType(bytes: Uint8Array): MessageTypeCode | undefined {
  const t = field(bytes, ENVELOPE_TYPE);
  if (typeof t !== 'bigint' || t < 1n || t > 7n) return undefined;
  return Number(t) as MessageTypeCode;
}

/** The req_seq of an M1 without decoding it; 0 when the bytes do not carry one. */
export function peekRequestSeq(bytes: Uint8Array): bigint {
  const body = field(bytes, ENVELOPE_BODY);
  if (!(body instanceof Uint8Array)) return 0n;
  const seq = field(body, REQUEST_REQ_SEQ);
  return typeof seq === 'bigint' ? seq : 0n;
}

function pushVarint(out: number[], v: bigint): void {
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
}

/**
 * The `rateLimited` ABORT for channel 0 and req_seq 0 with `detail`: the template
 * {@link rateLimitedAbort} adds a req_seq to. Built once per VM with the regular encoder.
 */
export function rateLimitedAbortTemplate(detail: string): Uint8Array {
  return abortMessage(0n, 0n, 'rateLimited', detail);
}

/**
 * The template's ABORT for request `reqSeq`, byte for byte what `abortMessage(0n, reqSeq,
 * 'rateLimited', detail)` encodes, built without protobufjs: req_seq (AbortBody field 2) goes
 * first in the body, since channel_id (field 1) is 0 and therefore absent.
 */
export function rateLimitedAbort(reqSeq: bigint, template: Uint8Array): Uint8Array {
  if (reqSeq === 0n) return template;
  // The template is [type tag, 7, body tag, body length (varint), body].
  const len = varint(template, 3);
  if (len === undefined) return template;
  const body = template.subarray(len.next);
  const seq: number[] = [(ABORT_REQ_SEQ << 3) | 0];
  pushVarint(seq, reqSeq);
  const head: number[] = [template[0]!, template[1]!, template[2]!];
  pushVarint(head, BigInt(seq.length + body.length));
  const out = new Uint8Array(head.length + seq.length + body.length);
  out.set(head, 0);
  out.set(seq, head.length);
  out.set(body, head.length + seq.length);
  return out;
}
