import { expect } from 'chai';
import { isAbsolute } from 'node:path';
import { parse } from 'yaml';
import { servicesYaml } from './services-yaml.js';

interface Parsed {
  region: { size: string; path: string; channelCapacity: number };
  vms: { id: number; name: string; grantKey: { hex?: string; file?: string }; limits?: object }[];
  protos: string[];
  services: {
    name: string;
    id: number;
    consumers: string[];
    instances: number[];
    methods?: unknown[];
  }[];
}

describe('servicesYaml', () => {
  const base = {
    region: { path: '/dev/shm/x' },
    vms: [
      { id: 1, name: 'infotainment' },
      { id: 2, name: 'cluster', limits: { burst: 5 } },
    ],
  };

  it("should take the example's service definitions by name, with this test's region and VMs", () => {
    const doc = parse(servicesYaml({ ...base, services: ['VehicleSpeed'] })) as Parsed;
    expect(doc.region).to.deep.equal({ size: '4MiB', path: '/dev/shm/x', channelCapacity: 64 });
    expect(doc.vms.map((v) => v.name)).to.deep.equal(['infotainment', 'cluster']);
    expect(doc.vms[0]!.grantKey.hex).to.match(/^[0-9a-f]{64}$/);
    expect(doc.vms[0]!.grantKey.hex).to.not.equal(doc.vms[1]!.grantKey.hex);
    expect(doc.vms[1]!.limits).to.deep.equal({ burst: 5 });
    expect(doc.services).to.have.length(1);
    expect(doc.services[0]).to.include({ name: 'VehicleSpeed', id: 0x1234 });
    expect(doc.services[0]!.methods).to.have.length(1);
    expect(doc.protos.every((p) => isAbsolute(p))).to.equal(true);
  });

  it('should change consumers and instances, and keep proto paths relative when asked', () => {
    const doc = parse(
      servicesYaml({
        ...base,
        services: [{ name: 'MediaControl', consumers: ['cluster', 'rogue'], instances: [1, 2] }],
        protos: 'relative',
      }),
    ) as Parsed;
    expect(doc.services[0]).to.deep.include({ consumers: ['cluster', 'rogue'], instances: [1, 2] });
    expect(doc.protos).to.deep.equal(['proto/vehicle.proto']);
  });

  it('should refuse a service the example does not define', () => {
    expect(() => servicesYaml({ ...base, services: ['Radio'] })).to.throw(/no service named Radio/);
  });
});
