// How a channel is written into a recording and found again: one pcapng interface per channel,
// its description carrying the channel's table entry as key=value words (what `replay` needs:
// service, instance, mode), and each record framed as Ethernet + IPv4 + UDP so tshark decodes
// the SOME/IP inside (`-d udp.port==30501,someip`; VM n appears as 127.0.1.n).
import { ChannelModeCode, type ChannelEntry, type ChannelMode } from '@sivshm/abi';
import { sdPcap } from '@sivshm/discovery';
import { LINKTYPE_ETHERNET, type PcapngInterface } from './pcapng.js';

/** UDP port the frames carry SOME/IP on (the same as `sivshm capture`). */
export const RECORD_PORT = 30501;

/** What a recording keeps of a channel's table entry. */
export interface RecordedChannel {
  readonly channelId: bigint;
  readonly service: number;
  readonly instance: number;
  readonly major: number;
  readonly mode: ChannelMode;
  readonly consumerVm: number;
  readonly providerVm: number;
}

const MODE_NAMES = Object.fromEntries(
  Object.entries(ChannelModeCode).map(([name, code]) => [code, name as ChannelMode]),
) as Record<number, ChannelMode>;

/** The entry's fields a recording keeps. */
export function recordedChannelOf(e: ChannelEntry): RecordedChannel {
  return {
    channelId: e.channelId,
    service: e.service,
    instance: e.instance,
    major: e.major,
    mode: MODE_NAMES[e.mode] ?? 'plain',
    consumerVm: e.consumerVm,
    providerVm: e.providerVm,
  };
}

const hex = (n: number | bigint): string => `0x${n.toString(16)}`;

/** The interface of a channel; `names` gives the service's and VMs' names when known. */
export function channelInterface(
  c: RecordedChannel,
  names: { service?: string; consumer?: string; provider?: string } = {},
): PcapngInterface {
  const words = [
    `channel=${hex(c.channelId)}`,
    `service=${hex(c.service)}`,
    `instance=${c.instance}`,
    `major=${c.major}`,
    `mode=${c.mode}`,
    `consumer=${c.consumerVm}`,
    `provider=${c.providerVm}`,
  ];
  const who = `${names.service ?? hex(c.service)}/${c.instance}`;
  const between = `${names.consumer ?? `vm${c.consumerVm}`} <-> ${names.provider ?? `vm${c.providerVm}`}`;
  return {
    linkType: LINKTYPE_ETHERNET,
    name: `sivshm-${hex(c.channelId)}`,
    description: `sivshm ${words.join(' ')} (${who}, ${between})`,
  };
}

/** The channel an interface of a recording describes, or undefined for any other interface. */
export function recordedChannelFrom(i: PcapngInterface): RecordedChannel | undefined {
  if (!i.description.startsWith('sivshm ')) return undefined;
  const w = new Map<string, string>();
  for (const m of i.description.matchAll(/(\w+)=(\S+)/g)) w.set(m[1]!, m[2]!);
  const num = (k: string): number | undefined => {
    const s = w.get(k);
    return s === undefined || !/^(0x[0-9a-f]+|\d+)$/i.test(s) ? undefined : Number(s);
  };
  const [service, instance, major, consumerVm, providerVm] = [
    'service',
    'instance',
    'major',
    'consumer',
    'provider',
  ].map(num);
  const mode = w.get('mode');
  const id = w.get('channel');
  if (
    service === undefined ||
    instance === undefined ||
    major === undefined ||
    consumerVm === undefined ||
    providerVm === undefined ||
    id === undefined ||
    !/^0x[0-9a-f]+$/i.test(id) ||
    mode === undefined ||
    !Object.hasOwn(ChannelModeCode, mode)
  ) {
    return undefined;
  }
  return {
    channelId: BigInt(id),
    service,
    instance,
    major,
    mode: mode as ChannelMode,
    consumerVm,
    providerVm,
  };
}

/** Length of the pcap file header and record header `sdPcap` puts before a frame. */
const PCAP_FRAME_OFFSET = 24 + 16;

/** A SOME/IP message framed as the Ethernet frame of a UDP datagram from VM `from` to VM `to`. */
export function frameOf(message: Uint8Array, from: number, to: number): Uint8Array {
  const datagram = {
    payload: message,
    src: `127.0.1.${from & 0xff}`,
    dst: `127.0.1.${to & 0xff}`,
    srcPort: RECORD_PORT,
    dstPort: RECORD_PORT,
  };
  return sdPcap([datagram]).subarray(PCAP_FRAME_OFFSET);
}

/** The SOME/IP message inside a frame `frameOf` made, or undefined for any other frame. */
export function messageOf(frame: Uint8Array): Uint8Array | undefined {
  if (frame.length < 14 + 20 + 8) return undefined;
  const v = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  if (v.getUint16(12) !== 0x0800 || frame[23] !== 17) return undefined; // IPv4, UDP
  const ip = 14;
  const udp = ip + (frame[ip]! & 0x0f) * 4;
  const udpLength = v.getUint16(udp + 4);
  if (udp + udpLength > frame.length || udpLength < 8) return undefined;
  return frame.subarray(udp + 8, udp + udpLength);
}
