import { CaLock, CaLockedError, type CaLockHolder } from '@sivshm/core';
// The lock alone, not the package's index: a `ca` command starts without the channel code.
import { LockFile } from '@sivshm/transport-ivshmem/lock-file';
import { CliError } from '../errors/cli-error.js';

/** How long a command waits for another `sivshm ca` command to finish with the directory. */
const WAIT_FOR_OTHER_COMMAND_MS = 30_000;

/**
 * Runs `write` holding the CA directory's lock (core's CaLock), so that two commands never
 * write the CA state at once: a second `ca issue` waits for the first and takes the next
 * serial. While hostd holds the directory nothing is written here: the command refuses with
 * one line (`whileHostd` says what to do instead).
 */
export async function withCaWriteLock<T>(
  dir: string,
  whileHostd: string,
  write: () => Promise<T>,
): Promise<T> {
  const deadline = Date.now() + WAIT_FOR_OTHER_COMMAND_MS;
  for (;;) {
    let lock: CaLock;
    try {
      lock = CaLock.take(dir, { owner: 'sivshm ca' }, LockFile); // a kernel lock, as hostd's
    } catch (e) {
      if (!(e instanceof CaLockedError)) throw e;
      if (e.holder.owner === 'hostd') throw hostdHolds(dir, e.holder, whileHostd);
      if (Date.now() > deadline) throw new CliError('ERR_REFUSED', `${e.message}; try again`);
      await new Promise((r) => setTimeout(r, 20 + Math.random() * 30));
      continue;
    }
    try {
      return await write();
    } finally {
      lock.release();
    }
  }
}

/** The running hostd that holds `dir`, if one does. */
export function hostdHolding(dir: string): CaLockHolder | undefined {
  const h = CaLock.holder(dir, LockFile);
  return h?.owner === 'hostd' ? h : undefined;
}

function hostdHolds(dir: string, h: CaLockHolder, whileHostd: string): CliError {
  return new CliError(
    'ERR_REFUSED',
    `the CA directory ${dir} is held by the running hostd (pid ${h.pid}): ${whileHostd}`,
  );
}
