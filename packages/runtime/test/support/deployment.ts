// A throwaway deployment for the runtime's integration tests: a copy of the example config
// with its own region file and grant keys in a temp dir, hostd started as a separate OS process
// on it, VM processes forked from ./provider-vm.ts, and cleanup that leaves nothing behind.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { packageRoot } from '@sivshm/core';

const RUNTIME_ROOT = packageRoot(import.meta.url);
const REPO_ROOT = path.resolve(RUNTIME_ROOT, '..', '..');
const HOSTD_ROOT = path.join(REPO_ROOT, 'apps', 'hostd');
/** True when the tests run from TypeScript sources (tsx), false from dist/. */
const FROM_SOURCE = import.meta.url.endsWith('.ts');

function entry(root: string, srcRelative: string): { execArgv: string[]; script: string } {
  if (FROM_SOURCE) {
    return {
      execArgv: ['--conditions=source', '--import', 'tsx'],
      script: path.join(root, srcRelative),
    };
  }
  return { execArgv: [], script: path.join(root, 'dist', srcRelative.replace(/\.ts$/, '.js')) };
}

export interface Deployment {
  readonly dir: string;
  readonly configPath: string;
  readonly runDir: string;
  readonly stateDir: string;
  readonly regionPath: string;
  cleanup(): void;
}

/**
 * The example's service and two VMs (`infotainment` provides, `cluster` consumes), with keys
 * and region private to this run; `extraVms` adds VMs (ids 3, 4, …) that take part in nothing.
 */
export function makeDeployment(options: { extraVms?: readonly string[] } = {}): Deployment {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sivshm-runtime-'));
  const regionPath = `/dev/shm/sivshm-runtime-test-${process.pid}-${randomBytes(4).toString('hex')}`;
  const key = (): string => randomBytes(32).toString('hex');
  const proto = path.join(REPO_ROOT, 'examples', 'proto', 'vehicle.proto');
  const configPath = path.join(dir, 'services.yaml');
  writeFileSync(
    configPath,
    `version: 1
region: { size: 4MiB, path: ${regionPath}, channelCapacity: 64 }
vms:
  - { id: 1, name: infotainment, grantKey: { hex: ${key()} } }
  - { id: 2, name: cluster, grantKey: { hex: ${key()} } }
${(options.extraVms ?? []).map((name, i) => `  - { id: ${i + 3}, name: ${name}, grantKey: { hex: ${key()} } }\n`).join('')}protos: [${proto}]
services:
  - name: VehicleSpeed
    id: 0x1234
    instances: [1]
    major: 1
    minor: 0
    provider: infotainment
    consumers: [cluster]
    minMode: plain
    eventgroups:
      - id: 1
        name: speed
        events:
          - { id: 0x8001, name: speed, type: sivshm.demo.VehicleSpeed }
    methods:
      - { id: 0x0001, name: reset, request: sivshm.demo.ResetRequest, response: sivshm.demo.ResetResponse }
`,
  );
  return {
    dir,
    configPath,
    runDir: path.join(dir, 'run'),
    stateDir: path.join(dir, 'state'),
    regionPath,
    cleanup: () => {
      rmSync(dir, { recursive: true, force: true });
      rmSync(regionPath, { force: true });
    },
  };
}

/** A child process with a bounded stop. */
export interface Child {
  readonly child: ChildProcess;
  readonly output: string[];
  stop(): Promise<void>;
}

function bounded(child: ChildProcess, output: string[], graceful: () => void): Child {
  let exited = child.exitCode !== null;
  const exit = new Promise<void>((r) =>
    child.on('exit', () => {
      exited = true;
      r();
    }),
  );
  return {
    child,
    output,
    stop: async () => {
      if (exited) return;
      graceful();
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exit;
      clearTimeout(t);
    },
  };
}

/** Starts hostd on `d` and resolves once it logged `hostd-started` (at most 15 s). */
export async function startHostd(d: Deployment, extraArgs: readonly string[] = []): Promise<Child> {
  const { execArgv, script } = entry(HOSTD_ROOT, 'src/bin.ts');
  if (!existsSync(script)) throw new Error(`hostd is not built: ${script} is missing`);
  const child = spawn(
    process.execPath,
    [
      ...execArgv,
      script,
      '--config',
      d.configPath,
      '--state-dir',
      d.stateDir,
      '--run-dir',
      d.runDir,
      ...extraArgs,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const output: string[] = [];
  let started = false;
  child.stderr!.setEncoding('utf8').on('data', (s: string) => {
    output.push(s);
    if (s.includes('"hostd-started"')) started = true;
  });
  const h = bounded(child, output, () => child.kill('SIGTERM'));
  const deadline = Date.now() + 15_000;
  while (!started) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await h.stop();
      throw new Error(`hostd did not start: ${output.join('')}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return h;
}

/** Messages a provider VM process reports over IPC. */
export interface ProviderReport {
  readonly event: 'ready' | 'consumers' | 'error';
  readonly count?: number;
  readonly message?: string;
}

/** Forks the infotainment VM (./provider-vm.ts) and resolves once it offers. */
export async function startProviderVm(
  d: Deployment,
): Promise<Child & { reports: ProviderReport[] }> {
  const { execArgv, script } = entry(RUNTIME_ROOT, 'test/support/provider-vm.ts');
  const child = fork(script, [d.configPath, d.runDir], {
    execArgv,
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
  });
  const output: string[] = [];
  child.stderr!.setEncoding('utf8').on('data', (s: string) => output.push(s));
  const reports: ProviderReport[] = [];
  child.on('message', (m: ProviderReport) => reports.push(m));
  const p = bounded(child, output, () => {
    if (child.connected) child.send({ cmd: 'exit' });
    else child.kill('SIGTERM');
  });
  const deadline = Date.now() + 15_000;
  while (!reports.some((r) => r.event === 'ready')) {
    if (
      child.exitCode !== null ||
      reports.some((r) => r.event === 'error') ||
      Date.now() > deadline
    ) {
      await p.stop();
      throw new Error(
        `the provider VM did not start: ${JSON.stringify(reports)} ${output.join('')}`,
      );
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return { ...p, reports };
}

/** Waits until `cond()` holds, polling every 10 ms, at most `timeoutMs`. */
export async function waitFor(
  cond: () => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The parts of hostd's status document these tests read. */
export interface StatusLike {
  readonly channels: { channelId: string; state: string; consumerVm: number; providerVm: number }[];
  readonly services: { service: number; instance: number; providerVm: number }[];
}

/** Reads one status document from hostd's status socket (bounded to 5 s). */
export async function readStatus(d: Deployment): Promise<StatusLike> {
  const text = await new Promise<string>((resolve, reject) => {
    const s = net.connect(path.join(d.runDir, 'status.sock'));
    let out = '';
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error('status socket did not answer in 5 s'));
    }, 5000);
    s.setEncoding('utf8').on('data', (c: string) => (out += c));
    s.on('end', () => {
      clearTimeout(t);
      resolve(out);
    });
    s.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
  });
  return JSON.parse(text) as StatusLike;
}
