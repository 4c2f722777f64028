import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { SOMEIP_TP_FLAG } from '@sivshm/abi';
import type { GatewayImport, ServiceDefinition } from '@sivshm/core';
import {
  chooseProvider,
  endpointOption,
  outranks,
  type EndpointOption,
  type RemoteService,
  type ServiceAvailability,
} from '@sivshm/discovery';
import {
  RuntimeError,
  type MethodHandler,
  type OfferedService,
  type ServicePublisher,
} from '@sivshm/runtime';
import type { Subscription } from 'rxjs';
import { admitPeer } from '../edge/peer-admission.js';
import { GatewayError } from '../errors/gateway-error.js';
import { codecOf } from '../export/message-codec.js';
import type { ServiceExportContext } from '../export/service-export.js';
import { MessageType, splitSomeIpDatagram, type SomeIpMessage } from '../someip/someip-message.js';
import { listenToGroup } from './group-listener.js';
import { InboundFilter } from './inbound-filter.js';
import { NetworkCaller } from './network-caller.js';
import { returnCodeName } from './return-code-name.js';
import { TcpLink } from './tcp-link.js';
import { TpReassembler } from '../someip/tp-reassembler.js';
import { MAX_BATCH_BYTES } from '../someip/datagram-batcher.js';
import { LargeMessagePolicy, sendSomeIp } from '../someip/large-message.js';

/** What `ServiceImport.open` needs: the export's context and the gateway's SOME/IP client id. */
export interface ServiceImportContext extends ServiceExportContext {
  readonly clientId: number;
}

/** The network provider an import is bound to while it offers. */
interface Bound {
  readonly remote: RemoteService;
  readonly udp: EndpointOption | undefined;
  tcp: TcpLink | undefined;
  offered: OfferedService | undefined;
  readonly publishers: Map<number, ServicePublisher<object>>;
  readonly subscriptions: Subscription[];
  /** Sockets of the multicast groups the provider's Acks named, by `group|port`. */
  readonly groups: Map<string, Socket>;
}

/**
 * One network service instance inside sivshm: found with SOME/IP-SD, and while a network
 * provider offers it, offered over sivshm by the gateway's VM (services.yaml must name it the
 * provider, and hostd grants it only what its certificate allows). Its imported eventgroups are
 * subscribed on the network and each notification that decodes as its event's protobuf type is
 * published to the sivshm consumers; a method call from a VM goes to the provider as a SOME/IP
 * request (UDP, or TCP when the import has a TCP port) and its answer comes back, an error
 * return code as a failed call. StopOffer, TTL expiry or the provider's reboot end the offer.
 */
export class ServiceImport {
  private readonly filter: InboundFilter;
  private readonly caller: NetworkCaller;
  private bound: Bound | undefined;
  /** Bumped on every bind and unbind, so a bind that awaited can tell it was overtaken. */
  private generation = 0;
  private finding: Subscription | undefined;
  private closed = false;
  /** Every node offering the instance now, by peer. */
  private readonly candidates = new Map<string, RemoteService>();
  /** SOME/IP-TP segments from the bound provider, reassembled. */
  private readonly tp: TpReassembler;
  /** Requests past one datagram: SOME/IP-TP segments when the import has `tp`. */
  private readonly large: LargeMessagePolicy;
  /** The binding changes in progress, run one after the other. */
  private switching: Promise<void> = Promise.resolve();

  private constructor(
    private readonly ctx: ServiceImportContext,
    private readonly imp: GatewayImport,
    private readonly service: ServiceDefinition,
    private readonly socket: Socket,
  ) {
    this.filter = new InboundFilter(service, imp);
    this.caller = new NetworkCaller(ctx.clientId, ctx.callTimeoutMs);
    this.tp = new TpReassembler({ maxPayload: ctx.maxPayload }, ctx.counters);
    this.large = new LargeMessagePolicy(
      imp.tpSegment,
      { section: 'import', service: imp.service, instance: imp.instance },
      ctx.counters,
      ctx.log,
    );
    socket.on('message', (msg, rinfo) => this.fromUdp(msg, rinfo));
  }

