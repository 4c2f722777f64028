import { ChannelModeCode, type ChannelIdentity } from '@sivshm/abi';
import type { BrokerChannel } from '@sivshm/core';

/**
 * The identity fields of a broker channel, in the form the channel table and the channel device
 * header store them: one source, so the two never disagree about a channel.
 */
export function channelIdentity(ch: BrokerChannel): ChannelIdentity {
  return {
    consumerVm: ch.consumerVm,
    providerVm: ch.providerVm,
    service: ch.service,
    instance: ch.instance,
    major: ch.major,
    mode: ChannelModeCode[ch.mode],
  };
}
