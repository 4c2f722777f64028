import { expect } from 'chai';
import { equalConstantTime } from './constant-time.js';

describe('equalConstantTime', () => {
  describe('.call', () => {
    it('should return true for equal contents in distinct arrays', () => {
      const a = Uint8Array.from([1, 2, 3, 4]);
      const b = Uint8Array.from([1, 2, 3, 4]);
      expect(equalConstantTime(a, b)).to.equal(true);
    });

    it('should return false when any single byte differs, wherever it is', () => {
      const a = new Uint8Array(32).fill(0x5a);
      for (let i = 0; i < a.length; i++) {
        const b = a.slice();
        b[i] = 0x5b;
        expect(equalConstantTime(a, b), `difference at ${i}`).to.equal(false);
      }
    });

    it('should return false for different lengths, including a prefix', () => {
      const a = Uint8Array.from([1, 2, 3, 4]);
      expect(equalConstantTime(a, a.subarray(0, 3))).to.equal(false);
      expect(equalConstantTime(new Uint8Array(0), new Uint8Array(1))).to.equal(false);
    });

    it('should treat two empty arrays as equal', () => {
      expect(equalConstantTime(new Uint8Array(0), new Uint8Array(0))).to.equal(true);
    });

    it('should compare subarray views by their own bytes, not the underlying buffer', () => {
      const buf = Uint8Array.from([9, 1, 2, 3, 9]);
      expect(equalConstantTime(buf.subarray(1, 4), Uint8Array.from([1, 2, 3]))).to.equal(true);
    });
  });
});
