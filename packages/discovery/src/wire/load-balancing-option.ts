import type { ByteReader } from './byte-reader.js';
import type { ByteWriter } from './byte-writer.js';

/**
 * Load Balancing option (0x02, Length 0x0005): priority (lower is preferred) and weight
 * (higher is picked more often) of an offered instance. Informational; attached to Offers.
 */
export interface LoadBalancingOption {
  readonly type: 'loadBalancing';
  readonly priority: number;
  readonly weight: number;
}

/** Length field value of a load balancing option. */
export const LOAD_BALANCING_LENGTH = 0x0005;

/** Reads the body after Length and Type (bounded by Length). */
export function readLoadBalancingBody(body: ByteReader): LoadBalancingOption {
  body.skip(1, 'load balancing reserved byte');
  const priority = body.u16('load balancing priority');
  const weight = body.u16('load balancing weight');
  return { type: 'loadBalancing', priority, weight };
}

/** Writes the body read by `readLoadBalancingBody`. */
export function writeLoadBalancingBody(w: ByteWriter, o: LoadBalancingOption): void {
  w.u8(0);
  w.u16(o.priority);
  w.u16(o.weight);
}
