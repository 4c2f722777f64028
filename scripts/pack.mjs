#!/usr/bin/env node
// `npm run pack`: one installable tarball per public workspace in dist-pack/ (git-ignored).
//
// lerna picks the packages (the root's npm workspaces, private ones left out) and runs
// `npm pack` in each, so each manifest's `files` decides what ships. Then every tarball is
// checked the way an installer would see it: no tests, benches, sources or build info inside,
// and `main`, `types`, `bin` and every `exports` target present in the tarball itself.
// Usage: npm run pack [-- --out DIR]
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outFlag = process.argv.indexOf('--out');
const OUT = path.resolve(outFlag > 0 ? process.argv[outFlag + 1] : path.join(ROOT, 'dist-pack'));

rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });
execFileSync(
  'npx',
  [
    'lerna',
    'exec',
    '--no-private',
    '--concurrency',
    '1',
    '--',
    'npm',
    'pack',
    '--silent',
    '--pack-destination',
    OUT,
  ],
  { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] },
);

const NOT_SHIPPED = [
  /(^|\/)(test|bench|dist-test)\//,
  /\.spec\.[cm]?[jt]s(\.map)?$/,
  /\.tsbuildinfo$/,
  /(^|\/)fixtures\//,
  /^src\//,
];
const problems = [];
const tarballs = readdirSync(OUT)
  .filter((f) => f.endsWith('.tgz'))
  .sort();
for (const file of tarballs) {
  const tgz = path.join(OUT, file);
  const entries = execFileSync('tar', ['-tzf', tgz], { encoding: 'utf8' })
    .split('\n')
    .filter((e) => e !== '')
    .map((e) => e.replace(/^package\//, ''));
  const present = new Set(entries);
  for (const e of entries) {
    if (NOT_SHIPPED.some((re) => re.test(e))) problems.push(`${file}: ships ${e}`);
  }
  const manifest = JSON.parse(
    execFileSync('tar', ['-xzOf', tgz, 'package/package.json'], { encoding: 'utf8' }),
  );
  const targets = [manifest.main, manifest.types, ...Object.values(manifest.bin ?? {})];
  for (const entry of Object.values(manifest.exports ?? {})) {
    // The `source` condition points into src/, which is for the monorepo's own tooling only.
    for (const [condition, target] of Object.entries(entry)) {
      if (condition !== 'source') targets.push(target);
    }
  }
  for (const t of targets) {
    if (typeof t !== 'string') continue;
    const rel = path.posix.normalize(t).replace(/^\.\//, '');
    if (!present.has(rel)) problems.push(`${file}: ${t} is named by package.json but not packed`);
  }
  process.stdout.write(`${path.relative(process.cwd(), tgz)}  ${entries.length} files\n`);
}
if (tarballs.length === 0) problems.push(`no tarball was written to ${OUT}`);
if (problems.length > 0) {
  for (const p of problems) process.stderr.write(`pack: ${p}\n`);
  process.exit(1);
}
