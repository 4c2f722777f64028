import { Observable, Subject, filter, type Subscription } from 'rxjs';
import { DiscoveryError } from '../errors/discovery-error.js';
import type { SdAddress, SdDatagram, SdTransport } from '../transport/sd-transport.js';
import type { EndpointOption } from '../wire/endpoint-option.js';
import type { SdEntry } from '../wire/entry.js';
import type { EventgroupEntry } from '../wire/eventgroup-entry.js';
import type { MulticastOption } from '../wire/multicast-option.js';
import type { SdOption } from '../wire/option.js';
import { checkEntry, checkSdMessage, entryOptions } from '../wire/sd-checks.js';
import type { SdEndpointOption } from '../wire/sd-endpoint-option.js';
import { decodeSdMessage, encodeSdMessage, type SdMessage } from '../wire/sd-message.js';
import { packSdMessage, type PackEntry, type SdEntryFields } from '../wire/sd-packer.js';
import type { ServiceEntry } from '../wire/service-entry.js';
import { AnnouncePhases } from './announce-phases.js';
import { systemClock, type SdClock, type SdTimer } from './clock.js';
import { RebootDetector } from './reboot-detector.js';
import type { SdPolicy, SubscribeDecision, SubscribeRequest } from './sd-policy.js';
import { SdRegistry } from './sd-registry.js';
import { resolveSdTiming, type SdTiming } from './sd-timing.js';
import {
  matchesFind,
  type FindQuery,
  type OfferSpec,
  type RemoteService,
  type ServiceAvailability,
  type UnavailableReason,
} from './service-types.js';
import { SessionCounters } from './session-counter.js';

/** How an `SdNode` is built. */
export interface SdNodeOptions {
  /** What SD messages travel over; the node owns it and closes it in `stop()`. */
  readonly transport: SdTransport;
  /** Defaults to the system clock. */
  readonly clock?: SdClock;
  /** Uniform [0, 1) source for the initial and response delays; defaults to Math.random. */
  readonly random?: () => number;
  readonly timing?: Partial<SdTiming>;
  readonly policy?: SdPolicy;
  /**
   * Accept endpoint options with loopback addresses (127.0.0.0/8, ::1). The specification
   * (SD-1233) says 127.0.0.1 is not a valid endpoint; loopback test setups need this on.
   */
  readonly allowLoopbackEndpoints?: boolean;
  /** If set, sent as option 0 of every message (SD endpoint option, SD-1080). */
  readonly sdEndpoint?: SdEndpointOption;
}

/** What `subscribe()` asks for. */
export interface SubscribeSpec {
  readonly serviceId: number;
  readonly instanceId: number;
  readonly majorVersion: number;
  readonly eventgroupId: number;
  /** Where we receive events (at most one UDP and one TCP); none for multicast-only groups. */
  readonly endpoints?: readonly EndpointOption[];
  /** 0..15, tells parallel subscriptions to one eventgroup apart. */
  readonly counter?: number;
}

/** A change in one of our eventgroup subscriptions. */
export type SubscriptionEvent =
  | {
      readonly state: 'subscribed';
      readonly provider: RemoteService;
      readonly multicast?: MulticastOption;
    }
  | { readonly state: 'nacked'; readonly provider: RemoteService }
  | {
      readonly state: 'lost';
      readonly provider: RemoteService;
      readonly reason: UnavailableReason;
    };

/** A change in who is subscribed to one of our offers. */
export interface SubscriberEvent {
  readonly type: 'subscribed' | 'unsubscribed';
  readonly request: SubscribeRequest;
  /** For `unsubscribed`: stopSubscribe, ttlExpired, peerRebooted, withdrawn, stopped, replaced. */
  readonly reason?: string;
}

/** The result of `offer()`. */
export interface OfferHandle {
  /** Sends StopOffer and drops the instance's subscribers. */
  withdraw(): Promise<void>;
}

interface LocalOffer {
  readonly spec: OfferSpec;
  readonly entry: Omit<ServiceEntry, 'run1' | 'run2'>;
  readonly options: readonly SdOption[];
  readonly phases: AnnouncePhases;
  announced: boolean;
  firstSent: { resolve(): void; reject(e: unknown): void };
}

interface FindState {
  readonly query: Required<FindQuery>;
  readonly phases: AnnouncePhases;
  refs: number;
}

interface ConsumerSubscription {
  readonly spec: Required<SubscribeSpec>;
  readonly events: Subject<SubscriptionEvent>;
  provider: RemoteService | undefined;
  acked: boolean;
  awaitingAck: boolean;
}

