// Node.consume's options are checked before any SD or handshake: a missing options object, a
// mode that is none, and a timeout no timer can keep are RuntimeErrors that say what to fix —
// not a wait that ends with "nobody offers it".
import { expect } from 'chai';
import { RuntimeError, type ConsumeOptions } from '../src/index.js';
import { setUpEachTest } from './support/deployment.js';

async function refusal(p: Promise<unknown>): Promise<RuntimeError> {
  const err = await p.then(
    () => expect.fail('consume resolved'),
    (e: unknown) => e,
  );
  expect(RuntimeError.is(err), String(err)).to.equal(true);
  return err as RuntimeError;
}

describe('Node.consume options', function () {
  this.timeout(60_000);
  const rig = setUpEachTest({ node: true });

  it('refuses a consume without options, naming the instances there are', async () => {
    const err = await refusal(
      rig.node.consume('VehicleSpeed', undefined as unknown as ConsumeOptions),
    );
    expect(err.code).to.equal('ERR_BAD_ARGUMENT');
    expect(err.message).to.match(/needs options with the instance \(services\.yaml lists 1/);
  });

  it('refuses a mode that is not a mode, naming the modes', async () => {
    const options = { instance: 1, mode: 'secure' } as unknown as ConsumeOptions;
    const err = await refusal(rig.node.consume('VehicleSpeed', options));
    expect(err.code).to.equal('ERR_BAD_ARGUMENT');
    expect(err.message).to.match(/mode must be one of plain, mac, aead; got secure/);
  });

  it('refuses a timeoutMs that is not a whole number of ms a timer can keep', async () => {
    for (const timeoutMs of [0, -5, Number.NaN, 1.5, 2 ** 31]) {
      const err = await refusal(rig.node.consume('VehicleSpeed', { instance: 1, timeoutMs }));
      expect(err.code, String(timeoutMs)).to.equal('ERR_BAD_ARGUMENT');
      expect(err.message).to.match(
        /^Node\.consume: timeoutMs must be a whole number of ms from 1 to 2147483647, got /,
      );
    }
  });
});
