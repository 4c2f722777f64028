import { accessSync, constants, mkdirSync, statSync, type Stats } from 'node:fs';
import path from 'node:path';
import { HostdError } from '../errors/hostd-error.js';

function statOrUndefined(p: string): Stats | undefined {
  try {
    return statSync(p);
  } catch (e) {
    // ENOTDIR: a level above is a file; the walk up reaches it and says so.
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw e;
  }
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** `ENOENT: no such file or directory, mkdir '/x'` → `no such file or directory`. */
const reasonOf = (e: unknown): string =>
  (e as Error).message.replace(/^E[A-Z0-9]+: /, '').replace(/, \w+ '[^']*'$/, '');

/**
 * Makes sure hostd can work in `dir` (given by `option`, e.g. `--state-dir`): creates the
 * missing levels (mode 0700) and checks that it may create files there, before anything else
 * starts, so that an unusable directory is refused at once with one line.
 *
 * The levels are made one at a time: Node's recursive mkdir never returns for a path whose
 * parent exists but refuses the child with ENOENT (anything under /proc), it retries forever.
 */
export function ensureUsableDirectory(dir: string, option: string): void {
  const refuse = (why: string, cause?: unknown): never => {
    throw new HostdError(
      'ERR_STARTUP',
      `${option} ${dir} cannot be used: ${why}; create it or pick a directory hostd may write`,
      cause === undefined ? undefined : { cause },
    );
  };
  const missing: string[] = [];
  let level = path.resolve(dir);
  for (;;) {
    let st: Stats | undefined;
    try {
      st = statOrUndefined(level);
    } catch (e) {
      return refuse(`${level}: ${reasonOf(e)}`, e);
    }
    if (st !== undefined) {
      if (!st.isDirectory()) refuse(`${level} is not a directory`);
      break;
    }
    missing.unshift(level);
    const up = path.dirname(level);
    if (up === level) break;
    level = up;
  }
  for (const m of missing) {
    try {
      mkdirSync(m, { mode: 0o700 });
    } catch (e) {
      // Made meanwhile by someone else (another hostd starting): fine if it is a directory.
      if ((e as NodeJS.ErrnoException).code === 'EEXIST' && isDirectory(m)) continue;
      refuse(`cannot create ${m}: ${reasonOf(e)}`, e);
    }
  }
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (e) {
    refuse(reasonOf(e), e);
  }
}
