import { expect } from 'chai';
import { appendFileSync } from 'node:fs';
import { loadConfig, type ServiceConfig } from '@sivshm/core';
import type { SdPolicy } from '@sivshm/discovery';
import { makeDeployment, type Deployment } from '@sivshm/testing';
import { admitPeer } from '../edge/peer-admission.js';
import { newCounters } from '../edge/gateway-counters.js';
import { PeerBudgets } from '../edge/peer-budget.js';
import { exportPolicy } from './export-policy.js';

// Instance 1 is open to every peer; instance 2 lists one peer.
const GATEWAY_SECTION = `
gateway:
  unicast: 10.0.0.5
  export:
    - { service: VehicleSpeed, instance: 1, udp: 30501 }
    - { service: VehicleSpeed, instance: 2, udp: 30503, peers: [10.0.0.9] }
  import:
    - { service: VehicleSpeed, instance: 3, udp: 30701, peers: [10.0.0.9] }
`;

describe("an export's peers list", () => {
  let d: Deployment;
  let config: ServiceConfig;
  let policy: SdPolicy;
  let serviceId: number;

  before(async () => {
    d = makeDeployment({
      label: 'gateway-peers',
      vms: [
        { id: 1, name: 'infotainment' },
        { id: 2, name: 'gateway' },
      ],
      services: [{ name: 'VehicleSpeed', consumers: ['gateway'], instances: [1, 2, 3] }],
    });
    appendFileSync(d.configPath, GATEWAY_SECTION);
    config = await loadConfig(d.configPath);
    policy = exportPolicy(config, config.gateway!);
    serviceId = config.services.find((s) => s.name === 'VehicleSpeed')!.id;
  });
  after(() => d?.cleanup());

  it('should let only the listed peer find and subscribe to that export, and anyone the others', () => {
    expect(policy.maySee!('10.0.0.9', serviceId, 2)).to.equal(true);
    expect(policy.mayConsume!('10.0.0.9', serviceId, 2, 1)).to.equal(true);
    expect(policy.maySee!('10.0.0.7', serviceId, 2), 'an unlisted peer').to.equal(false);
    expect(policy.mayConsume!('10.0.0.7', serviceId, 2, 1), 'an unlisted peer').to.equal(false);
    expect(policy.maySee!('10.0.0.7', serviceId, 1), 'an export without a list').to.equal(true);
    expect(policy.maySee!('10.0.0.9', serviceId, 3), 'an instance not exported').to.equal(false);
    expect(policy.mayOffer!('10.0.0.9', serviceId, 1), 'no offers of an export').to.equal(false);
  });

  it("should take offers only of an imported instance, and only from the import's listed peer", () => {
    expect(policy.mayOffer!('10.0.0.9', serviceId, 3)).to.equal(true);
    expect(policy.mayOffer!('10.0.0.7', serviceId, 3), 'an unlisted peer').to.equal(false);
    expect(policy.mayOffer!('10.0.0.9', serviceId + 1, 3), 'another service').to.equal(false);
  });

  it('should count a message from an unlisted peer as notAllowed, taking none of its budget', () => {
    const counters = newCounters();
    const budgets = new PeerBudgets(
      { messagesPerSecond: 1, burst: 1, callsInFlight: 1, maxPeers: 4 },
      () => 0,
    );
    const peers = config.gateway!.exports[1]!.peers;
    expect(admitPeer(peers, budgets, counters, '10.0.0.7')).to.equal(false);
    expect(counters.notAllowed).to.equal(1);
    expect(budgets.admit('10.0.0.7'), 'its one token is still there').to.equal(true);
    expect(admitPeer(peers, budgets, counters, '10.0.0.9')).to.equal(true);
    expect(admitPeer(peers, budgets, counters, '10.0.0.9'), 'past its burst').to.equal(false);
    expect(counters).to.include({ notAllowed: 1, overBudget: 1 });
  });
});
