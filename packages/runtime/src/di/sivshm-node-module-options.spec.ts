// sivshmNodeModule's options are checked when the module is made: each mistake is a RuntimeError
// naming the entry to fix, not a TypeError from inside the container's load nor an ambiguous
// binding found at the first resolution.
import { expect } from 'chai';
import { RuntimeError } from '../errors/runtime-error.js';
import { sivshmNodeModule, type SivshmNodeModuleOptions } from './sivshm-node-module.js';

const base = { config: 'services.yaml', vm: 'cluster', runDir: '/run/sivshm' };

function refusal(options: unknown): RuntimeError {
  try {
    sivshmNodeModule(options as SivshmNodeModuleOptions);
  } catch (e) {
    expect(e).to.be.instanceOf(RuntimeError);
    expect((e as RuntimeError).code).to.equal('ERR_BAD_ARGUMENT');
    return e as RuntimeError;
  }
  throw new Error(`sivshmNodeModule took ${JSON.stringify(options)}`);
}

describe('sivshmNodeModule options', () => {
  it('should refuse a missing options object', () => {
    expect(refusal(undefined).message).to.match(/needs \{ config, vm, runDir \}/);
  });

  it('should refuse a consume or offer that is not a list of { service, options }', () => {
    expect(refusal({ ...base, consume: { service: 'VehicleSpeed' } }).message).to.match(
      /consume must be a list/,
    );
    expect(refusal({ ...base, offer: [{ options: { instance: 1 } }] }).message).to.match(
      /offer\[0\]\.service must be a service name/,
    );
    expect(refusal({ ...base, consume: [{ service: 'VehicleSpeed' }] }).message).to.match(
      /consume\[0\]\.options must be given/,
    );
    expect(
      refusal({ ...base, consume: [{ service: 'VehicleSpeed', options: { instance: '1' } }] })
        .message,
    ).to.match(/consume\[0\]\.options\.instance must be a whole number, got 1/);
  });

  it('should refuse one service instance bound twice to one token', () => {
    const twice = [
      { service: 'VehicleSpeed', options: { instance: 1 } },
      { service: 'VehicleSpeed', options: { instance: 1, mode: 'aead' } },
    ];
    expect(refusal({ ...base, consume: twice }).message).to.match(
      /consume\[1\]: VehicleSpeed instance 1 is bound twice/,
    );
  });

  it('should take a consume and an offer of one instance, and one instance twice under two tokens', () => {
    const withTokens = [
      { service: 'VehicleSpeed', options: { instance: 1 }, token: Symbol('plain') },
      { service: 'VehicleSpeed', options: { instance: 1, mode: 'aead' }, token: Symbol('aead') },
    ] as const;
    expect(() =>
      sivshmNodeModule({
        ...base,
        consume: [...withTokens],
        offer: [{ service: 'VehicleSpeed', options: { instance: 1 } }],
      }),
    ).to.not.throw();
  });
});
