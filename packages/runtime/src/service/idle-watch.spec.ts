import { expect } from 'chai';
import { IdleWatch } from './idle-watch.js';

/** Lets the watch's timer run a few times (real time; the clock it reads is `t`). */
const ticks = (): Promise<void> => new Promise((r) => setTimeout(r, 4 * IdleWatch.MIN_PERIOD_MS));

describe('IdleWatch', () => {
  it('should call onIdle once the timeout passed with no use, and not while uses or busy keep coming', async () => {
    let t = 0;
    let busy = false;
    let idle = 0;
    const w = new IdleWatch(
      100,
      () => busy,
      () => idle++,
      () => t,
    );
    w.start();
    try {
      t = 99;
      await ticks();
      expect(idle, 'before the timeout').to.equal(0);
      w.touch();
      await ticks(); // the use is seen: the timeout counts from here (t = 99)
      t = 150;
      await ticks();
      expect(idle, 'a use restarted the timeout').to.equal(0);
      busy = true;
      t = 1000;
      await ticks();
      expect(idle, 'busy (an open stream, a call in flight) is not idle').to.equal(0);
      busy = false;
      t = 1099;
      await ticks();
      expect(idle).to.equal(0);
      t = 1100;
      await ticks();
      expect(idle, 'idle after the timeout, once').to.equal(1);
      t = 5000;
      await ticks();
      expect(idle, 'stopped after firing until started again').to.equal(1);
    } finally {
      w.stop();
    }
  });
});
