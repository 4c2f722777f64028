// `sivshm record` when hostd has already adopted a moved channel's successor window (ACTIVE, the
// old one CLOSING) before the recorder's tap has read the old ring's move marker — a recorder
// descheduled between its poll and its table scan sees exactly that. The successor must not
// become a second channel: it stays off the table scan's new channels until the tap reaches the
// marker and follows into it, and the one interface then holds every record once and in order.
// The second case: from the second move on, a scan while the successor the taps already follow is
// still PENDING must not end the channel either.
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { PAGE_SIZE, WindowLayout, type ChannelEntry } from '@sivshm/abi';
import {
  ChannelTableWriter,
  closeFd,
  createRegionFile,
  mapFile,
  RegionLayout,
  RingProducer,
  ringViews,
  unmap,
  windowOf,
  writeRegionHeader,
} from '@sivshm/transport-ivshmem';
import { record } from '../src/commands/record-run.js';
import { readPcapng, sectionHeaderBlock } from '../src/diag/pcapng.js';
import { messageOf } from '../src/diag/recorded-channel.js';

const DATA = PAGE_SIZE;
const RECORDS = 30;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A region file whose channel table the test writes as hostd would, and the windows' producers. */
interface RaceRegion {
  readonly table: ChannelTableWriter;
  /** A table entry of the one service pair, window `k`. */
  entry(channelId: bigint, k: number, state?: ChannelEntry['state']): ChannelEntry;
  /** The p2c producer of window `k`. */
  producer(k: number): RingProducer;
  /** Sends the next numbered event into `p`. */
  send(p: RingProducer): void;
}

/**
 * Runs `body` on a fresh region with `sivshm record` (stopping at RECORDS frames) started once
 * the table's first entry (written by `body`'s `setup`) has its interface in the file; returns
 * the recorded interfaces and the event numbers in file order.
 */
async function race(
  label: string,
  setup: (r: RaceRegion) => void,
  body: (r: RaceRegion) => Promise<void>,
): Promise<{ interfaces: number; seen: number[] }> {
  const file = `/dev/shm/sivshm-${label}-${process.pid}-${randomBytes(4).toString('hex')}`;
  const size = 1 << 20;
  closeFd(createRegionFile(file, size, { exclusive: true }));
  const m = mapFile(file, 0, size, { writable: true });
  const out = `${file}.pcapng`;
  try {
    const region = new Uint8Array(m.shared);
    const layout = RegionLayout.compute({ regionSize: size, channelCapacity: 8 });
    writeRegionHeader(region, layout, 2n);
    const length = WindowLayout.windowLength(DATA);
    const at = (k: number): number => layout.dataOffset + k * length;
    let n = 0;
    const r: RaceRegion = {
      table: new ChannelTableWriter(region, layout),
      entry: (channelId, k, state = 'ACTIVE') => ({
        channelId,
        generation: 1,
        state,
        offset: at(k),
        length,
        consumerVm: 2,
        providerVm: 1,
        service: 0x1234,
        instance: 1,
        major: 1,
        mode: 0,
        ringDataSize: DATA,
      }),
      producer: (k) =>
        new RingProducer(ringViews(windowOf({ shared: region }, at(k), length), 'p2c', DATA)),
      send: (p) => {
        const payload = new Uint8Array(4);
        new DataView(payload.buffer).setUint32(0, n++);
        const header = {
          service: 0x1234,
          method: 0x8001,
          client: 0,
          session: 1,
          interfaceVersion: 1,
          messageType: 0x02,
          returnCode: 0,
        };
        expect(p.sendCopy(header, payload)).to.equal(true);
      },
    };
    setup(r);
    const recording = record({ region: file, out, count: RECORDS, duration: 20, maxSize: 1 << 20 });
    // The recorder's first scan has the channel once its interface block is in the file.
    const shb = sectionHeaderBlock('sivshm record').length;
    for (let t = Date.now(); !(existsSync(out) && statSync(out).size > shb); await sleep(5)) {
      if (Date.now() - t > 10_000) throw new Error('the recorder never found the channel');
    }
    await body(r);
    await recording;
    const pcap = readPcapng(readFileSync(out), out);
    const seen = pcap.packets.map((p) =>
      new DataView(messageOf(p.data)!.buffer, messageOf(p.data)!.byteOffset + 16).getUint32(0),
    );
    return { interfaces: pcap.interfaces.length, seen };
  } finally {
    unmap(m.handle);
    rmSync(file, { force: true });
    rmSync(out, { force: true });
  }
}

describe('sivshm record and a successor adopted before its marker is read', function () {
  this.timeout(30_000);

  it('should keep the moved channel on one interface with every record once and in order', async () => {
    const got = await race(
      'record-race',
      ({ table, entry }) => table.write(0, entry(0x70n, 0)),
      async ({ table, entry, producer, send }) => {
        const [p0, p1] = [producer(0), producer(1)];
        for (let i = 0; i < 10; i++) send(p0);
        await sleep(50);
        // The ends moved and hostd adopted C1 while the recorder was not looking at C0's marker:
        // C1 is ACTIVE with records, C0 CLOSING, and the marker is not in C0 yet for the tap.
        for (let i = 0; i < 10; i++) send(p1);
        table.write(1, entry(0x71n, 1));
        table.setState(0, 'CLOSING');
        await sleep(600); // more than one table scan
        // Only now the recorder's tap meets the marker (written before C1's records in truth).
        p0.sendMoveMarker(0x71n);
        for (let i = 0; i < 10; i++) send(p1);
      },
    );
    expect(got.interfaces, 'one channel').to.equal(1);
    expect(got.seen).to.deep.equal([...Array(RECORDS).keys()]);
  });

  it('should keep a channel moved twice on one interface while its newest successor is still PENDING', async () => {
    const got = await race(
      'record-race2',
      ({ table, entry }) => table.write(0, entry(0x70n, 0)),
      async ({ table, entry, producer, send }) => {
        const [p0, p1, p2] = [producer(0), producer(1), producer(2)];
        // First move, completed: C1 adopted, C0 released.
        for (let i = 0; i < 10; i++) send(p0);
        table.write(1, entry(0x71n, 1, 'PENDING'));
        p0.sendMoveMarker(0x71n);
        for (let i = 0; i < 10; i++) send(p1);
        await sleep(300);
        table.setState(1, 'ACTIVE');
        table.free(0);
        await sleep(600); // more than one table scan
        // Second move: the tap follows C1's marker into C2 while hostd still lists C2 PENDING
        // (both ends have not answered yet) and C1 still ACTIVE; table scans happen meanwhile.
        table.write(2, entry(0x72n, 2, 'PENDING'));
        p1.sendMoveMarker(0x72n);
        for (let i = 0; i < 5; i++) send(p2);
        await sleep(600);
        table.setState(2, 'ACTIVE');
        table.setState(1, 'CLOSING');
        await sleep(300);
        for (let i = 0; i < 5; i++) send(p2);
      },
    );
    expect(got.interfaces, 'one channel').to.equal(1);
    expect(got.seen).to.deep.equal([...Array(RECORDS).keys()]);
  });
});
