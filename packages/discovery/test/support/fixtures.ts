// The golden packets under test/fixtures/, found from the running file (src/ under tsx, dist/
// when compiled) the same way in both.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '@sivshm/testing';

/** Absolute path of a file under test/fixtures/. */
export function fixturePath(name: string): string {
  return join(packageRoot(import.meta.url), 'test', 'fixtures', name);
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
