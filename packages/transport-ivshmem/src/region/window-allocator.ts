import { PAGE_SIZE } from '@sivshm/abi';
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

interface Extent {
  offset: number;
  length: number;
}

/**
 * Page-granular allocator of channel windows inside the data section (hostd only).
 *
 * Policy: address-ordered first fit over a sorted free list, coalescing neighbours on free.
 * Why not a buddy allocator: a window is 4 control pages plus a power-of-two data area per
 * direction (`WindowLayout.windowLength`: 6, 8, 12, 20, 36 … pages), never a power of two, so
 * a buddy system would round every window up and waste 25–50 % of the region. Windows are
 * allocated once per handshake (milliseconds apart) and a region holds at most a few thousand,
 * so the O(free extents) scan costs nothing that matters, and address-ordered first fit is
 * among the policies with the least fragmentation in practice (Wilson et al., "Dynamic Storage
 * Allocation: A Survey and Critical Review", 1995).
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
  /** Free extents, sorted by offset, never adjacent (always coalesced). */
  #free: Extent[];
  readonly #allocated = new Map<number, number>();
  readonly #quarantined = new Map<number, number>();

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
    if (memory !== undefined && memory.byteLength < dataOffset + dataSize) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        `memory view of ${memory.byteLength} bytes does not cover the data section end ${dataOffset + dataSize}`,
      );
    }
    this.#base = dataOffset;
    this.#size = dataSize;
    this.#memory = memory;
    this.#free = [{ offset: dataOffset, length: dataSize }];
  }

  /**
   * Reserves a window of `length` bytes (a whole number of pages) and returns its offset in the
   * region, or undefined when no free extent is large enough.
   */
  allocate(length: number): number | undefined {
    if (!isPageMultiple(length) || length === 0 || length > this.#size) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        `window length ${length} must be a non-zero multiple of ${PAGE_SIZE} and ≤ the data section (${this.#size})`,
      );
    }
    for (let i = 0; i < this.#free.length; i++) {
      const ext = this.#free[i]!;
      if (ext.length < length) continue;
      const offset = ext.offset;
      if (ext.length === length) this.#free.splice(i, 1);
      else {
        ext.offset += length;
        ext.length -= length;
      }
      this.#allocated.set(offset, length);
      return offset;
    }
    return undefined;
  }

  /** Zeroes the allocated window at `offset` and returns it to the free list. */
  free(offset: number): void {
    const length = this.#allocated.get(offset);
    if (length === undefined) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        `no allocated window at offset ${offset}${this.#quarantined.has(offset) ? ' (it is quarantined: use release())' : ''}`,
      );
    }
    this.#allocated.delete(offset);
    this.#zeroAndInsert(offset, length);
  }

  /** Takes the allocated window at `offset` out of use without freeing it. */
  quarantine(offset: number): void {
    const length = this.#allocated.get(offset);
    if (length === undefined) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        `no allocated window at offset ${offset} to quarantine`,
      );
    }
    this.#allocated.delete(offset);
    this.#quarantined.set(offset, length);
  }

  /** Zeroes a quarantined window and frees it (once the VM that held it has been reset). */
  release(offset: number): void {
    const length = this.#quarantined.get(offset);
    if (length === undefined) {
      throw new TransportError('ERR_BAD_ARGUMENT', `no quarantined window at offset ${offset}`);
    }
    this.#quarantined.delete(offset);
    this.#zeroAndInsert(offset, length);
  }

  /** Length of the allocated or quarantined window at `offset`, or undefined. */
  lengthOf(offset: number): number | undefined {
    return this.#allocated.get(offset) ?? this.#quarantined.get(offset);
  }

  /** Current counters. */
  stats(): WindowAllocatorStats {
    let free = 0;
    let largestFree = 0;
    for (const e of this.#free) {
      free += e.length;
      if (e.length > largestFree) largestFree = e.length;
    }
    let allocated = 0;
    for (const l of this.#allocated.values()) allocated += l;
    let quarantined = 0;
    for (const l of this.#quarantined.values()) quarantined += l;
    return {
      total: this.#size,
      free,
      allocated,
      quarantined,
      largestFree,
      freeExtents: this.#free.length,
    };
  }

  #zeroAndInsert(offset: number, length: number): void {
    this.#memory?.fill(0, offset, offset + length);
    // Binary search for the first free extent after `offset`, then merge with neighbours.
    let lo = 0;
    let hi = this.#free.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#free[mid]!.offset < offset) lo = mid + 1;
      else hi = mid;
    }
    const prev = this.#free[lo - 1];
    const next = this.#free[lo];
    const touchesPrev = prev !== undefined && prev.offset + prev.length === offset;
    const touchesNext = next !== undefined && offset + length === next.offset;
    if (touchesPrev && touchesNext) {
      prev.length += length + next.length;
      this.#free.splice(lo, 1);
    } else if (touchesPrev) {
      prev.length += length;
    } else if (touchesNext) {
      next.offset = offset;
      next.length += length;
    } else {
      this.#free.splice(lo, 0, { offset, length });
    }
  }

  /** Offset of the data section this allocator manages. */
  get dataOffset(): number {
    return this.#base;
  }
}

function isPageMultiple(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0 && n % PAGE_SIZE === 0;
}
