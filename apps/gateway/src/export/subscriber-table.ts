import type { EndpointOption, SubscriberEvent } from '@sivshm/discovery';

/** An endpoint events go to: UDP datagrams, or the TCP connection made from it. */
export interface EventTarget {
  readonly protocol: 'udp' | 'tcp';
  readonly address: string;
  readonly port: number;
}

/**
 * Who receives which eventgroup of one exported instance, kept from the SD agent's
 * subscribed/unsubscribed events: per eventgroup, the endpoints of the acknowledged
 * subscriptions (UDP, or TCP when the subscriber gave a TCP endpoint). A renewal replaces the endpoints the peer gave before.
 */
export class SubscriberTable {
  /** eventgroup id → `peer` → its event endpoints. */
  private readonly groups = new Map<number, Map<string, EventTarget[]>>();
  /** `targets()` of each eventgroup, made on first use after a change (it runs per event). */
  private readonly cached = new Map<number, EventTarget[]>();

  /** Applies one SD subscriber event (already filtered to this instance). */
  apply(e: SubscriberEvent): void {
    const { peer, eventgroupId, endpoints } = e.request;
    this.cached.delete(eventgroupId);
    let group = this.groups.get(eventgroupId);
    if (e.type === 'unsubscribed') {
      group?.delete(peer);
      return;
    }
    if (group === undefined) {
      group = new Map();
      this.groups.set(eventgroupId, group);
    }
    group.set(peer, eventTargets(endpoints));
  }

  /** The endpoints subscribed to `eventgroupId`, each once. */
  targets(eventgroupId: number): readonly EventTarget[] {
    let out = this.cached.get(eventgroupId);
    if (out === undefined) {
      out = this.collect(eventgroupId);
      this.cached.set(eventgroupId, out);
    }
    return out;
  }

  private collect(eventgroupId: number): EventTarget[] {
    const group = this.groups.get(eventgroupId);
    if (group === undefined) return [];
    const seen = new Set<string>();
    const out: EventTarget[] = [];
    for (const list of group.values())
      for (const t of list) {
        const key = `${t.protocol}|${t.address}|${t.port}`;
        if (seen.has(key)) continue;
        seen.add(key);
        out.push(t);
      }
    return out;
  }

  /** Subscriptions held, all eventgroups together. */
  get size(): number {
    let n = 0;
    for (const g of this.groups.values()) n += g.size;
    return n;
  }

  clear(): void {
    this.groups.clear();
    this.cached.clear();
  }
}

/**
 * Events go once per subscriber: over UDP when it gave a UDP endpoint, else over TCP. (vsomeip
 * picks per event from its own reliability setting; services.yaml has none, and UDP is the
 * SOME/IP default for events.)
 */
function eventTargets(endpoints: readonly EndpointOption[]): EventTarget[] {
  const udp = endpoints.filter((o) => o.protocol === 'udp');
  const chosen = udp.length > 0 ? udp : endpoints.filter((o) => o.protocol === 'tcp');
  return chosen.map((o) => ({ protocol: o.protocol, address: o.address, port: o.port }));
}
