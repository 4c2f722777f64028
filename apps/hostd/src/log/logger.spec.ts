import { expect } from 'chai';
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
});