  /** Binds the import's UDP port and starts finding the service on the network. */
  static async open(ctx: ServiceImportContext, imp: GatewayImport): Promise<ServiceImport> {
    const service = ctx.config.services.find((s) => s.name === imp.service)!;
    const socket = createSocket({ type: ctx.unicast.includes(':') ? 'udp6' : 'udp4' });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', (e) =>
        reject(
          new GatewayError(
            'ERR_NETWORK',
            `cannot bind ${imp.service}'s UDP endpoint ${ctx.unicast}:${imp.udpPort}: ${e.message}`,
            { cause: e },
          ),
        ),
      );
      socket.bind(imp.udpPort, ctx.unicast, () => resolve());
    });
    socket.on('error', (e) => ctx.log(`${imp.service} import UDP socket: ${e.message}`));
    const x = new ServiceImport(ctx, imp, service, socket);
    x.finding = ctx.agent
      .find({ serviceId: service.id, instanceId: imp.instance, majorVersion: service.major })
      .subscribe((a) => x.availability(a));
    return x;
  }

  /** True while a network provider is bound and the service is offered inside sivshm. */
  get offering(): boolean {
    return this.bound?.offered !== undefined;
  }

  /**
   * Every network node offering the instance is a candidate; one is bound at a time, chosen by
   * the Offers' load balancing options (lowest priority, then a draw by weight: PRS_SOMEIPSD).
   * A candidate of strictly better priority takes over; the others wait, and the best of them
   * takes over when the bound one goes away (StopOffer, TTL, reboot).
   */
  private availability(a: ServiceAvailability): void {
    if (this.closed) return;
    const peer = a.service.peer;
    const current = this.bound?.remote;
    if (!a.available) {
      this.candidates.delete(peer);
      if (current?.peer === peer) this.rebind(`${a.reason} from ${peer}`);
      return;
    }
    this.candidates.set(peer, a.service);
    if (current === undefined) this.rebind(undefined);
    // The bound one's new endpoints mean a new binding (to the best, which may be it again).
    else if (current.peer === peer) this.rebind('its endpoints changed');
    else if (outranks(a.service, current))
      this.rebind(`${peer} offers it at a better load balancing priority`);
  }

  /**
   * Unbinds (when `why` is given) and binds the best candidate, one change at a time: the next
   * waits until the sivshm offer of the previous binding is withdrawn.
   */
  private rebind(why: string | undefined): void {
    this.switching = this.switching.then(async () => {
      if (why !== undefined && this.bound !== undefined) await this.unbind(why);
      if (this.closed || this.bound !== undefined) return;
      const best = chooseProvider([...this.candidates.values()]);
      if (best !== undefined) await this.bind(best);
    });
  }

  /** Subscribes on the network and offers the service inside sivshm. */
  private async bind(remote: RemoteService): Promise<void> {
    const generation = ++this.generation;
    const name = `${this.imp.service}/${this.imp.instance}`;
    const b: Bound = {
      remote,
      udp: remote.endpoints.find((e) => e.protocol === 'udp'),
      tcp: undefined,
      offered: undefined,
      publishers: new Map(),
      subscriptions: [],
      groups: new Map(),
    };
    this.bound = b;
    try {
      const tcp = remote.endpoints.find((e) => e.protocol === 'tcp');
      if (this.imp.tcpPort !== undefined) {
        if (tcp === undefined) throw new Error(`${remote.peer} offers no TCP endpoint`);
        b.tcp = await TcpLink.connect({
          localAddress: this.ctx.unicast,
          localPort: this.imp.tcpPort,
          address: tcp.address,
          port: tcp.port,
          maxPayload: this.ctx.maxPayload,
          onMessage: (m) => this.fromProvider(m),
          onMalformed: () => (this.ctx.counters.malformed += 1),
          onClose: () => {
            if (this.bound === b && !this.closed)
              this.ctx.log(`${name}: the TCP connection to ${remote.peer} ended`);
          },
        });
      } else if (b.udp === undefined) throw new Error(`${remote.peer} offers no UDP endpoint`);
      if (generation !== this.generation) return b.tcp?.close();
      this.subscribeEventgroups(b);
      b.offered = await this.ctx.node.offer(this.service.name, {
        instance: this.imp.instance,
        methods: this.methodHandlers(),
      });
      if (generation !== this.generation) {
        await b.offered.withdraw().catch(() => undefined);
        return;
      }
      for (const e of this.filter.subscribedEvents)
        b.publishers.set(e.id, b.offered.publisher<object>(e.name));
      this.ctx.log(`${name}: imported from ${remote.peer}, offered inside sivshm`);
    } catch (e) {
      this.ctx.log(`${name}: cannot import from ${remote.peer}: ${(e as Error).message}`);
      if (generation === this.generation) await this.unbind('import failed');
    }
  }

  private subscribeEventgroups(b: Bound): void {
    const endpoint =
      this.imp.tcpPort !== undefined
        ? endpointOption(this.ctx.unicast, 'tcp', this.imp.tcpPort)
        : endpointOption(this.ctx.unicast, 'udp', this.imp.udpPort);
    for (const eventgroupId of this.imp.eventgroups)
      b.subscriptions.push(
        this.ctx.agent
          .subscribe({
            serviceId: this.service.id,
            instanceId: this.imp.instance,
            majorVersion: this.service.major,
            eventgroupId,
            endpoints: [endpoint],
            // At the node bound, whichever other nodes offer the instance too.
            provider: b.remote.peer,
          })
          .subscribe({
            next: (ev) => {
              if (ev.state === 'nacked')
                this.ctx.log(`${this.imp.service}: eventgroup ${eventgroupId} refused (Nack)`);
              if (ev.state === 'subscribed' && ev.multicast !== undefined)
                void this.joinGroup(b, ev.multicast.address, ev.multicast.port);
            },
            error: (e: unknown) =>
              this.ctx.log(`${this.imp.service}: subscribe: ${(e as Error).message}`),
          }),
      );
  }

  /** Listens to the multicast group an Ack named (once per group and port). */
  private async joinGroup(b: Bound, group: string, port: number): Promise<void> {
    const key = `${group}|${port}`;
    if (b.groups.has(key)) return;
    try {
      const socket = await listenToGroup(this.ctx.unicast, group, port, (msg, rinfo) =>
        this.fromUdp(msg, rinfo),
      );
      if (this.bound !== b || b.groups.has(key)) socket.close();
      else b.groups.set(key, socket);
    } catch (e) {
      this.ctx.log(`${this.imp.service}: cannot join ${group}:${port}: ${(e as Error).message}`);
    }
  }

  /** StopSubscribe, the TCP connection closed, waiting calls failed, the sivshm offer withdrawn. */
  private async unbind(why: string): Promise<void> {
    const b = this.bound;
    this.bound = undefined;
    this.generation += 1;
    if (b === undefined) return;
    for (const s of b.subscriptions.splice(0)) s.unsubscribe();
    for (const g of b.groups.values()) g.close();
    b.groups.clear();
    b.tcp?.close();
    this.caller.failAll(`the network provider went away (${why})`);
    if (b.offered !== undefined) {
      this.ctx.log(`${this.imp.service}/${this.imp.instance}: offer withdrawn (${why})`);
      await b.offered.withdraw().catch((e: unknown) => this.ctx.log((e as Error).message));
    }
  }

  /** One handler per method: the request is sent to the bound network provider. */
  private methodHandlers(): Record<string, MethodHandler> {
    const handlers: Record<string, MethodHandler> = {};
    for (const m of this.service.methods) {
      const request = codecOf(this.ctx.config, m.request);
      const response = codecOf(this.ctx.config, m.response);
      handlers[m.name] = async (req: object): Promise<object> => {
        const answer = await this.caller.call(
          {
            serviceId: this.service.id,
            methodId: m.id,
            interfaceVersion: this.service.major,
            payload: request.encode(req).finish(),
          },
          (bytes) => this.sendToProvider(bytes),
        );
        if (answer.messageType !== MessageType.response || answer.returnCode !== 0)
          throw new GatewayError(
            'ERR_REMOTE',
            `the network provider answered ${m.name} with return code 0x${answer.returnCode.toString(16).padStart(2, '0')} (${returnCodeName(answer.returnCode)})`,
          );
        try {
          return response.decode(answer.payload);
        } catch {
          this.ctx.counters.undecodable += 1;
          throw new GatewayError(
            'ERR_REMOTE',
            `the network provider's answer to ${m.name} is not a ${m.response}`,
          );
        }
      };
    }
    return handlers;
  }

  private sendToProvider(bytes: Uint8Array): void {
    const b = this.bound;
    if (b === undefined) throw new Error('no network provider is bound');
    this.ctx.counters.requestsSent += 1;
    if (b.tcp !== undefined) return b.tcp.send(bytes);
    sendSomeIp(this.socket, this.large, MAX_BATCH_BYTES, bytes, b.udp!.port, b.udp!.address);
  }

  /** A datagram on the import's port: only the bound provider's UDP endpoint is heard. */
  private fromUdp(msg: Buffer, rinfo: RemoteInfo): void {
    const udp = this.bound?.udp;
    if (udp === undefined || rinfo.address !== udp.address) {
      this.ctx.counters.notAllowed += 1;
      return;
    }
    if (!admitPeer(this.imp.peers, this.ctx.budgets, this.ctx.counters, rinfo.address)) return;
    const bytes = new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength);
    const split = splitSomeIpDatagram(bytes, this.ctx.maxPayload);
    if (split.malformed !== undefined) this.ctx.counters.malformed += 1;
    for (const m of split.messages) {
      if ((m.messageType & SOMEIP_TP_FLAG) === 0) {
        this.fromProvider(m);
        continue;
      }
      // A segment of a message too large for one datagram (SOME/IP-TP): whole messages only.
      const tp = this.tp.add(`${rinfo.address}:${rinfo.port}`, m);
      if (tp.kind === 'complete') this.fromProvider(tp.message);
      else if (tp.kind === 'dropped') this.ctx.counters.malformed += 1;
    }
  }

  /** One message from the bound provider: an event goes to the VMs once checked, an answer to its call. */
  private fromProvider(m: SomeIpMessage): void {
    const c = this.ctx.counters;
    const inbound = this.filter.classify(m);
    switch (inbound.kind) {
      case 'event': {
        const publisher = this.bound?.publishers.get(inbound.event.id);
        if (publisher === undefined) return; // not offered inside sivshm yet
        try {
          // The bytes as they came, after publishBytes checked they decode as the event's type.
          publisher.publishBytes(inbound.payload);
        } catch (e) {
          if (!RuntimeError.is(e) || e.code !== 'ERR_BAD_PAYLOAD') throw e;
          c.undecodable += 1;
          return;
        }
        c.eventsReceived += 1;
        return;
      }
      case 'magicCookie':
        return;
      case 'answer':
        if (!this.caller.answer(inbound.message)) c.refused += 1;
        return;
      default:
        c.refused += 1;
    }
  }

  /** StopSubscribe, the sivshm offer withdrawn, the sockets closed. */
  async close(): Promise<void> {
    this.closed = true;
    this.finding?.unsubscribe();
    await this.unbind('the gateway stops');
    this.tp.close();
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }
}
