// Host tools against a hostile VM (docs/security.md §12): `sivshm record`, `capture` and
// `inspect` read the region header and channel table from hostd's control file, so a VM process
// that keeps writing over the region's copy of them (it can: the region is writable to every VM),
// with garbage or with a well-formed forged entry, neither hides a channel from them nor points
// them at another window.
import { expect } from 'chai';
import { randomFillSync } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { ChannelEntryLayout, type ChannelEntry } from '@sivshm/abi';
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
  readRegionHeader,
  unmap,
  type MappedFile,
  type RegionHeaderInfo,
} from '@sivshm/transport-ivshmem';
import { messageOf } from '../src/diag/recorded-channel.js';
import { readPcapng } from '../src/diag/pcapng.js';
import { sivshm } from './support/bounded-run.js';
import { pcapFrames } from './support/pcap-frames.js';

const RUN_MS = 60_000;
const SPEED_SERVICE = 0x1234;

type Speed = { kph: number; odometer_m: number; timestamp_ms: number };

/**
 * A hostile VM process: it maps the region (writable, as every VM has it) and applies `attack`
 * to it at once and then every 5 ms, so hostd's mirror writes never stay for long.
 */
class RegionAttacker {
  readonly #mapping: MappedFile;
  readonly #timer: NodeJS.Timeout;
  rounds = 0;

  constructor(
    regionPath: string,
    size: number,
    readonly attack: (region: Uint8Array) => void,
  ) {
    this.#mapping = mapFile(regionPath, 0, size, { writable: true });
    this.strike();
    this.#timer = setInterval(() => this.strike(), 5);
  }

