import { expect } from 'chai';
import { DEFAULT_PEER_BUDGET } from './edge/peer-budget.js';
import { GatewayError } from './errors/gateway-error.js';
import { checkedGatewayLimits } from './gateway-limits.js';

describe('Gateway.start bounds', () => {
  it('should fill in the defaults and keep what is given', () => {
    expect(checkedGatewayLimits({})).to.deep.equal({
      peerBudget: DEFAULT_PEER_BUDGET,
      callTimeoutMs: 1000,
      maxPayload: 64 * 1024,
    });
    const given = checkedGatewayLimits({ peerBudget: { burst: 5 }, callTimeoutMs: 250 });
    expect(given.peerBudget.burst).to.equal(5);
    expect(given.callTimeoutMs).to.equal(250);
  });

  it('should refuse a bound that would switch a protection off, naming the option', () => {
    const bad: Array<[Parameters<typeof checkedGatewayLimits>[0], string]> = [
      [{ maxPayload: -1 }, 'maxPayload'],
      [{ maxPayload: 0x1_0000_0000 }, 'maxPayload'],
      [{ callTimeoutMs: 0 }, 'callTimeoutMs'],
      [{ callTimeoutMs: Number.NaN }, 'callTimeoutMs'],
      [{ peerBudget: { messagesPerSecond: 0 } }, 'peerBudget.messagesPerSecond'],
      [{ peerBudget: { burst: 0.5 } }, 'peerBudget.burst'],
      [{ peerBudget: { callsInFlight: -3 } }, 'peerBudget.callsInFlight'],
      [{ peerBudget: { maxPeers: Number.POSITIVE_INFINITY } }, 'peerBudget.maxPeers'],
    ];
    for (const [options, name] of bad) {
      let error: unknown;
      try {
        checkedGatewayLimits(options);
      } catch (e) {
        error = e;
      }
      expect(GatewayError.is(error), name).to.equal(true);
      expect((error as GatewayError).code).to.equal('ERR_BAD_ARGUMENT');
      expect((error as Error).message)
        .to.contain(name)
        .and.not.contain('\n');
    }
  });
});
