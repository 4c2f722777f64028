import { expect } from 'chai';
import { WindowLayout } from '@sivshm/abi';
import { RingConsumer } from '../ring/ring-consumer.js';
import { RingProducer } from '../ring/ring-producer.js';
import { ringViews } from '../ring/ring-views.js';
import type { SomeIpHeader } from '../ring/someip-header.js';
import { HeldWaker } from './held-waker.js';
import type { Waker } from './waker.js';

/** A waker that counts rings and closes, and answers waits with a fixed value. */
function counting(): Waker & { rings: number; closed: number; waits: number[] } {
  const w = {
    rings: 0,
    closed: 0,
    waits: [] as number[],
    wake: () => void w.rings++,
    wait: (t: number) => {
      w.waits.push(t);
      return Promise.resolve(true);
    },
    close: () => void w.closed++,
  };
  return w;
}

const HDR: SomeIpHeader = {
  service: 1,
  method: 0x8001,
  client: 0,
  session: 1,
  interfaceVersion: 1,
  messageType: 0x02,
  returnCode: 0,
};

describe('HeldWaker', () => {
  describe('.wake', () => {
    it('should ring at once when not held', () => {
      const inner = counting();
      const w = new HeldWaker(inner);
      w.wake();
      w.wake();
      expect(inner.rings).to.equal(2);
    });

    it('should ring once on release however often it was woken during the hold, and not at all for a hold without wakes', () => {
      const inner = counting();
      const w = new HeldWaker(inner);
      w.hold();
      w.wake();
      w.wake();
      w.wake();
      expect(inner.rings).to.equal(0);
      w.release();
      expect(inner.rings).to.equal(1);
      w.hold();
      w.release();
      expect(inner.rings).to.equal(1);
    });

    it('should ring a parked consumer once, when the event and the response sent during a hold are both in the ring', () => {
      const views = ringViews(
        { shared: new Uint8Array(new SharedArrayBuffer(WindowLayout.windowLength(4096))) },
        'p2c',
        4096,
      );
      const consumer = new RingConsumer(views);
      // What the woken consumer would find: drain the ring at the moment of each ring.
      const foundAtRing: number[] = [];
      const inner: Waker = {
        wake: () => {
          let n = 0;
          while (consumer.receive() !== undefined) {
            consumer.release();
            n++;
          }
          foundAtRing.push(n);
        },
        wait: () => Promise.resolve(false),
        close: () => undefined,
      };
      const doorbell = new HeldWaker(inner);
      const producer = new RingProducer(views, { waker: doorbell });
      consumer.setParked(true);
      expect(consumer.hasPending()).to.equal(false);
      doorbell.hold();
      producer.sendCopy(HDR, new Uint8Array(8)); // the event a handler publishes
      producer.sendCopy({ ...HDR, method: 1, messageType: 0x80 }, new Uint8Array(8)); // its response
      doorbell.release();
      expect(foundAtRing).to.deep.equal([2]);
    });
  });

  describe('.close', () => {
    it('should ring a held ring before closing the inner waker, so a last ring is never lost', () => {
      const inner = counting();
      const w = new HeldWaker(inner);
      w.hold();
      w.wake();
      w.close();
      expect(inner.rings).to.equal(1);
      expect(inner.closed).to.equal(1);
    });
  });

  describe('.wait', () => {
    it('should pass waits to the inner waker', async () => {
      const inner = counting();
      expect(await new HeldWaker(inner).wait(25)).to.equal(true);
      expect(inner.waits).to.deep.equal([25]);
    });
  });
});
