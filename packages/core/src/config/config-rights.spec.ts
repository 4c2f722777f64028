import { expect } from 'chai';
import { intersectRights, mayOfferRight, mayRequestRight } from '../cert/rights.js';
import { formatConfigIssue, isConfigError } from './config-issue.js';
import { configRights } from './config-rights.js';
import { parseConfig } from './parse-config.js';

const TEXT = `
version: 1
region: { size: 1MiB }
vms:
  - { id: 1, name: infotainment, grantKey: { env: K1 } }
  - { id: 2, name: cluster, grantKey: { env: K2 } }
  - { id: 3, name: rtos, grantKey: { env: K3 } }
services:
  - { name: Speed, id: 0x1234, instances: [7, 1, 2, 3], major: 1, provider: infotainment, consumers: [cluster] }
  - { name: Diag, id: 0x0100, instances: [5], major: 1, provider: rtos, consumers: [cluster, infotainment] }
`;

describe('configRights', () => {
  const config = parseConfig(TEXT, { file: 'r.yaml', baseDir: '/nowhere' });

  describe('.offers', () => {
    it('should give the provider one offer right per run of consecutive instances', () => {
      expect(configRights(config, 1)?.offers).to.deep.equal([
        { service: 0x1234, instanceLo: 1, instanceHi: 3 },
        { service: 0x1234, instanceLo: 7, instanceHi: 7 },
      ]);
      expect(configRights(config, 2)?.offers).to.deep.equal([]);
    });
  });

  describe('.requests', () => {
    it('should give consumers the whole service, in canonical order', () => {
      expect(configRights(config, 2)?.requests).to.deep.equal([
        { service: 0x0100, instanceLo: 5, instanceHi: 5, methodLo: 1, methodHi: 0xfffe },
        { service: 0x1234, instanceLo: 1, instanceHi: 3, methodLo: 1, methodHi: 0xfffe },
        { service: 0x1234, instanceLo: 7, instanceHi: 7, methodLo: 1, methodHi: 0xfffe },
      ]);
    });

    it('should agree with mayOffer/mayRequest and clip a greedy CSR', () => {
      const allowed = configRights(config, 1)!;
      expect(mayOfferRight(allowed, 0x1234, 2)).to.equal(true);
      expect(mayOfferRight(allowed, 0x1234, 4)).to.equal(false);
      expect(mayRequestRight(allowed, 0x0100, 5)).to.equal(true);
      expect(mayRequestRight(allowed, 0x1234, 1)).to.equal(false);
      const greedy = {
        offers: [{ service: 0x1234, instanceLo: 0, instanceHi: 0xffff }],
        requests: [],
      };
      expect(intersectRights(greedy, allowed).offers).to.deep.equal(allowed.offers);
    });

    it('should return undefined for a VM the config does not know', () => {
      expect(configRights(config, 9)).to.equal(undefined);
    });
  });

  describe('.cap', () => {
    it('should refuse a config whose VM would need more rights than a certificate holds', () => {
      // 513 isolated instances: 513 offer runs for the provider, one more than the cap.
      const instances = Array.from({ length: 513 }, (_, i) => 2 * i + 1).join(', ');
      const text = TEXT.replace('instances: [7, 1, 2, 3]', `instances: [${instances}]`);
      let issues: string[] = [];
      try {
        parseConfig(text, { file: 'r.yaml', baseDir: '/nowhere' });
      } catch (e) {
        if (isConfigError(e)) issues = e.issues.map(formatConfigIssue);
      }
      expect(issues).to.deep.equal([
        "r.yaml:5:5: vms[0]: vm 'infotainment' would need 513 offer rights (one per run of consecutive instances per service); a certificate holds at most 512",
        "r.yaml:6:5: vms[1]: vm 'cluster' would need 514 request rights (one per run of consecutive instances per service); a certificate holds at most 512",
      ]);
    });
  });
});
