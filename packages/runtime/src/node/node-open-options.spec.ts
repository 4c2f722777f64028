// Node.open's period options are checked before anything is read or connected: a wrong value is
// a RuntimeError naming the option and its range, never a timer firing every millisecond.
import { expect } from 'chai';
import { RuntimeError } from '../errors/runtime-error.js';
import { Node } from './node.js';

const base = { config: '/nonexistent/services.yaml', vm: 'cluster', runDir: '/nonexistent' };

async function refusal(options: Parameters<typeof Node.open>[0]): Promise<RuntimeError> {
  const err = await Node.open(options).catch((e: unknown) => e);
  expect(err).to.be.instanceOf(RuntimeError);
  return err as RuntimeError;
}

describe('Node.open period options', () => {
  it('should refuse a heartbeatMs that is not a whole number of ms from 10 to 60000', async () => {
    for (const heartbeatMs of [0, -1, 9, 60_001, 1.5, Number.NaN, Infinity]) {
      const err = await refusal({ ...base, heartbeatMs });
      expect(err.code, String(heartbeatMs)).to.equal('ERR_BAD_ARGUMENT');
      expect(err.message).to.match(
        /^Node\.open: heartbeatMs must be a whole number of ms from 10 to 60000, got /,
      );
    }
  });

  it('should let valid periods through to the config, which is checked next', async () => {
    const err = await refusal({ ...base, heartbeatMs: 10, peerTimeoutMs: 100 });
    expect(err.code).to.equal('ERR_CONFIG');
  });
});
