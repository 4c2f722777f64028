import { expect } from 'chai';
import type { CryptoBackend } from '../crypto/crypto-backend.js';
import { nobleBackend } from '../crypto/noble-backend.js';
import { nodeBackend } from '../crypto/node-backend.js';
import { CoreError } from '../errors/core-error.js';
import { handshakeSelfTest } from './handshake-self-test.js';

describe('handshakeSelfTest', function () {
  this.timeout(30_000);

  for (const backend of [nodeBackend, nobleBackend]) {
    it(`should complete plain, mac and aead handshakes on the ${backend.name} backend`, () => {
      expect(() => handshakeSelfTest(backend)).to.not.throw();
    });
  }

  it('should refuse a build whose X25519 disagrees between the two ends (keyed modes)', () => {
    // Each call answers differently: the two ends derive different keys, so the keyed-mode
    // confirmation fails and nobody is granted.
    let n = 0;
    const skewed: CryptoBackend = {
      ...nodeBackend,
      x25519SharedSecret: (sk, pk) => {
        const out = nodeBackend.x25519SharedSecret(sk, pk);
        out[0]! ^= n++ & 1;
        return out;
      },
    };
    let error: unknown;
    try {
      handshakeSelfTest(skewed);
    } catch (e) {
      error = e;
    }
    expect(CoreError.is(error) && error.code, String(error)).to.equal('ERR_SELF_TEST');
    expect((error as Error).message).to.match(/in-memory mac handshake .*different data keys/);
  });

  it('should refuse a build whose signatures never verify', () => {
    const blind: CryptoBackend = { ...nodeBackend, ed25519Verify: () => false };
    expect(() => handshakeSelfTest(blind)).to.throw(/plain handshake .*signature does not verify/);
  });
});
