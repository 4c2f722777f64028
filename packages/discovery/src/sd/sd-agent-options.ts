import type { SdTransport } from '../transport/sd-transport.js';
import type { SdEndpointOption } from '../wire/sd-endpoint-option.js';
import type { SdClock } from './clock.js';
import type { SdPolicy } from './sd-policy.js';
import type { SdTiming } from './sd-timing.js';

/** How an `SdAgent` is built. */
export interface SdAgentOptions {
  /** What SD messages travel over; the agent owns it and closes it in `stop()`. */
  readonly transport: SdTransport;
  /** Defaults to the system clock. */
  readonly clock?: SdClock;
  /** Uniform [0, 1) source for the initial and response delays; defaults to Math.random. */
  readonly random?: () => number;
  readonly timing?: Partial<SdTiming>;
  readonly policy?: SdPolicy;
  /**
   * Accept endpoint options with loopback addresses (127.0.0.0/8, ::1). The specification
   * (SD-1233) says 127.0.0.1 is not a valid endpoint; loopback test setups need this on.
   */
  readonly allowLoopbackEndpoints?: boolean;
  /**
   * Most entries one sent message may carry (what the receiver accepts, e.g. hostd's per-VM
   * limit); a batch with more is split. Default: no limit beyond the transport's size.
   */
  readonly maxEntriesPerMessage?: number;
  /** If set, sent as option 0 of every message (SD endpoint option, SD-1080). */
  readonly sdEndpoint?: SdEndpointOption;
}
