// The scale bench's side of hostd-memory-probe.ts: the flags that load the probe into hostd, and
// a read of hostd's memory after a forced collection.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { waitFor } from '@sivshm/testing';
import { hostdMemoryFile, type HostdMemory } from './hostd-memory-file.js';

export type { HostdMemory } from './hostd-memory-file.js';

/** Node flags that load the probe into a hostd process. */
export function hostdMemoryProbeArgv(): string[] {
  const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js'; // from sources (tsx) or compiled
  const probe = fileURLToPath(new URL(`./hostd-memory-probe.${ext}`, import.meta.url));
  return ['--expose-gc', '--import', probe];
}

/** Asks hostd (`pid`, started with {@link hostdMemoryProbeArgv}) to collect and report. */
export async function hostdMemory(pid: number): Promise<HostdMemory> {
  const file = hostdMemoryFile(pid);
  rmSync(file, { force: true });
  process.kill(pid, 'SIGUSR2');
  await waitFor(() => existsSync(file), "hostd's memory figures after a collection", 30_000);
  const text = readFileSync(file, 'utf8');
  rmSync(file, { force: true });
  return JSON.parse(text) as HostdMemory;
}
