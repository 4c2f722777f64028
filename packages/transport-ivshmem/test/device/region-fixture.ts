// A real region file under /dev/shm with a region header (layout v1 unless a larger page
// granule is asked for), for device tests.
import { randomBytes } from 'node:crypto';
import type { PageGranule } from '@sivshm/abi';
import { rmSync } from 'node:fs';
import { closeFd } from '../../src/native/fd.js';
import { createRegionFile, mapFile, unmap } from '../../src/native/map-file.js';
import { writeRegionHeader } from '../../src/region/region-header.js';
import { RegionLayout, type RegionLayoutInfo } from '../../src/region/region-layout.js';

export interface RegionFixture {
  readonly path: string;
  readonly layout: RegionLayoutInfo;
  read(offset: number, length: number): Uint8Array;
  /** Rewrites the header with another epoch (a hostd restart). */
  setEpoch(epoch: bigint): void;
  remove(): void;
}

/** Creates /dev/shm/sivshm-test-<random> of `size` bytes with a header at `epoch`. */
export function createRegionFixture(
  size = 1 << 20,
  epoch = 3n,
  pageGranule: PageGranule = 4096,
): RegionFixture {
  const path = `/dev/shm/sivshm-test-${randomBytes(6).toString('hex')}`;
  closeFd(createRegionFile(path, size, { exclusive: true }));
  const layout = RegionLayout.compute({ regionSize: size, channelCapacity: 16, pageGranule });
  const withRegion = <T>(f: (r: Uint8Array) => T): T => {
    const m = mapFile(path, 0, size, { writable: true });
    try {
      return f(new Uint8Array(m.shared));
    } finally {
      unmap(m.handle);
    }
  };
  withRegion((r) => writeRegionHeader(r, layout, epoch));
  return {
    path,
    layout,
    read: (offset, length) => withRegion((r) => r.slice(offset, offset + length)),
    setEpoch: (e) => withRegion((r) => writeRegionHeader(r, layout, e)),
    remove: () => rmSync(path, { force: true }),
  };
}
