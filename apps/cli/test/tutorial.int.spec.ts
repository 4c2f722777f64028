// docs/tutorial.md, done as it says: every file the tutorial shows is the file in
// examples/audio-volume, and its last step — sivshm gen, tsc, hostd, provider, consumer — runs
// in a copy of the example and prints the line the tutorial promises. The packages come from
// this workspace (node_modules linked in); `npm run test:install` does the same from the packed
// tarballs in a project outside it.
import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cliEntry, repoRoot, waitFor } from '@sivshm/testing';

const ROOT = repoRoot();
const EXAMPLE = path.join(ROOT, 'examples', 'audio-volume');
const TUTORIAL = path.join(ROOT, 'docs', 'tutorial.md');
/** Each child is bounded; generous for a machine CI shares (tsc takes seconds there). */
const STEP_MS = 120_000;

/** The files the tutorial shows: `<!-- file: PATH -->` then one fenced block. */
function shownFiles(markdown: string): { file: string; body: string }[] {
  const found: { file: string; body: string }[] = [];
  const re = /<!-- file: (\S+) -->\s*\n```\w*\n([\s\S]*?)```/g;
  for (let m = re.exec(markdown); m !== null; m = re.exec(markdown)) {
    found.push({ file: m[1]!, body: m[2]! });
  }
  return found;
}

/** Runs a command to its end (bounded); fails with its output when it does not exit 0. */
function run(cmd: string, args: string[], cwd: string): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: STEP_MS });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} → ${r.status ?? r.signal}\n${r.stdout}\n${r.stderr}`);
  }
  return r.stdout;
}

/** A long-running child, its output kept; `stop()` ends it with SIGTERM (then SIGKILL). */
function start(args: string[], cwd: string) {
  const child = spawn(process.execPath, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    output: () => out,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

describe('docs/tutorial.md (your first service)', function () {
  this.timeout(6 * STEP_MS);

  it('shows each file of examples/audio-volume as it is', () => {
    const shown = shownFiles(readFileSync(TUTORIAL, 'utf8'));
    expect(shown.map((s) => s.file)).to.include.members([
      'examples/audio-volume/package.json',
      'examples/audio-volume/tsconfig.json',
      'examples/audio-volume/proto/audio.proto',
      'examples/audio-volume/services.yaml',
      'examples/audio-volume/src/provider.ts',
      'examples/audio-volume/src/consumer.ts',
    ]);
    for (const s of shown) {
      expect(s.body, `${s.file} as the tutorial shows it`).to.equal(
        readFileSync(path.join(ROOT, s.file), 'utf8'),
      );
    }
  });

  it('builds and runs as its last step says: the consumer prints the answer and the event', async () => {
    const app = mkdtempSync(path.join(os.tmpdir(), 'sivshm-tutorial-'));
    const region = `/dev/shm/sivshm-tutorial-${process.pid}`;
    const stops: (() => Promise<void>)[] = [];
    try {
      cpSync(EXAMPLE, app, {
        recursive: true,
        filter: (p) => !/[/\\](node_modules|dist)$/.test(p) && !p.endsWith('services.gen.ts'),
      });
      symlinkSync(path.join(ROOT, 'node_modules'), path.join(app, 'node_modules'));
      // A region of its own: another run of the example (test:install, a person) may be up.
      const yaml = path.join(app, 'services.yaml');
      writeFileSync(yaml, readFileSync(yaml, 'utf8').replace(/path: \S+/, `path: ${region}`));
      const cli = cliEntry();
      const sivshm = [...cli.execArgv, cli.script];
      // `npm run build`: sivshm gen, then tsc.
      run(
        process.execPath,
        [...sivshm, 'gen', '--config', 'services.yaml', '--out', 'src/services.gen.ts'],
        app,
      );
      run(
        process.execPath,
        [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'],
        app,
      );
      expect(existsSync(path.join(app, 'dist', 'consumer.js'))).to.equal(true);

      const runDir = path.join(app, 'run');
      const hostd = start(
        [
          ...sivshm,
          'hostd',
          '--config',
          'services.yaml',
          '--state-dir',
          'state',
          '--run-dir',
          'run',
        ],
        app,
      );
      stops.unshift(hostd.stop);
      await waitFor(() => existsSync(path.join(runDir, 'cluster.sock')), 'hostd', STEP_MS);
      const provider = start(['dist/provider.js', 'run'], app);
      stops.unshift(provider.stop);
      await waitFor(() => provider.output().includes('provider ready'), 'the provider', STEP_MS);
      let out: string;
      try {
        out = run(process.execPath, ['dist/consumer.js', 'run', '42'], app);
      } catch (e) {
        (e as Error).message +=
          `\n--- hostd:\n${hostd.output()}\n--- provider:\n${provider.output()}`;
        throw e;
      }
      expect(out.trim()).to.equal('{"answer":{},"event":{"volume":42}}');
    } finally {
      for (const stop of stops) await stop();
      rmSync(app, { recursive: true, force: true });
      rmSync(region, { force: true });
    }
  });
});
