import { expect } from 'chai';
import { SivshmError } from '@sivshm/core';
import { RuntimeError } from './runtime-error.js';

describe('RuntimeError', () => {
  describe('.is', () => {
    it('should recognise its own instances by brand, with code, message and cause', () => {
      const cause = new Error('ECONNREFUSED');
      const e = new RuntimeError('ERR_CONNECT', 'cannot connect to hostd', { cause });
      expect(RuntimeError.is(e)).to.equal(true);
      expect(e).to.be.instanceOf(SivshmError);
      expect(e.code).to.equal('ERR_CONNECT');
      expect(e.name).to.equal('RuntimeError');
      expect(e.message).to.equal('cannot connect to hostd');
      expect(e.cause).to.equal(cause);
    });

    it('should not take other errors for its own', () => {
      expect(RuntimeError.is(new Error('x'))).to.equal(false);
      expect(RuntimeError.is({ code: 'ERR_CONNECT' })).to.equal(false);
      expect(RuntimeError.is(undefined)).to.equal(false);
    });
  });
});
