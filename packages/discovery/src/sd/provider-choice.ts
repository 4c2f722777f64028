import type { RemoteService } from './service-types.js';

/** Priority of an Offer without a load balancing option: after every Offer that has one. */
const NO_PRIORITY = 0x1_0000;

/** An Offer's load balancing option (PRS_SOMEIPSD: priority, lower preferred; weight). */
export function loadBalancingOf(s: RemoteService): { priority: number; weight: number } {
  for (const o of s.extraOptions)
    if (o.type === 'loadBalancing') return { priority: o.priority, weight: o.weight };
  return { priority: NO_PRIORITY, weight: 0 };
}

/**
 * Which of several providers offering the same service instance a client uses, as the SOME/IP-SD
 * load balancing option asks: only those of the best (lowest) priority are considered, and among
 * them one is drawn with probability proportional to its weight (all of weight 0: each alike).
 * An Offer without the option ranks after every Offer with one. `random` (in [0, 1)) is
 * injectable so the draw can be tested. Undefined when there is no candidate.
 *
 * @example
 * ```ts
 * declare const offers: readonly RemoteService[];
 * const provider = chooseProvider(offers); // then subscribe with { provider: provider.peer }
 * ```
 */
export function chooseProvider(
  candidates: readonly RemoteService[],
  random: () => number = Math.random,
): RemoteService | undefined {
  if (candidates.length === 0) return undefined;
  const ranked = candidates.map((s) => ({ s, ...loadBalancingOf(s) }));
  const best = Math.min(...ranked.map((r) => r.priority));
  const top = ranked.filter((r) => r.priority === best);
  const total = top.reduce((n, r) => n + r.weight, 0);
  if (total === 0) return top[Math.min(top.length - 1, Math.floor(random() * top.length))]!.s;
  let x = random() * total;
  for (const r of top) {
    if (x < r.weight) return r.s;
    x -= r.weight;
  }
  return top.at(-1)!.s; // only reached by rounding at the top end
}

/**
 * True when `candidate` should take over from `current`: its priority is strictly better. Equal
 * priorities never switch a running binding (the weight decides only when choosing anew).
 */
export function outranks(candidate: RemoteService, current: RemoteService): boolean {
  return loadBalancingOf(candidate).priority < loadBalancingOf(current).priority;
}
