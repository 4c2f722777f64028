#!/usr/bin/env node
// `npm run lint` step: every workspace's package.json declares exactly what its code uses.
//
// - A package imported by shipped code (src/, bin/, native/, minus specs and fixtures) must be in
//   `dependencies`, and every entry of `dependencies` must be imported by shipped code.
// - A package imported only by tests or benches must be in the workspace's `devDependencies` or
//   the root's (the shared test tooling: mocha, chai, fast-check, tsx, esbuild's users...).
// - After a build, `main`, `types`, `bin` and every `exports` target point at files that exist.
//
// Imports are read with TypeScript's own pre-processor (static and dynamic imports, require),
// plus `import.meta.resolve('<name>')`, the way the CLI finds hostd's entry.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const rootManifest = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const CODE = /\.(ts|mts|cts|js|mjs|cjs)$/;
const SKIP_DIRS = new Set(['node_modules', 'dist', 'dist-test', 'build']);
const BUILTIN = new Set(builtinModules);

/** Files under `dir`, skipping build outputs and node_modules. */
function* walk(dir) {
  for (const name of readdirSync(dir)) {
    if (SKIP_DIRS.has(name)) continue;
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) yield* walk(p);
    else if (CODE.test(name) && !name.endsWith('.d.ts')) yield p;
  }
}

/** Bare package names a file imports (`@scope/name` or `name`), builtins left out. */
function importedPackages(file) {
  const text = readFileSync(file, 'utf8');
  const specs = ts.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName);
  for (const m of text.matchAll(/import\.meta\.resolve\(\s*['"]([^'"]+)['"]/g)) specs.push(m[1]);
  const names = new Set();
  for (const s of specs) {
    if (s.startsWith('.') || s.startsWith('/') || s.startsWith('node:') || s.startsWith('#')) {
      continue;
    }
    const name = s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : s.split('/')[0];
    if (!BUILTIN.has(name)) names.add(name);
  }
  return names;
}

/** Whether a workspace-relative path is test or bench code rather than shipped code. */
const isTestCode = (rel) =>
  /^(test|bench)\//.test(rel) || /\.spec\.[cm]?[jt]s$/.test(rel) || /(^|\/)fixtures\//.test(rel);

const problems = [];
const rootDev = new Set(Object.keys(rootManifest.devDependencies ?? {}));

for (const pattern of rootManifest.workspaces) {
  const dir = path.join(ROOT, pattern);
  const manifest = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
  const deps = new Set(Object.keys(manifest.dependencies ?? {}));
  const devDeps = new Set(Object.keys(manifest.devDependencies ?? {}));
  const usedByShipped = new Map(); // name → first file
  const usedByTests = new Map();
  for (const file of walk(dir)) {
    const rel = path.relative(dir, file);
    const into = isTestCode(rel) ? usedByTests : usedByShipped;
    for (const name of importedPackages(file)) {
      if (name !== manifest.name && !into.has(name)) into.set(name, rel);
    }
  }
  for (const [name, file] of usedByShipped) {
    if (!deps.has(name)) problems.push(`${pattern}: ${file} imports ${name}, not in dependencies`);
  }
  for (const name of deps) {
    if (!usedByShipped.has(name)) {
      problems.push(`${pattern}: dependency ${name} is imported by none of its shipped code`);
    }
  }
  for (const [name, file] of usedByTests) {
    if (!deps.has(name) && !devDeps.has(name) && !rootDev.has(name)) {
      problems.push(`${pattern}: ${file} imports ${name}, declared neither here nor at the root`);
    }
  }
  problems.push(...missingTargets(pattern, dir, manifest));
}

/** Entry points of `manifest` that do not exist; skipped before the first build. */
function missingTargets(pattern, dir, manifest) {
  if (!existsSync(path.join(dir, 'dist'))) return [];
  const targets = [manifest.main, manifest.types];
  if (typeof manifest.bin === 'string') targets.push(manifest.bin);
  else targets.push(...Object.values(manifest.bin ?? {}));
  const collect = (v) => {
    if (typeof v === 'string') targets.push(v);
    else if (v && typeof v === 'object') Object.values(v).forEach(collect);
  };
  collect(manifest.exports);
  return targets
    .filter((t) => typeof t === 'string' && !existsSync(path.join(dir, t)))
    .map((t) => `${pattern}: package.json points at ${t}, which the build does not produce`);
}

if (problems.length > 0) {
  console.error(`manifests: ${problems.length} problem(s):`);
  for (const p of problems) console.error(`  ${p}`);
  process.exit(1);
}
console.log(`manifests: ${rootManifest.workspaces.length} workspaces declare what they import`);
