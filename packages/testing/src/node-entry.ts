import { join } from 'node:path';
import { compiledPath } from './paths.js';

/**
 * True when the tests run from TypeScript sources (`npm run test:dev`: tsx with the `source`
 * export condition), false when they run compiled. This module is loaded the same way as the
 * tests that import it, so its own URL tells.
 */
export const FROM_SOURCE = import.meta.url.endsWith('.ts');

/** How to start a TypeScript entry of this repo as a child process, from sources or compiled. */
export interface NodeEntry {
  readonly execArgv: string[];
  readonly script: string;
}

/** The entry `srcRelative` (e.g. `src/bin.ts`) of the package at `pkgRoot`. */
export function nodeEntry(pkgRoot: string, srcRelative: string): NodeEntry {
  if (FROM_SOURCE) {
    return {
      execArgv: ['--conditions=source', '--import', 'tsx'],
      script: join(pkgRoot, srcRelative),
    };
  }
  return { execArgv: [], script: compiledPath(pkgRoot, srcRelative) };
}
