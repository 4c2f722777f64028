import type { Socket } from 'node:dgram';
import { SOMEIP_HEADER_SIZE } from '@sivshm/abi';
import type { LargeMessagePolicy } from './large-message.js';
import { writeSomeIp, type SomeIpMessage } from './someip-message.js';

/** One datagram being filled for one endpoint. */
interface Pending {
  readonly address: string;
  readonly port: number;
  /** The datagram's bytes so far: messages are written straight into it. */
  readonly bytes: Buffer;
  used: number;
}

/** Largest datagram the batcher makes: one Ethernet frame without IP fragmentation. */
export const MAX_BATCH_BYTES = 1400;

/**
 * SOME/IP messages to one UDP endpoint in the same event-loop turn go out as one datagram
 * (PRS_SOMEIP: several messages may share a UDP datagram, each framed by its Length; vsomeip
 * and Wireshark read them so). One send system call carries many events, which is what lets
 * the gateway keep up with a ring's rate; a lone event still leaves in its own turn (the flush
 * is a microtask), so batching adds no wait. A datagram never grows past `maxBytes` (a single
 * larger message leaves alone: as SOME/IP-TP segments, each its own datagram, when the service
 * has `tp`; see LargeMessagePolicy). Each message is written straight into its datagram's buffer:
 * one allocation per datagram, none per message.
 */
export class DatagramBatcher {
  /** address → port → the datagram being filled (no string key built per message). */
  private readonly pending = new Map<string, Map<number, Pending>>();
  private scheduled = false;

  constructor(
    private readonly socket: Socket,
    private readonly maxBytes: number = MAX_BATCH_BYTES,
    /** What a message past `maxBytes` becomes (default: sent as it is, uncounted). */
    private readonly large?: LargeMessagePolicy,
  ) {}

  /** Queues the encoded `message` for `address:port`; it is sent at the end of this turn. */
  add(address: string, port: number, message: Uint8Array): void {
    const p = this.room(address, port, message.byteLength);
    if (p === undefined) return this.sendAlone(address, port, message);
    p.bytes.set(message, p.used);
    p.used += message.byteLength;
  }

  /** Queues message `m` for `address:port`, encoding it straight into the datagram. */
  addMessage(address: string, port: number, m: Omit<SomeIpMessage, 'protocolVersion'>): void {
    const size = SOMEIP_HEADER_SIZE + m.payload.byteLength;
    const p = this.room(address, port, size);
    if (p === undefined) {
      const alone = Buffer.allocUnsafe(size);
      writeSomeIp(alone, 0, m);
      return this.sendAlone(address, port, alone);
    }
    p.used = writeSomeIp(p.bytes, p.used, m);
  }

  /**
   * The datagram to `address:port` with room for `size` more bytes (the full one is sent and a
   * new one started), or undefined when `size` alone passes the bound.
   */
  private room(address: string, port: number, size: number): Pending | undefined {
    if (size > this.maxBytes) return undefined;
    let ports = this.pending.get(address);
    if (ports === undefined) {
      ports = new Map();
      this.pending.set(address, ports);
    }
    let p = ports.get(port);
    if (p !== undefined && p.used + size > this.maxBytes) {
      this.send(p);
      p = undefined;
    }
    if (p === undefined) {
      p = { address, port, bytes: Buffer.allocUnsafe(this.maxBytes), used: 0 };
      ports.set(port, p);
    }
    this.schedule();
    return p;
  }

  /**
   * A message too large to share a datagram: what is queued for the endpoint goes first, then
   * the message on its own, both now, so the endpoint gets them in order.
   */
  private sendAlone(address: string, port: number, message: Uint8Array): void {
    const queued = this.pending.get(address)?.get(port);
    if (queued !== undefined) this.send(queued);
    // Segments are never batched: each leaves in its own datagram, first to last.
    for (const d of this.large?.datagrams(message) ?? [message]) this.sendBytes(d, port, address);
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => this.flush());
  }

  /** Sends everything queued. */
  flush(): void {
    this.scheduled = false;
    for (const ports of this.pending.values()) for (const p of ports.values()) this.send(p);
    this.pending.clear();
  }

  private send(p: Pending): void {
    this.sendBytes(p.bytes.subarray(0, p.used), p.port, p.address);
    // The buffer now belongs to the send in flight: the next message starts a new one.
    this.pending.get(p.address)?.delete(p.port);
  }

  private sendBytes(bytes: Uint8Array, port: number, address: string): void {
    try {
      this.socket.send(bytes, port, address);
    } catch {
      // The socket closed meanwhile (the export is stopping): these events are not sent.
    }
  }
}
