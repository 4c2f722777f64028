import { expect } from 'chai';
import { eventfdCreate } from '../native/eventfd.js';
import { EventfdWaker } from './eventfd-waker.js';

function addonOrSkip(ctx: Mocha.Context): number {
  try {
    return eventfdCreate();
  } catch (e) {
    console.log(`      skipped: the native addon is not available here (${(e as Error).message})`);
    ctx.skip();
  }
}

describe('EventfdWaker', () => {
  describe('.wait', () => {
    it('should resolve true at once for a ring that came before the wait', async function () {
      const w = new EventfdWaker(addonOrSkip(this), { ownsFd: true });
      w.wake();
      expect(await w.wait(1000)).to.equal(true);
      w.close();
    });

    it('should resolve true when rung later from the event loop, and false after the timeout', async function () {
      const fd = addonOrSkip(this);
      const consumer = new EventfdWaker(fd, { ownsFd: true });
      const producer = new EventfdWaker(fd);
      setTimeout(() => producer.wake(), 5);
      expect(await consumer.wait(5000)).to.equal(true);
      expect(await consumer.wait(20)).to.equal(false);
      consumer.close();
    });

    it('should coalesce several rings into one wake-up and resolve a pending wait false on close', async function () {
      const w = new EventfdWaker(addonOrSkip(this), { ownsFd: true });
      w.wake();
      w.wake();
      expect(await w.wait(100)).to.equal(true);
      const p = w.wait(10_000);
      w.close();
      expect(await p).to.equal(false);
    });
  });
});
