import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Runs a daemon package's `bin` entry (beside its main module, `mainUrl`) as a child process in
 * the foreground and resolves with its exit code. The daemon is its own process because it
 * installs signal handlers and exits on its own terms; SIGINT/SIGTERM sent to the CLI are
 * forwarded to it. Callers resolve their package with import.meta.resolve when their
 * command runs, so other commands never load the package (and the manifest check sees the
 * dependency used).
 */
export async function runPackageBinary(mainUrl: string, args: string[]): Promise<number> {
  const main = fileURLToPath(mainUrl);
  const bin = path.join(path.dirname(main), `bin${path.extname(main)}`);
  const child = spawn(process.execPath, [...process.execArgv, bin, ...args], { stdio: 'inherit' });
  const forward = (signal: NodeJS.Signals): void => void child.kill(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  const code = await new Promise<number>((resolve) =>
    child.on('exit', (c, signal) => resolve(c ?? (signal === null ? 1 : 128))),
  );
  process.off('SIGINT', forward);
  process.off('SIGTERM', forward);
  return code;
}
