import { Subject, type Observable } from 'rxjs';
import { DiscoveryError } from '../errors/discovery-error.js';
import type { SdAddress } from '../transport/sd-transport.js';
import { isEndpointOption, type EndpointOption } from '../wire/endpoint-option.js';
import type { SdEntry } from '../wire/entry.js';
import type { EventgroupEntry } from '../wire/eventgroup-entry.js';
import type { MulticastOption } from '../wire/multicast-option.js';
import type { SdOption } from '../wire/option.js';
import { entryOptions } from '../wire/sd-checks.js';
import type { PackEntry } from '../wire/sd-packer.js';
import type { ServiceEntry } from '../wire/service-entry.js';
import { AnnounceSchedule } from './announce-schedule.js';
import type { SdTimer } from './clock.js';
import { hexId as hex } from './hex-id.js';
import type { SdEndpoint, SdReceived } from './sd-endpoint.js';
import type { SdPolicy, SubscribeDecision, SubscribeRequest } from './sd-policy.js';
import { matchesFind, type OfferSpec } from './service-types.js';

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

/** The result of `register()`: the offer is scheduled; `announced` settles with its first Offer. */
export interface OfferRegistration extends OfferHandle {
  /**
   * Resolves once the first Offer is out; rejects when it could not be sent (the instance is
   * then forgotten, so it can be registered again) or the offer was withdrawn before.
   */
  readonly announced: Promise<void>;
}

interface LocalOffer {
  readonly key: string;
  readonly spec: OfferSpec;
  readonly entry: Omit<ServiceEntry, 'run1' | 'run2'>;
  readonly options: readonly SdOption[];
  announced: boolean;
  firstSent: { resolve(): void; reject(e: unknown): void };
}

/** A remote consumer's subscription to one of our eventgroups. */
interface Subscriber {
  request: SubscribeRequest;
  readonly replyTo: SdAddress;
  state: 'pending' | 'acked';
  multicast: MulticastOption | undefined;
  timer: SdTimer | undefined;
}

/**
 * The server side of an SD agent: announces our offers (Initial Wait, Repetition, Main phase),
 * answers Finds for them, and keeps the soft state of who subscribed to which eventgroup,
 * asking the policy before each Ack.
 */
export class SdProvider {
  private readonly offers = new Map<string, LocalOffer>();
  private readonly subscribers = new Map<string, Subscriber>();
  private readonly subscriberEvents = new Subject<SubscriberEvent>();
  private readonly schedule: AnnounceSchedule<LocalOffer>;

  /** Subscriptions to our offers starting and ending. */
  readonly subscribers$: Observable<SubscriberEvent> = this.subscriberEvents.asObservable();

  constructor(private readonly endpoint: SdEndpoint) {
    this.schedule = new AnnounceSchedule<LocalOffer>(
      endpoint.clock,
      endpoint.timing,
      endpoint.random,
      true,
      (due) => this.announce(due),
    );
  }

  // ---------------------------------------------------------------- offers

  /** See `SdAgent.offer`. */
  async offer(spec: OfferSpec): Promise<OfferHandle> {
    const registration = this.register(spec);
    await registration.announced;
    return { withdraw: registration.withdraw };
  }

