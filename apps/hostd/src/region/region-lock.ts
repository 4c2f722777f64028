import { LockFile, TransportError } from '@sivshm/transport-ivshmem';
import { HostdError } from '../errors/hostd-error.js';

/** Who holds a region, as its lock file names it. */
export interface RegionLockHolder {
  readonly pid: number;
  readonly runDir?: string;
}

/** Tries before giving up when the holder keeps changing between our two looks. */
const TAKE_ATTEMPTS = 3;

/**
 * The lock that makes a region hostd's alone: `<region.path>.lock`, an exclusive lock the
 * kernel holds for hostd (transport's `LockFile`, an open-file-description lock) and drops
 * when hostd exits in any way, SIGKILL included. A second hostd on the same region (another
 * run dir, the same `region.path`) would recreate the live region and delete it on exit, so it
 * refuses to start and names the holder, whose pid and run dir the file carries. Two hostds
 * starting at once: the kernel lets exactly one in.
 */
export class RegionLock {
  private constructor(readonly lock: LockFile) {}

  get path(): string {
    return this.lock.path;
  }

  /** Takes the lock of the region at `regionPath`, or throws ERR_STARTUP naming the holder. */
  static take(regionPath: string, runDir?: string): RegionLock {
    const path = `${regionPath}.lock`;
    const me: RegionLockHolder = { pid: process.pid, ...(runDir === undefined ? {} : { runDir }) };
    for (let attempt = 0; attempt < TAKE_ATTEMPTS; attempt++) {
      let lock: LockFile | undefined;
      let holder: RegionLockHolder | undefined;
      try {
        lock = LockFile.tryTake(path, JSON.stringify(me) + '\n');
        if (lock !== undefined) return new RegionLock(lock);
        holder = parseHolder(LockFile.holder(path));
      } catch (e) {
        if (!TransportError.is(e)) throw e;
        throw new HostdError(
          'ERR_STARTUP',
          `cannot lock the region ${regionPath} (${path}): ${e.message}`,
        );
      }
      // undefined: the holder let go between the two looks; try again.
      if (holder !== undefined) throw inUse(regionPath, path, holder);
    }
    throw new HostdError(
      'ERR_STARTUP',
      `cannot lock the region ${regionPath}: its lock ${path} changed hands ${TAKE_ATTEMPTS} times while this hostd started`,
    );
  }

  /** The live holder of the region at `regionPath`, if any. */
  static holder(regionPath: string): RegionLockHolder | undefined {
    return parseHolder(LockFile.holder(`${regionPath}.lock`));
  }

  /** Removes the lock file and lets the region go. Idempotent. */
  release(): void {
    this.lock.release();
  }
}

function inUse(regionPath: string, path: string, h: RegionLockHolder): HostdError {
  if (h.pid === 0) {
    return new HostdError(
      'ERR_STARTUP',
      `the region ${regionPath} is locked by a process that has not named itself yet (a hostd starting now?); lock ${path}`,
    );
  }
  const where = h.runDir === undefined ? '' : `, run dir ${h.runDir}`;
  return new HostdError(
    'ERR_STARTUP',
    `the region ${regionPath} is in use by another hostd (pid ${h.pid}${where}, lock ${path}); stop it or give this one another region.path`,
  );
}

/**
 * The holder a lock file names. A held lock whose text is not ours (another program, or a
 * holder still writing it) is reported with pid 0 rather than taken: the kernel says it is held.
 */
function parseHolder(text: string | undefined): RegionLockHolder | undefined {
  if (text === undefined) return undefined;
  try {
    const h = JSON.parse(text) as Partial<RegionLockHolder>;
    if (typeof h.pid === 'number' && Number.isInteger(h.pid) && h.pid > 0) {
      return { pid: h.pid, ...(typeof h.runDir === 'string' ? { runDir: h.runDir } : {}) };
    }
  } catch {
    // not JSON: reported as unknown below
  }
  return { pid: 0 };
}
