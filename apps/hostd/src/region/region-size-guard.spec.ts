import { expect } from 'chai';
import { closeSync, ftruncateSync, openSync, readSync, rmSync, truncateSync } from 'node:fs';
import {
  RegionLayout,
  closeFd,
  createRegionFile,
  mapFile,
  readRegionHeader,
  sigbusGuardInfo,
  unmap,
  writeRegionHeader,
} from '@sivshm/transport-ivshmem';
import { JsonLogger } from '../log/logger.js';
import { RegionSizeGuard } from './region-size-guard.js';

const SIZE = 1 << 20;
const PAGE = 4096;

/** A byte of the file as the file holds it (not through any mapping). */
function fileByte(path: string, offset: number): number {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, offset);
    return b[0]!;
  } finally {
    closeSync(fd);
  }
}

describe('RegionSizeGuard', () => {
  const path = `/dev/shm/sivshm-size-guard-${process.pid}`;
  let fd: number;
  let guard: RegionSizeGuard;
  let drops: number;
  let logs: Record<string, unknown>[];
  let shared: Uint8Array;
  let handle: ReturnType<typeof mapFile>['handle'];

  beforeEach(() => {
    const layout = RegionLayout.compute({ regionSize: SIZE, channelCapacity: 8 });
    fd = createRegionFile(path, SIZE, { exclusive: true });
    const mapping = mapFile(path, 0, SIZE, { writable: true });
    shared = new Uint8Array(mapping.shared);
    handle = mapping.handle;
    writeRegionHeader(shared, layout, 7n);
    drops = 0;
    logs = [];
    const log = new JsonLogger(
      'debug',
      (l) => void logs.push(JSON.parse(l) as Record<string, unknown>),
    );
    guard = new RegionSizeGuard({
      region: { fd, mapping, layout },
      size: SIZE,
      path,
      epoch: 7n,
      log,
      dropEveryVm: () => drops++,
    });
  });

  afterEach(() => {
    unmap(handle);
    closeFd(fd);
    rmSync(path, { force: true });
  });

  it('should grow a shrunk region back, rewrite its header and drop every VM, once', () => {
    expect(guard.intact()).to.equal(true);
    truncateSync(path, PAGE);
    expect(guard.intact(), 'restored at once').to.equal(true);
    expect(guard.actualSize()).to.equal(SIZE);
    expect(drops).to.equal(1);
    expect(readRegionHeader(shared).epoch).to.equal(7n);
    expect(logs.filter((l) => l['event'] === 'region-shrunk')).to.have.length(1);
    expect(guard.intact()).to.equal(true);
    expect(drops).to.equal(1);
  });

  it('should recover when hostd itself touched the region past the new end (the fault absorbed), even if the file was grown back before it looked', () => {
    const absorbed = sigbusGuardInfo().absorbed;
    ftruncateSync(fd, 0); // the header page too
    // hostd's own access between the truncation and its next look: without the SIGBUS guard
    // this process (mocha) would die here.
    shared[SIZE - 1] = 1;
    expect(sigbusGuardInfo().absorbed).to.equal(absorbed + 1);
    // The replacement ran from the faulting page to the end; page 0 faults (and is absorbed)
    // on its own.
    expect(shared[0], 'zero pages now').to.equal(0);
    expect(sigbusGuardInfo().absorbed).to.equal(absorbed + 2);
    ftruncateSync(fd, SIZE); // someone grew it back: the size alone says nothing is wrong
    expect(guard.intact(), 'restored').to.equal(true);
    const shrunk = logs.filter((l) => l['event'] === 'region-shrunk');
    expect(shrunk).to.have.length(1);
    expect(shrunk[0]!['faultAbsorbed']).to.equal(true);
    expect(drops).to.equal(1);
    // The mapping is the file's again: the header hostd rewrote is in the file, and the file
    // sees what hostd writes.
    expect(readRegionHeader(shared).epoch).to.equal(7n);
    expect(fileByte(path, 0)).to.equal(shared[0]);
    shared[SIZE - 1] = 0x5a;
    expect(fileByte(path, SIZE - 1)).to.equal(0x5a);
    expect(guard.intact()).to.equal(true);
  });
});
