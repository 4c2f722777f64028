import type { GatewayCounters } from './gateway-counters.js';
import type { PeerBudgets } from './peer-budget.js';

/**
 * Whether one message from `address` may be handled for an export: the export's `peers` list
 * first (when it has one), then the peer's message budget. A refusal is counted
 * (`notAllowed`, `overBudget`); a peer that is not listed takes no budget token.
 */
export function admitPeer(
  peers: readonly string[] | undefined,
  budgets: PeerBudgets,
  counters: GatewayCounters,
  address: string,
): boolean {
  if (peers !== undefined && !peers.includes(address)) {
    counters.notAllowed += 1;
    return false;
  }
  if (!budgets.admit(address)) {
    counters.overBudget += 1;
    return false;
  }
  return true;
}
