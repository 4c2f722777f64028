import { DiscoveryError } from '../errors/discovery-error.js';

/**
 * SD timing and lifetime parameters (PRS SOME/IP-SD §"Phases"). Times in
 * milliseconds, TTLs in seconds. Defaults follow vsomeip's except the initial delay range
 * (10..100 ms, the range of vsomeip's sample configurations, instead of 0..3000).
 */
export interface SdTiming {
  readonly initialDelayMin: number;
  readonly initialDelayMax: number;
  readonly repetitionsBaseDelay: number;
  /** Number of repetitions (0 skips the repetition phase). */
  readonly repetitionsMax: number;
  readonly cyclicOfferDelay: number;
  /** Random delay range for answers to multicast messages (SD-83); 0..0 answers at once. */
  readonly requestResponseDelayMin: number;
  readonly requestResponseDelayMax: number;
  /** TTL of our Offers, seconds (0xFFFFFF = until reboot). */
  readonly offerTtl: number;
  /** TTL of our Finds, seconds. */
  readonly findTtl: number;
  /** TTL of our Subscribes, seconds. */
  readonly subscribeTtl: number;
}

/** The defaults. */
export const DEFAULT_SD_TIMING: SdTiming = Object.freeze({
  initialDelayMin: 10,
  initialDelayMax: 100,
  repetitionsBaseDelay: 10,
  repetitionsMax: 3,
  cyclicOfferDelay: 1000,
  requestResponseDelayMin: 0,
  requestResponseDelayMax: 0,
  offerTtl: 3,
  findTtl: 0xffffff,
  subscribeTtl: 3,
});

/** Fills in defaults and checks ranges; throws `ERR_SD_INPUT` naming the bad parameter. */
export function resolveSdTiming(partial: Partial<SdTiming> = {}): SdTiming {
  const t: SdTiming = { ...DEFAULT_SD_TIMING, ...partial };
  const check = (name: keyof SdTiming, min: number, max: number): void => {
    const v = t[name];
    if (!Number.isInteger(v) || v < min || v > max)
      throw new DiscoveryError(
        'ERR_SD_INPUT',
        `SD timing ${name} = ${String(v)} is outside ${min}..${max}`,
      );
  };
  check('initialDelayMin', 0, 3_600_000);
  check('initialDelayMax', t.initialDelayMin, 3_600_000);
  check('repetitionsBaseDelay', 1, 3_600_000);
  check('repetitionsMax', 0, 16);
  check('cyclicOfferDelay', 1, 3_600_000);
  check('requestResponseDelayMin', 0, 3_600_000);
  check('requestResponseDelayMax', t.requestResponseDelayMin, 3_600_000);
  check('offerTtl', 1, 0xffffff);
  check('findTtl', 1, 0xffffff);
  check('subscribeTtl', 1, 0xffffff);
  return t;
}
