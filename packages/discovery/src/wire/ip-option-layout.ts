import { DiscoveryError } from '../errors/discovery-error.js';
import type { ByteReader } from './byte-reader.js';
import type { ByteWriter } from './byte-writer.js';
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from './ip-address.js';

/** Transport protocol of an endpoint (PRS SOME/IP-SD, endpoint options: 0x06 TCP, 0x11 UDP). */
export type L4Protocol = 'udp' | 'tcp';

/** IP version of an address-carrying option. */
export type IpFamily = 'ipv4' | 'ipv6';

/** Wire value of the L4 protocol byte. */
export const L4_PROTOCOL_CODE: Readonly<Record<L4Protocol, number>> = { tcp: 0x06, udp: 0x11 };

/** The Length field of an IPv4 (9) or IPv6 (21) address option: reserved + address + 4. */
export const IP_OPTION_LENGTH: Readonly<Record<IpFamily, number>> = { ipv4: 0x0009, ipv6: 0x0015 };

/** The fields shared by the endpoint, multicast and SD-endpoint options. */
export interface IpOptionFields {
  readonly address: string;
  readonly protocol: L4Protocol;
  readonly port: number;
}

/**
 * Reads the body shared by options 0x04/0x06/0x14/0x16/0x24/0x26 (after Length and Type):
 * reserved, address, reserved, L4 protocol, port. `body` is bounded by the option's Length,
 * which the caller already checked equals `IP_OPTION_LENGTH[family]`.
 */
export function readIpOptionBody(
  body: ByteReader,
  family: IpFamily,
  udpOnly: boolean,
  name: string,
): IpOptionFields {
  body.skip(1, `${name} reserved byte`);
  const raw = body.bytesCopy(family === 'ipv4' ? 4 : 16, `${name} address`);
  body.skip(1, `${name} reserved byte`);
  const protoAt = body.offset;
  const code = body.u8(`${name} L4 protocol`);
  const port = body.u16(`${name} port`);
  let protocol: L4Protocol;
  if (code === L4_PROTOCOL_CODE.udp) protocol = 'udp';
  else if (code === L4_PROTOCOL_CODE.tcp && !udpOnly) protocol = 'tcp';
  else
    throw DiscoveryError.at(
      'ERR_SD_OPTION',
      protoAt,
      `${name} L4 protocol 0x${hex2(code)} is not allowed (${udpOnly ? 'only 0x11 UDP' : '0x06 TCP or 0x11 UDP'})`,
    );
  return { address: family === 'ipv4' ? formatIPv4(raw) : formatIPv6(raw), protocol, port };
}

/** Writes the body read by `readIpOptionBody` (reserved bytes zero). */
export function writeIpOptionBody(w: ByteWriter, family: IpFamily, o: IpOptionFields): void {
  w.u8(0);
  w.bytes(family === 'ipv4' ? parseIPv4(o.address) : parseIPv6(o.address));
  w.u8(0);
  w.u8(L4_PROTOCOL_CODE[o.protocol]);
  w.u16(o.port);
}

/** Two-digit lower-case hex, for messages. */
export function hex2(v: number): string {
  return v.toString(16).padStart(2, '0');
}
