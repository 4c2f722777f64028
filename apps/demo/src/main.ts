#!/usr/bin/env node
// `npm start`: the sivshm demo, a composition root. Starts sivshm-hostd (temp run and state
// dirs, the example config with a region file of its own) and two VM processes that use
// Node.open: the infotainment VM offers, the cluster VM consumes. Shows a live view; Ctrl-C or
// --duration stops everything and removes what the run created.
import path from 'node:path';
import { onReaderGone, packageRoot } from '@sivshm/core';
import { DEMO_USAGE, UsageError, parseDemoArgs } from './demo-args.js';
import { DemoRun } from './demo-run.js';

const DEMO_ROOT = packageRoot(import.meta.url);
const REPO_ROOT = path.resolve(DEMO_ROOT, '..', '..');

async function main(): Promise<number> {
  let args;
  try {
    args = parseDemoArgs(process.argv.slice(2), REPO_ROOT);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`${e.message}\n\n${DEMO_USAGE}`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(DEMO_USAGE);
    return 0;
  }
  const run = new DemoRun(args, { demo: DEMO_ROOT, repo: REPO_ROOT }, (s) =>
    process.stdout.write(`${s}\n`),
  );
  // Ctrl-C reaches the whole process group: hostd stops itself, the VMs ignore it and wait
  // for us; a second Ctrl-C means "now".
  let interrupts = 0;
  const onSignal = (): void => {
    if (++interrupts > 1) {
      run.killNow();
      process.exit(130);
    }
    run.requestStop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  stopOnReaderGone = () => run.readerGone();
  return run.run();
}

// `npm start | head`: once the reader has closed the pipe, the run stops as on Ctrl-C and ends
// with 0 (nobody reads its verdict any more); before the run (--help) it just ends.
let stopOnReaderGone = (): void => process.exit(0);
onReaderGone(process.stdout, () => stopOnReaderGone());

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`demo failed: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
