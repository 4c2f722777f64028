import { expect } from 'chai';
import { createSocket, type Socket } from 'node:dgram';
import { waitFor } from '@sivshm/testing';
import { encodeSomeIp, splitSomeIpDatagram } from './someip-message.js';
import { newCounters } from '../edge/gateway-counters.js';
import { DatagramBatcher } from './datagram-batcher.js';
import { LargeMessagePolicy } from './large-message.js';

const message = (sessionId: number, size: number): Uint8Array =>
  encodeSomeIp({
    serviceId: 0x1234,
    methodId: 0x8001,
    clientId: 0,
    sessionId,
    interfaceVersion: 1,
    messageType: 0x02,
    returnCode: 0,
    payload: new Uint8Array(size),
  });

describe('DatagramBatcher', () => {
  let from: Socket;
  let to: Socket;
  let port: number;
  const received: Buffer[] = [];
  before(async () => {
    from = createSocket('udp4');
    to = createSocket('udp4');
    to.on('message', (b) => received.push(b));
    await new Promise<void>((r) => to.bind(0, '127.0.0.1', r));
    port = (to.address() as { port: number }).port;
  });
  after(() => {
    from.close();
    to.close();
  });
  beforeEach(() => (received.length = 0));

  it('should send the messages of one turn to one endpoint as one datagram, in order', async () => {
    const b = new DatagramBatcher(from);
    for (let i = 1; i <= 10; i++) b.add('127.0.0.1', port, message(i, 64));
    await waitFor(() => received.length >= 1, 'the datagram', 5_000, 5);
    await new Promise((r) => setTimeout(r, 50));
    expect(received).to.have.length(1);
    const split = splitSomeIpDatagram(new Uint8Array(received[0]!), 1 << 16);
    expect(split.malformed).to.equal(undefined);
    expect(split.messages.map((m) => m.sessionId)).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it('should start a new datagram before one would pass the size bound, and send a lone message in its own turn', async () => {
    const b = new DatagramBatcher(from, 400);
    for (let i = 1; i <= 5; i++) b.add('127.0.0.1', port, message(i, 100)); // 116 B each
    await waitFor(() => received.length >= 2, 'two datagrams', 5_000, 5);
    expect(received.map((d) => d.length)).to.deep.equal([348, 232]);
    received.length = 0;
    b.add('127.0.0.1', port, message(9, 8));
    await waitFor(() => received.length >= 1, 'the lone message', 5_000, 5);
    expect(received[0]!.length).to.equal(24);
  });

  it('should write messages given by their fields into the same datagram, byte for byte as encodeSomeIp, and send a too-large one alone after what was queued', async () => {
    const b = new DatagramBatcher(from, 400);
    const fields = (sessionId: number, size: number) => ({
      serviceId: 0x1234,
      methodId: 0x8001,
      clientId: 0,
      sessionId,
      interfaceVersion: 1,
      messageType: 0x02,
      returnCode: 0,
      payload: Uint8Array.from({ length: size }, (_, i) => (i * 7 + sessionId) & 0xff),
    });
    b.addMessage('127.0.0.1', port, fields(1, 64));
    b.add('127.0.0.1', port, message(2, 8));
    b.addMessage('127.0.0.1', port, fields(3, 500)); // past the bound: its own datagram
    await waitFor(() => received.length >= 2, 'two datagrams', 5_000, 5);
    expect(Buffer.concat([received[0]!])).to.deep.equal(
      Buffer.concat([encodeSomeIp(fields(1, 64)), message(2, 8)]),
    );
    expect(received[1]).to.deep.equal(Buffer.from(encodeSomeIp(fields(3, 500))));
  });

  it('should send a too-large message of a tp service as its SOME/IP-TP segments, each its own datagram, after what was queued', async () => {
    const counters = newCounters();
    const entry = { section: 'export', service: 'VehicleSpeed', instance: 1 } as const;
    const policy = new LargeMessagePolicy(160, entry, counters, () => undefined);
    const b = new DatagramBatcher(from, 400, policy);
    b.add('127.0.0.1', port, message(1, 8));
    b.add('127.0.0.1', port, message(2, 500)); // 516 B: segments of 160 payload bytes
    b.add('127.0.0.1', port, message(3, 8));
    await waitFor(() => received.length >= 6, 'six datagrams', 5_000, 5);
    await new Promise((r) => setTimeout(r, 50));
    const framed = received.map((d) => splitSomeIpDatagram(new Uint8Array(d), 1 << 16).messages);
    expect(framed.map((ms) => ms.length)).to.deep.equal([1, 1, 1, 1, 1, 1]);
    const ms = framed.map((m) => m[0]!);
    expect(ms.map((m) => [m.sessionId, m.messageType, m.payload.byteLength])).to.deep.equal([
      [1, 0x02, 8],
      [2, 0x22, 164],
      [2, 0x22, 164],
      [2, 0x22, 164],
      [2, 0x22, 24],
      [3, 0x02, 8],
    ]);
    expect(counters).to.include({ tpSegmented: 1, oversized: 0 });
  });
});
