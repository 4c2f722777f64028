// `sivshm capture`: a live channel's frames, both directions, into a pcap that tshark decodes
// as SOME/IP with the expected fields.
import { expect } from 'chai';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { packageRoot } from '@sivshm/core';
import { waitFor } from '@sivshm/testing';
import {
  closeFd,
  createRegionFile,
  mapFile,
  RegionLayout,
  unmap,
  writeRegionHeader,
} from '@sivshm/transport-ivshmem';
import { channelRegion, type ChannelRegion } from './support/channel-region.js';
import { capturedSessions } from './support/pcap-frames.js';

const BIN = path.join(packageRoot(import.meta.url), 'dist', 'src', 'bin.js');
const tsharkMissing = spawnSync('tshark', ['--version'], { encoding: 'utf8' }).error !== undefined;

interface RunningCapture {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  readonly exit: Promise<number | null>;
}

/** `sivshm capture` of the region's channel into `out`, once it says it is capturing. */
async function startCapture(
  region: ChannelRegion,
  out: string,
  args: string[],
): Promise<RunningCapture> {
  const child = spawn(
    process.execPath,
    [BIN, 'capture', '--region', region.file, '--channel', '0x77', '--out', out, ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('exit', resolve));
  try {
    await waitFor(() => /capturing channel/.test(stderr), 'capture to start', 15_000, 20);
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`capture did not start: ${stderr}`, { cause: e });
  }
  return { child, stdout: () => stdout, stderr: () => stderr, exit };
}

/** Whether the process is stopped (state T in /proc/PID/stat), so it cannot poll its taps. */
const stopped = (pid: number): boolean =>
  /^\d+ \(.*\) T /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));

