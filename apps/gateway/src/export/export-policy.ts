import type { GatewayConfig, ServiceConfig } from '@sivshm/core';
import type { SdPolicy } from '@sivshm/discovery';

/**
 * Network peers see and subscribe only to exported instances (the agent answers Finds and
 * Subscribes only for what it offers, and Nacks eventgroups the export leaves out), and only
 * from the addresses an export's `peers` lists when it lists any. The gateway takes offers only
 * of the instances `gateway.import` lists, from the addresses an import's `peers` lists.
 */
export function exportPolicy(config: ServiceConfig, gw: GatewayConfig): SdPolicy {
  const allowed = (peer: string, serviceId: number, instanceId: number): boolean =>
    gw.exports.some(
      (e) =>
        e.instance === instanceId &&
        config.services.find((s) => s.name === e.service)?.id === serviceId &&
        (e.peers === undefined || e.peers.includes(peer)),
    );
  return {
    // Offers are taken only of imported instances, from the peers an import lists (if any).
    mayOffer: (peer, serviceId, instanceId) =>
      gw.imports.some(
        (i) =>
          i.instance === instanceId &&
          config.services.find((s) => s.name === i.service)?.id === serviceId &&
          (i.peers === undefined || i.peers.includes(peer)),
      ),
    maySee: allowed,
    mayConsume: (peer, serviceId, instanceId) => allowed(peer, serviceId, instanceId),
    // An export with a multicast address names it in the Ack of a subscriber that takes UDP.
    onSubscribe: (request) => {
      const exp = gw.exports.find(
        (e) =>
          e.instance === request.instanceId &&
          config.services.find((s) => s.name === e.service)?.id === request.serviceId,
      );
      const takesUdp = request.endpoints.some((o) => o.protocol === 'udp');
      if (exp?.multicast === undefined || !takesUdp) return Promise.resolve({ accept: true });
      const { group, port } = exp.multicast;
      return Promise.resolve({
        accept: true,
        multicast: {
          type: group.includes(':') ? 'ipv6Multicast' : 'ipv4Multicast',
          address: group,
          protocol: 'udp',
          port,
        },
      });
    },
  };
}
