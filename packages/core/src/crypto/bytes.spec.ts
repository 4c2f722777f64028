import { expect } from 'chai';
import { CoreError } from '../errors/core-error.js';
import {
  bytesToHex,
  bytesToUtf8,
  concatBytes,
  hexToBytes,
  readU64LE,
  utf8ToBytes,
  writeU64LE,
} from './bytes.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return CoreError.is(e) ? e.code : `not a CoreError: ${String(e)}`;
  }
  return undefined;
}

describe('bytes', () => {
  describe('.concatBytes', () => {
    it('should join parts in order into a new array', () => {
      const a = Uint8Array.from([1, 2]);
      const b = Uint8Array.from([3]);
      const out = concatBytes(a, new Uint8Array(0), b);
      expect(out).to.deep.equal(Uint8Array.from([1, 2, 3]));
      out[0] = 99;
      expect(a[0]).to.equal(1);
    });

    it('should return an empty array for no parts', () => {
      expect(concatBytes().length).to.equal(0);
    });
  });

  describe('.utf8ToBytes / .bytesToUtf8', () => {
    it('should round-trip text with multi-byte characters', () => {
      const text = 'Geschwindigkeit 120 km/h — 速度 🚗';
      expect(bytesToUtf8(utf8ToBytes(text))).to.equal(text);
      expect(utf8ToBytes('é')).to.deep.equal(Uint8Array.from([0xc3, 0xa9]));
    });

    it('should throw ERR_DECODE for malformed UTF-8', () => {
      expect(codeOf(() => bytesToUtf8(Uint8Array.from([0xc3])))).to.equal('ERR_DECODE');
      expect(codeOf(() => bytesToUtf8(Uint8Array.from([0xff, 0x41])))).to.equal('ERR_DECODE');
    });
  });

  describe('.bytesToHex / .hexToBytes', () => {
    it('should round-trip every byte value', () => {
      const all = Uint8Array.from({ length: 256 }, (_, i) => i);
      const hex = bytesToHex(all);
      expect(hex.slice(0, 8)).to.equal('00010203');
      expect(hex.slice(-4)).to.equal('feff');
      expect(hexToBytes(hex)).to.deep.equal(all);
    });

    it('should hex only the bytes of a subarray view', () => {
      const buf = Uint8Array.from([0xaa, 0x01, 0x02, 0xbb]);
      expect(bytesToHex(buf.subarray(1, 3))).to.equal('0102');
    });

    it('should accept upper case and return a plain Uint8Array', () => {
      const b = hexToBytes('ABcd');
      expect(b).to.deep.equal(Uint8Array.from([0xab, 0xcd]));
      expect(Object.getPrototypeOf(b)).to.equal(Uint8Array.prototype);
    });

    it('should throw ERR_DECODE for odd length or a non-hex digit', () => {
      expect(codeOf(() => hexToBytes('abc'))).to.equal('ERR_DECODE');
      expect(codeOf(() => hexToBytes('zz'))).to.equal('ERR_DECODE');
      expect(codeOf(() => hexToBytes('0x00'))).to.equal('ERR_DECODE');
      expect(codeOf(() => hexToBytes('00 11'))).to.equal('ERR_DECODE');
    });
  });

  describe('.writeU64LE / .readU64LE', () => {
    it('should write little-endian and read back the extremes', () => {
      const b = new Uint8Array(10);
      writeU64LE(b, 1, 0x0102030405060708n);
      expect(Array.from(b.subarray(1, 9))).to.deep.equal([8, 7, 6, 5, 4, 3, 2, 1]);
      expect(readU64LE(b, 1)).to.equal(0x0102030405060708n);
      writeU64LE(b, 2, (1n << 64n) - 1n);
      expect(readU64LE(b, 2)).to.equal(18446744073709551615n);
      writeU64LE(b, 0, 0);
      expect(readU64LE(b, 0)).to.equal(0n);
    });

    it('should respect the offset of a subarray view', () => {
      const whole = new Uint8Array(16);
      const view = whole.subarray(4, 12);
      writeU64LE(view, 0, 1n);
      expect(whole[4]).to.equal(1);
      expect(readU64LE(view, 0)).to.equal(1n);
    });

    it('should accept a safe-integer number', () => {
      const b = new Uint8Array(8);
      writeU64LE(b, 0, Number.MAX_SAFE_INTEGER);
      expect(readU64LE(b, 0)).to.equal(BigInt(Number.MAX_SAFE_INTEGER));
    });

    it('should throw ERR_CRYPTO_INPUT for values outside 0..2^64-1 or unsafe numbers', () => {
      const b = new Uint8Array(8);
      expect(codeOf(() => writeU64LE(b, 0, -1n))).to.equal('ERR_CRYPTO_INPUT');
      expect(codeOf(() => writeU64LE(b, 0, 1n << 64n))).to.equal('ERR_CRYPTO_INPUT');
      expect(codeOf(() => writeU64LE(b, 0, 1.5))).to.equal('ERR_CRYPTO_INPUT');
      expect(codeOf(() => writeU64LE(b, 0, 2 ** 60))).to.equal('ERR_CRYPTO_INPUT');
    });

    it('should refuse offsets that leave fewer than 8 bytes', () => {
      const b = new Uint8Array(8);
      expect(codeOf(() => writeU64LE(b, 1, 0n))).to.equal('ERR_CRYPTO_INPUT');
      expect(codeOf(() => readU64LE(b, 1))).to.equal('ERR_DECODE');
      expect(codeOf(() => readU64LE(b, -1))).to.equal('ERR_DECODE');
      expect(codeOf(() => readU64LE(new Uint8Array(7), 0))).to.equal('ERR_DECODE');
    });
  });
});
