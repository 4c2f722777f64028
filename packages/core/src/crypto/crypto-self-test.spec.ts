import { expect } from 'chai';
import { CoreError } from '../errors/core-error.js';
import type { CryptoBackend } from './crypto-backend.js';
import { cryptoSelfTest } from './crypto-self-test.js';
import { nobleBackend } from './noble-backend.js';
import { nodeBackend } from './node-backend.js';

describe('cryptoSelfTest', () => {
  for (const backend of [nobleBackend, nodeBackend]) {
    it(`should pass on the ${backend.name} backend`, () => {
      expect(() => cryptoSelfTest(backend)).to.not.throw();
    });
  }

  it('should name every primitive that gives a wrong answer and refuse to go on', () => {
    // A backend whose HMAC is off by one bit and whose verify accepts anything.
    const broken: CryptoBackend = {
      ...nodeBackend,
      hmacSha256: (key, ...parts) => {
        const mac = nodeBackend.hmacSha256(key, ...parts);
        mac[0]! ^= 1;
        return mac;
      },
      ed25519Verify: () => true,
    };
    let error: unknown;
    try {
      cryptoSelfTest(broken);
    } catch (e) {
      error = e;
    }
    expect(CoreError.is(error) && error.code).to.equal('ERR_SELF_TEST');
    const message = (error as Error).message;
    expect(message).to.match(/HMAC-SHA256 \(RFC 4231/);
    expect(message).to.match(/Ed25519/);
    expect(message).to.not.match(/X25519|ChaCha20|HKDF/);
  });

  it('should fail a backend that throws instead of answering', () => {
    const throwing: CryptoBackend = {
      ...nodeBackend,
      x25519SharedSecret: () => {
        throw new Error('no X25519 in this build');
      },
    };
    expect(() => cryptoSelfTest(throwing)).to.throw(/X25519 \(RFC 7748/);
  });
});
