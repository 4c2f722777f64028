import { existsSync } from 'node:fs';

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Thrown when a bounded wait runs out; names what was awaited. */
export class WaitTimeoutError extends Error {
  override readonly name = 'WaitTimeoutError';
  readonly code = 'ERR_WAIT_TIMEOUT';
}

/**
 * Waits until `cond()` holds, polling every `pollMs` (5 ms: quick enough for latency-shaped
 * tests, cheap enough on a loaded machine), at most `timeoutMs`.
 */
export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
  pollMs = 5,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline)
      throw new WaitTimeoutError(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(pollMs);
  }
}

/** Waits until every path exists (at most `timeoutMs`); returns the ones still missing. */
export async function waitForFiles(paths: readonly string[], timeoutMs: number): Promise<string[]> {
  const missing = (): string[] => paths.filter((p) => !existsSync(p));
  await waitFor(() => missing().length === 0, 'files', timeoutMs, 100).catch(() => undefined);
  return missing();
}
