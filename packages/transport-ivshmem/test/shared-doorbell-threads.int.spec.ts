import { expect } from 'chai';
import { WindowLayout } from '@sivshm/abi';
import { SharedVector } from '../src/doorbell/shared-vector.js';
import { LocalWaker } from '../src/notify/local-waker.js';
import { RingWaiter } from '../src/notify/ring-waiter.js';
import type { NotifyMode } from '../src/notify/ring-waiter.js';
import { RingConsumer } from '../src/ring/ring-consumer.js';
import { ringViews } from '../src/ring/ring-views.js';
import { drainNumbered } from './helpers/drain-numbered.js';
import { helperUrl, startWorker } from './helpers/spawn-node.js';

const CAP = 4096;

describe('SharedVector across threads', () => {
  for (const mode of ['event', 'adaptive'] as NotifyMode[]) {
    it(`should never lose a wake-up of two rings on one doorbell that wakes only the ring with something pending (${mode} mode; a lost one would sleep 60 s and time the test out)`, async function () {
      this.timeout(60_000);
      const COUNT = 10_000;
      const windows = [0, 1].map(() => new SharedArrayBuffer(WindowLayout.windowLength(CAP)));
      // The doorbell's source, as an ivshmem vector's eventfd is: each ring of it reaches the
      // vector, which decides whom to wake.
      const doorbell = new LocalWaker();
      const vector = new SharedVector();
      let pumping = true;
      const pump = (async () => {
        while (pumping) if (await doorbell.wait(100)) vector.rang();
      })();
      const worker = startWorker(helperUrl('shared-doorbell-producer'), {
        windows,
        doorbell: doorbell.buffer,
        dataSize: CAP,
        count: COUNT,
      });
      const failed = new Promise<never>((_, reject) => worker.once('error', reject));
      const drain = async (w: SharedArrayBuffer): Promise<number> => {
        const consumer = new RingConsumer(ringViews({ shared: new Uint8Array(w) }, 'c2p', CAP));
        const waker = vector.waker(() => undefined);
        const waiter = new RingWaiter(consumer, {
          mode,
          waker,
          parkSliceMs: 60_000,
          spinBudgetUs: 2,
        });
        const got = await drainNumbered(consumer, waiter, COUNT, failed);
        waker.close();
        return got;
      };
      try {
        expect(await Promise.all(windows.map(drain))).to.deep.equal([COUNT, COUNT]);
      } finally {
        pumping = false;
        doorbell.wake();
        await pump;
        await worker.terminate();
      }
    });
  }
});
