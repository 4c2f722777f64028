import { DEFAULT_PEER_BUDGET, type PeerBudgetLimits } from './edge/peer-budget.js';
import { GatewayError } from './errors/gateway-error.js';

/** The bounds `Gateway.start` takes from its options; every one has a default. */
export interface GatewayLimitOptions {
  readonly peerBudget?: Partial<PeerBudgetLimits>;
  readonly callTimeoutMs?: number;
  readonly maxPayload?: number;
}

/** The bounds the gateway runs with, checked. */
export interface GatewayLimits {
  readonly peerBudget: PeerBudgetLimits;
  readonly callTimeoutMs: number;
  readonly maxPayload: number;
}

// setTimeout's largest delay; a longer one fires at once.
const MAX_TIMEOUT_MS = 2 ** 31 - 1;
// SOME/IP's Length is a u32 that counts 8 header bytes before the payload.
const MAX_SOMEIP_PAYLOAD = 0xffff_ffff - 8;

/**
 * `Gateway.start`'s bounds with their defaults, each checked: a NaN, negative or fractional
 * bound would turn a protection off without a word (a bucket that never refills, a call that
 * times out at once), so it is refused with `ERR_BAD_ARGUMENT` naming the option.
 */
export function checkedGatewayLimits(o: GatewayLimitOptions): GatewayLimits {
  const peerBudget = { ...DEFAULT_PEER_BUDGET, ...o.peerBudget };
  const rate = peerBudget.messagesPerSecond;
  if (!(Number.isFinite(rate) && rate > 0))
    fail(`peerBudget.messagesPerSecond must be a number above 0, got ${String(rate)}`);
  wholeNumber('peerBudget.burst', peerBudget.burst, 1, Number.MAX_SAFE_INTEGER);
  wholeNumber('peerBudget.callsInFlight', peerBudget.callsInFlight, 1, Number.MAX_SAFE_INTEGER);
  wholeNumber('peerBudget.maxPeers', peerBudget.maxPeers, 1, Number.MAX_SAFE_INTEGER);
  const callTimeoutMs = o.callTimeoutMs ?? 1000;
  wholeNumber('callTimeoutMs', callTimeoutMs, 1, MAX_TIMEOUT_MS);
  const maxPayload = o.maxPayload ?? 64 * 1024;
  wholeNumber('maxPayload', maxPayload, 0, MAX_SOMEIP_PAYLOAD);
  return { peerBudget, callTimeoutMs, maxPayload };
}

function wholeNumber(name: string, value: number, min: number, max: number): void {
  if (!(Number.isInteger(value) && value >= min && value <= max))
    fail(`${name} must be a whole number from ${min} to ${max}, got ${String(value)}`);
}

function fail(why: string): never {
  throw new GatewayError('ERR_BAD_ARGUMENT', `Gateway.start: ${why}`);
}
