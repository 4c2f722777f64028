import { expect } from 'chai';
import { DiscoveryError } from '../errors/discovery-error.js';
import type { SdOption } from './option.js';
import { packSdMessage, type SdEntryFields } from './sd-packer.js';

const flags = { reboot: true, unicast: true, explicitInitialDataControl: false };
const offer = (instanceId: number): SdEntryFields => ({
  type: 'offer',
  serviceId: 0x1234,
  instanceId,
  majorVersion: 1,
  ttl: 3,
  minorVersion: 0,
});
const ep = (port: number): SdOption => ({
  type: 'ipv4Endpoint',
  address: '10.0.0.1',
  protocol: 'udp',
  port,
});
const cfg: SdOption = { type: 'configuration', items: [{ key: 'k' }] };

describe('packSdMessage', () => {
  describe('.runs', () => {
    it('should store a shared option once and reference it from every entry', () => {
      const m = packSdMessage({
        sessionId: 1,
        flags,
        entries: [
          { entry: offer(1), options: [ep(1)] },
          { entry: offer(2), options: [ep(1)] },
        ],
      });
      expect(m.options).to.have.length(1);
      expect(m.entries.map((e) => e.run1)).to.deep.equal([
        { index: 0, count: 1 },
        { index: 0, count: 1 },
      ]);
    });

    it('should use the second run for a shared option that is not next to the entry’s own', () => {
      const m = packSdMessage({
        sessionId: 1,
        flags,
        entries: [
          { entry: offer(1), options: [cfg, ep(1)] },
          { entry: offer(2), options: [ep(2)] },
          { entry: offer(3), options: [cfg, ep(3)] },
        ],
      });
      expect(m.options).to.have.length(4);
      expect([m.entries[2]?.run1, m.entries[2]?.run2]).to.deep.equal([
        { index: 0, count: 1 },
        { index: 3, count: 1 },
      ]);
    });

    it('should give empty runs index 0 and put the SD endpoint option first, unreferenced', () => {
      const m = packSdMessage({
        sessionId: 1,
        flags,
        sdEndpoint: { type: 'ipv4SdEndpoint', address: '10.0.0.1', protocol: 'udp', port: 30490 },
        entries: [{ entry: offer(1), options: [ep(1)] }],
      });
      expect(m.options[0]?.type).to.equal('ipv4SdEndpoint');
      expect(m.entries[0]?.run1).to.deep.equal({ index: 1, count: 1 });
      expect(m.entries[0]?.run2).to.deep.equal({ index: 0, count: 0 });
    });

    it('should refuse more options than two runs can reference', () => {
      const many = Array.from({ length: 31 }, (_, i) => ep(i));
      expect(() =>
        packSdMessage({ sessionId: 1, flags, entries: [{ entry: offer(1), options: many }] }),
      ).to.throw(DiscoveryError, /two runs/);
    });
  });
});
