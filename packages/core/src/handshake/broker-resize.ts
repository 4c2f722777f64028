import type { GrantRoleName } from '@sivshm/abi';
import type { BrokerChannels } from './broker-channels.js';
import type { GrantMinter } from './broker-grants.js';
import type { BrokerChannel, BrokerEffect, Window } from './broker-types.js';

/** A successor window for an active channel, and the grant each end presents for it. */
export interface Successor {
  readonly channel: BrokerChannel;
  readonly grants: Readonly<
    Record<GrantRoleName, { readonly token: Uint8Array; readonly tag: Uint8Array }>
  >;
}

/**
 * The successor of ACTIVE channel `channelId` in `window` (docs/protocol.md §11.2): a fresh
 * channel id, fresh grant serials, and both grants bound to the device files the ends used for
 * the channel (their M1/M3 nonces), with the same epoch, roles, mode and doorbell route.
 * Undefined when the channel is not active (closing, gone) or predates its files' record.
 */
export function successorOf(
  minter: GrantMinter,
  channels: BrokerChannels,
  channelId: bigint,
  window: Window,
): Successor | undefined {
  const held = channels.get(channelId);
  if (held === undefined || held.state !== 'ACTIVE') return undefined;
  const ch = held.channel;
  if (ch.knC === undefined || ch.knP === undefined) return undefined;
  const channel: BrokerChannel = {
    ...ch,
    channelId: minter.channelId(),
    window,
    consumerSerial: minter.serial(ch.consumerVm),
    providerSerial: minter.serial(ch.providerVm),
  };
  return {
    channel,
    grants: {
      consumer: minter.grant(channel, 'consumer', ch.knC),
      provider: minter.grant(channel, 'provider', ch.knP),
    },
  };
}

/**
 * Both ends moved: the successor becomes the channel, and the old id is torn down without a
 * peer-gone (REVOKE to both, its window freed when both receipts verify).
 */
export function adoptSuccessor(
  channels: BrokerChannels,
  oldId: bigint,
  successor: BrokerChannel,
): BrokerEffect[] {
  channels.activate(successor);
  return [{ kind: 'channel-active', channel: successor }, ...channels.close(oldId, 'resized')];
}

/**
 * The move did not complete in time (or the channel ended meanwhile): both ids are torn down as
 * any channel is, each end told why (`resize-failed`), so nothing is left half-moved.
 */
export function abandonSuccessor(
  channels: BrokerChannels,
  oldId: bigint,
  successor: BrokerChannel,
): BrokerEffect[] {
  channels.activate(successor);
  return [
    { kind: 'channel-active', channel: successor },
    ...channels.close(successor.channelId, 'resize-failed'),
    ...channels.close(oldId, 'resize-failed'),
  ];
}
