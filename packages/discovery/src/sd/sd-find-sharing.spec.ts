import { expect } from 'chai';
import { SdHarness } from '../../test/support/sd-harness.js';
import { endpointOption } from '../wire/endpoint-option.js';
import type { SdOption } from '../wire/option.js';
import type { ServiceAvailability } from './service-types.js';

const A = '10.0.0.1';
const B = '10.0.0.2';
const SERVICE = { serviceId: 0x1234, instanceId: 1, majorVersion: 1, minorVersion: 0 };

describe('SdAgent Finds (one search per service) and options kept from Offers', () => {
  let h: SdHarness;
  beforeEach(() => {
    h = new SdHarness();
  });
  afterEach(async () => {
    await h.stopAll();
  });

  const findEntries = () =>
    h.withEntry('find', B).map((w) => w.msg.entries.filter((e) => e.type === 'find'));

  it('should send one Find entry per service for a find() and a subscribe() of it, covering both', async () => {
    const b = h.agent(B);
    b.find({ serviceId: SERVICE.serviceId }).subscribe();
    b.subscribe({
      ...SERVICE,
      eventgroupId: 1,
      endpoints: [endpointOption(B, 'udp', 40000)],
    }).subscribe();
    b.find({ serviceId: 0x4444, instanceId: 2 }).subscribe();
    await h.clock.advance(10_000);
    const messages = findEntries();
    // Initial wait, then the repetitions (2^k · base), then silence: four Find messages.
    expect(messages).to.have.length(4);
    for (const entries of messages) {
      expect(entries.map((e) => e.serviceId)).to.deep.equal([0x1234, 0x4444]);
      // find() takes any instance and version: the shared entry is the wildcard.
      expect(entries[0]).to.include({ instanceId: 0xffff, majorVersion: 0xff });
      expect(entries[1]).to.include({ instanceId: 2 });
    }
  });

  it('should narrow the shared Find when the wider caller leaves, and keep searching for the one left', async () => {
    const b = h.agent(B);
    const wide = b.find({ serviceId: SERVICE.serviceId }).subscribe();
    b.subscribe({
      ...SERVICE,
      eventgroupId: 1,
      endpoints: [endpointOption(B, 'udp', 40000)],
    }).subscribe();
    await h.clock.advance(60); // the first Find, at 55
    wide.unsubscribe();
    await h.clock.advance(10_000);
    const entries = findEntries().map((m) => m[0]!);
    expect(entries[0]).to.include({ instanceId: 0xffff });
    expect(entries.slice(1).length).to.be.greaterThan(0);
    for (const e of entries.slice(1)) expect(e).to.include({ instanceId: 1, majorVersion: 1 });
  });

  it('should stop the shared search only once every caller is answered', async () => {
    const b = h.agent(B);
    b.find({ serviceId: SERVICE.serviceId, instanceId: 1 }).subscribe();
    b.find({ serviceId: SERVICE.serviceId, instanceId: 2 }).subscribe();
    await h.clock.advance(60); // first Find at 55
    const a = h.agent(A);
    void a.offer({ ...SERVICE, endpoints: [endpointOption(A, 'udp', 30501)] });
    await h.clock.advance(10_000);
    // Instance 2 is never offered: the search runs its repetitions to the end.
    expect(findEntries()).to.have.length(4);
  });

  it('should keep configuration and unknown options of an Offer on the remote service', async () => {
    const b = h.agent(B);
    const seen: ServiceAvailability[] = [];
    b.find({ serviceId: SERVICE.serviceId }).subscribe((x) => seen.push(x));
    const extra: SdOption[] = [
      { type: 'configuration', items: [{ key: 'hostname', value: 'camera-ecu' }] },
      { type: 'unknown', optionType: 0x77, data: new Uint8Array([0, 1, 2, 3]) },
    ];
    const a = h.agent(A);
    void a.offer({ ...SERVICE, endpoints: [endpointOption(A, 'udp', 30501)], extraOptions: extra });
    await h.clock.advance(500);
    expect(seen[0]?.available).to.equal(true);
    expect(seen[0]!.service.extraOptions).to.deep.equal(extra);
  });
});
