import { expect } from 'chai';
import { Worker } from 'node:worker_threads';
import { ChannelEntryLayout, WindowLayout, type ChannelEntry } from '@sivshm/abi';
import { TransportError } from '../errors/transport-error.js';
import { ChannelTableReader } from './channel-table-reader.js';
import { ChannelTableWriter } from './channel-table-writer.js';
import { writeRegionHeader } from './region-header.js';
import { RegionLayout } from './region-layout.js';
import type { RegionLayoutInfo } from './region-layout.js';

const SIZE = 1 << 20;
const DATA = 16 * 1024;

function setup(): { region: Uint8Array; layout: RegionLayoutInfo } {
  const region = new Uint8Array(new SharedArrayBuffer(SIZE));
  const layout = RegionLayout.compute({ regionSize: SIZE, channelCapacity: 16 });
  writeRegionHeader(region, layout, 1n);
  return { region, layout };
}

function entry(layout: RegionLayoutInfo, over: Partial<ChannelEntry> = {}): ChannelEntry {
  return {
    channelId: 0x1234_5678_9abc_def0n,
    generation: 1,
    state: 'ACTIVE',
    offset: layout.dataOffset,
    length: WindowLayout.windowLength(DATA),
    consumerVm: 1,
    providerVm: 2,
    service: 0x1234,
    instance: 1,
    major: 1,
    mode: 0,
    ringDataSize: DATA,
    ...over,
  };
}

function err(fn: () => unknown): TransportError {
  try {
    fn();
  } catch (e) {
    if (TransportError.is(e)) return e;
    throw e;
  }
  throw new Error('expected a TransportError');
}

