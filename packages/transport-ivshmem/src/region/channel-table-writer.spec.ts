// The channel table writer's index of used entries (so a write does not re-read the whole table)
// against the scan it replaces: over random writes and frees, it accepts and refuses exactly the
// writes that reading every other entry afresh would, and a writer made over a filled table knows
// its entries.
import { expect } from 'chai';
import fc from 'fast-check';
import { WindowLayout, type ChannelEntry } from '@sivshm/abi';
import { TransportError } from '../errors/transport-error.js';
import { ChannelTableReader } from './channel-table-reader.js';
import { ChannelTableWriter } from './channel-table-writer.js';
import { writeRegionHeader } from './region-header.js';
import { RegionLayout, type RegionLayoutInfo } from './region-layout.js';

const SIZE = 1 << 20;
const CAPACITY = 12;
const PAGE = 4096;

function setup(): { region: Uint8Array; layout: RegionLayoutInfo } {
  const region = new Uint8Array(new SharedArrayBuffer(SIZE));
  const layout = RegionLayout.compute({ regionSize: SIZE, channelCapacity: CAPACITY });
  writeRegionHeader(region, layout, 1n);
  return { region, layout };
}

/** Whether the scan the writer used to do (every other used entry, read afresh) refuses it. */
function refusedByScan(
  reader: ChannelTableReader,
  index: number,
  e: ChannelEntry,
): 'overlap' | 'id' | undefined {
  if (e.state === 'FREE') return undefined;
  for (let i = 0; i < reader.capacity; i++) {
    if (i === index) continue;
    const o = reader.read(i);
    if (o.state === 'FREE') continue;
    if (e.offset < o.offset + o.length && o.offset < e.offset + e.length) return 'overlap';
    if (o.channelId === e.channelId) return 'id';
  }
  return undefined;
}

const step = fc.oneof(
  fc.record({
    kind: fc.constant('write' as const),
    index: fc.nat({ max: CAPACITY - 1 }),
    id: fc.integer({ min: 1, max: 16 }),
    page: fc.nat({ max: 40 }),
    big: fc.boolean(),
    pending: fc.boolean(),
  }),
  fc.record({ kind: fc.constant('free' as const), index: fc.nat({ max: CAPACITY - 1 }) }),
  fc.record({ kind: fc.constant('reopen' as const) }),
);

describe('ChannelTableWriter index', () => {
  it('should accept and refuse exactly the writes the full scan would, over random writes and frees', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 10, maxLength: 80, size: 'max' }), (steps) => {
        const { region, layout } = setup();
        const reader = new ChannelTableReader(region, layout);
        let w = new ChannelTableWriter(region, layout);
        for (const s of steps) {
          if (s.kind === 'reopen') {
            w = new ChannelTableWriter(region, layout);
            continue;
          }
          if (s.kind === 'free') {
            w.free(s.index);
            continue;
          }
          const ringDataSize = s.big ? 4 * PAGE : PAGE;
          const e: ChannelEntry = {
            channelId: BigInt(s.id),
            generation: 1,
            state: s.pending ? 'PENDING' : 'ACTIVE',
            offset: layout.dataOffset + s.page * PAGE,
            length: WindowLayout.windowLength(ringDataSize),
            consumerVm: 1,
            providerVm: 2,
            service: 1,
            instance: 1,
            major: 1,
            mode: 0,
            ringDataSize,
          };
          const expected = refusedByScan(reader, s.index, e);
          let refused: string | undefined;
          try {
            w.write(s.index, e);
          } catch (err) {
            if (!TransportError.is(err) || err.code !== 'ERR_BAD_ARGUMENT') throw err;
            refused = /overlaps/.test(err.message) ? 'overlap' : 'id';
          }
          expect(refused !== undefined, JSON.stringify(s)).to.equal(expected !== undefined);
          if (refused === undefined) expect(reader.read(s.index)).to.deep.equal(e);
        }
        const used = reader.entries().map((x) => x.index);
        const firstFree = [...Array(CAPACITY).keys()].find((i) => !used.includes(i));
        expect(w.findFree()).to.equal(firstFree);
      }),
      { numRuns: 300 },
    );
  });

  it('should still refuse a write that conflicts with an entry it found corrupt, until that entry is overwritten', () => {
    const { region, layout } = setup();
    const first = new ChannelTableWriter(region, layout);
    const len = WindowLayout.windowLength(PAGE);
    const entry = (channelId: bigint, offset: number): ChannelEntry => ({
      channelId,
      generation: 1,
      state: 'ACTIVE',
      offset,
      length: len,
      consumerVm: 1,
      providerVm: 2,
      service: 1,
      instance: 1,
      major: 1,
      mode: 0,
      ringDataSize: PAGE,
    });
    first.write(3, entry(7n, layout.dataOffset));
    // Corrupt entry 3's reserved bytes: readers refuse it, so the next writer cannot index it.
    const reserved = layout.controlOffset + 3 * 64 + 56;
    region[reserved] = 0xff;
    const w = new ChannelTableWriter(region, layout);
    expect(() => w.write(0, entry(8n, layout.dataOffset + 8 * PAGE))).to.throw(/rejected/);
    expect(() => w.findFree()).to.not.throw();
    // free() reads the generation back, which a corrupt entry refuses; a FREE entry overwrites it.
    w.write(3, { ...entry(0n, 0), state: 'FREE', length: 0, ringDataSize: 0 });
    w.write(0, entry(8n, layout.dataOffset + 8 * PAGE));
    w.write(1, entry(7n, layout.dataOffset));
    expect(new ChannelTableReader(region, layout).entries().map((x) => x.index)).to.deep.equal([
      1, 0,
    ]);
  });
});
