import { linkSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoreError } from '../errors/core-error.js';

/** Who holds a CA directory: a running hostd (with its admin socket) or one `sivshm ca` command. */
export interface CaLockHolder {
  readonly pid: number;
  readonly owner: 'hostd' | 'sivshm ca';
  /** hostd's admin socket: CA changes go through it while hostd runs. */
  readonly adminSocket?: string;
}

const LOCK_FILE = 'ca.lock';

/**
 * The lock that makes a CA directory one writer's at a time: `<dir>/ca.lock`, holding its
 * owner as one JSON line. hostd holds it for as long as it runs (it issues certificates and
 * persists serials and revocations itself, so a second writer would lose updates or reuse a
 * serial); each `sivshm ca` command that writes holds it for the length of the command.
 *
 * Node has no flock(2): the file is written whole under a private name and linked into place
 * (link(2) fails with EEXIST, so exactly one taker wins and nobody reads a half-written lock);
 * a lock whose pid is gone is taken over. This covers writers on one host, not a CA directory
 * shared over a network file system.
 */
export class CaLock {
  private constructor(readonly path: string) {}

  /**
   * Takes the lock of `dir` for `holder`, or throws `ERR_CA_LOCKED` with the live holder in
   * {@link CaLockedError.holder}.
   */
  static take(dir: string, holder: Omit<CaLockHolder, 'pid'>): CaLock {
    const path = join(dir, LOCK_FILE);
    const tmp = `${path}.${process.pid}`;
    writeFileSync(tmp, JSON.stringify({ pid: process.pid, ...holder }) + '\n', { mode: 0o600 });
    try {
      // Two tries: the second after removing a dead holder's lock.
      for (let attempt = 0; attempt < 2; attempt++) {
        try {
          linkSync(tmp, path);
          return new CaLock(path);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
            throw new CoreError(
              'ERR_IO',
              `cannot lock the CA directory ${dir}: ${(e as Error).message}`,
              {
                cause: e,
              },
            );
          }
        }
        const live = CaLock.holder(dir);
        if (live !== undefined) throw new CaLockedError(dir, live);
        rmSync(path, { force: true }); // a dead holder's lock
      }
      throw new CoreError(
        'ERR_IO',
        `cannot lock the CA directory ${dir}: ${path} keeps coming back`,
      );
    } finally {
      rmSync(tmp, { force: true });
    }
  }

  /** The live holder of `dir`'s lock, if any (a lock naming a dead pid has none). */
  static holder(dir: string): CaLockHolder | undefined {
    const path = join(dir, LOCK_FILE);
    let h: Partial<CaLockHolder>;
    try {
      h = JSON.parse(readFileSync(path, 'utf8')) as Partial<CaLockHolder>;
    } catch {
      // Gone, or not a lock this code wrote (it links locks into place whole): nobody holds it.
      return undefined;
    }
    if (typeof h.pid !== 'number' || !Number.isInteger(h.pid) || h.pid <= 0) return undefined;
    if (h.owner !== 'hostd' && h.owner !== 'sivshm ca') return undefined;
    if (!alive(h.pid)) return undefined;
    return {
      pid: h.pid,
      owner: h.owner,
      ...(typeof h.adminSocket === 'string' ? { adminSocket: h.adminSocket } : {}),
    };
  }

  /** Removes the lock if it is still this process's. */
  release(): void {
    try {
      const h = JSON.parse(readFileSync(this.path, 'utf8')) as Partial<CaLockHolder>;
      if (h.pid === process.pid) rmSync(this.path, { force: true });
    } catch {
      // Already gone.
    }
  }
}

/** `ERR_CA_LOCKED`: a live holder has the CA directory. */
export class CaLockedError extends CoreError {
  constructor(
    readonly dir: string,
    readonly holder: CaLockHolder,
  ) {
    super(
      'ERR_CA_LOCKED',
      holder.owner === 'hostd'
        ? `the CA directory ${dir} is held by the running hostd (pid ${holder.pid})`
        : `the CA directory ${dir} is in use by another sivshm ca command (pid ${holder.pid})`,
    );
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
