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

    it('should reject a region that was never initialised (zero magic)', () => {
      const e = rejection(() => readRegionHeader(new Uint8Array(SIZE)));
      expect(e.code).to.equal('ERR_REGION');
      expect(e.message).to.match(/magic/);
    });

    it('should reject a foreign layout version', () => {
      const r = freshRegion();
      new DataView(r.buffer).setUint32(RegionHeaderLayout.off.layoutVersion, 2, true);
      expect(rejection(() => readRegionHeader(r)).message).to.match(/layout version 2/);
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
