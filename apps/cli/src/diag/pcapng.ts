// The pcapng blocks `sivshm record` writes and `sivshm replay` reads: Section Header, Interface
// Description and Enhanced Packet blocks, little-endian, microsecond timestamps (the default
// if_tsresol). Written here because no maintained npm package writes pcapng; the format is the
// IETF draft "PCAP Next Generation Dump File Format" §4.1, §4.2, §4.3, and tshark reads what
// this writes (test/record-replay.int.spec.ts).
import { CliError } from '../errors/cli-error.js';

const SHB = 0x0a0d0d0a;
const IDB = 0x00000001;
const EPB = 0x00000006;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const OPT_END = 0;
const SHB_USERAPPL = 4;
const IF_NAME = 2;
const IF_DESCRIPTION = 3;
const IF_TSRESOL = 9;
/** LINKTYPE_ETHERNET: frames are Ethernet + IPv4 + UDP around the SOME/IP message. */
export const LINKTYPE_ETHERNET = 1;

const pad4 = (n: number): number => (n + 3) & ~3;
const utf8 = new TextEncoder();
const unutf8 = new TextDecoder();

/** A whole block: type, total length, body (padded to 4), total length again. */
function block(type: number, body: Uint8Array): Uint8Array {
  const total = 12 + pad4(body.length);
  const out = new Uint8Array(total);
  const v = new DataView(out.buffer);
  v.setUint32(0, type, true);
  v.setUint32(4, total, true);
  out.set(body, 8);
  v.setUint32(total - 4, total, true);
  return out;
}

/** Options as TLVs (each value padded to 4), ended by opt_endofopt. */
function options(list: readonly { code: number; text: string }[]): Uint8Array {
  const values = list.map((o) => ({ code: o.code, value: utf8.encode(o.text) }));
  const out = new Uint8Array(values.reduce((n, o) => n + 4 + pad4(o.value.length), 4));
  const v = new DataView(out.buffer);
  let at = 0;
  for (const o of values) {
    v.setUint16(at, o.code, true);
    v.setUint16(at + 2, o.value.length, true);
    out.set(o.value, at + 4);
    at += 4 + pad4(o.value.length);
  }
  v.setUint16(at, OPT_END, true);
  return out;
}

/** The Section Header Block that starts the file (section length unknown: streamed). */
export function sectionHeaderBlock(application: string): Uint8Array {
  const opts = options([{ code: SHB_USERAPPL, text: application }]);
  const body = new Uint8Array(16 + opts.length);
  const v = new DataView(body.buffer);
  v.setUint32(0, BYTE_ORDER_MAGIC, true);
  v.setUint16(4, 1, true);
  v.setUint16(6, 0, true);
  v.setBigInt64(8, -1n, true);
  body.set(opts, 16);
  return block(SHB, body);
}

/** One capture interface: what tshark shows as the frame's interface name and description. */
export interface PcapngInterface {
  readonly linkType: number;
  readonly name: string;
  readonly description: string;
}

export function interfaceBlock(i: PcapngInterface): Uint8Array {
  const opts = options([
    { code: IF_NAME, text: i.name },
    { code: IF_DESCRIPTION, text: i.description },
  ]);
  const body = new Uint8Array(8 + opts.length);
  const v = new DataView(body.buffer);
  v.setUint16(0, i.linkType, true);
  v.setUint32(4, 0, true); // snaplen 0: no limit
  body.set(opts, 8);
  return block(IDB, body);
}

/** One captured frame on interface `interfaceId` (its IDB's position in the section). */
export interface PcapngPacket {
  readonly interfaceId: number;
  /** Microseconds since the Unix epoch. */
  readonly timestampUs: bigint;
  readonly data: Uint8Array;
}

