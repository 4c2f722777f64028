import * as ed from '@noble/ed25519';
import { expect } from 'chai';
import { cctvEd25519Vectors, hex, thrownCode } from '../../test/fixtures/vectors/load-vectors.js';
import { CoreError } from '../errors/core-error.js';
import { checkEd25519PublicKey } from './ed25519-public-key-check.js';
import { nobleBackend } from './noble-backend.js';
import { nodeBackend } from './node-backend.js';

function distinctKeysFlagged(flag: string): Uint8Array[] {
  const keys = new Set<string>();
  for (const v of cctvEd25519Vectors()) if ((v.flags ?? []).includes(flag)) keys.add(v.key);
  return [...keys].map(hex);
}

describe('checkEd25519PublicKey', () => {
  describe('.call', () => {
    it('should refuse every CCTV public key flagged low_order_A', function () {
      this.timeout(60_000);
      const keys = distinctKeysFlagged('low_order_A');
      expect(keys.length).to.be.greaterThan(0);
      for (const k of keys) {
        expect(
          thrownCode(() => checkEd25519PublicKey(k)),
          Buffer.from(k).toString('hex'),
        ).to.equal('ERR_BAD_KEY');
      }
    });

    it('should refuse every CCTV public key flagged non_canonical_A', function () {
      this.timeout(60_000);
      const keys = distinctKeysFlagged('non_canonical_A');
      expect(keys.length).to.be.greaterThan(0);
      for (const k of keys) {
        expect(
          thrownCode(() => checkEd25519PublicKey(k)),
          Buffer.from(k).toString('hex'),
        ).to.equal('ERR_BAD_KEY');
      }
    });

    it('should refuse keys with a small-order component (A + T, T of order 8)', function () {
      this.timeout(60_000);
      // One honest key, shifted by each non-identity torsion point: on the curve, canonical,
      // not small-order, but outside the prime-order subgroup.
      const honest = ed.Point.fromBytes(nobleBackend.ed25519PublicKey(new Uint8Array(32).fill(9)));
      const t8 = ed.Point.fromHex(
        'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
      );
      let t = t8;
      for (let i = 1; i < 8; i++, t = t.add(t8)) {
        const mixed = honest.add(t).toBytes();
        expect(
          thrownCode(() => checkEd25519PublicKey(mixed)),
          `A + ${i}·T8`,
        ).to.equal('ERR_BAD_KEY');
      }
    });

    it('should accept 100 random valid keys from both backends', function () {
      this.timeout(60_000);
      for (let i = 0; i < 100; i++) {
        const backend = i % 2 === 0 ? nodeBackend : nobleBackend;
        const pk = backend.ed25519PublicKey(backend.ed25519GenerateSecretKey());
        expect(() => checkEd25519PublicKey(pk)).not.to.throw();
      }
    });

    it('should refuse a wrong length, a non-curve point and y >= p with a message that says why', () => {
      const short = thrownError(() => checkEd25519PublicKey(new Uint8Array(31)));
      expect(short.code).to.equal('ERR_BAD_KEY');
      expect(short.message).to.match(/must be 32 bytes, got 31 bytes/);

      const notOnCurve = new Uint8Array(32);
      notOnCurve[0] = 2; // y = 2: (y² - 1)/(d·y² + 1) has no square root
      const offCurve = thrownError(() => checkEd25519PublicKey(notOnCurve));
      expect(offCurve.code).to.equal('ERR_BAD_KEY');
      expect(offCurve.message).to.match(/not a canonical encoding of a curve point/);

      // y = 2^255 - 1 is >= p: a non-canonical encoding whatever point it would reduce to.
      const big = new Uint8Array(32).fill(0xff);
      big[31] = 0x7f;
      expect(thrownCode(() => checkEd25519PublicKey(big))).to.equal('ERR_BAD_KEY');

      const notBytes = 'key' as unknown as Uint8Array;
      expect(thrownCode(() => checkEd25519PublicKey(notBytes))).to.equal('ERR_BAD_KEY');
    });
  });
});

function thrownError(fn: () => unknown): CoreError {
  try {
    fn();
  } catch (e) {
    if (CoreError.is(e)) return e;
    throw e;
  }
  throw new Error('expected a CoreError, nothing was thrown');
}
