import { CoreError } from '../errors/core-error.js';

/** A right to OFFER instances `instanceLo..instanceHi` of `service` (docs/protocol.md §6.1). */
export interface OfferRight {
  readonly service: number;
  readonly instanceLo: number;
  readonly instanceHi: number;
}

/** A right to REQUEST methods/events `methodLo..methodHi` of instances of `service`. */
export interface RequestRight extends OfferRight {
  readonly methodLo: number;
  readonly methodHi: number;
}

/** What a certificate allows; both lists sorted strictly ascending, no duplicates. */
export interface Rights {
  readonly offers: readonly OfferRight[];
  readonly requests: readonly RequestRight[];
}

/**
 * Caps on list lengths so a hostile certificate or CSR cannot make us allocate much; 512 each
 * lets one VM offer (and consume) hundreds of services, one right per run of consecutive
 * instances of a service.
 */
export const MAX_RIGHTS_PER_LIST = 512;

const U16 = 0xffff;

function compareTuples(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < a.length; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

const offerKey = (r: OfferRight): number[] => [r.service, r.instanceLo, r.instanceHi];
const requestKey = (r: RequestRight): number[] => [
  r.service,
  r.instanceLo,
  r.instanceHi,
  r.methodLo,
  r.methodHi,
];

function checkRange(what: string, lo: number, hi: number): void {
  if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 0 || hi > U16 || lo > hi) {
    throw new CoreError(
      'ERR_CERT_RIGHTS',
      `${what} range ${lo}..${hi} is not within 0..0xFFFF with lo <= hi`,
    );
  }
}

/**
 * Throws `ERR_NON_CANONICAL` unless both lists are within the cap, sorted strictly ascending
 * and every range is well formed. Used on decode (certificates, CSRs) and before signing.
 */
export function assertCanonicalRights(rights: Rights): void {
  for (const [name, list, key] of [
    ['offers', rights.offers, offerKey],
    ['requests', rights.requests, requestKey],
  ] as const) {
    if (list.length > MAX_RIGHTS_PER_LIST) {
      throw new CoreError(
        'ERR_NON_CANONICAL',
        `${name}: ${list.length} entries, cap is ${MAX_RIGHTS_PER_LIST}`,
      );
    }
    for (let i = 0; i < list.length; i++) {
      const r = list[i] as RequestRight;
      if (!Number.isInteger(r.service) || r.service < 0 || r.service > U16) {
        throw new CoreError(
          'ERR_CERT_RIGHTS',
          `${name}[${i}]: service ${r.service} is out of range`,
        );
      }
      checkRange(`${name}[${i}] instance`, r.instanceLo, r.instanceHi);
      if (name === 'requests') checkRange(`${name}[${i}] method`, r.methodLo, r.methodHi);
      if (i > 0 && compareTuples(key(list[i - 1] as RequestRight), key(r)) >= 0) {
        throw new CoreError(
          'ERR_NON_CANONICAL',
          `${name}[${i}]: entries must be sorted and unique`,
        );
      }
    }
  }
}

/** Sorts and de-duplicates rights into canonical order. */
export function canonicalRights(rights: Rights): Rights {
  const uniq = <T>(list: readonly T[], key: (r: T) => number[]): T[] => {
    const sorted = [...list].sort((a, b) => compareTuples(key(a), key(b)));
    return sorted.filter((r, i) => i === 0 || compareTuples(key(sorted[i - 1] as T), key(r)) !== 0);
  };
  return { offers: uniq(rights.offers, offerKey), requests: uniq(rights.requests, requestKey) };
}

/**
 * `requested ∩ allowed` (enrolment: the CA grants no more than the config allows that VM).
 * Each requested range is clipped against every allowed range of the same service.
 */
export function intersectRights(requested: Rights, allowed: Rights): Rights {
  const offers: OfferRight[] = [];
  for (const r of requested.offers) {
    for (const a of allowed.offers) {
      if (a.service !== r.service) continue;
      const lo = Math.max(r.instanceLo, a.instanceLo);
      const hi = Math.min(r.instanceHi, a.instanceHi);
      if (lo <= hi) offers.push({ service: r.service, instanceLo: lo, instanceHi: hi });
    }
  }
  const requests: RequestRight[] = [];
  for (const r of requested.requests) {
    for (const a of allowed.requests) {
      if (a.service !== r.service) continue;
      const ilo = Math.max(r.instanceLo, a.instanceLo);
      const ihi = Math.min(r.instanceHi, a.instanceHi);
      const mlo = Math.max(r.methodLo, a.methodLo);
      const mhi = Math.min(r.methodHi, a.methodHi);
      if (ilo <= ihi && mlo <= mhi) {
        requests.push({
          service: r.service,
          instanceLo: ilo,
          instanceHi: ihi,
          methodLo: mlo,
          methodHi: mhi,
        });
      }
    }
  }
  return canonicalRights({ offers, requests });
}

/** True if `rights` allow offering `instance` of `service`. */
export function mayOfferRight(rights: Rights, service: number, instance: number): boolean {
  return rights.offers.some(
    (r) => r.service === service && r.instanceLo <= instance && instance <= r.instanceHi,
  );
}

/** True if `rights` allow requesting `instance` of `service` (any method, or `method`). */
export function mayRequestRight(
  rights: Rights,
  service: number,
  instance: number,
  method?: number,
): boolean {
  return rights.requests.some(
    (r) =>
      r.service === service &&
      r.instanceLo <= instance &&
      instance <= r.instanceHi &&
      (method === undefined || (r.methodLo <= method && method <= r.methodHi)),
  );
}
