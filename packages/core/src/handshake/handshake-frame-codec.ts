// The control link's handshake frame (ControlMessage.handshake, proto/control.proto) read and
// written by hand. Four of them lie on every handshake's path (M1..M4), each encoded by its
// sender and decoded by its receiver right after a process woke; protobufjs's object
// conversion took 40-90 µs of each in the stage trace (`hostd-bench.js --trace`), a bounded
// scan takes a few. Anything but the plain shape below (field order as protobufjs writes it,
// each field once, no unknown field) returns undefined, and the caller takes the protobufjs
// path: this only ever answers where that path gives the same message.

const CONTROL_HANDSHAKE_TAG = 0x32; // field 6, length-delimited
const FRAME_MESSAGE_TAG = 0x0a; // field 1, length-delimited
const FRAME_PEER_DOORBELL_TAG = 0x10; // field 2, varint

/** A varint of at most 5 bytes (a uint32 field, a length): value and next offset. */
function varint32(b: Uint8Array, at: number): { value: number; next: number } | undefined {
  let value = 0;
  for (let i = 0; i < 5; i++) {
    const byte = b[at + i];
    if (byte === undefined) return undefined;
    value += (byte & 0x7f) * 2 ** (7 * i);
    if (byte < 0x80) {
      // a longer encoding than needed is protobufjs's to judge
      if (byte === 0 && i > 0) return undefined;
      return value > 0xffff_ffff ? undefined : { value, next: at + i + 1 };
    }
  }
  return undefined;
}

function varintLength(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

function putVarint(out: Uint8Array, at: number, v: number): number {
  while (v >= 0x80) {
    out[at++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  out[at++] = v;
  return at;
}

/**
 * The bytes protobufjs writes for `{ handshake: { message, peerDoorbell } }`, or undefined for
 * a frame this does not write (a channel device path, a doorbell id that is not a uint32).
 */
export function encodeHandshakeFrame(
  message: Uint8Array,
  peerDoorbell: number | undefined,
  channelDevice: string | undefined,
): Uint8Array | undefined {
  if (channelDevice !== undefined) return undefined;
  if (
    peerDoorbell !== undefined &&
    (!Number.isInteger(peerDoorbell) || peerDoorbell < 0 || peerDoorbell > 0xffff_ffff)
  )
    return undefined;
  let inner = message.length === 0 ? 0 : 1 + varintLength(message.length) + message.length;
  if (peerDoorbell !== undefined) inner += 1 + varintLength(peerDoorbell);
  const out = new Uint8Array(1 + varintLength(inner) + inner);
  out[0] = CONTROL_HANDSHAKE_TAG;
  let at = putVarint(out, 1, inner);
  if (message.length > 0) {
    out[at++] = FRAME_MESSAGE_TAG;
    at = putVarint(out, at, message.length);
    out.set(message, at);
    at += message.length;
  }
  if (peerDoorbell !== undefined) {
    out[at++] = FRAME_PEER_DOORBELL_TAG;
    putVarint(out, at, peerDoorbell);
  }
  return out;
}

/**
 * The message (a copy) and peer doorbell of a control message that is exactly a handshake
 * frame of that plain shape; undefined for anything else.
 */
export function decodeHandshakeFrame(
  bytes: Uint8Array,
): { message: Uint8Array; peerDoorbell: number | undefined } | undefined {
  if (bytes[0] !== CONTROL_HANDSHAKE_TAG) return undefined;
  const len = varint32(bytes, 1);
  if (len === undefined || len.next + len.value !== bytes.length) return undefined;
  let at = len.next;
  let message: Uint8Array | undefined;
  let peerDoorbell: number | undefined;
  if (bytes[at] === FRAME_MESSAGE_TAG) {
    const m = varint32(bytes, at + 1);
    if (m === undefined || m.next + m.value > bytes.length) return undefined;
    message = new Uint8Array(bytes.subarray(m.next, m.next + m.value)); // a copy, even of a Buffer
    at = m.next + m.value;
  }
  if (at < bytes.length && bytes[at] === FRAME_PEER_DOORBELL_TAG) {
    const d = varint32(bytes, at + 1);
    if (d === undefined) return undefined;
    peerDoorbell = d.value;
    at = d.next;
  }
  if (at !== bytes.length) return undefined;
  return { message: message ?? new Uint8Array(0), peerDoorbell };
}
