import {
  SOMEIP_TP_FLAG as TP_FLAG,
  SOMEIP_TP_HEADER_SIZE as TP_HEADER_SIZE,
  SOMEIP_TP_UNIT as TP_UNIT,
} from '@sivshm/abi';
import type { SomeIpMessage } from './someip-message.js';

/** The bounds of a {@link TpReassembler}; every one has a default. */
export interface TpReassemblyLimits {
  /** Largest reassembled payload, bytes (the gateway's `maxPayload`). */
  readonly maxPayload: number;
  /** Reassemblies one sender (`address:port`) holds at once; past it its oldest is evicted. */
  readonly openPerSender?: number;
  /** Reassemblies of all senders together; past it the longest idle one is evicted. */
  readonly open?: number;
  /** Bytes held by all reassemblies together; past it the longest idle ones are evicted. */
  readonly bufferedBytes?: number;
  /** A reassembly with no segment for this long is given up (ms). */
  readonly timeoutMs?: number;
}

/** Reassemblies one sender holds at once by default. */
export const TP_OPEN_PER_SENDER = 8;
/** Reassemblies held at once by default, all senders together (so at most this many senders). */
export const TP_OPEN = 64;
/** Default bound on the bytes held, in payloads of `maxPayload`. */
export const TP_BUFFERED_PAYLOADS = 4;
/**
 * A reassembly waits this long for its next segment by default (ms). Segments of one message
 * leave back to back (at most a configured separation time apart), so a message this late is
 * lost; what it held would otherwise stay until its sender sent a first segment again.
 */
export const TP_TIMEOUT_MS = 5000;

/** Where given-up reassemblies are counted (the gateway's counters). */
export interface TpLossCounters {
  /** Reassemblies evicted to stay within a bound. */
  tpEvicted: number;
  /** Reassemblies given up after no segment for the timeout. */
  tpExpired: number;
}

/** What became of one segment. */
export type TpOutcome =
  /** The last segment arrived: the whole message, TP flag cleared. */
  | { readonly kind: 'complete'; readonly message: SomeIpMessage }
  /** Taken; more segments are awaited. */
  | { readonly kind: 'partial' }
  /** Not a well-formed segment, out of order, or past the size bound: counted as malformed. */
  | { readonly kind: 'dropped'; readonly why: string };

interface Open {
  readonly sender: string;
  readonly parts: Uint8Array[];
  received: number;
  /** `now()` of its last segment. */
  lastAt: number;
}

/**
 * Receive side of SOME/IP-TP (PRS_SOMEIP_00720ff): a UDP message too large for one datagram
 * arrives as segments with the TP flag (0x20) in its Message Type and a 4-byte TP header —
 * Offset (28 bits, in units of 16 bytes) and the More Segments flag (lowest bit). Segments of
 * one message share sender, Message ID and Request ID and are taken in order: a segment whose
 * offset is not where the message stands ends that reassembly (SOME/IP over UDP is not
 * reordered on one link; a gap means loss), every segment but the last carries a multiple of 16
 * bytes, and the whole stays within `maxPayload`.
 *
 * The network is untrusted, so what is held for unfinished messages is bounded: per sender, in
 * number for all senders together (a peer that spoofs source ports gets no more than that), in
 * bytes, and in time. A reassembly past a bound is evicted, the longest idle first, and one with
 * no segment for `timeoutMs` is given up; both are counted (`tpEvicted`, `tpExpired`). Expired
 * reassemblies are swept on every segment and by a timer while any is open.
 */
export class TpReassembler {
  /** `sender|message key` → the segments so far, the longest idle first (Map order). */
  private readonly open = new Map<string, Open>();
  /** Reassemblies open per sender. */
  private readonly perSender = new Map<string, number>();
  private buffered = 0;
  private sweeper: NodeJS.Timeout | undefined;
  private readonly openPerSender: number;
  private readonly maxOpen: number;
  private readonly maxBuffered: number;
  private readonly timeoutMs: number;
  private readonly maxPayload: number;

