// Starts the full-path benchmark's peer process (fullpath-peer) with a job and inherited fds.
import { spawn, type ChildProcess } from 'node:child_process';

const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
const PEER = new URL(`./fullpath-peer${ext}`, import.meta.url).pathname;

/** Spawns the peer with `job` (fds 3, 4, … are `fds`); resolves once it printed its first line. */
export function startPeer(job: object, fds: number[] = []): Promise<ChildProcess> {
  const args =
    ext === '.ts' ? ['--import', 'tsx', PEER, JSON.stringify(job)] : [PEER, JSON.stringify(job)];
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'inherit', ...fds],
    env: {
      ...process.env,
      NODE_OPTIONS: ext === '.ts' ? '--conditions=source' : (process.env.NODE_OPTIONS ?? ''),
    },
  });
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('benchmark peer did not start')), 20_000);
    child.stdout!.once('data', () => {
      clearTimeout(t);
      resolve(child);
    });
    child.once('exit', (c) => reject(new Error(`benchmark peer exited (${c})`)));
  });
}
