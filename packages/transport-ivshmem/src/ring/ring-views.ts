import {
  MAX_RING_DATA_SIZE,
  MIN_RING_DATA_SIZE,
  PAGE_SIZE,
  windowLayout,
  type PageGranule,
} from '@sivshm/abi';
import { TransportError } from '../errors/transport-error.js';

/**
 * The bytes of one channel window, as cut from a mapped region.
 *
 * `shared` views the window through the mapping's SharedArrayBuffer (control words, Atomics);
 * `bulk`, when given, views the same bytes through the non-shared alias, which V8 copies faster
 * (figures: docs/performance.md §5). Both must be exactly the window: rings never see the rest
 * of the region.
 */
export interface WindowMemory {
  readonly shared: Uint8Array;
  readonly bulk?: Uint8Array;
  /**
   * True once the file behind the window was truncated under this process (the SIGBUS guard
   * put zeros in its place; `lossProbe`): the channel then fails with ERR_REGION_LOST.
   */
  readonly lost?: () => boolean;
}

/** Which ring of a window: consumer→provider (requests) or provider→consumer (responses, events). */
export type RingDirection = 'c2p' | 'p2c';

/** Typed views of one ring direction, all inside the window. */
export interface RingViews {
  /** Words of the producer page (Atomics). */
  readonly producerPage: Uint32Array;
  /** Words of the consumer page (Atomics). */
  readonly consumerPage: Uint32Array;
  /** The data area through the shared mapping: record headers are read from here. */
  readonly dataShared: DataView;
  /** The data area for payload views and bulk copies (the non-shared alias when available). */
  readonly dataBulk: Uint8Array;
  /** Bytes of the data area, a power of two. */
  readonly dataSize: number;
  /**
   * Every word of the window, one view for both directions (each ring end keeps this one and
   * word offsets instead of two page views of its own: an idle channel holds less heap).
   */
  readonly words: Uint32Array;
  /** Index in {@link words} of the producer page's first word. */
  readonly producerWord: number;
  /** Index in {@link words} of the consumer page's first word. */
  readonly consumerWord: number;
  /** The whole window through the shared mapping, one view for both directions. */
  readonly windowView: DataView;
  /** Byte offset of the data area in {@link windowView}. */
  readonly dataOffset: number;
}

/** The window-wide views, made once per window and shared by its two directions. */
const wholeWindow = new WeakMap<Uint8Array, { words: Uint32Array; view: DataView }>();

function wholeWindowOf(shared: Uint8Array): { words: Uint32Array; view: DataView } {
  let w = wholeWindow.get(shared);
  if (w === undefined) {
    w = {
      words: new Uint32Array(shared.buffer, shared.byteOffset, shared.byteLength >>> 2),
      view: new DataView(shared.buffer, shared.byteOffset, shared.byteLength),
    };
    wholeWindow.set(shared, w);
  }
  return w;
}

/**
 * Cuts the window at `offset`/`length` out of a mapped region.
 *
 * @example
 * ```ts
 * declare const m: MappedFile, entry: ChannelEntry;
 * const region = { shared: new Uint8Array(m.shared), bulk: new Uint8Array(m.bulk) };
 * const win = windowOf(region, entry.offset, entry.length);
 * ```
 */
export function windowOf(
  region: { shared: Uint8Array; bulk?: Uint8Array },
  offset: number,
  length: number,
): WindowMemory {
  const end = offset + length;
  if (
    !Number.isSafeInteger(offset) ||
    offset < 0 ||
    offset % PAGE_SIZE !== 0 ||
    end > region.shared.byteLength
  ) {
    throw new TransportError(
      'ERR_BAD_ARGUMENT',
      `window [${offset}, ${end}) is not a page-aligned range of the ${region.shared.byteLength}-byte region`,
    );
  }
  if (region.bulk !== undefined && region.bulk.byteLength !== region.shared.byteLength) {
    throw new TransportError(
      'ERR_BAD_ARGUMENT',
      'bulk and shared views of the region differ in length',
    );
  }
  const shared = region.shared.subarray(offset, end);
  return region.bulk === undefined
    ? { shared }
    : { shared, bulk: region.bulk.subarray(offset, end) };
}

/**
 * Builds the views of one direction of a window whose data area per direction is `dataSize`,
 * laid out for the region's page granule (`granule`, 4 KiB in layout v1).
 *
 * Use it once per ring end when a channel is opened; the views are subarrays of the window, so
 * no index or length read from the peer can address memory outside it.
 */
export function ringViews(
  window: WindowMemory,
  direction: RingDirection,
  dataSize: number,
  granule: PageGranule = PAGE_SIZE,
): RingViews {
  const layout = windowLayout(granule);
  if (
    !Number.isInteger(dataSize) ||
    dataSize < Math.max(MIN_RING_DATA_SIZE, granule) ||
    dataSize > MAX_RING_DATA_SIZE ||
    (dataSize & (dataSize - 1)) !== 0
  ) {
    throw new TransportError(
      'ERR_BAD_ARGUMENT',
      `ring data size ${dataSize} must be a power of two in ${Math.max(MIN_RING_DATA_SIZE, granule)}..${MAX_RING_DATA_SIZE}`,
    );
  }
  const { shared, bulk } = window;
  const length = layout.windowLength(dataSize);
  if (shared.byteLength !== length || (bulk !== undefined && bulk.byteLength !== length)) {
    throw new TransportError(
      'ERR_BAD_ARGUMENT',
      `window of ${shared.byteLength} bytes does not match data size ${dataSize} (window length ${length})`,
    );
  }
  if (shared.byteOffset % 8 !== 0) {
    throw new TransportError(
      'ERR_BAD_ARGUMENT',
      `window view starts at unaligned byte ${shared.byteOffset}`,
    );
  }
  const dir = direction === 'c2p' ? 0 : layout.directionSize(dataSize);
  const base = shared.byteOffset + dir;
  const data = dir + layout.dataArea;
  const bulkView = bulk ?? shared;
  const whole = wholeWindowOf(shared);
  return {
    words: whole.words,
    producerWord: (dir + layout.producerPage) >>> 2,
    consumerWord: (dir + layout.consumerPage) >>> 2,
    windowView: whole.view,
    dataOffset: data,
    // the words of a control page all sit in its first 4 KiB, whatever the granule
    producerPage: new Uint32Array(shared.buffer, base + layout.producerPage, PAGE_SIZE / 4),
    consumerPage: new Uint32Array(shared.buffer, base + layout.consumerPage, PAGE_SIZE / 4),
    dataShared: new DataView(shared.buffer, shared.byteOffset + data, dataSize),
    dataBulk: bulkView.subarray(data, data + dataSize),
    dataSize,
  };
}
