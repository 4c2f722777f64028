// `sivshm record` and `sivshm replay` against a running hostd: a live channel recorded into
// pcapng (tshark reads it: one interface per channel, SOME/IP inside), then replayed as the
// provider to a fresh consumer, which gets the same payloads in the same order. A bad output
// path fails before anything is captured.
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '@sivshm/core';
import { Node } from '@sivshm/runtime';
import {
  cliEntry,
  makeDeployment,
  startHostd,
  fieldValues,
  tsharkDecodeFile,
  tsharkMissing,
  waitFor,
  type Deployment,
  type HostdProcess,
} from '@sivshm/testing';
import { interfaceBlock, packetBlock, readPcapng, sectionHeaderBlock } from '../src/diag/pcapng.js';
import {
  channelInterface,
  frameOf,
  messageOf,
  recordedChannelFrom,
} from '../src/diag/recorded-channel.js';
import { expectOneLineFailure, sivshm } from './support/bounded-run.js';

const RUN_MS = 60_000;
const FRAMES = 30;

type Speed = { kph: number; odometer_m: number; timestamp_ms: number };

/** A `sivshm <args>` child whose stderr is kept, killed if it outlives RUN_MS. */
interface CliChild {
  readonly child: ChildProcess;
  /** Its stderr so far. */
  stderr(): string;
  /** Its exit code. */
  readonly exited: Promise<number | null>;
  /** Drops the kill bound (once the test no longer waits for it). */
  unbound(): void;
}

