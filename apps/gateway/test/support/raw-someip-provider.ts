// An external SOME/IP ECU that offers a service, for the gateway's import test: SD Offers,
// StopOffers and SubscribeAcks built byte by byte, events and answers on raw dgram and net
// sockets — none of the gateway's or discovery's classes (see raw-someip-peer.ts for why).
import { createServer, type Server, type Socket as TcpSocket } from 'node:net';
import {
  SD_GROUP,
  SD_GROUP_V6,
  SD_PORT,
  V6_INTERFACE,
  endpointOptionBytes,
  openSocket,
  parseSd,
  parseSomeIp,
  sdMessage,
  someIp,
  type RawMessage,
} from './raw-someip-peer.js';
import { encodeSomeIp } from '../../src/someip/someip-message.js';
import { tpSegments } from './tp-segments.js';

/** One instance the ECU offers: its UDP endpoint and, optionally, a TCP endpoint. */
export interface OfferedInstance {
  readonly instanceId: number;
  readonly udpPort: number;
  readonly tcpPort?: number;
  /** Offer TTL, seconds. */
  readonly ttl: number;
  /** A multicast group the Acks name; events then go there once instead of to each subscriber. */
  readonly multicast?: { readonly group: string; readonly port: number };
  /** A Load Balancing option (type 0x02) on the Offer: priority (lower preferred) and weight. */
  readonly loadBalancing?: { readonly priority: number; readonly weight: number };
}

/** Load Balancing option: Length 0x0005, Type 0x02, reserved, priority, weight. */
function loadBalancingOptionBytes(lb: { priority: number; weight: number }): Buffer {
  const o = Buffer.alloc(8);
  o.writeUInt16BE(0x0005, 0);
  o[2] = 0x02;
  o.writeUInt16BE(lb.priority, 4);
  o.writeUInt16BE(lb.weight, 6);
  return o;
}

type Sockets = Awaited<ReturnType<typeof openSocket>>;

/** OfferService (TTL `ttl`; 0 = StopOffer) of 0x1234 major 1 minor 0 with its endpoints. */
function offerEntries(address: string, instances: readonly OfferedInstance[], stop: boolean) {
  const entries: Buffer[] = [];
  const options: Buffer[] = [];
  for (const i of instances) {
    const first = options.length;
    options.push(endpointOptionBytes(address, 0x11, i.udpPort));
    if (i.tcpPort !== undefined) options.push(endpointOptionBytes(address, 0x06, i.tcpPort));
    if (i.loadBalancing !== undefined) options.push(loadBalancingOptionBytes(i.loadBalancing));
    const e = Buffer.alloc(16);
    e[0] = 0x01;
    e[1] = first;
    e[3] = (options.length - first) << 4;
    e.writeUInt16BE(0x1234, 4);
    e.writeUInt16BE(i.instanceId, 6);
    e[8] = 1;
    e.writeUIntBE(stop ? 0 : i.ttl, 9, 3);
    e.writeUInt32BE(0, 12);
    entries.push(e);
  }
  return { entries, options };
}

/** SubscribeEventgroupAck of one Subscribe entry (same ids, counter and TTL; no options). */
function ackEntry(s: { instanceId: number; eventgroupId: number; ttl: number }): Buffer {
  const e = Buffer.alloc(16);
  e[0] = 0x07;
  e.writeUInt16BE(0x1234, 4);
  e.writeUInt16BE(s.instanceId, 6);
  e[8] = 1;
  e.writeUIntBE(s.ttl, 9, 3);
  e.writeUInt16BE(s.eventgroupId, 14);
  return e;
}

/**
 * The ECU: offers service 0x1234 on `address`, acks Subscribes, sends notifications to the
 * subscribers (UDP to the endpoint they named, TCP over their connection) and answers requests
 * with `answer`.
 */
