import { expect } from 'chai';
import { parseConfig } from '@sivshm/core';
import { examplePath, servicesYaml } from '@sivshm/testing';
import { RuntimeError } from '../errors/runtime-error.js';
import { ServiceCatalog } from './service-catalog.js';

const config = parseConfig(
  servicesYaml({
    region: { path: '/dev/shm/catalog-spec', channelCapacity: 8 },
    vms: [
      { id: 1, name: 'infotainment', grantKey: { hex: '11'.repeat(32) } },
      { id: 2, name: 'cluster', grantKey: { hex: '22'.repeat(32) } },
    ],
    services: [{ name: 'VehicleSpeed', instances: [1, 2] }],
  }),
  { file: 'services.yaml', baseDir: examplePath() },
);

describe('ServiceCatalog', () => {
  describe('.of', () => {
    it('should resolve a service by name with its ids and protobuf types', () => {
      const c = ServiceCatalog.of(config, 'VehicleSpeed');
      expect(c.definition.id).to.equal(0x1234);
      expect(c.eventgroupIds).to.deep.equal([1]);
      expect(c.methodNames).to.deep.equal(['reset']);
      const e = c.event('speed');
      expect(e.definition.id).to.equal(0x8001);
      expect(e.eventgroupId).to.equal(1);
      expect(e.type.fullName).to.equal('.sivshm.demo.VehicleSpeed');
      const m = c.method('reset');
      expect(m.definition.id).to.equal(1);
      expect(m.request.fullName).to.equal('.sivshm.demo.ResetRequest');
      expect(m.response.fullName).to.equal('.sivshm.demo.ResetResponse');
    });

    it('should refuse an unknown service naming the ones there are', () => {
      expect(() => ServiceCatalog.of(config, 'Radio'))
        .to.throw(
          RuntimeError,
          /services\.yaml: no service named 'Radio'; services there: VehicleSpeed/,
        )
        .with.property('code', 'ERR_CONFIG');
    });
  });

  describe('.event / .method', () => {
    it('should refuse unknown names, listing the service’s own', () => {
      const c = ServiceCatalog.of(config, 'VehicleSpeed');
      expect(() => c.event('rpm')).to.throw(RuntimeError, /has no event 'rpm'; its events: speed/);
      expect(() => c.method('stop')).to.throw(
        RuntimeError,
        /has no method 'stop'; its methods: reset/,
      );
    });
  });

  describe('.checkInstance', () => {
    it('should accept listed instances and refuse others with the list', () => {
      const c = ServiceCatalog.of(config, 'VehicleSpeed');
      expect(() => c.checkInstance(2)).to.not.throw();
      expect(() => c.checkInstance(3)).to.throw(
        RuntimeError,
        /no instance 3; services\.yaml lists 1, 2/,
      );
    });
  });
});