  constructor(
    limits: TpReassemblyLimits,
    private readonly counters: TpLossCounters,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.maxPayload = limits.maxPayload;
    this.openPerSender = limits.openPerSender ?? TP_OPEN_PER_SENDER;
    this.maxOpen = limits.open ?? TP_OPEN;
    // One message of the largest size always fits.
    this.maxBuffered = Math.max(
      limits.bufferedBytes ?? TP_BUFFERED_PAYLOADS * limits.maxPayload,
      limits.maxPayload,
    );
    this.timeoutMs = limits.timeoutMs ?? TP_TIMEOUT_MS;
  }

  /** Reassemblies open now. */
  get size(): number {
    return this.open.size;
  }

  /** Bytes held by open reassemblies. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** One message with the TP flag from `sender` (`address:port`). */
  add(sender: string, m: SomeIpMessage): TpOutcome {
    this.sweep();
    if (m.payload.byteLength < TP_HEADER_SIZE) return { kind: 'dropped', why: 'no TP header' };
    const p = m.payload;
    const word = ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0;
    const offset = (word >>> 4) * TP_UNIT;
    const more = (word & 1) === 1;
    const data = p.subarray(TP_HEADER_SIZE);
    const key = `${sender}|${m.serviceId}|${m.methodId}|${m.clientId}|${m.sessionId}|${m.messageType}`;
    let o = this.open.get(key);
    if (offset === 0) {
      // A first segment starts the message again (a sender that restarts it, or a new one).
      if (o !== undefined) this.remove(key, o);
      o = this.start(key, sender);
    }
    const fail = (why: string): TpOutcome => {
      if (o !== undefined) this.remove(key, o);
      return { kind: 'dropped', why };
    };
    if (o === undefined) return fail(`segment at ${offset} without its first segment`);
    if (offset !== o.received) return fail(`segment at ${offset}, expected ${o.received}`);
    if (more && data.byteLength % TP_UNIT !== 0)
      return fail(
        `a segment before the last carries ${data.byteLength} bytes, not a multiple of 16`,
      );
    if (o.received + data.byteLength > this.maxPayload)
      return fail(`the message passes ${this.maxPayload} bytes`);
    this.makeRoom(data.byteLength, key);
    o.parts.push(data.slice());
    o.received += data.byteLength;
    this.buffered += data.byteLength;
    if (more) {
      // Re-inserted: Map order stays longest idle first.
      o.lastAt = this.now();
      this.open.delete(key);
      this.open.set(key, o);
      return { kind: 'partial' };
    }
    this.remove(key, o);
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

  /** Gives up every reassembly with no segment for the timeout; each is counted. */
  sweep(): void {
    const before = this.now() - this.timeoutMs;
    for (const [key, o] of this.open) {
      if (o.lastAt > before) break; // the rest arrived later
      this.remove(key, o);
      this.counters.tpExpired += 1;
    }
  }

  /** Drops everything and stops the sweep timer. */
  close(): void {
    for (const [key, o] of this.open) this.remove(key, o);
  }

  private start(key: string, sender: string): Open {
    if ((this.perSender.get(sender) ?? 0) >= this.openPerSender) this.evictOldestOf(sender);
    if (this.open.size >= this.maxOpen) this.evict(this.open.keys().next().value!);
    const o: Open = { sender, parts: [], received: 0, lastAt: this.now() };
    this.open.set(key, o);
    this.perSender.set(sender, (this.perSender.get(sender) ?? 0) + 1);
    this.sweeper ??= setInterval(() => this.sweep(), Math.max(this.timeoutMs / 4, 10)).unref();
    return o;
  }

  /** Evicts the longest idle reassemblies (other than `keep`) until `bytes` more fit. */
  private makeRoom(bytes: number, keep: string): void {
    for (const key of this.open.keys()) {
      if (this.buffered + bytes <= this.maxBuffered) return;
      if (key !== keep) this.evict(key);
    }
  }

  private evictOldestOf(sender: string): void {
    for (const [key, o] of this.open)
      if (o.sender === sender) {
        this.evict(key);
        return;
      }
  }

  private evict(key: string): void {
    this.remove(key, this.open.get(key)!);
    this.counters.tpEvicted += 1;
  }

  private remove(key: string, o: Open): void {
    if (!this.open.delete(key)) return;
    this.buffered -= o.received;
    const n = this.perSender.get(o.sender)! - 1;
    if (n === 0) this.perSender.delete(o.sender);
    else this.perSender.set(o.sender, n);
    if (this.open.size === 0 && this.sweeper !== undefined) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }
}
