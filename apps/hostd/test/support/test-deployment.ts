// A throwaway deployment for hostd's integration tests: a config in a temp dir (three VMs,
// two services of the example), hostd started as a separate OS process on it, and cleanup that
// leaves no process, socket or region behind.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { packageRoot } from '@sivshm/core';

const HOSTD_ROOT = packageRoot(import.meta.url);
const REPO_ROOT = path.resolve(HOSTD_ROOT, '..', '..');
/** True when the tests run from TypeScript sources (tsx), false from dist/. */
export const FROM_SOURCE = import.meta.url.endsWith('.ts');

/** How to run a TS-or-JS entry of this repo as a child process. */
export function nodeArgs(
  pkgRoot: string,
  srcRelative: string,
): { execArgv: string[]; script: string } {
  if (FROM_SOURCE) {
    return {
      execArgv: ['--conditions=source', '--import', 'tsx'],
      script: path.join(pkgRoot, srcRelative),
    };
  }
  return { execArgv: [], script: path.join(pkgRoot, 'dist', srcRelative.replace(/\.ts$/, '.js')) };
}

/** Test VMs: ids, names and their (test-only) grant keys. */
export const VM = { infotainment: 1, cluster: 2, rogue: 3 } as const;
export const SERVICE = { speed: 0x1234, media: 0x1235 } as const;

export interface Deployment {
  readonly dir: string;
  readonly configPath: string;
  readonly stateDir: string;
  readonly runDir: string;
  readonly regionPath: string;
  socket(vm: keyof typeof VM): string;
  readonly statusSocket: string;
  cleanup(): void;
}

/** Writes a config for three VMs; rogue has tight limits (4 windows of quota, 3 pending). */
export function makeDeployment(): Deployment {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sivshm-hostd-'));
  const regionPath = `/dev/shm/sivshm-hostd-test-${process.pid}-${randomBytes(4).toString('hex')}`;
  const key = (): string => randomBytes(32).toString('hex');
  const proto = path.join(REPO_ROOT, 'examples', 'proto', 'vehicle.proto');
  const configPath = path.join(dir, 'services.yaml');
  writeFileSync(
    configPath,
    `version: 1
region: { size: 4MiB, path: ${regionPath}, channelCapacity: 64 }
vms:
  - { id: 1, name: infotainment, grantKey: { hex: ${key()} } }
  - id: 2
    name: cluster
    grantKey: { hex: ${key()} }
    limits: { handshakesPerSecond: 1000, burst: 100, pendingHandshakes: 8, windowBytes: 3MiB }
  - id: 3
    name: rogue
    grantKey: { hex: ${key()} }
    limits: { handshakesPerSecond: 20, burst: 5, pendingHandshakes: 3, windowBytes: 600KiB }
protos: [${proto}]
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
  - name: MediaControl
    id: 0x1235
    instances: [1]
    major: 1
    minor: 0
    provider: infotainment
    consumers: [cluster, rogue]
    minMode: plain
    eventgroups:
      - id: 1
        name: playback
        events:
          - { id: 0x8001, name: nowPlaying, type: sivshm.demo.MediaState }
`,
  );
  const runDir = path.join(dir, 'run');
  return {
    dir,
    configPath,
    stateDir: path.join(dir, 'state'),
    runDir,
    regionPath,
    socket: (vm) => path.join(runDir, `${vm}.sock`),
    statusSocket: path.join(runDir, 'status.sock'),
    cleanup: () => {
      rmSync(dir, { recursive: true, force: true });
      rmSync(regionPath, { force: true });
    },
  };
}

/** A hostd child process and its log lines (parsed JSON). */
export interface HostdProcess {
  readonly child: ChildProcess;
  readonly logs: Record<string, unknown>[];
  /** SIGTERM, then wait (bounded) for exit; returns the exit code (or the signal's name). */
  stop(): Promise<number | string>;
  kill(): void;
}

