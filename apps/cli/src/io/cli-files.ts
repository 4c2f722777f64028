import {
  accessSync,
  closeSync,
  mkdirSync,
  constants,
  openSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  type Stats,
} from 'node:fs';
import path from 'node:path';
import { CliError } from '../errors/cli-error.js';
import { isSystemError, systemErrorReason } from '../errors/fs-error-text.js';

/** `stat` that answers undefined for a path that does not exist, and a CliError otherwise. */
function statOrUndefined(file: string, what: string): Stats | undefined {
  try {
    return statSync(file);
  } catch (e) {
    if (isSystemError(e) && e.code === 'ENOENT') return undefined;
    throw ioError(`cannot use ${what} ${file}`, e);
  }
}

function ioError(prefix: string, e: unknown): CliError {
  const reason = isSystemError(e) ? systemErrorReason(e) : (e as Error).message;
  return new CliError('ERR_IO', `${prefix}: ${reason}`, { cause: e });
}

/**
 * Reads a file the command takes as input (`what` names it in messages: "certificate file").
 * Refuses a missing file, a directory and anything longer than `maxBytes` (a device or a huge
 * file given by mistake must not make the command read forever).
 */
export function readInputFile(file: string, what: string, maxBytes: number): Buffer {
  const st = statOrUndefined(file, what);
  if (st === undefined)
    throw new CliError('ERR_IO', `cannot read ${what} ${file}: it does not exist`);
  if (st.isDirectory()) {
    throw new CliError('ERR_INPUT', `${what} ${file} is a directory; give the file inside it`);
  }
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    throw ioError(`cannot read ${what} ${file}`, e);
  }
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.alloc(64 * 1024);
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      total += n;
      if (total > maxBytes) {
        throw new CliError('ERR_INPUT', `${what} ${file} is larger than ${maxBytes} bytes`);
      }
      chunks.push(chunk.subarray(0, n));
    }
    return Buffer.concat(chunks);
  } catch (e) {
    if (CliError.is(e)) throw e;
    throw ioError(`cannot read ${what} ${file}`, e);
  } finally {
    closeSync(fd);
  }
}

/**
 * Checks, before any work is done, that `file` can be written: an existing regular file we may
 * write, or a new name in an existing directory we may write. With `mustBeNew`, an existing file
 * is refused (a secret key is never overwritten).
 */
export function checkWritableFile(file: string, what: string, mustBeNew = false): void {
  const st = statOrUndefined(file, what);
  if (st !== undefined) {
    if (st.isDirectory()) {
      throw new CliError('ERR_IO', `${what} ${file} is a directory; give a file name`);
    }
    if (mustBeNew) throw new CliError('ERR_REFUSED', `${what} ${file} already exists`);
    try {
      accessSync(file, constants.W_OK);
    } catch (e) {
      throw ioError(`cannot write ${what} ${file}`, e);
    }
    return;
  }
  const dir = path.dirname(path.resolve(file));
  const parent = statOrUndefined(dir, `the directory of ${what}`);
  if (parent === undefined) {
    throw new CliError('ERR_IO', `cannot write ${what} ${file}: directory ${dir} does not exist`);
  }
  if (!parent.isDirectory()) {
    throw new CliError('ERR_IO', `cannot write ${what} ${file}: ${dir} is not a directory`);
  }
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (e) {
    throw ioError(`cannot write ${what} ${file} in ${dir}`, e);
  }
}

/** A file written under a temporary name beside its real one, not yet in place. */
export interface StagedFile {
  /** Renames it over the real name (atomic in one directory). */
  commit(): void;
  /** Removes the temporary file (no-op once committed). */
  discard(): void;
}

/**
 * Writes `data` whole beside `file` under a temporary name: `commit()` puts it in place, so a
 * failure before then (disk full, a later step of the command) never leaves a truncated or
 * premature file under the real name, nor replaces the one that was there.
 */
export function stageFile(file: string, data: string | Uint8Array, what: string): StagedFile {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}`);
  let committed = false;
  try {
    writeFileSync(tmp, data, { flag: 'wx' });
  } catch (e) {
    rmSync(tmp, { force: true });
    throw ioError(`cannot write ${what} ${file}`, e);
  }
  return {
    commit: () => {
      try {
        renameSync(tmp, file);
        committed = true;
      } catch (e) {
        throw ioError(`cannot write ${what} ${file}`, e);
      }
    },
    discard: () => {
      if (!committed) rmSync(tmp, { force: true });
    },
  };
}

/**
 * `mkdir -p`, one level at a time (mode 0700 for the levels it creates). Node's recursive
 * mkdir never returns for a path whose parent exists but refuses children (it retries ENOENT
 * under /proc forever), so the levels are made here, and each failure names its level.
 */
export function makeDirectories(dir: string, what: string): void {
  const missing: string[] = [];
  let level = path.resolve(dir);
  for (;;) {
    const st = statOrUndefined(level, what);
    if (st !== undefined) {
      if (!st.isDirectory()) {
        throw new CliError('ERR_IO', `cannot create ${what} ${dir}: ${level} is not a directory`);
      }
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
      if (isSystemError(e) && e.code === 'EEXIST' && statSync(m).isDirectory()) continue;
      throw ioError(`cannot create ${what} ${dir} (at ${m})`, e);
    }
  }
}
