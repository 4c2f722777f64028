import { expect } from 'chai';
import { SharedVector } from './shared-vector.js';

describe('SharedVector', () => {
  describe('.waker', () => {
    it('should wake every parked channel on one doorbell', async () => {
      const v = new SharedVector();
      const a = v.waker(() => undefined);
      const b = v.waker(() => undefined);
      const waits = [a.wait(1000), b.wait(1000)];
      v.rang();
      expect(await Promise.all(waits)).to.deep.equal([true, true]);
    });

    it('should wake only the waits whose ring has something pending, the others on a later doorbell of theirs', async () => {
      const v = new SharedVector();
      const ringA = { pending: false, hasPending: () => ringA.pending };
      const ringB = { pending: false, hasPending: () => ringB.pending };
      const a = v.waker(() => undefined);
      const b = v.waker(() => undefined);
      let bWoke = false;
      const waitA = a.wait(5000, ringA);
      const waitB = b.wait(5000, ringB).then((r) => ((bWoke = true), r));
      ringA.pending = true; // A's producer published, then rang
      v.rang();
      expect(await waitA).to.equal(true);
      await new Promise((r) => setTimeout(r, 10));
      expect(bWoke, 'B woken by a doorbell that was not for it').to.equal(false);
      ringB.pending = true;
      v.rang();
      expect(await waitB).to.equal(true);
    });

    it('should not return early for a doorbell between two waits that was not for its ring', async () => {
      const v = new SharedVector();
      const ring = { pending: false, hasPending: () => ring.pending };
      const w = v.waker(() => undefined);
      v.rang(); // another channel's
      expect(await w.wait(5, ring)).to.equal(false);
      ring.pending = true;
      v.rang(); // this one's, before the wait
      expect(await w.wait(1000, ring)).to.equal(true);
    });

    it('should not lose a doorbell that came between two waits', async () => {
      const v = new SharedVector();
      const w = v.waker(() => undefined);
      v.rang();
      expect(await w.wait(1000)).to.equal(true);
      // Seen once only: the next wait sleeps until the next doorbell or its timeout.
      expect(await w.wait(5)).to.equal(false);
    });

    it('should ring through `ring` unless the waker or its source is closed', () => {
      const v = new SharedVector();
      let rings = 0;
      let open = true;
      const w = v.waker(
        () => rings++,
        () => open,
      );
      w.wake();
      open = false;
      w.wake();
      open = true;
      w.close();
      w.wake();
      expect(rings).to.equal(1);
    });

    it('should resolve pending waits false when the waker or the vector closes', async () => {
      const v = new SharedVector();
      const a = v.waker(() => undefined);
      const b = v.waker(() => undefined);
      const pa = a.wait(1000);
      const pb = b.wait(1000);
      a.close();
      v.close();
      expect(await Promise.all([pa, pb])).to.deep.equal([false, false]);
      expect(await a.wait(1000)).to.equal(false);
    });
  });
});
