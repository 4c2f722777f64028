// The ring taps behind `sivshm capture` and `sivshm record` follow an elastic channel's moves
// (docs/protocol.md §11): hostd (its own process) grows the window under a saturated stream and
// shrinks it when quiet, the two VMs (Nodes here) move their ends, and taps opened on the
// channel's first window read every record once and in order across every move, finding each
// successor window by the id its move marker names in the region's channel table. A marker is
// never handed out as a record. `sivshm record` and `sivshm capture` run in this process beside
// it and write the same records, once and in order: one pcapng interface, one pcap file.
import { expect } from 'chai';
import { readRegionHeader, unmap } from '@sivshm/transport-ivshmem';
import { Node } from '@sivshm/runtime';
import { elasticDeployment, startHostd, waitFor } from '@sivshm/testing';
import { ChannelTableReader } from '@sivshm/transport-ivshmem';
import { loadConfig } from '@sivshm/core';
import { followingTap } from '../src/diag/channel-taps.js';
import type { ChannelTap } from '../src/diag/channel-tap.js';
import { mapRegionReadOnly } from '../src/io/region-file.js';
import { record } from '../src/commands/record-run.js';
import { capture } from '../src/commands/capture-run.js';
import { readPcapng } from '../src/diag/pcapng.js';
import { messageOf } from '../src/diag/recorded-channel.js';
import { pcapFrames } from './support/pcap-frames.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';

/** Records the test publishes in all; `sivshm record` (in this process) stops at this count. */
const TOTAL = 60_000;

type Speed = { kph: number; odometer_m: number | string; timestamp_ms: number };

