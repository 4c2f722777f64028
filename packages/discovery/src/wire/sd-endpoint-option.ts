import type { IpOptionFields } from './ip-option-layout.js';

/**
 * IPv4 (0x24) or IPv6 (0x26) SD Endpoint option: the sender's own SD endpoint. At most one per
 * message, always option #0, never referenced by an entry; a receiver uses it instead of the
 * IP source address for replies and for reboot detection (SD-1080..SD-1096). UDP only.
 */
export interface SdEndpointOption extends IpOptionFields {
  readonly type: 'ipv4SdEndpoint' | 'ipv6SdEndpoint';
  readonly protocol: 'udp';
}

/** Builds an SD endpoint option, picking the IP version from the address text. */
export function sdEndpointOption(address: string, port = 30490): SdEndpointOption {
  return {
    type: address.includes(':') ? 'ipv6SdEndpoint' : 'ipv4SdEndpoint',
    address,
    protocol: 'udp',
    port,
  };
}
