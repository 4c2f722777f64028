// Other processes holding a lock for the lock specs (region-lock.spec, ca-lock-kernel.int.spec):
// each runs a module that takes the lock, prints one line (`won`, or why not) and holds on
// until it is killed, so its lock dies with it the way a crashed hostd's does.
import { spawn, type ChildProcess } from 'node:child_process';

/** A fresh Node running the ES module source `code`, its stdout and stderr piped. */
export function lockHolder(code: string): ChildProcess {
  // The environment as is: from source (`npm run test:dev`) it carries tsx's hooks.
  return spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: 'pipe' });
}

/** The first line `c` prints; rejects with its stderr when it ends before printing one. */
export function firstLine(c: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    c.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    c.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.split('\n')[0]!);
    });
    c.on('exit', (code, sig) => reject(new Error(`lock holder ended (${sig ?? code}): ${err}`)));
  });
}

/** Resolves once `c` has exited (at once when it already has). */
export const exited = (c: ChildProcess): Promise<void> =>
  new Promise((resolve) =>
    c.exitCode !== null || c.signalCode !== null ? resolve() : c.on('exit', () => resolve()),
  );

/** Kills every holder in `children` with SIGKILL and waits for each to be gone; empties it. */
export async function killHolders(children: ChildProcess[]): Promise<void> {
  for (const c of children.splice(0)) {
    c.kill('SIGKILL');
    await exited(c);
  }
}