/** Starts `sivshm-hostd` on `d` and resolves once it logged `hostd-started`. */
export async function startHostd(
  d: Deployment,
  extraArgs: readonly string[] = [],
  timeoutMs = 15_000,
): Promise<HostdProcess> {
  const { execArgv, script } = nodeArgs(HOSTD_ROOT, 'src/bin.ts');
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
      '--log-level',
      'debug',
      ...extraArgs,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const logs: Record<string, unknown>[] = [];
  let buffered = '';
  let exited: number | string | undefined;
  const exit = new Promise<number | string>((resolve) =>
    child.on('exit', (code, signal) => {
      exited = code ?? signal ?? -1;
      resolve(exited);
    }),
  );
  child.stderr!.setEncoding('utf8').on('data', (s: string) => {
    buffered += s;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        logs.push({ event: 'raw', line });
      }
    }
  });
  const proc: HostdProcess = {
    child,
    logs,
    stop: async () => {
      if (exited !== undefined) return exited;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      const code = await exit;
      clearTimeout(timer);
      return code;
    },
    kill: () => void child.kill('SIGKILL'),
  };
  const deadline = Date.now() + timeoutMs;
  while (!logs.some((l) => l['event'] === 'hostd-started')) {
    if (exited !== undefined || Date.now() > deadline) {
      proc.kill();
      throw new Error(
        `hostd did not start (exit ${String(exited)}): ${logs.map((l) => JSON.stringify(l)).join('\n')}`,
      );
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return proc;
}

/** Reads one status document straight from the status socket. */
export async function readStatus(d: Deployment): Promise<StatusLike> {
  const text = await new Promise<string>((resolve, reject) => {
    const s = net.connect(d.statusSocket);
    let out = '';
    s.setEncoding('utf8').on('data', (c: string) => (out += c));
    s.on('end', () => resolve(out));
    s.on('error', reject);
    setTimeout(() => {
      s.destroy();
      reject(new Error('status socket did not answer in 5 s'));
    }, 5000).unref();
  });
  return JSON.parse(text) as StatusLike;
}

/** The parts of hostd's status document the tests read. */
export interface StatusLike {
  readonly eventLoopDelayMs: { p50: number; p99: number; max: number };
  readonly epoch: string;
  readonly region: { freeBytes: number; allocatedBytes: number; dataSize: number };
  readonly vms: {
    id: number;
    connected: boolean;
    enrolled: boolean;
    controlMessagesIn: number;
    refusals: number;
    sdDropped: number;
    doorbellId?: number;
  }[];
  readonly services: { service: number; instance: number; providerVm: number }[];
  readonly channels: {
    channelId: string;
    state: string;
    mode: string;
    consumerVm: number;
    providerVm: number;
    window: { offset: number; length: number };
    rings?: Record<'c2p' | 'p2c', { producedBytes: number; queuedBytes: number; closed: boolean }>;
  }[];
  readonly handshakes: {
    established: number;
    aborted: number;
    rateLimited: number;
    signatureVerifications: number;
    pending: number;
    timingMs: { count: number; p50?: number };
  };
}

/** Runs `sivshm status <args>` (the CLI) and returns its stdout. */
export async function runCliStatus(d: Deployment, args: string[]): Promise<string> {
  const cliRoot = path.join(REPO_ROOT, 'apps', 'cli');
  const { execArgv, script } = nodeArgs(cliRoot, 'src/bin.ts');
  if (!existsSync(script)) throw new Error(`the CLI is not built: ${script} is missing`);
  const child = spawn(
    process.execPath,
    [...execArgv, script, 'status', '--run-dir', d.runDir, ...args],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  clearTimeout(timer);
  if (code !== 0) throw new Error(`sivshm status exited ${code}: ${err}`);
  return out;
}

/** Waits until `cond()` holds, polling every 5 ms, at most `timeoutMs`. */
export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The hostd log of a deployment's state, for failure messages. */
export function caState(d: Deployment): string {
  return readFileSync(path.join(d.stateDir, 'ca', 'ca-state.json'), 'utf8');
}

/** A provider VM in its own OS process (support/provider-process.ts). */
export interface ProviderProcess {
  readonly child: ChildProcess;
  readonly grants: bigint[];
  readonly exited: Promise<void>;
  stop(): Promise<void>;
}

/** Forks a provider VM on `d`'s infotainment socket and waits until it is ready. */
export async function startProviderProcess(d: Deployment): Promise<ProviderProcess> {
  const { execArgv, script } = nodeArgs(HOSTD_ROOT, 'test/support/provider-process.ts');
  const child = fork(script, [d.socket('infotainment')], {
    execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const grants: bigint[] = [];
  let ready = false;
  child.on('message', (m: { event?: string; channelId?: string }) => {
    if (m.event === 'ready') ready = true;
    if (m.event === 'granted') grants.push(BigInt(m.channelId!));
  });
  let gone = false;
  const exited = new Promise<void>((r) =>
    child.on('exit', () => {
      gone = true;
      r();
    }),
  );
  await waitFor(() => ready || gone, 'the provider process to enrol and offer', 15_000);
  if (!ready) throw new Error('the provider process exited before it was ready');
  return {
    child,
    grants,
    exited,
    stop: async () => {
      if (gone) return;
      child.send({ cmd: 'exit' });
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** What a flood process (support/flood-process.ts) reports when it is done. */
export interface FloodReport {
  readonly total: number;
  readonly sent: number;
  readonly sendMs: number;
  /** CPU time the flooding process spent while it sent, ms. */
  readonly cpuMs: number;
  readonly answered: number;
  readonly reasons: Record<string, number>;
}

/** A flooding VM in its own OS process: `start()` begins the flood, `done` resolves at its end. */
export interface FloodProcess {
  readonly total: number;
  start(): void;
  readonly done: Promise<FloodReport>;
  kill(): void;
}

/**
 * Forks a VM on `vm`'s socket that will send `rate` validly signed M1s per second for `ms`
 * milliseconds once started; resolves when it has enrolled and signed them all (at most 60 s).
 */
export async function startFloodProcess(
  d: Deployment,
  vm: keyof typeof VM,
  service: number,
  rate: number,
  ms: number,
): Promise<FloodProcess> {
  const { execArgv, script } = nodeArgs(HOSTD_ROOT, 'test/support/flood-process.ts');
  const child = fork(script, [d.socket(vm), String(service), String(rate), String(ms)], {
    execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let total: number | undefined;
  let resolveDone!: (r: FloodReport) => void;
  let rejectDone!: (e: Error) => void;
  const done = new Promise<FloodReport>((res, rej) => {
    resolveDone = res;
    rejectDone = rej;
  });
  done.catch(() => undefined); // observed by the caller when it awaits
  child.on('message', (m: { event?: string; total?: number } & FloodReport) => {
    if (m.event === 'ready') total = m.total;
    if (m.event === 'done') resolveDone(m);
  });
  let gone = false;
  child.on('exit', (code) => {
    gone = true;
    rejectDone(new Error(`the flood process exited (${String(code)}) before reporting`));
  });
  await waitFor(() => total !== undefined || gone, 'the flood process to sign its M1s', 60_000);
  if (total === undefined) throw new Error('the flood process exited before it was ready');
  return {
    total,
    start: () => void child.send({ cmd: 'go' }),
    done,
    kill: () => {
      if (!gone) child.kill('SIGKILL');
    },
  };
}
