// `sivshm capture`: a live channel's frames, both directions, into a pcap that tshark decodes
// as SOME/IP with the expected fields.
import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { packageRoot } from '@sivshm/core';
import { PAGE_SIZE, WindowLayout } from '@sivshm/abi';
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

const BIN = path.join(packageRoot(import.meta.url), 'dist', 'src', 'bin.js');
const tsharkMissing = spawnSync('tshark', ['--version'], { encoding: 'utf8' }).error !== undefined;

describe('sivshm capture', () => {
  it('should record both directions of a channel as SOME/IP that tshark decodes', async function () {
    this.timeout(30_000);
    if (tsharkMissing) {
      console.log('      (pending: tshark is not installed; CI installs it with apt)');
      this.skip();
    }
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sivshm-capture-'));
    const file = `/dev/shm/sivshm-capture-${randomBytes(4).toString('hex')}`;
    const size = 1 << 20;
    const dataSize = 4 * PAGE_SIZE;
    closeFd(createRegionFile(file, size, { exclusive: true }));
    const m = mapFile(file, 0, size, { writable: true });
    try {
      const region = new Uint8Array(m.shared);
      const layout = RegionLayout.compute({ regionSize: size, channelCapacity: 8 });
      writeRegionHeader(region, layout, 2n);
      const length = WindowLayout.windowLength(dataSize);
      new ChannelTableWriter(region, layout).write(0, {
        channelId: 0x77n,
        generation: 1,
        state: 'ACTIVE',
        offset: layout.dataOffset,
        length,
        consumerVm: 2,
        providerVm: 1,
        service: 0x1234,
        instance: 1,
        major: 1,
        mode: 0,
        ringDataSize: dataSize,
      });
      const win = windowOf({ shared: region }, layout.dataOffset, length);
      const c2p = new RingProducer(ringViews(win, 'c2p', dataSize));
      const p2c = new RingProducer(ringViews(win, 'p2c', dataSize));
      const out = path.join(dir, 'channel.pcap');
      const child = spawn(
        process.execPath,
        [
          BIN,
          'capture',
          '--region',
          file,
          '--channel',
          '0x77',
          '--out',
          out,
          '--count',
          '20',
          '--duration',
          '20',
        ],
        {
          stdio: ['ignore', 'ignore', 'pipe'],
        },
      );
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`capture did not start: ${stderr}`)), 15_000);
        const check = setInterval(() => {
          if (/capturing channel/.test(stderr)) {
            clearTimeout(t);
            clearInterval(check);
            resolve();
          }
        }, 20);
      });
      expect(stderr, 'channel ids in hex, as status and inspect print them').to.match(
        /capturing channel 0x77 \(VM/,
      );
      for (let i = 1; i <= 10; i++) {
        const h = {
          service: 0x1234,
          method: 0x0001,
          client: 2,
          session: i,
          interfaceVersion: 1,
          returnCode: 0,
        };
        expect(c2p.sendCopy({ ...h, messageType: 0x00 }, new Uint8Array(i).fill(i))).to.equal(true);
        await new Promise((r) => setTimeout(r, 5));
        expect(p2c.sendCopy({ ...h, messageType: 0x80 }, new Uint8Array(3))).to.equal(true);
      }
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      expect(code, stderr).to.equal(0);
      expect(stderr).to.match(/wrote 20 frames/);
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
      unmap(m.handle);
      rmSync(file, { force: true });
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
