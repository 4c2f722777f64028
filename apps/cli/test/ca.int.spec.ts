// Spawns the built `sivshm` binary: ca init / issue / revoke and cert show, as a user would.
import { expect } from 'chai';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { cliEntry, runCliSync } from '@sivshm/testing';

/** Runs `sivshm <args>` without blocking (so several run at once): exit status and output. */
function sivshmAsync(
  ...args: string[]
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const { execArgv, script } = cliEntry();
  const child = spawn(process.execPath, [...execArgv, script, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  return new Promise((resolve) =>
    child.on('close', (status) => resolve({ status, stdout, stderr })),
  );
}

function sivshm(...args: string[]) {
  const r = runCliSync(args);
  if (r.error) throw r.error;
  return r;
}

describe('sivshm ca / cert', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'sivshm-ca-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('should init a CA with private key files readable only by the owner, and refuse to overwrite it', () => {
    const ca = path.join(dir, 'ca');
    const r = sivshm('ca', 'init', '--dir', ca);
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/CA public key: +[0-9a-f]{64}/);
    expect(statSync(path.join(ca, 'ca.key')).mode & 0o777).to.equal(0o600);
    expect(statSync(path.join(ca, 'broker.key')).mode & 0o777).to.equal(0o600);
    const again = sivshm('ca', 'init', '--dir', ca);
    expect(again.status).to.equal(1);
    expect(again.stderr).to.match(/exists; pass --force/);
  });

  it('should issue a certificate that cert show prints, verifies, and reports once revoked', () => {
    const ca = path.join(dir, 'ca');
    const pem = path.join(dir, 'cluster.pem');
    expect(sivshm('ca', 'init', '--dir', ca).status).to.equal(0);
    const issue = sivshm(
      'ca',
      'issue',
      '--dir',
      ca,
      '--vm',
      '2',
      '--name',
      'cluster',
      '--new-key',
      path.join(dir, 'cluster.key'),
      '--request',
      '0x1234:1',
      '--out',
      pem,
    );
    expect(issue.status, issue.stderr).to.equal(0);
    expect(readFileSync(pem, 'utf8')).to.match(/^-----BEGIN SIVSHM CERTIFICATE-----/);
    const show = sivshm('cert', 'show', pem, '--ca-dir', ca);
    expect(show.status, show.stderr).to.equal(0);
    expect(show.stdout).to.match(/subject: +cluster/);
    expect(show.stdout).to.match(/service 0x1234 instances 0x0001/);
    expect(show.stdout).to.match(/verification: OK/);
    const json = JSON.parse(sivshm('cert', 'show', pem, '--json').stdout) as {
      vmId: number;
      serial: string;
    };
    expect(json.vmId).to.equal(2);
    expect(sivshm('ca', 'revoke', '--dir', ca, '--serial', json.serial).status).to.equal(0);
    const after = sivshm('cert', 'show', pem, '--ca-dir', ca);
    expect(after.status).to.equal(1);
    expect(after.stdout).to.match(/FAILED: .*revoked/);
  });

  it('should never give two concurrent ca issue commands the same serial', async function () {
    // What it waits on is 14 CLI processes (Node start and module load, then a little work):
    // on two cores shared with 20 runnable processes each gets a small share of a core, and
    // the six issues queue on the CA lock. The bound is for a hang, not for speed.
    this.timeout(60_000);
    const ca = path.join(dir, 'ca');
    expect(sivshm('ca', 'init', '--dir', ca).status).to.equal(0);
    const n = 6;
    const runs = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        sivshmAsync(
          'ca',
          'issue',
          '--dir',
          ca,
          '--vm',
          '2',
          '--name',
          `cluster-${i}`,
          '--new-key',
          path.join(dir, `k${i}.key`),
          '--request',
          '0x1234:1',
          '--out',
          path.join(dir, `c${i}.pem`),
        ),
      ),
    );
    for (const r of runs) expect(r.status, r.stderr).to.equal(0);
    const shown = await Promise.all(
      runs.map((_, i) => sivshmAsync('cert', 'show', path.join(dir, `c${i}.pem`), '--json')),
    );
    const serials = shown.map((r) => {
      expect(r.status, r.stderr).to.equal(0);
      return (JSON.parse(r.stdout) as { serial: string }).serial;
    });
    expect(new Set(serials).size, serials.join(' ')).to.equal(n);
    // And the CA's next serial is above every one of them: a later issue cannot repeat one.
    const list = JSON.parse(sivshm('ca', 'list', '--dir', ca, '--json').stdout) as {
      nextSerial: string;
    };
    for (const s of serials) expect(BigInt(s) < BigInt(list.nextSerial)).to.equal(true);
    expect(existsSync(path.join(ca, 'ca.lock')), 'no lock left behind').to.equal(false);
  });

  it('should say in ca revoke --help what a revocation does, without promising a reload', () => {
    const help = sivshm('ca', 'revoke', '--help');
    expect(help.status).to.equal(0);
    expect(help.stdout).to.not.match(/reload/);
    expect(help.stdout).to.match(/through the running hostd/);
  });

  it('should list the epoch, the serials issued and the ones revoked', () => {
    const ca = path.join(dir, 'ca');
    expect(sivshm('ca', 'init', '--dir', ca).status).to.equal(0);
    const issue = sivshm(
      'ca',
      'issue',
      '--dir',
      ca,
      '--vm',
      '2',
      '--name',
      'c',
      '--new-key',
      path.join(dir, 'c.key'),
      '--request',
      '0x1234:1',
      '--out',
      path.join(dir, 'c.pem'),
    );
    expect(issue.status, issue.stderr).to.equal(0);
    const serial = /issued serial (\d+)/.exec(issue.stderr)![1]!;
    expect(sivshm('ca', 'revoke', '--dir', ca, '--serial', serial).status).to.equal(0);
    const list = sivshm('ca', 'list', '--dir', ca);
    expect(list.status, list.stderr).to.equal(0);
    expect(list.stdout).to.match(/held by nobody/);
    expect(list.stdout).to.match(/epoch: +1/);
    expect(list.stdout).to.match(new RegExp(`revoked: +${serial}\\n`));
  });

  it('should refuse a small-order public key and malformed rights with a message that says why', () => {
    const ca = path.join(dir, 'ca');
    expect(sivshm('ca', 'init', '--dir', ca).status).to.equal(0);
    const small = sivshm(
      'ca',
      'issue',
      '--dir',
      ca,
      '--vm',
      '2',
      '--name',
      'x',
      '--public-key',
      '01'.padEnd(64, '0'),
    );
    expect(small.status).to.equal(1);
    expect(small.stderr).to.match(/small-order/);
    const bad = sivshm(
      'ca',
      'issue',
      '--dir',
      ca,
      '--vm',
      '2',
      '--name',
      'x',
      '--new-key',
      path.join(dir, 'k'),
      '--offer',
      '0x1234',
    );
    expect(bad.status).to.not.equal(0);
    expect(bad.stderr).to.match(/must be SERVICE:INSTANCES/);
    const garbage = path.join(dir, 'garbage.pem');
    rmSync(garbage, { force: true });
    const missing = sivshm('cert', 'show', garbage);
    expect(missing.status).to.equal(1);
    expect(missing.stderr).to.match(/cannot read/);
  });
});