interface ProviderSubscription {
  request: SubscribeRequest;
  readonly replyTo: SdAddress;
  state: 'pending' | 'acked';
  multicast: MulticastOption | undefined;
  timer: SdTimer | undefined;
}

const ANY_INSTANCE = 0xffff;

/**
 * One SOME/IP-SD participant: offers services, finds them, subscribes to eventgroups, and
 * answers others, over one `SdTransport`. Runs the server and client state machines of PRS
 * SOME/IP-SD per service instance (initial wait, repetition, main phase; TTL soft state;
 * session ids per relation; reboot detection) on an injectable clock.
 *
 * @example
 * ```ts
 * const node = new SdNode({ transport: await UdpSdTransport.open({ unicast: '10.0.0.5' }) });
 * await node.offer({ serviceId: 0x1234, instanceId: 1, majorVersion: 1, minorVersion: 0,
 *   endpoints: [endpointOption('10.0.0.5', 'udp', 30501)], eventgroups: [1] });
 * node.find({ serviceId: 0x4321 }).subscribe((a) => console.log(a.available));
 * await node.stop();
 * ```
 */
export class SdNode {
  /** Remote offers known to this node. */
  readonly registry: SdRegistry;
  private readonly clock: SdClock;
  private readonly random: () => number;
  private readonly timing: SdTiming;
  private readonly transport: SdTransport;
  private readonly policy: SdPolicy;
  private readonly allowLoopback: boolean;
  private readonly sdEndpoint: SdEndpointOption | undefined;
  private readonly sessions = new SessionCounters();
  private readonly reboots = new RebootDetector();
  private readonly offers = new Map<string, LocalOffer>();
  private readonly finds = new Map<string, FindState>();
  private readonly consumers = new Set<ConsumerSubscription>();
  private readonly providers = new Map<string, ProviderSubscription>();
  private readonly errors = new Subject<DiscoveryError>();
  private readonly subscribers = new Subject<SubscriberEvent>();
  private readonly inflight = new Set<Promise<void>>();
  private readonly subs: Subscription[] = [];
  private stopped = false;

  /** Dropped messages and failed sends, for logs; never terminates. */
  readonly errors$: Observable<DiscoveryError> = this.errors.asObservable();
  /** Subscriptions to our offers starting and ending. */
  readonly subscribers$: Observable<SubscriberEvent> = this.subscribers.asObservable();

  constructor(options: SdNodeOptions) {
    this.transport = options.transport;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.timing = resolveSdTiming(options.timing);
    this.policy = options.policy ?? {};
    this.allowLoopback = options.allowLoopbackEndpoints ?? false;
    this.sdEndpoint = options.sdEndpoint;
    this.registry = new SdRegistry(this.clock);
    this.subs.push(
      this.transport.messages$.subscribe({ next: (d) => this.receive(d) }),
      this.registry.changes$.subscribe((c) => this.availabilityChanged(c)),
    );
  }

  // ---------------------------------------------------------------- public API

  /**
   * Offers a service instance: starts its Initial Wait, Repetition and Main phases and
   * resolves once the first Offer has been sent. Rejects with `ERR_SD_INPUT` for a spec that
   * breaks an SD rule and `ERR_SD_STATE` when the instance is already offered.
   */
  async offer(spec: OfferSpec): Promise<OfferHandle> {
    this.assertRunning('offer');
    const key = instanceKey(spec.serviceId, spec.instanceId);
    if (this.offers.has(key))
      throw new DiscoveryError(
        'ERR_SD_STATE',
        `service 0x${hex(spec.serviceId)} instance 0x${hex(spec.instanceId)} is already offered`,
      );
    const entry: Omit<ServiceEntry, 'run1' | 'run2'> = {
      type: 'offer',
      serviceId: spec.serviceId,
      instanceId: spec.instanceId,
      majorVersion: spec.majorVersion,
      ttl: spec.ttl ?? this.timing.offerTtl,
      minorVersion: spec.minorVersion,
    };
    const options = [...spec.endpoints, ...(spec.extraOptions ?? [])];
    this.validateOutgoing('offer', { entry, options });
    for (const g of spec.eventgroups ?? [])
      if (!Number.isInteger(g) || g < 0 || g > 0xffff)
        throw new DiscoveryError('ERR_SD_INPUT', `offer: eventgroup ${g} is outside 0..0xFFFF`);
    let firstSent!: LocalOffer['firstSent'];
    const first = new Promise<void>((resolve, reject) => (firstSent = { resolve, reject }));
    const offer: LocalOffer = {
      spec,
      entry,
      options,
      announced: false,
      firstSent,
      phases: new AnnouncePhases(this.clock, this.timing, this.random, true, () => {
        const sent = this.sendMulticast([{ entry, options }]);
        if (!offer.announced) {
          offer.announced = true;
          sent.then(offer.firstSent.resolve, (e: unknown) => {
            // The instance never became visible: forget it so that offer() can be retried.
            offer.phases.stop();
            if (this.offers.get(key) === offer) this.offers.delete(key);
            offer.firstSent.reject(e);
          });
        }
      }),
    };
    this.offers.set(key, offer);
    offer.phases.start();
    await first;
    return { withdraw: () => this.withdraw(spec.serviceId, spec.instanceId) };
  }

