import type { IpOptionFields } from './ip-option-layout.js';

/**
 * IPv4 (0x14) or IPv6 (0x16) Multicast option: the group a SubscribeEventgroupAck tells the
 * subscriber to join. UDP only. PRS SOME/IP-SD §"IPv4/IPv6 Multicast Option".
 */
export interface MulticastOption extends IpOptionFields {
  readonly type: 'ipv4Multicast' | 'ipv6Multicast';
  readonly protocol: 'udp';
}

/** Builds a multicast option, picking the IP version from the address text. */
export function multicastOption(address: string, port: number): MulticastOption {
  return {
    type: address.includes(':') ? 'ipv6Multicast' : 'ipv4Multicast',
    address,
    protocol: 'udp',
    port,
  };
}
