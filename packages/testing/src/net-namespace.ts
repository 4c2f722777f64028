// A private network namespace for network tests: `lo` up with multicast routed to it and a
// second loopback address, so two SOME/IP endpoints (127.0.0.1, 127.0.0.2) and SD multicast
// run without touching the host's interfaces.
import { spawnSync } from 'node:child_process';

/** Shell commands that prepare a fresh namespace's `lo` (run inside `unshare -n`). */
export const LOOPBACK_NAMESPACE_SETUP =
  'ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo && ip addr add 127.0.0.2/8 dev lo';

/** Why a private network namespace with multicast on lo cannot be made here, or undefined. */
export function netNamespaceMissing(): string | undefined {
  const r = spawnSync('unshare', ['-n', 'sh', '-c', LOOPBACK_NAMESPACE_SETUP], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  if (r.error !== undefined) return `unshare is not available (${r.error.message})`;
  if (r.status !== 0)
    return `a private network namespace cannot be set up here: ${r.stderr.trim()}`;
  return undefined;
}
