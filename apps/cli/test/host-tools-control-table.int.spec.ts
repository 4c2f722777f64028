// Host tools against a hostile VM (docs/security.md §12): `sivshm record`, `capture` and
// `inspect` read the region header and channel table from hostd's control file, so a VM process
// that keeps scribbling over the region's copy of them (it can: the region is writable to every
// VM) neither hides a channel from them nor points them at another window.
import { expect } from 'chai';
import { randomFillSync } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { ChannelEntryLayout } from '@sivshm/abi';
import { Node } from '@sivshm/runtime';
import {
  makeDeployment,
  startHostd,
  waitFor,
  type Deployment,
  type HostdProcess,
} from '@sivshm/testing';
import {
  ChannelTableReader,
  controlPathFor,
  mapFile,
  readControlHeader,
  unmap,
  type MappedFile,
} from '@sivshm/transport-ivshmem';
import { messageOf } from '../src/diag/recorded-channel.js';
import { readPcapng } from '../src/diag/pcapng.js';
import { sivshm } from './support/bounded-run.js';
import { pcapFrames } from './support/pcap-frames.js';

const RUN_MS = 60_000;
const SPEED_SERVICE = 0x1234;

type Speed = { kph: number; odometer_m: number; timestamp_ms: number };

/** What a hostile VM process does to the region: garbage over its header and channel table. */
class RegionScribbler {
  readonly #mapping: MappedFile;
  readonly #spans: [number, number][];
  readonly #timer: NodeJS.Timeout;
  rounds = 0;

  constructor(regionPath: string, size: number, tableAt: number, tableBytes: number) {
    this.#mapping = mapFile(regionPath, 0, size, { writable: true });
    this.#spans = [
      [0, 64],
      [tableAt, tableAt + tableBytes],
    ];
    this.scribble();
    this.#timer = setInterval(() => this.scribble(), 5);
  }

  scribble(): void {
    const bytes = new Uint8Array(this.#mapping.bulk);
    for (const [from, to] of this.#spans) randomFillSync(bytes.subarray(from, to));
    this.rounds++;
  }

  get region(): Uint8Array {
    return new Uint8Array(this.#mapping.shared);
  }

  stop(): void {
    clearInterval(this.#timer);
    unmap(this.#mapping.handle);
  }
}

describe('host tools and a VM that scribbles over the region’s channel table', function () {
  this.timeout(180_000);
  let d: Deployment;
  let hostd: HostdProcess;

  before(async () => {
    d = makeDeployment({
      label: 'cli-hostile-table',
      vms: [
        { id: 1, name: 'infotainment' },
        { id: 2, name: 'cluster' },
      ],
      services: ['VehicleSpeed'],
    });
    hostd = await startHostd(d, [], { logLevel: 'info' });
  });

  after(async () => {
    await hostd?.stop();
    d?.cleanup();
  });

  it('should still find, record, capture and inspect the live channel from hostd’s control file', async () => {
    const provider = await Node.open({
      config: d.configPath,
      vm: 'infotainment',
      runDir: d.runDir,
    });
    const consumer = await Node.open({ config: d.configPath, vm: 'cluster', runDir: d.runDir });
    let timer: NodeJS.Timeout | undefined;
    let scribbler: RegionScribbler | undefined;
    const controlPath = controlPathFor(d.regionPath);
    const control = mapFile(controlPath, 0, statSync(controlPath).size, { writable: false });
    try {
      const svc = await provider.offer('VehicleSpeed', { instance: 1 });
      const speed = await consumer.consume('VehicleSpeed', { instance: 1, timeoutMs: 20_000 });
      const sub = speed.event<Speed>('speed').subscribe();
      const publisher = svc.publisher<Speed>('speed');
      let n = 0;
      timer = setInterval(() => {
        n++;
        publisher.publish({ kph: n % 200, odometer_m: 1000 + n, timestamp_ms: n * 10 });
      }, 10);

      // The channel as hostd wrote it, read the way a trusted host reader must.
      const controlBytes = new Uint8Array(control.shared);
      const header = readControlHeader(controlBytes);
      const hostdTable = new ChannelTableReader(controlBytes, header);
      let channelId = 0n;
      await waitFor(
        () => {
          const e = hostdTable.entries().find((x) => x.entry.service === SPEED_SERVICE);
          if (e?.entry.state !== 'ACTIVE') return false;
          channelId = e.entry.channelId;
          return true;
        },
        'the VehicleSpeed channel to be ACTIVE in the control file',
        20_000,
        20,
      );

      const tableBytes = header.channelCapacity * ChannelEntryLayout.size;
      scribbler = new RegionScribbler(
        d.regionPath,
        header.regionSize,
        header.controlOffset,
        tableBytes,
      );
      // The attack works on the region's copy: a reader of it gets a refusal, not the channel.
      scribbler.scribble();
      expect(() => new ChannelTableReader(scribbler!.region, header).entries()).to.throw(
        /channel|entry|region/i,
      );

      const idText = `0x${channelId.toString(16)}`;
      const recording = path.join(d.dir, 'hostile.pcapng');
      const rec = await sivshm(
        [
          'record',
          '--region',
          d.regionPath,
          '--config',
          d.configPath,
          '--service',
          'VehicleSpeed',
          '--count',
          '20',
          '--duration',
          '40',
          '--out',
          recording,
        ],
        { timeoutMs: RUN_MS },
      );
      expect(rec.status, rec.stderr).to.equal(0);
      expect(rec.stderr).to.match(/wrote 20 frames of 1 channel \(\d+ bytes\) to /);
      const file = readPcapng(readFileSync(recording), recording);
      expect(file.packets).to.have.length(20);
      for (const p of file.packets) expect(serviceOf(messageOf(p.data)!)).to.equal(SPEED_SERVICE);

      const captured = path.join(d.dir, 'hostile.pcap');
      const cap = await sivshm(
        [
          'capture',
          '--region',
          d.regionPath,
          '--channel',
          idText,
          '--count',
          '10',
          '--duration',
          '40',
          '--out',
          captured,
          '--json',
        ],
        { timeoutMs: RUN_MS },
      );
      expect(cap.status, cap.stderr).to.equal(0);
      expect(JSON.parse(cap.stdout.trim().split('\n').at(-1)!)).to.include({ frames: 10 });
      const frames = pcapFrames(readFileSync(captured));
      expect(frames).to.have.length(10);
      for (const f of frames) expect(serviceOf(messageOf(f)!)).to.equal(SPEED_SERVICE);

      const ins = await sivshm(['inspect', d.regionPath, '--json'], { timeoutMs: RUN_MS });
      expect(ins.status, ins.stderr).to.equal(0);
      const report = JSON.parse(ins.stdout) as { channels: { entry: { channelId: string } }[] };
      expect(report.channels.map((c) => c.entry.channelId)).to.include(idText);

      // The scribbling went on throughout, so every tool above ran over a garbage region table.
      expect(scribbler.rounds, 'scribble rounds during the tools').to.be.greaterThan(10);
      sub.unsubscribe();
    } finally {
      clearInterval(timer);
      scribbler?.stop();
      unmap(control.handle);
      await consumer.close();
      await provider.close();
    }
  });
});

/** The SOME/IP service id of a message. */
function serviceOf(someIp: Uint8Array): number {
  return (someIp[0]! << 8) | someIp[1]!;
}
