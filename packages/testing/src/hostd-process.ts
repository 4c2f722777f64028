import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import type { Deployment } from './deployment.js';
import { nodeEntry } from './node-entry.js';
import { workspaceDir } from './paths.js';
import { sleep } from './wait.js';

/** A hostd child process and what it logged (one JSON object a line on stderr). */
export interface HostdProcess {
  readonly child: ChildProcess;
  /** Its log lines, parsed (a line that is not JSON is kept as `{ event: 'raw', line }`). */
  readonly logs: Record<string, unknown>[];
  /** Everything it wrote to stderr so far. */
  text(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; the exit code (or the signal's name). */
  stop(graceMs?: number): Promise<number | string>;
  kill(): void;
}

export interface StartHostdOptions {
  /** hostd's --log-level; `debug` unless given (tests read its events). */
  readonly logLevel?: string;
  readonly timeoutMs?: number;
  /** Node flags for the hostd process (a bench's `--expose-gc`, `--import` of a probe). */
  readonly execArgv?: readonly string[];
}

/**
 * Starts `sivshm-hostd` (located at run time: test support must not import an app) on `d` and
 * resolves once it logged `hostd-started`.
 */
export async function startHostd(
  d: Deployment,
  extraArgs: readonly string[] = [],
  o: StartHostdOptions = {},
): Promise<HostdProcess> {
  const { execArgv, script } = nodeEntry(workspaceDir('@sivshm/hostd'), 'src/bin.ts');
  if (!existsSync(script)) throw new Error(`hostd is not built: ${script} is missing`);
  const args = ['--config', d.configPath, '--state-dir', d.stateDir, '--run-dir', d.runDir];
  args.push('--log-level', o.logLevel ?? 'debug', ...extraArgs);
  const child = spawn(process.execPath, [...execArgv, ...(o.execArgv ?? []), script, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  let all = '';
  let buffered = '';
  let exited: number | string | undefined;
  const exit = new Promise<number | string>((resolve) =>
    child.on('exit', (code, signal) => resolve((exited = code ?? signal ?? -1))),
  );
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    all += s;
    buffered += s;
    for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
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
    text: () => all,
    stop: async (graceMs = 5000) => {
      if (exited !== undefined) return exited;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exit;
      clearTimeout(timer);
      return code;
    },
    kill: () => void child.kill('SIGKILL'),
  };
  const deadline = Date.now() + (o.timeoutMs ?? 15_000);
  while (!logs.some((l) => l['event'] === 'hostd-started')) {
    if (exited !== undefined || Date.now() > deadline) {
      proc.kill();
      throw new Error(`hostd did not start (exit ${String(exited)}): ${all}`);
    }
    await sleep(20);
  }
  return proc;
}

/** The parts of hostd's status document tests read. */
export interface StatusLike {
  readonly eventLoopDelayMs: { p50: number; p99: number; max: number };
  readonly epoch: string;
  readonly region: {
    freeBytes: number;
    allocatedBytes: number;
    quarantinedBytes: number;
    dataSize: number;
    dataOffset: number;
    largestFree: number;
    freeExtents: number;
  };
  readonly vms: {
    id: number;
    name: string;
    connected: boolean;
    enrolled: boolean;
    controlMessagesIn: number;
    refusals: number;
    sdDropped: number;
    revokeReceiptsRefused: number;
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
    timingMs: { count: number; p50?: number; last?: number };
  };
}

/** Reads one status document straight from hostd's status socket (bounded to 5 s). */
export async function readStatus(d: Deployment): Promise<StatusLike> {
  const text = await new Promise<string>((resolve, reject) => {
    const s = net.connect(d.statusSocket);
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
