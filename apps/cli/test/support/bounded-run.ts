// Runs a command line as a child process with a hard time bound, and judges its failure output
// the way the CLI promises it: exactly one line, no stack frames.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { cliEntry, nodeEntry, workspaceDir } from '@sivshm/testing';

/** What a bounded run did. `signal` is set when the bound had to kill it (it hung). */
export interface BoundedRun {
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

export interface BoundedRunOptions {
  readonly timeoutMs?: number;
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Aborting it kills the whole group at once (a test that has seen what it waited for). */
  readonly kill?: AbortSignal;
}

/**
 * Runs `node <script> <args>` in its own process group; past `timeoutMs` (10 s unless given)
 * the whole group is killed, so that a daemon the command started cannot outlive the test.
 */
export function runBounded(
  entry: { execArgv: string[]; script: string },
  args: readonly string[],
  o: BoundedRunOptions = {},
): Promise<BoundedRun> {
  const started = Date.now();
  const child = spawn(process.execPath, [...entry.execArgv, entry.script, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    ...(o.cwd === undefined ? {} : { cwd: o.cwd }),
    ...(o.env === undefined ? {} : { env: o.env }),
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const killGroup = (): void => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // Already gone.
    }
  };
  const timer = setTimeout(killGroup, o.timeoutMs ?? 10_000);
  o.kill?.addEventListener('abort', killGroup);
  return new Promise((resolve) =>
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      o.kill?.removeEventListener('abort', killGroup);
      resolve({ status, signal, stdout, stderr, ms: Date.now() - started });
    }),
  );
}

/** `sivshm <args>`, bounded. */
export const sivshm = (args: readonly string[], o: BoundedRunOptions = {}): Promise<BoundedRun> =>
  runBounded(cliEntry(), args, o);

/** `sivshm-hostd <args>`, bounded. */
export const sivshmHostd = (
  args: readonly string[],
  o: BoundedRunOptions = {},
): Promise<BoundedRun> =>
  runBounded(nodeEntry(workspaceDir('@sivshm/hostd'), 'src/bin.ts'), args, o);

/**
 * The failure contract: the run ended by itself with `exitCode`, stderr is exactly one line
 * (matching `line`), and no stack frame was printed anywhere. Returns that line.
 */
export function expectOneLineFailure(r: BoundedRun, exitCode: number, line: RegExp): string {
  const all = `stdout: ${r.stdout}\nstderr: ${r.stderr}`;
  expect(r.signal, `killed after ${r.ms} ms: it hung\n${all}`).to.equal(null);
  expect(r.status, all).to.equal(exitCode);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  expect(lines, all).to.have.length(1);
  expect(`${r.stdout}\n${r.stderr}`, 'a stack frame was printed').to.not.match(/^\s+at /m);
  expect(lines[0], all).to.match(line);
  return lines[0]!;
}
