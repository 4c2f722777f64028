import type { ChannelGrant, ChannelMode, ServiceConfig } from '@sivshm/core';
import type { SdNode } from '@sivshm/discovery';
import type { Channel } from '@sivshm/transport-ivshmem';
import type { TransportNode } from '@sivshm/transport-ivshmem';

/** Why a channel ended, as the runtime reports it. */
export type ChannelEndReason =
  'peer-gone' | 'revoked' | 'closed' | 'stop-offer' | 'vm-gone' | 'hostd-gone' | string;

/** A channel the node attached, with the grant that opened it. */
export interface AttachedChannel {
  readonly channel: Channel;
  readonly grant: ChannelGrant;
  /** Consumer side: M1 sent → M4 verified; provider side: undefined. */
  readonly handshakeMs?: number;
}

/** Listener for the end of one channel (called once). */
export type ChannelEndListener = (reason: ChannelEndReason) => void;

/** What the node lends its consumed and offered services. @internal */
export interface NodeContext {
  readonly config: ServiceConfig;
  readonly vmId: number;
  readonly sd: SdNode;
  readonly transport: TransportNode;
  /** Runs a consumer handshake and attaches the channel. */
  openChannel(
    service: number,
    instance: number,
    major: number,
    mode: ChannelMode,
    timeoutMs: number,
  ): Promise<AttachedChannel>;
  /** Calls `listener` once when channel `id` ends (peer gone, revoke, local close). */
  onChannelEnd(id: bigint, listener: ChannelEndListener): void;
  /** Closes channel `id` here and asks hostd to tear it down. */
  closeChannel(id: bigint): Promise<void>;
}
