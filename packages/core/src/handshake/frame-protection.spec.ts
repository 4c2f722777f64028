import { expect } from 'chai';
import { nobleBackend } from '../crypto/noble-backend.js';
import { nodeBackend } from '../crypto/node-backend.js';
import { CoreError } from '../errors/core-error.js';
import {
  FRAME_OVERHEAD,
  FrameOpener,
  FrameSealer,
  type FrameProtectionOptions,
} from './frame-protection.js';

const header = Uint8Array.from({ length: 16 }, (_, i) => i);
const payload = new TextEncoder().encode('vehicle speed 88 kph');

for (const mode of ['mac', 'aead'] as const) {
  describe(`FrameSealer / FrameOpener (${mode})`, () => {
    const opts = (crypto = nodeBackend): FrameProtectionOptions => ({
      crypto,
      mode,
      key: new Uint8Array(32).fill(7),
      channelId: 0x99n,
      direction: 'c2p',
    });

    describe('.seal / .open', () => {
      it('should round-trip frames in order, agreeing across backends', () => {
        const s = new FrameSealer(opts(nodeBackend));
        const sNoble = new FrameSealer(opts(nobleBackend));
        const o = new FrameOpener(opts(nobleBackend));
        for (let i = 0; i < 5; i++) {
          const f = s.seal(header, payload);
          expect(sNoble.seal(header, payload)).to.deep.equal(f);
          expect(f.length).to.equal(payload.length + FRAME_OVERHEAD);
          expect(o.open(header, f)).to.deep.equal(payload);
        }
        expect(o.counter).to.equal(5n);
        if (mode === 'aead') {
          const f = s.seal(header, payload);
          expect(Buffer.from(f).includes(Buffer.from(payload))).to.equal(false);
        }
      });

      it('case 24: should refuse an old frame copied back (FV ≤ last) and a gap (FV jump > 1)', () => {
        const s = new FrameSealer(opts());
        const o = new FrameOpener(opts());
        const f1 = s.seal(header, payload);
        const f2 = s.seal(header, payload);
        const f3 = s.seal(header, payload);
        o.open(header, f1);
        expect(() => o.open(header, f1)).to.throw(CoreError, /replayed/);
        expect(() => o.open(header, f3)).to.throw(CoreError, /gap/);
        expect(o.open(header, f2)).to.deep.equal(payload);
      });

      it('case 25: should refuse to seal once the counter reaches 2^64 − 1', () => {
        const s = new FrameSealer(opts());
        s.setCounterForTest((1n << 64n) - 3n);
        s.seal(header, payload);
        expect(() => s.seal(header, payload)).to.throw(CoreError, /exhausted/);
      });

      it('should refuse any bit flip of header, payload, FV or tag, and the other direction', () => {
        const f = new FrameSealer(opts()).seal(header, payload);
        for (let i = 0; i < f.length * 8; i += 3) {
          const o = new FrameOpener(opts());
          const g = f.slice();
          g[i >> 3] = (g[i >> 3] ?? 0) ^ (1 << (i & 7));
          expect(() => o.open(header, g), `bit ${i}`).to.throw(CoreError);
        }
        const h = header.slice();
        h[4] = 0xff;
        expect(() => new FrameOpener(opts()).open(h, f)).to.throw(CoreError);
        expect(() => new FrameOpener({ ...opts(), direction: 'p2c' }).open(header, f)).to.throw(
          CoreError,
        );
        expect(() => new FrameOpener(opts()).open(header, f.subarray(0, 10))).to.throw(
          CoreError,
          /shorter/,
        );
      });

      it('should work on a private copy: changing the source after the call changes nothing', () => {
        const f = new FrameSealer(opts()).seal(header, payload);
        const o = new FrameOpener(opts());
        const out = o.open(header, f);
        f.fill(0);
        expect(out).to.deep.equal(payload);
      });
    });
  });
}
