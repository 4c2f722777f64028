import { expect } from 'chai';
import { thrownCode } from '../../test/fixtures/vectors/load-vectors.js';
import type { CryptoBackendName } from './crypto-backend.js';
import { nobleBackend } from './noble-backend.js';
import { nodeBackend } from './node-backend.js';
import { CRYPTO_BACKEND_ENV, cryptoBackend } from './select-backend.js';

describe('cryptoBackend', () => {
  let saved: string | undefined;

  beforeEach(() => {
    saved = process.env[CRYPTO_BACKEND_ENV];
    delete process.env[CRYPTO_BACKEND_ENV];
  });

  afterEach(() => {
    if (saved === undefined) delete process.env[CRYPTO_BACKEND_ENV];
    else process.env[CRYPTO_BACKEND_ENV] = saved;
  });

  describe('.call', () => {
    it('should default to the node backend', () => {
      expect(cryptoBackend()).to.equal(nodeBackend);
      expect(cryptoBackend().name).to.equal('node');
    });

    it('should follow SIVSHM_CRYPTO when no name is passed', () => {
      process.env[CRYPTO_BACKEND_ENV] = 'noble';
      expect(cryptoBackend()).to.equal(nobleBackend);
      process.env[CRYPTO_BACKEND_ENV] = 'node';
      expect(cryptoBackend()).to.equal(nodeBackend);
    });

    it('should prefer an explicit name over the environment', () => {
      process.env[CRYPTO_BACKEND_ENV] = 'node';
      expect(cryptoBackend('noble')).to.equal(nobleBackend);
    });

    it('should throw ERR_CRYPTO_INPUT for an unknown name, never fall back', () => {
      const bogus = 'openssl' as CryptoBackendName;
      expect(thrownCode(() => cryptoBackend(bogus))).to.equal('ERR_CRYPTO_INPUT');
      expect(thrownCode(() => cryptoBackend('toString' as CryptoBackendName))).to.equal(
        'ERR_CRYPTO_INPUT',
      );
      process.env[CRYPTO_BACKEND_ENV] = 'Noble';
      expect(thrownCode(() => cryptoBackend())).to.equal('ERR_CRYPTO_INPUT');
      process.env[CRYPTO_BACKEND_ENV] = '';
      expect(thrownCode(() => cryptoBackend())).to.equal('ERR_CRYPTO_INPUT');
    });

    it('should name the variable and the allowed values in the message', () => {
      process.env[CRYPTO_BACKEND_ENV] = 'fast';
      expect(() => cryptoBackend()).to.throw(/SIVSHM_CRYPTO="fast".*node, noble/);
    });
  });
});
