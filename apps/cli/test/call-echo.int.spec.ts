// `sivshm call` and `sivshm echo` against a running hostd and provider: they act as the
// diagnostics VM of services.yaml (its own key, enrolment and certificate), round-trip a call and
// print events as JSON lines, and get nothing the policy does not give that VM — refused by the
// tool at once, and by hostd when the tool is handed a config that claims more.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Node } from '@sivshm/runtime';
import {
  cliEntry,
  makeDeployment,
  readStatus,
  startHostd,
  waitFor,
  type Deployment,
  type HostdProcess,
} from '@sivshm/testing';
import { expectOneLineFailure, sivshm } from './support/bounded-run.js';

/** infotainment provides both services; `diag` may consume VehicleSpeed only. */
function diagDeployment(): Deployment {
  return makeDeployment({
    label: 'cli-diag',
    vms: [
      { id: 1, name: 'infotainment' },
      { id: 2, name: 'cluster' },
      { id: 3, name: 'diag', diagnostics: true },
    ],
    services: [
      { name: 'VehicleSpeed', consumers: ['cluster', 'diag'] },
      { name: 'MediaControl', consumers: ['cluster'] },
    ],
  });
}

/** Generous: each run starts a Node process, enrols and handshakes on a machine CI shares. */
const RUN_MS = 30_000;

