import { expect } from 'chai';
import { RingPageLayout, WindowLayout } from '@sivshm/abi';
import { TransportError } from '../errors/transport-error.js';
import { RingConsumer } from '../ring/ring-consumer.js';
import { RingProducer } from '../ring/ring-producer.js';
import { ringViews } from '../ring/ring-views.js';
import type { RingViews } from '../ring/ring-views.js';
import type { SomeIpHeader } from '../ring/someip-header.js';
import { LivenessWatchdog } from './liveness-watchdog.js';
import { LocalWaker } from './local-waker.js';
import { RingWaiter } from './ring-waiter.js';
import type { NotifyMode } from './ring-waiter.js';

const CAP = 4096;
const HDR: SomeIpHeader = {
  service: 1,
  method: 1,
  client: 1,
  session: 1,
  interfaceVersion: 1,
  messageType: 0x02,
  returnCode: 0,
};

function setup(): {
  views: RingViews;
  producer: RingProducer;
  consumer: RingConsumer;
  waker: LocalWaker;
} {
  const views = ringViews(
    { shared: new Uint8Array(new SharedArrayBuffer(WindowLayout.windowLength(CAP))) },
    'c2p',
    CAP,
  );
  const waker = new LocalWaker();
  return {
    views,
    producer: new RingProducer(views, { waker }),
    consumer: new RingConsumer(views),
    waker,
  };
}

const parked = (views: RingViews): number =>
  Atomics.load(views.consumerPage, RingPageLayout.consumer.parked / 4);

