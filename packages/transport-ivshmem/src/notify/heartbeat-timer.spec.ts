import { expect } from 'chai';
import { HeartbeatTimer } from './heartbeat-timer.js';

describe('HeartbeatTimer', () => {
  describe('.start', () => {
    it('should beat at once and then on every interval until stopped', async () => {
      let beats = 0;
      const hb = new HeartbeatTimer({ beat: () => beats++ }, 5).start();
      expect(beats).to.equal(1);
      const deadline = Date.now() + 5000;
      while (beats < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      hb.stop();
      const stopped = beats;
      await new Promise((r) => setTimeout(r, 30));
      expect(stopped).to.be.at.least(4);
      expect(beats).to.equal(stopped);
    });
  });

  describe('constructor', () => {
    it('should refuse an interval of 0', () => {
      expect(() => new HeartbeatTimer({ beat: () => undefined }, 0)).to.throw(/out of range/);
    });
  });
});
