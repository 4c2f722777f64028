// Issue 16: what an operator sees of a live deployment — hostd's --metrics endpoint scraped
// while a provider app publishes and a consumer app takes events and calls (real VM apps, the
// runtime's Node, each its own OS process), parsed with a Prometheus text parser; and
// `sivshm top --once --json` against the same deployment.
import { expect } from 'chai';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cliEntry, runCli } from '@sivshm/testing';
import {
  makeDeployment,
  startHostd,
  waitFor,
  type Deployment,
  type HostdProcess,
} from './support/test-deployment.js';
import {
  startConsumerApp,
  startProviderApp,
  type ConsumerFigures,
  type VmApp,
} from './support/vm-apps.js';
import { TestVm } from './support/test-vm.js';

const tmuxMissing = spawnSync('tmux', ['-V'], { encoding: 'utf8' }).error !== undefined;

type Families = ReturnType<typeof parsePrometheusTextFormat>;

async function scrape(port: number): Promise<Families> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, {
    signal: AbortSignal.timeout(10_000),
  });
  expect(res.status).to.equal(200);
  expect(res.headers.get('content-type')).to.match(/^text\/plain; version=0\.0\.4/);
  return parsePrometheusTextFormat(await res.text());
}

/** Sum of a family's samples whose labels include `match`. */
function sum(f: Families, name: string, match: Record<string, string> = {}): number {
  const family = f.find((x) => x.name === name);
  if (family === undefined) throw new Error(`no ${name} in the scrape`);
  return family.metrics
    .filter((m) => Object.entries(match).every(([k, v]) => m.labels?.[k] === v))
    .reduce((n, m) => n + Number(m.value ?? m.count), 0);
}

