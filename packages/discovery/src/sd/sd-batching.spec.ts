import { expect } from 'chai';
import { SdHarness } from '../../test/support/sd-harness.js';
import { endpointOption } from '../wire/endpoint-option.js';
import type { SdAgent } from './sd-agent.js';
import type { SubscriptionEvent } from './sd-consumer.js';

const A = '10.0.0.1';
const B = '10.0.0.2';
const EP_A = endpointOption(A, 'udp', 30501);
const EP_B = endpointOption(B, 'udp', 40000);
const SERVICE_ID = 0x1234;
const INSTANCES = Array.from({ length: 64 }, (_, i) => i + 1);

function offerAll(a: SdAgent, instances = INSTANCES): void {
  for (const instanceId of instances)
    a.register({
      serviceId: SERVICE_ID,
      instanceId,
      majorVersion: 1,
      minorVersion: 0,
      endpoints: [EP_A],
      eventgroups: [1],
    });
}

describe('SdAgent batching (one message per cycle, as vsomeip sends)', () => {
  let h: SdHarness;
  beforeEach(() => {
    h = new SdHarness();
  });
  afterEach(async () => {
    await h.stopAll();
  });

  it('should register offers at once and send 64 offered together in one message per phase', async () => {
    const a = h.agent(A);
    offerAll(a);
    expect(a.offered()).to.have.length(64);
    await h.clock.advance(55);
    const first = h.withEntry('offer', A);
    expect(first).to.have.length(1);
    expect(first[0]!.msg.entries).to.have.length(64);
    // One endpoint option, stored once (SD-900), referenced by all 64 entries.
    expect(first[0]!.msg.options).to.have.length(1);
    await h.clock.advance(3000);
    const offers = h.withEntry('offer', A);
    // Initial Wait + 3 repetitions + the Main Phase cycles: every message carries all 64.
    expect(offers.length).to.be.within(6, 7);
    for (const w of offers) expect(w.msg.entries).to.have.length(64);
  });

  it('should let an offer made during a batch’s Initial Wait join it, and later ones share the Main Phase cycle', async () => {
    const a = h.agent(A);
    offerAll(a, [1]);
    await h.clock.advance(20);
    offerAll(a, [2]);
    await h.clock.advance(100);
    offerAll(a, [3]); // after the first batch's Initial Wait: its own batch
    await h.clock.advance(5000);
    const offers = h.withEntry('offer', A);
    const sizes = offers.map((w) => w.msg.entries.length);
    expect(sizes.slice(0, 1)).to.deep.equal([2]);
    // Once both batches are in the Main Phase each cycle is one message with all three.
    expect(sizes.slice(-3)).to.deep.equal([3, 3, 3]);
  });

  it('should answer a batch of Offers with one message of Subscribes, and those with one message of Acks', async () => {
    const a = h.agent(A);
    const b = h.agent(B);
    offerAll(a);
    const acked = new Set<number>();
    const subs = INSTANCES.map((instanceId) =>
      b
        .subscribe({
          serviceId: SERVICE_ID,
          instanceId,
          majorVersion: 1,
          eventgroupId: 1,
          endpoints: [EP_B],
        })
        .subscribe((e: SubscriptionEvent) => {
          if (e.state === 'subscribed') acked.add(instanceId);
        }),
    );
    await h.clock.advance(200);
    expect(acked.size).to.equal(64);
    const subscribes = h.withEntry('subscribe', B);
    const acks = h.withEntry('subscribeAck', A);
    expect(subscribes[0]!.msg.entries.filter((e) => e.type === 'subscribe')).to.have.length(64);
    expect(acks[0]!.msg.entries.filter((e) => e.type === 'subscribeAck')).to.have.length(64);
    // Finds made together went out together too.
    for (const w of h.withEntry('find', B)) expect(w.msg.entries.length).to.equal(64);
    for (const s of subs) s.unsubscribe();
  });

  it('should settle register()’s announced with the first Offer, and reject it when withdrawn before', async () => {
    const a = h.agent(A);
    const spec = {
      serviceId: SERVICE_ID,
      majorVersion: 1,
      minorVersion: 0,
      endpoints: [EP_A],
    };
    const kept = a.register({ ...spec, instanceId: 1 });
    const dropped = a.register({ ...spec, instanceId: 2 });
    let settled = false;
    void kept.announced.then(() => (settled = true));
    await dropped.withdraw();
    await h.clock.advance(54);
    expect(settled).to.equal(false);
    await h.clock.advance(1);
    expect(settled).to.equal(true);
    const err = await dropped.announced.then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).to.match(/withdrawn before the first Offer/);
    expect(h.withEntry('offer', A)[0]!.msg.entries.map((e) => e.instanceId)).to.deep.equal([1]);
  });

  it('should split a batch only where a limit says: maxEntriesPerMessage 16 makes 64 offers four messages', async () => {
    const a = h.agent(A, { maxEntriesPerMessage: 16 });
    offerAll(a);
    await h.clock.advance(55);
    const first = h.withEntry('offer', A);
    expect(first.map((w) => w.msg.entries.length)).to.deep.equal([16, 16, 16, 16]);
    expect(first.flatMap((w) => w.msg.entries.map((e) => e.instanceId))).to.deep.equal(INSTANCES);
  });
});
