// `npm run test:install`: sivshm as an app team gets it — from the packed tarballs, outside this
// workspace. Packs every public workspace (scripts/pack.mjs), creates a project in a temp dir
// with examples/audio-volume's sources, installs the tarballs with plain `npm install` (third-party
// dependencies from the registry), type-checks the app with tsc against the installed .d.ts
// files, starts hostd from the installed `sivshm` binary (emulated mode) and runs the provider
// and the consumer: one SetVolume call and the volume event it causes.
/* global describe, it, before, after */
import { execFile, spawn } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect } from 'chai';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const EXAMPLE = path.join(ROOT, 'examples', 'audio-volume');
const run = promisify(execFile);
// Every child is bounded; the figures leave room for a loaded machine (npm install compiles the
// native addon).
const PACK_MS = 240_000;
const INSTALL_MS = 300_000;
const TSC_MS = 180_000;
const APP_MS = 60_000;

/** Runs `cmd args` in `cwd`; rejects with its output when it fails. */
async function sh(cmd, args, cwd, timeoutMs) {
  try {
    return await run(cmd, args, { cwd, timeout: timeoutMs, maxBuffer: 64 << 20, env: cleanEnv() });
  } catch (e) {
    throw new Error(
      `${cmd} ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`,
    );
  }
}

/** The environment without what npm sets for the workspace's own scripts (prefix, workspace). */
function cleanEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.toLowerCase().startsWith('npm_') && k !== 'INIT_CWD') env[k] = v;
  }
  return env;
}

/** Starts `node args` in `cwd`, collecting its output; `stop()` ends it and waits. */
function start(args, cwd) {
  const child = spawn(process.execPath, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise((resolve) =>
    child.on('exit', (code, signal) => resolve(code ?? signal)),
  );
  return {
    output: () => out,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** Resolves once `check()` holds; polls every 50 ms up to `ms`. */
async function waitFor(what, check, ms) {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('install from the packed tarballs, outside the workspace', function () {
  this.timeout(PACK_MS + INSTALL_MS + TSC_MS);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sivshm-install-'));
  const app = path.join(dir, 'app');
  const packs = path.join(dir, 'pack');
  const region = `/dev/shm/sivshm-install-${process.pid}`;

  before(async function () {
    await sh(
      process.execPath,
      [path.join(ROOT, 'scripts', 'pack.mjs'), '--out', packs],
      ROOT,
      PACK_MS,
    );
    cpSync(EXAMPLE, app, {
      recursive: true,
      filter: (src) => !/(^|\/)(node_modules|dist)$/.test(src),
    });
    const yaml = path.join(app, 'services.yaml');
    writeFileSync(yaml, readFileSync(yaml, 'utf8').replace(/path: \S+/, `path: ${region}`));
    // The example names its @sivshm dependencies by version, as from a registry; here they come
    // from the tarballs, given to npm install as files like any local package.
    const manifest = JSON.parse(readFileSync(path.join(app, 'package.json'), 'utf8'));
    for (const name of Object.keys(manifest.dependencies)) {
      if (name.startsWith('@sivshm/')) delete manifest.dependencies[name];
    }
    writeFileSync(path.join(app, 'package.json'), JSON.stringify(manifest, null, 2));
    const tarballs = readdirSync(packs)
      .filter((f) => f.endsWith('.tgz'))
      .map((f) => path.join(packs, f));
    await sh(
      'npm',
      ['install', '--prefer-offline', '--no-audit', '--no-fund', ...tarballs],
      app,
      INSTALL_MS,
    );
    await sh('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund'], app, INSTALL_MS);
  });

  after(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(region, { force: true });
  });

  it('installs every @sivshm package from its tarball, once, with the native addon built', () => {
    const lock = JSON.parse(readFileSync(path.join(app, 'package-lock.json'), 'utf8'));
    const sivshm = Object.entries(lock.packages).filter(([p]) =>
      p.includes('node_modules/@sivshm/'),
    );
    expect(sivshm.map(([p]) => p).sort()).to.deep.equal(
      readdirSync(packs)
        .map(
          (f) =>
            `node_modules/@sivshm/${f.replace(/^sivshm-/, '').replace(/-\d+\.\d+\.\d+\.tgz$/, '')}`,
        )
        .sort(),
      'each package at the top level, none nested (internal dependencies resolve to the packed versions)',
    );
    for (const [p, entry] of sivshm) {
      expect(entry.resolved, p).to.match(/^file:.*\.tgz$/);
      expect(existsSync(path.join(app, p, 'test')), `${p} ships no tests`).to.equal(false);
    }
    const addon = 'node_modules/@sivshm/transport-ivshmem/build/Release/sivshm_native.node';
    expect(existsSync(path.join(app, addon)), addon).to.equal(true);
  });

  it('generates the typed services with the installed `sivshm gen` and type-checks a provider and a consumer on them (tsc, no skipLibCheck)', async function () {
    this.timeout(TSC_MS);
    // `sivshm gen` from the installed CLI writes src/services.gen.ts, which the app imports.
    const cli = path.join(app, 'node_modules', '@sivshm', 'cli', 'bin', 'sivshm.js');
    await sh(
      process.execPath,
      [cli, 'gen', '--config', 'services.yaml', '--out', 'src/services.gen.ts'],
      app,
      TSC_MS,
    );
    await sh(
      process.execPath,
      [path.join(app, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'],
      app,
      TSC_MS,
    );
    expect(existsSync(path.join(app, 'dist', 'consumer.js'))).to.equal(true);
  });

  it('runs them against a hostd started from the installed CLI: a call answered, its event received', async function () {
    this.timeout(APP_MS * 3);
    const runDir = path.join(dir, 'run');
    const cli = path.join(app, 'node_modules', '@sivshm', 'cli', 'bin', 'sivshm.js');
    const hostd = start(
      [
        cli,
        'hostd',
        '--config',
        'services.yaml',
        '--state-dir',
        path.join(dir, 'state'),
        '--run-dir',
        runDir,
      ],
      app,
    );
    let provider;
    try {
      await waitFor('hostd sockets', () => existsSync(path.join(runDir, 'cluster.sock')), APP_MS);
      provider = start(['dist/provider.js', runDir], app);
      await waitFor('provider ready', () => provider.output().includes('provider ready'), APP_MS);
      const { stdout } = await sh(
        process.execPath,
        ['dist/consumer.js', runDir, '37'],
        app,
        APP_MS,
      );
      const result = JSON.parse(stdout.trim().split('\n').at(-1));
      expect(result.event).to.deep.include({ volume: 37 });
      // proto3: previous = 0 is the default and is left out of the decoded answer.
      expect(result.answer.previous ?? 0).to.equal(0);
    } catch (e) {
      e.message += `\n--- hostd:\n${hostd.output()}\n--- provider:\n${provider?.output() ?? ''}`;
      throw e;
    } finally {
      await provider?.stop();
      await hostd.stop();
    }
  });
});
