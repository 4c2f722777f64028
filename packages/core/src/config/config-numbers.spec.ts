import { expect } from 'chai';
import {
  formatHex,
  formatSize,
  isPowerOfTwo,
  parseConfigInteger,
  parseConfigSize,
} from './config-numbers.js';

describe('config numbers', () => {
  describe('.parseConfigInteger', () => {
    it('should read decimal and 0x hex, with _ between digits', () => {
      expect(parseConfigInteger('4660')).to.equal(4660);
      expect(parseConfigInteger('0x1234')).to.equal(4660);
      expect(parseConfigInteger('0X1234')).to.equal(4660);
      expect(parseConfigInteger('0x1_0000')).to.equal(0x10000);
      expect(parseConfigInteger('1_000')).to.equal(1000);
      expect(parseConfigInteger('-2')).to.equal(-2);
    });

    it('should refuse every other notation', () => {
      for (const t of [
        '',
        '1e3',
        '0o17',
        '0b1',
        '1.0',
        '.5',
        '0x',
        '_1',
        '1_',
        '1__0',
        'x1',
        '+1',
        '0xG',
      ]) {
        expect(parseConfigInteger(t), t).to.equal(undefined);
      }
    });

    it('should refuse integers beyond 2^53', () => {
      expect(parseConfigInteger('0x20000000000000')).to.equal(undefined);
      expect(parseConfigInteger('9007199254740991')).to.equal(Number.MAX_SAFE_INTEGER);
    });
  });

  describe('.parseConfigSize', () => {
    it('should read bytes and binary units', () => {
      expect(parseConfigSize('4096')).to.equal(4096);
      expect(parseConfigSize('0x1000')).to.equal(4096);
      expect(parseConfigSize('4KiB')).to.equal(4096);
      expect(parseConfigSize('16 MiB')).to.equal(16 * 1024 * 1024);
      expect(parseConfigSize('2GiB')).to.equal(2 * 1024 ** 3);
    });

    it('should refuse decimal units, fractions and unknown suffixes', () => {
      for (const t of ['16MB', '16M', '16mib', '1.5MiB', 'MiB', '-1MiB', '16 MiB B']) {
        expect(parseConfigSize(t), t).to.equal(undefined);
      }
    });
  });

  describe('.formatHex', () => {
    it('should pad and upper-case', () => {
      expect(formatHex(0xfe, 4)).to.equal('0x00FE');
      expect(formatHex(0x12345, 4)).to.equal('0x12345');
    });
  });

  describe('.formatSize', () => {
    it('should use the largest unit that divides', () => {
      expect(formatSize(16 * 1024 * 1024)).to.equal('16 MiB');
      expect(formatSize(24 * 1024)).to.equal('24 KiB');
      expect(formatSize(1000)).to.equal('1000 bytes');
    });
  });

  describe('.isPowerOfTwo', () => {
    it('should hold for powers of two beyond 32 bits and fail otherwise', () => {
      expect(isPowerOfTwo(1)).to.equal(true);
      expect(isPowerOfTwo(2 ** 40)).to.equal(true);
      expect(isPowerOfTwo(2 ** 40 + 2 ** 39)).to.equal(false);
      expect(isPowerOfTwo(0)).to.equal(false);
      expect(isPowerOfTwo(-4)).to.equal(false);
      expect(isPowerOfTwo(3)).to.equal(false);
    });
  });
});
