import type { EndpointOption, SubscriberEvent } from '@sivshm/discovery';

/** A UDP address events go to. */
export interface UdpTarget {
  readonly address: string;
  readonly port: number;
}

/**
 * Who receives which eventgroup of one exported instance, kept from the SD agent's
 * subscribed/unsubscribed events: per eventgroup, the UDP endpoints of the acknowledged
 * subscriptions. A renewal replaces the endpoints the peer gave before.
 */
export class SubscriberTable {
  /** eventgroup id → `peer` → its UDP endpoints. */
  private readonly groups = new Map<number, Map<string, UdpTarget[]>>();

  /** Applies one SD subscriber event (already filtered to this instance). */
  apply(e: SubscriberEvent): void {
    const { peer, eventgroupId, endpoints } = e.request;
    let group = this.groups.get(eventgroupId);
    if (e.type === 'unsubscribed') {
      group?.delete(peer);
      return;
    }
    if (group === undefined) {
      group = new Map();
      this.groups.set(eventgroupId, group);
    }
    group.set(peer, udpTargets(endpoints));
  }

  /** The UDP endpoints subscribed to `eventgroupId`, each once. */
  targets(eventgroupId: number): UdpTarget[] {
    const group = this.groups.get(eventgroupId);
    if (group === undefined) return [];
    const seen = new Set<string>();
    const out: UdpTarget[] = [];
    for (const list of group.values())
      for (const t of list) {
        const key = `${t.address}|${t.port}`;
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
  }
}

function udpTargets(endpoints: readonly EndpointOption[]): UdpTarget[] {
  return endpoints
    .filter((o) => o.protocol === 'udp' && o.type === 'ipv4Endpoint')
    .map((o) => ({ address: o.address, port: o.port }));
}
