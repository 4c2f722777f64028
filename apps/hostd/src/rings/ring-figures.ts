// What hostd reads of a channel's rings (never writes): status reports it, the elastic sampler
// decides on it. One reader, so both read the same words at the same offsets of the window.
import { notifyModeName, RingPageLayout, windowLayout, type PageGranule } from '@sivshm/abi';
import type { StatusRingDirection, StatusRings } from '../status/status-server.js';

/** 32-bit words of a ring index page that hostd reads (index, heartbeat, flags, records, drops). */
export const RING_PAGE_WORDS = 128;

/** Ring index words at a byte offset of a channel's window; undefined when not readable. */
export type WindowWords = (offsetInWindow: number) => Uint32Array | undefined;

/** The index words of a window in the mapped region, `windowOffset` bytes in. */
export function regionWindowWords(memory: ArrayBufferLike, windowOffset: number): WindowWords {
  return (at) => new Uint32Array(memory, windowOffset + at, RING_PAGE_WORDS);
}

/**
 * Ring figures of a channel, read from the window's index pages: the indices are free-running
 * byte counts, so produced = producer index and queued = producer - consumer
 * (docs/architecture.md). Values a peer wrote are reported as read, clamped by nothing else.
 * Undefined when the window length is not a window of `granule` or a page is not readable.
 */
export function ringFigures(
  granule: PageGranule,
  windowLength: number,
  words: WindowWords | undefined,
): StatusRings | undefined {
  const layout = windowLayout(granule);
  const dataSize = layout.dataSizeOf(windowLength);
  if (words === undefined || dataSize === undefined) return undefined;
  const one = (dirOffset: number): StatusRingDirection | undefined => {
    const producer = words(dirOffset + layout.producerPage);
    const consumer = words(dirOffset + layout.consumerPage);
    if (producer === undefined || consumer === undefined) return undefined;
    const prod = Atomics.load(producer, RingPageLayout.producer.index / 4);
    const cons = Atomics.load(consumer, RingPageLayout.consumer.index / 4);
    return {
      producedBytes: prod,
      queuedBytes: (prod - cons) >>> 0,
      records: Atomics.load(producer, RingPageLayout.producer.records / 4),
      drops: Atomics.load(producer, RingPageLayout.producer.drops / 4),
      refused: Atomics.load(consumer, RingPageLayout.consumer.refused / 4),
      consumerNotify: notifyModeName(Atomics.load(consumer, RingPageLayout.consumer.notify / 4)),
      closed:
        (Atomics.load(producer, RingPageLayout.producer.flags / 4) & RingPageLayout.FLAG_CLOSED) !==
        0,
    };
  };
  const c2p = one(0);
  const p2c = one(layout.directionSize(dataSize));
  return c2p === undefined || p2c === undefined ? undefined : { c2p, p2c };
}
