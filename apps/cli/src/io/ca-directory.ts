import { statSync } from 'node:fs';
import { CliError } from '../errors/cli-error.js';
import { isSystemError, systemErrorReason } from '../errors/fs-error-text.js';

/** Refuses, saying how to make one, a `--dir`/`--ca-dir` that is not a directory at all. */
export function checkCaDirectory(dir: string): void {
  let isDirectory: boolean;
  try {
    isDirectory = statSync(dir).isDirectory();
  } catch (e) {
    if (isSystemError(e) && e.code === 'ENOENT') {
      throw new CliError(
        'ERR_IO',
        `CA directory ${dir} does not exist (create one with \`sivshm ca init --dir ${dir}\`)`,
      );
    }
    const why = isSystemError(e) ? systemErrorReason(e) : (e as Error).message;
    throw new CliError('ERR_IO', `cannot use CA directory ${dir}: ${why}`, { cause: e });
  }
  if (!isDirectory) throw new CliError('ERR_INPUT', `CA directory ${dir} is not a directory`);
}