  /** The instances this node offers (announced or still in their Initial Wait). */
  offered(): OfferSpec[] {
    return [...this.offers.values()].map((o) => o.spec);
  }

  /** The subscriptions to our offers that are acknowledged, as the policy saw them. */
  subscriptions(): SubscribeRequest[] {
    return [...this.providers.values()].filter((p) => p.state === 'acked').map((p) => p.request);
  }

  /** Stops offering an instance: StopOffer (if it was announced) and drops its subscribers. */
  async withdraw(serviceId: number, instanceId: number): Promise<void> {
    const key = instanceKey(serviceId, instanceId);
    const offer = this.offers.get(key);
    if (offer === undefined) return;
    this.offers.delete(key);
    offer.phases.stop();
    this.dropProviderSubscriptions(
      (s) => s.request.serviceId === serviceId && s.request.instanceId === instanceId,
      'withdrawn',
    );
    if (!offer.announced) {
      offer.firstSent.reject(
        new DiscoveryError('ERR_SD_STATE', 'withdrawn before the first Offer was sent'),
      );
      return;
    }
    await this.sendMulticast([
      { entry: { ...offer.entry, type: 'stopOffer', ttl: 0 }, options: offer.options },
    ]);
  }

  /**
   * Availability of matching remote instances: first every instance already known, then each
   * change. While subscribed, the node searches (Initial Wait, then Finds with repetitions,
   * no cyclic Finds) until a matching Offer arrives.
   */
  find(query: FindQuery): Observable<ServiceAvailability> {
    const q: Required<FindQuery> = {
      serviceId: query.serviceId,
      instanceId: query.instanceId ?? ANY_INSTANCE,
      majorVersion: query.majorVersion ?? 0xff,
      minorVersion: query.minorVersion ?? 0xffffffff,
    };
    this.assertRunning('find');
    this.validateOutgoing('find', { entry: this.findEntry(q) });
    return new Observable<ServiceAvailability>((subscriber) => {
      if (this.stopped) {
        subscriber.error(new DiscoveryError('ERR_SD_STATE', 'find: the SD node is stopped'));
        return undefined;
      }
      const sub = this.registry.changes$
        .pipe(filter((c) => matchesFind(q, c.service)))
        .subscribe(subscriber);
      for (const service of this.registry.match(q)) subscriber.next({ available: true, service });
      const release = this.retainFind(q);
      return () => {
        sub.unsubscribe();
        release();
      };
    });
  }

  /**
   * Subscribes to an eventgroup of a service instance. Sends Subscribe to the provider on
   * each of its Offers (and at once if it is already known), StopSubscribe + Subscribe when
   * the previous Subscribe got no Ack, and StopSubscribe when the Observable is unsubscribed.
   */
  subscribe(spec: SubscribeSpec): Observable<SubscriptionEvent> {
    const full: Required<SubscribeSpec> = { endpoints: [], counter: 0, ...spec };
    this.assertRunning('subscribe');
    this.validateOutgoing('subscribe', {
      entry: this.subscribeEntry(full),
      options: full.endpoints,
    });
    return new Observable<SubscriptionEvent>((subscriber) => {
      if (this.stopped) {
        subscriber.error(new DiscoveryError('ERR_SD_STATE', 'subscribe: the SD node is stopped'));
        return undefined;
      }
      // The provider keys a subscription by (subscriber, eventgroup, counter): a second one
      // with the same key would be the same subscription, and its StopSubscribe would end both.
      for (const other of this.consumers) {
        const o = other.spec;
        if (
          o.serviceId === full.serviceId &&
          o.instanceId === full.instanceId &&
          o.eventgroupId === full.eventgroupId &&
          o.counter === full.counter
        ) {
          subscriber.error(
            new DiscoveryError(
              'ERR_SD_STATE',
              `subscribe: eventgroup 0x${hex(full.eventgroupId)} of 0x${hex(full.serviceId)}.0x${hex(full.instanceId)} with counter ${full.counter} is already subscribed; share that Observable or use another counter (0..15)`,
            ),
          );
          return undefined;
        }
      }
      const c: ConsumerSubscription = {
        spec: full,
        events: new Subject<SubscriptionEvent>(),
        provider: undefined,
        acked: false,
        awaitingAck: false,
      };
      const sub = c.events.subscribe(subscriber);
      this.consumers.add(c);
      const found = this.find({
        serviceId: full.serviceId,
        instanceId: full.instanceId,
        majorVersion: full.majorVersion,
      }).subscribe();
      const known = this.registry
        .list()
        .find(
          (s) =>
            s.serviceId === full.serviceId &&
            s.instanceId === full.instanceId &&
            s.majorVersion === full.majorVersion,
        );
      if (known !== undefined) {
        c.provider = known;
        this.track(this.sendUnicast(known.replyTo, this.subscribeEntries(c, false)));
      }
      return () => {
        sub.unsubscribe();
        found.unsubscribe();
        this.consumers.delete(c);
        if (!this.stopped && c.provider !== undefined && (c.acked || c.awaitingAck))
          this.track(this.sendUnicast(c.provider.replyTo, [this.stopSubscribeEntry(c)]));
      };
    });
  }

