// An external SOME/IP ECU for the gateway's tests, written from the specification with raw
// dgram sockets and hand-built bytes — deliberately none of the gateway's or discovery's
// classes, so that a shared misreading of the spec cannot make both ends agree.
import { createSocket, type Socket } from 'node:dgram';

export const SD_GROUP = '224.244.224.245';
export const SD_PORT = 30490;
/** The IPv6 test's SD group and the interface its addresses sit on (IPV6_NAMESPACE_SETUP). */
export const SD_GROUP_V6 = 'ff14::4:0';
export const V6_INTERFACE = 'v0';

/** A SOME/IP message as the peer sees it. */
export interface RawMessage {
  readonly serviceId: number;
  readonly methodId: number;
  readonly length: number;
  readonly clientId: number;
  readonly sessionId: number;
  readonly protocolVersion: number;
  readonly interfaceVersion: number;
  readonly messageType: number;
  readonly returnCode: number;
  readonly payload: Buffer;
}

/** One SD entry, with the endpoint options (IPv4 or IPv6) it points at (first run only). */
export interface RawSdEntry {
  readonly type: number;
  readonly serviceId: number;
  readonly instanceId: number;
  readonly major: number;
  readonly ttl: number;
  readonly eventgroupId?: number;
  readonly endpoints: Array<{ address: string; protocol: number; port: number }>;
  /** Multicast options (0x14, 0x16) of the first run: the group an Ack names. */
  readonly multicast: Array<{ address: string; port: number }>;
}

export function someIp(
  h: Omit<RawMessage, 'length' | 'payload' | 'protocolVersion'>,
  payload: Buffer,
): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt16BE(h.serviceId, 0);
  b.writeUInt16BE(h.methodId, 2);
  b.writeUInt32BE(8 + payload.length, 4);
  b.writeUInt16BE(h.clientId, 8);
  b.writeUInt16BE(h.sessionId, 10);
  b[12] = 1;
  b[13] = h.interfaceVersion;
  b[14] = h.messageType;
  b[15] = h.returnCode;
  return Buffer.concat([b, payload]);
}

/** The SOME/IP messages of one datagram (several may share one), each framed by its Length. */
export function splitDatagram(b: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at + 16 <= b.length;) {
    const end = at + 8 + b.readUInt32BE(at + 4);
    out.push(b.subarray(at, end));
    at = end;
  }
  return out;
}

/** Every message of `datagrams`, in order, with the sender of its datagram. */
export function messagesOf(
  datagrams: ReadonlyArray<{ bytes: Buffer; from: string }>,
): Array<{ bytes: Buffer; from: string }> {
  return datagrams.flatMap((d) => splitDatagram(d.bytes).map((bytes) => ({ bytes, from: d.from })));
}

export function parseSomeIp(b: Buffer): RawMessage {
  return {
    serviceId: b.readUInt16BE(0),
    methodId: b.readUInt16BE(2),
    length: b.readUInt32BE(4),
    clientId: b.readUInt16BE(8),
    sessionId: b.readUInt16BE(10),
    protocolVersion: b[12]!,
    interfaceVersion: b[13]!,
    messageType: b[14]!,
    returnCode: b[15]!,
    payload: b.subarray(16),
  };
}

/** An SD message: header 0xFFFF/0x8100, flags reboot+unicast, the entries and options given. */
export function sdMessage(session: number, entries: Buffer[], options: Buffer[]): Buffer {
  const e = Buffer.concat(entries);
  const o = Buffer.concat(options);
  const body = Buffer.alloc(12 + e.length + o.length);
  body[0] = 0xc0; // reboot, unicast (PRS_SOMEIPSD_00151, 00540)
  body.writeUInt32BE(e.length, 4);
  e.copy(body, 8);
  body.writeUInt32BE(o.length, 8 + e.length);
  o.copy(body, 12 + e.length);
  const head = someIp(
    {
      serviceId: 0xffff,
      methodId: 0x8100,
      clientId: 0,
      sessionId: session,
      interfaceVersion: 1,
      messageType: 0x02,
      returnCode: 0,
    },
    Buffer.alloc(0),
  );
  const out = Buffer.concat([head, body]);
  out.writeUInt32BE(out.length - 8, 4);
  return out;
}

/** Find of `serviceId`, any instance and version. */
export function findMessage(session: number, serviceId: number): Buffer {
  const e = Buffer.alloc(16);
  e[0] = 0x00;
  e.writeUInt16BE(serviceId, 4);
  e.writeUInt16BE(0xffff, 6);
  e[8] = 0xff;
  e.writeUIntBE(3, 9, 3);
  e.writeUInt32BE(0xffffffff, 12);
  return sdMessage(session, [e], []);
}

/** The 16 bytes of an IPv6 address (RFC 4291 text, one `::` at most). */
function ipv6Bytes(text: string): Buffer {
  const [head, tail] = text.split('::') as [string, string | undefined];
  const groups = (x: string | undefined): number[] =>
    x === undefined || x === '' ? [] : x.split(':').map((g) => parseInt(g, 16));
  const h = groups(head);
  const t = groups(tail);
  const all = [...h, ...Array<number>(8 - h.length - t.length).fill(0), ...t];
  const b = Buffer.alloc(16);
  all.forEach((g, i) => b.writeUInt16BE(g, 2 * i));
  return b;
}

