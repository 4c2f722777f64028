import { Subject, type Observable } from 'rxjs';
import type { EndpointOption } from '../wire/endpoint-option.js';
import type { SdClock, SdTimer } from './clock.js';
import { KeyedSets } from './keyed-sets.js';
import {
  matchesFind,
  type RemoteService,
  type ServiceAvailability,
  type UnavailableReason,
} from './service-types.js';

interface RemoteRecord {
  service: RemoteService;
  timer: SdTimer | undefined;
}

/**
 * Who offers what, as one SD node knows it: the remote service instances learnt from Offers,
 * each with its TTL timer (soft state, SD-842). Emits every availability change on
 * `changes$`; hostd reads it to relay and to answer Finds for other VMs.
 */
export class SdRegistry {
  private readonly remote = new Map<string, RemoteRecord>();
  /**
   * Keys of `remote` by `serviceId|instanceId`: a query for one instance looks at its offers
   * only (every consumed instance asks once, and with hundreds known a scan each was quadratic).
   */
  private readonly byInstance = new KeyedSets<string>();
  private readonly changes = new Subject<ServiceAvailability>();
  /** Every availability change, in order. */
  readonly changes$: Observable<ServiceAvailability> = this.changes.asObservable();

  constructor(private readonly clock: SdClock) {}

  /**
   * Records an Offer: (re)starts its TTL timer (0xFFFFFF: none) and emits `available` when
   * the instance is new, its version changed or its set of endpoints changed — compared as a
   * set, since the order of options is not meaningful (vsomeip lists a TCP and a UDP endpoint
   * in either order across its cyclic Offers). Returns true when it was new.
   */
  offerReceived(service: RemoteService): boolean {
    const key = keyOf(service.peer, service.serviceId, service.instanceId);
    const old = this.remote.get(key);
    old?.timer?.cancel();
    const timer =
      service.ttl === 0xffffff
        ? undefined
        : this.clock.setTimer(service.ttl * 1000, () => this.remove(key, 'ttlExpired'));
    this.remote.set(key, { service, timer });
    if (old === undefined) this.byInstance.add(instanceKey(service), key);
    const changed =
      old === undefined ||
      !sameEndpointSet(old.service.endpoints, service.endpoints) ||
      old.service.majorVersion !== service.majorVersion ||
      old.service.minorVersion !== service.minorVersion;
    if (changed) this.changes.next({ available: true, service });
    return old === undefined;
  }

  /** Removes one instance (StopOffer); emits `unavailable` if it was known. */
  stopOfferReceived(peer: string, serviceId: number, instanceId: number): void {
    this.remove(keyOf(peer, serviceId, instanceId), 'stopOffer');
  }

  /** Removes everything `peer` offered (its reboot was detected). */
  expirePeer(peer: string, reason: UnavailableReason = 'peerRebooted'): void {
    for (const [key, r] of [...this.remote]) if (r.service.peer === peer) this.remove(key, reason);
  }

  /** The known instances matching a Find-style query. */
  match(q: {
    serviceId: number;
    instanceId: number;
    majorVersion: number;
    minorVersion: number;
  }): RemoteService[] {
    if (q.instanceId !== 0xffff) {
      const out: RemoteService[] = [];
      for (const key of this.byInstance.get(instanceKey(q))) {
        const s = this.remote.get(key)?.service;
        if (s !== undefined && matchesFind(q, s)) out.push(s);
      }
      return out;
    }
    return [...this.remote.values()].map((r) => r.service).filter((s) => matchesFind(q, s));
  }

  /** The instance `peer` offers, if known. */
  get(peer: string, serviceId: number, instanceId: number): RemoteService | undefined {
    return this.remote.get(keyOf(peer, serviceId, instanceId))?.service;
  }

  /** All known remote instances. */
  list(): RemoteService[] {
    return [...this.remote.values()].map((r) => r.service);
  }

  /** Forgets everything (emitting `stopped`) and completes `changes$`. */
  close(): void {
    for (const key of [...this.remote.keys()]) this.remove(key, 'stopped');
    this.changes.complete();
  }

  private remove(key: string, reason: UnavailableReason): void {
    const r = this.remote.get(key);
    if (r === undefined) return;
    r.timer?.cancel();
    this.remote.delete(key);
    this.byInstance.delete(instanceKey(r.service), key);
    this.changes.next({ available: false, service: r.service, reason });
  }
}

/** True when `a` and `b` hold the same endpoints, in any order. */
function sameEndpointSet(a: readonly EndpointOption[], b: readonly EndpointOption[]): boolean {
  if (a.length !== b.length) return false;
  const key = (e: EndpointOption): string => `${e.type}|${e.protocol}|${e.address}|${e.port}`;
  const keys = new Set(a.map(key));
  return b.every((e) => keys.has(key(e))) && keys.size === new Set(b.map(key)).size;
}

function instanceKey(s: { serviceId: number; instanceId: number }): string {
  return `${s.serviceId}|${s.instanceId}`;
}

function keyOf(peer: string, serviceId: number, instanceId: number): string {
  return `${peer}|${serviceId}|${instanceId}`;
}
