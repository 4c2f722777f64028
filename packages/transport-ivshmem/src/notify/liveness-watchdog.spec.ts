import { expect } from 'chai';
import { TransportError } from '../errors/transport-error.js';
import { LivenessWatchdog } from './liveness-watchdog.js';

describe('LivenessWatchdog', () => {
  describe('.check', () => {
    it('should keep a peer alive while its heartbeat moves and declare it gone once it stalls past the bound', () => {
      let beat = 0;
      let now = 0;
      const w = new LivenessWatchdog({
        readHeartbeat: () => beat,
        now: () => now,
        staleAfterMs: 1000,
      });
      for (let t = 0; t < 5000; t += 100) {
        now = t;
        beat++;
        expect(w.check()).to.equal(true);
      }
      now += 1000;
      expect(w.check()).to.equal(true); // exactly at the bound: still alive
      now += 1;
      expect(w.check()).to.equal(false);
      beat++;
      now += 1;
      expect(w.check()).to.equal(false); // gone is final: a resurrected counter is not trusted
    });
  });

  describe('.declareGone', () => {
    it('should report the peer gone at once when hostd says so', () => {
      const w = new LivenessWatchdog({ readHeartbeat: () => 1, now: () => 0 });
      w.declareGone();
      expect(w.check()).to.equal(false);
    });
  });

  describe('constructor', () => {
    it('should refuse a bound shorter than two heartbeat intervals', () => {
      expect(() => new LivenessWatchdog({ readHeartbeat: () => 0, staleAfterMs: 150 })).to.throw(
        TransportError,
        /two heartbeat intervals/,
      );
    });
  });
});
