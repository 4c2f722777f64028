import type { ElasticWindow } from '@sivshm/core';

/** One ring direction as hostd reads it from its index pages (the words status reads). */
export interface DirectionSample {
  /** Bytes published and not yet released: `(producer index − consumer index) >>> 0`. */
  readonly usedBytes: number;
  /** The producer page's free-running `drops` word (events refused by a full ring). */
  readonly drops: number;
}

/** What {@link ElasticPolicy.observe} is given at each status interval. */
export interface ChannelSample {
  /** Monotonic ms. */
  readonly nowMs: number;
  /** The channel's current ring data area per direction, bytes. */
  readonly ringDataSize: number;
  readonly c2p: DirectionSample;
  readonly p2c: DirectionSample;
}

/** hostd's decision for one channel at one sample (docs/protocol.md §11.1). */
export type ResizeDecision =
  | { readonly kind: 'hold'; readonly reason: string }
  | {
      readonly kind: 'grow' | 'shrink';
      /** The ring data area per direction of the window to move to. */
      readonly toRingDataSize: number;
      readonly reason: string;
    };

/**
 * When a channel of an elastic service should move to a larger or smaller window, from the ring
 * counters hostd already reads for `status` (docs/protocol.md §11.1): a direction at least
 * `growAtPercent` full, or one whose `drops` word moved, for `growAfterMs` → double; both
 * directions at most `shrinkAtPercent` full for `shrinkAfterMs` → halve; never past the bounds.
 * A condition that stops holding starts its clock again, so a channel does not flap. Pure: the
 * caller feeds samples and carries the decision out (and checks the region budget,
 * `region-shares.ts`).
 */
export class ElasticPolicy {
  readonly #b: ElasticWindow;
  #busySince: number | undefined;
  #quietSince: number | undefined;
  #lastDrops: [number, number] | undefined;

  constructor(bounds: ElasticWindow) {
    this.#b = bounds;
  }

  /** The decision for this sample; `grow`/`shrink` name the size to move to. */
  observe(s: ChannelSample): ResizeDecision {
    const b = this.#b;
    const fill = (d: DirectionSample): number => (100 * d.usedBytes) / s.ringDataSize;
    const dropped =
      this.#lastDrops !== undefined &&
      ((s.c2p.drops - this.#lastDrops[0]) >>> 0 > 0 ||
        (s.p2c.drops - this.#lastDrops[1]) >>> 0 > 0);
    this.#lastDrops = [s.c2p.drops, s.p2c.drops];
    const most = Math.max(fill(s.c2p), fill(s.p2c));
    const busy = dropped || most >= b.growAtPercent;
    const quiet = !dropped && most <= b.shrinkAtPercent;
    this.#busySince = busy ? (this.#busySince ?? s.nowMs) : undefined;
    this.#quietSince = quiet ? (this.#quietSince ?? s.nowMs) : undefined;
    const why = dropped ? 'events refused by a full ring' : `${Math.round(most)} % full`;
    if (busy) {
      if (s.ringDataSize >= b.maxRingDataSize) return hold(`${why}, at maxRingDataSize`);
      if (s.nowMs - this.#busySince! < b.growAfterMs)
        return hold(`${why}, for less than growAfterMs`);
      return this.#moved('grow', Math.min(b.maxRingDataSize, s.ringDataSize * 2), why);
    }
    if (quiet) {
      if (s.ringDataSize <= b.minRingDataSize) return hold('quiet, at minRingDataSize');
      if (s.nowMs - this.#quietSince! < b.shrinkAfterMs)
        return hold('quiet for less than shrinkAfterMs');
      return this.#moved(
        'shrink',
        Math.max(b.minRingDataSize, s.ringDataSize / 2),
        `at most ${b.shrinkAtPercent} % full for ${b.shrinkAfterMs} ms`,
      );
    }
    return hold(`${Math.round(most)} % full, within the thresholds`);
  }

  /** A move was decided: both clocks start again (the next window gets its own look). */
  #moved(kind: 'grow' | 'shrink', to: number, reason: string): ResizeDecision {
    this.#busySince = undefined;
    this.#quietSince = undefined;
    return { kind, toRingDataSize: to, reason };
  }
}

function hold(reason: string): ResizeDecision {
  return { kind: 'hold', reason };
}
