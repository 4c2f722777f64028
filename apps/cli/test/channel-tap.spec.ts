// The race a passive tap loses on a busy machine (docs/protocol.md §11.3), forced step by step:
// the channel moves, and hostd zeroes and frees the old window before the tap has read up to its
// move marker (the tap "paused" across the move and the zeroing). The tap must then go on in the
// channel's live window, counting the cut-off, never delivering a record twice, out of order, or
// from another channel that got the freed memory.
import { expect } from 'chai';
import { PAGE_SIZE, WindowLayout, type ChannelEntry } from '@sivshm/abi';
import {
  ChannelTableReader,
  ChannelTableWriter,
  RegionLayout,
  RingProducer,
  readRegionHeader,
  ringViews,
  windowOf,
  writeRegionHeader,
} from '@sivshm/transport-ivshmem';
import { followingTap } from '../src/diag/channel-taps.js';
import type { ChannelTap } from '../src/diag/channel-tap.js';

const DATA = PAGE_SIZE;
const LENGTH = WindowLayout.windowLength(DATA);

/** A region in memory with a channel table, whose windows a test fills, zeroes and frees. */
function testRegion() {
  const size = 1 << 20;
  const region = new Uint8Array(new SharedArrayBuffer(size));
  const layout = RegionLayout.compute({ regionSize: size, channelCapacity: 8 });
  writeRegionHeader(region, layout, 2n);
  const header = readRegionHeader(region);
  const table = new ChannelTableWriter(region, layout);
  const entry = (slot: number, channelId: bigint, instance = 1): ChannelEntry => ({
    channelId,
    generation: 1,
    state: 'ACTIVE',
    offset: layout.dataOffset + slot * LENGTH,
    length: LENGTH,
    consumerVm: 2,
    providerVm: 1,
    service: 0x1234,
    instance,
    major: 1,
    mode: 0,
    ringDataSize: DATA,
  });
  const reader = new ChannelTableReader(region, header);
  let afterRead: (() => void) | undefined;
  return {
    region,
    header,
    /**
     * The table as a tap reads it; `hold(f)` runs `f` right after the tap's next slot read, as
     * hostd would act while the tap's process is held between its check and its read.
     */
    table: (): ChannelTableReader =>
      ({
        read: (i: number) => {
          const e = reader.read(i);
          const f = afterRead;
          afterRead = undefined;
          f?.();
          return e;
        },
        find: (id: bigint) => reader.find(id),
        entries: () => reader.entries(),
      }) as unknown as ChannelTableReader,
    hold(f: () => void): void {
      afterRead = f;
    },
    /** Lists the channel in `slot` (its window is the slot's) and returns its c2p producer. */
    open(slot: number, channelId: bigint, instance = 1): { e: ChannelEntry; p: RingProducer } {
      const e = entry(slot, channelId, instance);
      table.write(slot, e);
      const views = ringViews(windowOf({ shared: region }, e.offset, LENGTH), 'c2p', DATA);
      return { e, p: new RingProducer(views) };
    },
    /** What hostd does once both ends left a window: zero it (slot still listed), free the slot. */
    zero(slot: number): void {
      region.fill(0, layout.dataOffset + slot * LENGTH, layout.dataOffset + (slot + 1) * LENGTH);
    },
    free(slot: number): void {
      table.free(slot);
    },
  };
}

const send = (p: RingProducer, n: number): void => {
  const header = {
    service: 0x1234,
    method: 0x8001,
    client: 0,
    session: n,
    interfaceVersion: 1,
    messageType: 0x02,
    returnCode: 0,
  };
  expect(p.sendCopy(header, new Uint8Array([n]))).to.equal(true);
};

/** The payload bytes of what `polls` polls of the tap return. */
function take(tap: ChannelTap, polls = 3): number[] {
  const out: number[] = [];
  for (let i = 0; i < polls; i++) for (const r of tap.poll()) out.push(r.frame[16]!);
  return out;
}

