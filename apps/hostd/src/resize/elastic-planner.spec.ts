import { expect } from 'chai';
import { windowLayout } from '@sivshm/abi';
import { ELASTIC_DEFAULTS, type ElasticWindow } from '@sivshm/core';
import { ElasticPlanner } from './elastic-planner.js';
import { proportionalShares, ringDataSizeWithin } from './region-shares.js';
import type { ChannelSample } from './resize-policy.js';

const W = (ring: number): number => windowLayout(4096).windowLength(ring);
const BOUNDS: ElasticWindow = {
  ...ELASTIC_DEFAULTS,
  minRingDataSize: 4096,
  maxRingDataSize: 1 << 20,
  growAfterMs: 10,
};
const full = (nowMs: number, ring: number): ChannelSample => ({
  nowMs,
  ringDataSize: ring,
  c2p: { usedBytes: 0, drops: 0 },
  p2c: { usedBytes: ring, drops: 0 },
});
const half = (nowMs: number, ring: number): ChannelSample => ({
  ...full(nowMs, ring),
  p2c: { usedBytes: ring / 2, drops: 0 },
});

describe('region shares', () => {
  it('should give every channel what it wants while the wants fit the budget', () => {
    const s = proportionalShares(1000, [
      { key: 'a', wantBytes: 300, minBytes: 100 },
      { key: 'b', wantBytes: 600, minBytes: 100 },
    ]);
    expect([...s]).to.deep.equal([
      ['a', 300],
      ['b', 600],
    ]);
  });

  it('should split an over-asked budget in proportion to the wants above each minimum, never below a minimum', () => {
    const s = proportionalShares(1000, [
      { key: 'busy', wantBytes: 4000, minBytes: 100 },
      { key: 'quiet', wantBytes: 100, minBytes: 100 },
      { key: 'mid', wantBytes: 1000, minBytes: 100 },
    ]);
    expect(s.get('quiet')).to.equal(100);
    expect(s.get('busy')! + s.get('mid')! + s.get('quiet')!).to.be.at.most(1000);
    expect(s.get('busy')! / s.get('mid')!).to.be.closeTo((4000 - 100 + 100 * 0) / 900, 1.5);
    expect(s.get('mid')).to.be.at.least(100);
  });

  it('should pick the largest power-of-two ring whose window fits a share', () => {
    expect(ringDataSizeWithin(W(16384), 65536, 4096, 4096)).to.equal(16384);
    expect(ringDataSizeWithin(W(16384) - 1, 65536, 4096, 4096)).to.equal(8192);
    expect(ringDataSizeWithin(0, 65536, 4096, 4096)).to.equal(4096);
  });
});

describe('ElasticPlanner', () => {
  it('should grow a busy channel only as far as its share and shrink a quiet one holding more than its share', () => {
    // Room for one 128 KiB window and one 16 KiB window.
    const planner = new ElasticPlanner<string>({
      budgetBytes: W(131072) + W(16384),
      pageGranule: 4096,
    });
    const at = (t: number, busy: number, quiet: number) =>
      planner.plan([
        { key: 'camera', bounds: BOUNDS, sample: full(t, busy) },
        { key: 'doors', bounds: BOUNDS, sample: half(t, quiet) },
      ]);
    at(0, 65536, 65536);
    const first = at(20, 65536, 65536);
    const camera = first.find((p) => p.key === 'camera')!;
    // It asked for 128 KiB, which does not fit beside doors' 64 KiB: its share is less.
    expect(camera.decision.kind).to.equal('hold');
    expect(camera.decision.reason).to.match(/region budget allows/);
    // doors shrinks on its own when quiet; then camera's share grows and it may grow.
    const quiet = (t: number) =>
      planner.plan([
        { key: 'camera', bounds: BOUNDS, sample: full(t, 65536) },
        {
          key: 'doors',
          bounds: BOUNDS,
          sample: { ...full(t, 4096), p2c: { usedBytes: 0, drops: 0 } },
        },
      ]);
    quiet(40);
    const later = quiet(60).find((p) => p.key === 'camera')!;
    expect(later.decision).to.deep.include({ kind: 'grow', toRingDataSize: 131072 });
  });

  it('should shrink a channel that holds more than its share while another wants more', () => {
    const planner = new ElasticPlanner<string>({
      budgetBytes: W(65536) + W(16384),
      pageGranule: 4096,
    });
    const plan = (t: number) =>
      planner.plan([
        { key: 'big', bounds: BOUNDS, sample: half(t, 65536) },
        { key: 'busy', bounds: BOUNDS, sample: full(t, 16384) },
      ]);
    plan(0);
    const out = plan(20);
    const big = out.find((p) => p.key === 'big')!;
    expect(big.decision.kind).to.equal('shrink');
    expect(big.decision.reason).to.match(/more than its share/);
    expect(W((big.decision as { toRingDataSize: number }).toRingDataSize)).to.be.at.most(
      big.shareBytes,
    );
  });
});
