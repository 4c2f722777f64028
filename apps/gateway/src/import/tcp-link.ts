import { connect, type Socket } from 'node:net';
import { GatewayError } from '../errors/gateway-error.js';
import type { SomeIpMalformed, SomeIpMessage } from '../someip/someip-message.js';
import { SomeIpStreamReader } from '../someip/someip-stream.js';

/**
 * The gateway's TCP connection to a network provider's reliable endpoint, made from the
 * gateway's own address and the import's TCP port — the endpoint its Subscribe names, so the
 * provider sends the eventgroup's events over it (PRS_SOMEIPSD: a client opens the connection
 * before subscribing with a TCP endpoint). Messages are framed by their Length field; a stream
 * whose framing breaks is reported and the connection closed.
 */
export class TcpLink {
  private ended = false;

  private constructor(private readonly socket: Socket) {}

  static async connect(o: {
    readonly localAddress: string;
    readonly localPort: number;
    readonly address: string;
    readonly port: number;
    readonly maxPayload: number;
    readonly onMessage: (m: SomeIpMessage) => void;
    readonly onMalformed: (why: SomeIpMalformed) => void;
    readonly onClose: () => void;
  }): Promise<TcpLink> {
    const socket = connect({
      host: o.address,
      port: o.port,
      localAddress: o.localAddress,
      localPort: o.localPort,
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', (e) =>
        reject(
          new GatewayError(
            'ERR_NETWORK',
            `cannot connect from ${o.localAddress}:${o.localPort} to ${o.address}:${o.port}: ${e.message}`,
            { cause: e },
          ),
        ),
      );
    });
    socket.setNoDelay(true);
    const link = new TcpLink(socket);
    const reader = new SomeIpStreamReader(o.maxPayload);
    socket.on('data', (chunk: Buffer) => {
      const split = reader.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      for (const m of split.messages) o.onMessage(m);
      if (split.malformed !== undefined) {
        o.onMalformed(split.malformed);
        link.close();
      }
    });
    socket.on('error', () => undefined); // a reset ends the connection; 'close' follows
    socket.on('close', () => {
      link.ended = true;
      o.onClose();
    });
    return link;
  }

  get open(): boolean {
    return !this.ended;
  }

  send(bytes: Uint8Array): void {
    if (this.ended) throw new GatewayError('ERR_NETWORK', 'the TCP connection is closed');
    this.socket.write(bytes);
  }

  close(): void {
    this.ended = true;
    this.socket.destroy();
  }
}
