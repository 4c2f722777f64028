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

/**
 * A lock on a file that the kernel holds for its taker and drops when the taker exits, however
 * it exits. Core has no way to take one (Node has no file locks); the transport package's
 * `LockFile` is one (open-file-description locks), and hostd and the CLI pass it in.
 */
export interface KernelFileLocks {
  /** Takes `path` and writes `holder` into it; undefined when another holder has it. */
  tryTake(path: string, holder: string): { release(): void } | undefined;
  /** What the live holder of `path` wrote, or undefined when nobody holds it. */
  holder(path: string): string | undefined;
}

const LOCK_FILE = 'ca.lock';
/**
 * Tries when the lock is held but its holder has not written its name yet (microseconds
 * after taking it), 5 ms apart, before giving up.
 */
const KERNEL_TAKE_ATTEMPTS = 10;
const KERNEL_RETRY_MS = 5;

/**
 * The lock that makes a CA directory one writer's at a time: `<dir>/ca.lock`, holding its
 * owner as one JSON line. hostd holds it for as long as it runs (it issues certificates and
 * persists serials and revocations itself, so a second writer would lose updates or reuse a
 * serial); each `sivshm ca` command that writes holds it for the length of the command.
 *
 * With `locks` (what hostd and the CLI pass), the kernel holds the lock: it is free the moment
 * its holder exits, SIGKILL included, and the JSON line only names the holder. Without, it is a
 * pid file: written whole under a private name and linked into place (link(2) fails with
 * EEXIST, so exactly one taker wins and nobody reads a half-written lock), and a lock whose pid
 * is gone is taken over — a reused pid keeps it held. Either covers writers on one host, not a
 * CA directory shared over a network file system.
 */
export class CaLock {
  private constructor(
    readonly path: string,
    private readonly drop: () => void,
  ) {}

  /**
   * Takes the lock of `dir` for `holder`, or throws `ERR_CA_LOCKED` with the live holder in
   * {@link CaLockedError.holder}.
   */
  static take(dir: string, holder: Omit<CaLockHolder, 'pid'>, locks?: KernelFileLocks): CaLock {
    if (locks !== undefined) return CaLock.#takeKernelLock(dir, holder, locks);
    const path = join(dir, LOCK_FILE);
    const tmp = `${path}.${process.pid}`;
    writeFileSync(tmp, JSON.stringify({ pid: process.pid, ...holder }) + '\n', { mode: 0o600 });
    try {
      // Two tries: the second after removing a dead holder's lock.
      for (let attempt = 0; attempt < 2; attempt++) {
        try {
          linkSync(tmp, path);
          return new CaLock(path, () => releasePidFile(path));
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

  static #takeKernelLock(
    dir: string,
    holder: Omit<CaLockHolder, 'pid'>,
    locks: KernelFileLocks,
  ): CaLock {
    const path = join(dir, LOCK_FILE);
    const text = JSON.stringify({ pid: process.pid, ...holder }) + '\n';
    for (let attempt = 0; attempt < KERNEL_TAKE_ATTEMPTS; attempt++) {
      let taken: { release(): void } | undefined;
      try {
        taken = locks.tryTake(path, text);
      } catch (e) {
        throw new CoreError(
          'ERR_IO',
          `cannot lock the CA directory ${dir}: ${(e as Error).message}`,
          {
            cause: e,
          },
        );
      }
      if (taken !== undefined) return new CaLock(path, () => taken.release());
      const live = parseHolder(locks.holder(path));
      if (live !== undefined) throw new CaLockedError(dir, live);
      // Held a moment ago, free now, or held by a taker that has not named itself yet: again.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, KERNEL_RETRY_MS);
    }
    throw new CoreError(
      'ERR_IO',
      `cannot lock the CA directory ${dir}: ${path} changed hands ${KERNEL_TAKE_ATTEMPTS} times while locking`,
    );
  }

  /**
   * The live holder of `dir`'s lock, if any: with `locks`, whoever the kernel says holds it;
   * without, the pid the file names if that process is alive.
   */
  static holder(dir: string, locks?: KernelFileLocks): CaLockHolder | undefined {
    const path = join(dir, LOCK_FILE);
    if (locks !== undefined) return parseHolder(locks.holder(path));
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      return undefined; // gone
    }
    // Not a lock this code wrote (it links locks into place whole): nobody holds it.
    const h = parseHolder(text);
    return h !== undefined && alive(h.pid) ? h : undefined;
  }

  /** Lets the directory go (removes the lock file if it is still this process's). */
  release(): void {
    this.drop();
  }
}

function parseHolder(text: string | undefined): CaLockHolder | undefined {
  if (text === undefined) return undefined;
  let h: Partial<CaLockHolder>;
  try {
    h = JSON.parse(text) as Partial<CaLockHolder>;
  } catch {
    return undefined;
  }
  if (typeof h.pid !== 'number' || !Number.isInteger(h.pid) || h.pid <= 0) return undefined;
  if (h.owner !== 'hostd' && h.owner !== 'sivshm ca') return undefined;
  return {
    pid: h.pid,
    owner: h.owner,
    ...(typeof h.adminSocket === 'string' ? { adminSocket: h.adminSocket } : {}),
  };
}

/** Removes a pid-file lock if it is still this process's. */
function releasePidFile(path: string): void {
  try {
    const h = JSON.parse(readFileSync(path, 'utf8')) as Partial<CaLockHolder>;
    if (h.pid === process.pid) rmSync(path, { force: true });
  } catch {
    // Already gone.
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
