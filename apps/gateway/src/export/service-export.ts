import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { SOMEIP_TP_FLAG } from '@sivshm/abi';
import type { GatewayExport, ServiceConfig, ServiceDefinition } from '@sivshm/core';
import {
  endpointOption,
  interfaceOf,
  type OfferRegistration,
  type SdAgent,
} from '@sivshm/discovery';
import type { ConsumedService, Node } from '@sivshm/runtime';
import type { Subscription } from 'rxjs';
import type { GatewayCounters } from '../edge/gateway-counters.js';
import { admitPeer } from '../edge/peer-admission.js';
import type { PeerBudgets } from '../edge/peer-budget.js';
import { GatewayError } from '../errors/gateway-error.js';
import {
  MessageType,
  ReturnCode,
  encodeSomeIp,
  splitSomeIpDatagram,
  type SomeIpMessage,
} from '../someip/someip-message.js';
import { DatagramBatcher, MAX_BATCH_BYTES } from '../someip/datagram-batcher.js';
import { LargeMessagePolicy, sendSomeIp } from '../someip/large-message.js';
import { TpReassembler } from '../someip/tp-reassembler.js';
import { MethodBridge } from './method-bridge.js';
import { SubscriberTable } from './subscriber-table.js';
import { TcpEndpoint, type TcpPeer } from './tcp-endpoint.js';

/** What `ServiceExport.open` needs from the gateway. */
export interface ServiceExportContext {
  readonly config: ServiceConfig;
  readonly node: Node;
  readonly agent: SdAgent;
  readonly unicast: string;
  readonly counters: GatewayCounters;
  readonly budgets: PeerBudgets;
  /** Largest SOME/IP payload taken from the network. */
  readonly maxPayload: number;
  readonly callTimeoutMs: number;
  /** One line for the operator (the gateway's log). */
  readonly log: (line: string) => void;
}

/**
 * One sivshm service instance on the network: consumed over sivshm as the gateway's VM, offered
 * with SOME/IP-SD while its sivshm channel is up (withdrawn while it is not), its events sent as
 * SOME/IP notifications to the UDP endpoints of acknowledged subscriptions, and its methods
 * served on its UDP port.
 */
export class ServiceExport {
  private readonly subscribers = new SubscriberTable();
  private readonly streams: Subscription[] = [];
  private readonly subscriptions: Subscription[] = [];
  private consumed: ConsumedService | undefined;
  private offer: OfferRegistration | undefined;
  private sessionId = 0;
  private closed = false;
  private readonly methods: MethodBridge;
  private tcp: TcpEndpoint | undefined;
  /** Events to one UDP endpoint in one turn share a datagram. */
  private readonly batcher: DatagramBatcher;
  /** Events and responses past one datagram: SOME/IP-TP segments when the export has `tp`. */
  private readonly large: LargeMessagePolicy;
  /** SOME/IP-TP segments of requests, reassembled. */
  private readonly tp: TpReassembler;

  private constructor(
    private readonly ctx: ServiceExportContext,
    private readonly exp: GatewayExport,
    private readonly service: ServiceDefinition,
    private readonly socket: Socket,
  ) {
    this.methods = new MethodBridge(
      ctx.config,
      service,
      () => (this.consumed?.status === 'connected' ? this.consumed : undefined),
      ctx.counters,
      ctx.budgets,
      ctx.callTimeoutMs,
    );
    this.large = new LargeMessagePolicy(
      exp.tpSegment,
      { section: 'export', service: exp.service, instance: exp.instance },
      ctx.counters,
      ctx.log,
    );
    this.batcher = new DatagramBatcher(socket, MAX_BATCH_BYTES, this.large);
    this.tp = new TpReassembler({ maxPayload: ctx.maxPayload }, ctx.counters);
    socket.on('message', (msg, rinfo) => this.receive(msg, rinfo));
    this.subscriptions.push(
      ctx.agent.subscribers$.subscribe((e) => {
        if (e.request.serviceId === service.id && e.request.instanceId === exp.instance)
          this.subscribers.apply(e);
      }),
    );
  }

