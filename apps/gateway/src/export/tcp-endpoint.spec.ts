import { expect } from 'chai';
import { connect, type Socket } from 'node:net';
import { waitFor } from '@sivshm/testing';
import { newCounters } from '../edge/gateway-counters.js';
import { encodeSomeIp, MessageType, ReturnCode } from '../someip/someip-message.js';
import { TcpEndpoint } from './tcp-endpoint.js';

const REQUEST = encodeSomeIp({
  serviceId: 0x1234,
  methodId: 0x0001,
  clientId: 1,
  sessionId: 1,
  interfaceVersion: 1,
  messageType: MessageType.request,
  returnCode: ReturnCode.ok,
  payload: new Uint8Array(0),
});

describe('TcpEndpoint connection bounds (loopback)', function () {
  this.timeout(20_000);
  const sockets: Socket[] = [];
  let endpoint: TcpEndpoint | undefined;
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await endpoint?.close();
    endpoint = undefined;
  });

  it('should refuse connections past the per-peer and per-export bounds, counted as overBudget', async () => {
    const counters = newCounters();
    const received: string[] = [];
    endpoint = await TcpEndpoint.open(
      '127.0.0.1',
      0,
      'the test service',
      counters,
      1024,
      (_m, peer) => received.push(peer.address),
      { maxConnections: 3, connectionsPerPeer: 2, maxQueuedBytes: 1 << 16 },
    );
    const closed = new Set<number>();
    // Sequentially, so the server has accepted (or refused) one before the next arrives.
    const open = async (from: string): Promise<number> => {
      const i = sockets.length;
      const s = connect({ host: '127.0.0.1', port: endpoint!.port, localAddress: from });
      sockets.push(s);
      s.on('error', () => undefined);
      s.on('close', () => closed.add(i));
      await new Promise<void>((resolve) => s.once('connect', () => resolve()));
      const refusedBefore = counters.overBudget;
      // A message answers for the server side: either it arrives, or the connection was refused.
      s.write(REQUEST);
      await waitFor(
        () =>
          received.length > i - refusedBefore ||
          counters.overBudget > refusedBefore ||
          closed.has(i),
        `connection ${i} from ${from} to be served or refused`,
        10_000,
      );
      return i;
    };
    await open('127.0.0.2');
    await open('127.0.0.2');
    const third = await open('127.0.0.2'); // a third from one peer: past 2 per peer
    await waitFor(() => closed.has(third), 'the per-peer refusal to close the connection', 10_000);
    expect(counters.overBudget).to.equal(1);
    await open('127.0.0.3'); // another peer: admitted (3 connections in all)
    const fifth = await open('127.0.0.4'); // past 3 per export
    await waitFor(
      () => closed.has(fifth),
      'the per-export refusal to close the connection',
      10_000,
    );
    expect(counters.overBudget).to.equal(2);
    expect(received).to.deep.equal(['127.0.0.2', '127.0.0.2', '127.0.0.3']);
  });
});
