import { PAGE_SIZE } from '@sivshm/abi';
import { OrderedMap } from '@js-sdsl/ordered-map';
import { TransportError } from '../errors/transport-error.js';

/** Counters of a {@link WindowAllocator}, in bytes. */
export interface WindowAllocatorStats {
  readonly total: number;
  readonly free: number;
  readonly allocated: number;
  readonly quarantined: number;
  /** Largest single free extent: the biggest window that can be allocated right now. */
  readonly largestFree: number;
  /** Number of separate free extents (1 = no fragmentation). */
  readonly freeExtents: number;
}

/** A run of free pages, as {@link WindowAllocator.freeExtents} lists it. */
export interface FreeExtent {
  readonly offset: number;
  readonly length: number;
}

/**
 * The size index's key of a free extent: its length in pages, then its offset in pages, in one
 * number (the pages of a region fit 25 bits each, so the key stays a safe integer). Numeric keys
 * keep the tree's comparisons cheap, and ordering by length first turns "smallest extent that
 * fits" into one lower-bound search.
 */
const OFFSET_PAGES = 2 ** 25;

/**
 * Page-granular allocator of channel windows inside the data section (hostd only).
 *
 * Policy: best fit — the smallest free extent that holds the window, the lowest address among
 * equals — over two red-black trees of the free extents (`@js-sdsl/ordered-map`), one keyed by
 * size and one by offset. Finding space is one lower-bound search in the size tree, O(log n);
 * freeing finds both neighbours in the offset tree and merges them, O(log n), so no two free
 * extents are ever adjacent. Because every free extent is in the size tree, a request fails
 * only when no single extent is large enough: {@link WindowAllocatorStats.largestFree} is
 * exactly the largest window that can be allocated. Best fit and address-ordered first fit
 * fragment least of the classic policies (Wilson et al., "Dynamic Storage Allocation: A
 * Survey and Critical Review", 1995); best fit is the one of the two a plain sorted index
 * serves in O(log n). Why not a buddy allocator: a window is 4 control pages plus a
 * power-of-two data area per direction (`WindowLayout.windowLength`: 6, 8, 12, 20, 36 …
 * pages), never a power of two, so a buddy system would round every window up and waste
 * 25–50 % of the region.
 *
 * A window's memory is zeroed when it is freed (and when a quarantined window is released), so
 * a new owner only ever sees zeros (docs/security.md#t30). A quarantined window is
 * neither free nor reusable until {@link WindowAllocator.release}: hostd quarantines it when a
 * VM did not acknowledge a revoke and may still be writing into it.
 *
 * @example
 * ```ts
 * declare const layout: RegionLayoutInfo, region: Uint8Array;
 * const { dataOffset, dataSize } = layout;
 * const alloc = new WindowAllocator({ dataOffset, dataSize, memory: region });
 * const off = alloc.allocate(WindowLayout.windowLength(64 * 1024));  // undefined when full
 * alloc.free(off!);
 * ```
 */
export class WindowAllocator {
  readonly #base: number;
  readonly #size: number;
  readonly #memory: Uint8Array | undefined;
  /** Free extents: offset → length. Never two adjacent ones (always coalesced). */
  readonly #byOffset = new OrderedMap<number, number>([], byNumber);
  /** The same extents by {@link sizeKey}. */
  readonly #bySize = new OrderedMap<number, 0>([], byNumber);
  #freeBytes = 0;
  /**
   * Allocated windows: offset → length. A tree, not a `Map`: in the Node this runs on, deleting
   * and re-adding keys in a large `Map` costs time in proportion to its size
   * (`npm run bench -- allocator` measured both).
   */
  readonly #allocated = new OrderedMap<number, number>([], byNumber);
  #allocatedBytes = 0;
  readonly #quarantined = new OrderedMap<number, number>([], byNumber);
  #quarantinedBytes = 0;

