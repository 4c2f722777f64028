// `sivshm gen` on the AudioVolume example: its output type-checks with an app that uses the
// typed handles, and a wrong field (or a wrong event name) in that app is a compile error.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { examplePath, repoRoot, runCliSync } from '@sivshm/testing';

const APP = `import type { Node, Sample } from '@sivshm/runtime';
import type { Observable } from 'rxjs';
import { consumeAudioVolume, offerAudioVolume, type MediaVolume } from './services.gen.js';

export async function provider(node: Node): Promise<void> {
  const svc = await offerAudioVolume(node, {
    instance: 1,
    methods: { SetVolume: (req) => ({ previous: req.volume ?? 0 }) },
  });
  svc.publisher('volume').publish({ volume: 3, muted: false });
}

export async function consumer(node: Node): Promise<number | undefined> {
  const audio = await consumeAudioVolume(node, { instance: 1 });
  const volume: Observable<MediaVolume> = audio.event('volume');
  void volume;
  // The zero-copy lane, typed too; a stream tied to its channel on request.
  const lane: Observable<Sample<MediaVolume>> = audio.samples('volume', { acrossChannels: false });
  void lane;
  const r = await audio.call('SetVolume', { volume: 7 });
  return r.previous;
}
`;

/** tsc --noEmit on `files` in `dir` (inside the workspace, so @sivshm/runtime resolves). */
function tsc(dir: string, files: string[]): { status: number | null; out: string } {
  const bin = path.join(repoRoot(), 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(
    process.execPath,
    [
      bin,
      '--noEmit',
      '--strict',
      '--target',
      'es2022',
      '--module',
      'nodenext',
      '--moduleResolution',
      'nodenext',
      '--types',
      'node',
      ...files,
    ],
    { cwd: dir, encoding: 'utf8', timeout: 120_000 },
  );
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('sivshm gen', function () {
  this.timeout(300_000);
  const dir = path.join(repoRoot(), 'apps', 'cli', 'dist-test', `gen-check-${process.pid}`);

  before(() => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'package.json'), '{ "type": "module" }\n');
    const r = runCliSync([
      'gen',
      '--config',
      examplePath('audio-volume', 'services.yaml'),
      '--out',
      path.join(dir, 'services.gen.ts'),
    ]);
    expect(r.status, r.stderr).to.equal(0);
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it('writes TypeScript that type-checks with an app using the typed handles', () => {
    writeFileSync(path.join(dir, 'app.ts'), APP);
    const r = tsc(dir, ['app.ts']);
    expect(r.status, r.out).to.equal(0);
  });

  it('makes a wrong field, a wrong field type and a wrong event name compile errors', () => {
    const bad = APP.replace('{ volume: 7 }', '{ volumee: 7 }')
      .replace('{ volume: 3, muted: false }', "{ volume: 'loud', muted: false }")
      .replace("audio.event('volume')", "audio.event('volumes')");
    writeFileSync(path.join(dir, 'bad.ts'), bad);
    const r = tsc(dir, ['bad.ts']);
    expect(r.status).to.not.equal(0);
    expect(r.out).to.match(/bad\.ts.*'volumee' does not exist in type 'SetVolumeRequest'/);
    expect(r.out).to.match(/bad\.ts.*Type 'string' is not assignable to type 'number'/);
    expect(r.out).to.match(/bad\.ts.*'"volumes"'/);
  });
});
