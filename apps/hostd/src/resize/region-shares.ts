import { windowLayout, type PageGranule } from '@sivshm/abi';

/** One elastic channel's claim on the region's elastic budget. */
export interface ShareClaim<K> {
  readonly key: K;
  /** Window bytes it wants: its current window, or the one a grow decision asks for. */
  readonly wantBytes: number;
  /** Window bytes of its smallest allowed window: never taken from it. */
  readonly minBytes: number;
}

/**
 * Splits `budgetBytes` (the part of the region's data section elastic channels may hold) among
 * the channels in proportion to what each wants, in the spirit of MemPipe's demand-driven
 * allocation: while the wants fit, each gets what it wants; past that each gets the budget × its
 * want / the sum of wants, but never less than its minimum window, so one busy service cannot
 * starve the others and a quiet one keeps a working window.
 */
export function proportionalShares<K>(
  budgetBytes: number,
  claims: readonly ShareClaim<K>[],
): Map<K, number> {
  const out = new Map<K, number>();
  const total = claims.reduce((n, c) => n + c.wantBytes, 0);
  if (total <= budgetBytes) {
    for (const c of claims) out.set(c.key, c.wantBytes);
    return out;
  }
  // The minimums come first; what is left is shared by the wants above them.
  const floor = claims.reduce((n, c) => n + c.minBytes, 0);
  const above = claims.reduce((n, c) => n + Math.max(0, c.wantBytes - c.minBytes), 0);
  const spare = Math.max(0, budgetBytes - floor);
  for (const c of claims) {
    const extra = above === 0 ? 0 : (spare * Math.max(0, c.wantBytes - c.minBytes)) / above;
    out.set(c.key, Math.floor(c.minBytes + extra));
  }
  return out;
}

/**
 * The largest ring data area (a power of two, from `minRingDataSize` up to `wantRingDataSize`)
 * whose window fits in `shareBytes`; `minRingDataSize` when none larger does.
 */
export function ringDataSizeWithin(
  shareBytes: number,
  wantRingDataSize: number,
  minRingDataSize: number,
  granule: PageGranule,
): number {
  const layout = windowLayout(granule);
  let size = minRingDataSize;
  while (size * 2 <= wantRingDataSize && layout.windowLength(size * 2) <= shareBytes) size *= 2;
  return size;
}
