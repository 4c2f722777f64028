import { expect } from 'chai';
import { endpointOption } from '../wire/endpoint-option.js';
import { SdRegistry } from './sd-registry.js';
import type { RemoteService, ServiceAvailability } from './service-types.js';
import { VirtualClock } from './virtual-clock.js';

const service = (over: Partial<RemoteService> = {}): RemoteService => ({
  peer: '10.0.0.1',
  replyTo: { address: '10.0.0.1', port: 30490 },
  serviceId: 1,
  instanceId: 2,
  majorVersion: 1,
  minorVersion: 5,
  ttl: 3,
  endpoints: [endpointOption('10.0.0.1', 'udp', 1000)],
  extraOptions: [],
  ...over,
});

describe('SdRegistry', () => {
  describe('.offerReceived', () => {
    it('should expire an instance after its TTL unless refreshed', async () => {
      const clock = new VirtualClock();
      const r = new SdRegistry(clock);
      const seen: ServiceAvailability[] = [];
      r.changes$.subscribe((c) => seen.push(c));
      r.offerReceived(service());
      await clock.advance(2000);
      r.offerReceived(service());
      await clock.advance(2999);
      expect(seen.map((s) => s.available)).to.deep.equal([true]);
      await clock.advance(1);
      expect(seen.map((s) => (s.available ? 'up' : s.reason))).to.deep.equal(['up', 'ttlExpired']);
    });

    it('should never expire TTL 0xFFFFFF (until the peer reboots)', async () => {
      const clock = new VirtualClock();
      const r = new SdRegistry(clock);
      r.offerReceived(service({ ttl: 0xffffff }));
      await clock.advance(1e9);
      expect(r.list()).to.have.length(1);
      r.expirePeer('10.0.0.1');
      expect(r.list()).to.have.length(0);
    });

    it('should announce again when the endpoints change', () => {
      const r = new SdRegistry(new VirtualClock());
      const seen: ServiceAvailability[] = [];
      r.changes$.subscribe((c) => seen.push(c));
      r.offerReceived(service());
      r.offerReceived(service());
      r.offerReceived(service({ endpoints: [endpointOption('10.0.0.1', 'udp', 1001)] }));
      expect(seen).to.have.length(2);
    });
  });

  describe('.offerReceived endpoint sets', () => {
    it('should not announce again when the same endpoints come in another order (vsomeip alternates TCP and UDP)', () => {
      const r = new SdRegistry(new VirtualClock());
      const seen: ServiceAvailability[] = [];
      r.changes$.subscribe((c) => seen.push(c));
      const udp = endpointOption('10.0.0.1', 'udp', 1000);
      const tcp = endpointOption('10.0.0.1', 'tcp', 1000);
      for (let i = 0; i < 6; i++)
        r.offerReceived(service({ endpoints: i % 2 === 0 ? [udp, tcp] : [tcp, udp] }));
      expect(seen, 'only the first Offer is news').to.have.length(1);
      r.offerReceived(service({ endpoints: [tcp] }));
      r.offerReceived(service({ endpoints: [tcp, endpointOption('10.0.0.1', 'udp', 1001)] }));
      expect(seen.map((c) => c.service.endpoints.length)).to.deep.equal([2, 1, 2]);
    });
  });

  describe('.match', () => {
    it('should apply the Find wildcards', () => {
      const r = new SdRegistry(new VirtualClock());
      r.offerReceived(service());
      const q = { serviceId: 1, instanceId: 0xffff, majorVersion: 0xff, minorVersion: 0xffffffff };
      expect(r.match(q)).to.have.length(1);
      expect(r.match({ ...q, minorVersion: 5 })).to.have.length(1);
      expect(r.match({ ...q, minorVersion: 6 })).to.have.length(0);
      expect(r.match({ ...q, majorVersion: 2 })).to.have.length(0);
      expect(r.match({ ...q, instanceId: 3 })).to.have.length(0);
    });
  });
});