  /** Binds the service's UDP port and starts consuming it; the offer follows its channel. */
  static async open(ctx: ServiceExportContext, exp: GatewayExport): Promise<ServiceExport> {
    const service = ctx.config.services.find((s) => s.name === exp.service)!;
    const v6 = ctx.unicast.includes(':');
    const socket = createSocket({ type: v6 ? 'udp6' : 'udp4' });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', (e) =>
        reject(
          new GatewayError(
            'ERR_NETWORK',
            `cannot bind ${exp.service}'s UDP endpoint ${ctx.unicast}:${exp.udpPort}: ${e.message}`,
            { cause: e },
          ),
        ),
      );
      socket.bind(exp.udpPort, ctx.unicast, () => resolve());
    });
    if (exp.multicast !== undefined) {
      // Multicast events leave by the gateway's interface and stay on the link (as SD does).
      // (IPv6 names the interface by scope, IPv4 by its address.)
      socket.setMulticastInterface(v6 ? `::%${interfaceOf(ctx.unicast)}` : ctx.unicast);
      socket.setMulticastTTL(1);
    }
    // After binding, a socket error (e.g. ICMP unreachable of a gone subscriber) is not fatal.
    socket.on('error', (e) => ctx.log(`${exp.service} UDP socket: ${e.message}`));
    const x = new ServiceExport(ctx, exp, service, socket);
    if (exp.tcpPort !== undefined) {
      try {
        x.tcp = await TcpEndpoint.open(
          ctx.unicast,
          exp.tcpPort,
          exp.service,
          ctx.counters,
          ctx.maxPayload,
          (m, peer) => x.fromTcp(m, peer),
        );
      } catch (e) {
        await x.close();
        throw e;
      }
    }
    x.consumeUntilUp();
    return x;
  }

  /** Subscriptions held by network peers. */
  get subscriberCount(): number {
    return this.subscribers.size;
  }

  /** Keeps trying to consume the service over sivshm until the gateway closes. */
  private consumeUntilUp(): void {
    const attempt = async (): Promise<void> => {
      while (!this.closed && this.consumed === undefined) {
        try {
          this.consumed = await this.ctx.node.consume(this.exp.service, {
            instance: this.exp.instance,
            timeoutMs: 5000,
            // A request reaches call() only as the object its network bytes decoded to as the
            // method's request type (MethodBridge), so it fits that type by construction; the
            // runtime's check would only re-walk it field by field (a decoded message is a class
            // instance, not the plain object its fast check takes).
            checkPayloads: false,
          });
        } catch (e) {
          if (this.closed) return;
          this.ctx.log(
            `${this.exp.service}: not reachable over sivshm yet (${(e as Error).message})`,
          );
        }
      }
      if (this.closed) {
        await this.consumed?.close();
        return;
      }
      this.subscriptions.push(
        this.consumed!.status$.subscribe((s) => (s === 'connected' ? this.up() : this.down())),
      );
    };
    void attempt();
  }

  /** The sivshm channel is up: offer on the network and forward every exported eventgroup. */
  private up(): void {
    const consumed = this.consumed!;
    this.stopStreams();
    for (const group of this.service.eventgroups) {
      if (!this.exp.eventgroups.includes(group.id)) continue;
      for (const event of group.events) {
        // The payload bytes as the providing VM encoded them go into the SOME/IP message: no
        // decode and re-encode on the way through (runtime's raw-bytes path).
        this.streams.push(
          consumed.eventBytes(event.name).subscribe({
            next: (payload) => this.notify(group.id, event.id, payload),
            error: () => undefined, // the channel ended; status$ says so and down() follows
          }),
        );
      }
    }
    if (this.offer !== undefined) return;
    this.offer = this.ctx.agent.register({
      serviceId: this.service.id,
      instanceId: this.exp.instance,
      majorVersion: this.service.major,
      minorVersion: this.service.minor,
      endpoints: [
        endpointOption(this.ctx.unicast, 'udp', this.exp.udpPort),
        ...(this.exp.tcpPort === undefined
          ? []
          : [endpointOption(this.ctx.unicast, 'tcp', this.exp.tcpPort)]),
      ],
      eventgroups: this.exp.eventgroups,
    });
    this.offer.announced.catch((e: unknown) =>
      this.ctx.log(`${this.exp.service}: first Offer not sent (${(e as Error).message})`),
    );
  }

  /** The sivshm channel is down: StopOffer, so network consumers stop waiting for events. */
  private down(): void {
    this.stopStreams();
    const offer = this.offer;
    this.offer = undefined;
    this.subscribers.clear();
    if (offer !== undefined)
      offer
        .withdraw()
        .catch((e: unknown) =>
          this.ctx.log(`${this.exp.service}: StopOffer not sent (${(e as Error).message})`),
        );
  }

  /**
   * One event as a SOME/IP notification to each subscribed UDP endpoint (batched with the
   * other events of this turn to the same endpoint) or TCP connection.
   */
  private notify(eventgroupId: number, eventId: number, payload: Uint8Array): void {
    const targets = this.subscribers.targets(eventgroupId);
    if (targets.length === 0) return;
    this.sessionId = this.sessionId >= 0xffff ? 1 : this.sessionId + 1;
    const m = {
      serviceId: this.service.id,
      methodId: eventId,
      clientId: 0,
      sessionId: this.sessionId,
      interfaceVersion: this.service.major,
      messageType: MessageType.notification,
      returnCode: ReturnCode.ok,
      payload,
    };
    const multicast = this.exp.multicast;
    if (multicast !== undefined && targets.some((t) => t.protocol === 'udp')) {
      // One copy to the group the Acks named, for every UDP subscriber at once.
      this.batcher.addMessage(multicast.group, multicast.port, m);
      this.ctx.counters.eventsSent += 1;
    }
    let bytes: Uint8Array | undefined; // encoded once, for the TCP connections only
    for (const t of targets) {
      if (t.protocol === 'udp') {
        if (multicast !== undefined) continue;
        this.batcher.addMessage(t.address, t.port, m);
      } else if (this.tcp?.send(t.address, t.port, (bytes ??= encodeSomeIp(m))) !== true) {
        // No connection from that endpoint (yet), or it is not draining: not queued without bound.
        this.ctx.counters.eventsDropped += 1;
        continue;
      }
      this.ctx.counters.eventsSent += 1;
    }
  }

  /** A datagram on the service's port: admitted per peer, framed, then handed to the methods. */
  private receive(msg: Buffer, rinfo: RemoteInfo): void {
    if (!this.admits(rinfo.address)) return;
    const bytes = new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength);
    const split = splitSomeIpDatagram(bytes, this.ctx.maxPayload);
    if (split.malformed !== undefined) this.ctx.counters.malformed += 1;
    const sink = {
      address: rinfo.address,
      send: (b: Uint8Array) =>
        sendSomeIp(this.socket, this.large, MAX_BATCH_BYTES, b, rinfo.port, rinfo.address),
    };
    for (const m of split.messages) {
      if ((m.messageType & SOMEIP_TP_FLAG) === 0) {
        this.methods.handle(m, sink);
        continue;
      }
      // A segment of a request too large for one datagram (SOME/IP-TP): whole requests only.
      const tp = this.tp.add(`${rinfo.address}:${rinfo.port}`, m);
      if (tp.kind === 'complete') this.methods.handle(tp.message, sink);
      else if (tp.kind === 'dropped') this.ctx.counters.malformed += 1;
    }
  }

  /** A message on a TCP connection: the same admission as UDP, replies on the connection. */
  private fromTcp(m: SomeIpMessage, peer: TcpPeer): void {
    if (this.admits(peer.address)) this.methods.handle(m, peer);
  }

  /** The export's `peers` list (if any) and the peer's message budget; counts a refusal. */
  private admits(address: string): boolean {
    return admitPeer(this.exp.peers, this.ctx.budgets, this.ctx.counters, address);
  }

  private stopStreams(): void {
    for (const s of this.streams.splice(0)) s.unsubscribe();
  }

  /** StopOffer, stop forwarding, close the socket and the sivshm service. */
  async close(): Promise<void> {
    this.closed = true;
    for (const s of this.subscriptions.splice(0)) s.unsubscribe();
    this.stopStreams();
    const offer = this.offer;
    this.offer = undefined;
    await offer?.withdraw().catch(() => undefined);
    await this.consumed?.close();
    await this.tcp?.close();
    this.batcher.flush();
    this.tp.close();
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }
}
