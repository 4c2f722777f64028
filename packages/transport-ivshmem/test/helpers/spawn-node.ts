import { spawn } from 'node:child_process';
import type { ChildProcess, StdioOptions } from 'node:child_process';
import { Worker } from 'node:worker_threads';

/**
 * Runs a helper script as a separate OS process, from source (`.ts` through tsx, while
 * developing with `npm run test:dev`) or compiled (`.js`, under `npm test`), whichever `url`
 * names. `extraFds` become fds 3, 4, … in the child.
 */
export function spawnNode(url: URL, args: string[], extraFds: number[] = []): ChildProcess {
  const file = url.pathname;
  const nodeArgs = file.endsWith('.ts') ? ['--import', 'tsx', file, ...args] : [file, ...args];
  const stdio: StdioOptions = ['ignore', 'pipe', 'pipe', ...extraFds];
  // Drop the parent's NODE_OPTIONS (mocha's tsx hooks, --conditions) and set what the child needs.
  const env = { ...process.env, NODE_OPTIONS: file.endsWith('.ts') ? '--conditions=source' : '' };
  return spawn(process.execPath, nodeArgs, { stdio, env });
}

/** Starts a worker thread on a helper module, from source (via tsx's API) or compiled. */
export function startWorker(url: URL, workerData: unknown): Worker {
  if (url.pathname.endsWith('.ts')) {
    const boot = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(url.href)}); })`;
    return new Worker(boot, { eval: true, workerData });
  }
  return new Worker(url, { workerData });
}

/** The URL of a sibling helper, with the extension of the running file (.ts or .js). */
export function helperUrl(name: string): URL {
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  return new URL(`./${name}${ext}`, import.meta.url);
}

/** Collects a child's stdout and stderr and resolves with them and the exit status. */
export function collect(
  child: ChildProcess,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
}
