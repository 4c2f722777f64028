import { expect } from 'chai';
import { MAX_LOGGED_TEXT, VM_LOG_BURST } from './log-meter.js';
import { JsonLogger } from './logger.js';

describe('JsonLogger', () => {
  const at = new Date('2026-01-02T03:04:05.000Z');

  describe('.log', () => {
    it('should write one JSON object per line with time, level, event and fields', () => {
      const lines: string[] = [];
      new JsonLogger(
        'info',
        (l) => lines.push(l),
        () => at,
      ).info('vm-connected', { vm: 2 });
      expect(lines).to.deep.equal([
        '{"t":"2026-01-02T03:04:05.000Z","level":"info","event":"vm-connected","vm":2}\n',
      ]);
    });

    it('should write bigints as decimal strings and bytes as hex', () => {
      const lines: string[] = [];
      new JsonLogger(
        'debug',
        (l) => lines.push(l),
        () => at,
      ).debug('x', {
        id: 2n ** 64n - 1n,
        key: Uint8Array.of(0xab, 0x01),
      });
      expect(JSON.parse(lines[0]!)).to.include({ id: '18446744073709551615', key: 'ab01' });
    });

    it('should write service and instance ids in hex, as sivshm status and inspect print them', () => {
      const lines: string[] = [];
      new JsonLogger(
        'info',
        (l) => lines.push(l),
        () => at,
      ).info('sd-offer-gone', { vm: 1, service: 0x1234, instance: 1, channel: '0x2a', count: 12 });
      expect(JSON.parse(lines[0]!)).to.include({
        service: '0x1234',
        instance: '0x0001',
        channel: '0x2a',
        count: 12,
      });
    });

    it('should drop events below its level', () => {
      const lines: string[] = [];
      const log = new JsonLogger(
        'warn',
        (l) => lines.push(l),
        () => at,
      );
      log.debug('a');
      log.info('b');
      log.warn('c');
      log.error('d');
      expect(lines.map((l) => (JSON.parse(l) as { event: string }).event)).to.deep.equal([
        'c',
        'd',
      ]);
    });
  });

  describe('bounds', () => {
    it('should cut every string field to MAX_LOGGED_TEXT characters, saying how long it was', () => {
      const lines: string[] = [];
      new JsonLogger('info', (l) => lines.push(l)).warn('vm-error', {
        vm: 2,
        message: 'x'.repeat(16 * 1024),
      });
      const line = JSON.parse(lines[0]!) as { message: string };
      expect(line.message.length).to.be.below(MAX_LOGGED_TEXT + 40);
      expect(line.message).to.match(/16384 characters, cut/);
    });

    it('should meter lines about one VM and summarise what it suppressed, leaving other VMs alone', () => {
      const lines: string[] = [];
      const log = new JsonLogger('info', (l) => lines.push(l));
      for (let i = 0; i < 10 * VM_LOG_BURST; i++) log.warn('vm-error', { vm: 3, message: 'x' });
      log.info('vm-connected', { vm: 2 });
      const events = lines.map((l) => JSON.parse(l) as { event: string; vm: number });
      const of3 = events.filter((e) => e.vm === 3);
      // The burst, one note that suppression started, maybe a line refilled meanwhile.
      expect(of3.length).to.be.within(VM_LOG_BURST + 1, VM_LOG_BURST + 3);
      // A flood of routine lines does not use up the budget of warnings.
      for (let i = 0; i < 10 * VM_LOG_BURST; i++) log.info('vm-hello', { vm: 4 });
      log.warn('vm-disconnected', { vm: 4, error: 'dropped' });
      expect(lines.at(-1)).to.match(/vm-disconnected/);
      expect(of3.filter((e) => e.event === 'log-over-budget')).to.have.length(1);
      expect(events.filter((e) => e.vm === 2)).to.have.length(1);
    });
  });
});
