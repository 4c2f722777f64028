import { Observable, Subject, type Subscription } from 'rxjs';
import { DiscoveryError } from '../errors/discovery-error.js';
import type { SdAddress } from '../transport/sd-transport.js';
import { isEndpointOption, type EndpointOption } from '../wire/endpoint-option.js';
import type { EventgroupEntry } from '../wire/eventgroup-entry.js';
import type { MulticastOption } from '../wire/multicast-option.js';
import { entryOptions } from '../wire/sd-checks.js';
import type { SdMessage } from '../wire/sd-message.js';
import type { PackEntry, SdEntryFields } from '../wire/sd-packer.js';
import type { ServiceEntry } from '../wire/service-entry.js';
import { AnnounceSchedule } from './announce-schedule.js';
import { countQuery, coveringQuery, type FindState } from './find-state.js';
import { FindWatchers } from './find-watchers.js';
import { hexId as hex } from './hex-id.js';
import { KeyedSets } from './keyed-sets.js';
import type { SdEndpoint, SdReceived } from './sd-endpoint.js';
import { SdRegistry } from './sd-registry.js';
import {
  matchesFind,
  type FindQuery,
  type RemoteService,
  type ServiceAvailability,
  type UnavailableReason,
} from './service-types.js';

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
  /**
   * Subscribe only at this offering node (`RemoteService.peer`), e.g. the one `chooseProvider`
   * picked among several offering the instance; by default the first one known.
   */
  readonly provider?: string;
}

/** A subscription's spec with its defaults filled in (`provider` stays optional). */
type FullSubscribeSpec = Required<Omit<SubscribeSpec, 'provider'>> &
  Pick<SubscribeSpec, 'provider'>;

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

/** One of our eventgroup subscriptions. */
interface EventgroupSubscription {
  readonly spec: FullSubscribeSpec;
  readonly events: Subject<SubscriptionEvent>;
  provider: RemoteService | undefined;
  acked: boolean;
  awaitingAck: boolean;
}

const ANY_INSTANCE = 0xffff;

/** The key of one service instance in the subscription index. */
const instanceKey = (serviceId: number, instanceId: number): string => `${serviceId}|${instanceId}`;

/**
 * The client side of an SD agent: learns remote offers into its registry, searches for
 * services (Finds with repetitions until an Offer arrives), and keeps our eventgroup
 * subscriptions, re-subscribing on each Offer of the provider.
 */
export class SdConsumer {
  /** Remote offers known to this agent. */
  readonly registry: SdRegistry;
  /** The search of each service, by service id. */
  private readonly finds = new Map<number, FindState>();
  /** Searches started together share one Initial Wait and go out in one message per phase. */
  private readonly searching: AnnounceSchedule<FindState>;
  private readonly subscriptions = new Set<EventgroupSubscription>();
  /**
   * The subscriptions by instance: an Offer or Ack entry visits only its instance's, not every
   * subscription (with hundreds of instances that made each SD cycle quadratic).
   */
  private readonly subscriptionsAt = new KeyedSets<EventgroupSubscription>();
  private readonly watching: Subscription;
  /** The `find()` callers, reached by instance (after `watching`, as their own subscriptions were). */
  private readonly findWatchers: FindWatchers;

  constructor(private readonly endpoint: SdEndpoint) {
    this.registry = new SdRegistry(endpoint.clock);
    this.searching = new AnnounceSchedule<FindState>(
      endpoint.clock,
      endpoint.timing,
      endpoint.random,
      false,
      (due) => endpoint.track(endpoint.sendMulticast(due.map((f) => ({ entry: f.entry })))),
    );
    this.watching = this.registry.changes$.subscribe((c) => this.availabilityChanged(c));
    this.findWatchers = new FindWatchers(this.registry.changes$);
  }

  /** See `SdAgent.find`. */
  find(query: FindQuery): Observable<ServiceAvailability> {
    const ep = this.endpoint;
    const q: Required<FindQuery> = {
      serviceId: query.serviceId,
      instanceId: query.instanceId ?? ANY_INSTANCE,
      majorVersion: query.majorVersion ?? 0xff,
      minorVersion: query.minorVersion ?? 0xffffffff,
    };
    ep.assertRunning('find');
    ep.validateOutgoing('find', { entry: this.findEntry(q) });
    return new Observable<ServiceAvailability>((subscriber) => {
      if (ep.stopped) {
        subscriber.error(new DiscoveryError('ERR_SD_STATE', 'find: the SD agent is stopped'));
        return undefined;
      }
      const unwatch = this.findWatchers.watch(q, subscriber);
      for (const service of this.registry.match(q)) subscriber.next({ available: true, service });
      const release = this.retainFind(q);
      return () => {
        unwatch();
        release();
      };
    });
  }

