import { expect } from 'chai';
import { AnnouncePhases, type SdPhase } from './announce-phases.js';
import { resolveSdTiming } from './sd-timing.js';
import { VirtualClock } from './virtual-clock.js';

describe('AnnouncePhases', () => {
  const timing = resolveSdTiming({
    initialDelayMin: 100,
    initialDelayMax: 200,
    repetitionsBaseDelay: 30,
    repetitionsMax: 2,
    cyclicOfferDelay: 1000,
  });

  describe('.start', () => {
    it('should go initialWait → repetition → main and send at 2^k · base, then cyclically', async () => {
      const clock = new VirtualClock();
      const sent: Array<[number, SdPhase]> = [];
      const p = new AnnouncePhases(
        clock,
        timing,
        () => 0,
        true,
        (ph) => sent.push([clock.now(), ph]),
      );
      p.start();
      expect(p.phase).to.equal('initialWait');
      await clock.advance(2200);
      expect(sent).to.deep.equal([
        [100, 'initialWait'],
        [130, 'repetition'],
        [190, 'repetition'],
        [1190, 'main'],
        [2190, 'main'],
      ]);
      expect(p.phase).to.equal('main');
    });

    it('should skip the repetition phase when REPETITIONS_MAX is 0 and end in done without cyclic sends', async () => {
      const clock = new VirtualClock();
      const sent: number[] = [];
      const p = new AnnouncePhases(
        clock,
        { ...timing, repetitionsMax: 0 },
        () => 0,
        false,
        () => sent.push(clock.now()),
      );
      p.start();
      await clock.advance(10_000);
      expect(sent).to.deep.equal([100]);
      expect(p.phase).to.equal('done');
      expect(clock.pendingTimers).to.equal(0);
    });
  });

  describe('.stop', () => {
    it('should cancel the pending send', async () => {
      const clock = new VirtualClock();
      let sends = 0;
      const p = new AnnouncePhases(
        clock,
        timing,
        () => 0.5,
        true,
        () => sends++,
      );
      p.start();
      p.stop();
      await clock.advance(10_000);
      expect(sends).to.equal(0);
      expect(p.phase).to.equal('down');
    });
  });
});
