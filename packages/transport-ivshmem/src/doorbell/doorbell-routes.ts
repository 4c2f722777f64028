import { DoorbellRoute } from '@sivshm/abi';
import type { GrantDoorbellRoute } from '@sivshm/core';

/**
 * The (peer, vector) pairs that `routes` let their holder ring: every bit of each route's
 * `ring` mask at its `peer` (docs/protocol.md §7). sivshm.ko allows exactly these.
 */
export function ringTargets(
  routes: Iterable<GrantDoorbellRoute>,
): Array<{ peer: number; vector: number }> {
  const out: Array<{ peer: number; vector: number }> = [];
  for (const r of routes) {
    if (r.peer === undefined) continue;
    for (let v = 0; v < DoorbellRoute.maxVectors; v++) {
      if ((r.ring >>> v) & 1 && !out.some((t) => t.peer === r.peer && t.vector === v)) {
        out.push({ peer: r.peer, vector: v });
      }
    }
  }
  return out;
}

/** May a holder of `routes` ring `vector` of `peer`? sivshm.ko's DOORBELL rule. */
export function mayRing(
  routes: Iterable<GrantDoorbellRoute>,
  peer: number,
  vector: number,
): boolean {
  if (!Number.isInteger(vector) || vector < 0 || vector >= DoorbellRoute.maxVectors) return false;
  for (const r of routes) if (r.peer === peer && (r.ring >>> vector) & 1) return true;
  return false;
}

/** Does a holder of `routes` observe its own `vector`? sivshm.ko's read()/poll() rule. */
export function observes(routes: Iterable<GrantDoorbellRoute>, vector: number): boolean {
  if (!Number.isInteger(vector) || vector < 0 || vector >= DoorbellRoute.maxVectors) return false;
  for (const r of routes) if ((r.observe >>> vector) & 1) return true;
  return false;
}
