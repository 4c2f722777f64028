// `sivshm inspect`: a real region file with one channel whose rings hold known indices.
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { runCliSync } from '@sivshm/testing';
import { PAGE_SIZE, WindowLayout } from '@sivshm/abi';
import {
  ChannelTableWriter,
  closeFd,
  createRegionFile,
  mapFile,
  RegionLayout,
  unmap,
  writeRegionHeader,
} from '@sivshm/transport-ivshmem';

const sivshm = (...args: string[]) => runCliSync(args);

describe('sivshm inspect', () => {
  const file = `/dev/shm/sivshm-inspect-${randomBytes(4).toString('hex')}`;
  const size = 1 << 20;
  const dataSize = 4 * PAGE_SIZE;

  before(() => {
    closeFd(createRegionFile(file, size, { exclusive: true }));
    const m = mapFile(file, 0, size, { writable: true });
    try {
      const region = new Uint8Array(m.shared);
      const layout = RegionLayout.compute({ regionSize: size, channelCapacity: 8 });
      writeRegionHeader(region, layout, 5n);
      new ChannelTableWriter(region, layout).write(2, {
        channelId: 0xabcdn,
        generation: 1,
        state: 'ACTIVE',
        offset: layout.dataOffset,
        length: WindowLayout.windowLength(dataSize),
        consumerVm: 2,
        providerVm: 1,
        service: 0x1234,
        instance: 1,
        major: 1,
        mode: 0,
        ringDataSize: dataSize,
      });
      const dv = new DataView(m.shared, layout.dataOffset);
      const dir = WindowLayout.directionSize(dataSize);
      dv.setUint32(0, 96, true); // c2p producer index
      dv.setUint32(PAGE_SIZE, 64, true); // c2p consumer index
      dv.setUint32(64, 7, true); // c2p heartbeat
      dv.setUint32(dir, dataSize + 4096, true); // p2c producer index: beyond capacity (hostile)
    } finally {
      unmap(m.handle);
    }
  });
  after(() => rmSync(file, { force: true }));

  it('should print the header, the channel and both ring states as JSON', () => {
    const r = sivshm('inspect', file, '--json');
    expect(r.status, r.stderr).to.equal(0);
    const j = JSON.parse(r.stdout) as {
      header: { epoch: string; regionSize: number };
      channels: Array<{
        index: number;
        entry: { channelId: string; state: string };
        c2p: { used: number; heartbeat: number; violation: boolean };
        p2c: { violation: boolean };
      }>;
    };
    expect(j.header).to.deep.include({ epoch: '5', regionSize: size });
    expect(j.channels).to.have.length(1);
    const c = j.channels[0]!;
    expect(c.index).to.equal(2);
    // 0x hex, as in `sivshm status --json` and hostd's logs.
    expect(c.entry).to.deep.include({ channelId: '0xabcd', state: 'ACTIVE' });
    expect(c.c2p).to.deep.include({ used: 32, heartbeat: 7, violation: false });
    expect(c.p2c.violation).to.equal(true);
  });

  it('should print a human summary that flags a broken ring', () => {
    const r = sivshm('inspect', file);
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/epoch 5/);
    expect(r.stdout).to.match(
      /channel 0xabcd ACTIVE gen \d+: service 0x[0-9a-f]{4} instance 0x0001 /,
    );
    expect(r.stdout).to.match(/c2p: prod 96 cons 64 used 32\/16384 B heartbeat 7/);
    expect(r.stdout).to.match(/p2c: .*VIOLATION/);
  });

  it('should say what is wrong with a missing or foreign region', () => {
    const missing = sivshm('inspect', '/dev/shm/sivshm-does-not-exist');
    expect(missing.status).to.equal(1);
    expect(missing.stderr).to.match(/cannot open region/);
    const foreign = `/dev/shm/sivshm-foreign-${randomBytes(4).toString('hex')}`;
    closeFd(createRegionFile(foreign, 65536, { exclusive: true }));
    try {
      const r = sivshm('inspect', foreign);
      expect(r.status).to.equal(1);
      expect(r.stderr).to.match(/region header rejected: bad magic/);
    } finally {
      rmSync(foreign, { force: true });
    }
  });
});