  /** See `SdAgent.register`. */
  register(spec: OfferSpec): OfferRegistration {
    const ep = this.endpoint;
    ep.assertRunning('offer');
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
      ttl: spec.ttl ?? ep.timing.offerTtl,
      minorVersion: spec.minorVersion,
    };
    const options = [...spec.endpoints, ...(spec.extraOptions ?? [])];
    ep.validateOutgoing('offer', { entry, options });
    for (const g of spec.eventgroups ?? [])
      if (!Number.isInteger(g) || g < 0 || g > 0xffff)
        throw new DiscoveryError('ERR_SD_INPUT', `offer: eventgroup ${g} is outside 0..0xFFFF`);
    let firstSent!: LocalOffer['firstSent'];
    const announced = new Promise<void>((resolve, reject) => (firstSent = { resolve, reject }));
    // Nobody may be listening yet (the caller awaits it later, or never): not an unhandled rejection.
    announced.catch(() => undefined);
    const offer: LocalOffer = { key, spec, entry, options, announced: false, firstSent };
    this.offers.set(key, offer);
    this.schedule.add(offer);
    return {
      announced,
      withdraw: () => this.withdraw(spec.serviceId, spec.instanceId),
    };
  }

  /**
   * The offers due together (one batch's Initial Wait or repetition, or the shared Main Phase
   * cycle) go out in one message; the first one of each settles its `announced`.
   */
  private announce(due: LocalOffer[]): void {
    const sent = this.endpoint.sendMulticast(
      due.map((o) => ({ entry: o.entry, options: o.options })),
    );
    const first = due.filter((o) => !o.announced);
    for (const o of first) o.announced = true;
    if (first.length === 0) {
      this.endpoint.track(sent);
      return;
    }
    sent.then(
      () => {
        for (const o of first) o.firstSent.resolve();
      },
      (e: unknown) => {
        for (const o of first) {
          // The instance never became visible: forget it so that it can be offered again.
          this.schedule.remove(o);
          if (this.offers.get(o.key) === o) this.offers.delete(o.key);
          o.firstSent.reject(e);
        }
      },
    );
  }

  /** The instances offered (announced or still in their Initial Wait). */
  offered(): OfferSpec[] {
    return [...this.offers.values()].map((o) => o.spec);
  }

  /** The subscriptions to our offers that are acknowledged, as the policy saw them. */
  subscriptions(): SubscribeRequest[] {
    return [...this.subscribers.values()].filter((p) => p.state === 'acked').map((p) => p.request);
  }

  /** See `SdAgent.withdraw`. */
  async withdraw(serviceId: number, instanceId: number): Promise<void> {
    const key = instanceKey(serviceId, instanceId);
    const offer = this.offers.get(key);
    if (offer === undefined) return;
    this.offers.delete(key);
    this.schedule.remove(offer);
    this.dropSubscribers(
      (s) => s.request.serviceId === serviceId && s.request.instanceId === instanceId,
      'withdrawn',
    );
    if (!offer.announced) {
      offer.firstSent.reject(
        new DiscoveryError('ERR_SD_STATE', 'withdrawn before the first Offer was sent'),
      );
      return;
    }
    await this.endpoint.sendMulticast([
      { entry: { ...offer.entry, type: 'stopOffer', ttl: 0 }, options: offer.options },
    ]);
  }

  /** A Find: every matching offer past its Initial Wait that the policy lets `peer` see. */
  answerFind(peer: string, find: ServiceEntry, replies: PackEntry[]): void {
    for (const offer of this.offers.values()) {
      const phase = this.schedule.phaseOf(offer);
      if (phase !== 'repetition' && phase !== 'main') continue;
      if (!matchesFind(find, offer.entry)) continue;
      if (
        this.endpoint.policy.maySee?.(peer, offer.entry.serviceId, offer.entry.instanceId) === false
      )
        continue;
      replies.push({ entry: offer.entry, options: offer.options });
    }
  }

  // ---------------------------------------------------------------- subscribers

  /** A Subscribe: Nack at once when it breaks a rule, else renew it or ask the policy. */
  subscribeReceived(
    rx: SdReceived,
    entry: EventgroupEntry,
    problems: string[],
    replies: PackEntry[],
  ): void {
    const { peer, replyTo } = rx;
    const admitted = this.admit(rx, entry, problems);
    if (typeof admitted === 'string') {
      replies.push({ entry: { ...ackFields(entry), type: 'subscribeNack', ttl: 0 } });
      this.endpoint.report(
        new DiscoveryError('ERR_SD_ENTRY', admitted),
        `Subscribe from ${peer} nacked`,
      );
      return;
    }
    const request: SubscribeRequest = {
      peer,
      serviceId: entry.serviceId,
      instanceId: entry.instanceId,
      majorVersion: entry.majorVersion,
      eventgroupId: entry.eventgroupId,
      counter: entry.counter,
      ttl: entry.ttl,
      endpoints: admitted,
    };
    const key = subscriberKey(peer, entry);
    const existing = this.subscribers.get(key);
    if (
      existing !== undefined &&
      JSON.stringify(existing.request.endpoints) === JSON.stringify(admitted)
    ) {
      existing.request = request;
      if (existing.state === 'acked') {
        this.armTtl(key, existing);
        replies.push(ackEntry(entry, existing.multicast));
      }
      return;
    }
    if (existing !== undefined) this.endSubscriber(key, existing, 'replaced');
    const sub: Subscriber = {
      request,
      replyTo,
      state: 'pending',
      multicast: undefined,
      timer: undefined,
    };
    this.subscribers.set(key, sub);
    this.decide(key, sub, entry);
  }

  /** The endpoints a Subscribe asks events on, or why it is refused. */
  private admit(
    rx: SdReceived,
    entry: EventgroupEntry,
    problems: string[],
  ): EndpointOption[] | string {
    if (rx.multicast) return 'a Subscribe must arrive by unicast (SD-818)';
    if (problems.length > 0) return problems.join('; ');
    const endpoints = entryOptions(rx.msg, entry).options.filter(isEndpointOption);
    const bad = endpoints.find((e) => !this.endpoint.endpointUsable(e));
    if (bad !== undefined)
      return `endpoint ${bad.address}:${bad.port} is not usable (loopback or port 0)`;
    const offer = this.offers.get(instanceKey(entry.serviceId, entry.instanceId));
    if (offer === undefined || offer.entry.majorVersion !== entry.majorVersion || !offer.announced)
      return `service 0x${hex(entry.serviceId)}.0x${hex(entry.instanceId)} v${entry.majorVersion} is not offered here`;
    if (
      offer.spec.eventgroups !== undefined &&
      !offer.spec.eventgroups.includes(entry.eventgroupId)
    )
      return `eventgroup 0x${hex(entry.eventgroupId)} is not offered`;
    const policy = this.endpoint.policy;
    if (
      policy.mayConsume?.(rx.peer, entry.serviceId, entry.instanceId, entry.eventgroupId) === false
    )
      return 'policy refuses this consumer';
    return endpoints;
  }

  /** Asks the policy (asynchronously) and answers with an Ack or a Nack unless `sub` ended meanwhile. */
  private decide(key: string, sub: Subscriber, entry: EventgroupEntry): void {
    const ep = this.endpoint;
    const { request, replyTo } = sub;
    const decision: Promise<SubscribeDecision> =
      ep.policy.onSubscribe === undefined
        ? Promise.resolve({ accept: true })
        : Promise.resolve().then(() =>
            (ep.policy.onSubscribe as NonNullable<SdPolicy['onSubscribe']>)(request),
          );
    decision
      .catch((e: unknown): SubscribeDecision => ({
        accept: false,
        reason: e instanceof Error ? e.message : String(e),
      }))
      .then((d) => {
        if (ep.stopped || this.subscribers.get(key) !== sub) return;
        if (d.accept) {
          sub.state = 'acked';
          sub.multicast = d.multicast;
          this.armTtl(key, sub);
          this.subscriberEvents.next({ type: 'subscribed', request: sub.request });
          ep.track(ep.sendUnicast(replyTo, [ackEntry(entry, d.multicast, sub.request.ttl)]));
        } else {
          this.subscribers.delete(key);
          ep.report(
            new DiscoveryError('ERR_SD_ENTRY', d.reason),
            `Subscribe from ${request.peer} nacked`,
          );
          ep.track(
            ep.sendUnicast(replyTo, [
              { entry: { ...ackFields(entry), type: 'subscribeNack', ttl: 0 } },
            ]),
          );
        }
      });
  }

  stopSubscribeReceived(peer: string, entry: EventgroupEntry, next: SdEntry | undefined): void {
    const key = subscriberKey(peer, entry);
    const sub = this.subscribers.get(key);
    if (sub === undefined) return;
    // A StopSubscribe+Subscribe pair (SD-844) while our answer is still being prepared (the
    // broker is setting up the channel) renews that same request instead of restarting it.
    if (sub.state === 'pending' && next?.type === 'subscribe' && subscriberKey(peer, next) === key)
      return;
    this.endSubscriber(key, sub, 'stopSubscribe');
  }

  /** Everything `peer` subscribed ends. */
  peerRebooted(peer: string): void {
    this.dropSubscribers((s) => s.request.peer === peer, 'peerRebooted');
  }

  private armTtl(key: string, sub: Subscriber): void {
    sub.timer?.cancel();
    sub.timer =
      sub.request.ttl === 0xffffff
        ? undefined
        : this.endpoint.clock.setTimer(sub.request.ttl * 1000, () => {
            if (this.subscribers.get(key) === sub) this.endSubscriber(key, sub, 'ttlExpired');
          });
  }

  private endSubscriber(key: string, sub: Subscriber, reason: string): void {
    sub.timer?.cancel();
    this.subscribers.delete(key);
    if (sub.state !== 'acked') return;
    this.subscriberEvents.next({ type: 'unsubscribed', request: sub.request, reason });
    try {
      this.endpoint.policy.onUnsubscribe?.(sub.request, reason);
    } catch (e) {
      this.endpoint.report(e, 'policy onUnsubscribe failed');
    }
  }

  private dropSubscribers(which: (s: Subscriber) => boolean, reason: string): void {
    for (const [key, sub] of [...this.subscribers])
      if (which(sub)) this.endSubscriber(key, sub, reason);
  }

  // ---------------------------------------------------------------- stopping

  /**
   * First step of the agent's stop: ends every offer's phases and forgets the offers; returns
   * the StopOffer entries of those that were announced (the others' `offer()` rejects).
   */
  retireOffers(): PackEntry[] {
    const stopOffers: PackEntry[] = [];
    this.schedule.stopAll();
    for (const offer of this.offers.values()) {
      if (offer.announced)
        stopOffers.push({
          entry: { ...offer.entry, type: 'stopOffer', ttl: 0 },
          options: offer.options,
        });
      else
        offer.firstSent.reject(
          new DiscoveryError('ERR_SD_STATE', 'agent stopped before the first Offer was sent'),
        );
    }
    this.offers.clear();
    return stopOffers;
  }

  /** After the final sends: every subscriber ends with reason `stopped`. */
  dropAllSubscribers(): void {
    this.dropSubscribers(() => true, 'stopped');
  }

  /** Completes `subscribers$`. */
  complete(): void {
    this.subscriberEvents.complete();
  }
}

/** An Ack copies ids, TTL, reserved, I-flag and counter from the Subscribe (SD-614). */
function ackEntry(
  entry: EventgroupEntry,
  multicast: MulticastOption | undefined,
  ttl = entry.ttl,
): PackEntry {
  return {
    entry: { ...ackFields(entry), type: 'subscribeAck', ttl },
    options: multicast === undefined ? [] : [multicast],
  };
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

/** The provider keys a subscription by (subscriber, instance, eventgroup, counter). */
function subscriberKey(peer: string, e: EventgroupEntry): string {
  return `${peer}|${e.serviceId}|${e.instanceId}|${e.eventgroupId}|${e.counter}`;
}
