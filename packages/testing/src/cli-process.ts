import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Deployment } from './deployment.js';
import { nodeEntry, type NodeEntry } from './node-entry.js';
import { workspaceDir } from './paths.js';

/** How to start the CLI (`sivshm`), located at run time: test support must not import an app. */
export function cliEntry(): NodeEntry {
  return nodeEntry(workspaceDir('@sivshm/cli'), 'src/bin.ts');
}

/** Runs the CLI (`sivshm <args>`) and returns its stdout; bounded to 15 s. */
export async function runCli(args: readonly string[]): Promise<string> {
  const { execArgv, script } = cliEntry();
  if (!existsSync(script)) throw new Error(`the CLI is not built: ${script} is missing`);
  const child = spawn(process.execPath, [...execArgv, script, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  clearTimeout(timer);
  if (code !== 0) throw new Error(`sivshm ${args.join(' ')} exited ${code}: ${err}`);
  return out;
}

/** `sivshm status <args> --run-dir <d's run dir>`, as an operator runs it. */
export function runCliStatus(d: Deployment, args: readonly string[] = []): Promise<string> {
  return runCli(['status', '--run-dir', d.runDir, ...args]);
}

/** Where and how a synchronous CLI run happens. */
export interface CliRunOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Written to its stdin. */
  readonly input?: string;
  /** 15 s unless given. */
  readonly timeoutMs?: number;
}

/** Runs `sivshm <args>` to its end and returns what it did (exit status, stdout, stderr). */
export function runCliSync(
  args: readonly string[],
  o: CliRunOptions = {},
): SpawnSyncReturns<string> {
  const { execArgv, script } = cliEntry();
  return spawnSync(process.execPath, [...execArgv, script, ...args], {
    encoding: 'utf8',
    timeout: o.timeoutMs ?? 15_000,
    ...(o.cwd === undefined ? {} : { cwd: o.cwd }),
    ...(o.env === undefined ? {} : { env: o.env }),
    ...(o.input === undefined ? {} : { input: o.input }),
  });
}
