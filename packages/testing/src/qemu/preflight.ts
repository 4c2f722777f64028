import { missingTools, pickKernel } from './guest-image.js';
import type { TierResults } from './tier-results.js';

/**
 * The kernel to boot, or undefined after recording `<tier>-preflight` as failed with what this
 * machine lacks (a tier that cannot run must not look green).
 */
export function preflight(tier: string, results: TierResults): string | undefined {
  const missing = missingTools();
  const kver = pickKernel();
  if (missing.length > 0 || kver === undefined) {
    results.record(`${tier}-preflight`, false, `missing: ${missing.join(', ')}`);
    return undefined;
  }
  return kver;
}