describe('sivshm capture', () => {
  it('should record both directions of a channel as SOME/IP that tshark decodes', async function () {
    this.timeout(30_000);
    if (tsharkMissing) {
      console.log('      (pending: tshark is not installed; CI installs it with apt)');
      this.skip();
    }
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sivshm-capture-'));
    const region = channelRegion('capture');
    try {
      const out = path.join(dir, 'channel.pcap');
      const cap = await startCapture(region, out, ['--count', '20', '--duration', '20']);
      expect(cap.stderr(), 'channel ids in hex, as status and inspect print them').to.match(
        /capturing channel 0x77 \(VM/,
      );
      for (let i = 1; i <= 10; i++) {
        const h = { client: 2, session: i };
        expect(region.sendC2p({ ...h, messageType: 0x00 }, new Uint8Array(i).fill(i))).to.equal(
          true,
        );
        await new Promise((r) => setTimeout(r, 5));
        expect(region.sendP2c({ ...h, messageType: 0x80 }, new Uint8Array(3))).to.equal(true);
      }
      const code = await cap.exit;
      expect(code, cap.stderr()).to.equal(0);
      expect(cap.stderr()).to.match(/wrote 20 frames/);
      const t = spawnSync(
        'tshark',
        [
          '-r',
          out,
          '-d',
          'udp.port==30501,someip',
          '-T',
          'fields',
          '-e',
          'ip.src',
          '-e',
          'someip.serviceid',
          '-e',
          'someip.methodid',
          '-e',
          'someip.sessionid',
          '-e',
          'someip.messagetype',
          '-e',
          'someip.length',
        ],
        { encoding: 'utf8' },
      );
      expect(t.status, t.stderr).to.equal(0);
      const rows = t.stdout
        .trim()
        .split('\n')
        .map((l) => l.split('\t'));
      expect(rows).to.have.length(20);
      const requests = rows.filter((r) => r[4] === '0x00');
      const responses = rows.filter((r) => r[4] === '0x80');
      expect(requests.map((r) => Number(r[3]))).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      expect(requests.map((r) => Number(r[5]))).to.deep.equal([
        9, 10, 11, 12, 13, 14, 15, 16, 17, 18,
      ]);
      expect(new Set(requests.map((r) => r[0]))).to.deep.equal(new Set(['127.0.1.2']));
      expect(responses).to.have.length(10);
      expect(new Set(responses.map((r) => r[0]))).to.deep.equal(new Set(['127.0.1.1']));
      expect(rows.every((r) => r[1] === '0x1234' && r[2] === '0x0001')).to.equal(true);
    } finally {
      region.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('should count the records it missed when the producer laps it (--json, SIGINT)', async function () {
    this.timeout(60_000);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sivshm-capture-'));
    const region = channelRegion('capture-lapse');
    try {
      const out = path.join(dir, 'lapped.pcap');
      const cap = await startCapture(region, out, ['--json']);
      let session = 0;
      // Events of one publisher (session ids 1, 2, ...), each read at once by the channel's
      // consumer, so the ring never fills and a stalled capture is overwritten.
      const publish = (n: number): void => {
        for (let i = 0; i < n; i++) {
          session++;
          const sent = region.sendP2c({ client: 0, session, messageType: 0x02 }, new Uint8Array(8));
          expect(sent, 'room in the ring').to.equal(true);
          region.drainP2c();
        }
      };
      publish(10);
      await waitFor(() => capturedSessions(out).length === 10, 'the first 10 captured', 20_000);
      // Stopped, the capture cannot poll: 3 000 records are several rings of 16 KiB.
      cap.child.kill('SIGSTOP');
      await waitFor(() => stopped(cap.child.pid!), 'capture stopped', 10_000);
      publish(3000);
      cap.child.kill('SIGCONT');
      await waitFor(
        () => {
          publish(1);
          return capturedSessions(out).length > 10;
        },
        'a record captured after the lapse',
        20_000,
        20,
      );
      cap.child.kill('SIGINT');
      expect(await cap.exit, cap.stderr()).to.equal(0);
      const sessions = capturedSessions(out);
      const summary = JSON.parse(cap.stdout()) as Record<string, unknown>;
      // Ctrl-C takes what the rings hold before it ends: every record is captured or missed.
      expect(summary, cap.stdout()).to.deep.include({
        out,
        channel: '0x77',
        frames: sessions.length,
        lapses: 1,
        missedRecords: session - sessions.length,
      });
      expect(sessions.slice(0, 10)).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      expect(sessions.at(-1), 'the last record, read after Ctrl-C').to.equal(session);
      expect(session - sessions.length, 'missed in the lapse').to.be.at.least(2000);
      expect(cap.stderr()).to.match(
        new RegExp(
          `wrote ${sessions.length} frames to .*lapped once by the producer: missed at least ${session - sessions.length} records`,
        ),
      );
    } finally {
      region.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('should tell the user where channel ids come from when the id is unknown', () => {
    const file = `/dev/shm/sivshm-capture-${randomBytes(4).toString('hex')}`;
    closeFd(createRegionFile(file, 1 << 16, { exclusive: true }));
    const m = mapFile(file, 0, 1 << 16, { writable: true });
    writeRegionHeader(
      new Uint8Array(m.shared),
      RegionLayout.compute({ regionSize: 1 << 16, channelCapacity: 4 }),
      1n,
    );
    unmap(m.handle);
    try {
      const r = spawnSync(
        process.execPath,
        [BIN, 'capture', '--region', file, '--channel', '5', '--out', '/tmp/x.pcap'],
        { encoding: 'utf8', timeout: 15_000 },
      );
      expect(r.status).to.equal(1);
      expect(r.stderr).to.match(/channel 0x5 is not in the channel table.*sivshm inspect/);
      const bad = spawnSync(
        process.execPath,
        [BIN, 'capture', '--region', file, '--channel', 'zz', '--out', '/tmp/x.pcap'],
        { encoding: 'utf8', timeout: 15_000 },
      );
      expect(bad.status).to.not.equal(0);
      expect(bad.stderr).to.match(/must be a decimal or 0x hex/);
    } finally {
      rmSync(file, { force: true });
    }
  });
});
