import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The folder holding the package.json of the package that contains `moduleUrl`.
 * Modules run from `src/` (tsx) and from `dist/src/` (compiled) at different depths, so data
 * files shipped with a package (the .proto schema) are found by walking up, not by `../..`.
 */
export function packageRoot(moduleUrl: string): string {
  let dir = dirname(fileURLToPath(moduleUrl));
  for (let i = 0; i < 10; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  throw new Error(`no package.json above ${moduleUrl}`);
}
