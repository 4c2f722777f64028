import { expect } from 'chai';

import { Ioc, SivshmIoctl, SivshmVerdict } from './uapi.js';

describe('uapi', () => {
  describe('Ioc', () => {
    it('should encode direction, size, magic and number like the asm-generic _IOC', () => {
      // dir 2 (read) << 30 | 48 << 16 | 0xbe << 8 | 1
      expect(Ioc.read(0x01, 48)).to.equal(0x8030be01);
      expect(Ioc.write(0x03, 40)).to.equal(0x4028be03);
      expect(Ioc.readWrite(0x04, 128)).to.equal(0xc080be04);
      expect(Ioc.none(0x7f)).to.equal(0x0000be7f);
    });

    it('should give unsigned numbers even with the read bit set', () => {
      for (const n of Object.values(SivshmIoctl)) {
        expect(n)
          .to.be.at.least(0)
          .and.below(2 ** 32);
      }
    });
  });

  describe('SivshmIoctl', () => {
    it('should give every request a distinct number', () => {
      const numbers = Object.values(SivshmIoctl);
      expect(new Set(numbers).size).to.equal(numbers.length);
    });
  });

  describe('SivshmVerdict', () => {
    it('should number the verdicts densely from ok = 0', () => {
      const codes = Object.values(SivshmVerdict).sort((a, b) => a - b);
      expect(codes).to.deep.equal(codes.map((_c, i) => i));
    });
  });
});
