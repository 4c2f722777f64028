import { closeSync, constants, fstatSync, ftruncateSync, openSync, readFileSync } from 'node:fs';
import { rmSync, statSync, writeSync } from 'node:fs';
import { TransportError } from '../errors/transport-error.js';
import { loadAddon } from './addon.js';
import { callNative } from './native-call.js';

/** How often {@link LockFile.tryTake} starts over when the file it locked was just removed. */
const MAX_TAKE_ATTEMPTS = 8;

/**
 * An exclusive lock held by the kernel on a file: an open-file-description lock (fcntl
 * `F_OFD_SETLK`) over the whole file, dropped by the kernel when its holder closes it or exits
 * in any way, SIGKILL included. The file also carries a line from the holder (its pid, its
 * directories) so that the next taker can say who holds it; that text is only a name, never
 * the lock.
 *
 * Use it for "one process at a time" on one host: hostd's region, the CA directory. Two
 * holders in the same process conflict too (the lock belongs to the open file, not the pid).
 *
 * @example
 * ```ts
 * const lock = LockFile.tryTake('/dev/shm/sivshm-region.lock', `${process.pid}\n`);
 * if (lock === undefined) console.error(`held by ${LockFile.holder('/dev/shm/sivshm-region.lock')}`);
 * lock?.release();
 * ```
 */
export class LockFile {
  #fd: number | undefined;

  private constructor(
    readonly path: string,
    fd: number,
  ) {
    this.#fd = fd;
  }

  /**
   * Takes the lock on `path` (created with `mode` when missing) and writes `holder` into it;
   * undefined when another open file holds it. Never waits. Throws `ERR_BAD_ARGUMENT` for a
   * path that is not a non-empty string without NUL, a holder that is not a string or a mode
   * outside 0..0o7777, and `ERR_SYSCALL` when the file cannot be opened or written.
   */
  static tryTake(path: string, holder: string, mode = 0o600): LockFile | undefined {
    checkLockPath(path);
    if (typeof holder !== 'string') {
      throw new TransportError('ERR_BAD_ARGUMENT', `holder must be a string, got ${typeof holder}`);
    }
    if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        `mode must be in 0..0o7777, got ${String(mode)}`,
      );
    }
    const addon = loadAddon();
    for (let attempt = 0; attempt < MAX_TAKE_ATTEMPTS; attempt++) {
      const fd = openLock(path, constants.O_RDWR | constants.O_CREAT, mode);
      let taken: LockFile | undefined;
      try {
        if (!callNative(() => addon.lockExclusive(fd))) return undefined;
        // The previous holder removes the file as it releases: if it did so after our open,
        // we locked a file nobody else can find, and a third process may lock a new one.
        if (!samePath(fd, path)) continue;
        ftruncateSync(fd, 0);
        writeSync(fd, holder, 0);
        taken = new LockFile(path, fd);
        return taken;
      } finally {
        if (taken === undefined) closeSync(fd);
      }
    }
    throw new TransportError(
      'ERR_SYSCALL',
      `cannot lock ${path}: it was removed and created again ${MAX_TAKE_ATTEMPTS} times while locking`,
    );
  }

  /**
   * What the live holder of `path` wrote, or undefined when nobody holds it (no file, or a
   * file whose holder is gone). Asks the kernel without taking the lock. Throws
   * `ERR_BAD_ARGUMENT` for a path that is not a non-empty string without NUL.
   */
  static holder(path: string): string | undefined {
    checkLockPath(path);
    let fd: number;
    try {
      fd = openLock(path, constants.O_RDONLY, 0);
    } catch (e) {
      if (TransportError.is(e) && e.errnoName === 'ENOENT') return undefined;
      throw e;
    }
    try {
      if (!callNative(() => loadAddon().lockTest(fd))) return undefined;
      return readFileSync(fd, 'utf8');
    } finally {
      closeSync(fd);
    }
  }

  /** Whether this object still holds the lock. */
  get held(): boolean {
    return this.#fd !== undefined;
  }

  /** Removes the file and drops the lock (in that order: see tryTake). Idempotent. */
  release(): void {
    const fd = this.#fd;
    if (fd === undefined) return;
    this.#fd = undefined;
    try {
      if (samePath(fd, this.path)) rmSync(this.path, { force: true });
    } finally {
      closeSync(fd); // drops the lock
    }
  }
}

/** Throws `ERR_BAD_ARGUMENT` unless `path` can name a file (before anything is opened). */
function checkLockPath(path: unknown): asserts path is string {
  if (typeof path !== 'string' || path.length === 0 || path.includes('\0')) {
    throw new TransportError(
      'ERR_BAD_ARGUMENT',
      `the lock path must be a non-empty string without NUL, got ${JSON.stringify(path)}`,
    );
  }
}

function openLock(path: string, flags: number, mode: number): number {
  try {
    return openSync(path, flags | constants.O_NOFOLLOW, mode);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new TransportError('ERR_SYSCALL', `cannot open the lock ${path}: ${err.message}`, {
      cause: e,
      syscall: { syscall: 'open', errno: -(err.errno ?? 0), errnoName: err.code ?? 'EIO' },
    });
  }
}

/** Whether `fd` is still the file at `path`. */
function samePath(fd: number, path: string): boolean {
  const held = fstatSync(fd);
  try {
    const now = statSync(path);
    return now.ino === held.ino && now.dev === held.dev;
  } catch {
    return false;
  }
}
