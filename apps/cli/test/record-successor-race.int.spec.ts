// `sivshm record` when hostd has already adopted a moved channel's successor window (ACTIVE, the
// old one CLOSING) before the recorder's tap has read the old ring's move marker — a recorder
// descheduled between its poll and its table scan sees exactly that. The successor must not
// become a second channel: it stays off the table scan's new channels until the tap reaches the
// marker and follows into it, and the one interface then holds every record once and in order.
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
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('sivshm record and a successor adopted before its marker is read', function () {
  this.timeout(30_000);

  it('should keep the moved channel on one interface with every record once and in order', async () => {
    const file = `/dev/shm/sivshm-record-race-${process.pid}-${randomBytes(4).toString('hex')}`;
    const size = 1 << 20;
    closeFd(createRegionFile(file, size, { exclusive: true }));
    const m = mapFile(file, 0, size, { writable: true });
    const out = `${file}.pcapng`;
    try {
      const region = new Uint8Array(m.shared);
      const layout = RegionLayout.compute({ regionSize: size, channelCapacity: 8 });
      writeRegionHeader(region, layout, 2n);
      const table = new ChannelTableWriter(region, layout);
      const length = WindowLayout.windowLength(DATA);
      const entry = (channelId: bigint, offset: number): ChannelEntry => ({
        channelId,
        generation: 1,
        state: 'ACTIVE',
        offset,
        length,
        consumerVm: 2,
        providerVm: 1,
        service: 0x1234,
        instance: 1,
        major: 1,
        mode: 0,
        ringDataSize: DATA,
      });
      const w0 = layout.dataOffset;
      const w1 = layout.dataOffset + length;
      table.write(0, entry(0x70n, w0));
      const producer = (offset: number): RingProducer =>
        new RingProducer(ringViews(windowOf({ shared: region }, offset, length), 'p2c', DATA));
      const [p0, p1] = [producer(w0), producer(w1)];
      let n = 0;
      const send = (p: RingProducer): void => {
        const header = {
          service: 0x1234,
          method: 0x8001,
          client: 0,
          session: 1,
          interfaceVersion: 1,
          messageType: 0x02,
          returnCode: 0,
        };
        const payload = new Uint8Array(4);
        new DataView(payload.buffer).setUint32(0, n++);
        expect(p.sendCopy(header, payload)).to.equal(true);
      };
      const recording = record({ region: file, out, count: 30, duration: 20, maxSize: 1 << 20 });
      // The recorder's first scan has the channel once its interface block is in the file.
      const shb = sectionHeaderBlock('sivshm record').length;
      for (let t = Date.now(); !(existsSync(out) && statSync(out).size > shb); await sleep(5)) {
        if (Date.now() - t > 10_000) throw new Error('the recorder never found the channel');
      }
      for (let i = 0; i < 10; i++) send(p0);
      await sleep(50);
      // The ends moved and hostd adopted C1 while the recorder was not looking at C0's marker:
      // C1 is ACTIVE with records, C0 CLOSING, and the marker is not in C0 yet for the tap.
      for (let i = 0; i < 10; i++) send(p1);
      table.write(1, entry(0x71n, w1));
      table.setState(0, 'CLOSING');
      await sleep(600); // more than one table scan
      // Only now the recorder's tap meets the marker (written before C1's records in truth).
      p0.sendMoveMarker(0x71n);
      for (let i = 0; i < 10; i++) send(p1);
      await recording;
      const pcap = readPcapng(readFileSync(out), out);
      expect(pcap.interfaces, 'one channel').to.have.length(1);
      const seen = pcap.packets.map((p) =>
        new DataView(messageOf(p.data)!.buffer, messageOf(p.data)!.byteOffset + 16).getUint32(0),
      );
      expect(seen).to.deep.equal([...Array(30).keys()]);
    } finally {
      unmap(m.handle);
      rmSync(file, { force: true });
      rmSync(out, { force: true });
    }
  });
  it('should keep a channel moved twice on one interface while its newest successor is still PENDING', async () => {
    const file = `/dev/shm/sivshm-record-race2-${process.pid}-${randomBytes(4).toString('hex')}`;
    const size = 1 << 20;
    closeFd(createRegionFile(file, size, { exclusive: true }));
    const m = mapFile(file, 0, size, { writable: true });
    const out = `${file}.pcapng`;
    try {
      const region = new Uint8Array(m.shared);
      const layout = RegionLayout.compute({ regionSize: size, channelCapacity: 8 });
      writeRegionHeader(region, layout, 2n);
      const table = new ChannelTableWriter(region, layout);
      const length = WindowLayout.windowLength(DATA);
      const entry = (
        channelId: bigint,
        offset: number,
        state: ChannelEntry['state'],
      ): ChannelEntry => ({
        channelId,
        generation: 1,
        state,
        offset,
        length,
        consumerVm: 2,
        providerVm: 1,
        service: 0x1234,
        instance: 1,
        major: 1,
        mode: 0,
        ringDataSize: DATA,
      });
      const w = (k: number): number => layout.dataOffset + k * length;
      const producer = (offset: number): RingProducer =>
        new RingProducer(ringViews(windowOf({ shared: region }, offset, length), 'p2c', DATA));
      const [p0, p1, p2] = [producer(w(0)), producer(w(1)), producer(w(2))];
      let n = 0;
      const send = (p: RingProducer): void => {
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
      };
      table.write(0, entry(0x70n, w(0), 'ACTIVE'));
      const recording = record({ region: file, out, count: 30, duration: 20, maxSize: 1 << 20 });
      const shb = sectionHeaderBlock('sivshm record').length;
      for (let t = Date.now(); !(existsSync(out) && statSync(out).size > shb); await sleep(5)) {
        if (Date.now() - t > 10_000) throw new Error('the recorder never found the channel');
      }
      // First move, completed: C1 adopted, C0 released.
      for (let i = 0; i < 10; i++) send(p0);
      table.write(1, entry(0x71n, w(1), 'PENDING'));
      p0.sendMoveMarker(0x71n);
      for (let i = 0; i < 10; i++) send(p1);
      await sleep(300);
      table.setState(1, 'ACTIVE');
      table.free(0);
      await sleep(600); // more than one table scan
      // Second move: the tap follows C1's marker into C2 while hostd still lists C2 PENDING
      // (both ends have not answered yet) and C1 still ACTIVE; table scans happen meanwhile.
      table.write(2, entry(0x72n, w(2), 'PENDING'));
      p1.sendMoveMarker(0x72n);
      for (let i = 0; i < 5; i++) send(p2);
      await sleep(600);
      table.setState(2, 'ACTIVE');
      table.setState(1, 'CLOSING');
      await sleep(300);
      for (let i = 0; i < 5; i++) send(p2);
      await recording;
      const pcap = readPcapng(readFileSync(out), out);
      expect(pcap.interfaces, 'one channel').to.have.length(1);
      const seen = pcap.packets.map((p) =>
        new DataView(messageOf(p.data)!.buffer, messageOf(p.data)!.byteOffset + 16).getUint32(0),
      );
      expect(seen).to.deep.equal([...Array(30).keys()]);
    } finally {
      unmap(m.handle);
      rmSync(file, { force: true });
      rmSync(out, { force: true });
    }
  });
});
