import { DEFAULT_SD_TIMING } from '@sivshm/discovery';

/**
 * The TTL of a VM's offers, seconds. A VM that asked for a longer peer timeout (a guest whose
 * vCPUs may stall, TCG or a loaded host) is one whose cyclic Offers may stall as long: with the
 * SD default its offers would expire during such a stall and hostd would close every channel of
 * them, the very failure the peer timeout exists to avoid. So an offer lives at least as long as
 * the peer timeout; without one the SD default stays. A VM that dies is still noticed at once:
 * hostd tears its offers down when its control link ends, not when their TTL runs out.
 */
export function offerTtlFor(peerTimeoutMs: number | undefined): number {
  const sdDefault = DEFAULT_SD_TIMING.offerTtl;
  if (peerTimeoutMs === undefined) return sdDefault;
  return Math.max(sdDefault, Math.ceil(peerTimeoutMs / 1000));
}
