import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compiledPath } from './paths.js';

/**
 * True when the tests run from TypeScript sources (`npm run test:dev`: tsx with the `source`
 * export condition), false when they run compiled. This module is loaded the same way as the
 * tests that import it, so its own URL tells.
 */
export const FROM_SOURCE = import.meta.url.endsWith('.ts');

/** Node's flags for a child that runs TypeScript sources the way `npm run test:dev` does. */
const FROM_SOURCE_ARGV = ['--conditions=source', '--import', 'tsx'];

/** How to start a TypeScript entry of this repo as a child process, from sources or compiled. */
export interface NodeEntry {
  readonly execArgv: string[];
  readonly script: string;
}

/** The entry `srcRelative` (e.g. `src/bin.ts`) of the package at `pkgRoot`. */
export function nodeEntry(pkgRoot: string, srcRelative: string): NodeEntry {
  if (FROM_SOURCE) {
    return {
      execArgv: [...FROM_SOURCE_ARGV],
      script: join(pkgRoot, srcRelative),
    };
  }
  return { execArgv: [], script: compiledPath(pkgRoot, srcRelative) };
}

/**
 * The module `name` (no extension) beside `moduleUrl`, started the way `moduleUrl` runs: a
 * sibling `.ts` through tsx under `npm run test:dev`, the compiled `.js` beside it otherwise.
 * A test support module starts its helper processes this way, wherever the build puts tests.
 */
export function siblingEntry(moduleUrl: string, name: string): NodeEntry {
  const fromSource = moduleUrl.endsWith('.ts');
  return {
    execArgv: fromSource ? [...FROM_SOURCE_ARGV] : [],
    script: fileURLToPath(new URL(`./${name}${fromSource ? '.ts' : '.js'}`, moduleUrl)),
  };
}
