import type { EndpointOption } from '../wire/endpoint-option.js';
import type { MulticastOption } from '../wire/multicast-option.js';

/** A Subscribe that passed the SD checks, handed to the policy to turn into a channel. */
export interface SubscribeRequest {
  /** The subscribing node. */
  readonly peer: string;
  readonly serviceId: number;
  readonly instanceId: number;
  readonly majorVersion: number;
  readonly eventgroupId: number;
  readonly counter: number;
  /** Seconds the subscription lives unless renewed. */
  readonly ttl: number;
  /** Where the subscriber receives events. */
  readonly endpoints: readonly EndpointOption[];
}

/** The answer to a `SubscribeRequest`: Ack (optionally with a multicast group) or Nack. */
export type SubscribeDecision =
  | { readonly accept: true; readonly multicast?: MulticastOption }
  | { readonly accept: false; readonly reason: string };

/**
 * Who may offer, see and consume what, and how a subscription becomes a channel.
 *
 * hostd implements this: `onSubscribe` runs the channel handshake and resolves once the
 * channel is ACTIVE, and only then does the SubscribeEventgroupAck go out; a rejection or a
 * thrown error becomes a Nack. Every hook is optional; without a policy everything is allowed
 * and subscriptions are acknowledged at once.
 */
export interface SdPolicy {
  /** May `peer` offer this instance? A refused Offer is ignored as if never received. */
  mayOffer?(peer: string, serviceId: number, instanceId: number): boolean;
  /** May `peer` learn of our offer of this instance (a unicast answer to its Find)? */
  maySee?(peer: string, serviceId: number, instanceId: number): boolean;
  /** May `peer` subscribe to this eventgroup? A refusal is a Nack without calling `onSubscribe`. */
  mayConsume?(peer: string, serviceId: number, instanceId: number, eventgroupId: number): boolean;
  /** Turns an accepted Subscribe into a channel; the Ack waits for the returned promise. */
  onSubscribe?(request: SubscribeRequest): Promise<SubscribeDecision>;
  /** A subscription ended (StopSubscribe, TTL expiry, peer reboot, withdraw, stop). */
  onUnsubscribe?(request: SubscribeRequest, reason: string): void;
}
