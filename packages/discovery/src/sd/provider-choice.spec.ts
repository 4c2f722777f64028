import { expect } from 'chai';
import { SdHarness } from '../../test/support/sd-harness.js';
import { endpointOption } from '../wire/endpoint-option.js';
import { chooseProvider, outranks } from './provider-choice.js';
import type { RemoteService, ServiceAvailability } from './service-types.js';

const SERVICE = { serviceId: 0x1234, instanceId: 1, majorVersion: 1, minorVersion: 0 };

/** A remote offer of SERVICE by `peer`, with a load balancing option unless `lb` is undefined. */
function offer(peer: string, lb?: { priority: number; weight: number }): RemoteService {
  return {
    ...SERVICE,
    peer,
    replyTo: { address: peer, port: 30490 },
    ttl: 3,
    endpoints: [endpointOption(peer, 'udp', 30501)],
    extraOptions: lb === undefined ? [] : [{ type: 'loadBalancing', ...lb }],
  };
}

describe('load balancing: chooseProvider (priority, then weight)', () => {
  it('should take only the lowest priority value, whatever the weights and the order', () => {
    const low = offer('10.0.0.1', { priority: 7, weight: 1000 });
    const best = offer('10.0.0.2', { priority: 2, weight: 1 });
    const none = offer('10.0.0.3');
    for (const r of [0, 0.5, 0.999])
      expect(chooseProvider([low, none, best], () => r)).to.equal(best);
    expect(chooseProvider([none, low], () => 0)).to.equal(low); // no option ranks last
    expect(chooseProvider([], () => 0)).to.equal(undefined);
  });

  it('should draw among equal priorities in proportion to their weights', () => {
    const a = offer('10.0.0.1', { priority: 1, weight: 1 });
    const b = offer('10.0.0.2', { priority: 1, weight: 3 });
    const zero = offer('10.0.0.3', { priority: 1, weight: 0 });
    // The draw covers [0, 4): [0, 1) is a, [1, 4) is b, and weight 0 is never drawn.
    expect(chooseProvider([a, zero, b], () => 0)).to.equal(a);
    expect(chooseProvider([a, zero, b], () => 0.24)).to.equal(a);
    expect(chooseProvider([a, zero, b], () => 0.25)).to.equal(b);
    expect(chooseProvider([a, zero, b], () => 0.9999)).to.equal(b);
    let seed = 1;
    const lcg = (): number => ((seed = (seed * 48271) % 0x7fffffff) / 0x7fffffff) % 1;
    let bs = 0;
    for (let i = 0; i < 4000; i++) if (chooseProvider([a, b], lcg) === b) bs++;
    expect(bs / 4000).to.be.within(0.7, 0.8);
    // All of weight 0: each alike.
    const z2 = offer('10.0.0.4', { priority: 1, weight: 0 });
    expect(chooseProvider([zero, z2], () => 0)).to.equal(zero);
    expect(chooseProvider([zero, z2], () => 0.6)).to.equal(z2);
  });

  it('should let only a strictly better priority take over a binding', () => {
    const p1 = offer('10.0.0.1', { priority: 1, weight: 1 });
    const p1heavy = offer('10.0.0.2', { priority: 1, weight: 100 });
    const p5 = offer('10.0.0.3', { priority: 5, weight: 1 });
    expect(outranks(p1, p5)).to.equal(true);
    expect(outranks(p5, p1)).to.equal(false);
    expect(outranks(p1heavy, p1)).to.equal(false);
    expect(outranks(p5, offer('10.0.0.4'))).to.equal(true);
  });
});

describe('SdAgent.subscribe pinned to one provider (SubscribeSpec.provider)', () => {
  let h: SdHarness;
  beforeEach(() => {
    h = new SdHarness();
  });
  afterEach(async () => {
    await h.stopAll();
  });

  it('should subscribe only at the named provider when two nodes offer the instance', async () => {
    const [A, B, C] = ['10.0.0.1', '10.0.0.2', '10.0.0.3'];
    for (const [at, priority] of [
      [A, 1],
      [C, 9],
    ] as const)
      void h.agent(at).offer({
        ...SERVICE,
        endpoints: [endpointOption(at, 'udp', 30501)],
        extraOptions: [{ type: 'loadBalancing', priority, weight: 1 }],
      });
    const b = h.agent(B);
    const seen: ServiceAvailability[] = [];
    b.find({ serviceId: SERVICE.serviceId }).subscribe((x) => seen.push(x));
    await h.clock.advance(2_000);
    const offers = seen.filter((x) => x.available).map((x) => x.service);
    expect(offers.map((s) => s.replyTo.address).sort()).to.deep.equal([A, C]);
    // Pin to the one learnt second: left alone, a subscription takes the first one known.
    const c = offers[1]!;
    const C2 = c.replyTo.address;
    const states: string[] = [];
    b.subscribe({
      ...SERVICE,
      eventgroupId: 1,
      endpoints: [endpointOption(B, 'udp', 40000)],
      provider: c.peer,
    }).subscribe((e) => states.push(`${e.state}@${e.provider.replyTo.address}`));
    await h.clock.advance(5_000);
    const subscribedAt = h.withEntry('subscribe', B).map((w) => w.to);
    expect(subscribedAt.length).to.be.greaterThan(0);
    expect([...new Set(subscribedAt)]).to.deep.equal([C2]);
    expect(states[0]).to.equal(`subscribed@${C2}`);
  });
});