  /**
   * Stops the node: StopOffer for every announced offer, StopSubscribe for every subscription,
   * subscribers dropped, timers cancelled, Observables completed, the transport closed.
   * Failures are gathered into one `DiscoveryError` (`ERR_SD_TRANSPORT`) with an
   * AggregateError cause.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    const failures: unknown[] = [];
    const stopOffers: PackEntry[] = [];
    for (const offer of this.offers.values()) {
      offer.phases.stop();
      if (offer.announced)
        stopOffers.push({
          entry: { ...offer.entry, type: 'stopOffer', ttl: 0 },
          options: offer.options,
        });
      else
        offer.firstSent.reject(
          new DiscoveryError('ERR_SD_STATE', 'node stopped before the first Offer was sent'),
        );
    }
    this.offers.clear();
    const byProvider = new Map<string, { to: SdAddress; entries: PackEntry[] }>();
    for (const c of this.consumers) {
      if (c.provider === undefined || !(c.acked || c.awaitingAck)) continue;
      const k = `${c.provider.replyTo.address}:${c.provider.replyTo.port}`;
      const group = byProvider.get(k) ?? { to: c.provider.replyTo, entries: [] };
      group.entries.push(this.stopSubscribeEntry(c));
      byProvider.set(k, group);
    }
    const finalSends: Promise<void>[] = [];
    if (stopOffers.length > 0) finalSends.push(this.sendMulticast(stopOffers));
    for (const g of byProvider.values()) finalSends.push(this.sendUnicast(g.to, g.entries));
    this.stopped = true;
    for (const r of await Promise.allSettled([...finalSends, ...this.inflight]))
      if (r.status === 'rejected') failures.push(r.reason);
    this.dropProviderSubscriptions(() => true, 'stopped');
    for (const f of this.finds.values()) f.phases.stop();
    this.finds.clear();
    for (const c of [...this.consumers]) c.events.complete();
    this.consumers.clear();
    for (const s of this.subs) s.unsubscribe();
    this.registry.close();
    try {
      await this.transport.close();
    } catch (e) {
      failures.push(e);
    }
    this.subscribers.complete();
    this.errors.complete();
    if (failures.length > 0)
      throw new DiscoveryError(
        'ERR_SD_TRANSPORT',
        `stop: ${failures.length} teardown step(s) failed`,
        {
          cause: new AggregateError(failures),
        },
      );
  }

  // ---------------------------------------------------------------- receiving

  private receive(d: SdDatagram): void {
    if (this.stopped || d.from.address === this.transport.localAddress.address) return;
    let msg: SdMessage;
    try {
      msg = decodeSdMessage(d.bytes);
    } catch (e) {
      this.report(e, `SD message from ${d.from.address} dropped`);
      return;
    }
    const first = msg.options[0];
    const sdEp =
      first?.type === 'ipv4SdEndpoint' || first?.type === 'ipv6SdEndpoint' ? first : undefined;
    // SD-1090: the SD endpoint option, when present, names the peer for replies and reboots.
    const peer = sdEp?.address ?? d.from.address;
    const replyTo: SdAddress =
      sdEp !== undefined
        ? { address: sdEp.address, port: sdEp.port }
        : { address: d.from.address, port: this.transport.localAddress.port };
    if (
      this.reboots.observe(
        peer,
        d.multicast ? 'multicast' : 'unicast',
        msg.sessionId,
        msg.flags.reboot,
      )
    )
      this.expirePeer(peer);
    const replies: PackEntry[] = [];
    msg.entries.forEach((entry, i) => {
      const problems = checkEntry(msg, i);
      switch (entry.type) {
        case 'find':
          // A Find's endpoint options are ignored, not the Find (SD-878).
          if (problems.every((p) => p.rule === 'no-endpoint-on-find'))
            this.onFind(peer, entry, replies);
          break;
        case 'offer':
          if (problems.length > 0)
            this.report(
              new DiscoveryError('ERR_SD_ENTRY', problems.map((p) => p.message).join('; ')),
              `Offer from ${peer} ignored`,
            );
          else this.onOffer(peer, replyTo, msg, entry, d.multicast, replies);
          break;
        case 'stopOffer':
          this.registry.stopOfferReceived(peer, entry.serviceId, entry.instanceId);
          break;
        case 'subscribe':
          this.onSubscribe(
            peer,
            replyTo,
            msg,
            entry,
            problems.map((p) => p.message),
            d.multicast,
            replies,
          );
          break;
        case 'stopSubscribe':
          this.onStopSubscribe(peer, entry, msg.entries[i + 1]);
          break;
        case 'subscribeAck':
        case 'subscribeNack':
          this.onAck(peer, msg, entry);
          break;
        default:
          // Legacy entry types are tolerated and ignored.
          break;
      }
    });
    if (replies.length > 0) {
      const { requestResponseDelayMin: min, requestResponseDelayMax: max } = this.timing;
      if (d.multicast && max > 0) {
        const delay = min + Math.floor(this.random() * (max - min + 1));
        this.clock.setTimer(delay, () => {
          if (!this.stopped) this.track(this.sendUnicast(replyTo, replies));
        });
      } else {
        this.track(this.sendUnicast(replyTo, replies));
      }
    }
  }

  private onFind(peer: string, find: ServiceEntry, replies: PackEntry[]): void {
    for (const offer of this.offers.values()) {
      const phase = offer.phases.phase;
      if (phase !== 'repetition' && phase !== 'main') continue;
      if (!matchesFind(find, offer.entry)) continue;
      if (this.policy.maySee?.(peer, offer.entry.serviceId, offer.entry.instanceId) === false)
        continue;
      replies.push({ entry: offer.entry, options: offer.options });
    }
  }

  private onOffer(
    peer: string,
    replyTo: SdAddress,
    msg: SdMessage,
    entry: ServiceEntry,
    viaMulticast: boolean,
    replies: PackEntry[],
  ): void {
    if (this.policy.mayOffer?.(peer, entry.serviceId, entry.instanceId) === false) return;
    const options = entryOptions(msg, entry).options;
    const endpoints = options.filter(isEndpoint);
    const bad = endpoints.find((e) => !this.endpointUsable(e));
    if (bad !== undefined) {
      this.report(
        new DiscoveryError(
          'ERR_SD_ENTRY',
          `endpoint ${bad.address}:${bad.port} is not usable (loopback or port 0)`,
        ),
        `Offer from ${peer} ignored`,
      );
      return;
    }
    const service: RemoteService = {
      peer,
      replyTo,
      serviceId: entry.serviceId,
      instanceId: entry.instanceId,
      majorVersion: entry.majorVersion,
      minorVersion: entry.minorVersion,
      ttl: entry.ttl,
      endpoints,
      extraOptions: options.filter((o) => o.type === 'configuration' || o.type === 'loadBalancing'),
    };
    this.registry.offerReceived(service);
    // Finds stop as soon as the Offer arrives (SD-68 client).
    for (const f of this.finds.values()) if (matchesFind(f.query, entry)) f.phases.finish();
    for (const c of this.consumers) {
      const s = c.spec;
      if (
        s.serviceId !== entry.serviceId ||
        s.instanceId !== entry.instanceId ||
        s.majorVersion !== entry.majorVersion
      )
        continue;
      if (c.provider !== undefined && c.provider.peer !== peer && (c.acked || c.awaitingAck))
        continue;
      c.provider = service;
      replies.push(...this.subscribeEntries(c, viaMulticast));
    }
  }

  private onSubscribe(
    peer: string,
    replyTo: SdAddress,
    msg: SdMessage,
    entry: EventgroupEntry,
    problems: string[],
    viaMulticast: boolean,
    replies: PackEntry[],
  ): void {
    const nack = (why: string): void => {
      replies.push({ entry: { ...ackFields(entry), type: 'subscribeNack', ttl: 0 } });
      this.report(new DiscoveryError('ERR_SD_ENTRY', why), `Subscribe from ${peer} nacked`);
    };
    if (viaMulticast) return nack('a Subscribe must arrive by unicast (SD-818)');
    if (problems.length > 0) return nack(problems.join('; '));
    const endpoints = entryOptions(msg, entry).options.filter(isEndpoint);
    const bad = endpoints.find((e) => !this.endpointUsable(e));
    if (bad !== undefined)
      return nack(`endpoint ${bad.address}:${bad.port} is not usable (loopback or port 0)`);
    const offer = this.offers.get(instanceKey(entry.serviceId, entry.instanceId));
    if (offer === undefined || offer.entry.majorVersion !== entry.majorVersion || !offer.announced)
      return nack(
        `service 0x${hex(entry.serviceId)}.0x${hex(entry.instanceId)} v${entry.majorVersion} is not offered here`,
      );
    if (
      offer.spec.eventgroups !== undefined &&
      !offer.spec.eventgroups.includes(entry.eventgroupId)
    )
      return nack(`eventgroup 0x${hex(entry.eventgroupId)} is not offered`);
    if (
      this.policy.mayConsume?.(peer, entry.serviceId, entry.instanceId, entry.eventgroupId) ===
      false
    )
      return nack('policy refuses this consumer');
    const request: SubscribeRequest = {
      peer,
      serviceId: entry.serviceId,
      instanceId: entry.instanceId,
      majorVersion: entry.majorVersion,
      eventgroupId: entry.eventgroupId,
      counter: entry.counter,
      ttl: entry.ttl,
      endpoints,
    };
    const key = providerKey(peer, entry);
    const existing = this.providers.get(key);
    if (
      existing !== undefined &&
      JSON.stringify(existing.request.endpoints) === JSON.stringify(endpoints)
    ) {
      existing.request = request;
      if (existing.state === 'acked') {
        this.armProviderTtl(key, existing);
        replies.push(this.ackEntry(entry, existing.multicast));
      }
      return;
    }
    if (existing !== undefined) this.endProviderSubscription(key, existing, 'replaced');
    const sub: ProviderSubscription = {
      request,
      replyTo,
      state: 'pending',
      multicast: undefined,
      timer: undefined,
    };
    this.providers.set(key, sub);
    const decide: Promise<SubscribeDecision> =
      this.policy.onSubscribe === undefined
        ? Promise.resolve({ accept: true })
        : Promise.resolve().then(() =>
            (this.policy.onSubscribe as NonNullable<SdPolicy['onSubscribe']>)(request),
          );
    decide
      .catch((e: unknown): SubscribeDecision => ({
        accept: false,
        reason: e instanceof Error ? e.message : String(e),
      }))
      .then((d) => {
        if (this.stopped || this.providers.get(key) !== sub) return;
        if (d.accept) {
          sub.state = 'acked';
          sub.multicast = d.multicast;
          this.armProviderTtl(key, sub);
          this.subscribers.next({ type: 'subscribed', request: sub.request });
          this.track(
            this.sendUnicast(replyTo, [this.ackEntry(entry, d.multicast, sub.request.ttl)]),
          );
        } else {
          this.providers.delete(key);
          this.report(
            new DiscoveryError('ERR_SD_ENTRY', d.reason),
            `Subscribe from ${peer} nacked`,
          );
          this.track(
            this.sendUnicast(replyTo, [
              { entry: { ...ackFields(entry), type: 'subscribeNack', ttl: 0 } },
            ]),
          );
        }
      });
  }

  private onStopSubscribe(peer: string, entry: EventgroupEntry, next: SdEntry | undefined): void {
    const key = providerKey(peer, entry);
    const sub = this.providers.get(key);
    if (sub === undefined) return;
    // A StopSubscribe+Subscribe pair (SD-844) while our answer is still being prepared (the
    // broker is setting up the channel) renews that same request instead of restarting it.
    if (sub.state === 'pending' && next?.type === 'subscribe' && providerKey(peer, next) === key)
      return;
    this.endProviderSubscription(key, sub, 'stopSubscribe');
  }

  private onAck(peer: string, msg: SdMessage, entry: EventgroupEntry): void {
    for (const c of this.consumers) {
      const s = c.spec;
      if (
        c.provider?.peer !== peer ||
        s.serviceId !== entry.serviceId ||
        s.instanceId !== entry.instanceId ||
        s.majorVersion !== entry.majorVersion ||
        s.eventgroupId !== entry.eventgroupId ||
        s.counter !== entry.counter
      )
        continue;
      c.awaitingAck = false;
      if (entry.type === 'subscribeAck') {
        const multicast = entryOptions(msg, entry).options.find(
          (o): o is MulticastOption => o.type === 'ipv4Multicast' || o.type === 'ipv6Multicast',
        );
        if (!c.acked) {
          c.acked = true;
          c.events.next({
            state: 'subscribed',
            provider: c.provider,
            ...(multicast === undefined ? {} : { multicast }),
          });
        }
      } else {
        c.acked = false;
        c.events.next({ state: 'nacked', provider: c.provider });
      }
    }
  }

  private availabilityChanged(c: ServiceAvailability): void {
    if (c.available) return;
    for (const sub of this.consumers) {
      if (
        sub.provider?.peer !== c.service.peer ||
        sub.spec.serviceId !== c.service.serviceId ||
        sub.spec.instanceId !== c.service.instanceId
      )
        continue;
      const provider = sub.provider;
      sub.acked = false;
      sub.awaitingAck = false;
      sub.provider = undefined;
      if (c.reason !== 'stopped') sub.events.next({ state: 'lost', provider, reason: c.reason });
    }
  }

  /** A peer rebooted: everything learnt from it, and everything it subscribed, expires. */
  private expirePeer(peer: string): void {
    this.registry.expirePeer(peer);
    this.dropProviderSubscriptions((s) => s.request.peer === peer, 'peerRebooted');
  }

