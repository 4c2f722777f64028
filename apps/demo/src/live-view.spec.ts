import { expect } from 'chai';
import { LiveView, describeFrame, quantile } from './live-view.js';

const cluster = {
  kind: 'cluster' as const,
  events: 250,
  rttMs: [1, 2, 3, 4, 100],
  failedCalls: 0,
  handshakeMs: { VehicleSpeed: 6.5, MediaControl: undefined },
  status: { VehicleSpeed: 'connected', MediaControl: 'peer-gone' },
  reconnects: 1,
  lastKph: 88.25,
};

describe('LiveView', () => {
  describe('quantile', () => {
    it('should pick by nearest rank and be undefined for no values', () => {
      expect(quantile([], 0.5)).to.equal(undefined);
      expect(quantile([5, 1, 3], 0.5)).to.equal(3);
      expect(quantile([1, 2, 3, 4, 100], 0.99)).to.equal(100);
      expect(quantile([7], 0.01)).to.equal(7);
    });
  });

  describe('describeFrame', () => {
    it('should show events/s, round trips, handshake and channel state', () => {
      const { lines, line } = describeFrame({
        elapsedS: 3,
        cluster,
        infotainment: undefined,
        eventsPerS: 100,
      });
      expect(line).to.equal(
        '[   3s] 100 events/s (250 total, last 88.3 km/h) | rtt p50 3.00 ms p99 100.00 ms (5 calls, 0 failed) | handshake VehicleSpeed 6.50 ms, MediaControl – | channels VehicleSpeed connected, MediaControl peer-gone',
      );
      expect(lines.join('\n')).to.match(/\(1 reconnects\)/);
    });

    it("should show each channel's mode when the cluster reports it", () => {
      const { line } = describeFrame({
        elapsedS: 1,
        cluster: { ...cluster, modes: { VehicleSpeed: 'aead', MediaControl: 'aead' } },
        infotainment: undefined,
        eventsPerS: 100,
      });
      expect(line).to.match(
        /channels VehicleSpeed connected \(aead\), MediaControl peer-gone \(aead\)$/,
      );
    });
  });

  describe('.show', () => {
    it('should redraw in place on a TTY and append lines otherwise', () => {
      const written: string[] = [];
      const out = { write: (s: string) => written.push(s) } as unknown as NodeJS.WriteStream;
      const frame = { elapsedS: 1, cluster, infotainment: undefined, eventsPerS: 1 };
      const tty = new LiveView(out, true);
      tty.show(frame);
      tty.show(frame);
      expect(written[0]).to.not.include('\u001b[6F');
      expect(written[1]!.startsWith('\u001b[6F')).to.equal(true); // back over the six lines drawn
      written.length = 0;
      const log = new LiveView(out, false);
      log.show(frame);
      expect(written).to.have.length(1);
      expect(written[0]).to.match(/^\[ +1s\] .*\n$/);
    });
  });
});
