// `sivshm gen` on the AudioVolume example: its output type-checks with an app that uses the
// typed handles, and a wrong field (or a wrong event name) in that app is a compile error.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

// 64-bit integers are decimal strings, sent and received (the runtime's decode gives strings:
// packages/transport-ivshmem/src/protobuf/decode-owned.spec.ts, and a number is a compile error.
const VEHICLE_APP = `import type { Node } from '@sivshm/runtime';
import { consumeVehicleSpeed, offerVehicleSpeed } from './vehicle.gen.js';

export async function provider(node: Node): Promise<void> {
  const svc = await offerVehicleSpeed(node, {
    instance: 1,
    methods: { reset: (req) => ({ previous_odometer_m: req.odometer_m ?? '0' }) },
  });
  svc.publisher('speed').publish({ odometer_m: '18446744073709551615' });
}

export async function consumer(node: Node): Promise<string> {
  const speed = await consumeVehicleSpeed(node, { instance: 1 });
  speed.event('speed').subscribe((s) => console.log(BigInt(s.odometer_m ?? '0')));
  const r = await speed.call('reset', { odometer_m: '9007199254740993' });
  return r.previous_odometer_m ?? '0';
}
`;

describe('sivshm gen: 64-bit fields', function () {
  this.timeout(300_000);
  const dir = path.join(repoRoot(), 'apps', 'cli', 'dist-test', `gen-int64-${process.pid}`);

  before(() => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'package.json'), '{ "type": "module" }\n');
    const r = runCliSync([
      'gen',
      '--config',
      examplePath('services.yaml'),
      '--out',
      path.join(dir, 'vehicle.gen.ts'),
    ]);
    expect(r.status, r.stderr).to.equal(0);
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it('types them as decimal strings: an app sending and reading strings type-checks', () => {
    expect(readFileSync(path.join(dir, 'vehicle.gen.ts'), 'utf8')).to.match(
      /export type Int64 = string;[\s\S]*odometer_m\?: Int64;/,
    );
    writeFileSync(path.join(dir, 'app.ts'), VEHICLE_APP);
    const r = tsc(dir, ['app.ts']);
    expect(r.status, r.out).to.equal(0);
  });

  it('makes a number or a bigint in a 64-bit field, or reading one as a number, compile errors', () => {
    const bad = VEHICLE_APP.replace("{ odometer_m: '9007199254740993' }", '{ odometer_m: 5 }')
      .replace("{ odometer_m: '18446744073709551615' }", '{ odometer_m: 1n }')
      .replace('Promise<string>', 'Promise<number>');
    writeFileSync(path.join(dir, 'bad.ts'), bad);
    const r = tsc(dir, ['bad.ts']);
    expect(r.status).to.not.equal(0);
    expect(r.out).to.match(/bad\.ts.*Type 'number' is not assignable to type 'string'/);
    expect(r.out).to.match(/bad\.ts.*Type 'bigint' is not assignable to type 'string'/);
    expect(r.out).to.match(/bad\.ts.*Type 'string' is not assignable to type 'number'/);
  });
});
