import type { SomeIpMessage } from './someip-message.js';

/** The TP flag of the Message Type: the message is one segment of a larger one (SOME/IP-TP). */
export const TP_FLAG = 0x20;

/** Size of the TP header that follows the SOME/IP header in a segment. */
const TP_HEADER_SIZE = 4;

/** Reassemblies in progress per sender; past it the oldest is dropped. */
const MAX_OPEN_PER_SENDER = 8;

/** What became of one segment. */
export type TpOutcome =
  /** The last segment arrived: the whole message, TP flag cleared. */
  | { readonly kind: 'complete'; readonly message: SomeIpMessage }
  /** Taken; more segments are awaited. */
  | { readonly kind: 'partial' }
  /** Not a well-formed segment, out of order, or past the size bound: counted as malformed. */
  | { readonly kind: 'dropped'; readonly why: string };

interface Open {
  readonly parts: Uint8Array[];
  received: number;
}

/**
 * Receive side of SOME/IP-TP (PRS_SOMEIP_00720ff): a UDP message too large for one datagram
 * arrives as segments with the TP flag (0x20) in its Message Type and a 4-byte TP header —
 * Offset (28 bits, in units of 16 bytes) and the More Segments flag (lowest bit). Segments of
 * one message share sender, Message ID and Request ID and are taken in order: a segment whose
 * offset is not where the message stands ends that reassembly (SOME/IP over UDP is not
 * reordered on one link; a gap means loss), every segment but the last carries a multiple of 16
 * bytes, and the whole stays within `maxPayload`. A sender holds at most
 * {@link MAX_OPEN_PER_SENDER} reassemblies at once. Nothing here allocates more than the bytes
 * received so far.
 */
export class TpReassembler {
  /** sender → `messageId|requestId|type` → the segments so far. */
  private readonly open = new Map<string, Map<string, Open>>();

  constructor(private readonly maxPayload: number) {}

  /** One message with the TP flag from `sender` (`address:port`). */
  add(sender: string, m: SomeIpMessage): TpOutcome {
    if (m.payload.byteLength < TP_HEADER_SIZE) return { kind: 'dropped', why: 'no TP header' };
    const p = m.payload;
    const word = ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0;
    const offset = (word >>> 4) * 16;
    const more = (word & 1) === 1;
    const data = p.subarray(TP_HEADER_SIZE);
    const key = `${m.serviceId}|${m.methodId}|${m.clientId}|${m.sessionId}|${m.messageType}`;
    let mine = this.open.get(sender);
    if (mine === undefined) {
      mine = new Map();
      this.open.set(sender, mine);
    }
    let o = mine.get(key);
    if (offset === 0) {
      // A first segment starts the message again (a sender that restarts it, or a new one).
      o = { parts: [], received: 0 };
      mine.delete(key);
      mine.set(key, o);
      if (mine.size > MAX_OPEN_PER_SENDER) mine.delete(mine.keys().next().value!);
    }
    const fail = (why: string): TpOutcome => {
      mine.delete(key);
      if (mine.size === 0) this.open.delete(sender);
      return { kind: 'dropped', why };
    };
    if (o === undefined) return fail(`segment at ${offset} without its first segment`);
    if (offset !== o.received) return fail(`segment at ${offset}, expected ${o.received}`);
    if (more && data.byteLength % 16 !== 0)
      return fail(
        `a segment before the last carries ${data.byteLength} bytes, not a multiple of 16`,
      );
    if (o.received + data.byteLength > this.maxPayload)
      return fail(`the message passes ${this.maxPayload} bytes`);
    o.parts.push(data.slice());
    o.received += data.byteLength;
    if (more) return { kind: 'partial' };
    mine.delete(key);
    if (mine.size === 0) this.open.delete(sender);
    const payload = new Uint8Array(o.received);
    let at = 0;
    for (const part of o.parts) {
      payload.set(part, at);
      at += part.byteLength;
    }
    return {
      kind: 'complete',
      message: { ...m, messageType: m.messageType & ~TP_FLAG, payload },
    };
  }

  /** Forgets what `sender` had in progress (its endpoint went away). */
  forget(sender: string): void {
    this.open.delete(sender);
  }
}
