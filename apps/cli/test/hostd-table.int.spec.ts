// HostdTable: where the host tools read the header and channel table from — hostd's control
// file when the region has one (also after hostd made a new one, and after it went), the region
// itself only when it never had one (docs/protocol.md §10.4).
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { rmSync, truncateSync } from 'node:fs';
import type { ChannelEntry } from '@sivshm/abi';
import {
  ChannelTableWriter,
  closeFd,
  controlPathFor,
  createControlFile,
  createRegionFile,
  mapFile,
  RegionLayout,
  unmap,
  writeRegionHeader,
  type ControlFile,
  type MappedFile,
  type RegionLayoutInfo,
} from '@sivshm/transport-ivshmem';
import { HostdTable } from '../src/diag/hostd-table.js';

const SIZE = 1 << 20;

function entry(layout: RegionLayoutInfo, channelId: bigint): ChannelEntry {
  return {
    channelId,
    generation: 1,
    state: 'ACTIVE',
    offset: layout.dataOffset,
    length: 6 * 4096,
    consumerVm: 2,
    providerVm: 1,
    service: 0x1234,
    instance: 1,
    major: 1,
    mode: 0,
    ringDataSize: 4096,
  };
}

describe('HostdTable (the table the host tools trust)', () => {
  let file: string;
  let region: MappedFile;
  let layout: RegionLayoutInfo;
  const controls: ControlFile[] = [];

  beforeEach(() => {
    file = `/dev/shm/sivshm-hostd-table-${process.pid}-${randomBytes(4).toString('hex')}`;
    closeFd(createRegionFile(file, SIZE, { exclusive: true }));
    region = mapFile(file, 0, SIZE, { writable: true });
    layout = RegionLayout.compute({ regionSize: SIZE, channelCapacity: 8 });
    writeRegionHeader(new Uint8Array(region.shared), layout, 1n);
    // The region's own copy names channel 0x11: what a VM wrote there, or a region without hostd.
    new ChannelTableWriter(new Uint8Array(region.shared), layout).write(0, entry(layout, 0x11n));
  });

  afterEach(() => {
    for (const c of controls.splice(0)) {
      unmap(c.mapping.handle);
      closeFd(c.fd);
    }
    unmap(region.handle);
    rmSync(file, { force: true });
    rmSync(controlPathFor(file), { force: true });
  });

  /** hostd's control file with `channelId` in its table, at `epoch`. */
  function control(channelId: bigint, epoch: bigint): void {
    const c = createControlFile(controlPathFor(file), layout, epoch);
    controls.push(c);
    new ChannelTableWriter(new Uint8Array(c.mapping.shared), layout).write(
      1,
      entry(layout, channelId),
    );
  }

  const ids = (t: HostdTable): bigint[] =>
    t
      .table()
      .entries()
      .map((e) => e.entry.channelId);

  it("should read the region's own table only when there is no control file", () => {
    const t = new HostdTable(file, new Uint8Array(region.shared));
    try {
      expect(ids(t)).to.deep.equal([0x11n]);
      expect(t.source).to.equal(file);
      expect(t.header.epoch).to.equal(1n);
    } finally {
      t.close();
    }
  });

  it("should read hostd's control file, never the region's copy, and follow a new one", () => {
    control(0x22n, 5n);
    const t = new HostdTable(file, new Uint8Array(region.shared));
    try {
      expect(ids(t)).to.deep.equal([0x22n]);
      expect(t.source).to.equal(controlPathFor(file));
      expect(t.header.epoch).to.equal(5n);
      // hostd restarted: a new file (another inode) with another table.
      control(0x33n, 6n);
      expect(ids(t)).to.deep.equal([0x33n]);
      // hostd stopped (its file went): the last one stays, the region's copy is not read.
      rmSync(controlPathFor(file));
      expect(ids(t)).to.deep.equal([0x33n]);
    } finally {
      t.close();
    }
  });

  it('should refuse a control file that names a region of another size', () => {
    control(0x22n, 5n);
    truncateSync(file, SIZE * 2);
    const bigger = mapFile(file, 0, SIZE * 2, { writable: false });
    try {
      expect(() => new HostdTable(file, new Uint8Array(bigger.shared)))
        .to.throw(/names a region of 1048576 bytes/)
        .with.property('code', 'ERR_INPUT');
    } finally {
      unmap(bigger.handle);
    }
  });
});
