import type { EndpointOption } from '../wire/endpoint-option.js';
import type { SdOption } from '../wire/option.js';
import type { SdAddress } from '../transport/sd-transport.js';

/** A service instance offered by another SD node, as learnt from its Offer. */
export interface RemoteService {
  /** The offering node (its SD address, or SD endpoint option when it sent one). */
  readonly peer: string;
  /** Where unicast SD to the offering node goes. */
  readonly replyTo: SdAddress;
  readonly serviceId: number;
  readonly instanceId: number;
  readonly majorVersion: number;
  readonly minorVersion: number;
  /** Seconds, as offered (0xFFFFFF = until the peer reboots). */
  readonly ttl: number;
  /** Where the service is reachable (and the source of its UDP events). */
  readonly endpoints: readonly EndpointOption[];
  /** Configuration, load balancing and unknown options of the Offer, kept as received. */
  readonly extraOptions: readonly SdOption[];
}

/** Why a remote service stopped being available. */
export type UnavailableReason = 'stopOffer' | 'ttlExpired' | 'peerRebooted' | 'stopped';

/** A change of availability of one remote service instance. */
export type ServiceAvailability =
  | { readonly available: true; readonly service: RemoteService }
  | {
      readonly available: false;
      readonly service: RemoteService;
      readonly reason: UnavailableReason;
    };

/**
 * What `find()` looks for. Omitted fields are wildcards: instance 0xFFFF, major 0xFF, minor
 * 0xFFFFFFFF (SD-239).
 */
export interface FindQuery {
  readonly serviceId: number;
  readonly instanceId?: number;
  readonly majorVersion?: number;
  readonly minorVersion?: number;
}

/** What `offer()` announces. */
export interface OfferSpec {
  readonly serviceId: number;
  readonly instanceId: number;
  readonly majorVersion: number;
  readonly minorVersion: number;
  /** At least one; at most one UDP and one TCP, of one IP version (SD-780). */
  readonly endpoints: readonly EndpointOption[];
  /** Eventgroups that may be subscribed (omitted: any); a Subscribe to another one is Nacked. */
  readonly eventgroups?: readonly number[];
  /** Offer TTL, seconds; default from the timing. */
  readonly ttl?: number;
  /** Configuration and load balancing options to attach. */
  readonly extraOptions?: readonly SdOption[];
}

/** True when an offer `(instance, major, minor)` satisfies a Find's wildcards (SD-239, vsomeip). */
export function matchesFind(
  q: { serviceId: number; instanceId: number; majorVersion: number; minorVersion: number },
  o: { serviceId: number; instanceId: number; majorVersion: number; minorVersion: number },
): boolean {
  return (
    q.serviceId === o.serviceId &&
    (q.instanceId === 0xffff || q.instanceId === o.instanceId) &&
    (q.majorVersion === 0xff || q.majorVersion === o.majorVersion) &&
    (q.minorVersion === 0xffffffff || q.minorVersion <= o.minorVersion)
  );
}
