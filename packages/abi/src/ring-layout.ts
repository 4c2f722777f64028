import { PAGE_SIZE } from './region-layout.js';
import { SOMEIP_HEADER_SIZE } from './someip-header.js';

/**
 * Words inside one ring direction's producer and consumer pages (`WindowLayout` in
 * `region-layout.ts` places the pages; this file places the words in them), little-endian u32.
 *
 * ```
 * producer page (written only by the producer)
 *     0 producer index   free-running byte count of published records, a multiple of 8
 *    64 heartbeat        free-running counter, bumped by the producer while it is alive
 *   128 flags            bit 0: producer closed (no more records will come)
 *   192 records          free-running count of published records (mod 2^32), for monitoring
 *   256 drops            free-running count of events publish() turned away (ring full), for
 *                        monitoring
 * consumer page (written only by the consumer)
 *     0 consumer index   free-running byte count of released records
 *    64 parked           0 while awake; while asleep and wanting a doorbell, a number that
 *                        is new for every sleep (the producer rings once per number)
 *   128 flags            bit 0: consumer closed
 *   192 notify           how this consumer waits for records ({@link NotifyModeCode}), written
 *                        once at attach, for monitoring
 *   256 refused          free-running count of requests this consumer (a provider, on the
 *                        c2p ring) read and refused unrun, past its calls-in-flight bound, for
 *                        monitoring
 * ```
 *
 * Index and heartbeat sit on different 64-byte cache lines so that heartbeat stores do not
 * invalidate the line the peer spins on. `records` is stored with the index (one plain store per
 * send) and read only by monitors (hostd's status and metrics); no peer acts on it, and neither
 * on `drops` (bumped only when an event publish finds the ring full, a path already off the fast
 * one) nor on `notify` or `refused` (bumped only on a refusal).
 */
export const RingPageLayout = {
  producer: { index: 0, heartbeat: 64, flags: 128, records: 192, drops: 256 },
  consumer: { index: 0, parked: 64, flags: 128, notify: 192, refused: 256 },
  /** `flags` bit 0 of either page. */
  FLAG_CLOSED: 1,
} as const;

/**
 * The consumer page's `notify` word: how that ring's consumer waits for records. Index = code;
 * 0 (never written, by a consumer that predates the word) and any code past the list mean
 * unknown to a monitor.
 */
export const NotifyModeCode = ['unknown', 'spin', 'event', 'adaptive'] as const;

/** The name a monitor shows for a `notify` word's value: a code it does not know is 'unknown'. */
export function notifyModeName(code: number): (typeof NotifyModeCode)[number] {
  return NotifyModeCode[code] ?? 'unknown';
}

/**
 * Record framing inside a ring's data area.
 *
 * A record is one SOME/IP message (16-byte header in network byte order, then the payload)
 * padded to {@link RecordLayout.align} bytes, so a dump of the data area is a sequence of real
 * SOME/IP frames. Where a record would straddle the end of the data area the producer writes an
 * 8-byte wrap marker instead (message id 0xFFFFFFFF and length 0, a combination no valid
 * SOME/IP message has, since length ≥ 8) and puts the record at offset 0; the one index store
 * publishes marker and record together.
 */
export const RecordLayout = {
  headerSize: SOMEIP_HEADER_SIZE,
  align: 8,
  wrapMarkerMessageId: 0xffff_ffff,
  wrapMarkerLength: 0,
  wrapMarkerSize: 8,
} as const;

/** Smallest data area (one page) and largest (1 GiB, so free-running u32 indices stay exact). */
export const MIN_RING_DATA_SIZE = PAGE_SIZE;
export const MAX_RING_DATA_SIZE = 2 ** 30;

/**
 * Largest payload a ring of `dataSize` bytes carries: half the data area minus the header.
 *
 * Why half: a record that does not fit before the end needs the tail skipped plus its own size,
 * and only records of at most half the area always fit in an empty ring wherever the indices
 * stand, so a producer never waits for space that can never appear.
 */
export function maxPayloadFor(dataSize: number): number {
  return dataSize / 2 - RecordLayout.headerSize;
}

/** Bytes a record with `payloadLength` bytes of payload occupies in the data area. */
export function recordSize(payloadLength: number): number {
  return (RecordLayout.headerSize + payloadLength + 7) & ~7;
}
