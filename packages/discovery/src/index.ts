// The public surface of @sivshm/discovery, listed by hand.
export { DiscoveryError } from './errors/discovery-error.js';
export type { DiscoveryErrorCode } from './errors/discovery-error.js';
export { decodeSdMessage, encodeSdMessage, encodeSdMessageUnchecked } from './wire/sd-message.js';
export type { SdMessage } from './wire/sd-message.js';
export type { SdFlags } from './wire/sd-flags.js';
export { SD_MESSAGE_ID, SD_MIN_MESSAGE_SIZE, SD_MAX_SESSION } from './wire/someip-header.js';
export { ENTRY_SIZE, isServiceEntry } from './wire/entry.js';
export type { SdEntry } from './wire/entry.js';
export type { ServiceEntry, ServiceEntryType } from './wire/service-entry.js';
export type { EventgroupEntry, EventgroupEntryType } from './wire/eventgroup-entry.js';
export { NO_OPTIONS } from './wire/option-run.js';
export type { OptionRun } from './wire/option-run.js';
export { OPTION_TYPE_CODE, isIpOption, optionKey } from './wire/option.js';
export type { SdOption, KnownOptionType } from './wire/option.js';
export type { ConfigurationOption, ConfigurationItem } from './wire/configuration-option.js';
export type { LoadBalancingOption } from './wire/load-balancing-option.js';
export { endpointOption } from './wire/endpoint-option.js';
export type { EndpointOption } from './wire/endpoint-option.js';
export { multicastOption } from './wire/multicast-option.js';
export type { MulticastOption } from './wire/multicast-option.js';
export { sdEndpointOption } from './wire/sd-endpoint-option.js';
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
export { systemClock } from './sd/clock.js';
export type { SdClock, SdTimer } from './sd/clock.js';
export { VirtualClock } from './sd/virtual-clock.js';
export { DEFAULT_SD_TIMING, resolveSdTiming } from './sd/sd-timing.js';
export type { SdTiming } from './sd/sd-timing.js';
export { AnnouncePhases } from './sd/announce-phases.js';
export type { SdPhase } from './sd/announce-phases.js';
export { SessionCounters } from './sd/session-counter.js';
export { RebootDetector } from './sd/reboot-detector.js';
export type { SdChannel } from './sd/reboot-detector.js';
export { SdRegistry } from './sd/sd-registry.js';
export type { SdPolicy, SubscribeRequest, SubscribeDecision } from './sd/sd-policy.js';
export { matchesFind } from './sd/service-types.js';
export type {
  RemoteService,
  ServiceAvailability,
  UnavailableReason,
  FindQuery,
  OfferSpec,
} from './sd/service-types.js';
export { SdAgent } from './sd/sd-agent.js';
export type { SdAgentOptions } from './sd/sd-agent-options.js';
export type { SubscribeSpec, SubscriptionEvent } from './sd/sd-consumer.js';
export type { SubscriberEvent, OfferHandle } from './sd/sd-provider.js';
export type { SdTransport, SdDatagram, SdAddress } from './transport/sd-transport.js';
export { MemorySdNetwork } from './transport/memory-network.js';
export type { CapturedSdMessage } from './transport/memory-network.js';
export { MessageLinkSdTransport } from './transport/message-link-transport.js';
export type { MessageLink } from './transport/message-link-transport.js';
export { UdpSdTransport, DEFAULT_SD_MULTICAST_GROUP, SD_PORT } from './transport/udp-transport.js';
export type { UdpSdTransportOptions } from './transport/udp-transport.js';
