import { expect } from 'chai';
import { ELASTIC_DEFAULTS, type ElasticWindow } from '@sivshm/core';
import { ElasticPolicy, type ChannelSample } from './resize-policy.js';

const BOUNDS: ElasticWindow = {
  ...ELASTIC_DEFAULTS,
  minRingDataSize: 4096,
  maxRingDataSize: 65536,
};

function sample(
  nowMs: number,
  ringDataSize: number,
  used: [number, number],
  drops: [number, number] = [0, 0],
): ChannelSample {
  return {
    nowMs,
    ringDataSize,
    c2p: { usedBytes: used[0], drops: drops[0] },
    p2c: { usedBytes: used[1], drops: drops[1] },
  };
}

describe('ElasticPolicy', () => {
  it('should grow a channel whose ring stays full for growAfterMs, doubling up to the maximum', () => {
    const p = new ElasticPolicy(BOUNDS);
    expect(p.observe(sample(0, 4096, [0, 4000])).kind).to.equal('hold');
    expect(p.observe(sample(100, 4096, [0, 4000])).kind).to.equal('hold');
    expect(p.observe(sample(200, 4096, [0, 3500]))).to.deep.include({
      kind: 'grow',
      toRingDataSize: 8192,
    });
    // The clock starts again in the new window.
    expect(p.observe(sample(250, 8192, [0, 8000])).kind).to.equal('hold');
    expect(p.observe(sample(450, 8192, [0, 8000]))).to.deep.include({
      kind: 'grow',
      toRingDataSize: 16384,
    });
    const atMax = p.observe(sample(2000, 65536, [65536, 0]));
    expect(atMax).to.deep.include({ kind: 'hold' });
    expect(atMax.reason).to.match(/at maxRingDataSize/);
  });

  it('should count refused events as busy even when the ring is drained at the sample', () => {
    const p = new ElasticPolicy(BOUNDS);
    p.observe(sample(0, 4096, [0, 0], [0, 5]));
    expect(p.observe(sample(10, 4096, [0, 0], [0, 9])).reason).to.match(/events refused/);
    const d = p.observe(sample(210, 4096, [0, 0], [0, 12]));
    expect(d).to.deep.include({ kind: 'grow', toRingDataSize: 8192 });
    // The drops word is free-running: a wrap is still a change.
    const q = new ElasticPolicy(BOUNDS);
    q.observe(sample(0, 4096, [0, 0], [0xffff_ffff, 0]));
    expect(q.observe(sample(10, 4096, [0, 0], [2, 0])).reason).to.match(/events refused/);
  });

  it('should shrink a channel quiet for shrinkAfterMs, halving down to the minimum, and not flap', () => {
    const p = new ElasticPolicy(BOUNDS);
    expect(p.observe(sample(0, 65536, [10, 0])).kind).to.equal('hold');
    expect(p.observe(sample(4000, 65536, [0, 0])).kind).to.equal('hold');
    // A burst in between starts the quiet clock again.
    expect(p.observe(sample(4500, 65536, [0, 30000])).kind).to.equal('hold');
    expect(p.observe(sample(5100, 65536, [0, 0])).kind).to.equal('hold');
    expect(p.observe(sample(10100, 65536, [0, 0]))).to.deep.include({
      kind: 'shrink',
      toRingDataSize: 32768,
    });
    const floor = new ElasticPolicy(BOUNDS);
    floor.observe(sample(0, 4096, [0, 0]));
    expect(floor.observe(sample(99_999, 4096, [0, 0])).reason).to.match(/at minRingDataSize/);
  });
});