describe('sivshm call and echo (the diagnostics VM)', function () {
  this.timeout(90_000);
  let d: Deployment;
  let hostd: HostdProcess;
  let provider: Node;
  const resets: unknown[] = [];
  let timer: NodeJS.Timeout | undefined;

  before(async () => {
    d = diagDeployment();
    hostd = await startHostd(d, [], { logLevel: 'info' });
    provider = await Node.open({ config: d.configPath, vm: 'infotainment', runDir: d.runDir });
    let odometer = 1000;
    const speed = await provider.offer('VehicleSpeed', {
      instance: 1,
      methods: {
        reset: (req: { odometer_m?: { toString(): string } }) => {
          resets.push(String(req.odometer_m ?? 0));
          const previous = odometer;
          odometer = Number(String(req.odometer_m ?? 0));
          return { previous_odometer_m: previous };
        },
      },
    });
    await provider.offer('MediaControl', {
      instance: 1,
      methods: { control: () => ({ accepted: true }) },
    });
    const publisher = speed.publisher<{ kph: number; odometer_m: number; gear: number }>('speed');
    let n = 0;
    timer = setInterval(
      () => publisher.publish({ kph: 50 + (n++ % 10), odometer_m: n, gear: 4 }),
      10,
    );
  });

  after(async () => {
    clearInterval(timer);
    await provider?.close();
    await hostd?.stop();
    d?.cleanup();
  });

  const diagArgs = (): string[] => ['--config', d.configPath, '--run-dir', d.runDir];

  it('should call a method and print the answer as one JSON line', async () => {
    const first = await sivshm(
      ['call', 'VehicleSpeed.reset', '{"odometer_m": "42"}', ...diagArgs()],
      { timeoutMs: RUN_MS },
    );
    expect(first.status, first.stderr).to.equal(0);
    expect(first.stdout).to.equal('{"previous_odometer_m":"1000"}\n');
    const second = await sivshm(
      ['call', 'VehicleSpeed.reset', '{"odometer_m": 7}', ...diagArgs()],
      {
        timeoutMs: RUN_MS,
      },
    );
    expect(second.status, second.stderr).to.equal(0);
    expect(JSON.parse(second.stdout)).to.deep.equal({ previous_odometer_m: '42' });
    expect(resets).to.deep.equal(['42', '7']);
    // hostd enrolled it as the diagnostics VM (id 3, its own certificate), with the one right
    // the policy gives it: consuming VehicleSpeed.
    const diag = hostd.logs.filter((l) => l['event'] === 'vm-enrolled' && l['vm'] === 3);
    expect(diag, hostd.text()).to.have.length.of.at.least(2);
    expect(diag.map((l) => [l['offers'], l['requests']])).to.deep.include([0, 1]);
  });

  it('should print --count events as JSON lines, then end by itself', async () => {
    const r = await sivshm(['echo', 'VehicleSpeed.speed', '--count', '5', ...diagArgs()], {
      timeoutMs: RUN_MS,
    });
    expect(r.status, r.stderr).to.equal(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as {
            event: string;
            time: string;
            value: { kph: number; odometer_m: string; gear: string; timestamp_ms: number };
          },
      );
    expect(lines).to.have.length(5);
    for (const l of lines) {
      expect(l.event).to.equal('VehicleSpeed.speed');
      expect(Date.parse(l.time)).to.be.closeTo(Date.now(), 60_000);
      expect(l.value.kph).to.be.within(50, 59);
      expect(l.value.odometer_m).to.match(/^\d+$/); // uint64 as a decimal string
      expect(l.value.gear).to.equal('GEAR_DRIVE');
      expect(l.value).to.have.property('timestamp_ms', 0); // defaults are printed too
    }
    const odometers = lines.map((l) => Number(l.value.odometer_m));
    expect(odometers).to.deep.equal([...odometers].sort((a, b) => a - b));
  });

  it('should end cleanly on SIGINT, exit 0, with every line it printed whole', async () => {
    const { execArgv, script } = cliEntry();
    const child = spawn(
      process.execPath,
      [...execArgv, script, 'echo', 'VehicleSpeed.speed', ...diagArgs()],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const kill = setTimeout(() => child.kill('SIGKILL'), RUN_MS);
    try {
      await waitFor(() => out.split('\n').length > 3, 'three events from sivshm echo', RUN_MS);
      child.kill('SIGINT');
      expect(await exited, err).to.equal(0);
    } finally {
      clearTimeout(kill);
    }
    expect(err).to.equal('');
    expect(out.endsWith('\n')).to.equal(true);
    for (const l of out.trim().split('\n')) expect(JSON.parse(l)).to.have.property('event');
  });

  it('should refuse a service the diagnostics VM may not consume, naming the policy', async () => {
    const call = await sivshm(['call', 'MediaControl.control', '{}', ...diagArgs()], {
      timeoutMs: RUN_MS,
    });
    expectOneLineFailure(
      call,
      1,
      /^sivshm call: policy: .*services\.yaml does not let the diagnostics VM 'diag' consume 'MediaControl' \(its consumers: cluster\); add 'diag' to them to allow it$/,
    );
    const echo = await sivshm(['echo', 'MediaControl.volume', ...diagArgs()], {
      timeoutMs: RUN_MS,
    });
    expectOneLineFailure(echo, 1, /^sivshm echo: policy: .* consume 'MediaControl'/);
  });

  it('should get nothing from hostd with a config that claims more than hostd gives it', async () => {
    // The tool's own config says diag may consume MediaControl; hostd's does not. hostd issues
    // the certificate from its config, and its broker refuses the handshake: no back door.
    const claimed = path.join(d.dir, 'claims-more.yaml');
    const text = readFileSync(d.configPath, 'utf8');
    expect(text.split('consumers: [cluster]\n')).to.have.length(2);
    writeFileSync(claimed, text.replace('consumers: [cluster]\n', 'consumers: [cluster, diag]\n'));
    const r = await sivshm(
      [
        'call',
        'MediaControl.control',
        '{}',
        '--config',
        claimed,
        '--run-dir',
        d.runDir,
        '--timeout',
        '3000',
      ],
      { timeoutMs: RUN_MS },
    );
    // hostd's SD switch answers a Find only with offers the asking VM may consume, so the tool
    // never even learns of the offer; and no channel to MediaControl was ever made for it.
    expectOneLineFailure(
      r,
      1,
      /^sivshm call: no channel to service 'MediaControl' instance 1 within 3000 ms: nobody offers it .*\[ERR_NOT_OFFERED\]$/,
    );
    const status = await readStatus(d);
    const channels = status.channels as unknown as { consumerVm: number; service: number }[];
    expect(channels.filter((c) => c.consumerVm === 3 && c.service === 0x1235)).to.deep.equal([]);
  });
});

describe('sivshm call and echo: mistakes, one line each before anything is sent', function () {
  // A case runs up to four CLI processes one after another, each bounded at 15 s: the case's
  // bound covers them (mocha's default 20 s did not when a busy machine slowed their start-up).
  this.timeout(4 * 15_000 + 10_000);
  let d: Deployment;
  before(() => (d = diagDeployment()));
  after(() => d.cleanup());
  const run = (args: string[]) =>
    sivshm([...args, '--config', d.configPath, '--run-dir', d.runDir], { timeoutMs: 15_000 });

  it('should name an unknown request field and list the fields there are, exit 2', async () => {
    expectOneLineFailure(
      await run(['call', 'VehicleSpeed.reset', '{"odometer": 1}']),
      2,
      /^sivshm call: the request of VehicleSpeed\.reset \(sivshm\.demo\.ResetRequest\) field 'odometer': is not a field of sivshm\.demo\.ResetRequest; its fields: odometer_m$/,
    );
  });

  it('should name a field of the wrong type and say what it must be, exit 2', async () => {
    expectOneLineFailure(
      await run(['call', 'VehicleSpeed.reset', '{"odometer_m": "abc"}']),
      2,
      /field 'odometer_m': expected an integer 0\.\.18446744073709551615 .*got "abc"$/,
    );
    expectOneLineFailure(
      await run(['call', 'MediaControl.control', '{"command": "LOUDER"}']),
      2,
      /field 'command': expected one of MEDIA_COMMAND_UNSPECIFIED, .* \(sivshm\.demo\.MediaCommand\) or its number, got "LOUDER"$/,
    );
  });

  it('should refuse text that is not JSON, exit 2', async () => {
    expectOneLineFailure(
      await run(['call', 'VehicleSpeed.reset', '{odometer_m: 1']),
      2,
      /^sivshm call: the request of VehicleSpeed\.reset .* is not JSON \(.*\); write it like/,
    );
  });

  it('should refuse a name that is not SERVICE.MEMBER or names nothing, exit 2', async () => {
    expectOneLineFailure(
      await run(['call', 'VehicleSpeed', '{}']),
      2,
      /^sivshm call: "VehicleSpeed" is not SERVICE\.METHOD; .*e\.g\. VehicleSpeed\.reset$/,
    );
    expectOneLineFailure(
      await run(['call', 'VehicleSpeed.stop', '{}']),
      2,
      /^sivshm call: service 'VehicleSpeed' has no method 'stop'; its methods: reset$/,
    );
    expectOneLineFailure(
      await run(['echo', 'Wipers.speed']),
      2,
      /^sivshm echo: .* has no service 'Wipers'; its services: VehicleSpeed, MediaControl$/,
    );
    expectOneLineFailure(
      await run(['echo', 'VehicleSpeed.reset']),
      2,
      /^sivshm echo: service 'VehicleSpeed' has no event 'reset'; its events: speed$/,
    );
  });

  it('should say in one line that no hostd answers at --run-dir, exit 1', async () => {
    const r = await run(['echo', 'VehicleSpeed.speed', '--count', '1']);
    expectOneLineFailure(r, 1, /^sivshm echo: .*\[ERR_CONNECT\]$/);
  });

  it('should act only as a VM marked diagnostics', async () => {
    expectOneLineFailure(
      await run(['call', 'VehicleSpeed.reset', '{}', '--vm', 'cluster']),
      1,
      /^sivshm call: VM 'cluster' is not marked diagnostics: true in .*; the shell tools act only as a diagnostics VM/,
    );
    const unmarked = makeDeployment({
      label: 'cli-diag',
      vms: [
        { id: 1, name: 'infotainment' },
        { id: 2, name: 'cluster' },
      ],
      services: ['VehicleSpeed'],
    });
    try {
      const r = await sivshm(
        [
          'echo',
          'VehicleSpeed.speed',
          '--config',
          unmarked.configPath,
          '--run-dir',
          unmarked.runDir,
        ],
        { timeoutMs: 15_000 },
      );
      expectOneLineFailure(r, 1, /^sivshm echo: .* marks no VM diagnostics: true; add one/);
    } finally {
      unmarked.cleanup();
    }
  });
});
