#!/usr/bin/env node
// `npm run lint` step: the package graph of .dependency-cruiser.cjs holds on the real tree, and
// the rules still catch what they are for. The second half runs the same config on
// scripts/depcruise-fixture (copied to a temporary directory, where the node_modules/@sivshm/*
// links that npm makes for the real workspaces are made by hand) and requires exactly the
// violations the fixture's file names announce: an upward import, an app importing an app, a
// relative path into another workspace, shipped code importing @sivshm/testing, and the test
// support package importing an app.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CONFIG = path.join(ROOT, '.dependency-cruiser.cjs');
const DEPCRUISE = path.join(
  ROOT,
  'node_modules',
  'dependency-cruiser',
  'bin',
  'dependency-cruise.mjs',
);
const FIXTURE = path.join(ROOT, 'scripts', 'depcruise-fixture');

/** Each fixture file that must be reported, and the rule that must report it. */
const EXPECTED = [
  'layer-abi packages/abi/src/layer-abi.ts',
  'no-relative-cross-package packages/core/src/no-relative-cross-package.ts',
  'testing-only-in-tests packages/runtime/src/testing-only-in-tests.ts',
  'layer-cli apps/cli/src/layer-cli.ts',
  'packages-never-import-apps packages/testing/src/packages-never-import-apps.ts',
].sort();

/** Runs depcruise in `cwd` over packages/ and apps/; returns "rule from" per violation. */
function violations(cwd) {
  const r = spawnSync(
    process.execPath,
    [DEPCRUISE, '--config', CONFIG, '--output-type', 'json', 'packages', 'apps'],
    { cwd, encoding: 'utf8', maxBuffer: 64 << 20 },
  );
  if (r.error) throw r.error;
  let result;
  try {
    result = JSON.parse(r.stdout);
  } catch {
    throw new Error(`dependency-cruiser failed in ${cwd}:\n${r.stderr}`);
  }
  return result.summary.violations.map((v) => `${v.rule.name} ${v.from} -> ${v.to}`);
}

/** The fixture in a temporary directory, with the workspace links npm would have made. */
function fixtureCopy() {
  const dir = mkdtempSync(path.join(tmpdir(), 'sivshm-depcruise-'));
  cpSync(FIXTURE, dir, { recursive: true });
  const scope = path.join(dir, 'node_modules', '@sivshm');
  mkdirSync(scope, { recursive: true });
  for (const group of ['packages', 'apps']) {
    for (const name of readdirSync(path.join(dir, group))) {
      symlinkSync(path.join(dir, group, name), path.join(scope, name), 'dir');
    }
  }
  return dir;
}

let failed = false;

const real = violations(ROOT);
if (real.length > 0) {
  console.error(`package graph: ${real.length} violation(s) of .dependency-cruiser.cjs:`);
  for (const v of real) console.error(`  ${v}`);
  failed = true;
}

const dir = fixtureCopy();
try {
  const got = violations(dir)
    .map((v) => v.split(' -> ')[0])
    .sort();
  if (JSON.stringify(got) !== JSON.stringify(EXPECTED)) {
    console.error('package graph: the rules no longer catch what scripts/depcruise-fixture breaks');
    console.error(`  expected:\n    ${EXPECTED.join('\n    ')}`);
    console.error(`  reported:\n    ${got.join('\n    ') || '(nothing)'}`);
    failed = true;
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

if (failed) process.exit(1);
console.log(
  `package graph: no violations; the fixture's ${EXPECTED.length} planted violations are caught`,
);
