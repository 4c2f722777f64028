// The read-only control file (docs/protocol.md §10.4) in emulated mode: hostd's copy of the region
// header and channel table beside the region, which a VM's process reads through a descriptor
// opened read-only and takes its epoch and layout from, never from the region's own header.
import { expect } from 'chai';
import { readFileSync, rmSync, writeSync } from 'node:fs';
import { ControlFileLayout } from '@sivshm/abi';
import { EmulatedDevice } from '../../src/device/emulated-device.js';
import { TransportError } from '../../src/errors/transport-error.js';
import { closeFd } from '../../src/native/fd.js';
import { mapFile, unmap } from '../../src/native/map-file.js';
import { ChannelTableReader } from '../../src/region/channel-table-reader.js';
import { ChannelTableWriter } from '../../src/region/channel-table-writer.js';
import {
  ControlFileReader,
  controlPathFor,
  createControlFile,
  type ControlFile,
} from '../../src/region/control-file.js';
import { readControlHeader, readRegionHeader } from '../../src/region/region-header.js';
import { createRegionFixture, type RegionFixture } from './region-fixture.js';

const KEY = new Uint8Array(32).fill(0x42);

describe('control file (read-only header and table, emulated mode)', () => {
  let region: RegionFixture;
  let control: ControlFile;

  beforeEach(() => {
    region = createRegionFixture(1 << 20, 3n);
    control = createControlFile(controlPathFor(region.path), region.layout, 9n);
  });

  afterEach(() => {
    unmap(control.mapping.handle);
    closeFd(control.fd);
    rmSync(control.path, { force: true });
    region.remove();
  });

  it('should hold the header under its own magic, which no region reader accepts', () => {
    const file = new Uint8Array(readFileSync(control.path));
    expect(file.byteLength).to.equal(ControlFileLayout.sizeFor(region.layout.dataOffset));
    const h = readControlHeader(file);
    expect(h.epoch).to.equal(9n);
    expect(h.dataOffset).to.equal(region.layout.dataOffset);
    expect(h.regionSize).to.equal(region.layout.regionSize);
    expect(() => readRegionHeader(file, h.regionSize))
      .to.throw(TransportError)
      .with.property('code', 'ERR_REGION');
    expect(() => readControlHeader(region.read(0, 4096))).to.throw(/bad magic/);
  });

  it('should write every table entry to the control file and the region mirror alike', () => {
    const mirror = mapFile(region.path, 0, region.layout.regionSize, { writable: true });
    try {
      const table = new ChannelTableWriter(new Uint8Array(control.mapping.shared), region.layout, {
        mirror: new Uint8Array(mirror.shared),
      });
      table.write(2, {
        channelId: 0x55n,
        generation: 1,
        state: 'ACTIVE',
        offset: region.layout.dataOffset,
        length: 4 * 4096 + 2 * 16384,
        consumerVm: 2,
        providerVm: 1,
        service: 0x1234,
        instance: 1,
        major: 1,
        mode: 0,
        ringDataSize: 16384,
      });
      const fromControl = new ChannelTableReader(
        new Uint8Array(readFileSync(control.path)),
        region.layout,
      );
      const fromRegion = new ChannelTableReader(new Uint8Array(mirror.shared), region.layout);
      expect(fromControl.find(0x55n)?.index).to.equal(2);
      expect(fromRegion.read(2)).to.deep.equal(fromControl.read(2));
    } finally {
      unmap(mirror.handle);
    }
  });

  it("should give the VM's device the control file's epoch, read through a read-only descriptor", () => {
    const device = new EmulatedDevice({ regionPath: region.path, vmId: 2, grantKey: KEY });
    try {
      // the region's own header says epoch 3; the control file, which hostd keeps, says 9
      expect(device.info().epoch).to.equal(9n);
      const fd = device.controlFd!;
      expect(fd).to.be.a('number');
      expect(() => writeSync(fd, Buffer.from('scribble'), 0, 8, 0))
        .to.throw()
        .with.property('code', 'EBADF');
      expect(readControlHeader(new Uint8Array(readFileSync(control.path))).epoch).to.equal(9n);
    } finally {
      device.close();
    }
  });

  it('should follow a control file hostd made again (a restart) and refuse one of another region', () => {
    const reader = new ControlFileReader(control.path);
    try {
      expect(reader.header().epoch).to.equal(9n);
      unmap(control.mapping.handle);
      closeFd(control.fd);
      control = createControlFile(control.path, region.layout, 10n);
      expect(reader.header().epoch).to.equal(10n);
    } finally {
      reader.close();
    }
    const other = createRegionFixture(1 << 21, 3n);
    try {
      const device = new EmulatedDevice({ regionPath: region.path, vmId: 2, grantKey: KEY });
      device.close();
      rmSync(control.path);
      unmap(control.mapping.handle);
      closeFd(control.fd);
      control = createControlFile(control.path, other.layout, 11n);
      expect(() => new EmulatedDevice({ regionPath: region.path, vmId: 2, grantKey: KEY }))
        .to.throw(TransportError)
        .with.property('message')
        .that.matches(/names a region of 2097152 bytes/);
    } finally {
      other.remove();
    }
  });

  it('should read the region header when no control file is beside it (a region without hostd)', () => {
    rmSync(control.path);
    const device = new EmulatedDevice({ regionPath: region.path, vmId: 2, grantKey: KEY });
    try {
      expect(device.info().epoch).to.equal(3n);
    } finally {
      device.close();
    }
  });
});