  /** See `SdAgent.subscribe`. */
  subscribe(spec: SubscribeSpec): Observable<SubscriptionEvent> {
    const ep = this.endpoint;
    const full: FullSubscribeSpec = { endpoints: [], counter: 0, ...spec };
    ep.assertRunning('subscribe');
    ep.validateOutgoing('subscribe', {
      entry: this.subscribeEntry(full),
      options: full.endpoints,
    });
    return new Observable<SubscriptionEvent>((subscriber) => {
      if (ep.stopped) {
        subscriber.error(new DiscoveryError('ERR_SD_STATE', 'subscribe: the SD agent is stopped'));
        return undefined;
      }
      const taken = this.alreadySubscribed(full);
      if (taken !== undefined) {
        subscriber.error(taken);
        return undefined;
      }
      const c: EventgroupSubscription = {
        spec: full,
        events: new Subject<SubscriptionEvent>(),
        provider: undefined,
        acked: false,
        awaitingAck: false,
      };
      const sub = c.events.subscribe(subscriber);
      const at = instanceKey(full.serviceId, full.instanceId);
      this.subscriptions.add(c);
      this.subscriptionsAt.add(at, c);
      const found = this.find({
        serviceId: full.serviceId,
        instanceId: full.instanceId,
        majorVersion: full.majorVersion,
      }).subscribe();
      // The instance's offers only (a scan of every known offer per subscribe was quadratic).
      const known = this.registry
        .match({
          serviceId: full.serviceId,
          instanceId: full.instanceId,
          majorVersion: 0xff,
          minorVersion: 0xffffffff,
        })
        .find(
          (s) =>
            s.serviceId === full.serviceId &&
            s.instanceId === full.instanceId &&
            s.majorVersion === full.majorVersion &&
            (full.provider === undefined || s.peer === full.provider),
        );
      if (known !== undefined) {
        c.provider = known;
        ep.track(ep.sendUnicast(known.replyTo, this.subscribeEntries(c, false)));
      }
      return () => {
        sub.unsubscribe();
        found.unsubscribe();
        this.subscriptions.delete(c);
        this.subscriptionsAt.delete(at, c);
        if (!ep.stopped && c.provider !== undefined && (c.acked || c.awaitingAck))
          ep.track(ep.sendUnicast(c.provider.replyTo, [this.stopSubscribeEntry(c)]));
      };
    });
  }

  /**
   * The provider keys a subscription by (subscriber, eventgroup, counter): a second one with
   * the same key would be the same subscription, and its StopSubscribe would end both.
   */
  private alreadySubscribed(full: FullSubscribeSpec): DiscoveryError | undefined {
    for (const other of this.subscriptionsAt.get(instanceKey(full.serviceId, full.instanceId))) {
      const o = other.spec;
      if (
        o.serviceId === full.serviceId &&
        o.instanceId === full.instanceId &&
        o.eventgroupId === full.eventgroupId &&
        o.counter === full.counter
      )
        return new DiscoveryError(
          'ERR_SD_STATE',
          `subscribe: eventgroup 0x${hex(full.eventgroupId)} of 0x${hex(full.serviceId)}.0x${hex(full.instanceId)} with counter ${full.counter} is already subscribed; share that Observable or use another counter (0..15)`,
        );
    }
    return undefined;
  }

  // ---------------------------------------------------------------- receiving

