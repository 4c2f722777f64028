import { expect } from 'chai';
import { PAGE_SIZE, WindowLayout } from '@sivshm/abi';
import { TransportError } from '../errors/transport-error.js';
import { RegionLayout } from './region-layout.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return TransportError.is(e) ? e.code : 'not a TransportError';
  }
  return undefined;
}

describe('RegionLayout', () => {
  describe('.compute', () => {
    it('should place header, control and data sections back to back on page boundaries', () => {
      const l = RegionLayout.compute({ regionSize: 4 << 20, channelCapacity: 64 });
      expect(l.headerSize).to.equal(PAGE_SIZE);
      expect(l.controlOffset).to.equal(PAGE_SIZE);
      expect(l.controlSize).to.equal(PAGE_SIZE); // 64 entries × 64 B
      expect(l.dataOffset).to.equal(2 * PAGE_SIZE);
      expect(l.dataSize).to.equal((4 << 20) - 2 * PAGE_SIZE);
      expect(l.channelEntrySize).to.equal(64);
    });

    it('should round the control section up to whole pages', () => {
      const l = RegionLayout.compute({ regionSize: 1 << 20, channelCapacity: 65 });
      expect(l.controlSize).to.equal(2 * PAGE_SIZE);
      expect(l.dataOffset % PAGE_SIZE).to.equal(0);
    });

    it('should reject a region size that is not a power of two', () => {
      expect(
        codeOf(() => RegionLayout.compute({ regionSize: 3 << 20, channelCapacity: 1 })),
      ).to.equal('ERR_BAD_ARGUMENT');
    });

    it('should reject a capacity of 0 and one above the maximum', () => {
      expect(
        codeOf(() => RegionLayout.compute({ regionSize: 1 << 20, channelCapacity: 0 })),
      ).to.equal('ERR_BAD_ARGUMENT');
      expect(
        codeOf(() => RegionLayout.compute({ regionSize: 1 << 20, channelCapacity: 65_537 })),
      ).to.equal('ERR_BAD_ARGUMENT');
    });

    it('should reject a table so large that not even one minimal window fits', () => {
      // 64 KiB region, 896 entries = 14 pages of table: 64 KiB − 15 pages < a 6-page window.
      expect(
        codeOf(() => RegionLayout.compute({ regionSize: 1 << 16, channelCapacity: 896 })),
      ).to.equal('ERR_BAD_ARGUMENT');
      const ok = RegionLayout.compute({ regionSize: 1 << 16, channelCapacity: 64 });
      expect(ok.dataSize).to.be.at.least(WindowLayout.windowLength(PAGE_SIZE));
    });
  });
});