describe('RingWaiter', () => {
  describe('.wait', () => {
    for (const mode of ['spin', 'event', 'adaptive'] as NotifyMode[]) {
      it(`should resolve true when a record arrives later (${mode} mode) and leave the parked flag clear`, async () => {
        const { views, producer, consumer, waker } = setup();
        const waiter = new RingWaiter(consumer, { mode, waker, spinBudgetUs: 20 });
        let sawParked = false;
        setTimeout(() => {
          sawParked = parked(views) !== 0;
          producer.sendCopy(HDR, new Uint8Array(4));
        }, 15);
        expect(await waiter.wait(5000)).to.equal(true);
        expect(consumer.receiveCopy()?.payload.length).to.equal(4);
        expect(parked(views)).to.equal(0);
        // Only sleeping modes park; spin mode never asks for a doorbell.
        expect(sawParked).to.equal(mode !== 'spin');
      });
    }

    it('should park at once without a second spin budget when told the caller already spun (afterSpin)', async () => {
      const { views, producer, consumer, waker } = setup();
      // A one-second spin budget: without afterSpin the record would arrive while spinning.
      const waiter = new RingWaiter(consumer, { mode: 'adaptive', waker, spinBudgetUs: 1_000_000 });
      let sawParked = false;
      setTimeout(() => {
        sawParked = parked(views) !== 0;
        producer.sendCopy(HDR, new Uint8Array(1));
      }, 15);
      expect(await waiter.wait(5000, { afterSpin: true })).to.equal(true);
      expect(sawParked).to.equal(true);
    });

    it('should park again at once after a doorbell that brought nothing (another channel sharing it), not spin first', async () => {
      const { views, producer, consumer, waker } = setup();
      const waiter = new RingWaiter(consumer, { mode: 'adaptive', waker, spinBudgetUs: 1_000_000 });
      // Records in quick succession make the waiter hot: it would spin a full second.
      for (let i = 0; i < 50; i++) {
        producer.sendCopy(HDR, new Uint8Array(1));
        expect(waiter.trySpin()).to.equal(true);
        consumer.receiveCopy();
      }
      const got = waiter.wait(5000, { afterSpin: true });
      await new Promise((r) => setTimeout(r, 10));
      expect(parked(views), 'parked before the ring').to.not.equal(0);
      // A ring with no record behind it. Spinning after it would hold this thread for the 1 s
      // budget before the 20 ms timer could run.
      const t0 = performance.now();
      waker.wake();
      await new Promise((r) => setTimeout(r, 20));
      expect(performance.now() - t0, 'ms until the timer ran').to.be.below(500);
      expect(parked(views), 'parked again after the spurious ring').to.not.equal(0);
      producer.sendCopy(HDR, new Uint8Array(1));
      expect(await got).to.equal(true);
    });

    it('should resolve false after the timeout when nothing arrives', async () => {
      const { consumer, waker } = setup();
      expect(await new RingWaiter(consumer, { mode: 'event', waker }).wait(20)).to.equal(false);
      expect(await new RingWaiter(consumer, { mode: 'spin' }).wait(5)).to.equal(false);
    });

    it('should return without sleeping when a record is already published, even if the doorbell never rings', async () => {
      const { producer, consumer } = setup();
      // A waker that never rings: a lost wake-up would show up as a full 10 s timeout.
      const deaf = {
        wake: () => undefined,
        wait: () => new Promise<boolean>(() => undefined),
        close: () => undefined,
      };
      const waiter = new RingWaiter(consumer, { mode: 'event', waker: deaf, parkSliceMs: 10_000 });
      producer.sendCopy(HDR, new Uint8Array(1));
      expect(await waiter.wait(10_000)).to.equal(true);
    });

    it('should fail the consumer with ERR_PEER_GONE when the heartbeat stalls past the bound', async () => {
      const { consumer, waker } = setup();
      let now = 0;
      const watchdog = new LivenessWatchdog({
        readHeartbeat: () => consumer.peerHeartbeat(),
        now: () => now,
      });
      const waiter = new RingWaiter(consumer, { mode: 'event', waker, parkSliceMs: 5, watchdog });
      setTimeout(() => (now = 5000), 20);
      expect(await waiter.wait(5000)).to.equal(true);
      expect(consumer.receive()).to.equal(undefined);
      expect(consumer.failure?.code).to.equal('ERR_PEER_GONE');
    });

    it('should report a producer close as pending', async () => {
      const { producer, consumer, waker } = setup();
      const waiter = new RingWaiter(consumer, { mode: 'adaptive', waker });
      setTimeout(() => producer.close(), 10);
      expect(await waiter.wait(5000)).to.equal(true);
      expect(consumer.receive()).to.equal(undefined);
      expect(consumer.failure?.code).to.equal('ERR_CLOSED');
    });
  });

  describe('.trySpin', () => {
    it('should not spin in adaptive mode while records come more than a millisecond apart', async () => {
      const { producer, consumer, waker } = setup();
      const waiter = new RingWaiter(consumer, { mode: 'adaptive', waker, spinBudgetUs: 1_000_000 });
      for (let i = 0; i < 2; i++) {
        producer.sendCopy(HDR, new Uint8Array(1));
        expect(waiter.trySpin()).to.equal(true);
        consumer.receiveCopy();
        await new Promise((r) => setTimeout(r, 5));
      }
      // Cold: a spin would block this thread for its 1 s budget; it must return at once.
      const t0 = performance.now();
      expect(waiter.trySpin()).to.equal(false);
      expect(performance.now() - t0).to.be.below(500);
    });

    it('should stop spinning in adaptive mode for a while after four spins in a row caught nothing', () => {
      const { producer, consumer, waker } = setup();
      const waiter = new RingWaiter(consumer, { mode: 'adaptive', waker, spinBudgetUs: 100_000 });
      for (let i = 0; i < 50; i++) {
        producer.sendCopy(HDR, new Uint8Array(1));
        expect(waiter.trySpin()).to.equal(true);
        consumer.receiveCopy();
      }
      for (let i = 0; i < 4; i++) expect(waiter.trySpin()).to.equal(false); // each spins ≥ 1 ms
      // Backed off: a fifth spin would hold the thread for its 100 ms budget.
      const t0 = performance.now();
      expect(waiter.trySpin()).to.equal(false);
      expect(performance.now() - t0).to.be.below(50);
      // A record is still seen at once.
      producer.sendCopy(HDR, new Uint8Array(1));
      expect(waiter.trySpin()).to.equal(true);
    });

    it('should spin its budget in adaptive mode while records come less than a millisecond apart', () => {
      const { producer, consumer, waker } = setup();
      const waiter = new RingWaiter(consumer, { mode: 'adaptive', waker, spinBudgetUs: 30_000 });
      for (let i = 0; i < 50; i++) {
        producer.sendCopy(HDR, new Uint8Array(1));
        expect(waiter.trySpin()).to.equal(true);
        consumer.receiveCopy();
      }
      // A spin ends at its budget, or early when the scheduler took the CPU for over 1 ms:
      // either way it lasts at least a millisecond; not spinning takes microseconds.
      const t0 = performance.now();
      expect(waiter.trySpin()).to.equal(false);
      expect(performance.now() - t0).to.be.at.least(1);
    });

    it('should report false when nothing arrives within its budget and true when a record is there', () => {
      const { producer, consumer } = setup();
      const waiter = new RingWaiter(consumer, { mode: 'spin', spinBudgetUs: 200 });
      expect(waiter.trySpin()).to.equal(false);
      producer.sendCopy(HDR, new Uint8Array(1));
      expect(waiter.trySpin()).to.equal(true);
    });
  });

  describe('constructor', () => {
    it('should refuse an unknown mode, a sleeping mode without a waker, and bad budgets', () => {
      const { consumer, waker } = setup();
      expect(() => new RingWaiter(consumer, { mode: 'poll' as NotifyMode })).to.throw(
        TransportError,
      );
      expect(() => new RingWaiter(consumer, { mode: 'event' })).to.throw(
        TransportError,
        /needs a waker/,
      );
      expect(() => new RingWaiter(consumer, { mode: 'adaptive' })).to.throw(
        TransportError,
        /needs a waker/,
      );
      expect(() => new RingWaiter(consumer, { waker, spinBudgetUs: -1 })).to.throw(TransportError);
      expect(() => new RingWaiter(consumer, { waker, parkSliceMs: 0 })).to.throw(TransportError);
    });
  });
});
