import { closeSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { HostdError } from '../errors/hostd-error.js';

/**
 * The lock that makes a region hostd's alone: `<region.path>.lock`, created exclusively and
 * holding the owner's pid. A second hostd on the same region (another run dir, the same
 * `region.path`) would recreate the live region and delete it on exit, so it refuses to start
 * and names the holder. A lock left by a hostd that died is taken over (its pid is gone).
 *
 * Node has no flock(2); an O_EXCL file with a liveness check on the pid it names does the job
 * for hostds on one host (docs/security.md says what it does not cover).
 */
export class RegionLock {
  private constructor(readonly path: string) {}

  /** Takes the lock of the region at `regionPath`, or throws ERR_STARTUP naming the holder. */
  static take(regionPath: string): RegionLock {
    const path = `${regionPath}.lock`;
    // Two tries: the second after removing a dead holder's lock.
    for (let attempt = 0; attempt < 2; attempt++) {
      let fd: number;
      try {
        fd = openSync(path, 'wx', 0o644);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new HostdError(
            'ERR_STARTUP',
            `cannot lock the region ${regionPath} (${path}): ${(e as Error).message}`,
          );
        }
        const holder = lockHolder(path);
        if (holder === undefined && justCreated(path)) {
          throw new HostdError(
            'ERR_STARTUP',
            `the region ${regionPath} is being locked by another hostd starting now (${path})`,
          );
        }
        if (holder !== undefined && holder !== process.pid && alive(holder)) {
          throw new HostdError(
            'ERR_STARTUP',
            `the region ${regionPath} is in use by another hostd (pid ${holder}, lock ${path}); stop it or give this one another region.path`,
          );
        }
        rmSync(path, { force: true }); // a dead hostd's lock
        continue;
      }
      try {
        writeSync(fd, `${process.pid}\n`);
      } finally {
        closeSync(fd);
      }
      return new RegionLock(path);
    }
    throw new HostdError(
      'ERR_STARTUP',
      `cannot lock the region ${regionPath}: ${path} keeps coming back`,
    );
  }

  /** Removes the lock if it is still ours. */
  release(): void {
    if (lockHolder(this.path) === process.pid) rmSync(this.path, { force: true });
  }
}

function lockHolder(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A lock without a pid yet, made in the last second: its owner is between creating it and
 * writing its pid, not dead.
 */
function justCreated(path: string): boolean {
  try {
    return Date.now() - statSync(path).mtimeMs < 1000;
  } catch {
    return false;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: a live process of another user.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