export class RawSomeIpProvider {
  private session = 1;
  private eventSession = 1;
  /** Subscriber endpoints by instance: `udp|addr|port` or `tcp|addr|port`. */
  readonly subscribers = new Map<number, Set<string>>();
  readonly requests: RawMessage[] = [];
  private readonly connections = new Map<string, TcpSocket>();
  private readonly servers: Server[] = [];
  private readonly data = new Map<number, Sockets>();
  private cyclic: NodeJS.Timeout | undefined;

  private constructor(
    readonly address: string,
    private readonly sd: Sockets,
    private readonly instances: OfferedInstance[],
    private readonly answer: (request: RawMessage) => { returnCode: number; payload: Buffer },
    /** The gateway's SD address (Acks go there). */
    private readonly gateway: string,
  ) {
    sd.socket.on('message', (bytes) => this.sdReceived(bytes));
  }

  static async open(
    address: string,
    instances: OfferedInstance[],
    answer: (request: RawMessage) => { returnCode: number; payload: Buffer },
    gateway = '127.0.0.1',
  ): Promise<RawSomeIpProvider> {
    const sd = await openSocket(address, SD_PORT);
    const p = new RawSomeIpProvider(address, sd, instances, answer, gateway);
    for (const i of instances) {
      const s = await openSocket(address, i.udpPort);
      s.socket.on('message', (bytes, r) =>
        p.request(parseSomeIp(bytes), (b) => s.socket.send(b, r.port, r.address)),
      );
      p.data.set(i.instanceId, s);
      if (i.tcpPort !== undefined) p.servers.push(await p.listen(i.tcpPort));
    }
    return p;
  }