describe('ChannelTap: a window freed before the tap read its marker (protocol §11.3)', () => {
  it('should go on in the last window after two moves and two frees while it was paused', () => {
    const r = testRegion();
    const w0 = r.open(0, 0x10n);
    const tap = followingTap(r.region, r.header, w0.e, 0, true)!;
    send(w0.p, 1);
    send(w0.p, 2);
    expect(take(tap)).to.deep.equal([1, 2]);
    // Paused: a record and the marker in W0, a grow to W1, a shrink to W2, both old windows freed.
    send(w0.p, 3);
    const w1 = r.open(1, 0x20n);
    w0.p.sendMoveMarker(0x20n);
    send(w1.p, 4);
    const w2 = r.open(2, 0x30n);
    w1.p.sendMoveMarker(0x30n);
    send(w2.p, 5);
    send(w2.p, 6);
    r.zero(0);
    r.free(0);
    r.zero(1);
    r.free(1);
    expect(take(tap), 'from the live window from its start, nothing invented').to.deep.equal([
      5, 6,
    ]);
    expect(tap.channelId).to.equal(0x30n);
    expect({ lost: tap.lost, malformed: tap.malformed, cutOffs: tap.cutOffs }).to.deep.equal({
      lost: 0,
      malformed: 0,
      cutOffs: 1,
    });
    send(w2.p, 7);
    expect(take(tap)).to.deep.equal([7]);
  });

  it('should lose nothing when only the marker was missed, the window zeroed while still listed', () => {
    const r = testRegion();
    const w0 = r.open(0, 0x10n);
    const tap = followingTap(r.region, r.header, w0.e, 0, true)!;
    send(w0.p, 1);
    send(w0.p, 2);
    expect(take(tap)).to.deep.equal([1, 2]);
    const w1 = r.open(1, 0x20n);
    w0.p.sendMoveMarker(0x20n);
    send(w1.p, 3);
    // hostd zeroes before it frees the slot: the tap sees its producer index back at 0 while
    // the table still lists the window. That is not a lapse.
    r.zero(0);
    expect(take(tap, 1)).to.deep.equal([]);
    r.free(0);
    expect(take(tap)).to.deep.equal([3]);
    expect({ lost: tap.lost, malformed: tap.malformed, cutOffs: tap.cutOffs }).to.deep.equal({
      lost: 0,
      malformed: 0,
      cutOffs: 1,
    });
    expect(tap.moves).to.equal(1);
  });

  it('should follow by the marker and count no cut-off when the window goes after the tap read it', () => {
    const r = testRegion();
    const w0 = r.open(0, 0x10n);
    const tap = followingTap(r.region, r.header, w0.e, 0, true)!;
    send(w0.p, 1);
    w0.p.sendMoveMarker(0x20n); // the successor not listed yet: the tap waits at the marker
    expect(take(tap)).to.deep.equal([1]);
    expect(tap.waitingFor).to.equal(0x20n);
    r.zero(0);
    r.free(0);
    const w1 = r.open(1, 0x20n);
    send(w1.p, 2);
    expect(take(tap)).to.deep.equal([2]);
    expect({ channelId: tap.channelId, cutOffs: tap.cutOffs, lost: tap.lost }).to.deep.equal({
      channelId: 0x20n,
      cutOffs: 0,
      lost: 0,
    });
  });

  it("should never read a freed window's next owner, and find the channel when it is listed", async () => {
    const r = testRegion();
    const w0 = r.open(0, 0x10n);
    const tap = followingTap(r.region, r.header, w0.e, 0, true)!;
    send(w0.p, 1);
    send(w0.p, 2);
    expect(take(tap)).to.deep.equal([1, 2]);
    // Paused: W0 freed and given to another channel (instance 2), whose producer passes the
    // tap's position within a ring (records the tap could parse).
    send(w0.p, 3);
    w0.p.sendMoveMarker(0x20n);
    r.zero(0);
    r.free(0);
    const other = r.open(0, 0x99n, 2);
    for (let n = 100; n < 106; n++) send(other.p, n);
    expect(take(tap), "nothing of the other channel's").to.deep.equal([]);
    expect(tap.cutOffs).to.equal(1);
    // The channel's window appears (still PENDING); the tap looks for it every few ms.
    const w1 = r.open(1, 0x20n);
    send(w1.p, 4);
    const deadline = Date.now() + 5_000;
    const got: number[] = [];
    while (got.length === 0 && Date.now() < deadline) {
      got.push(...take(tap, 1));
      await new Promise((res) => setTimeout(res, 2));
    }
    expect(got).to.deep.equal([4]);
    expect(tap.channelId).to.equal(0x20n);
    expect(tap.lost).to.equal(0);
  });

  it('should drop what it read when the window was given to another channel between its check and its read', () => {
    const r = testRegion();
    const w0 = r.open(0, 0x10n);
    const tap = followingTap(r.region, r.header, w0.e, 0, true, r.table)!;
    send(w0.p, 1);
    send(w0.p, 2);
    expect(take(tap)).to.deep.equal([1, 2]);
    send(w0.p, 3);
    w0.p.sendMoveMarker(0x20n);
    r.hold(() => {
      r.zero(0);
      r.free(0);
      const other = r.open(0, 0x99n, 2);
      for (let n = 100; n < 106; n++) send(other.p, n);
    });
    const w1 = r.open(1, 0x20n);
    send(w1.p, 4);
    expect(take(tap, 1), "nothing of the other channel's").to.deep.equal([]);
    expect(take(tap)).to.deep.equal([4]);
    expect({ cutOffs: tap.cutOffs, lost: tap.lost, channelId: tap.channelId }).to.deep.equal({
      cutOffs: 1,
      lost: 0,
      channelId: 0x20n,
    });
  });
});
