#!/usr/bin/env node
// `npm start`: the sivshm demo, a composition root. Starts sivshm-hostd (temp run and state
// dirs, the example config with a region file of its own) and two VM processes that use
// Node.open: the infotainment VM offers, the cluster VM consumes. Shows a live view; Ctrl-C or
// --duration stops everything and removes what the run created.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { packageRoot } from '@sivshm/core';
import { DEMO_USAGE, UsageError, parseDemoArgs } from './demo-args.js';
import { startHostd, startVm, type DemoChild } from './demo-processes.js';
import { LiveView, quantile } from './live-view.js';
import { writeRunConfig } from './run-config.js';
import type { ClusterReport, InfotainmentReport } from './vm/vm-report.js';

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
  const say = (s: string): void => void process.stdout.write(`${s}\n`);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sivshm-demo-'));
  const regionPath = `/dev/shm/sivshm-demo-${process.pid}`;
  const config = path.join(dir, 'services.yaml');
  const runDir = path.join(dir, 'run');
  const children: DemoChild[] = [];
  let stopping = false;
  let cluster: ClusterReport | undefined;
  let info: InfotainmentReport | undefined;
  let eventsPerS = 0;
  let stopRequested: (() => void) | undefined;
  const stopped = new Promise<void>((r) => (stopRequested = r));
  // Ctrl-C reaches the whole process group: hostd stops itself, the VMs ignore it and wait
  // for us; a second Ctrl-C means "now".
  let interrupts = 0;
  const onSignal = (): void => {
    if (++interrupts > 1) {
      for (const c of children) c.child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      rmSync(regionPath, { force: true });
      process.exit(130);
    }
    stopRequested?.();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let failure: string | undefined;
  try {
    writeRunConfig(args.config, config, regionPath);
    say(`config  ${args.config} (region ${regionPath})`);
    const hostd = await startHostd(REPO_ROOT, {
      config,
      stateDir: path.join(dir, 'state'),
      runDir,
    });
    children.push(hostd);
    say(`hostd   pid ${hostd.child.pid}, run dir ${runDir}`);
    const infotainment = await startVm(DEMO_ROOT, 'infotainment', { config, runDir }, (r) => {
      if (r.kind === 'infotainment') info = r;
    });
    children.unshift(infotainment);
    say(`vm      infotainment pid ${infotainment.child.pid}: offers VehicleSpeed, MediaControl`);
    // Events/s from consecutive cluster reports (each a second apart in the cluster's time),
    // so the view's own timer cannot alias with the reports.
    let previous: { events: number; at: number } | undefined;
    const clusterVm = await startVm(DEMO_ROOT, 'cluster', { config, runDir }, (r) => {
      if (r.kind !== 'cluster') return;
      const at = performance.now();
      if (previous !== undefined && at > previous.at) {
        eventsPerS = Math.round(((r.events - previous.events) * 1000) / (at - previous.at));
      }
      previous = { events: r.events, at };
      cluster = r;
    });
    children.unshift(clusterVm);
    previous = { events: 0, at: performance.now() }; // its first report counts from here
    say(`vm      cluster pid ${clusterVm.child.pid}: consumes both`);
    for (const c of children) {
      void c.exited.then((code) => {
        if (failure === undefined && !stopping) {
          failure = `${c.name} exited unexpectedly (${String(code)}):\n${c.stderr()}`;
          stopRequested?.();
        }
      });
    }
    const view = new LiveView(process.stdout);
    const t0 = Date.now();
    const timer = setInterval(() => {
      view.show({
        elapsedS: Math.round((Date.now() - t0) / 1000),
        cluster,
        infotainment: info,
        eventsPerS,
      });
    }, 1000);
    const bound =
      args.durationS > 0
        ? setTimeout(() => stopRequested?.(), args.durationS * 1000 + 200)
        : undefined;
    await stopped;
    clearInterval(timer);
    clearTimeout(bound);
  } catch (e) {
    failure ??= (e as Error).message;
  } finally {
    stopping = true;
    // The provider stops publishing first and reports its final count; the events still in
    // the rings then reach the cluster (microseconds; 200 ms is plenty) before its channels
    // close, so "received of sent" compares like with like.
    const provider = children.find((c) => c.name === 'infotainment');
    if (provider?.child.connected === true) {
      provider.child.send({ cmd: 'quiesce' });
      await new Promise((r) => setTimeout(r, 200));
    }
    // VMs next (StopOffer, channels closed, revokes acknowledged), then hostd.
    for (const c of children) {
      const code = await c.stop();
      if (code !== 0 && failure === undefined && c.name !== 'hostd') {
        failure = `${c.name} did not stop cleanly (exit ${String(code)}):\n${c.stderr()}`;
      }
    }
    rmSync(dir, { recursive: true, force: true });
    rmSync(regionPath, { force: true });
  }
  const rtt = cluster?.rttMs ?? [];
  const hs = Object.entries(cluster?.handshakeMs ?? {})
    .map(([n, v]) => `${n} ${v === undefined ? '–' : v.toFixed(2)} ms`)
    .join(', ');
  say(
    `done    ${cluster?.events ?? 0} events received of ${info?.sent ?? 0} sent, ` +
      `${rtt.length} method calls (rtt p50 ${quantile(rtt, 0.5)?.toFixed(2) ?? '–'} ms, ` +
      `p99 ${quantile(rtt, 0.99)?.toFixed(2) ?? '–'} ms), handshake ${hs || '–'}`,
  );
  if (failure !== undefined) {
    process.stderr.write(`demo failed: ${failure}\n`);
    return 1;
  }
  if ((cluster?.events ?? 0) === 0) {
    process.stderr.write('demo failed: no events reached the cluster VM\n');
    return 1;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`demo failed: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
