import { DiscoveryError } from '../errors/discovery-error.js';
import { parseIPv4 } from '../wire/ip-address.js';

/** One UDP datagram to put in a capture. */
export interface PcapDatagram {
  readonly payload: Uint8Array;
  /** IPv4 source, e.g. "127.0.0.1". */
  readonly src: string;
  readonly dst: string;
  readonly srcPort?: number;
  readonly dstPort?: number;
  /** Capture time, ms since the epoch; defaults to 1 ms apart from the first. */
  readonly timeMs?: number;
}

/**
 * Writes UDP/IPv4 datagrams as a classic pcap file (Ethernet link type), with correct IPv4
 * header checksums and UDP checksums, so that Wireshark / tshark can dissect SD traffic that
 * the runtime sent or a test built. Ports default to 30490, the SD port.
 *
 * @example
 * ```ts
 * import { writeFileSync } from 'node:fs';
 * declare const bytes: Uint8Array; // one SOME/IP-SD message
 * writeFileSync('sd.pcap', sdPcap([{ payload: bytes, src: '10.0.0.1', dst: '224.244.224.245' }]));
 * ```
 */
export function sdPcap(datagrams: readonly PcapDatagram[]): Uint8Array {
  const parts: Uint8Array[] = [globalHeader()];
  datagrams.forEach((d, i) => parts.push(record(d, i)));
  return Buffer.concat(parts);
}

function globalHeader(): Uint8Array {
  const h = new DataView(new ArrayBuffer(24));
  h.setUint32(0, 0xa1b2c3d4, true);
  h.setUint16(4, 2, true);
  h.setUint16(6, 4, true);
  h.setUint32(16, 65535, true);
  h.setUint32(20, 1, true); // LINKTYPE_ETHERNET
  return new Uint8Array(h.buffer);
}

function record(d: PcapDatagram, i: number): Uint8Array {
  if (d.payload.length > 65535 - 28) {
    throw new DiscoveryError(
      'ERR_SD_INPUT',
      `datagram ${i} is ${d.payload.length} bytes; at most 65507 fit in UDP/IPv4`,
    );
  }
  const src = parseIPv4(d.src);
  const dst = parseIPv4(d.dst);
  const srcPort = d.srcPort ?? 30490;
  const dstPort = d.dstPort ?? 30490;
  const udpLen = 8 + d.payload.length;
  const ipLen = 20 + udpLen;
  const frame = new Uint8Array(14 + ipLen);
  const v = new DataView(frame.buffer);
  const multicast = ((dst[0] ?? 0) & 0xf0) === 0xe0;
  // Ethernet: multicast MAC 01:00:5e + low 23 bits of the group (RFC 1112 §6.4).
  const dstMac = multicast
    ? [0x01, 0x00, 0x5e, (dst[1] ?? 0) & 0x7f, dst[2] ?? 0, dst[3] ?? 0]
    : [0x02, 0, ...dst];
  frame.set(dstMac, 0);
  frame.set([0x02, 0x01, ...src], 6);
  v.setUint16(12, 0x0800);
  // IPv4 header.
  const ip = 14;
  v.setUint8(ip, 0x45);
  v.setUint16(ip + 2, ipLen);
  v.setUint16(ip + 4, i & 0xffff);
  v.setUint16(ip + 6, 0x4000); // DF
  v.setUint8(ip + 8, multicast ? 1 : 64);
  v.setUint8(ip + 9, 17);
  frame.set(src, ip + 12);
  frame.set(dst, ip + 16);
  v.setUint16(ip + 10, onesComplement(frame.subarray(ip, ip + 20), 0));
  // UDP header + payload; checksum over the IPv4 pseudo-header (RFC 768).
  const udp = ip + 20;
  v.setUint16(udp, srcPort);
  v.setUint16(udp + 2, dstPort);
  v.setUint16(udp + 4, udpLen);
  frame.set(d.payload, udp + 8);
  const pseudo = new Uint8Array(12);
  pseudo.set(src, 0);
  pseudo.set(dst, 4);
  pseudo[9] = 17;
  new DataView(pseudo.buffer).setUint16(10, udpLen);
  const sum = onesComplement(frame.subarray(udp, udp + udpLen), sum16(pseudo));
  v.setUint16(udp + 6, sum === 0 ? 0xffff : sum);
  const rec = new DataView(new ArrayBuffer(16));
  const t = d.timeMs ?? 1_700_000_000_000 + i;
  rec.setUint32(0, Math.floor(t / 1000), true);
  rec.setUint32(4, Math.round((t % 1000) * 1000), true);
  rec.setUint32(8, frame.length, true);
  rec.setUint32(12, frame.length, true);
  return Buffer.concat([new Uint8Array(rec.buffer), frame]);
}

function sum16(b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < b.length; i += 2) s += ((b[i] ?? 0) << 8) | (b[i + 1] ?? 0);
  return s;
}

function onesComplement(b: Uint8Array, initial: number): number {
  let s = initial + sum16(b);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}
