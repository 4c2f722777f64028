// Runs `npm start`'s program as a user would (bounded) and checks what it promises.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '@sivshm/core';

const MAIN = path.join(packageRoot(import.meta.url), 'dist', 'src', 'main.js');

describe('npm start (foundation demo)', () => {
  it('should run the handshake, stream events between two processes and clean up, exit 0', function () {
    this.timeout(60_000);
    const before = readdirSync('/dev/shm').filter((f) => f.startsWith('sivshm-demo'));
    const r = spawnSync(process.execPath, [MAIN, '--duration', '2'], {
      encoding: 'utf8',
      timeout: 50_000,
    });
    expect(r.status, r.stderr + r.stdout).to.equal(0);
    expect(r.stdout).to.match(/handshake complete in [\d.]+ ms/);
    expect(r.stdout).to.match(/channel 0x[0-9a-f]+ ACTIVE/);
    const m = /done +(\d+) events received of (\d+) sent/.exec(r.stdout);
    expect(m, r.stdout).to.not.equal(null);
    expect(Number(m![1])).to.be.greaterThan(50);
    expect(Number(m![1])).to.equal(Number(m![2]));
    const after = readdirSync('/dev/shm').filter((f) => f.startsWith('sivshm-demo'));
    expect(after).to.deep.equal(before);
  });

  it('should explain its options with --help and refuse unknown ones', () => {
    const help = spawnSync(process.execPath, [MAIN, '--help'], { encoding: 'utf8' });
    expect(help.status).to.equal(0);
    expect(help.stdout).to.match(/--duration SECONDS/);
    const bad = spawnSync(process.execPath, [MAIN, '--frobnicate'], { encoding: 'utf8' });
    expect(bad.status).to.equal(2);
    expect(bad.stderr).to.match(/unknown argument --frobnicate/);
  });
});
