// Spawns the built `sivshm` binary on services.yaml files: the example (exit 0, a summary) and
// copies with one field broken (exit 1, exactly one `file:line:col: path: message` line).
import { expect } from 'chai';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cliEntry, examplePath, packageRoot, runCliSync } from '@sivshm/testing';

const ROOT = packageRoot(import.meta.url);
const BIN = cliEntry().script;
const EXAMPLES = examplePath();

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function sivshm(args: string[], cwd = ROOT, env: NodeJS.ProcessEnv = process.env): Run {
  const r = runCliSync(args, { cwd, env });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** 1-based line of the first line of `text` that contains `needle`. */
function lineOf(text: string, needle: string): number {
  const i = text.split('\n').findIndex((l) => l.includes(needle));
  expect(i, `'${needle}' in the example`).to.be.greaterThan(-1);
  return i + 1;
}

describe('sivshm config check', function () {
  this.timeout(60_000);
  let dir: string;

  before(function () {
    if (!existsSync(BIN)) {
      console.log(`skipping: ${BIN} is not built (run \`npx tsc -b apps/cli\` first)`);
      this.skip();
    }
    dir = mkdtempSync(path.join(os.tmpdir(), 'sivshm-config-check-'));
    // The whole example folder, so protos and keys resolve exactly as they do for the original.
    cpSync(EXAMPLES, dir, { recursive: true });
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Writes a copy of the example with `from` replaced by `to` and returns its path. */
  function brokenCopy(name: string, from: string, to: string): { file: string; text: string } {
    const text = readFileSync(path.join(EXAMPLES, 'services.yaml'), 'utf8');
    expect(text.split(from), `'${from}' occurs once in the example`).to.have.length(2);
    const file = path.join(dir, name);
    const broken = text.replace(from, to);
    writeFileSync(file, broken);
    return { file, text: broken };
  }

  describe('.valid', () => {
    it('should exit 0 with a summary for examples/services.yaml', () => {
      const r = sivshm(['config', 'check', path.join(EXAMPLES, 'services.yaml')]);
      expect(r.stderr).to.equal('');
      expect(r.status).to.equal(0);
      expect(r.stdout).to.match(
        /^ok: 2 VMs, 2 services, 2 instances, 3 eventgroups, 3 events, 2 methods, 1 \.proto file; region 16 MiB at \/dev\/shm\/sivshm-demo, 64 channels\n$/,
      );
    });

    it('should read the example dev keys with --keys', () => {
      const r = sivshm(['config', 'check', '--keys', 'services.yaml'], EXAMPLES);
      expect(r.status).to.equal(0);
      expect(r.stdout).to.match(/; grant keys readable\n$/);
    });

    it('should print a JSON summary with --json', () => {
      const r = sivshm(['config', 'check', '--json', path.join(EXAMPLES, 'services.yaml')]);
      expect(r.status).to.equal(0);
      const report = JSON.parse(r.stdout) as { ok: boolean; summary: Record<string, unknown> };
      expect(report.ok).to.equal(true);
      expect(report.summary).to.include({ vms: 2, services: 2, eventgroups: 3, methods: 2 });
    });
  });

  describe('.invalid', () => {
    it('should print exactly one line naming file, line and problem, and exit 1', () => {
      const { file, text } = brokenCopy('bad-instance.yaml', 'id: 0x1235', 'id: 0xFFFF');
      const line = lineOf(text, 'id: 0xFFFF');
      const r = sivshm(['config', 'check', file]);
      expect(r.status).to.equal(1);
      expect(r.stdout).to.equal('');
      expect(r.stderr).to.equal(
        `${file}:${line}:9: services[1].id: 0xFFFF is out of range 0x0001..0xFFFE\n`,
      );
    });

    it('should name the file as the user typed it', () => {
      brokenCopy('bad-type.yaml', 'type: sivshm.demo.MediaVolume', 'type: sivshm.demo.Volume');
      const r = sivshm(['config', 'check', 'bad-type.yaml'], dir);
      expect(r.status).to.equal(1);
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines).to.have.length(1);
      expect(lines[0]).to.match(
        /^bad-type\.yaml:\d+:\d+: services\[1\]\.eventgroups\[1\]\.events\[0\]\.type: type sivshm\.demo\.Volume is not defined in proto\/vehicle\.proto$/,
      );
    });

    it('should report issues as JSON with --json', () => {
      const { file } = brokenCopy(
        'bad-json.yaml',
        'consumers: [cluster]\n    minMode: plain\n    eventgroups:\n      # Published',
        'consumers: [cluster, infotainment]\n    minMode: plain\n    eventgroups:\n      # Published',
      );
      const r = sivshm(['config', 'check', '--json', file]);
      expect(r.status).to.equal(1);
      const report = JSON.parse(r.stdout) as { ok: boolean; issues: { path: string }[] };
      expect(report.ok).to.equal(false);
      expect(report.issues.map((i) => i.path)).to.deep.equal(['services[0].consumers[1]']);
    });

    it('should report an unreadable key file at its grantKey line with --keys', () => {
      const { file, text } = brokenCopy(
        'bad-key.yaml',
        'keys/cluster.dev-only.key',
        'keys/missing.key',
      );
      const line = lineOf(text, 'keys/missing.key');
      const r = sivshm(['config', 'check', '--keys', file]);
      expect(r.status).to.equal(1);
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines).to.have.length(1);
      expect(lines[0]).to.match(
        new RegExp(
          `^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:${line}:15: vms\\[1\\]\\.grantKey: cannot read: ENOENT`,
        ),
      );
    });

    it('should fail with ERR_IO for a file that does not exist', () => {
      const r = sivshm(['config', 'check', path.join(dir, 'absent.yaml')]);
      expect(r.status).to.equal(1);
      expect(r.stderr).to.match(
        /^sivshm config check: cannot read config .*absent\.yaml: no such file or directory \[ERR_IO\]\n$/,
      );
    });
  });
});