describe('ring taps across an elastic channel move (sivshm capture, record)', function () {
  this.timeout(120_000);

  it('should see every record once and in order while the channel grows and shrinks', async () => {
    const d = elasticDeployment('cli-tap-move');
    const hostd = await startHostd(d, [], { logLevel: 'info' });
    const provider = await Node.open({
      config: d.configPath,
      vm: 'infotainment',
      runDir: d.runDir,
    });
    const consumer = await Node.open({ config: d.configPath, vm: 'cluster', runDir: d.runDir });
    const m = mapRegionReadOnly(d.regionPath);
    try {
      const region = new Uint8Array(m.shared);
      const header = readRegionHeader(region);
      const svc = await provider.offer('VehicleSpeed', { instance: 1 });
      const speed = await consumer.consume('VehicleSpeed', { instance: 1, timeoutMs: 20_000 });
      const got: number[] = [];
      speed.event<Speed>('speed').subscribe((e) => got.push(Number(String(e.odometer_m))));
      const table = new ChannelTableReader(region, header);
      // hostd marks the entry ACTIVE when both ends have answered, maybe after consume resolved.
      const activeEntry = () => table.entries().find((x) => x.entry.state === 'ACTIVE')?.entry;
      await waitFor(() => activeEntry() !== undefined, 'the channel ACTIVE', 20_000);
      const entry = activeEntry()!;
      // p2c: the provider's events. Read from index 0: nothing is published yet.
      const tap: ChannelTap = followingTap(region, header, entry, 1, true)!;
      const type = (await loadConfig(d.configPath)).protoRoot.lookupType(
        'sivshm.demo.VehicleSpeed',
      );
      const tapped: number[] = [];
      const services = new Set<number>();
      const take = (): void => {
        for (const r of tap.poll()) {
          services.add((r.frame[0]! << 8) | r.frame[1]!);
          const msg = type.toObject(type.decode(r.frame.subarray(16)), {
            longs: Number,
            defaults: true,
          });
          tapped.push(Number(msg['odometerM'] ?? msg['odometer_m']));
        }
      };
      // `sivshm record` in this process, on its own 1 ms timer. Like capture it is passive: hostd
      // frees an old window once both ends left it, without waiting for it, so on a busy machine
      // it may find a window freed before it read the window's last records (a cut-off, which it
      // counts and follows on from). Stopped by the test once every record is published.
      const out = path.join(d.dir, 'moves.pcapng');
      const stopRecord = new AbortController();
      const recording = record({
        region: d.regionPath,
        out,
        service: ['0x1234'],
        count: TOTAL,
        duration: 100,
        maxSize: 1 << 30,
        signal: stopRecord.signal,
      });
      const capturedFile = path.join(d.dir, 'moves.pcap');
      // Stopped by the test once every record is published (as Ctrl-C stops the command): it
      // then takes what the rings still hold, so a lapped capture does not wait for a count.
      const stopCapture = new AbortController();
      const capturing = capture({
        region: d.regionPath,
        channel: entry.channelId,
        out: capturedFile,
        duration: 100,
        signal: stopCapture.signal,
      });
      await new Promise((r) => setTimeout(r, 300));
      const events = (name: string) => hostd.logs.filter((l) => l['event'] === name);
      const pub = svc.publisher<Speed>('speed');
      let sent = 0;
      // Saturated until hostd has moved the channel at least once (a grow), bounded in time and
      // in records (the last phases need some of TOTAL). The tap is polled every few records so
      // it never falls a ring behind: a loss here would be the tap's pace, not the move.
      const until = Date.now() + 40_000;
      const saturatedAtMost = TOTAL / 2;
      while (
        events('channel-resized').length === 0 &&
        sent < saturatedAtMost &&
        Date.now() < until
      ) {
        for (let i = 0; i < 200; i++) {
          if (!pub.publish({ kph: 1, odometer_m: sent, timestamp_ms: 0 })) break;
          sent++;
          if (sent % 8 === 0) take();
        }
        take();
        await new Promise<void>((r) => setTimeout(r, 1));
      }
      expect(
        events('channel-resize').map((l) => l['decision']),
        `a grow within 40 s and ${saturatedAtMost} records (${sent} sent)`,
      ).to.include('grow');
      // Quiet: hostd shrinks the window back; then a few more records in the last window.
      await waitFor(
        () => {
          take();
          const decided = events('channel-resize');
          return (
            decided.at(-1)?.['decision'] === 'shrink' &&
            events('channel-resized').length === decided.length
          );
        },
        'the window to shrink back',
        30_000,
      );
      expect(sent, 'published before the last window').to.be.below(TOTAL - 20);
      // Paced so the passive readers (record and capture poll on their own 1 ms timers) get a
      // turn every 8 records: the last window is the smallest (4 KiB holds about 100 of these
      // records), and a producer that wrote 100 between two of their polls could lap them, which
      // would be the pace's fault, not the move's.
      while (sent < TOTAL) {
        for (let i = 0; i < 8 && sent < TOTAL; i++) {
          if (!pub.publish({ kph: 1, odometer_m: sent, timestamp_ms: 0 })) break;
          sent++;
          if (sent % 8 === 0) take();
        }
        take();
        await new Promise((r) => setTimeout(r, 1));
      }
      await waitFor(
        () => {
          take();
          return tapped.length >= sent && got.length >= sent;
        },
        'every record tapped',
        20_000,
      );
      expect(tap.moves, 'moves followed (a grow and a shrink)').to.be.at.least(2);
      expect(tap.channelId, 'the tap reads the successor window').to.not.equal(entry.channelId);
      // The test polls its tap after each batch it publishes, so the tap has read every record
      // of a window before the producer writes the marker there; hostd may still free that
      // window before the tap reads the marker (cutOffs), and the tap must then go on in the
      // channel's live window without losing a record.
      expect(tap.lost, `lost (cut off ${tap.cutOffs} times)`).to.equal(0);
      expect(tap.malformed, 'malformed').to.equal(0);
      expect([...services], 'no move marker (service 0xFFFF) as a record').to.deep.equal([0x1234]);
      expect(tapped.length).to.equal(sent);
      const firstWrong = tapped.findIndex((n, i) => n !== i);
      expect(
        firstWrong,
        `first out of order at ${firstWrong}: ${tapped.slice(Math.max(0, firstWrong - 3), firstWrong + 3).join(' ')}`,
      ).to.equal(-1);
      expect(
        tapped.every((n, i) => n === i),
        'every record once and in order',
      ).to.equal(true);
      expect(got.length, 'the consumer got them all too').to.equal(sent);
      expect(events('channel-resize-failed')).to.deep.equal([]);
      stopRecord.abort();
      const recordSummary = await recording;
      const file = readPcapng(readFileSync(out), out);
      expect(
        file.interfaces,
        'one interface: the moved channel is the same channel',
      ).to.have.length(1);
      const odometers = (frames: Uint8Array[]): number[] =>
        frames.map((f) => {
          const someIp = messageOf(f)!;
          const msg = type.toObject(type.decode(someIp.subarray(16)), {
            longs: Number,
            defaults: true,
          });
          return Number(msg['odometerM'] ?? msg['odometer_m']);
        });
      const recorded = odometers(file.packets.map((p) => p.data));
      expect(recordSummary.frames, 'recorded frames').to.equal(recorded.length);
      if (recordSummary.lapses + recordSummary.cutOffs === 0) {
        expect(recorded.length, 'no gap: every record').to.equal(TOTAL);
      }
      expect(
        recorded.findIndex((n, i) => i > 0 && n <= recorded[i - 1]!),
        'sivshm record: records once and in order',
      ).to.equal(-1);
      expect(recorded.at(-1), 'sivshm record followed into the last window').to.equal(TOTAL - 1);
      stopCapture.abort();
      const summary = await capturing;
      const captured = odometers(pcapFrames(readFileSync(capturedFile)));
      // capture runs on its own timer and is not polled by the publisher's loop: a passive reader
      // may be lapped in the saturated phase (it counts what it missed, never invents). What it
      // guarantees across the moves: what it wrote is each record at most once, in order, it
      // followed into the last window, and what it did not write it says it missed.
      expect(summary.frames, 'captured frames').to.equal(captured.length);
      if (summary.lapses + summary.cutOffs === 0)
        expect(captured.length, 'not lapped nor cut off: every record').to.equal(TOTAL);
      // A lapse's count also takes in records the publisher dropped on a full ring meanwhile
      // (their session ids are used too), so it may exceed what the capture lost, never fall short.
      else
        expect(captured.length + summary.missedRecords, 'captured + missed').to.be.at.least(TOTAL);
      expect(summary.lastChannel, 'capture names its last channel').to.equal(
        `0x${tap.channelId.toString(16)}`,
      );
      expect(
        captured.findIndex((n, i) => i > 0 && n <= captured[i - 1]!),
        'sivshm capture: records once and in order',
      ).to.equal(-1);
      expect(captured.at(-1), 'sivshm capture followed into the last window').to.equal(TOTAL - 1);
    } finally {
      unmap(m.handle);
      await consumer.close();
      await provider.close();
      await hostd.stop();
      d.cleanup();
    }
  });
});
