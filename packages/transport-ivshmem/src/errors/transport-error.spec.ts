import { expect } from 'chai';
import { SivshmError } from '@sivshm/core';
import { TransportError } from './transport-error.js';

describe('TransportError', () => {
  describe('.is', () => {
    it('should recognise its own instances and reject other errors', () => {
      const e = new TransportError('ERR_RING_FULL', 'ring full');
      expect(TransportError.is(e)).to.equal(true);
      expect(SivshmError.isSivshmError(e)).to.equal(true);
      expect(TransportError.is(new Error('x'))).to.equal(false);
      expect(TransportError.is(null)).to.equal(false);
    });

    it('should recognise a branded error from another copy of the package', () => {
      const foreign = Object.assign(new Error('x'), { code: 'ERR_CLOSED' });
      Object.defineProperty(foreign, Symbol.for('sivshm.TransportError'), { value: true });
      expect(TransportError.is(foreign)).to.equal(true);
    });
  });

  describe('constructor', () => {
    it('should carry code, name, cause and the syscall details', () => {
      const cause = new Error('native');
      const e = new TransportError('ERR_SYSCALL', 'mmap failed: ENOMEM (Cannot allocate memory)', {
        cause,
        syscall: { syscall: 'mmap', errno: 12, errnoName: 'ENOMEM' },
      });
      expect(e.code).to.equal('ERR_SYSCALL');
      expect(e.name).to.equal('TransportError');
      expect(e.cause).to.equal(cause);
      expect(e.syscall).to.equal('mmap');
      expect(e.errno).to.equal(12);
      expect(e.errnoName).to.equal('ENOMEM');
    });

    it('should leave syscall details undefined for other codes', () => {
      const e = new TransportError('ERR_BAD_ARGUMENT', 'length must be > 0');
      expect(e.syscall).to.equal(undefined);
      expect(e.errno).to.equal(undefined);
    });
  });
});
