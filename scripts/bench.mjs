#!/usr/bin/env node
// `npm run bench [-- SUITE...] [--json] [--quick]`: runs the benchmarks of every package (or the
// named suites) from the compiled test build (dist-test/) and prints their tables, or one JSON document.
// Benchmarks are not tests: they compare against the baseline a user would pick instead, in
// the same run, and report medians; targets are printed next to the figures.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Suite name → compiled module exporting `run(opts)` and `format(result)`. */
const SUITES = {
  handshake: 'packages/core/dist-test/bench/handshake.bench.js',
  ring: 'packages/transport-ivshmem/dist-test/bench/ring.bench.js',
  protobuf: 'packages/transport-ivshmem/dist-test/bench/protobuf.bench.js',
  fullpath: 'packages/transport-ivshmem/dist-test/bench/fullpath.bench.js',
  modes: 'packages/transport-ivshmem/dist-test/bench/modes.bench.js',
  allocator: 'packages/transport-ivshmem/dist-test/bench/allocator.bench.js',
  sd: 'packages/discovery/dist-test/bench/codec.bench.js',
  e2e: 'packages/runtime/dist-test/bench/secure-vs-plain.bench.js',
  scale: 'packages/runtime/dist-test/bench/scale.bench.js',
  flood: 'apps/hostd/dist-test/bench/flood.bench.js',
  hotplug: 'apps/hostd/dist-test/bench/hotplug.bench.js',
  elastic: 'apps/hostd/dist-test/bench/elastic.bench.js',
  'cli-startup': 'apps/cli/dist-test/bench/startup.bench.js',
  gateway: 'apps/gateway/dist-test/bench/gateway.bench.js',
};

const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  console.log(`usage: npm run bench [-- SUITE...] [--json] [--quick]

suites: ${Object.keys(SUITES).join(', ')} (default: all)
  --json    print one JSON document with every figure instead of tables
  --quick   fewer iterations (a smoke run; figures are noisier)`);
  process.exit(0);
}
const unknown = args.filter((a) => a.startsWith('-') && !['--json', '--quick'].includes(a));
if (unknown.length > 0) {
  console.error(`unknown option ${unknown[0]}; options: --json, --quick (npm run bench -- --help)`);
  process.exit(2);
}
const json = args.includes('--json');
const quick = args.includes('--quick');
const names = args.filter((a) => !a.startsWith('--'));
for (const n of names) {
  if (!(n in SUITES)) {
    console.error(`unknown suite "${n}"; known: ${Object.keys(SUITES).join(', ')}`);
    process.exit(2);
  }
}

const results = {};
let failed = false;
for (const name of names.length > 0 ? names : Object.keys(SUITES)) {
  const file = join(root, SUITES[name]);
  if (!existsSync(file)) {
    console.error(`${name}: ${SUITES[name]} is not built (run npm ci or npm run build)`);
    failed = true;
    continue;
  }
  const mod = await import(pathToFileURL(file).href);
  if (!json) console.error(`running ${name}…`);
  let result;
  try {
    result = await mod.run({ quick, json, log: json ? () => {} : (s) => console.error(s) });
  } catch (e) {
    // One line per failed suite; the stack only with SIVSHM_DEBUG=1, as for the sivshm CLI.
    const debug = process.env.SIVSHM_DEBUG === '1';
    const text = debug ? String(e?.stack) : String(e?.message ?? e).replace(/\s*\n\s*/g, ' ');
    console.error(`${name}: failed: ${text}`);
    failed = true;
    continue;
  }
  results[name] = result;
  if (!json) console.log(`\n${mod.format(result)}\n`);
}
if (json)
  console.log(JSON.stringify(results, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2));
process.exitCode = failed ? 1 : 0;
