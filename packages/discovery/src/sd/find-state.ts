import type { SdEntryFields } from '../wire/sd-packer.js';
import type { FindQuery } from './service-types.js';

const ANY_INSTANCE = 0xffff;

/**
 * The one search for a service: every `find()` and `subscribe()` of the service shares it
 * (PRS_SOMEIPSD: one FindService entry per service, not one per caller). Its entry is the
 * narrowest query that covers every caller's (a field on which callers differ becomes its
 * wildcard), and it ends once every caller's query is answered.
 */
export interface FindState {
  readonly serviceId: number;
  /** Callers' queries by key, with how many callers hold each. */
  readonly queries: Map<string, { readonly query: Required<FindQuery>; refs: number }>;
  /**
   * Keys of the queries no Offer has answered yet: an Offer entry checks only these, so the
   * per-entry work ends once all are answered (every cycle carries an Offer per instance).
   */
  readonly unanswered: Set<string>;
  /** Per field, how many of `queries` hold each value (see `countQuery`). */
  readonly values: Record<'instanceId' | 'majorVersion' | 'minorVersion', Map<number, number>>;
  entry: SdEntryFields;
}

/** The query fields on which callers of one search may differ. */
type CoveredField = 'instanceId' | 'majorVersion' | 'minorVersion';
const COVERED: readonly [CoveredField, number][] = [
  ['instanceId', ANY_INSTANCE],
  ['majorVersion', 0xff],
  ['minorVersion', 0xffffffff],
];

/**
 * Counts `query`'s fields in (`delta` 1) or out of (`delta` -1) `f.values`: the covering query
 * then reads one map size per field instead of comparing every caller's query (hundreds of
 * instances of one service made each retain and release a scan of all of them).
 */
export function countQuery(f: FindState, query: Required<FindQuery>, delta: 1 | -1): void {
  for (const [k] of COVERED) {
    const counts = f.values[k];
    const n = (counts.get(query[k]) ?? 0) + delta;
    if (n === 0) counts.delete(query[k]);
    else counts.set(query[k], n);
  }
}

/** The narrowest Find query covering every query `f` holds: differing fields become wildcards. */
export function coveringQuery(f: FindState): Required<FindQuery> {
  const one = (k: CoveredField, wildcard: number): number => {
    const counts = f.values[k];
    return counts.size === 1 ? (counts.keys().next().value ?? wildcard) : wildcard;
  };
  return {
    serviceId: f.serviceId,
    instanceId: one('instanceId', ANY_INSTANCE),
    majorVersion: one('majorVersion', 0xff),
    minorVersion: one('minorVersion', 0xffffffff),
  };
}