  /** An Offer: learn it, end matching searches, and (re)subscribe the subscriptions it serves. */
  offerReceived(rx: SdReceived, entry: ServiceEntry, replies: PackEntry[]): void {
    const { peer } = rx;
    if (this.endpoint.policy.mayOffer?.(peer, entry.serviceId, entry.instanceId) === false) return;
    const options = entryOptions(rx.msg, entry).options;
    const endpoints = options.filter(isEndpointOption);
    const bad = endpoints.find((e) => !this.endpoint.endpointUsable(e));
    if (bad !== undefined) {
      this.endpoint.report(
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
      replyTo: rx.replyTo,
      serviceId: entry.serviceId,
      instanceId: entry.instanceId,
      majorVersion: entry.majorVersion,
      minorVersion: entry.minorVersion,
      ttl: entry.ttl,
      endpoints,
      // Kept and passed on (hostd relays them; an app may read them): configuration, load
      // balancing and options this codec does not know (PRS_SOMEIPSD: an unknown option is
      // ignored, not a reason to drop the entry).
      extraOptions: options.filter(
        (o) => o.type === 'configuration' || o.type === 'loadBalancing' || o.type === 'unknown',
      ),
    };
    this.registry.offerReceived(service);
    // Finds stop as soon as the Offer arrives (SD-68 client): once every caller is answered.
    const f = this.finds.get(entry.serviceId);
    if (f !== undefined && f.unanswered.size > 0) {
      for (const k of f.unanswered)
        if (matchesFind(f.queries.get(k)!.query, entry)) f.unanswered.delete(k);
      if (f.unanswered.size === 0) this.searching.finish(f);
    }
    for (const c of this.subscriptionsAt.get(instanceKey(entry.serviceId, entry.instanceId))) {
      const s = c.spec;
      if (
        s.serviceId !== entry.serviceId ||
        s.instanceId !== entry.instanceId ||
        s.majorVersion !== entry.majorVersion
      )
        continue;
      if (s.provider !== undefined && s.provider !== peer) continue;
      if (c.provider !== undefined && c.provider.peer !== peer && (c.acked || c.awaitingAck))
        continue;
      c.provider = service;
      replies.push(...this.subscribeEntries(c, rx.multicast));
    }
  }

  stopOfferReceived(peer: string, entry: ServiceEntry): void {
    this.registry.stopOfferReceived(peer, entry.serviceId, entry.instanceId);
  }

  /** A SubscribeAck or SubscribeNack for one of our subscriptions. */
  ackReceived(peer: string, msg: SdMessage, entry: EventgroupEntry): void {
    for (const c of this.subscriptionsAt.get(instanceKey(entry.serviceId, entry.instanceId))) {
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

  /** Everything learnt from `peer` expires. */
  peerRebooted(peer: string): void {
    this.registry.expirePeer(peer);
  }

  private availabilityChanged(c: ServiceAvailability): void {
    if (c.available) return;
    for (const sub of this.subscriptions) {
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

  // ---------------------------------------------------------------- finds

  private retainFind(q: Required<FindQuery>): () => void {
    const key = `${q.instanceId}|${q.majorVersion}|${q.minorVersion}`;
    let f = this.finds.get(q.serviceId);
    if (f === undefined) {
      f = {
        serviceId: q.serviceId,
        queries: new Map(),
        unanswered: new Set(),
        values: { instanceId: new Map(), majorVersion: new Map(), minorVersion: new Map() },
        entry: this.findEntry(q),
      };
      this.finds.set(q.serviceId, f);
    }
    const held = f.queries.get(key) ?? { query: q, refs: 0 };
    if (held.refs++ === 0) countQuery(f, held.query, 1);
    f.queries.set(key, held);
    f.entry = this.findEntry(coveringQuery(f));
    // A new request searches unless it is answered already (a finished search restarts).
    const phase = this.searching.phaseOf(f);
    if (this.registry.match(q).length === 0) {
      f.unanswered.add(key);
      if (phase !== 'initialWait' && phase !== 'repetition') {
        this.searching.remove(f);
        this.searching.add(f);
      }
    }
    const state = f;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--held.refs === 0) {
        countQuery(state, held.query, -1);
        state.queries.delete(key);
        state.unanswered.delete(key);
      }
      if (state.queries.size === 0) {
        this.searching.remove(state);
        this.finds.delete(state.serviceId);
        return;
      }
      state.entry = this.findEntry(coveringQuery(state));
      if (state.unanswered.size === 0) this.searching.finish(state);
    };
  }

  // ---------------------------------------------------------------- entries

  private findEntry(q: Required<FindQuery>): SdEntryFields {
    return { type: 'find', ...q, ttl: this.endpoint.timing.findTtl };
  }

  private subscribeEntry(s: FullSubscribeSpec): SdEntryFields {
    return {
      type: 'subscribe',
      serviceId: s.serviceId,
      instanceId: s.instanceId,
      majorVersion: s.majorVersion,
      ttl: this.endpoint.timing.subscribeTtl,
      initialDataRequested: false,
      counter: s.counter,
      eventgroupId: s.eventgroupId,
    };
  }

  /** Subscribe, preceded by StopSubscribe when the last one got no Ack (SD-844; not for unicast Offers). */
  private subscribeEntries(c: EventgroupSubscription, viaMulticast: boolean): PackEntry[] {
    const out: PackEntry[] = [];
    if (c.awaitingAck && viaMulticast) out.push(this.stopSubscribeEntry(c));
    out.push({ entry: this.subscribeEntry(c.spec), options: c.spec.endpoints });
    c.awaitingAck = true;
    return out;
  }

  /** StopSubscribe references the same options as its Subscribe (SD-1177). */
  private stopSubscribeEntry(c: EventgroupSubscription): PackEntry {
    return {
      entry: { ...this.subscribeEntry(c.spec), type: 'stopSubscribe', ttl: 0 } as SdEntryFields,
      options: c.spec.endpoints,
    };
  }

  // ---------------------------------------------------------------- stopping

  /**
   * First step of the agent's stop: the StopSubscribe entries of every subscription that is
   * acknowledged or waiting for its Ack, grouped per provider (one message each).
   */
  retireSubscriptions(): { to: SdAddress; entries: PackEntry[] }[] {
    const byProvider = new Map<string, { to: SdAddress; entries: PackEntry[] }>();
    for (const c of this.subscriptions) {
      if (c.provider === undefined || !(c.acked || c.awaitingAck)) continue;
      const k = `${c.provider.replyTo.address}:${c.provider.replyTo.port}`;
      const group = byProvider.get(k) ?? { to: c.provider.replyTo, entries: [] };
      group.entries.push(this.stopSubscribeEntry(c));
      byProvider.set(k, group);
    }
    return [...byProvider.values()];
  }

  /** After the final sends: searches end, subscriptions complete, the registry forgets all. */
  close(): void {
    this.searching.stopAll();
    this.finds.clear();
    for (const c of [...this.subscriptions]) c.events.complete();
    this.subscriptions.clear();
    this.subscriptionsAt.clear();
    this.watching.unsubscribe();
    this.registry.close();
  }
}
