import { createServer, type Server, type Socket } from 'node:net';
import type { GatewayCounters } from '../edge/gateway-counters.js';
import { GatewayError } from '../errors/gateway-error.js';
import type { SomeIpMessage } from '../someip/someip-message.js';
import { SomeIpStreamReader } from '../someip/someip-stream.js';

/** Bounds on the TCP connections of one exported service. */
export interface TcpEndpointLimits {
  readonly maxConnections: number;
  readonly connectionsPerPeer: number;
  /** Bytes queued to one connection beyond which notifications to it are dropped. */
  readonly maxQueuedBytes: number;
}

export const DEFAULT_TCP_LIMITS: TcpEndpointLimits = {
  maxConnections: 64,
  connectionsPerPeer: 8,
  maxQueuedBytes: 1 << 20,
};

/** A connected peer as the message handler sees it. */
export interface TcpPeer {
  readonly address: string;
  readonly port: number;
  send(bytes: Uint8Array): void;
}

/**
 * The reliable endpoint of one exported service: a TCP server on the gateway's address. Each
 * connection is read as a SOME/IP stream; a connection whose framing breaks is counted and
 * closed. Notifications to a TCP subscriber go over the connection it made from the endpoint it
 * subscribed with (address and port).
 */
export class TcpEndpoint {
  private readonly connections = new Map<string, Socket>();

  private constructor(
    private readonly server: Server,
    private readonly counters: GatewayCounters,
    private readonly limits: TcpEndpointLimits,
  ) {}

  static async open(
    address: string,
    port: number,
    what: string,
    counters: GatewayCounters,
    maxPayload: number,
    onMessage: (m: SomeIpMessage, peer: TcpPeer) => void,
    limits: TcpEndpointLimits = DEFAULT_TCP_LIMITS,
  ): Promise<TcpEndpoint> {
    const server = createServer();
    const endpoint = new TcpEndpoint(server, counters, limits);
    server.on('connection', (s) => endpoint.accept(s, maxPayload, onMessage));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e) =>
        reject(
          new GatewayError(
            'ERR_NETWORK',
            `cannot listen on ${what}'s TCP endpoint ${address}:${port}: ${e.message}`,
            {
              cause: e,
            },
          ),
        ),
      );
      server.listen(port, address, () => resolve());
    });
    return endpoint;
  }

  /** The port listened on (the one asked for, or the one the system chose for port 0). */
  get port(): number {
    const a = this.server.address();
    return typeof a === 'object' && a !== null ? a.port : 0;
  }

  private accept(
    s: Socket,
    maxPayload: number,
    onMessage: (m: SomeIpMessage, peer: TcpPeer) => void,
  ): void {
    const address = s.remoteAddress ?? '';
    const key = `${address}|${s.remotePort ?? 0}`;
    const fromPeer = [...this.connections.keys()].filter((k) => k.startsWith(`${address}|`)).length;
    if (
      this.connections.size >= this.limits.maxConnections ||
      fromPeer >= this.limits.connectionsPerPeer
    ) {
      this.counters.overBudget += 1;
      s.destroy();
      return;
    }
    this.connections.set(key, s);
    s.setNoDelay(true);
    const reader = new SomeIpStreamReader(maxPayload);
    const peer: TcpPeer = { address, port: s.remotePort ?? 0, send: (b) => void s.write(b) };
    s.on('data', (chunk: Buffer) => {
      const split = reader.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      for (const m of split.messages) onMessage(m, peer);
      if (split.malformed !== undefined) {
        this.counters.malformed += 1;
        s.destroy();
      }
    });
    s.on('error', () => undefined); // a reset by the peer ends the connection; 'close' follows
    s.on('close', () => this.connections.delete(key));
  }

  /** Sends `bytes` over the connection from `address:port`; false when there is none or it is backed up. */
  send(address: string, port: number, bytes: Uint8Array): boolean {
    const s = this.connections.get(`${address}|${port}`);
    if (s === undefined || s.writableLength > this.limits.maxQueuedBytes) return false;
    s.write(bytes);
    return true;
  }

  async close(): Promise<void> {
    for (const s of this.connections.values()) s.destroy();
    this.connections.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
