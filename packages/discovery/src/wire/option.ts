import { DiscoveryError } from '../errors/discovery-error.js';
import type { ByteReader } from './byte-reader.js';
import type { ByteWriter } from './byte-writer.js';
import {
  configurationStrings,
  readConfigurationBody,
  writeConfigurationBody,
  type ConfigurationOption,
} from './configuration-option.js';
import type { EndpointOption } from './endpoint-option.js';
import {
  IP_OPTION_LENGTH,
  hex2,
  readIpOptionBody,
  writeIpOptionBody,
  type IpFamily,
} from './ip-option-layout.js';
import {
  LOAD_BALANCING_LENGTH,
  readLoadBalancingBody,
  writeLoadBalancingBody,
  type LoadBalancingOption,
} from './load-balancing-option.js';
import type { MulticastOption } from './multicast-option.js';
import type { SdEndpointOption } from './sd-endpoint-option.js';
import type { UnknownOption } from './unknown-option.js';

/** Any SD option, discriminated by `type`. */
export type SdOption =
  | ConfigurationOption
  | LoadBalancingOption
  | EndpointOption
  | MulticastOption
  | SdEndpointOption
  | UnknownOption;

/** Names of the option types this implementation interprets. */
export type KnownOptionType = Exclude<SdOption['type'], 'unknown'>;

/** Wire Type byte of each interpreted option (PRS SOME/IP-SD option formats). */
export const OPTION_TYPE_CODE: Readonly<Record<KnownOptionType, number>> = {
  configuration: 0x01,
  loadBalancing: 0x02,
  ipv4Endpoint: 0x04,
  ipv6Endpoint: 0x06,
  ipv4Multicast: 0x14,
  ipv6Multicast: 0x16,
  ipv4SdEndpoint: 0x24,
  ipv6SdEndpoint: 0x26,
};

const IP_TYPES: Readonly<Record<number, [KnownOptionType, IpFamily, boolean, string]>> = {
  0x04: ['ipv4Endpoint', 'ipv4', false, 'IPv4 endpoint option'],
  0x06: ['ipv6Endpoint', 'ipv6', false, 'IPv6 endpoint option'],
  0x14: ['ipv4Multicast', 'ipv4', true, 'IPv4 multicast option'],
  0x16: ['ipv6Multicast', 'ipv6', true, 'IPv6 multicast option'],
  0x24: ['ipv4SdEndpoint', 'ipv4', true, 'IPv4 SD endpoint option'],
  0x26: ['ipv6SdEndpoint', 'ipv6', true, 'IPv6 SD endpoint option'],
};

/** True for endpoint, multicast and SD endpoint options (those with address/protocol/port). */
export function isIpOption(o: SdOption): o is EndpointOption | MulticastOption | SdEndpointOption {
  return (
    o.type === 'ipv4Endpoint' ||
    o.type === 'ipv6Endpoint' ||
    o.type === 'ipv4Multicast' ||
    o.type === 'ipv6Multicast' ||
    o.type === 'ipv4SdEndpoint' ||
    o.type === 'ipv6SdEndpoint'
  );
}

/**
 * Reads one option at the reader's position: Length (u16), Type (u8), then exactly Length
 * bytes. Unknown types are skipped by Length + 3 and kept raw; a known type whose Length is
 * not the one its format fixes is rejected (Wireshark `option_wrong_length`).
 */
export function readOption(r: ByteReader): SdOption {
  const at = r.offset;
  const length = r.u16('option Length');
  const type = r.u8('option Type');
  if (length < 1) {
    throw DiscoveryError.at(
      'ERR_SD_OPTION',
      at,
      `option type 0x${hex2(type)} has Length 0; every option has at least its reserved byte`,
    );
  }
  if (length > r.remaining) {
    throw DiscoveryError.at(
      'ERR_SD_OPTION',
      at,
      `option type 0x${hex2(type)} Length ${length} runs past the options array (${r.remaining} bytes left)`,
    );
  }
  const body = r.sub(length, 'option body');
  const ip = IP_TYPES[type];
  if (ip !== undefined) {
    const [name, family, udpOnly, label] = ip;
    expectLength(at, label, length, IP_OPTION_LENGTH[family]);
    const fields = readIpOptionBody(body, family, udpOnly, label);
    return { type: name, ...fields } as SdOption;
  }
  switch (type) {
    case 0x01:
      return readConfigurationBody(body);
    case 0x02:
      expectLength(at, 'load balancing option', length, LOAD_BALANCING_LENGTH);
      return readLoadBalancingBody(body);
    default:
      return { type: 'unknown', optionType: type, data: body.bytesCopy(length, 'option data') };
  }
}

function expectLength(at: number, label: string, got: number, want: number): void {
  if (got !== want) {
    throw DiscoveryError.at(
      'ERR_SD_OPTION',
      at,
      `${label} has Length ${got}; its format fixes Length ${want} (0x${want.toString(16).padStart(4, '0')})`,
    );
  }
}

/** Writes one option with its Length and Type. */
export function writeOption(w: ByteWriter, o: SdOption): void {
  const lengthAt = w.reserve(2);
  if (o.type === 'unknown') {
    w.u8(o.optionType);
    w.bytes(o.data);
  } else {
    w.u8(OPTION_TYPE_CODE[o.type]);
    if (o.type === 'configuration') writeConfigurationBody(w, o);
    else if (o.type === 'loadBalancing') writeLoadBalancingBody(w, o);
    else writeIpOptionBody(w, o.type.startsWith('ipv4') ? 'ipv4' : 'ipv6', o);
  }
  w.setU16(lengthAt, w.offset - lengthAt - 3);
}

/** Bytes `o` takes on the wire (Length + 3). */
export function optionSize(o: SdOption): number {
  switch (o.type) {
    case 'unknown':
      return 3 + o.data.length;
    case 'configuration':
      return 3 + 2 + configurationStrings(o).reduce((n, s) => n + 1 + s.length, 0);
    case 'loadBalancing':
      return 3 + LOAD_BALANCING_LENGTH;
    default:
      return 3 + IP_OPTION_LENGTH[o.type.startsWith('ipv4') ? 'ipv4' : 'ipv6'];
  }
}

/** A string that is equal for two options exactly when they encode to the same bytes. */
export function optionKey(o: SdOption): string {
  if (o.type === 'unknown') return `unknown:${o.optionType}:${Buffer.from(o.data).toString('hex')}`;
  if (o.type === 'configuration')
    return `configuration:${JSON.stringify(o.items.map((i) => [i.key, i.value ?? null]))}`;
  if (o.type === 'loadBalancing') return `loadBalancing:${o.priority}:${o.weight}`;
  return `${o.type}:${o.address}:${o.protocol}:${o.port}`;
}
