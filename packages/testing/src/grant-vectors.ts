import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { workspaceDir } from './paths.js';

/** What a grant vector is checked against: the device's view at the time of the check. */
export interface GrantVectorContext {
  vmId: number;
  epoch: string;
  kn: string;
  nowNs: string;
  regionSize: number;
  dataOffset: number;
  dataSize: number;
  seenSerials: string[];
}

/**
 * One grant-token vector: a key, a token and its tag, the context, and the verdict every
 * implementation (core's verifier, sivshm.ko's grant check) must reach.
 */
export interface GrantVector {
  name: string;
  key: string;
  token: string;
  tag: string;
  context: GrantVectorContext;
  expect: 'accept' | 'reject';
  reason?: string;
}

/** The vector file @sivshm/core generates (`test/fixtures/grant-vectors.json`). */
export interface GrantVectorFile {
  label: string;
  vectors: GrantVector[];
}

/** Where the grant vectors live: core generates them, the kernel module's tests read them. */
export function grantVectorsPath(): string {
  return join(workspaceDir('@sivshm/core'), 'test', 'fixtures', 'grant-vectors.json');
}

/** Reads the grant vectors core generated. */
export function readGrantVectors(): GrantVectorFile {
  return JSON.parse(readFileSync(grantVectorsPath(), 'utf8')) as GrantVectorFile;
}
