// A private network namespace for network tests: `lo` up with multicast routed to it and a
// second loopback address, so two SOME/IP endpoints (127.0.0.1, 127.0.0.2) and SD multicast
// run without touching the host's interfaces.
import { spawnSync } from 'node:child_process';

/** Shell commands that prepare a fresh namespace's `lo` (run inside `unshare -n`). */
export const LOOPBACK_NAMESPACE_SETUP =
  'ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo && ip addr add 127.0.0.2/8 dev lo';

/**
 * IPv6 in a private network namespace: multicast on `lo` does not carry IPv6 (a looped-back
 * group datagram is never delivered), so two IPv6 addresses, fd00::1 and fd00::2, sit on one end
 * of a veth pair, where IPv6 multicast (with loopback) is delivered to the group's members.
 */
export const IPV6_NAMESPACE_SETUP =
  'ip link set lo up && ip link add v0 type veth peer name v1 && ip link set v0 up && ip link set v1 up && ip -6 addr add fd00::1/64 dev v0 nodad && ip -6 addr add fd00::2/64 dev v0 nodad';

/** Why a private network namespace with multicast on lo cannot be made here, or undefined. */
export function netNamespaceMissing(setup: string = LOOPBACK_NAMESPACE_SETUP): string | undefined {
  const r = spawnSync('unshare', ['-n', 'sh', '-c', setup], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  if (r.error !== undefined) return `unshare is not available (${r.error.message})`;
  if (r.status !== 0)
    return `a private network namespace cannot be set up here: ${r.stderr.trim()}`;
  return undefined;
}
