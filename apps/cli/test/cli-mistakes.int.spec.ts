// Issue 13 case 10, one test per finding: each mistake ends the command by itself with exactly
// one line on stderr (no stack), and leaves nothing half-done behind — no key file, no serial,
// no pid file, no lost frame.
import { expect } from 'chai';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { cliEntry, examplePath, waitFor } from '@sivshm/testing';
import { expectOneLineFailure, runBounded, sivshm, sivshmHostd } from './support/bounded-run.js';
import { channelRegion } from './support/channel-region.js';

/** Every file of `dir` with its bytes: what "the CA directory did not change" compares. */
function contents(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) {
    out[name] = readFileSync(path.join(dir, name)).toString('hex');
  }
  return out;
}

/** Records in a classic pcap file (24-byte header, then a 16-byte header per record). */
function pcapRecords(file: string): number {
  const b = readFileSync(file);
  let n = 0;
  for (let at = 24; at + 16 <= b.length; n++) at += 16 + b.readUInt32LE(at + 8);
  return n;
}

describe('sivshm: each mistake of issue 13 case 10 is one line and leaves nothing behind', function () {
  this.timeout(30_000);
  let dir: string;
  let ca: string;
  beforeEach(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'sivshm-mistakes-'));
    ca = path.join(dir, 'ca');
    const init = await sivshm(['ca', 'init', '--dir', ca]);
    expect(init.status, init.stderr).to.equal(0);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** A copy of the example deployment with its own region path, valid in every other respect. */
  function exampleConfig(): string {
    const copy = path.join(dir, 'example');
    // dereference: a copy of the files, never a link back to the repo's example.
    cpSync(examplePath(), copy, { recursive: true, dereference: true });
    const file = path.join(copy, 'services.yaml');
    const text = readFileSync(file, 'utf8').replace(
      /path: \/dev\/shm\/\S+/,
      `path: /dev/shm/sivshm-mistakes-${process.pid}`,
    );
    writeFileSync(file, text);
    return file;
  }

  it('sivshm hostd --state-dir /proc/nope: exits 1 by itself with one line and leaves no hostd.pid', async () => {
    const runDir = path.join(dir, 'run');
    const r = await sivshm([
      'hostd',
      '--config',
      exampleConfig(),
      '--state-dir',
      '/proc/nope',
      '--run-dir',
      runDir,
    ]);
    expectOneLineFailure(
      r,
      1,
      /--state-dir \/proc\/nope cannot be used: cannot create \/proc\/nope/,
    );
    expect(existsSync(path.join(runDir, 'hostd.pid'))).to.equal(false);
  });

  it('sivshm-hostd --run-dir /proc/nope: exits 1 by itself with one line', async () => {
    const r = await sivshmHostd([
      '--config',
      exampleConfig(),
      '--state-dir',
      path.join(dir, 'state'),
      '--run-dir',
      '/proc/nope',
    ]);
    expectOneLineFailure(r, 1, /--run-dir \/proc\/nope cannot be used/);
  });

  it('sd decode DIRECTORY: one line saying it is a directory', async () => {
    const r = await sivshm(['sd', 'decode', dir]);
    expectOneLineFailure(r, 1, /^sivshm sd decode: input file .* is a directory/);
  });

  it('sd encode /missing.json: one line saying the file does not exist', async () => {
    const missing = path.join(dir, 'missing.json');
    const r = await sivshm(['sd', 'encode', missing]);
    expectOneLineFailure(
      r,
      1,
      /^sivshm sd encode: cannot read JSON file .*missing\.json: it does not exist$/,
    );
  });

  it('status against a socket that answers garbage: one line saying it is not a status document', async () => {
    const runDir = path.join(dir, 'run');
    mkdirSync(runDir);
    const server = net.createServer((c) => c.end('garbage{not json'));
    await new Promise<void>((resolve) => server.listen(path.join(runDir, 'status.sock'), resolve));
    try {
      for (const json of [[], ['--json']]) {
        const r = await sivshm(['status', '--run-dir', runDir, ...json]);
        expectOneLineFailure(
          r,
          1,
          /^sivshm status: .*status\.sock answered something that is not a hostd status document/,
        );
        expect(r.stdout).to.equal('');
      }
    } finally {
      server.close();
    }
  });

  it('cert show KEY-FILE: one line saying it is not a certificate, not a decoder index', async () => {
    for (const key of ['broker.key', 'ca.key', 'ca.pub']) {
      const r = await sivshm(['cert', 'show', path.join(ca, key)]);
      expectOneLineFailure(
        r,
        1,
        /^sivshm cert show: .* is not a sivshm certificate .*not a key file$/,
      );
    }
  });

  it('ca issue --out /nonexistent/x.pem: refused before anything is written (no key file, no serial)', async () => {
    const before = contents(ca);
    const key = path.join(dir, 'app.key');
    const r = await sivshm([
      'ca',
      'issue',
      '--dir',
      ca,
      '--vm',
      '1',
      '--name',
      'app',
      '--new-key',
      key,
      '--out',
      path.join(dir, 'nonexistent', 'x.pem'),
    ]);
    expectOneLineFailure(
      r,
      1,
      /^sivshm ca issue: cannot write certificate file .*x\.pem: directory .*nonexistent does not exist$/,
    );
    expect(existsSync(key), 'the key file was written').to.equal(false);
    expect(contents(ca), 'the CA directory changed (a serial was used up)').to.deep.equal(before);
  });

  it('capture --out /nonexistent/x.pcap: refused before capturing', async () => {
    const region = channelRegion('mistakes');
    try {
      const r = await sivshm([
        'capture',
        '--region',
        region.file,
        '--channel',
        String(region.channelId),
        '--out',
        path.join(dir, 'nonexistent', 'x.pcap'),
        '--duration',
        '3',
      ]);
      expectOneLineFailure(
        r,
        1,
        /^sivshm capture: cannot write capture file .*x\.pcap: directory .*nonexistent does not exist$/,
      );
    } finally {
      region.close();
    }
  });

  it('capture: every frame is in the file as soon as it is read (a killed capture loses none)', async () => {
    const region = channelRegion('mistakes');
    const out = path.join(dir, 'live.pcap');
    const killer = new AbortController();
    const run = runBounded(
      cliEntry(),
      ['capture', '--region', region.file, '--channel', String(region.channelId), '--out', out],
      { timeoutMs: 20_000, kill: killer.signal },
    );
    try {
      await waitFor(() => existsSync(out), 'the capture file', 10_000);
      for (let session = 1; session <= 3; session++) {
        expect(region.sendRequest(session)).to.equal(true);
      }
      await waitFor(() => pcapRecords(out) === 3, 'three frames in the file', 10_000);
    } finally {
      // SIGKILL: no clean stop, so what is in the file was written as the frames came.
      killer.abort();
      region.close();
    }
    const r = await run;
    expect(r.signal).to.equal('SIGKILL');
    expect(pcapRecords(out)).to.equal(3);
  });

  it('ca issue --vm 0: a usage error (VM ids start at 1), nothing written', async () => {
    const before = contents(ca);
    const key = path.join(dir, 'app.key');
    const r = await sivshm([
      'ca',
      'issue',
      '--dir',
      ca,
      '--vm',
      '0',
      '--name',
      'app',
      '--new-key',
      key,
    ]);
    expectOneLineFailure(
      r,
      2,
      /^sivshm ca issue: .*vm id "0" must be a whole number 1\.\.0xFFFFFFFF/,
    );
    expect(existsSync(key)).to.equal(false);
    expect(contents(ca)).to.deep.equal(before);
  });

  it('ca issue --dir MISSING: one line naming `ca init`, and no secret key written', async () => {
    const key = path.join(dir, 'app.key');
    const r = await sivshm([
      'ca',
      'issue',
      '--dir',
      path.join(dir, 'missing'),
      '--vm',
      '1',
      '--name',
      'app',
      '--new-key',
      key,
    ]);
    expectOneLineFailure(
      r,
      1,
      /^sivshm ca issue: CA directory .*missing does not exist \(create one with `sivshm ca init/,
    );
    expect(existsSync(key), 'the secret key was written').to.equal(false);
  });

  it('gen with a config mistake: one line, the previous output unchanged and no temp file', async () => {
    const config = exampleConfig();
    const out = path.join(dir, 'services.gen.ts');
    const first = await sivshm(['gen', '--config', config, '--out', out]);
    expect(first.status, first.stderr).to.equal(0);
    const before = readFileSync(out, 'utf8');
    const broken = readFileSync(config, 'utf8').replace(
      'sivshm.demo.VehicleSpeed',
      'sivshm.demo.NoSuchMessage',
    );
    writeFileSync(config, broken);
    const r = await sivshm(['gen', '--config', config, '--out', out]);
    expectOneLineFailure(
      r,
      1,
      /^sivshm gen: .*services\.yaml:\d+:\d+: .*type sivshm\.demo\.NoSuchMessage is not defined/,
    );
    expect(readFileSync(out, 'utf8')).to.equal(before);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).to.deep.equal([]);
  });

  it('ca revoke of a serial never issued: refused, the CA unchanged', async () => {
    const before = contents(ca);
    const r = await sivshm(['ca', 'revoke', '--dir', ca, '--serial', '999']);
    expectOneLineFailure(r, 1, /^sivshm ca revoke: serial 999 was never issued by the CA/);
    expect(r.stdout).to.not.match(/revoked/);
    expect(contents(ca)).to.deep.equal(before);
  });
});
