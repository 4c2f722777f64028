import { expect } from 'chai';
import { PAGE_SIZE, WindowLayout } from '@sivshm/abi';
import { LocalWaker } from '../notify/local-waker.js';
import type { Waker } from '../notify/waker.js';
import { RingConsumer } from '../ring/ring-consumer.js';
import { RingProducer } from '../ring/ring-producer.js';
import { ringViews } from '../ring/ring-views.js';
import type { SomeIpHeader } from '../ring/someip-header.js';
import { Channel, dispatchKey, RECORDS_PER_TURN } from './channel.js';

const REQUEST: SomeIpHeader = {
  service: 0x1234,
  method: 1,
  client: 7,
  session: 1,
  interfaceVersion: 1,
  messageType: 0x00,
  returnCode: 0,
};

/**
 * A provider Channel on a heap window; the test plays the consumer with bare rings. The
 * provider's doorbell to the consumer reports how many records a woken consumer would find.
 */
function providerWithParkedConsumer(dataSize = PAGE_SIZE): {
  channel: Channel;
  request: RingProducer;
  providerBell: LocalWaker;
  foundAtRing: number[];
} {
  const window = {
    shared: new Uint8Array(new SharedArrayBuffer(WindowLayout.windowLength(dataSize))),
  };
  const toConsumer = new RingConsumer(ringViews(window, 'p2c', dataSize));
  toConsumer.setParked(true);
  const foundAtRing: number[] = [];
  const consumerBell: Waker = {
    wake: () => {
      let n = 0;
      while (toConsumer.receive() !== undefined) {
        toConsumer.release();
        n++;
      }
      foundAtRing.push(n);
    },
    wait: () => Promise.resolve(false),
    close: () => undefined,
  };
  const providerBell = new LocalWaker();
  const channel = new Channel({
    window,
    role: 'provider',
    notify: 'event',
    ownWaker: providerBell,
    peerWaker: consumerBell,
  });
  return {
    channel,
    request: new RingProducer(ringViews(window, 'c2p', dataSize)),
    providerBell,
    foundAtRing,
  };
}

async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 2));
  }
}

describe('Channel', () => {
  describe('receive loop', () => {
    it('should ring a parked peer once for everything a handler sends while dispatching (event, then response)', async () => {
      const { channel, request, providerBell, foundAtRing } = providerWithParkedConsumer();
      try {
        channel.on(dispatchKey(0x00, 1), (r) => {
          channel.sendCopy(
            { ...r.header, method: 0x8001, messageType: 0x02, client: 0 },
            new Uint8Array(4),
          );
          channel.sendCopy({ ...r.header, messageType: 0x80 }, new Uint8Array(4));
        });
        request.sendCopy(REQUEST, new Uint8Array(4));
        providerBell.wake();
        await until(() => foundAtRing.length > 0);
        expect(foundAtRing).to.deep.equal([2]);
      } finally {
        await channel.close();
      }
    });

    it('should yield to the event loop after RECORDS_PER_TURN records of a full ring, then deliver the rest in order', async () => {
      const { channel, request, providerBell } = providerWithParkedConsumer(64 * 1024);
      const total = RECORDS_PER_TURN * 4;
      const seen: number[] = [];
      let seenWhenTimersRan: number | undefined;
      try {
        channel.on(dispatchKey(0x00, 1), (r) => {
          if (seen.length === 0) setImmediate(() => (seenWhenTimersRan = seen.length));
          seen.push(r.header.session);
        });
        for (let i = 0; i < total; i++) {
          const slot = request.loan(4);
          if (slot === undefined) throw new Error(`ring full after ${i} records`);
          Object.assign(slot.header, REQUEST, { session: (i % 0xffff) + 1 });
          request.stage(slot);
        }
        request.sendStaged();
        providerBell.wake();
        await until(() => seen.length === total);
        expect(seenWhenTimersRan).to.equal(RECORDS_PER_TURN);
        expect(seen).to.deep.equal(Array.from({ length: total }, (_, i) => (i % 0xffff) + 1));
      } finally {
        await channel.close();
      }
    });

    it('should ring at once for a send made outside a dispatch', async () => {
      const { channel, foundAtRing } = providerWithParkedConsumer();
      try {
        channel.sendCopy(
          { ...REQUEST, method: 0x8001, messageType: 0x02, client: 0 },
          new Uint8Array(4),
        );
        expect(foundAtRing).to.deep.equal([1]);
      } finally {
        await channel.close();
      }
    });
  });
});
