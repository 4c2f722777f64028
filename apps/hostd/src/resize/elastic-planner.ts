import type { PageGranule } from '@sivshm/abi';
import type { ElasticWindow } from '@sivshm/core';
import { windowLayout } from '@sivshm/abi';
import { proportionalShares, ringDataSizeWithin } from './region-shares.js';
import { ElasticPolicy, type ChannelSample, type ResizeDecision } from './resize-policy.js';

/** One elastic channel at one status interval. */
export interface ElasticChannelState<K> {
  readonly key: K;
  readonly bounds: ElasticWindow;
  readonly sample: ChannelSample;
}

/** A decision, after the region budget, with the share it was measured against. */
export interface PlannedResize<K> {
  readonly key: K;
  readonly decision: ResizeDecision;
  /** Window bytes this channel may hold now (its proportional share of the budget). */
  readonly shareBytes: number;
}

/**
 * hostd's elastic decisions for all elastic channels of the region at once: each channel's own
 * {@link ElasticPolicy}, then the region budget (`region-shares.ts`) — a grow goes only as far as
 * the channel's proportional share, and a channel that is not busy and holds more than its share
 * while others want more is shrunk to it. One policy is kept per channel key; channels no longer
 * listed are forgotten.
 */
export class ElasticPlanner<K> {
  readonly #budgetBytes: number;
  readonly #granule: PageGranule;
  readonly #policies = new Map<K, ElasticPolicy>();

  constructor(o: { budgetBytes: number; pageGranule: PageGranule }) {
    this.#budgetBytes = o.budgetBytes;
    this.#granule = o.pageGranule;
  }

  plan(channels: readonly ElasticChannelState<K>[]): PlannedResize<K>[] {
    const layout = windowLayout(this.#granule);
    const listed = new Set(channels.map((c) => c.key));
    for (const k of [...this.#policies.keys()]) if (!listed.has(k)) this.#policies.delete(k);
    const raw = channels.map((c) => {
      let p = this.#policies.get(c.key);
      if (p === undefined) this.#policies.set(c.key, (p = new ElasticPolicy(c.bounds)));
      return p.observe(c.sample);
    });
    const shares = proportionalShares(
      this.#budgetBytes,
      channels.map((c, i) => {
        const d = raw[i]!;
        const want = d.kind === 'grow' ? d.toRingDataSize : c.sample.ringDataSize;
        return {
          key: c.key,
          wantBytes: layout.windowLength(want),
          minBytes: layout.windowLength(c.bounds.minRingDataSize),
        };
      }),
    );
    return channels.map((c, i) => {
      const d = raw[i]!;
      const share = shares.get(c.key)!;
      const current = c.sample.ringDataSize;
      const min = c.bounds.minRingDataSize;
      const fits = ringDataSizeWithin(
        share,
        Math.max(current, d.kind === 'grow' ? d.toRingDataSize : 0),
        min,
        this.#granule,
      );
      if (d.kind === 'grow' && fits <= current) {
        return {
          key: c.key,
          shareBytes: share,
          decision: {
            kind: 'hold',
            reason: `${d.reason}, but the region budget allows ${share} bytes`,
          },
        };
      }
      if (d.kind === 'grow') {
        const reason =
          fits < d.toRingDataSize ? `${d.reason} (limited by the region budget)` : d.reason;
        return {
          key: c.key,
          shareBytes: share,
          decision: { kind: 'grow', toRingDataSize: fits, reason },
        };
      }
      if (d.kind === 'hold' && layout.windowLength(current) > share && fits < current) {
        const reason = `holds more than its share of the region budget (${share} bytes) while others want more`;
        return {
          key: c.key,
          shareBytes: share,
          decision: { kind: 'shrink', toRingDataSize: fits, reason },
        };
      }
      return { key: c.key, shareBytes: share, decision: d };
    });
  }
}
