// Runs `npm start`'s program as a user would (bounded) and checks what it promises: hostd and
// two VM processes through Node.open, events and method calls flowing, a clean exit that
// leaves no region file, temp dir or process behind.
import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { packageRoot } from '@sivshm/core';

const MAIN = path.join(packageRoot(import.meta.url), 'dist', 'src', 'main.js');
const leftovers = (): string[] => [
  ...readdirSync('/dev/shm').filter((f) => f.startsWith('sivshm-demo')),
  ...readdirSync(os.tmpdir()).filter((f) => f.startsWith('sivshm-demo-')),
];

describe('npm start (demo on hostd)', () => {
  it('should run hostd and two VMs, stream events, call the method, show the figures and exit 0', function () {
    this.timeout(90_000);
    const before = leftovers();
    const r = spawnSync(process.execPath, [MAIN, '--duration', '3'], {
      encoding: 'utf8',
      timeout: 80_000,
    });
    expect(r.status, r.stderr + r.stdout).to.equal(0);
    expect(r.stdout).to.match(/hostd +pid \d+/);
    expect(r.stdout).to.match(/vm +infotainment pid \d+: offers VehicleSpeed, MediaControl/);
    expect(r.stdout).to.match(/vm +cluster pid \d+: consumes both/);
    // Not a TTY here: one line per second, with events/s, round trips, handshake, channels.
    const lines = r.stdout.split('\n').filter((l) => /^\[ *\d+s\]/.test(l));
    expect(lines.length, r.stdout).to.be.greaterThan(0);
    expect(lines.at(-1)).to.match(/\d+ events\/s/);
    expect(lines.at(-1)).to.match(
      /channels VehicleSpeed connected \(plain\), MediaControl connected \(plain\)/,
    );
    const done =
      /done +(\d+) events received of (\d+) sent, (\d+) method calls \(rtt p50 ([\d.]+) ms, p99 ([\d.]+) ms\), handshake VehicleSpeed ([\d.]+) ms, MediaControl ([\d.]+) ms/.exec(
        r.stdout,
      );
    expect(done, r.stdout).to.not.equal(null);
    const [received, sent, calls] = [Number(done![1]), Number(done![2]), Number(done![3])];
    expect(received).to.be.greaterThan(50);
    // The provider quiesces before the stop, so every event sent to a connected consumer arrived.
    expect(received, 'events received vs sent').to.equal(sent);
    expect(calls).to.be.at.least(1);
    expect(Number(done![6])).to.be.greaterThan(0);
    expect(leftovers()).to.deep.equal(before);
  });

  it('should run every channel in aead with --mode aead and lose no event', function () {
    this.timeout(90_000);
    const r = spawnSync(process.execPath, [MAIN, '--mode', 'aead', '--duration', '3'], {
      encoding: 'utf8',
      timeout: 80_000,
    });
    expect(r.status, r.stderr + r.stdout).to.equal(0);
    expect(r.stdout).to.match(/every channel aead/);
    const lines = r.stdout.split('\n').filter((l) => /^\[ *\d+s\]/.test(l));
    expect(lines.at(-1)).to.match(
      /channels VehicleSpeed connected \(aead\), MediaControl connected \(aead\)/,
    );
    const done = /done +(\d+) events received of (\d+) sent, (\d+) method calls/.exec(r.stdout);
    expect(done, r.stdout).to.not.equal(null);
    expect(Number(done![1])).to.be.greaterThan(50);
    expect(Number(done![1]), 'events received vs sent').to.equal(Number(done![2]));
    expect(Number(done![3])).to.be.at.least(1);
  });

  it('should end quietly with exit 0 when its reader closes the pipe before the first event', async function () {
    this.timeout(90_000);
    const before = leftovers();
    // `npm start | head -1`: the read end closes after the first output, while the run is still
    // starting its processes, so no event has reached the cluster VM yet.
    const child = spawn(process.execPath, [MAIN, '--duration', '60'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    let first = '';
    child.stdout!.setEncoding('utf8').once('data', (s: string) => {
      first = s;
      child.stdout!.destroy();
    });
    const bound = setTimeout(() => child.kill('SIGKILL'), 80_000);
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    clearTimeout(bound);
    expect(first, 'the first output').to.match(/^config /);
    expect(first, 'closed before the first report').to.not.match(/events\/s/);
    expect({ code, stderr }).to.deep.equal({ code: 0, stderr: '' });
    expect(leftovers(), 'what the run created is removed').to.deep.equal(before);
  });

  it('should explain its options with --help and refuse unknown ones', () => {
    const help = spawnSync(process.execPath, [MAIN, '--help'], { encoding: 'utf8' });
    expect(help.status).to.equal(0);
    expect(help.stdout).to.match(/--duration SECONDS/);
    expect(help.stdout).to.match(/Ctrl-C/);
    const bad = spawnSync(process.execPath, [MAIN, '--frobnicate'], { encoding: 'utf8' });
    expect(bad.status).to.equal(2);
    expect(bad.stderr).to.match(/unknown argument --frobnicate/);
    const dur = spawnSync(process.execPath, [MAIN, '--duration', 'soon'], { encoding: 'utf8' });
    expect(dur.status).to.equal(2);
    expect(dur.stderr).to.match(/--duration needs a number of seconds/);
  });
});
