import { expect } from 'chai';
import {
  IVSHMEM_MESSAGE_SIZE,
  decodeIvshmemMessage,
  encodeIvshmemMessage,
} from './ivshmem-protocol.js';

describe('ivshmem protocol', () => {
  describe('.encodeIvshmemMessage', () => {
    it('should write little-endian signed 64-bit integers (ivshmem-spec, client-server protocol)', () => {
      expect(Array.from(encodeIvshmemMessage(0))).to.deep.equal([0, 0, 0, 0, 0, 0, 0, 0]);
      expect(Array.from(encodeIvshmemMessage(0x1234))).to.deep.equal([
        0x34, 0x12, 0, 0, 0, 0, 0, 0,
      ]);
      expect(Array.from(encodeIvshmemMessage(-1))).to.deep.equal(new Array(8).fill(0xff));
      expect(encodeIvshmemMessage(65535)).to.have.length(IVSHMEM_MESSAGE_SIZE);
    });
  });

  describe('.decodeIvshmemMessage', () => {
    it('should round-trip every value the protocol uses', () => {
      for (const v of [-1, 0, 1, 2, 255, 256, 65535]) {
        expect(decodeIvshmemMessage(encodeIvshmemMessage(v))).to.equal(v);
      }
    });

    it('should decode from a view at a non-zero offset', () => {
      const buf = new Uint8Array(12);
      buf.set(encodeIvshmemMessage(4242), 3);
      expect(decodeIvshmemMessage(buf.subarray(3, 11))).to.equal(4242);
    });

    it('should return undefined for values no valid message has', () => {
      const big = new Uint8Array(8);
      new DataView(big.buffer).setBigInt64(0, 2n ** 62n, true);
      expect(decodeIvshmemMessage(big)).to.equal(undefined);
    });
  });
});