  // ---------------------------------------------------------------- provider subscriptions

  private armProviderTtl(key: string, sub: ProviderSubscription): void {
    sub.timer?.cancel();
    sub.timer =
      sub.request.ttl === 0xffffff
        ? undefined
        : this.clock.setTimer(sub.request.ttl * 1000, () => {
            if (this.providers.get(key) === sub)
              this.endProviderSubscription(key, sub, 'ttlExpired');
          });
  }

  private endProviderSubscription(key: string, sub: ProviderSubscription, reason: string): void {
    sub.timer?.cancel();
    this.providers.delete(key);
    if (sub.state !== 'acked') return;
    this.subscribers.next({ type: 'unsubscribed', request: sub.request, reason });
    try {
      this.policy.onUnsubscribe?.(sub.request, reason);
    } catch (e) {
      this.report(e, 'policy onUnsubscribe failed');
    }
  }

  private dropProviderSubscriptions(
    which: (s: ProviderSubscription) => boolean,
    reason: string,
  ): void {
    for (const [key, sub] of [...this.providers])
      if (which(sub)) this.endProviderSubscription(key, sub, reason);
  }

  // ---------------------------------------------------------------- finds

  private retainFind(q: Required<FindQuery>): () => void {
    const key = `${q.serviceId}|${q.instanceId}|${q.majorVersion}|${q.minorVersion}`;
    let f = this.finds.get(key);
    if (f === undefined) {
      const entry = this.findEntry(q);
      f = {
        query: q,
        refs: 0,
        phases: new AnnouncePhases(this.clock, this.timing, this.random, false, () => {
          this.track(this.sendMulticast([{ entry }]));
        }),
      };
      this.finds.set(key, f);
    }
    // A new request searches unless the service is known (a finished search restarts).
    if (
      this.registry.match(q).length === 0 &&
      f.phases.phase !== 'initialWait' &&
      f.phases.phase !== 'repetition'
    ) {
      f.phases.stop();
      f.phases.start();
    }
    f.refs++;
    const state = f;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--state.refs === 0) {
        state.phases.stop();
        this.finds.delete(key);
      }
    };
  }

  // ---------------------------------------------------------------- entries

  private findEntry(q: Required<FindQuery>): SdEntryFields {
    return { type: 'find', ...q, ttl: this.timing.findTtl };
  }

  private subscribeEntry(s: Required<SubscribeSpec>): SdEntryFields {
    return {
      type: 'subscribe',
      serviceId: s.serviceId,
      instanceId: s.instanceId,
      majorVersion: s.majorVersion,
      ttl: this.timing.subscribeTtl,
      initialDataRequested: false,
      counter: s.counter,
      eventgroupId: s.eventgroupId,
    };
  }

  /** Subscribe, preceded by StopSubscribe when the last one got no Ack (SD-844; not for unicast Offers). */
  private subscribeEntries(c: ConsumerSubscription, viaMulticast: boolean): PackEntry[] {
    const out: PackEntry[] = [];
    if (c.awaitingAck && viaMulticast) out.push(this.stopSubscribeEntry(c));
    out.push({ entry: this.subscribeEntry(c.spec), options: c.spec.endpoints });
    c.awaitingAck = true;
    return out;
  }

  /** StopSubscribe references the same options as its Subscribe (SD-1177). */
  private stopSubscribeEntry(c: ConsumerSubscription): PackEntry {
    return {
      entry: { ...this.subscribeEntry(c.spec), type: 'stopSubscribe', ttl: 0 } as SdEntryFields,
      options: c.spec.endpoints,
    };
  }

  /** Ack copies ids, TTL, reserved, I-flag and counter from the Subscribe (SD-614). */
  private ackEntry(
    entry: EventgroupEntry,
    multicast: MulticastOption | undefined,
    ttl = entry.ttl,
  ): PackEntry {
    return {
      entry: { ...ackFields(entry), type: 'subscribeAck', ttl },
      options: multicast === undefined ? [] : [multicast],
    };
  }

  // ---------------------------------------------------------------- sending

  private validateOutgoing(what: string, pe: PackEntry): void {
    const problems = checkSdMessage(
      packSdMessage({
        sessionId: 1,
        flags: { reboot: false, unicast: true, explicitInitialDataControl: false },
        entries: [pe],
      }),
    );
    if (problems.length > 0)
      throw new DiscoveryError(
        'ERR_SD_INPUT',
        `${what}: ${problems.map((p) => p.message).join('; ')}`,
      );
    if (what !== 'find') {
      const bad = (pe.options ?? []).filter(isEndpoint).find((e) => !this.endpointUsable(e));
      if (bad !== undefined)
        throw new DiscoveryError(
          'ERR_SD_INPUT',
          `${what}: endpoint ${bad.address}:${bad.port} is loopback or port 0 (allowed loopback: ${this.allowLoopback})`,
        );
    }
  }

  private sendMulticast(entries: PackEntry[]): Promise<void> {
    return this.send('multicast', undefined, entries);
  }

  private sendUnicast(to: SdAddress, entries: PackEntry[]): Promise<void> {
    return this.send(`unicast|${to.address}:${to.port}`, to, entries);
  }

  private async send(
    relation: string,
    to: SdAddress | undefined,
    entries: PackEntry[],
  ): Promise<void> {
    if (this.stopped) return;
    const { sessionId, reboot } = this.sessions.next(
      this.transport.singleRelation === true ? 'link' : relation,
    );
    const msg = packSdMessage({
      sessionId,
      flags: { reboot, unicast: true, explicitInitialDataControl: false },
      entries,
      ...(this.sdEndpoint === undefined ? {} : { sdEndpoint: this.sdEndpoint }),
    });
    await this.transport.send(encodeSdMessage(msg), to);
  }

  /** Keeps a fire-and-forget send visible to `stop()` and its failure on `errors$`. */
  private track(p: Promise<void>): void {
    const t = p.catch((e: unknown) => this.report(e, 'SD send failed'));
    this.inflight.add(t);
    void t.finally(() => this.inflight.delete(t));
  }

  private report(e: unknown, context: string): void {
    const err = DiscoveryError.is(e)
      ? new DiscoveryError(e.code, `${context}: ${e.message}`, {
          cause: e,
          ...(e.offset === undefined ? {} : { offset: e.offset }),
        })
      : new DiscoveryError('ERR_SD_TRANSPORT', `${context}: ${String(e)}`, { cause: e });
    this.errors.next(err);
  }

  private endpointUsable(e: EndpointOption): boolean {
    if (e.port === 0) return false;
    return this.allowLoopback || !isLoopback(e.address);
  }

  private assertRunning(what: string): void {
    if (this.stopped) throw new DiscoveryError('ERR_SD_STATE', `${what}: the SD node is stopped`);
  }
}

function isEndpoint(o: SdOption): o is EndpointOption {
  return o.type === 'ipv4Endpoint' || o.type === 'ipv6Endpoint';
}

function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1';
}

function ackFields(e: EventgroupEntry): Omit<EventgroupEntry, 'type' | 'ttl' | 'run1' | 'run2'> {
  return {
    serviceId: e.serviceId,
    instanceId: e.instanceId,
    majorVersion: e.majorVersion,
    initialDataRequested: e.initialDataRequested,
    counter: e.counter,
    eventgroupId: e.eventgroupId,
  };
}

function instanceKey(serviceId: number, instanceId: number): string {
  return `${serviceId}|${instanceId}`;
}

function providerKey(peer: string, e: EventgroupEntry): string {
  return `${peer}|${e.serviceId}|${e.instanceId}|${e.eventgroupId}|${e.counter}`;
}

function hex(v: number): string {
  return v.toString(16).padStart(4, '0');
}