export function packetBlock(p: PcapngPacket): Uint8Array {
  const body = new Uint8Array(20 + pad4(p.data.length));
  const v = new DataView(body.buffer);
  v.setUint32(0, p.interfaceId, true);
  v.setUint32(4, Number(p.timestampUs >> 32n), true);
  v.setUint32(8, Number(p.timestampUs & 0xffff_ffffn), true);
  v.setUint32(12, p.data.length, true);
  v.setUint32(16, p.data.length, true);
  body.set(p.data, 20);
  return block(EPB, body);
}

/** A pcapng file read back: its interfaces and packets, in file order. */
export interface PcapngFile {
  readonly interfaces: PcapngInterface[];
  readonly packets: PcapngPacket[];
}

function readOptions(body: DataView, from: number): Map<number, Uint8Array> {
  const out = new Map<number, Uint8Array>();
  for (let at = from; at + 4 <= body.byteLength;) {
    const code = body.getUint16(at, true);
    const length = body.getUint16(at + 2, true);
    if (code === OPT_END) break;
    out.set(code, new Uint8Array(body.buffer, body.byteOffset + at + 4, length));
    at += 4 + pad4(length);
  }
  return out;
}

/** Divisor from an if_tsresol value to microseconds (power-of-ten resolutions only). */
function toMicros(resolution: Uint8Array | undefined, file: string): bigint {
  const r = resolution?.[0] ?? 6;
  if ((r & 0x80) !== 0 || r < 6) {
    throw new CliError(
      'ERR_INPUT',
      `${file}: an interface has a timestamp resolution this tool cannot read`,
    );
  }
  return 10n ** BigInt(r - 6);
}

/**
 * Reads a little-endian pcapng file (one or more sections); other block types are skipped.
 * A file that is not pcapng, or is cut inside a block, is an `ERR_INPUT` naming the offset.
 */
export function readPcapng(bytes: Uint8Array, file: string): PcapngFile {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bad = (at: number, what: string): CliError =>
    new CliError(
      'ERR_INPUT',
      `${file} is not a pcapng file sivshm can read: ${what} at byte ${at}`,
    );
  const interfaces: PcapngInterface[] = [];
  const divisors: bigint[] = [];
  const packets: PcapngPacket[] = [];
  let base = 0; // interface ids are per section
  for (let at = 0; at < bytes.length;) {
    if (at + 12 > bytes.length) throw bad(at, 'a block cut short');
    const type = v.getUint32(at, true);
    const total = v.getUint32(at + 4, true);
    if (at === 0 && type !== SHB) throw bad(0, 'no section header');
    if (total < 12 || total % 4 !== 0 || at + total > bytes.length)
      throw bad(at, 'a block cut short');
    const body = new DataView(bytes.buffer, bytes.byteOffset + at + 8, total - 12);
    if (type === SHB) {
      if (body.getUint32(0, true) !== BYTE_ORDER_MAGIC) throw bad(at, 'a big-endian section');
      base = interfaces.length;
    } else if (type === IDB) {
      const o = readOptions(body, 8);
      interfaces.push({
        linkType: body.getUint16(0, true),
        name: unutf8.decode(o.get(IF_NAME) ?? new Uint8Array()),
        description: unutf8.decode(o.get(IF_DESCRIPTION) ?? new Uint8Array()),
      });
      divisors.push(toMicros(o.get(IF_TSRESOL), file));
    } else if (type === EPB) {
      const interfaceId = base + body.getUint32(0, true);
      const divisor = divisors[interfaceId];
      if (divisor === undefined) throw bad(at, 'a packet on an interface not described before it');
      const ts = (BigInt(body.getUint32(4, true)) << 32n) | BigInt(body.getUint32(8, true));
      const length = body.getUint32(12, true);
      if (20 + length > body.byteLength) throw bad(at, 'a packet longer than its block');
      packets.push({
        interfaceId,
        timestampUs: ts / divisor,
        data: bytes.slice(at + 8 + 20, at + 8 + 20 + length),
      });
    }
    at += total;
  }
  return { interfaces, packets };
}
