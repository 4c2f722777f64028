import { expect } from 'chai';
import { PAGE_SIZE, WindowLayout } from '@sivshm/abi';
import protobuf from 'protobufjs';
import { LocalWaker } from '../notify/local-waker.js';
import { RingConsumer } from '../ring/ring-consumer.js';
import { RingProducer } from '../ring/ring-producer.js';
import { ringViews } from '../ring/ring-views.js';
import type { SomeIpHeader } from '../ring/someip-header.js';
import { Channel } from './channel.js';
import { MAX_WAITING_REPLIES, ServiceProvider } from './service-endpoints.js';

const Empty = new protobuf.Type('Empty');
new protobuf.Root().add(Empty);
const METHOD = 0x0001;

function request(session: number): SomeIpHeader {
  return {
    service: 0x1234,
    method: METHOD,
    client: 7,
    session,
    interfaceVersion: 1,
    messageType: 0x00,
    returnCode: 0,
  };
}

describe('ServiceProvider', () => {
  it('should hold back requests, not pile up replies, when a consumer never reads its replies', async function () {
    this.timeout(10_000);
    const window = {
      shared: new Uint8Array(new SharedArrayBuffer(WindowLayout.windowLength(PAGE_SIZE))),
    };
    const bell = new LocalWaker();
    const channel = new Channel({
      window,
      role: 'provider',
      notify: 'event',
      ownWaker: bell,
      peerTimeoutMs: 60_000, // the test's consumer never beats: this test is about memory
    });
    const provider = new ServiceProvider(channel, { service: 0x1234, major: 1, client: 0 });
    let served = 0;
    provider.serve(METHOD, Empty, Empty, () => {
      served++;
      return {};
    });
    // The hostile consumer: keeps the request ring full, never reads the reply ring.
    const requests = new RingProducer(ringViews(window, 'c2p', PAGE_SIZE));
    const replies = new RingConsumer(ringViews(window, 'p2c', PAGE_SIZE));
    let sent = 0;
    let mostWaiting = 0;
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 10);
    try {
      const end = Date.now() + 1500;
      while (Date.now() < end) {
        while (requests.sendCopy(request((sent % 0xffff) + 1), new Uint8Array(0))) sent++;
        bell.wake();
        mostWaiting = Math.max(mostWaiting, provider.waitingReplies);
        await new Promise((r) => setTimeout(r, 5));
      }
      expect(mostWaiting).to.equal(MAX_WAITING_REPLIES);
      // Back-pressure reached the consumer: the requests it got in are bounded by what the
      // reply ring holds, the waiting replies and the one timed-out round each second.
      expect(served).to.be.lessThan(4 * MAX_WAITING_REPLIES + 400);
      expect(sent - served).to.be.greaterThan(0);
      // The provider's event loop kept running all along.
      expect(ticks).to.be.greaterThan(50);
      // Once the consumer reads, replies flow again.
      let got = 0;
      for (let r = replies.receive(); r !== undefined; r = replies.receive()) {
        got++;
        replies.release();
      }
      expect(got).to.be.greaterThan(0);
    } finally {
      clearInterval(ticker);
      provider.close();
      await channel.close();
    }
  });
});
