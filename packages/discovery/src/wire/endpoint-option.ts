import type { IpOptionFields } from './ip-option-layout.js';
import type { SdOption } from './option.js';

/**
 * IPv4 (0x04) or IPv6 (0x06) Endpoint option: where a service is reachable (in an Offer, also
 * the source of its UDP events) or where a subscriber receives events (in a Subscribe).
 * PRS SOME/IP-SD §"IPv4/IPv6 Endpoint Option"; Length 0x0009 / 0x0015.
 */
export interface EndpointOption extends IpOptionFields {
  readonly type: 'ipv4Endpoint' | 'ipv6Endpoint';
}

/** Builds an endpoint option, picking the IP version from the address text. */
export function endpointOption(
  address: string,
  protocol: EndpointOption['protocol'],
  port: number,
): EndpointOption {
  return { type: address.includes(':') ? 'ipv6Endpoint' : 'ipv4Endpoint', address, protocol, port };
}

/** True for an IPv4 or IPv6 Endpoint option (not multicast, not SD endpoint). */
export function isEndpointOption(o: SdOption): o is EndpointOption {
  return o.type === 'ipv4Endpoint' || o.type === 'ipv6Endpoint';
}
