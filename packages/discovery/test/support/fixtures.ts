// Locates the package root from the running file (src/ under tsx, dist/ when compiled) so that
// fixtures are found the same way in both.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The folder holding @sivshm/discovery's package.json. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj) && readFileSync(pj, 'utf8').includes('"@sivshm/discovery"')) return dir;
    dir = dirname(dir);
  }
  throw new Error('package root of @sivshm/discovery not found above ' + import.meta.url);
}

/** Absolute path of a file under test/fixtures/. */
export function fixturePath(name: string): string {
  return join(packageRoot(), 'test', 'fixtures', name);
}

/** The bytes of a `.hex` golden packet. */
export function fixtureBytes(name: string): Uint8Array {
  const text = readFileSync(fixturePath(`${name}.hex`), 'utf8').replace(/\s+/g, '');
  return new Uint8Array(Buffer.from(text, 'hex'));
}

/** Hex of a byte array. */
export function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}
