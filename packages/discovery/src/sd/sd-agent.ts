import type { Observable } from 'rxjs';
import { DiscoveryError } from '../errors/discovery-error.js';
import type { SdAgentOptions } from './sd-agent-options.js';
import { SdConsumer, type SubscribeSpec, type SubscriptionEvent } from './sd-consumer.js';
import { SdEndpoint } from './sd-endpoint.js';
import type { SubscribeRequest } from './sd-policy.js';
import {
  SdProvider,
  type OfferHandle,
  type OfferRegistration,
  type SubscriberEvent,
} from './sd-provider.js';
import type { SdRegistry } from './sd-registry.js';
import type { FindQuery, OfferSpec, ServiceAvailability } from './service-types.js';

/**
 * One SOME/IP-SD participant: offers services, finds them, subscribes to eventgroups, and
 * answers others, over one `SdTransport`. Runs the server and client state machines of PRS
 * SOME/IP-SD per service instance (initial wait, repetition, main phase; TTL soft state;
 * session ids per relation; reboot detection) on an injectable clock.
 *
 * It is two halves over one endpoint: `SdProvider` (our offers and their subscribers) and
 * `SdConsumer` (remote offers, searches, our subscriptions) share an `SdEndpoint` that owns
 * the transport, session ids, reboot detection, packing and the routing of received entries.
 *
 * @example
 * ```ts
 * const agent = new SdAgent({ transport: await UdpSdTransport.open({ unicast: '10.0.0.5' }) });
 * await agent.offer({ serviceId: 0x1234, instanceId: 1, majorVersion: 1, minorVersion: 0,
 *   endpoints: [endpointOption('10.0.0.5', 'udp', 30501)], eventgroups: [1] });
 * agent.find({ serviceId: 0x4321 }).subscribe((a) => console.log(a.available));
 * await agent.stop();
 * ```
 */
export class SdAgent {
  readonly #endpoint: SdEndpoint;
  readonly #provider: SdProvider;
  readonly #consumer: SdConsumer;

  /** Remote offers known to this agent. */
  readonly registry: SdRegistry;
  /** Dropped messages and failed sends, for logs; never terminates. */
  readonly errors$: Observable<DiscoveryError>;
  /** Subscriptions to our offers starting and ending. */
  readonly subscribers$: Observable<SubscriberEvent>;

  constructor(options: SdAgentOptions) {
    const endpoint = new SdEndpoint(options);
    const provider = new SdProvider(endpoint);
    const consumer = new SdConsumer(endpoint);
    this.#endpoint = endpoint;
    this.#provider = provider;
    this.#consumer = consumer;
    this.registry = consumer.registry;
    this.errors$ = endpoint.errors$;
    this.subscribers$ = provider.subscribers$;
    endpoint.listen({
      find: (peer, entry, replies) => provider.answerFind(peer, entry, replies),
      offer: (rx, entry, replies) => consumer.offerReceived(rx, entry, replies),
      stopOffer: (peer, entry) => consumer.stopOfferReceived(peer, entry),
      subscribe: (rx, entry, problems, replies) =>
        provider.subscribeReceived(rx, entry, problems, replies),
      stopSubscribe: (peer, entry, next) => provider.stopSubscribeReceived(peer, entry, next),
      ack: (peer, msg, entry) => consumer.ackReceived(peer, msg, entry),
      peerRebooted: (peer) => {
        consumer.peerRebooted(peer);
        provider.peerRebooted(peer);
      },
    });
  }

  // ---------------------------------------------------------------- provider

  /**
   * Offers a service instance: `register()`, then resolves once the first Offer has been sent
   * (after the batch's Initial Wait; use `register()` not to wait). Rejects with `ERR_SD_INPUT` for a spec that
   * breaks an SD rule and `ERR_SD_STATE` when the instance is already offered.
   */
  offer(spec: OfferSpec): Promise<OfferHandle> {
    return this.#provider.offer(spec);
  }

  /**
   * Registers an offer and returns at once: the instance joins the batch now in its Initial
   * Wait (or starts one), so offers registered together share one random delay and go out in
   * one message per phase; in the Main Phase all instances share one cycle. `announced`
   * settles with the first Offer. Throws like `offer()` for a bad spec or a duplicate.
   */
  register(spec: OfferSpec): OfferRegistration {
    return this.#provider.register(spec);
  }

  /** The instances this agent offers (announced or still in their Initial Wait). */
  offered(): OfferSpec[] {
    return this.#provider.offered();
  }

  /** The subscriptions to our offers that are acknowledged, as the policy saw them. */
  subscriptions(): SubscribeRequest[] {
    return this.#provider.subscriptions();
  }

  /** Stops offering an instance: StopOffer (if it was announced) and drops its subscribers. */
  withdraw(serviceId: number, instanceId: number): Promise<void> {
    return this.#provider.withdraw(serviceId, instanceId);
  }

  // ---------------------------------------------------------------- consumer

  /**
   * Availability of matching remote instances: first every instance already known, then each
   * change. While subscribed, the agent searches (Initial Wait, then Finds with repetitions,
   * no cyclic Finds) until a matching Offer arrives.
   */
  find(query: FindQuery): Observable<ServiceAvailability> {
    return this.#consumer.find(query);
  }

  /**
   * Subscribes to an eventgroup of a service instance. Sends Subscribe to the provider on
   * each of its Offers (and at once if it is already known), StopSubscribe + Subscribe when
   * the previous Subscribe got no Ack, and StopSubscribe when the Observable is unsubscribed.
   */
  subscribe(spec: SubscribeSpec): Observable<SubscriptionEvent> {
    return this.#consumer.subscribe(spec);
  }

  // ---------------------------------------------------------------- both

  /**
   * Stops the agent: StopOffer for every announced offer, StopSubscribe for every subscription,
   * subscribers dropped, timers cancelled, Observables completed, the transport closed.
   * Failures are gathered into one `DiscoveryError` (`ERR_SD_TRANSPORT`) with an
   * AggregateError cause.
   */
  async stop(): Promise<void> {
    const endpoint = this.#endpoint;
    if (endpoint.stopped) return;
    const stopOffers = this.#provider.retireOffers();
    const stopSubscribes = this.#consumer.retireSubscriptions();
    const finalSends: Promise<void>[] = [];
    if (stopOffers.length > 0) finalSends.push(endpoint.sendMulticast(stopOffers));
    for (const g of stopSubscribes) finalSends.push(endpoint.sendUnicast(g.to, g.entries));
    const failures = await endpoint.settle(finalSends);
    this.#provider.dropAllSubscribers();
    this.#consumer.close();
    failures.push(...(await endpoint.close()));
    this.#provider.complete();
    endpoint.complete();
    if (failures.length > 0)
      throw new DiscoveryError(
        'ERR_SD_TRANSPORT',
        `stop: ${failures.length} teardown step(s) failed`,
        {
          cause: new AggregateError(failures),
        },
      );
  }
}
