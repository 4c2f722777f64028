import { expect } from 'chai';
import { appendFileSync } from 'node:fs';
import { makeDeployment, type Deployment } from '@sivshm/testing';
import { GatewayError } from './errors/gateway-error.js';
import { Gateway } from './gateway.js';

/** Gateway.start's refusal, before any socket or node is opened. */
async function refusal(d: Deployment, vm: string): Promise<GatewayError> {
  try {
    await Gateway.start({ config: d.configPath, vm, runDir: d.runDir, log: () => undefined });
  } catch (e) {
    if (GatewayError.is(e)) return e;
    throw e;
  }
  throw new Error('expected Gateway.start to refuse');
}

describe('Gateway.start and its VM', () => {
  let d: Deployment;
  before(() => {
    d = makeDeployment({
      label: 'gateway-config',
      vms: [
        { id: 1, name: 'infotainment' },
        { id: 2, name: 'gateway' },
      ],
      // The gateway may consume VehicleSpeed, but infotainment provides it.
      services: [{ name: 'VehicleSpeed', consumers: ['gateway'] }],
    });
    appendFileSync(
      d.configPath,
      '\ngateway:\n  unicast: 10.0.0.5\n  import:\n    - { service: VehicleSpeed, instance: 1, udp: 30701 }\n',
    );
  });
  after(() => d?.cleanup());

  it("should refuse to import a service whose provider is another VM (the gateway's certificate could not offer it)", async () => {
    const e = await refusal(d, 'gateway');
    expect(e.code).to.equal('ERR_CONFIG');
    expect(e.message).to.equal(
      "gateway VM 'gateway' may not offer VehicleSpeed, which gateway.import lists; make 'gateway' its provider",
    );
  });

  it('should refuse a VM the config does not name', async () => {
    const e = await refusal(d, 'nobody');
    expect(e.code).to.equal('ERR_CONFIG');
    expect(e.message).to.match(/has no VM named 'nobody'$/);
  });
});

describe('Gateway.start and its unicast address', () => {
  let d: Deployment;
  before(() => {
    d = makeDeployment({
      label: 'gateway-loopback',
      vms: [
        { id: 1, name: 'infotainment' },
        { id: 2, name: 'gateway' },
      ],
      services: [{ name: 'VehicleSpeed', consumers: ['gateway'] }],
    });
    appendFileSync(
      d.configPath,
      '\ngateway:\n  unicast: 127.0.0.1\n  export:\n    - { service: VehicleSpeed, instance: 1, udp: 30501 }\n',
    );
  });
  after(() => d?.cleanup());

  it('should refuse a loopback unicast, which it could never offer on (SD-1233), saying what to give instead', async () => {
    const e = await refusal(d, 'gateway');
    expect(e.code).to.equal('ERR_CONFIG');
    expect(e.message).to.equal(
      'gateway.unicast 127.0.0.1 is a loopback address, which may not be offered to SOME/IP peers (PRS SD-1233); give the address of the interface that faces the vehicle network',
    );
  });
});
