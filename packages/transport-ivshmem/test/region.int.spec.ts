import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { unlinkSync } from 'node:fs';
import { RegionHeaderLayout, WindowLayout, type ChannelEntry } from '@sivshm/abi';
import { closeFd } from '../src/native/fd.js';
import { createRegionFile, mapFile, unmap } from '../src/native/map-file.js';
import type { MappedFile } from '../src/native/map-file.js';
import { ChannelTableWriter } from '../src/region/channel-table-writer.js';
import { writeRegionHeader } from '../src/region/region-header.js';
import { RegionLayout } from '../src/region/region-layout.js';
import type { RegionLayoutInfo } from '../src/region/region-layout.js';
import { addonUnavailable } from './helpers/shm-channel.js';
import { collect, helperUrl, spawnNode } from './helpers/spawn-node.js';

const SIZE = 1 << 20;

function makeRegion(): { path: string; m: MappedFile; layout: RegionLayoutInfo; close(): void } {
  const path = `/dev/shm/sivshm-region-test-${process.pid}-${randomBytes(4).toString('hex')}`;
  closeFd(createRegionFile(path, SIZE, { exclusive: true }));
  const m = mapFile(path, 0, SIZE, { writable: true });
  const layout = RegionLayout.compute({ regionSize: SIZE, channelCapacity: 8 });
  writeRegionHeader(new Uint8Array(m.shared), layout, 3n);
  return {
    path,
    m,
    layout,
    close() {
      unmap(m.handle);
      unlinkSync(path);
    },
  };
}

function version(layout: RegionLayoutInfo, v: number): ChannelEntry {
  return {
    channelId: BigInt(v),
    generation: 1,
    state: 'ACTIVE',
    offset: layout.dataOffset,
    length: WindowLayout.windowLength(4096),
    consumerVm: 1,
    providerVm: 2,
    service: v,
    instance: v,
    major: 1,
    mode: 0,
    ringDataSize: 4096,
  };
}

async function readIn(path: string, ms: number): Promise<Record<string, unknown>> {
  const out = await collect(spawnNode(helperUrl('region-reader'), [path, String(ms)]));
  return JSON.parse(out.stdout.trim() || JSON.stringify({ stderr: out.stderr })) as Record<
    string,
    unknown
  >;
}

describe('Region across OS processes (mapped /dev/shm file)', () => {
  beforeEach(function () {
    const why = addonUnavailable();
    if (why !== undefined) {
      console.log(`      skipped: needs the native addon (${why})`);
      this.skip();
    }
  });

  it('should never hand a reader process a torn channel entry while hostd rewrites it', async function () {
    this.timeout(30_000);
    const r = makeRegion();
    try {
      const writer = new ChannelTableWriter(new Uint8Array(r.m.shared), r.layout);
      const a = version(r.layout, 0x1111);
      const b = version(r.layout, 0x2222);
      writer.write(0, a);
      const result = readIn(r.path, 1500);
      let done = false;
      void result.then(() => (done = true));
      let writes = 0;
      const until = Date.now() + 20_000;
      while (!done && Date.now() < until) {
        for (let i = 0; i < 200; i++, writes++) writer.write(0, writes % 2 === 0 ? b : a);
        await new Promise((res) => setImmediate(res));
      }
      const got = await result;
      console.log(`      hostd wrote ${writes} times; reader: ${JSON.stringify(got)}`);
      expect(got.torn).to.equal(0);
      expect(got.reads as number).to.be.greaterThan(0);
    } finally {
      r.close();
    }
  });

  it('should make a reader process refuse a region whose header is foreign (ERR_REGION)', async function () {
    this.timeout(30_000);
    const r = makeRegion();
    try {
      new DataView(r.m.shared).setUint32(RegionHeaderLayout.off.layoutVersion, 9, true);
      const got = await readIn(r.path, 0);
      expect(got.error).to.equal('ERR_REGION');
      expect(got.message).to.match(/layout version 9/);
    } finally {
      r.close();
    }
  });
});
