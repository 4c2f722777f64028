import type { ChannelMode } from '@sivshm/abi';
import type { ChannelGrant, ServiceConfig } from '@sivshm/core';
import type { SdAgent } from '@sivshm/discovery';
import type { Channel, DataPlane } from '@sivshm/transport-ivshmem';

/** Why a channel ended, as the runtime reports it. */
export type ChannelEndReason =
  'peer-gone' | 'revoked' | 'closed' | 'stop-offer' | 'vm-gone' | 'hostd-gone' | string;

/** Listener for the end of one channel (called once). */
export type ChannelEndListener = (reason: ChannelEndReason) => void;

/** A channel the node attached, with the grant that opened it. */
export interface AttachedChannel {
  readonly channel: Channel;
  readonly grant: ChannelGrant;
  /** Consumer side: M1 sent → M4 verified; provider side: undefined. */
  readonly handshakeMs?: number;
  /** Calls `listener` once when the channel ends (peer gone, revoke, local close, hostd gone). */
  onEnd(listener: ChannelEndListener): void;
  /** Closes the channel here and asks hostd to tear it down (nothing when it already ended). */
  close(): Promise<void>;
}

/**
 * What the node lends its consumed and offered services: the parts of the current hostd
 * session. `sd` and `transport` change when the node reconnects to a restarted hostd; services
 * take them afresh in `resume()`. @internal
 */
export interface NodeContext {
  readonly config: ServiceConfig;
  readonly vmId: number;
  /** The current session's SD agent; throws `ERR_HOSTD_GONE` while hostd is away. */
  readonly sd: SdAgent;
  /** The current session's data plane; throws `ERR_HOSTD_GONE` while hostd is away. */
  readonly transport: DataPlane;
  /** Runs a consumer handshake and attaches the channel (`ERR_HOSTD_GONE` while hostd is away). */
  openChannel(
    service: number,
    instance: number,
    major: number,
    mode: ChannelMode,
    timeoutMs: number,
  ): Promise<AttachedChannel>;
}
