// The public surface of @sivshm/discovery, listed by hand: the SOME/IP-SD codec (decode,
// encode, pack, JSON, pcap), the SD agent an app or hostd runs, and the transports it runs on.
// The state-machine parts (announce phases, timing resolution, wire constants) stay internal
// unless hostd's SD switch builds on them.

// Errors.
export { DiscoveryError } from './errors/discovery-error.js';
export type { DiscoveryErrorCode } from './errors/discovery-error.js';

// The SOME/IP-SD message codec.
export { decodeSdMessage, encodeSdMessage, encodeSdMessageUnchecked } from './wire/sd-message.js';
export type { SdMessage } from './wire/sd-message.js';
export type { SdFlags } from './wire/sd-flags.js';
export type { SdEntry } from './wire/entry.js';
export type { ServiceEntry, ServiceEntryType } from './wire/service-entry.js';
export type { EventgroupEntry, EventgroupEntryType } from './wire/eventgroup-entry.js';
export type { OptionRun } from './wire/option-run.js';
export type { SdOption, KnownOptionType } from './wire/option.js';
export type { ConfigurationOption, ConfigurationItem } from './wire/configuration-option.js';
export type { LoadBalancingOption } from './wire/load-balancing-option.js';
export { endpointOption } from './wire/endpoint-option.js';
export type { EndpointOption } from './wire/endpoint-option.js';
export type { MulticastOption } from './wire/multicast-option.js';
export type { SdEndpointOption } from './wire/sd-endpoint-option.js';
export type { UnknownOption } from './wire/unknown-option.js';
export type { L4Protocol } from './wire/ip-option-layout.js';
export { checkSdMessage, checkEntry, entryOptions } from './wire/sd-checks.js';
export type { SdProblem, SdRule } from './wire/sd-checks.js';
export { packSdMessage } from './wire/sd-packer.js';
export type { PackEntry, PackInput, SdEntryFields } from './wire/sd-packer.js';
export { sdMessageToJson, sdMessageFromJson } from './json/sd-json.js';
export type { SdMessageJson, SdOptionJson } from './json/sd-json.js';
export { sdPcap } from './pcap/sd-pcap.js';
export type { PcapDatagram } from './pcap/sd-pcap.js';

// SD state that hostd's SD switch shares with the agent, and the clocks it runs on.
export { systemClock } from './sd/clock.js';
export type { SdClock, SdTimer } from './sd/clock.js';
export { VirtualClock } from './sd/virtual-clock.js';
export type { SdTiming } from './sd/sd-timing.js';
export { DEFAULT_SD_TIMING } from './sd/sd-timing.js';
export { SessionCounters } from './sd/session-counter.js';
export { RebootDetector } from './sd/reboot-detector.js';
export type { SdChannel } from './sd/reboot-detector.js';
export { SdRegistry } from './sd/sd-registry.js';
export type { SdPolicy, SubscribeRequest, SubscribeDecision } from './sd/sd-policy.js';
export type {
  RemoteService,
  ServiceAvailability,
  UnavailableReason,
  FindQuery,
  OfferSpec,
} from './sd/service-types.js';
// Load balancing: which of several providers of one instance to use (priority, then weight).
export { chooseProvider, loadBalancingOf, outranks } from './sd/provider-choice.js';

// The SD agent: our offers and their subscribers, finds and our subscriptions.
export { SdAgent } from './sd/sd-agent.js';
export type { SdAgentOptions } from './sd/sd-agent-options.js';
export type { SubscribeSpec, SubscriptionEvent } from './sd/sd-consumer.js';
export type { SubscriberEvent, OfferHandle, OfferRegistration } from './sd/sd-provider.js';
export { splitSdBatch } from './wire/sd-batches.js';
export type { SdBatchLimits } from './wire/sd-batches.js';

// Transports the agent runs on.
export type { SdTransport, SdDatagram, SdAddress } from './transport/sd-transport.js';
export { MemorySdNetwork } from './transport/memory-network.js';
export type { CapturedSdMessage } from './transport/memory-network.js';
export { MessageLinkSdTransport } from './transport/message-link-transport.js';
export type { MessageLink } from './transport/message-link-transport.js';
export {
  UdpSdTransport,
  DEFAULT_SD_MULTICAST_GROUP,
  SD_PORT,
  interfaceOf,
} from './transport/udp-transport.js';
export type { UdpSdTransportOptions } from './transport/udp-transport.js';