  private async listen(port: number): Promise<Server> {
    const server = createServer((c) => {
      const key = `tcp|${c.remoteAddress}|${c.remotePort}`;
      this.connections.set(key, c);
      c.on('error', () => undefined);
      c.on('close', () => this.connections.delete(key));
      let pending = Buffer.alloc(0);
      c.on('data', (chunk: Buffer) => {
        pending = Buffer.concat([pending, chunk]);
        while (pending.length >= 16 && pending.length >= 8 + pending.readUInt32BE(4)) {
          const end = 8 + pending.readUInt32BE(4);
          this.request(parseSomeIp(Buffer.from(pending.subarray(0, end))), (b) => c.write(b));
          pending = pending.subarray(end);
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(port, this.address, resolve));
    return server;
  }

  private request(m: RawMessage, reply: (b: Buffer) => void): void {
    if (m.messageType !== 0x00) return;
    this.requests.push(m);
    const a = this.answer(m);
    reply(
      someIp(
        { ...m, messageType: a.returnCode === 0 ? 0x80 : 0x81, returnCode: a.returnCode },
        a.payload,
      ),
    );
  }

  /** Subscribes are acked (to the sender's SD port) and remembered; StopSubscribes forget. */
  private sdReceived(bytes: Buffer): void {
    const acks: Buffer[] = [];
    const options: Buffer[] = [];
    for (const e of parseSd(bytes)) {
      if (e.type !== 0x06 || e.serviceId !== 0x1234) continue;
      const set = this.subscribers.get(e.instanceId) ?? new Set<string>();
      this.subscribers.set(e.instanceId, set);
      for (const ep of e.endpoints) {
        const key = `${ep.protocol === 0x06 ? 'tcp' : 'udp'}|${ep.address}|${ep.port}`;
        if (e.ttl === 0) set.delete(key);
        else set.add(key);
      }
      if (e.ttl === 0) continue;
      // An instance with a multicast group names it in its Ack (the subscriber listens there).
      const group = this.instances.find((i) => i.instanceId === e.instanceId)?.multicast;
      const ack = ackEntry({ instanceId: e.instanceId, eventgroupId: e.eventgroupId!, ttl: e.ttl });
      if (group !== undefined) {
        ack[1] = options.length;
        ack[3] = 0x10;
        const o = endpointOptionBytes(group.group, 0x11, group.port);
        o[2]! |= 0x10; // 0x14 / 0x16: the multicast options
        options.push(o);
      }
      acks.push(ack);
    }
    if (acks.length > 0)
      this.sd.socket.send(sdMessage(this.session++, acks, options), SD_PORT, this.gateway);
  }

  /** One Offer message for `instances` to the SD group (StopOffer with `stop`). */
  offer(instances: readonly OfferedInstance[] = this.instances, stop = false): void {
    if (instances.length === 0) return; // an SD message without entries is malformed
    const { entries, options } = offerEntries(this.address, instances, stop);
    const group = this.address.includes(':') ? SD_GROUP_V6 : SD_GROUP;
    this.sd.socket.send(sdMessage(this.session++, entries, options), SD_PORT, group);
  }

  /** A reboot as peers see it: the SD session starts again at 1 (reboot flag set), then an Offer. */
  reboot(instances: readonly OfferedInstance[]): void {
    this.session = 1;
    this.offer(instances);
  }

  /** Offers every `periodMs` the instances still listed (a TTL test removes one). */
  startCyclicOffers(periodMs: number): void {
    this.offer();
    this.cyclic = setInterval(() => this.offer(), periodMs);
  }

  /** Stops offering `instanceId` cyclically, without StopOffer: its TTL runs out. */
  forget(instanceId: number): void {
    const i = this.instances.findIndex((x) => x.instanceId === instanceId);
    if (i >= 0) this.instances.splice(i, 1);
  }

  /** A notification of event 0x8001 to every subscriber of `instanceId`. */
  notify(instanceId: number, payload: Buffer): number {
    const bytes = someIp(
      {
        serviceId: 0x1234,
        methodId: 0x8001,
        clientId: 0,
        sessionId: this.eventSession,
        interfaceVersion: 1,
        messageType: 0x02,
        returnCode: 0,
      },
      payload,
    );
    this.eventSession = (this.eventSession % 0xffff) + 1;
    const data = this.data.get(instanceId)!.socket;
    const group = this.instances.find((i) => i.instanceId === instanceId)?.multicast;
    if (group !== undefined && (this.subscribers.get(instanceId)?.size ?? 0) > 0) {
      // Once to the group for every subscriber, from the instance's UDP endpoint.
      data.setMulticastInterface(this.address.includes(':') ? `::%${V6_INTERFACE}` : this.address);
      data.send(bytes, group.port, group.group);
      return 1;
    }
    let sent = 0;
    for (const key of this.subscribers.get(instanceId) ?? []) {
      const [protocol, address, port] = key.split('|') as [string, string, string];
      if (protocol === 'udp') {
        data.send(bytes, Number(port), address);
        sent++;
      } else if (this.connections.get(key)?.write(bytes) !== undefined) sent++;
    }
    return sent;
  }

  /**
   * One notification of event 0x8001 too large for a datagram, sent to every UDP subscriber of
   * `instanceId` as SOME/IP-TP segments of `segmentBytes` (as a peer configured for TP does).
   * Returns the number of segments per subscriber.
   */
  notifySegmented(instanceId: number, payload: Buffer, segmentBytes = 1392): number {
    const segments = tpSegments(
      {
        serviceId: 0x1234,
        methodId: 0x8001,
        clientId: 0,
        sessionId: this.eventSession,
        interfaceVersion: 1,
        messageType: 0x02,
        returnCode: 0,
        payload,
      },
      segmentBytes,
    ).map((m) => encodeSomeIp(m));
    this.eventSession = (this.eventSession % 0xffff) + 1;
    const data = this.data.get(instanceId)!.socket;
    for (const key of this.subscribers.get(instanceId) ?? []) {
      const [protocol, address, port] = key.split('|') as [string, string, string];
      if (protocol === 'udp') for (const s of segments) data.send(s, Number(port), address);
    }
    return segments.length;
  }

  async close(): Promise<void> {
    if (this.cyclic !== undefined) clearInterval(this.cyclic);
    for (const c of this.connections.values()) c.destroy();
    await Promise.all(this.servers.map((s) => new Promise((r) => s.close(r))));
    this.sd.socket.close();
    for (const s of this.data.values()) s.socket.close();
  }
}
