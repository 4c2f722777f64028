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
  const load = new DoorbellVectorLoad();
  for (const c of live) load.add(c);
  return load.pick(vectors, consumerVm, providerVm);
}

/**
 * How many live channels use each doorbell vector, per VM and per pair of VMs, kept as channels
 * come and go so that picking a vector costs O(vectors) instead of a scan of every channel (the
 * broker picks one per handshake). The channels of either VM on a vector are those of the one
 * plus those of the other, minus those between the two, which both counts hold.
 */
export class DoorbellVectorLoad {
  readonly #byVm = new Map<number, Map<number, number>>();
  readonly #byPair = new Map<string, Map<number, number>>();

  /** `c` is live (counts towards its vector's load). */
  add(c: BrokerChannel): void {
    this.#bump(c, 1);
  }

  /** `c`, added before, is no longer live. */
  remove(c: BrokerChannel): void {
    this.#bump(c, -1);
  }

  /** {@link pickDoorbellVector} over the channels added and not removed. */
  pick(vectors: number, consumerVm: number, providerVm: number): number | undefined {
    if (vectors < 1) return undefined;
    const a = this.#byVm.get(consumerVm);
    const b = consumerVm === providerVm ? undefined : this.#byVm.get(providerVm);
    const both =
      consumerVm === providerVm ? undefined : this.#byPair.get(pairKey(consumerVm, providerVm));
    let best = 0;
    let bestLoad = Infinity;
    for (let v = 0; v < vectors; v++) {
      const load = (a?.get(v) ?? 0) + (b?.get(v) ?? 0) - (both?.get(v) ?? 0);
      if (load < bestLoad) {
        best = v;
        bestLoad = load;
      }
    }
    return best;
  }

  #bump(c: BrokerChannel, by: number): void {
    const v = c.doorbellVector;
    if (v === undefined) return;
    countIn(this.#byVm, c.consumerVm, v, by);
    if (c.providerVm === c.consumerVm) return;
    countIn(this.#byVm, c.providerVm, v, by);
    countIn(this.#byPair, pairKey(c.consumerVm, c.providerVm), v, by);
  }
}

function pairKey(a: number, b: number): string {
  return a < b ? `${a}|${b}` : `${b}|${a}`;
}

function countIn<K>(m: Map<K, Map<number, number>>, key: K, vector: number, by: number): void {
  let counts = m.get(key);
  if (counts === undefined) m.set(key, (counts = new Map()));
  const n = (counts.get(vector) ?? 0) + by;
  if (n === 0) counts.delete(vector);
  else counts.set(vector, n);
  if (counts.size === 0) m.delete(key);
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
