import { expect } from 'chai';
import { PeerBudgets } from './peer-budget.js';

describe('PeerBudgets', () => {
  const limits = { messagesPerSecond: 10, burst: 3, callsInFlight: 2, maxPeers: 2 };

  it('should admit a burst, then only what the rate refills, per peer', () => {
    let now = 0;
    const b = new PeerBudgets(limits, () => now);
    expect([1, 2, 3, 4].map(() => b.admit('a'))).to.deep.equal([true, true, true, false]);
    expect(b.admit('b'), 'another peer has its own bucket').to.equal(true);
    now = 100; // 10/s refills one token per 100 ms
    expect([b.admit('a'), b.admit('a')]).to.deep.equal([true, false]);
  });

  it('should bound the calls of one peer in flight', () => {
    const b = new PeerBudgets(limits, () => 0);
    expect([b.startCall('a'), b.startCall('a'), b.startCall('a')]).to.deep.equal([
      true,
      true,
      false,
    ]);
    b.endCall('a');
    expect(b.startCall('a')).to.equal(true);
  });

  it('should forget the least recently seen idle peer past maxPeers, keeping one with calls in flight', () => {
    const now = 0;
    const b = new PeerBudgets(limits, () => now);
    b.startCall('busy');
    for (let i = 0; i < 3; i++) b.admit('idle');
    b.admit('new'); // over maxPeers: 'idle' (no call in flight) is forgotten, 'busy' kept
    expect(b.admit('idle'), 'a forgotten peer starts with a full bucket').to.equal(true);
    expect([b.startCall('busy'), b.startCall('busy')]).to.deep.equal([true, false]);
  });
});
