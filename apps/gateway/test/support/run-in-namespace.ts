import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { siblingEntry } from '@sivshm/testing';

/**
 * Runs a gateway scenario script in a fresh network namespace prepared by `setup`, so its SD
 * multicast and ports touch nothing outside; bounded in time so a hung scenario fails the spec.
 */
export function runInNamespace(
  specUrl: string,
  entry: string,
  setup: string,
  args: readonly string[],
): SpawnSyncReturns<string> {
  const { execArgv, script } = siblingEntry(specUrl, entry);
  return spawnSync(
    'unshare',
    [
      '-n',
      'sh',
      '-c',
      `${setup} && exec "$0" "$@"`,
      process.execPath,
      ...execArgv,
      script,
      ...args,
    ],
    { encoding: 'utf8', timeout: 110_000 },
  );
}
