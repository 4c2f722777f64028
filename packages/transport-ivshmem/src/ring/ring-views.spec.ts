import { expect } from 'chai';
import { PAGE_SIZE, WindowLayout } from '@sivshm/abi';
import { TransportError } from '../errors/transport-error.js';
import { ringViews, windowOf } from './ring-views.js';

const DATA = 8192;

describe('RingViews', () => {
  describe('ringViews', () => {
    it('should place both directions inside the window as WindowLayout says', () => {
      const len = WindowLayout.windowLength(DATA);
      const region = new Uint8Array(new SharedArrayBuffer(len + 2 * PAGE_SIZE));
      const win = windowOf({ shared: region }, PAGE_SIZE, len);
      const c2p = ringViews(win, 'c2p', DATA);
      const p2c = ringViews(win, 'p2c', DATA);
      const start = PAGE_SIZE;
      expect(c2p.producerPage.byteOffset).to.equal(start);
      expect(c2p.consumerPage.byteOffset).to.equal(start + PAGE_SIZE);
      expect(c2p.dataShared.byteOffset).to.equal(start + 2 * PAGE_SIZE);
      expect(p2c.producerPage.byteOffset).to.equal(start + WindowLayout.directionSize(DATA));
      expect(p2c.dataBulk.byteOffset + p2c.dataBulk.byteLength).to.equal(start + len);
    });

    it('should refuse a data size that is not a power of two, and a window of the wrong length', () => {
      const win = {
        shared: new Uint8Array(new SharedArrayBuffer(WindowLayout.windowLength(DATA))),
      };
      expect(() => ringViews(win, 'c2p', 3 * PAGE_SIZE)).to.throw(TransportError, /power of two/);
      expect(() => ringViews(win, 'c2p', DATA * 2)).to.throw(TransportError, /does not match/);
    });
  });

  describe('windowOf', () => {
    it('should refuse a window that is unaligned or runs past the region', () => {
      const region = { shared: new Uint8Array(new SharedArrayBuffer(16 * PAGE_SIZE)) };
      expect(() => windowOf(region, 100, PAGE_SIZE)).to.throw(TransportError, /page-aligned/);
      expect(() => windowOf(region, 15 * PAGE_SIZE, 2 * PAGE_SIZE)).to.throw(TransportError);
      const bad = { shared: region.shared, bulk: new Uint8Array(PAGE_SIZE) };
      expect(() => windowOf(bad, 0, PAGE_SIZE)).to.throw(TransportError, /differ in length/);
    });
  });
});
