/**
 * Reads a services.yaml from disk and validates it.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { CoreError } from '../errors/core-error.js';
import { configError } from './config-issue.js';
import { formatSize } from './config-numbers.js';
import type { ServiceConfig } from './config-types.js';
import { MAX_CONFIG_SIZE, parseConfig } from './parse-config.js';

/**
 * Loads services.yaml at `file`: reads it, resolves every relative path (protos, key files,
 * region path) against its directory, loads the listed .proto files and validates everything.
 *
 * Use it in composition roots (hostd, the CLI, the demo). Throws `CoreError('ERR_IO')` when the
 * file cannot be read and `CoreError('ERR_CONFIG')` with `issues` when it is invalid.
 *
 * @example
 * ```ts
 * const config = await loadConfig('examples/services.yaml');
 * mayConsume(config, 2, 0x1234, 1); // true
 * ```
 */
export async function loadConfig(file: string): Promise<ServiceConfig> {
  if (typeof file !== 'string' || file === '') {
    throw new CoreError('ERR_CONFIG', 'loadConfig needs the path of a services.yaml file');
  }
  let text: string;
  try {
    const info = await stat(file);
    if (!info.isFile()) throw new Error('not a regular file');
    if (info.size > MAX_CONFIG_SIZE) {
      throw configError([
        {
          file,
          line: 1,
          column: 1,
          path: '(root)',
          message: `file is ${formatSize(info.size)}, more than ${formatSize(MAX_CONFIG_SIZE)}`,
        },
      ]);
    }
    text = await readFile(file, 'utf8');
  } catch (e) {
    if (CoreError.is(e)) throw e;
    throw new CoreError('ERR_IO', `cannot read config ${file}: ${(e as Error).message}`, {
      cause: e,
    });
  }
  return parseConfig(text, { file, baseDir: path.dirname(path.resolve(file)) });
}