  /**
   * @param opts.dataOffset - offset of the data section in the region (page-aligned)
   * @param opts.dataSize - bytes of the data section (whole pages)
   * @param opts.memory - view of the whole region, used to zero windows; omit only when the
   *   caller zeroes memory itself (e.g. a model test of the policy)
   */
  constructor(opts: { dataOffset: number; dataSize: number; memory?: Uint8Array }) {
    const { dataOffset, dataSize, memory } = opts;
    if (!isPageMultiple(dataOffset) || !isPageMultiple(dataSize) || dataSize === 0) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        `data section [${dataOffset}, +${dataSize}) must be page-aligned and non-empty`,
      );
    }
    if ((dataOffset + dataSize) / PAGE_SIZE > OFFSET_PAGES) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        `data section end ${dataOffset + dataSize} is past the ${OFFSET_PAGES}-page limit of the allocator`,
      );
    }
    if (memory !== undefined && memory.byteLength < dataOffset + dataSize) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        `memory view of ${memory.byteLength} bytes does not cover the data section end ${dataOffset + dataSize}`,
      );
    }
    this.#base = dataOffset;
    this.#size = dataSize;
    this.#memory = memory;
    this.#addFree(dataOffset, dataSize);
  }

  /**
   * Reserves a window of `length` bytes (a whole number of pages) and returns its offset in the
   * region, or undefined when no free extent is large enough (or the data section is smaller).
   */
  allocate(length: number): number | undefined {
    if (!isPageMultiple(length) || length === 0) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        `window length ${length} must be a non-zero multiple of ${PAGE_SIZE}`,
      );
    }
    // Larger than the whole data section (hostd's default window in a small region): no room,
    // which the broker refuses like any full region, rather than an exception in hostd.
    if (length > this.#size) return undefined;
    const fit = this.#bySize.lowerBound(sizeKey(length, 0));
    if (!fit.isAccessible()) return undefined;
    const extent = extentOf(fit.pointer[0]);
    this.#removeFree(extent.offset, extent.length);
    if (extent.length > length) this.#addFree(extent.offset + length, extent.length - length);
    this.#allocated.setElement(extent.offset, length);
    this.#allocatedBytes += length;
    return extent.offset;
  }

  /** Zeroes the allocated window at `offset` and returns it to the free extents. */
  free(offset: number): void {
    const length = this.#allocated.getElementByKey(offset);
    if (length === undefined) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        `no allocated window at offset ${offset}${this.#quarantined.getElementByKey(offset) !== undefined ? ' (it is quarantined: use release())' : ''}`,
      );
    }
    this.#allocated.eraseElementByKey(offset);
    this.#allocatedBytes -= length;
    this.#zeroAndInsert(offset, length);
  }

  /** Takes the allocated window at `offset` out of use without freeing it. */
  quarantine(offset: number): void {
    const length = this.#allocated.getElementByKey(offset);
    if (length === undefined) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        `no allocated window at offset ${offset} to quarantine`,
      );
    }
    this.#allocated.eraseElementByKey(offset);
    this.#allocatedBytes -= length;
    this.#quarantined.setElement(offset, length);
    this.#quarantinedBytes += length;
  }

  /** Zeroes a quarantined window and frees it (once the VM that held it has been reset). */
  release(offset: number): void {
    const length = this.#quarantined.getElementByKey(offset);
    if (length === undefined) {
      throw new TransportError('ERR_BAD_ARGUMENT', `no quarantined window at offset ${offset}`);
    }
    this.#quarantined.eraseElementByKey(offset);
    this.#quarantinedBytes -= length;
    this.#zeroAndInsert(offset, length);
  }

  /** Length of the allocated or quarantined window at `offset`, or undefined. */
  lengthOf(offset: number): number | undefined {
    return this.#allocated.getElementByKey(offset) ?? this.#quarantined.getElementByKey(offset);
  }

  /** Current counters, O(log n). */
  stats(): WindowAllocatorStats {
    const largestKey = this.#bySize.back()?.[0];
    return {
      total: this.#size,
      free: this.#freeBytes,
      allocated: this.#allocatedBytes,
      quarantined: this.#quarantinedBytes,
      largestFree: largestKey === undefined ? 0 : extentOf(largestKey).length,
      freeExtents: this.#byOffset.size(),
    };
  }

  /** The free extents in address order (for inspection and tests; O(n)). */
  freeExtents(): FreeExtent[] {
    const out: FreeExtent[] = [];
    this.#byOffset.forEach(([offset, length]) => void out.push({ offset, length }));
    return out;
  }

  /** Zeroes the window, then merges it with the free extents that touch it. */
  #zeroAndInsert(offset: number, length: number): void {
    this.#memory?.fill(0, offset, offset + length);
    let start = offset;
    let end = offset + length;
    const prev = this.#byOffset.reverseUpperBound(offset);
    if (prev.isAccessible()) {
      const [prevOffset, prevLength] = prev.pointer;
      if (prevOffset + prevLength === offset) {
        this.#removeFree(prevOffset, prevLength);
        start = prevOffset;
      }
    }
    const next = this.#byOffset.getElementByKey(end);
    if (next !== undefined) {
      this.#removeFree(end, next);
      end += next;
    }
    this.#addFree(start, end - start);
  }

  #addFree(offset: number, length: number): void {
    this.#byOffset.setElement(offset, length);
    this.#bySize.setElement(sizeKey(length, offset), 0);
    this.#freeBytes += length;
  }

  #removeFree(offset: number, length: number): void {
    this.#byOffset.eraseElementByKey(offset);
    this.#bySize.eraseElementByKey(sizeKey(length, offset));
    this.#freeBytes -= length;
  }

  /** Offset of the data section this allocator manages. */
  get dataOffset(): number {
    return this.#base;
  }
}

function byNumber(a: number, b: number): number {
  return a - b;
}

function sizeKey(length: number, offset: number): number {
  return (length / PAGE_SIZE) * OFFSET_PAGES + offset / PAGE_SIZE;
}

function extentOf(key: number): FreeExtent {
  const offsetPages = key % OFFSET_PAGES;
  return {
    offset: offsetPages * PAGE_SIZE,
    length: ((key - offsetPages) / OFFSET_PAGES) * PAGE_SIZE,
  };
}

function isPageMultiple(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0 && n % PAGE_SIZE === 0;
}