  strike(): void {
    this.attack(new Uint8Array(this.#mapping.shared));
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

/** A live VehicleSpeed channel between two VM processes, as hostd's control file has it. */
interface LiveChannel {
  readonly header: RegionHeaderInfo;
  /** Its entry and slot in hostd's table. */
  readonly entry: ChannelEntry;
  readonly index: number;
  /** The control file's bytes (read-only mapping). */
  readonly control: Uint8Array;
  stop(): Promise<void>;
}

describe('host tools and a VM that writes over the region’s header and channel table', function () {
  this.timeout(180_000);
  let d: Deployment;
  let hostd: HostdProcess;

  // A deployment each: the first attack leaves the region's header garbage, the second needs it.
  beforeEach(async () => {
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

  afterEach(async () => {
    await hostd?.stop();
    d?.cleanup();
  });

  /** Opens both VMs, publishes speed every 10 ms, waits for the channel in the control file. */
  async function liveChannel(): Promise<LiveChannel> {
    const provider = await Node.open({
      config: d.configPath,
      vm: 'infotainment',
      runDir: d.runDir,
    });
    const consumer = await Node.open({ config: d.configPath, vm: 'cluster', runDir: d.runDir });
    const controlPath = controlPathFor(d.regionPath);
    const mapping = mapFile(controlPath, 0, statSync(controlPath).size, { writable: false });
    let timer: NodeJS.Timeout | undefined;
    const stop = async (): Promise<void> => {
      clearInterval(timer);
      unmap(mapping.handle);
      await consumer.close();
      await provider.close();
    };
    try {
      const svc = await provider.offer('VehicleSpeed', { instance: 1 });
      const speed = await consumer.consume('VehicleSpeed', { instance: 1, timeoutMs: 20_000 });
      speed.event<Speed>('speed').subscribe();
      const publisher = svc.publisher<Speed>('speed');
      let n = 0;
      timer = setInterval(() => {
        n++;
        publisher.publish({ kph: n % 200, odometer_m: 1000 + n, timestamp_ms: n * 10 });
      }, 10);
      // The channel as hostd wrote it, read the way a trusted host reader must.
      const control = new Uint8Array(mapping.shared);
      const header = readControlHeader(control);
      const table = new ChannelTableReader(control, header);
      let found: { index: number; entry: ChannelEntry } | undefined;
      await waitFor(
        () => {
          const e = table.entries().find((x) => x.entry.service === SPEED_SERVICE);
          if (e?.entry.state === 'ACTIVE') found = e;
          return found !== undefined;
        },
        'the VehicleSpeed channel to be ACTIVE in the control file',
        20_000,
        20,
      );
      return { header, control, ...found!, stop };
    } catch (e) {
      await stop();
      throw e;
    }
  }

  /** record, capture and inspect on the region: each must find and tap the real channel. */
  async function toolsSeeTheChannel(ch: LiveChannel, label: string): Promise<void> {
    const idText = `0x${ch.entry.channelId.toString(16)}`;
    const recording = path.join(d.dir, `${label}.pcapng`);
    const rec = await sivshm(
      [
        'record',
        '--region',
        d.regionPath,
        '--config',
        d.configPath,
        '--service',
        'VehicleSpeed',
      ].concat(['--count', '20', '--duration', '30', '--out', recording]),
      { timeoutMs: RUN_MS },
    );
    expect(rec.status, rec.stderr).to.equal(0);
    expect(rec.stderr).to.match(/wrote 20 frames of 1 channel \(\d+ bytes\) to /);
    const file = readPcapng(readFileSync(recording), recording);
    expect(file.packets).to.have.length(20);
    for (const p of file.packets) expect(serviceOf(messageOf(p.data)!)).to.equal(SPEED_SERVICE);

    const captured = path.join(d.dir, `${label}.pcap`);
    const cap = await sivshm(
      ['capture', '--region', d.regionPath, '--channel', idText, '--count', '10'].concat([
        '--duration',
        '30',
        '--out',
        captured,
        '--json',
      ]),
      { timeoutMs: RUN_MS },
    );
    expect(cap.status, cap.stderr).to.equal(0);
    expect(JSON.parse(cap.stdout.trim().split('\n').at(-1)!)).to.include({ frames: 10 });
    const frames = pcapFrames(readFileSync(captured));
    expect(frames).to.have.length(10);
    for (const f of frames) expect(serviceOf(messageOf(f)!)).to.equal(SPEED_SERVICE);

    const ins = await sivshm(['inspect', d.regionPath, '--json'], { timeoutMs: RUN_MS });
    expect(ins.status, ins.stderr).to.equal(0);
    const report = JSON.parse(ins.stdout) as {
      channels: { entry: { channelId: string; offset: number } }[];
    };
    const listed = report.channels.find((c) => c.entry.channelId === idText);
    expect(listed?.entry.offset, 'inspect shows the real window').to.equal(ch.entry.offset);
  }

  it('should find, record, capture and inspect the live channel while the region’s header and table are garbage', async () => {
    const ch = await liveChannel();
    let attacker: RegionAttacker | undefined;
    try {
      const tableAt = ch.header.controlOffset;
      const tableEnd = tableAt + ch.header.channelCapacity * ChannelEntryLayout.size;
      attacker = new RegionAttacker(d.regionPath, ch.header.regionSize, (region) => {
        randomFillSync(region.subarray(0, 64));
        randomFillSync(region.subarray(tableAt, tableEnd));
      });
      // The attack works on the region's copy: a reader of it gets a refusal, not the channel.
      attacker.strike();
      expect(() => new ChannelTableReader(attacker!.region, ch.header).entries()).to.throw(
        /channel|entry|region/i,
      );
      await toolsSeeTheChannel(ch, 'garbage');
      // It went on throughout, so every tool above ran over a garbage region header and table.
      expect(attacker.rounds, 'attack rounds during the tools').to.be.greaterThan(10);
    } finally {
      attacker?.stop();
      await ch.stop();
    }
  });

  it('should not follow a well-formed entry a VM forged in the region’s table to another window', async () => {
    const ch = await liveChannel();
    let attacker: RegionAttacker | undefined;
    try {
      // hostd's own entry, its window moved to the end of the data area (an idle window there):
      // a valid entry, so a reader of the region's table would tap a ring that never fills.
      const size = ChannelEntryLayout.size;
      const forged = ch.control.slice(
        ch.header.controlOffset + ch.index * size,
        ch.header.controlOffset + (ch.index + 1) * size,
      );
      const elsewhere = ch.header.dataOffset + ch.header.dataSize - ch.entry.length;
      expect(elsewhere).to.be.greaterThan(ch.entry.offset + ch.entry.length);
      new DataView(forged.buffer).setBigUint64(
        ChannelEntryLayout.off.offset,
        BigInt(elsewhere),
        true,
      );
      const at = ch.header.controlOffset + ch.index * size;
      attacker = new RegionAttacker(d.regionPath, ch.header.regionSize, (region) =>
        region.set(forged, at),
      );
      const mirror = new ChannelTableReader(attacker.region, readRegionHeader(attacker.region));
      expect(mirror.find(ch.entry.channelId)?.entry.offset, 'the forgery reads as valid').to.equal(
        elsewhere,
      );
      await toolsSeeTheChannel(ch, 'forged');
      expect(attacker.rounds, 'attack rounds during the tools').to.be.greaterThan(10);
    } finally {
      attacker?.stop();
      await ch.stop();
    }
  });
});

/** The SOME/IP service id of a message. */
function serviceOf(someIp: Uint8Array): number {
  return (someIp[0]! << 8) | someIp[1]!;
}
