import { expect } from 'chai';
import { CoreError } from './core-error.js';
import { SivshmError } from './sivshm-error.js';

describe('CoreError', () => {
  describe('.is', () => {
    it('should recognise a CoreError by its brand, not by instanceof', () => {
      const e = new CoreError('ERR_DECODE', 'bad bytes');
      const lookalike = Object.assign(new Error('x'), {});
      Object.defineProperty(lookalike, Symbol.for('sivshm.CoreError'), { value: true });
      expect(CoreError.is(e)).to.equal(true);
      expect(CoreError.is(lookalike)).to.equal(true);
      expect(CoreError.is(new Error('plain'))).to.equal(false);
      expect(CoreError.is(null)).to.equal(false);
    });

    it('should carry code, name and cause', () => {
      const cause = new Error('root');
      const e = new CoreError('ERR_IO', 'could not read', { cause });
      expect(e.code).to.equal('ERR_IO');
      expect(e.name).to.equal('CoreError');
      expect(e.cause).to.equal(cause);
      expect(SivshmError.isSivshmError(e)).to.equal(true);
    });
  });
});
