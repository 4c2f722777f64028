import { expect } from 'chai';
import { constants, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { TransportError } from '../errors/transport-error.js';
import { closeFd, openFd } from './fd.js';
import { createRegionFile, fileSize, mapFile, memfdCreate, unmap } from './map-file.js';

const PAGE = 4096;

describe('mapFile', () => {
  const path = `/dev/shm/sivshm-mapfile-spec-${process.pid}`;
  let fd = -1;

  beforeEach(() => {
    fd = createRegionFile(path, 4 * PAGE);
  });

  afterEach(() => {
    if (fd >= 0) closeFd(fd);
    fd = -1;
    unlinkSync(path);
  });

  describe('.mapFile', () => {
    it('should alias one mapping through the shared and the bulk buffer', () => {
      const m = mapFile(path, 0, 4 * PAGE, { writable: true });
      expect(m.shared).to.be.instanceOf(SharedArrayBuffer);
      expect(m.bulk).to.be.instanceOf(ArrayBuffer);
      expect(m.shared.byteLength).to.equal(4 * PAGE);
      Atomics.store(new Int32Array(m.shared), 5, 0x1234_5678);
      expect(new DataView(m.bulk).getInt32(20, true)).to.equal(0x1234_5678);
      new Uint8Array(m.bulk).set([1, 2, 3], 100);
      expect(Array.from(new Uint8Array(m.shared, 100, 3))).to.deep.equal([1, 2, 3]);
      unmap(m.handle);
    });

    it('should map through an fd at a page offset and see writes made through another mapping', () => {
      const a = mapFile(fd, PAGE, PAGE, { writable: true });
      const b = mapFile(path, 0, 2 * PAGE, { writable: false });
      Atomics.store(new Uint32Array(a.shared), 0, 0xdead_beef);
      expect(Atomics.load(new Uint32Array(b.shared), PAGE / 4)).to.equal(0xdead_beef);
      unmap(a.handle);
      unmap(b.handle);
    });

    it('should pre-fault a populated mapping and still share it', () => {
      const a = mapFile(path, 0, 4 * PAGE, { writable: true, populate: true });
      const b = mapFile(fd, 0, 4 * PAGE, { writable: false, populate: true });
      Atomics.store(new Int32Array(a.shared), 3 * (PAGE / 4), 77);
      expect(Atomics.load(new Int32Array(b.shared), 3 * (PAGE / 4))).to.equal(77);
      unmap(a.handle);
      unmap(b.handle);
    });

    it('should reject a length past the end of a regular file', () => {
      expect(() => mapFile(path, 0, 8 * PAGE)).to.throw(TransportError, /exceeds the file size/);
    });

    it('should reject an offset that is not page-aligned', () => {
      try {
        mapFile(path, 100, PAGE);
        expect.fail('mapFile accepted an unaligned offset');
      } catch (e) {
        expect(TransportError.is(e) && e.code).to.equal('ERR_BAD_ARGUMENT');
        expect((e as Error).message).to.match(/multiple of the page size/);
      }
    });

    it('should report a missing file as ERR_SYSCALL with errno ENOENT', () => {
      try {
        mapFile('/dev/shm/sivshm-does-not-exist', 0, PAGE);
        expect.fail('mapFile accepted a missing file');
      } catch (e) {
        if (!TransportError.is(e)) throw e;
        expect(e.code).to.equal('ERR_SYSCALL');
        expect(e.syscall).to.equal('open');
        expect(e.errno).to.equal(2);
        expect(e.errnoName).to.equal('ENOENT');
        expect(e.message).to.equal('open failed: ENOENT (No such file or directory)');
      }
    });

    it('should refuse a writable mapping of a file opened read-only with EACCES', () => {
      const ro = openFd(path, constants.O_RDONLY);
      try {
        expect(() => mapFile(ro, 0, PAGE, { writable: true }))
          .to.throw(TransportError)
          .with.property('errnoName', 'EACCES');
      } finally {
        closeFd(ro);
      }
    });

    it('should report a closed fd as EBADF', () => {
      const mfd = memfdCreate('sivshm-closed', PAGE);
      closeFd(mfd);
      expect(() => mapFile(mfd, 0, PAGE))
        .to.throw(TransportError)
        .with.property('errnoName', 'EBADF');
    });

    it('should reject arguments of the wrong type with ERR_BAD_ARGUMENT', () => {
      for (const bad of [
        () => mapFile('', 0, PAGE),
        () => mapFile(-1, 0, PAGE),
        () => mapFile(path, 0, 0),
        () => mapFile(path, 0, 1.5),
        () => mapFile(path, -4096, PAGE),
        () => mapFile(path, 0, PAGE, { writable: 'yes' as unknown as boolean }),
      ]) {
        expect(bad).to.throw(TransportError).with.property('code', 'ERR_BAD_ARGUMENT');
      }
    });
    it('should refuse a directory with ERR_BAD_ARGUMENT that says what can be mapped', () => {
      expect(() => mapFile(tmpdir(), 0, PAGE))
        .to.throw(TransportError, /a directory cannot be mapped: give a regular file or a device/)
        .with.property('code', 'ERR_BAD_ARGUMENT');
    });
  });

  describe('.unmap', () => {
    it('should detach the bulk buffer and be idempotent', () => {
      const m = mapFile(path, 0, PAGE, { writable: true });
      const view = new Uint8Array(m.bulk);
      expect(unmap(m.handle)).to.equal(true);
      expect(m.bulk.byteLength).to.equal(0);
      expect(view.length).to.equal(0);
      expect(unmap(m.handle)).to.equal(false);
    });

    it('should reject something that is not a mapping handle', () => {
      expect(() => unmap({} as never))
        .to.throw(TransportError)
        .with.property('code', 'ERR_BAD_ARGUMENT');
    });
  });

  describe('.createRegionFile', () => {
    it('should grow but never shrink the file', () => {
      const fd2 = createRegionFile(path, PAGE);
      expect(fileSize(fd2)).to.equal(4 * PAGE);
      closeFd(fd2);
      const fd3 = createRegionFile(path, 8 * PAGE);
      expect(fileSize(fd3)).to.equal(8 * PAGE);
      closeFd(fd3);
    });

    it('should fail with EEXIST when exclusive and the file exists', () => {
      expect(() => createRegionFile(path, PAGE, { exclusive: true }))
        .to.throw(TransportError)
        .with.property('errnoName', 'EEXIST');
    });
  });

  describe('.memfdCreate', () => {
    it('should create a mappable anonymous file of the given size', () => {
      const mfd = memfdCreate('sivshm-spec', 2 * PAGE);
      expect(fileSize(mfd)).to.equal(2 * PAGE);
      const m = mapFile(mfd, 0, 2 * PAGE, { writable: true });
      closeFd(mfd);
      new Uint8Array(m.bulk)[PAGE] = 7;
      expect(new Uint8Array(m.shared)[PAGE]).to.equal(7);
      unmap(m.handle);
    });
  });
});
