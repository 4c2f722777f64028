/**
 * `tp:` of a gateway export or import: SOME/IP-TP segmentation of what the gateway sends over
 * UDP to that service's peers (PRS_SOMEIP_00720ff). Off unless given, as the PRS has it: a peer
 * reassembles only the messages it is configured to take segmented.
 */
import { SOMEIP_TP_UNIT as TP_UNIT } from '@sivshm/abi';
import { isScalar } from 'yaml';
import type { ConfigBuildContext } from './config-build-context.js';
import type { FieldEntry } from './yaml-reader.js';

/** vsomeip's default maximum segment length: 1 392 payload bytes, 1 412 with both headers. */
export const DEFAULT_TP_SEGMENT = 1392;

/**
 * Reads `tp: true | false | <max segment bytes>`: the maximum segment payload when TP is on,
 * undefined when off or absent, null (reported) when invalid. The bound keeps a segment with its
 * 16-byte SOME/IP and 4-byte TP headers in one 1 500-byte Ethernet frame on IPv4 and IPv6.
 */
export function parseTpSegment(
  ctx: ConfigBuildContext,
  entry: FieldEntry | undefined,
  path: string,
): number | undefined | null {
  if (entry === undefined) return undefined;
  const node = ctx.r.resolve(entry.value, path);
  if (isScalar(node) && typeof node.value === 'boolean')
    return node.value ? DEFAULT_TP_SEGMENT : undefined;
  const n = ctx.r.integer(entry.value, path, TP_UNIT, DEFAULT_TP_SEGMENT, 'decimal', entry.key);
  if (n === undefined) return null;
  if (n % TP_UNIT !== 0) {
    const down = n - (n % TP_UNIT);
    ctx.r.report(node, path, `${n} is not a multiple of 16 bytes; write ${down} or ${down + 16}`);
    return null;
  }
  return n;
}
