// `sivshm capture` (its own process) stopped with SIGSTOP while an elastic channel grows and
// shrinks back, so hostd zeroes and frees both windows it moved out of before the capture could
// read their move markers (docs/protocol.md §11.3). After SIGCONT the capture must find that its
// window was freed (not lapped), go on in the channel's oldest live window and on into the last
// one, and write the records published there, each at most once and in order, saying it was cut
// off.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '@sivshm/core';
import { Node } from '@sivshm/runtime';
import { elasticDeployment, startHostd, waitFor } from '@sivshm/testing';
import { ChannelTableReader, readRegionHeader, unmap } from '@sivshm/transport-ivshmem';
import { mapRegionReadOnly } from '../src/io/region-file.js';
import { loadConfig } from '@sivshm/core';
import { messageOf } from '../src/diag/recorded-channel.js';
import { pcapFrames } from './support/pcap-frames.js';

const BIN = path.join(packageRoot(import.meta.url), 'dist', 'src', 'bin.js');

type Speed = { kph: number; odometer_m: number; timestamp_ms: number };

/** Whether the process is stopped (state T in /proc/PID/stat), so it cannot poll its taps. */
const stopped = (pid: number): boolean =>
  /^\d+ \(.*\) T /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));

describe('sivshm capture paused across a channel move (protocol §11.3)', function () {
  this.timeout(120_000);

  it('should go on in the last window when its windows were freed while it was stopped', async () => {
    const d = elasticDeployment('cli-cut-off');
    const hostd = await startHostd(d, [], { logLevel: 'info' });
    const provider = await Node.open({
      config: d.configPath,
      vm: 'infotainment',
      runDir: d.runDir,
    });
    const consumer = await Node.open({ config: d.configPath, vm: 'cluster', runDir: d.runDir });
    const m = mapRegionReadOnly(d.regionPath);
    const out = path.join(d.dir, 'cut-off.pcap');
    let child: ReturnType<typeof spawn> | undefined;
    try {
      const type = (await loadConfig(d.configPath)).protoRoot.lookupType(
        'sivshm.demo.VehicleSpeed',
      );
      // The odometer of each captured event: the test's own record number.
      const sessionsIn = (file: string): number[] => {
        let frames: Uint8Array[];
        try {
          frames = pcapFrames(readFileSync(file));
        } catch {
          return [];
        }
        return frames.map((f) => {
          const msg = type.toObject(type.decode(messageOf(f)!.subarray(16)), {
            longs: Number,
            defaults: true,
          });
          return Number(msg['odometerM'] ?? msg['odometer_m']);
        });
      };
      const region = new Uint8Array(m.shared);
      const table = new ChannelTableReader(region, readRegionHeader(region));
      const svc = await provider.offer('VehicleSpeed', { instance: 1 });
      const speed = await consumer.consume('VehicleSpeed', { instance: 1, timeoutMs: 20_000 });
      let got = 0;
      speed.event<Speed>('speed').subscribe(() => got++);
      const active = () => table.entries().find((x) => x.entry.state === 'ACTIVE')?.entry;
      await waitFor(() => active() !== undefined, 'the channel ACTIVE', 20_000);
      const first = active()!.channelId;
      const c = spawn(
        process.execPath,
        [
          BIN,
          'capture',
          '--region',
          d.regionPath,
          '--channel',
          `0x${first.toString(16)}`,
          '--out',
          out,
          '--json',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      child = c;
      let stdout = '';
      let stderr = '';
      c.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
      c.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
      const exit = new Promise<number | null>((r) => c.once('exit', r));
      await waitFor(() => /capturing channel/.test(stderr), 'capture to start', 15_000, 20);
      const pub = svc.publisher<Speed>('speed');
      let sent = 0;
      const publish = (): boolean => pub.publish({ kph: 1, odometer_m: sent, timestamp_ms: 0 });
      for (let i = 0; i < 10; i++) if (publish()) sent++;
      await waitFor(() => sessionsIn(out).length === 10, 'the first 10 captured', 20_000);
      c.kill('SIGSTOP');
      await waitFor(() => stopped(c.pid!), 'capture stopped', 10_000);
      const events = (name: string) => hostd.logs.filter((l) => l['event'] === name);
      // Saturated until hostd grows the window, then quiet until it shrinks it back: both
      // windows the channel left are zeroed and freed while the capture cannot read.
      const until = Date.now() + 40_000;
      while (events('channel-resized').length === 0 && sent < 30_000 && Date.now() < until) {
        for (let i = 0; i < 200 && publish(); i++) sent++;
        await new Promise((r) => setTimeout(r, 1));
      }
      await waitFor(
        () => {
          const decided = events('channel-resize');
          return (
            decided.at(-1)?.['decision'] === 'shrink' &&
            events('channel-resized').length === decided.length
          );
        },
        'the window to grow and shrink back',
        30_000,
      );
      await waitFor(() => got >= sent, 'the consumer to get every record', 20_000);
      const last = active()!.channelId;
      expect(last, 'the channel moved').to.not.equal(first);
      expect(table.find(first), 'the first window freed').to.equal(undefined);
      c.kill('SIGCONT');
      // A few records in the last window, one at a time (the capture polls every ms or so).
      const lastWindowFrom = sent;
      for (let i = 0; i < 20; i++) {
        if (publish()) sent++;
        await new Promise((r) => setTimeout(r, 5));
      }
      await waitFor(
        () => sessionsIn(out).at(-1) === sent - 1,
        `capture to write the last record (${sent - 1}); stderr: ${stderr}`,
        20_000,
      );
      c.kill('SIGINT');
      expect(await exit, stderr).to.equal(0);
      const summary = JSON.parse(stdout || '{}') as Record<string, unknown>;
      const sessions = sessionsIn(out);
      expect(
        sessions.findIndex((s, i) => i > 0 && s <= sessions[i - 1]!),
        'each record at most once, in order',
      ).to.equal(-1);
      expect(sessions.slice(0, 10)).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(
        sessions.filter((s) => s >= lastWindowFrom),
        'every record of the last window',
      ).to.have.length(sent - lastWindowFrom);
      expect(stderr, 'says it was cut off').to.match(/freed before it was read to the end/);
      expect(stderr).to.include(`following the channel's moves to channel 0x${last.toString(16)}`);
      expect(summary, stdout).to.deep.include({ lastChannel: `0x${last.toString(16)}` });
      // At least once; at most once per direction and window freed (hostd may grow or shrink in
      // more than one step, each step freeing a window).
      const moves = events('channel-resized').length;
      expect(summary['cutOffs'], `cut off (${moves} moves)`).to.be.within(1, 2 * moves);
      // A zeroed window is not a lapse. A lapse can only come from resuming in an older window
      // still listed (CLOSING) whose ring the producer had gone round while the capture was
      // stopped: at most one per cut-off.
      expect(summary['lapses'], stdout).to.be.at.most(summary['cutOffs'] as number);
    } finally {
      child?.kill('SIGKILL');
      unmap(m.handle);
      await consumer.close();
      await provider.close();
      await hostd.stop();
      d.cleanup();
    }
  });
});
