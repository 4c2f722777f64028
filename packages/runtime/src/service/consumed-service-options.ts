// The options and status type of a consumed service (`Node.consume`, `ConsumedService`).
import type { ChannelMode } from '@sivshm/abi';

/**
 * Where a consumed service is: `connecting` (waiting for an offer or in the handshake),
 * `connected` (a channel is ACTIVE), `idle` (the service's `idleTimeoutMs` passed unused: the
 * channel was closed and its window reclaimed; the next call or event stream opens a new one),
 * `peer-gone` (the channel ended; reconnects when the provider offers again), `closed`.
 */
export type ConsumedServiceStatus = 'connecting' | 'connected' | 'idle' | 'peer-gone' | 'closed';

/** Options of `Node.consume`. */
export interface ConsumeOptions {
  /** Instance id, as listed in services.yaml. */
  readonly instance: number;
  /** Channel protection to ask for; default the service's `minMode`. */
  readonly mode?: ChannelMode;
  /** How long `consume` waits for the first channel; default 10 000 ms. */
  readonly timeoutMs?: number;
  /**
   * Check each request against its message type before it is sent (default true): an unknown
   * field, a wrong type or an out-of-range number rejects the call with `ERR_BAD_PAYLOAD`
   * naming the field, and nothing is written to the ring. false sends what protobufjs's
   * encoder makes of it (it coerces silently: `'loud'` in a uint32 arrives as 0).
   */
  readonly checkPayloads?: boolean;
}

/** Options of `ConsumedService.event` and `ConsumedService.samples`. */
export interface StreamOptions {
  /**
   * true (default): the stream keeps its subscriber across channel ends and reconnects — a
   * provider restart, a hostd restart, a channel closed for idleness — and goes on with the
   * next channel; the gap shows on `status$` (it leaves `connected` and comes back), and what
   * was published meanwhile is not delivered. It completes on `close()`. false: the stream
   * belongs to the channel current at subscription and errors with `ERR_PEER_GONE` when that
   * one ends (take a new one when `status$` says `connected` again).
   */
  readonly acrossChannels?: boolean;
}

/** Options of `ConsumedService.call`. */
export interface CallOptions {
  /** Bound on waiting for a channel plus the answer; default 1000 ms. */
  readonly timeoutMs?: number;
}
