import { expect } from 'chai';
import { RegionHeaderLayout } from '@sivshm/abi';
import { TransportError } from '../errors/transport-error.js';
import { HostdHeartbeat, readRegionHeader, writeRegionHeader } from './region-header.js';
import { RegionLayout } from './region-layout.js';

const SIZE = 1 << 20;

function freshRegion(): Uint8Array {
  const region = new Uint8Array(new SharedArrayBuffer(SIZE));
  writeRegionHeader(region, RegionLayout.compute({ regionSize: SIZE, channelCapacity: 32 }), 7n);
  return region;
}

function rejection(fn: () => unknown): TransportError {
  try {
    fn();
  } catch (e) {
    if (TransportError.is(e)) return e;
    throw e;
  }
  throw new Error('expected a TransportError');
}

describe('RegionHeader', () => {
  describe('readRegionHeader', () => {
    it('should read back what writeRegionHeader wrote', () => {
      const info = readRegionHeader(freshRegion());
      expect(info.epoch).to.equal(7n);
      expect(info).to.deep.include(RegionLayout.compute({ regionSize: SIZE, channelCapacity: 32 }));
    });

    it('should read the header page alone against the region size it is given, and refuse another size', () => {
      const page = freshRegion().slice(0, 4096);
      expect(readRegionHeader(page, SIZE).regionSize).to.equal(SIZE);
      expect(rejection(() => readRegionHeader(page, SIZE / 2)).message).to.match(
        /differs from the mapped size 524288/,
      );
      expect(rejection(() => readRegionHeader(page)).message).to.match(/differs from the mapped/);
    });

    it('should reject a region that was never initialised (zero magic)', () => {
      const e = rejection(() => readRegionHeader(new Uint8Array(SIZE)));
      expect(e.code).to.equal('ERR_REGION');
      expect(e.message).to.match(/magic/);
    });

    it('should reject a foreign layout version', () => {
      const r = freshRegion();
      // version 2 is the page-granule layout; 3 is nobody's
      new DataView(r.buffer).setUint32(RegionHeaderLayout.off.layoutVersion, 3, true);
      expect(rejection(() => readRegionHeader(r)).message).to.match(/layout version 3/);
    });

    it('should reject a region size that differs from the mapped size', () => {
      const r = freshRegion();
      new DataView(r.buffer).setBigUint64(
        RegionHeaderLayout.off.regionSize,
        BigInt(SIZE * 2),
        true,
      );
      expect(rejection(() => readRegionHeader(r)).message).to.match(/mapped size/);
    });

    it('should reject a data offset that does not follow from size and capacity', () => {
      const r = freshRegion();
      new DataView(r.buffer).setBigUint64(RegionHeaderLayout.off.dataOffset, 4096n, true);
      expect(rejection(() => readRegionHeader(r)).message).to.match(/dataOffset/);
    });

    it('should reject a capacity that would leave no data section', () => {
      const r = freshRegion();
      new DataView(r.buffer).setUint32(RegionHeaderLayout.off.channelCapacity, 0, true);
      expect(rejection(() => readRegionHeader(r)).code).to.equal('ERR_REGION');
    });

    it('should reject unknown flags and epoch 0', () => {
      const r = freshRegion();
      new DataView(r.buffer).setUint32(RegionHeaderLayout.off.flags, 1, true);
      expect(rejection(() => readRegionHeader(r)).message).to.match(/flags/);
      const r2 = freshRegion();
      new DataView(r2.buffer).setBigUint64(RegionHeaderLayout.off.epoch, 0n, true);
      expect(rejection(() => readRegionHeader(r2)).message).to.match(/epoch 0/);
    });

    it('should reject a view smaller than the header page', () => {
      expect(rejection(() => readRegionHeader(new Uint8Array(100))).code).to.equal('ERR_REGION');
    });
  });

  describe('writeRegionHeader', () => {
    it('should refuse epoch 0 and a layout for another size', () => {
      const region = new Uint8Array(SIZE);
      const layout = RegionLayout.compute({ regionSize: SIZE, channelCapacity: 32 });
      expect(rejection(() => writeRegionHeader(region, layout, 0n)).code).to.equal(
        'ERR_BAD_ARGUMENT',
      );
      const other = RegionLayout.compute({ regionSize: SIZE * 2, channelCapacity: 32 });
      expect(rejection(() => writeRegionHeader(region, other, 1n)).code).to.equal(
        'ERR_BAD_ARGUMENT',
      );
    });
  });

  describe('page granule', () => {
    const granuleRegion = (pageGranule: number): Uint8Array => {
      const region = new Uint8Array(new SharedArrayBuffer(SIZE));
      const layout = RegionLayout.compute({ regionSize: SIZE, channelCapacity: 32, pageGranule });
      writeRegionHeader(region, layout, 7n);
      return region;
    };
    const word = (r: Uint8Array, off: number): number =>
      new DataView(r.buffer, r.byteOffset).getUint32(off, true);
    const O = RegionHeaderLayout.off;

    it('should write a 4 KiB granule as layout v1, byte for byte', () => {
      const v1 = granuleRegion(4096);
      expect(v1).to.deep.equal(freshRegion());
      expect([word(v1, O.layoutVersion), word(v1, O.pageGranule)]).to.deep.equal([1, 0]);
      expect(readRegionHeader(v1).pageGranule).to.equal(4096);
    });

    it('should write a larger granule as version 2 and read it back', () => {
      for (const g of [16384, 65536]) {
        const r = granuleRegion(g);
        expect([word(r, O.layoutVersion), word(r, O.pageGranule)]).to.deep.equal([2, g]);
        const info = readRegionHeader(r);
        expect(info.pageGranule).to.equal(g);
        expect(info.dataOffset % g).to.equal(0);
      }
    });

    it('should refuse a granule word that disagrees with the version, or an unknown granule', () => {
      const v1 = granuleRegion(4096);
      new DataView(v1.buffer).setUint32(O.pageGranule, 16384, true);
      expect(rejection(() => readRegionHeader(v1)).message).to.match(/layout v1 with page_granule/);
      const v2 = granuleRegion(16384);
      new DataView(v2.buffer).setUint32(O.pageGranule, 8192, true);
      expect(rejection(() => readRegionHeader(v2)).message).to.match(/page_granule 8192/);
      new DataView(v2.buffer).setUint32(O.pageGranule, 65536, true);
      expect(rejection(() => readRegionHeader(v2)).message).to.match(/dataOffset|controlSize/);
      expect(() =>
        RegionLayout.compute({ regionSize: SIZE, channelCapacity: 1, pageGranule: 8192 }),
      ).to.throw(TransportError, /pageGranule 8192 is not allowed/);
    });
  });

  describe('HostdHeartbeat', () => {
    it('should store and load a 64-bit value through the header word', () => {
      const r = freshRegion();
      const hb = new HostdHeartbeat(r);
      hb.store(0x1_0000_0001n);
      expect(new HostdHeartbeat(r).load()).to.equal(0x1_0000_0001n);
      expect(
        new DataView(r.buffer).getBigUint64(RegionHeaderLayout.off.hostdHeartbeatNs, true),
      ).to.equal(0x1_0000_0001n);
    });
  });
});
