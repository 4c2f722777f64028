import type { GrantDoorbellRoute } from '../grant/grant-token.js';
import { NO_DOORBELL_ROUTE } from '../grant/grant-token.js';
import type { BrokerChannel } from './broker-types.js';

/**
 * The doorbell vector of a new channel between `consumerVm` and `providerVm` (docs/protocol.md
 * §7): the one of `vectors` that the fewest live channels of either VM use, lowest first on a
 * tie; undefined when the VMs' doorbell devices have no vectors. Both ends ring and observe that
 * one vector, so a channel's doorbells reach its own waiters and, when channels outnumber
 * vectors, only those of the few channels that share it (the device still lets each file ring
 * and observe the vectors of its own live grants only).
 */
export function pickDoorbellVector(
  vectors: number,
  consumerVm: number,
  providerVm: number,
  live: Iterable<BrokerChannel>,
): number | undefined {
  if (vectors < 1) return undefined;
  const load = new Array<number>(vectors).fill(0);
  for (const c of live) {
    const v = c.doorbellVector;
    if (v === undefined || v >= vectors) continue;
    const vms = [c.consumerVm, c.providerVm];
    if (vms.includes(consumerVm) || vms.includes(providerVm)) load[v] = (load[v] ?? 0) + 1;
  }
  let best = 0;
  for (let v = 1; v < vectors; v++) if ((load[v] ?? 0) < (load[best] ?? 0)) best = v;
  return best;
}

/**
 * The route a grant of `ch` names for one end: ring the channel's vector at the peer's doorbell
 * `peer` (its IVPosition, when hostd knows it) and observe the same vector at home. A channel
 * without a vector has no route; one whose peer has no doorbell yet observes but rings nobody.
 */
export function doorbellRouteOf(ch: BrokerChannel, peer: number | undefined): GrantDoorbellRoute {
  const v = ch.doorbellVector;
  if (v === undefined) return NO_DOORBELL_ROUTE;
  const bit = 2 ** v;
  return peer === undefined ? { peer, ring: 0, observe: bit } : { peer, ring: bit, observe: bit };
}