/** IPv6 text of 16 bytes, the way Node prints it (RFC 5952). */
function ipv6Text(b: Buffer): string {
  const g = Array.from({ length: 8 }, (_, i) => b.readUInt16BE(2 * i));
  let best = [-1, 0];
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > best[1]!) best = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = (xs: number[]): string => xs.map((x) => x.toString(16)).join(':');
  if (best[1]! < 2) return hex(g);
  return `${hex(g.slice(0, best[0]))}::${hex(g.slice(best[0]! + best[1]!))}`;
}

/** An endpoint option: IPv4 (0x04, length 9) or IPv6 (0x06, length 21), by the address text. */
export function endpointOptionBytes(address: string, protocol: number, port: number): Buffer {
  const v6 = address.includes(':');
  const o = Buffer.alloc(v6 ? 24 : 12);
  o.writeUInt16BE(v6 ? 0x0015 : 0x0009, 0);
  o[2] = v6 ? 0x06 : 0x04;
  (v6 ? ipv6Bytes(address) : Buffer.from(address.split('.').map(Number))).copy(o, 4);
  o[v6 ? 21 : 9] = protocol;
  o.writeUInt16BE(port, v6 ? 22 : 10);
  return o;
}

/** SubscribeEventgroup (TTL `ttl`, 0 = StopSubscribe) with one IPv4/UDP endpoint option. */
export function subscribeMessage(
  session: number,
  s: { serviceId: number; instanceId: number; major: number; eventgroupId: number; ttl: number },
  endpoint: { address: string; port: number; protocol?: number },
): Buffer {
  const e = Buffer.alloc(16);
  e[0] = 0x06;
  e[1] = 0; // first option run starts at option 0
  e[3] = 0x10; // one option in run 1
  e.writeUInt16BE(s.serviceId, 4);
  e.writeUInt16BE(s.instanceId, 6);
  e[8] = s.major;
  e.writeUIntBE(s.ttl, 9, 3);
  e.writeUInt16BE(s.eventgroupId, 14);
  const o = endpointOptionBytes(endpoint.address, endpoint.protocol ?? 0x11, endpoint.port);
  return sdMessage(session, [e], [o]);
}

/** The entries of an SD message with their first-run IPv4 endpoints. */
export function parseSd(b: Buffer): RawSdEntry[] {
  const m = parseSomeIp(b);
  if (m.serviceId !== 0xffff || m.methodId !== 0x8100) return [];
  const p = m.payload;
  const entriesLength = p.readUInt32BE(4);
  const optionsAt = 8 + entriesLength;
  const options: Buffer[] = [];
  for (let at = optionsAt + 4; at < p.length;) {
    const len = p.readUInt16BE(at);
    options.push(p.subarray(at, at + 3 + len));
    at += 3 + len;
  }
  const out: RawSdEntry[] = [];
  for (let at = 8; at < optionsAt; at += 16) {
    const e = p.subarray(at, at + 16);
    const first = e[1]!;
    const count = e[3]! >> 4;
    const run = options.slice(first, first + count);
    // IPv4 options carry 4 address bytes, IPv6 ones 16; protocol and port follow a reserved byte.
    const ip = (o: Buffer) => {
      const v6 = o[2] === 0x06 || o[2] === 0x16;
      const end = v6 ? 20 : 8;
      return {
        address: v6 ? ipv6Text(o.subarray(4, 20)) : [...o.subarray(4, 8)].join('.'),
        protocol: o[end + 1]!,
        port: o.readUInt16BE(end + 2),
      };
    };
    const multicast = run
      .filter((o) => o[2] === 0x14 || o[2] === 0x16)
      .map((o) => ({ address: ip(o).address, port: ip(o).port }));
    const endpoints = run.filter((o) => o[2] === 0x04 || o[2] === 0x06).map(ip);
    const type = e[0]!;
    out.push({
      type,
      serviceId: e.readUInt16BE(4),
      instanceId: e.readUInt16BE(6),
      major: e[8]!,
      ttl: e.readUIntBE(9, 3),
      ...(type >= 0x06 ? { eventgroupId: e.readUInt16BE(14) } : {}),
      endpoints,
      multicast,
    });
  }
  return out;
}

/** Opens a UDP socket bound to `address:port` that collects what it receives. */
export async function openSocket(
  address: string,
  port: number,
  multicast?: string,
): Promise<{ socket: Socket; received: Array<{ bytes: Buffer; from: string }> }> {
  const socket = createSocket({ type: address.includes(':') ? 'udp6' : 'udp4', reuseAddr: true });
  const received: Array<{ bytes: Buffer; from: string }> = [];
  socket.on('message', (bytes, r) => received.push({ bytes, from: `${r.address}:${r.port}` }));
  await new Promise<void>((resolve) => socket.bind(port, multicast ?? address, () => resolve()));
  if (multicast !== undefined)
    socket.addMembership(multicast, address.includes(':') ? `::%${V6_INTERFACE}` : address);
  return { socket, received };
}