describe('hostd metrics and sivshm top on a live deployment (issue 16)', function () {
  this.timeout(90_000);
  let d: Deployment;
  let hostd: HostdProcess | undefined;
  const apps: VmApp[] = [];
  const vms: TestVm[] = [];

  beforeEach(() => {
    d = makeDeployment();
  });
  afterEach(async () => {
    try {
      for (const v of vms.splice(0)) v.close();
      for (const a of apps.splice(0)) await a.stop();
      if (hostd !== undefined) expect(await hostd.stop()).to.equal(0);
    } finally {
      hostd?.kill();
      hostd = undefined;
      d.cleanup();
    }
  });

  async function live(): Promise<{ port: number; consumer: VmApp }> {
    hostd = await startHostd(d, ['--metrics', '127.0.0.1:0']);
    const listening = hostd.logs.find((l) => l['event'] === 'metrics-listening');
    expect(listening, 'hostd logged where --metrics listens').to.not.equal(undefined);
    apps.push(await startProviderApp(d));
    const consumer = await startConsumerApp(d, 'cluster', ['speed', 'media']);
    apps.push(consumer);
    await waitFor(
      async () => (await consumer.ask<ConsumerFigures>('report', 'consumer')).events >= 20,
      'the first events',
      20_000,
    );
    return { port: Number(listening!['port']), consumer };
  }

  it('should serve counters that parse as Prometheus text and move with the traffic', async () => {
    const { port } = await live();
    for (const [method, url] of [
      ['GET', '/'],
      ['POST', '/metrics'],
      ['GET', '/metrics/../status'],
    ] as const) {
      const res = await fetch(`http://127.0.0.1:${port}${url}`, {
        method,
        signal: AbortSignal.timeout(10_000),
      });
      expect(res.status, `${method} ${url}`).to.equal(404);
    }
    const first = await scrape(port);
    expect(sum(first, 'sivshm_handshakes_total', { outcome: 'established' })).to.be.at.least(2);
    expect(sum(first, 'sivshm_handshake_duration_seconds')).to.be.at.least(2);
    expect(sum(first, 'sivshm_vms_connected')).to.equal(2);
    // A VM that offers without enrolling is refused: the refusal shows under its reason.
    const rogue = await TestVm.connect(d.socket('rogue'));
    vms.push(rogue);
    rogue.offer(0x1234, 1);
    const events = { service: 'VehicleSpeed', direction: 'p2c' };
    const calls = { service: 'MediaControl', direction: 'c2p' };
    let later = first;
    await waitFor(
      async () => {
        later = await scrape(port);
        return (
          sum(later, 'sivshm_channel_bytes_total', events) >
            sum(first, 'sivshm_channel_bytes_total', events) &&
          sum(later, 'sivshm_channel_bytes_total', calls) >
            sum(first, 'sivshm_channel_bytes_total', calls) &&
          sum(later, 'sivshm_refusals_total') > sum(first, 'sivshm_refusals_total')
        );
      },
      'event and call bytes and a refusal in a later scrape',
      15_000,
    );
    const bytes = later.find((f) => f.name === 'sivshm_channel_bytes_total')!;
    expect(bytes.type).to.equal('COUNTER');
    expect(bytes.metrics.map((m) => m.labels?.['mode'])).to.include('plain');
    expect(
      later.find((f) => f.name === 'sivshm_hostd_nodejs_eventloop_lag_p99_seconds'),
    ).to.not.equal(undefined);
  });

  it('should list the services and non-zero rates in top --once --json, and the names in the table', async () => {
    await live();
    const frame = JSON.parse(
      await runCli(['top', '--run-dir', d.runDir, '--once', '--json', '--interval', '2000']),
    ) as {
      services: { name: string; provider: string; consumers: string[] }[];
      channels: {
        service: string;
        consumer: string;
        p2c?: { bytesPerSecond: number };
        c2p?: { bytesPerSecond: number };
      }[];
      hostd: { eventLoopDelayMs: { p99: number } };
    };
    expect(frame.services.map((s) => s.name).sort()).to.deep.equal([
      'MediaControl',
      'VehicleSpeed',
    ]);
    expect(frame.services.every((s) => s.provider === 'infotainment')).to.equal(true);
    const speed = frame.channels.find((c) => c.service === 'VehicleSpeed');
    expect(speed?.consumer).to.equal('cluster');
    expect(speed?.p2c?.bytesPerSecond, 'speed events/s as bytes').to.be.above(0);
    const media = frame.channels.find((c) => c.service === 'MediaControl');
    expect(media?.c2p?.bytesPerSecond, 'media calls as bytes').to.be.above(0);
    expect(frame.hostd.eventLoopDelayMs.p99).to.be.a('number');
    const text = await runCli(['top', '--run-dir', d.runDir, '--once', '--interval', '200']);
    expect(text).to.match(/^sivshm top — hostd pid \d+/);
    expect(text).to.match(/VehicleSpeed\.1\s+cluster\s+plain\s+[a-z]+\/[a-z]+\s+ACTIVE/);
  });

  it('should redraw in place in a tmux pane and quit with exit 0 on q, restoring the screen', async function () {
    if (tmuxMissing) {
      console.log('      (pending: tmux is not installed)');
      this.skip();
    }
    await live();
    const dir = mkdtempSync(path.join(tmpdir(), 'sivshm-top-tmux-'));
    // Its own tmux server (-S socket in the temp dir): nothing of the user's tmux is touched.
    const tmux = (...args: string[]) =>
      spawnSync('tmux', ['-S', path.join(dir, 'tmux.sock'), ...args], { encoding: 'utf8' });
    const { execArgv, script } = cliEntry();
    const exitFile = path.join(dir, 'exit');
    const command = [
      process.execPath,
      ...execArgv,
      script,
      'top',
      '--run-dir',
      d.runDir,
      '--interval',
      '300',
    ]
      .map((a) => `'${a}'`)
      .join(' ');
    try {
      const started = tmux(
        'new-session',
        '-d',
        '-x',
        '132',
        '-y',
        '30',
        `${command}; echo $? > ${exitFile}; sleep 30`,
      );
      expect(started.status, started.stderr).to.equal(0);
      const pane = (): string => tmux('capture-pane', '-p').stdout;
      await waitFor(
        () => /VehicleSpeed\.1\s+cluster\s+plain\s+[a-z]+\/[a-z]+\s+ACTIVE/.test(pane()),
        'a frame in the pane',
        15_000,
      );
      const first = pane();
      expect(first).to.match(/q quit · s sort \(now: rate\)/);
      // In place: the next frame replaces the first (same first line, no scrolled copy).
      await waitFor(() => pane() !== first, 'a redraw', 5000);
      expect(pane().match(/^sivshm top/gm)).to.have.length(1);
      tmux('send-keys', 's');
      await waitFor(() => /now: service/.test(pane()), 's to change the order', 5000);
      tmux('send-keys', 'q');
      await waitFor(() => existsSync(exitFile), 'top to exit on q', 5000);
      expect(readFileSync(exitFile, 'utf8').trim()).to.equal('0');
      // The alternate screen is left: the frame is gone from the pane.
      expect(pane()).to.not.match(/sivshm top/);
    } finally {
      tmux('kill-server');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
