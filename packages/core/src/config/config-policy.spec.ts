import { expect } from 'chai';
import { mayConsume, mayOffer, serviceById, vmById, vmByName } from './config-policy.js';
import { parseConfig } from './parse-config.js';

const TEXT = `
version: 1
region: { size: 1MiB }
vms:
  - { id: 1, name: infotainment, grantKey: { env: K1 } }
  - { id: 2, name: cluster, grantKey: { env: K2 } }
  - { id: 3, name: rtos, grantKey: { env: K3 } }
services:
  - { name: Speed, id: 0x1234, instances: [1, 2], major: 1, provider: infotainment, consumers: [cluster] }
  - { name: Diag, id: 0x0100, instances: [5], major: 1, provider: rtos, consumers: [cluster, infotainment] }
`;

describe('config policy', () => {
  const config = parseConfig(TEXT, { file: 'p.yaml', baseDir: '/nowhere' });

  describe('.mayOffer', () => {
    it('should allow only the provider, only for its instances', () => {
      expect(mayOffer(config, 1, 0x1234, 1)).to.equal(true);
      expect(mayOffer(config, 1, 0x1234, 2)).to.equal(true);
      expect(mayOffer(config, 1, 0x1234, 3)).to.equal(false);
      expect(mayOffer(config, 2, 0x1234, 1)).to.equal(false);
      expect(mayOffer(config, 1, 0x0100, 5)).to.equal(false);
      expect(mayOffer(config, 3, 0x0100, 5)).to.equal(true);
      expect(mayOffer(config, 1, 0x9999, 1)).to.equal(false);
    });
  });

  describe('.mayConsume', () => {
    it('should allow only listed consumers, only for configured instances', () => {
      expect(mayConsume(config, 2, 0x1234, 1)).to.equal(true);
      expect(mayConsume(config, 2, 0x1234, 0xffff)).to.equal(false);
      expect(mayConsume(config, 3, 0x1234, 1)).to.equal(false);
      expect(mayConsume(config, 1, 0x1234, 1)).to.equal(false);
      expect(mayConsume(config, 1, 0x0100, 5)).to.equal(true);
      expect(mayConsume(config, 2, 0x4242, 1)).to.equal(false);
    });
  });

  describe('.serviceById', () => {
    it('should find a service by id and nothing for an unknown id', () => {
      expect(serviceById(config, 0x0100)?.name).to.equal('Diag');
      expect(serviceById(config, 0x0101)).to.equal(undefined);
    });
  });

  describe('.vmById / .vmByName', () => {
    it('should find VMs by id and name', () => {
      expect(vmById(config, 3)?.name).to.equal('rtos');
      expect(vmByName(config, 'cluster')?.id).to.equal(2);
      expect(vmById(config, 4)).to.equal(undefined);
      expect(vmByName(config, 'hud')).to.equal(undefined);
    });
  });
});
