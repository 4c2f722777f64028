// Per-record counters, live: the producing VMs' transports count the records they publish (the
// producer page's records word); hostd's status reports them per channel and direction, its
// --metrics serves them as sivshm_channel_records_total, and `sivshm top` turns them into
// records/s. Exact counts: every event and every call and answer, nothing else. Beside them, the
// drops word (events the provider could not publish, ring full) and each end's notification
// mode (the word it wrote in its own consumer page at attach), in status, metrics and top.
import { expect } from 'chai';
import { Node } from '@sivshm/runtime';
import {
  makeDeployment,
  readStatus,
  runCli,
  startHostd,
  waitFor,
  type Deployment,
  type HostdProcess,
} from '@sivshm/testing';

const EVENTS = 25;
const CALLS = 7;

describe('per-record counters: status, metrics and top', function () {
  this.timeout(90_000);
  let d: Deployment;
  let hostd: HostdProcess;
  let provider: Node | undefined;
  let consumer: Node | undefined;

  beforeEach(async () => {
    d = makeDeployment({
      label: 'cli-records',
      vms: [
        { id: 1, name: 'infotainment' },
        { id: 2, name: 'cluster' },
      ],
      services: ['VehicleSpeed'],
    });
    hostd = await startHostd(d, ['--metrics', '127.0.0.1:0'], { logLevel: 'info' });
  });

  afterEach(async () => {
    await consumer?.close();
    await provider?.close();
    await hostd.stop();
    d.cleanup();
  });

  it('should count exactly the events, calls and answers each way, in status and metrics', async () => {
    provider = await Node.open({ config: d.configPath, vm: 'infotainment', runDir: d.runDir });
    const svc = await provider.offer('VehicleSpeed', {
      instance: 1,
      methods: { reset: () => ({ previous_odometer_m: 1 }) },
    });
    consumer = await Node.open({ config: d.configPath, vm: 'cluster', runDir: d.runDir });
    const speed = await consumer.consume('VehicleSpeed', { instance: 1, timeoutMs: 20_000 });
    let received = 0;
    speed.event('speed').subscribe(() => received++);
    const publisher = svc.publisher<{ kph: number }>('speed');
    await waitFor(() => svc.consumers === 1, 'the channel at the provider', 20_000);
    for (let i = 0; i < EVENTS; i++) expect(publisher.publish({ kph: i })).to.equal(true);
    for (let i = 0; i < CALLS; i++)
      await speed.call('reset', { odometer_m: i }, { timeoutMs: 10_000 });
    await waitFor(() => received === EVENTS, 'every event at the consumer', 20_000);

    const status = await readStatus(d);
    const channel = status.channels.find((c) => c.state === 'ACTIVE')!;
    const rings = channel.rings as unknown as Record<'c2p' | 'p2c', { records: number }>;
    expect(rings.c2p.records, 'requests').to.equal(CALLS);
    expect(rings.p2c.records, 'events and answers').to.equal(EVENTS + CALLS);

    const port = Number(hostd.logs.find((l) => l['event'] === 'metrics-listening')!['port']);
    const text = await (
      await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(10_000) })
    ).text();
    const counter = (direction: string): number =>
      Number(
        new RegExp(
          `^sivshm_channel_records_total\\{service="VehicleSpeed",direction="${direction}",mode="plain"\\} (\\d+)$`,
          'm',
        ).exec(text)?.[1],
      );
    expect(text).to.match(/^# TYPE sivshm_channel_records_total counter$/m);
    expect(counter('c2p')).to.equal(CALLS);
    expect(counter('p2c')).to.equal(EVENTS + CALLS);
  });

  it('should show records/s each way in top --once --json while traffic flows', async () => {
    provider = await Node.open({ config: d.configPath, vm: 'infotainment', runDir: d.runDir });
    const svc = await provider.offer('VehicleSpeed', {
      instance: 1,
      methods: { reset: () => ({ previous_odometer_m: 1 }) },
    });
    consumer = await Node.open({ config: d.configPath, vm: 'cluster', runDir: d.runDir });
    const speed = await consumer.consume('VehicleSpeed', { instance: 1, timeoutMs: 20_000 });
    speed.event('speed').subscribe();
    const publisher = svc.publisher<{ kph: number }>('speed');
    let stop = false;
    const timer = setInterval(() => publisher.publish({ kph: 1 }), 5);
    const calls = (async () => {
      while (!stop) {
        await speed.call('reset', {}, { timeoutMs: 10_000 }).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    try {
      const frame = JSON.parse(
        await runCli(['top', '--run-dir', d.runDir, '--once', '--json', '--interval', '2000']),
      ) as {
        channels: { c2p?: { recordsPerSecond: number }; p2c?: { recordsPerSecond: number } }[];
      };
      const c = frame.channels[0]!;
      expect(c.c2p?.recordsPerSecond, 'calls/s').to.be.above(0);
      expect(c.p2c?.recordsPerSecond, 'events and answers/s').to.be.above(c.c2p!.recordsPerSecond);
    } finally {
      stop = true;
      clearInterval(timer);
      await calls;
    }
  });

  it('should count exactly the events a full ring turned away and show both notification modes', async () => {
    provider = await Node.open({
      config: d.configPath,
      vm: 'infotainment',
      runDir: d.runDir,
      notify: 'event',
    });
    const svc = await provider.offer('VehicleSpeed', {
      instance: 1,
      methods: { reset: () => ({}) },
    });
    consumer = await Node.open({
      config: d.configPath,
      vm: 'cluster',
      runDir: d.runDir,
      notify: 'adaptive',
    });
    const speed = await consumer.consume('VehicleSpeed', { instance: 1, timeoutMs: 20_000 });
    speed.event('speed').subscribe();
    const publisher = svc.publisher<{ kph: number }>('speed');
    await waitFor(() => svc.consumers === 1, 'the channel at the provider', 20_000);
    // One synchronous burst: the consumer (same event loop) reads nothing until it ends, so the
    // ring fills and every publish after that is refused and counted.
    const DROPS = 40;
    let sent = 0;
    let refused = 0;
    for (let i = 0; refused < DROPS && i < 1_000_000; i++) {
      if (publisher.publish({ kph: i % 200 })) sent++;
      else refused++;
    }
    expect(refused).to.equal(DROPS);
    expect(sent, 'the ring took some first').to.be.above(0);
    expect(publisher.dropped).to.equal(DROPS);

    const channel = (await readStatus(d)).channels.find((c) => c.state === 'ACTIVE')!;
    const rings = channel.rings as unknown as Record<
      'c2p' | 'p2c',
      { drops: number; consumerNotify: string }
    >;
    expect(rings.p2c.drops).to.equal(DROPS);
    expect(rings.c2p.drops).to.equal(0);
    expect(rings.c2p.consumerNotify, 'the provider waits for requests').to.equal('event');
    expect(rings.p2c.consumerNotify, 'the consumer waits for events').to.equal('adaptive');

    const port = Number(hostd.logs.find((l) => l['event'] === 'metrics-listening')!['port']);
    const text = await (
      await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(10_000) })
    ).text();
    expect(text).to.match(/^# TYPE sivshm_channel_drops_total counter$/m);
    expect(text).to.match(
      new RegExp(
        `^sivshm_channel_drops_total\\{service="VehicleSpeed",direction="p2c",mode="plain"\\} ${DROPS}$`,
        'm',
      ),
    );

    const frame = JSON.parse(
      await runCli(['top', '--run-dir', d.runDir, '--once', '--json', '--interval', '200']),
    ) as { channels: { notify?: string; p2c?: { drops: number } }[] };
    expect(frame.channels[0]!.notify).to.equal('event/adaptive');
    expect(frame.channels[0]!.p2c?.drops).to.equal(DROPS);
    const table = await runCli(['top', '--run-dir', d.runDir, '--once', '--interval', '200']);
    expect(table).to.match(/\bNOTIFY\b.*\bDROPS\b/);
    expect(table).to.match(new RegExp(`\\bevent/adaptive\\b.*\\s${DROPS}\\s`));
  });

  it('should show the calls a provider refused past its maxCallsInFlight in status, top and metrics', async () => {
    provider = await Node.open({ config: d.configPath, vm: 'infotainment', runDir: d.runDir });
    const held: (() => void)[] = [];
    const svc = await provider.offer('VehicleSpeed', {
      instance: 1,
      maxCallsInFlight: 1,
      methods: {
        reset: () => new Promise<object>((resolve) => held.push(() => resolve({}))),
      },
    });
    consumer = await Node.open({ config: d.configPath, vm: 'cluster', runDir: d.runDir });
    const speed = await consumer.consume('VehicleSpeed', { instance: 1, timeoutMs: 20_000 });
    const calls = Array.from({ length: 4 }, () =>
      speed.call('reset', {}, { timeoutMs: 20_000 }).then(
        () => 'ok',
        (e: { code?: string }) => e.code,
      ),
    );
    expect(await Promise.all(calls.slice(1))).to.deep.equal(['ERR_BUSY', 'ERR_BUSY', 'ERR_BUSY']);
    expect(svc.callsRefused).to.equal(3);
    const status = await runCli(['status', '--run-dir', d.runDir]);
    expect(status).to.match(/\bEVT DROPS\s+CALLS REFUSED\b/);
    expect(status).to.match(/\bACTIVE\b.*\s0\s+3$/m);
    const frame = JSON.parse(
      await runCli(['top', '--run-dir', d.runDir, '--once', '--json', '--interval', '200']),
    ) as { channels: { c2p?: { refused: number } }[] };
    expect(frame.channels[0]!.c2p?.refused).to.equal(3);
    const port = Number(hostd.logs.find((l) => l['event'] === 'metrics-listening')!['port']);
    const text = await (
      await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(10_000) })
    ).text();
    expect(text).to.match(
      /^sivshm_channel_refused_calls_total\{service="VehicleSpeed",direction="c2p",mode="plain"\} 3$/m,
    );
    for (const answer of held) answer();
    expect(await calls[0]).to.equal('ok');
  });
});