function startCli(args: readonly string[]): CliChild {
  const { execArgv, script } = cliEntry();
  const child = spawn(process.execPath, [...execArgv, script, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const kill = setTimeout(() => child.kill('SIGKILL'), RUN_MS);
  return { child, stderr: () => stderr, exited, unbound: () => clearTimeout(kill) };
}

describe('sivshm record and replay', function () {
  this.timeout(180_000);
  let d: Deployment;
  let hostd: HostdProcess;
  let out: string;

  before(async () => {
    d = makeDeployment({
      label: 'cli-record',
      vms: [
        { id: 1, name: 'infotainment' },
        { id: 2, name: 'cluster' },
      ],
      services: ['VehicleSpeed', 'MediaControl'],
    });
    hostd = await startHostd(d, [], { logLevel: 'info' });
    out = path.join(d.dir, 'drive.pcapng');
  });

  after(async () => {
    await hostd?.stop();
    d?.cleanup();
  });

  /** The provider (infotainment) and consumer (cluster) Nodes; close() closes both. */
  async function openNodes(): Promise<{ provider: Node; consumer: Node; close(): Promise<void> }> {
    const provider = await Node.open({
      config: d.configPath,
      vm: 'infotainment',
      runDir: d.runDir,
    });
    const consumer = await Node.open({ config: d.configPath, vm: 'cluster', runDir: d.runDir });
    return {
      provider,
      consumer,
      close: async () => {
        await consumer.close();
        await provider.close();
      },
    };
  }

  /** Publishes speed every 10 ms to a cluster consumer; returns what stops it. */
  async function liveDrive(provider: Node, consumer: Node): Promise<() => void> {
    const svc = await provider.offer('VehicleSpeed', { instance: 1 });
    const speed = await consumer.consume('VehicleSpeed', { instance: 1, timeoutMs: 20_000 });
    const sub = speed.event<Speed>('speed').subscribe();
    const publisher = svc.publisher<Speed>('speed');
    let n = 0;
    const timer = setInterval(() => {
      n++;
      publisher.publish({ kph: n % 200, odometer_m: 1000 + n, timestamp_ms: n * 10 });
    }, 10);
    return () => {
      clearInterval(timer);
      sub.unsubscribe();
    };
  }

  it('should record a live channel into pcapng that tshark reads, streamed and bounded by --count', async () => {
    const nodes = await openNodes();
    const stop = await liveDrive(nodes.provider, nodes.consumer);
    try {
      const r = await sivshm(
        [
          'record',
          '--region',
          d.regionPath,
          '--config',
          d.configPath,
          '--service',
          'VehicleSpeed',
          '--count',
          String(FRAMES),
          '--out',
          out,
        ],
        { timeoutMs: RUN_MS },
      );
      expect(r.status, r.stderr).to.equal(0);
      expect(r.stderr).to.match(
        new RegExp(`wrote ${FRAMES} frames of 1 channel \\(\\d+ bytes\\) to `),
      );
    } finally {
      stop();
      await nodes.close();
    }
    const file = readPcapng(readFileSync(out), out);
    expect(file.interfaces).to.have.length(1);
    expect(recordedChannelFrom(file.interfaces[0]!)).to.include({
      service: 0x1234,
      instance: 1,
      mode: 'plain',
      consumerVm: 2,
      providerVm: 1,
    });
    expect(file.packets).to.have.length(FRAMES);
    const times = file.packets.map((p) => p.timestampUs);
    expect(times).to.deep.equal([...times].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    const missing = tsharkMissing();
    if (missing !== undefined) {
      console.log(`      (tshark part pending: ${missing}; CI installs it with apt)`);
      return;
    }
    // tshark, the independent judge: pcapng blocks, IP and UDP checksums, SOME/IP fields.
    const t = tsharkDecodeFile(out, { someipUdpPorts: [30501] });
    expect(t.packets).to.have.length(FRAMES);
    expect(t.expert).to.not.match(/Error|Warning/);
    const channelId = recordedChannelFrom(file.interfaces[0]!)!.channelId;
    for (const p of t.packets) {
      expect(fieldValues(p, 'frame.interface_name')).to.deep.equal([
        `sivshm-0x${channelId.toString(16)}`,
      ]);
      expect(fieldValues(p, 'frame.interface_description')[0]).to.match(
        /VehicleSpeed\/1, cluster <-> infotainment/,
      );
      expect(fieldValues(p, 'someip.serviceid')).to.deep.equal(['0x1234']);
      expect(fieldValues(p, 'someip.methodid')).to.deep.equal(['0x8001']);
      expect(fieldValues(p, 'someip.messagetype')).to.deep.equal(['0x02']);
      expect(fieldValues(p, 'ip.src')).to.deep.equal(['127.0.1.1']);
    }
  });

  it('should replay the recording as the provider: same payloads, same order', async () => {
    const file = readPcapng(readFileSync(out), out);
    const recorded = file.packets.map((p) => Buffer.from(messageOf(p.data)!.subarray(16)));
    const cli = startCli([
      'replay',
      out,
      '--as',
      'infotainment',
      '--config',
      d.configPath,
      '--run-dir',
      d.runDir,
      '--start-delay',
      '2000',
    ]);
    const type = (await loadConfig(d.configPath)).protoRoot.lookupType('sivshm.demo.VehicleSpeed');
    const received: Buffer[] = [];
    const consumer = await Node.open({ config: d.configPath, vm: 'cluster', runDir: d.runDir });
    try {
      const speed = await consumer.consume('VehicleSpeed', { instance: 1, timeoutMs: 30_000 });
      speed
        .event<object>('speed')
        .subscribe((m) => received.push(Buffer.from(type.encode(type.fromObject(m)).finish())));
      expect(await cli.exited, cli.stderr()).to.equal(0);
      await waitFor(() => received.length >= recorded.length, 'the replayed events', 5000).catch(
        () => undefined,
      );
    } finally {
      cli.unbound();
      await consumer.close();
    }
    expect(cli.stderr()).to.match(
      new RegExp(`replayed ${FRAMES} of ${FRAMES} events from .* as infotainment`),
    );
    expect(received.map((b) => b.toString('hex'))).to.deep.equal(
      recorded.map((b) => b.toString('hex')),
    );
  });

  it('should refuse to replay as a VM that does not provide the recorded service', async () => {
    const r = await sivshm(
      ['replay', out, '--as', 'cluster', '--config', d.configPath, '--run-dir', d.runDir],
      { timeoutMs: RUN_MS },
    );
    expectOneLineFailure(
      r,
      1,
      /^sivshm replay: policy: .* names 'infotainment' as the provider of 'VehicleSpeed', not 'cluster'; replay it --as infotainment$/,
    );
    const notPcapng = path.join(d.dir, 'not.pcapng');
    writeFileSync(notPcapng, 'hello');
    expectOneLineFailure(
      await sivshm(['replay', notPcapng, '--as', 'infotainment', '--config', d.configPath]),
      1,
      /^sivshm replay: .*not\.pcapng is not a pcapng file sivshm can read: a block cut short at byte 0$/,
    );
  });

  it('should give every channel its own interface, one that opens mid-recording too, and stop on SIGINT', async () => {
    const all = path.join(d.dir, 'all.pcapng');
    const cli = startCli([
      'record',
      '--region',
      d.regionPath,
      '--config',
      d.configPath,
      '--out',
      all,
    ]);
    let stop: (() => void) | undefined;
    let published = 0;
    const nodes = await openNodes();
    const { provider, consumer } = nodes;
    try {
      await waitFor(() => cli.stderr().includes('recording to'), 'the recording to start', RUN_MS);
      stop = await liveDrive(provider, consumer);
      // A second channel, opened while the recording runs.
      const media = await provider.offer('MediaControl', { instance: 1 });
      const volume = media.publisher<{ volume: number }>('volume');
      const control = await consumer.consume('MediaControl', { instance: 1, timeoutMs: 20_000 });
      let volumes = 0;
      control.event('volume').subscribe(() => volumes++);
      const timer = setInterval(() => {
        if (volume.publish({ volume: published % 100 })) published++;
      }, 10);
      await waitFor(() => volumes >= 10, 'volume events', RUN_MS);
      clearInterval(timer);
      // The recorder (its own process) polls every ms, but a busy machine can hold it back for
      // longer: stop it once its file holds every volume event, not after a fixed pause.
      const recordedVolumes = (): number => {
        try {
          return readPcapng(readFileSync(all), all).packets.filter((p) => p.interfaceId === 1)
            .length;
        } catch {
          return 0; // a block still being written
        }
      };
      await waitFor(
        () => recordedVolumes() >= published,
        'every volume event recorded',
        RUN_MS,
        20,
      );
      cli.child.kill('SIGINT');
      expect(await cli.exited, cli.stderr()).to.equal(0);
    } finally {
      cli.unbound();
      stop?.();
      await nodes.close();
    }
    expect(cli.stderr()).to.match(/wrote \d+ frames of 2 channels/);
    const file = readPcapng(readFileSync(all), all);
    const services = file.interfaces.map((i) => recordedChannelFrom(i)!.service);
    expect(services).to.deep.equal([0x1234, 0x1235]);
    const perInterface = [0, 1].map(
      (id) => file.packets.filter((p) => p.interfaceId === id).length,
    );
    expect(perInterface[0]).to.be.greaterThan(0);
    // Every event of the channel that opened mid-recording, from its first (read from index 0).
    expect(perInterface[1]).to.equal(published);
  });

  it('should stop at --max-size with a file that still reads whole, and after --duration', async () => {
    const small = path.join(d.dir, 'small.pcapng');
    const nodes = await openNodes();
    const stop = await liveDrive(nodes.provider, nodes.consumer);
    try {
      const r = await sivshm(
        ['record', '--region', d.regionPath, '--max-size', '4096', '--out', small],
        { timeoutMs: RUN_MS },
      );
      expect(r.status, r.stderr).to.equal(0);
      expect(r.stderr).to.match(/\(stopped at --max-size 4096\)\n$/);
      const bytes = readFileSync(small);
      expect(bytes.length).to.be.at.most(4096);
      expect(readPcapng(bytes, small).packets.length).to.be.greaterThan(0);
      const timed = await sivshm(
        ['record', '--region', d.regionPath, '--duration', '1', '--out', small],
        { timeoutMs: RUN_MS },
      );
      expect(timed.status, timed.stderr).to.equal(0);
      expect(timed.stderr).to.match(/\(--duration 1 s\)\n$/);
    } finally {
      stop();
      await nodes.close();
    }
  });

  it('should end a replay on SIGINT at once, even in a long recorded pause (--no-wait)', async () => {
    // A hand-made recording: two speed events 10 minutes apart on one plain channel.
    const paused = path.join(d.dir, 'paused.pcapng');
    await writeTwoEvents(d.configPath, paused, 600_000_000n);
    const consumer = await Node.open({ config: d.configPath, vm: 'cluster', runDir: d.runDir });
    const cli = startCli([
      'replay',
      paused,
      '--as',
      'infotainment',
      '--config',
      d.configPath,
      '--run-dir',
      d.runDir,
      '--no-wait',
    ]);
    try {
      // The offer exists once the consumer gets a channel; the first event was sent at once.
      await consumer.consume('VehicleSpeed', { instance: 1, timeoutMs: 30_000 });
      await new Promise((r) => setTimeout(r, 500));
      const interrupted = Date.now();
      cli.child.kill('SIGINT');
      expect(await cli.exited, cli.stderr()).to.equal(0);
      expect(Date.now() - interrupted, 'ended without waiting out the pause').to.be.below(15_000);
    } finally {
      cli.unbound();
      await consumer.close();
    }
    expect(cli.stderr()).to.match(
      /^replayed 1 of 2 events from .*paused\.pcapng as infotainment\n$/,
    );
  });

  it('should keep the recorded pace, scaled by --rate (a lower bound: load only delays)', async () => {
    const paced = path.join(d.dir, 'paced.pcapng');
    await writeTwoEvents(d.configPath, paced, 4_000_000n); // 4 s apart; --rate 2: 2 s
    const args = ['--config', d.configPath, '--run-dir', d.runDir, '--start-delay', '2000'];
    const replayed = sivshm(['replay', paced, '--as', 'infotainment', '--rate', '2', ...args], {
      timeoutMs: RUN_MS,
    });
    const consumer = await Node.open({ config: d.configPath, vm: 'cluster', runDir: d.runDir });
    try {
      // Playback starts 2 s after the replay sees this consumer (time to subscribe), so never
      // before `asked`.
      const asked = Date.now();
      const speed = await consumer.consume('VehicleSpeed', { instance: 1, timeoutMs: 30_000 });
      const arrivals: { kph: number; at: number }[] = [];
      speed
        .event<{ kph: number }>('speed')
        .subscribe((m) => arrivals.push({ kph: m.kph, at: Date.now() }));
      const r = await replayed;
      expect(r.status, r.stderr).to.equal(0);
      await waitFor(() => arrivals.length === 2, 'both events', 10_000).catch(() => undefined);
      expect(arrivals.map((a) => a.kph)).to.deep.equal([10, 20]);
      // --start-delay 2 s, then 4 s / --rate 2 between the two: at least 4 s after `asked`.
      expect(arrivals[1]!.at - asked, 'the second event paced, not sent at once').to.be.at.least(
        3900,
      );
    } finally {
      await consumer.close();
    }
  });

  it('should fail before capturing when the output cannot be written', async () => {
    for (const [bad, says] of [
      [path.join(d.dir, 'no-such-dir', 'x.pcapng'), /directory .*no-such-dir does not exist$/],
      [d.dir, /is a directory; give a file name$/],
    ] as const) {
      const r = await sivshm(['record', '--region', d.regionPath, '--out', bad], {
        timeoutMs: RUN_MS,
      });
      const line = expectOneLineFailure(r, 1, /^sivshm record: /);
      expect(line).to.match(says);
      expect(line).to.not.match(/recording to/); // it never started
    }
  });
});

/** A recording of two speed events (kph 10, then 20) `gapUs` apart on one plain channel. */
async function writeTwoEvents(config: string, file: string, gapUs: bigint): Promise<void> {
  const type = (await loadConfig(config)).protoRoot.lookupType('sivshm.demo.VehicleSpeed');
  const event = (kph: number): Uint8Array => {
    const payload = type.encode({ kph }).finish();
    const m = new Uint8Array(16 + payload.length);
    const v = new DataView(m.buffer);
    v.setUint32(0, 0x1234_8001);
    v.setUint32(4, 8 + payload.length);
    v.setUint32(8, 1);
    v.setUint32(12, 0x0101_0200); // protocol 1, interface 1, NOTIFICATION, E_OK
    m.set(payload, 16);
    return frameOf(m, 1, 2);
  };
  const channel = {
    channelId: 0x99n,
    service: 0x1234,
    instance: 1,
    major: 1,
    mode: 'plain' as const,
    consumerVm: 2,
    providerVm: 1,
  };
  const t0 = 1_700_000_000_000_000n;
  writeFileSync(
    file,
    Buffer.concat([
      sectionHeaderBlock('test'),
      interfaceBlock(channelInterface(channel)),
      packetBlock({ interfaceId: 0, timestampUs: t0, data: event(10) }),
      packetBlock({ interfaceId: 0, timestampUs: t0 + gapUs, data: event(20) }),
    ]),
  );
}
