import { statSync } from 'node:fs';
import { mapFile, type MappedFile } from '@sivshm/transport-ivshmem';
import { CliError } from '../errors/cli-error.js';
import { isSystemError, systemErrorReason } from '../errors/fs-error-text.js';

/**
 * Maps a region file read-only (for `inspect` and `capture`), refusing with one line what is not
 * one: a missing path, a directory or device, an empty file.
 */
export function mapRegionReadOnly(file: string): MappedFile {
  let size: number;
  try {
    const st = statSync(file);
    if (!st.isFile()) {
      throw new CliError('ERR_INPUT', `cannot open region ${file}: it is not a file`);
    }
    size = st.size;
  } catch (e) {
    if (CliError.is(e)) throw e;
    const why = isSystemError(e) ? systemErrorReason(e) : (e as Error).message;
    throw new CliError('ERR_IO', `cannot open region ${file}: ${why}`, { cause: e });
  }
  if (size === 0) throw new CliError('ERR_INPUT', `cannot open region ${file}: it is empty`);
  try {
    return mapFile(file, 0, size, { writable: false });
  } catch (e) {
    if (!isSystemError(e)) throw e;
    throw new CliError('ERR_IO', `cannot map region ${file}: ${systemErrorReason(e)}`, {
      cause: e,
    });
  }
}
