import { expect } from 'chai';
import fc from 'fast-check';
import { CoreError } from '../errors/core-error.js';
import {
  CONTROL_FRAME_HEADER_SIZE,
  ControlFrameDecoder,
  MAX_CONTROL_FRAME_SIZE,
  encodeControlFrame,
} from './control-frame.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('ControlFrameDecoder', () => {
  describe('encodeControlFrame', () => {
    it('should prefix the body with its u32 little-endian length', () => {
      expect(hex(encodeControlFrame(Uint8Array.of(0xaa, 0xbb, 0xcc)))).to.equal('03000000aabbcc');
      expect(hex(encodeControlFrame(new Uint8Array(0)))).to.equal('00000000');
    });

    it('should refuse a body over the frame limit', () => {
      expect(() => encodeControlFrame(new Uint8Array(MAX_CONTROL_FRAME_SIZE + 1)))
        .to.throw(CoreError)
        .with.property('code', 'ERR_FRAME');
    });
  });

  describe('.push', () => {
    it('should return a frame split over single-byte chunks only once it is complete', () => {
      const d = new ControlFrameDecoder();
      const wire = encodeControlFrame(Uint8Array.of(1, 2, 3, 4, 5));
      const out: Uint8Array[] = [];
      for (let i = 0; i < wire.length; i++) {
        const got = d.push(wire.subarray(i, i + 1));
        if (i < wire.length - 1) expect(got).to.have.length(0);
        out.push(...got);
      }
      expect(out.map(hex)).to.deep.equal(['0102030405']);
      expect(d.bufferedBytes).to.equal(0);
    });

    it('should return every frame of a chunk holding several, and keep the partial tail', () => {
      const d = new ControlFrameDecoder();
      const a = encodeControlFrame(Uint8Array.of(1));
      const b = encodeControlFrame(new Uint8Array(0));
      const c = encodeControlFrame(Uint8Array.of(7, 8, 9));
      const chunk = Uint8Array.from([...a, ...b, ...c.subarray(0, 5)]);
      expect(d.push(chunk).map(hex)).to.deep.equal(['01', '']);
      expect(d.bufferedBytes).to.equal(5);
      expect(d.push(c.subarray(5)).map(hex)).to.deep.equal(['070809']);
    });

    it('should refuse a length of 2^32-1 from its 4 header bytes alone, then stay failed', () => {
      const d = new ControlFrameDecoder();
      expect(() => d.push(Uint8Array.of(0xff, 0xff, 0xff, 0xff)))
        .to.throw(CoreError)
        .with.property('code', 'ERR_FRAME');
      expect(d.bufferedBytes).to.equal(0);
      expect(() => d.push(encodeControlFrame(Uint8Array.of(1)))).to.throw(CoreError);
    });

    it('should accept a frame of exactly the limit and refuse one byte more', () => {
      const d = new ControlFrameDecoder(16);
      expect(d.push(encodeControlFrame(new Uint8Array(16), 16))).to.have.length(1);
      const over = new Uint8Array(CONTROL_FRAME_HEADER_SIZE);
      new DataView(over.buffer).setUint32(0, 17, true);
      expect(() => d.push(over)).to.throw(/17 bytes, over the limit of 16/);
    });

    it('should reject a limit that is not a positive u32', () => {
      expect(() => new ControlFrameDecoder(0)).to.throw(CoreError);
      expect(() => new ControlFrameDecoder(2 ** 32)).to.throw(CoreError);
    });

    it('should give back the same frames however the stream is cut (fuzz)', () => {
      fc.assert(
        fc.property(
          fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 12 }),
          fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 40 }),
          (bodies, cuts) => {
            const wire = Buffer.concat(bodies.map((b) => encodeControlFrame(b)));
            const d = new ControlFrameDecoder();
            const out: Uint8Array[] = [];
            let at = 0;
            for (let i = 0; at < wire.length; i++) {
              const n = cuts[i % cuts.length]!;
              out.push(...d.push(wire.subarray(at, at + n)));
              at += n;
            }
            expect(out.map(hex)).to.deep.equal(bodies.map(hex));
            expect(d.bufferedBytes).to.equal(0);
          },
        ),
        { numRuns: 300 },
      );
    });

    it('should never throw anything but ERR_FRAME nor buffer past the limit on arbitrary bytes (fuzz)', () => {
      fc.assert(
        fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 20 }), (chunks) => {
          const d = new ControlFrameDecoder(256);
          for (const c of chunks) {
            try {
              for (const f of d.push(c)) expect(f.length).to.be.at.most(256);
            } catch (e) {
              expect(CoreError.is(e) && e.code === 'ERR_FRAME').to.equal(true);
              return;
            }
            expect(d.bufferedBytes).to.be.at.most(256 + CONTROL_FRAME_HEADER_SIZE - 1 + 200);
          }
        }),
        { numRuns: 300 },
      );
    });
  });
});