describe('ChannelTableReader', () => {
  describe('.read', () => {
    it('should return what the writer stored, field for field', () => {
      const { region, layout } = setup();
      const w = new ChannelTableWriter(region, layout);
      const e = entry(layout, { service: 0xfffe, instance: 0xffff, major: 255, mode: 2 });
      w.write(3, e);
      expect(new ChannelTableReader(region, layout).read(3)).to.deep.equal(e);
    });

    it('should bump the seqlock word by two per write and leave it even', () => {
      const { region, layout } = setup();
      const w = new ChannelTableWriter(region, layout);
      const seqAt = layout.controlOffset + ChannelEntryLayout.off.seq;
      w.write(0, entry(layout));
      w.setState(0, 'CLOSING');
      expect(new DataView(region.buffer).getUint32(seqAt, true)).to.equal(4);
    });

    it('should reject a corrupt entry: window outside the data section', () => {
      const { region, layout } = setup();
      new ChannelTableWriter(region, layout).write(0, entry(layout));
      new DataView(region.buffer).setBigUint64(layout.controlOffset + 16, 4096n, true);
      const e = err(() => new ChannelTableReader(region, layout).read(0));
      expect(e.code).to.equal('ERR_REGION');
      expect(e.message).to.match(/outside the data section/);
    });

    it('should reject a corrupt entry: unknown state, bad length, non-zero reserved bytes', () => {
      const { region, layout } = setup();
      const dv = new DataView(region.buffer);
      const base = layout.controlOffset;
      const reader = new ChannelTableReader(region, layout);
      const w = new ChannelTableWriter(region, layout);
      w.write(0, entry(layout));
      dv.setUint32(base + 12, 9, true);
      expect(err(() => reader.read(0)).message).to.match(/unknown state/);
      w.write(0, entry(layout));
      dv.setBigUint64(base + 24, 4096n * 5n, true);
      expect(err(() => reader.read(0)).message).to.match(/length/);
      w.write(0, entry(layout));
      dv.setUint32(base + 52, 1, true);
      expect(err(() => reader.read(0)).message).to.match(/reserved/);
      w.write(0, entry(layout));
      dv.setUint32(base + 48, 3 * 4096, true);
      expect(err(() => reader.read(0)).message).to.match(/ring_data_size/);
    });

    it('should refuse an entry whose writer never finished (odd seqlock word)', () => {
      const { region, layout } = setup();
      new DataView(region.buffer).setUint32(
        layout.controlOffset + ChannelEntryLayout.off.seq,
        1,
        true,
      );
      expect(err(() => new ChannelTableReader(region, layout).read(0)).message).to.match(
        /kept changing/,
      );
    });

    it('should never return a torn entry while another thread rewrites it', async function () {
      this.timeout(15_000);
      const { region, layout } = setup();
      const w = new ChannelTableWriter(region, layout);
      const a = entry(layout, {
        channelId: 0x1111_1111_1111_1111n,
        service: 0x1111,
        instance: 0x1111,
      });
      w.write(0, a);
      // The worker plays hostd: it alternates two complete versions using the same seqlock
      // protocol (odd, fields, even) until told to stop.
      const stop = new Int32Array(new SharedArrayBuffer(4));
      const worker = new Worker(
        `const { workerData: { buf, base, stop } } = require('node:worker_threads');
         const words = new Uint32Array(buf, base, 16); const dv = new DataView(buf, base, 64);
         const stopW = new Int32Array(stop);
         for (let i = 0; i < 5e6 && Atomics.load(stopW, 0) === 0; i++) {
           const s = Atomics.load(words, 15); Atomics.store(words, 15, s + 1);
           const v = (i & 1) ? 0x11 : 0x22;
           for (let b = 0; b < 8; b++) dv.setUint8(b, v);
           dv.setUint16(40, v * 0x101, true); dv.setUint16(42, v * 0x101, true);
           Atomics.store(words, 15, s + 2);
           for (let k = 0; k < 200; k++) Atomics.load(stopW, 0); // hostd does other work between updates
         }`,
        {
          eval: true,
          workerData: { buf: region.buffer, base: layout.controlOffset, stop: stop.buffer },
        },
      );
      const reader = new ChannelTableReader(region, layout);
      let consistent = 0;
      const deadline = Date.now() + 2000;
      try {
        while (Date.now() < deadline && consistent < 200_000) {
          const e = reader.read(0);
          const v = e.service & 0xff;
          expect(e.service).to.equal(v * 0x101);
          expect(e.instance).to.equal(v * 0x101);
          expect(e.channelId).to.equal(BigInt(v) * 0x0101_0101_0101_0101n);
          consistent++;
        }
      } finally {
        Atomics.store(stop, 0, 1);
        await worker.terminate();
      }
      expect(consistent).to.be.greaterThan(0);
    });
  });

  describe('.entries', () => {
    it('should list used entries sorted by offset and skip FREE ones', () => {
      const { region, layout } = setup();
      const w = new ChannelTableWriter(region, layout);
      const len = WindowLayout.windowLength(DATA);
      w.write(5, entry(layout, { channelId: 5n, offset: layout.dataOffset + len }));
      w.write(2, entry(layout, { channelId: 2n, offset: layout.dataOffset }));
      w.write(
        7,
        entry(layout, { channelId: 7n, offset: layout.dataOffset + 2 * len, state: 'PENDING' }),
      );
      w.free(7);
      const list = new ChannelTableReader(region, layout).entries();
      expect(list.map((e) => e.index)).to.deep.equal([2, 5]);
      expect(new ChannelTableReader(region, layout).find(5n)?.index).to.equal(5);
      expect(new ChannelTableReader(region, layout).find(7n)).to.equal(undefined);
      expect(w.read(7).generation).to.equal(1);
    });

    it('should reject a table in which two windows overlap', () => {
      const { region, layout } = setup();
      const w = new ChannelTableWriter(region, layout);
      w.write(0, entry(layout, { channelId: 1n }));
      // Forge an overlapping entry past the writer's own check.
      region.copyWithin(layout.controlOffset + 64, layout.controlOffset, layout.controlOffset + 64);
      new DataView(region.buffer).setBigUint64(layout.controlOffset + 64, 2n, true);
      expect(err(() => new ChannelTableReader(region, layout).entries()).message).to.match(
        /overlap/,
      );
    });
  });
});

describe('ChannelTableWriter', () => {
  describe('.write', () => {
    it('should refuse an overlapping window, a duplicate channel id and an invalid entry', () => {
      const { region, layout } = setup();
      const w = new ChannelTableWriter(region, layout);
      w.write(0, entry(layout, { channelId: 1n }));
      expect(err(() => w.write(1, entry(layout, { channelId: 2n }))).message).to.match(/overlaps/);
      const len = WindowLayout.windowLength(DATA);
      expect(
        err(() => w.write(1, entry(layout, { channelId: 1n, offset: layout.dataOffset + len })))
          .message,
      ).to.match(/already used/);
      expect(
        err(() => w.write(1, entry(layout, { offset: layout.dataOffset + 100 }))).code,
      ).to.equal('ERR_BAD_ARGUMENT');
      expect(err(() => w.write(1, entry(layout, { generation: 0 }))).message).to.match(
        /generation 0/,
      );
      expect(err(() => w.write(16, entry(layout))).message).to.match(/out of range/);
    });

    it('should find the first free slot and report none when full', () => {
      const { region, layout } = setup();
      const w = new ChannelTableWriter(region, layout);
      expect(w.findFree()).to.equal(0);
      const len = WindowLayout.windowLength(DATA);
      for (let i = 0; i < 16; i++) {
        w.write(
          i,
          entry(layout, { channelId: BigInt(i + 1), offset: layout.dataOffset + i * len }),
        );
      }
      expect(w.findFree()).to.equal(undefined);
    });
  });
});
