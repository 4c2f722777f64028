import { expect } from 'chai';
import { VirtualClock } from './virtual-clock.js';

describe('VirtualClock', () => {
  describe('.advance', () => {
    it('should fire timers in time order, including ones armed while advancing', async () => {
      const c = new VirtualClock();
      const fired: string[] = [];
      c.setTimer(30, () => fired.push(`b@${c.now()}`));
      c.setTimer(10, () => {
        fired.push(`a@${c.now()}`);
        c.setTimer(5, () => fired.push(`c@${c.now()}`));
      });
      const cancelled = c.setTimer(20, () => fired.push('never'));
      cancelled.cancel();
      await c.advance(100);
      expect(fired).to.deep.equal(['a@10', 'c@15', 'b@30']);
      expect(c.now()).to.equal(100);
    });

    it('should stop a timer loop that never ends', async () => {
      const c = new VirtualClock();
      const loop = (): void => void c.setTimer(0, loop);
      loop();
      let error: unknown;
      await c.advance(1, 50).catch((e: unknown) => (error = e));
      expect(String(error)).to.match(/more than 50 timers/);
    });
  });
});
