import type { Socket } from 'node:dgram';

interface Pending {
  readonly address: string;
  readonly port: number;
  readonly parts: Uint8Array[];
  bytes: number;
}

/** Largest datagram the batcher makes: one Ethernet frame without IP fragmentation. */
export const MAX_BATCH_BYTES = 1400;

/**
 * SOME/IP messages to one UDP endpoint in the same event-loop turn go out as one datagram
 * (PRS_SOMEIP: several messages may share a UDP datagram, each framed by its Length; vsomeip
 * and Wireshark read them so). One send system call carries many events, which is what lets
 * the gateway keep up with a ring's rate; a lone event still leaves in its own turn (the flush
 * is a microtask), so batching adds no wait. A datagram never grows past `maxBytes`.
 */
export class DatagramBatcher {
  private readonly pending = new Map<string, Pending>();
  private scheduled = false;

  constructor(
    private readonly socket: Socket,
    private readonly maxBytes: number = MAX_BATCH_BYTES,
  ) {}

  /** Queues `message` for `address:port`; it is sent at the end of this turn. */
  add(address: string, port: number, message: Uint8Array): void {
    const key = `${address}|${port}`;
    let p = this.pending.get(key);
    if (p !== undefined && p.bytes + message.byteLength > this.maxBytes) {
      this.send(p);
      this.pending.delete(key);
      p = undefined;
    }
    if (p === undefined) {
      p = { address, port, parts: [], bytes: 0 };
      this.pending.set(key, p);
    }
    p.parts.push(message);
    p.bytes += message.byteLength;
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  /** Sends everything queued. */
  flush(): void {
    this.scheduled = false;
    for (const p of this.pending.values()) this.send(p);
    this.pending.clear();
  }

  private send(p: Pending): void {
    try {
      this.socket.send(p.parts.length === 1 ? p.parts[0]! : p.parts, p.port, p.address);
    } catch {
      // The socket closed meanwhile (the export is stopping): these events are not sent.
    }
  }
}
