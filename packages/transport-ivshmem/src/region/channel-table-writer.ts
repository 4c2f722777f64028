import { TransportError } from '../errors/transport-error.js';
import { checkChannelEntry, encodeChannelEntry } from './channel-entry-codec.js';
import { ChannelEntryLayout, type ChannelEntry } from '@sivshm/abi';
import type { RegionLayoutInfo } from './region-layout.js';
import { ChannelTableReader } from './channel-table-reader.js';

const SEQ_WORD = ChannelEntryLayout.off.seq / 4;
const WORDS_PER_ENTRY = ChannelEntryLayout.size / 4;

/** What the writer checks a new entry against: a used entry's window and channel id. */
interface UsedEntry {
  readonly index: number;
  readonly offset: number;
  readonly end: number;
  readonly channelId: bigint;
}

/**
 * Writes the channel table; hostd is its only user (docs/architecture.md §4: the control section
 * is written only by hostd).
 *
 * Each write is a seqlock update: `seq` goes odd, the fields are stored, `seq` goes even again
 * (both `seq` stores are seq-cst `Atomics.store`s, so the field stores cannot be reordered
 * around them). Entries are validated with the same rules the readers apply, so hostd can never
 * publish an entry that VMs would reject.
 *
 * The table has one writer: this object indexes the used entries it wrote (and those it found at
 * construction) by window offset and channel id, so a write checks overlap and uniqueness in
 * O(log n) instead of re-reading every entry. An entry that did not read back valid at
 * construction is re-read on every write until it is overwritten, as before.
 *
 * @example
 * ```ts
 * declare const region: Uint8Array, layout: RegionLayoutInfo, entry: ChannelEntry;
 * const table = new ChannelTableWriter(region, layout);
 * const i = table.findFree()!;
 * table.write(i, { ...entry, state: 'PENDING', generation: table.read(i).generation + 1 });
 * ```
 */
export class ChannelTableWriter {
  readonly #layout: RegionLayoutInfo;
  readonly #words: Uint32Array;
  readonly #view: DataView;
  readonly #reader: ChannelTableReader;
  /** Used entries by slot; `#sorted` holds the same ones sorted by window offset. */
  readonly #used = new Map<number, UsedEntry>();
  readonly #sorted: UsedEntry[] = [];
  readonly #slotOfChannel = new Map<bigint, number>();
  /** Slots that did not read back valid at construction: re-read on every write. */
  readonly #unreadable = new Set<number>();

  /** The copy every write also goes to (`opts.mirror`), or undefined. */
  readonly #mirror: { readonly words: Uint32Array; readonly view: DataView } | undefined;

  /**
   * `region` is the table hostd reads back and decides on; `opts.mirror`, a second view with
   * the same layout (the region when `region` is the read-only control file, docs/protocol.md
   * §10.4), gets every write too and is never read.
   */
  constructor(region: Uint8Array, layout: RegionLayoutInfo, opts: { mirror?: Uint8Array } = {}) {
    this.#reader = new ChannelTableReader(region, layout);
    this.#layout = layout;
    ({ words: this.#words, view: this.#view } = tableViews(region, layout));
    this.#mirror = opts.mirror === undefined ? undefined : tableViews(opts.mirror, layout);
    for (let i = 0; i < layout.channelCapacity; i++) {
      let e: ChannelEntry;
      try {
        e = this.#reader.read(i);
      } catch {
        this.#unreadable.add(i);
        continue;
      }
      if (e.state !== 'FREE' && this.#conflict(i, e) === undefined) this.#index(i, e);
      else if (e.state !== 'FREE') this.#unreadable.add(i);
    }
  }

  /** The page granule the region's windows are laid out for. */
  get pageGranule(): RegionLayoutInfo['pageGranule'] {
    return this.#layout.pageGranule;
  }

  /** Number of entries in the table. */
  get capacity(): number {
    return this.#layout.channelCapacity;
  }

  /** Index of the first FREE entry, or undefined when the table is full. */
  findFree(): number | undefined {
    for (let i = 0; i < this.#layout.channelCapacity; i++) {
      if (this.#used.has(i)) continue;
      if (!this.#unreadable.has(i) || this.#reader.read(i).state === 'FREE') return i;
    }
    return undefined;
  }

  /** Reads entry `index` back (validated, as any reader would see it). */
  read(index: number): ChannelEntry {
    return this.#reader.read(index);
  }

  /**
   * Stores `entry` at `index`; throws `ERR_BAD_ARGUMENT` if it is invalid or overlaps the window
   * of another used entry.
   */
  write(index: number, entry: ChannelEntry): void {
    this.#checkIndex(index);
    const problem = checkChannelEntry(entry, this.#layout);
    if (problem !== undefined) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        `channel entry ${index} not written: ${problem}`,
      );
    }
    if (entry.state !== 'FREE') {
      // Slots that were unreadable are read (and validated) afresh; the slot being written is
      // skipped so hostd can always overwrite an entry, even a corrupt one.
      for (const i of this.#unreadable) {
        if (i === index) continue;
        const o = this.#reader.read(i);
        if (o.state !== 'FREE') this.#refuseIfConflicting(index, entry, usedEntry(i, o));
      }
      const c = this.#conflict(index, entry);
      if (c !== undefined) this.#refuseIfConflicting(index, entry, c);
    }
    this.#unindex(index);
    this.#unreadable.delete(index);
    if (entry.state !== 'FREE') this.#index(index, entry);
    storeEntry(this.#words, this.#view, index, entry);
    if (this.#mirror !== undefined) storeEntry(this.#mirror.words, this.#mirror.view, index, entry);
  }

  /** Changes only the state of entry `index` (e.g. ACTIVE → CLOSING), keeping everything else. */
  setState(index: number, state: ChannelEntry['state']): void {
    const current = this.read(index);
    if (state === 'FREE') {
      this.free(index);
      return;
    }
    this.write(index, { ...current, state });
  }

  /** Returns entry `index` to FREE; the generation is kept so the next use can bump it. */
  free(index: number): void {
    const current = this.read(index);
    this.write(index, {
      channelId: 0n,
      generation: current.generation,
      state: 'FREE',
      offset: 0,
      length: 0,
      consumerVm: 0,
      providerVm: 0,
      service: 0,
      instance: 0,
      major: 0,
      mode: 0,
      ringDataSize: 0,
    });
  }

  /** A used entry other than `index` whose window overlaps `entry`'s or that has its channel id. */
  #conflict(index: number, entry: ChannelEntry): UsedEntry | undefined {
    const bySameId = this.#slotOfChannel.get(entry.channelId);
    if (bySameId !== undefined && bySameId !== index) return this.#used.get(bySameId);
    const end = entry.offset + entry.length;
    // The first used window starting at or after `entry`'s end cannot overlap, nor can any after
    // it; windows do not overlap each other, so only the one or two before that position can.
    let k = this.#firstAtOrAfter(end) - 1;
    for (; k >= 0; k--) {
      const o = this.#sorted[k]!;
      if (o.index === index) continue;
      return o.end > entry.offset ? o : undefined;
    }
    return undefined;
  }

  #refuseIfConflicting(index: number, entry: ChannelEntry, o: UsedEntry): void {
    if (entry.offset < o.end && o.offset < entry.offset + entry.length) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        `channel entry ${index} not written: its window overlaps entry ${o.index} (channel ${o.channelId})`,
      );
    }
    if (o.channelId === entry.channelId) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        `channel entry ${index} not written: channel_id ${entry.channelId} is already used by entry ${o.index}`,
      );
    }
  }

  /** Position in `#sorted` of the first window whose offset is at least `offset`. */
  #firstAtOrAfter(offset: number): number {
    let lo = 0;
    let hi = this.#sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#sorted[mid]!.offset < offset) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #index(index: number, entry: ChannelEntry): void {
    const u = usedEntry(index, entry);
    this.#used.set(index, u);
    this.#slotOfChannel.set(entry.channelId, index);
    this.#sorted.splice(this.#firstAtOrAfter(u.offset), 0, u);
  }

  #unindex(index: number): void {
    const u = this.#used.get(index);
    if (u === undefined) return;
    this.#used.delete(index);
    if (this.#slotOfChannel.get(u.channelId) === index) this.#slotOfChannel.delete(u.channelId);
    const k = this.#sorted.indexOf(u, this.#firstAtOrAfter(u.offset));
    if (k >= 0) this.#sorted.splice(k, 1);
  }

  #checkIndex(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.#layout.channelCapacity) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        `channel entry index ${index} is out of range 0..${this.#layout.channelCapacity - 1}`,
      );
    }
  }
}

function usedEntry(index: number, e: ChannelEntry): UsedEntry {
  return { index, offset: e.offset, end: e.offset + e.length, channelId: e.channelId };
}

function tableViews(
  region: Uint8Array,
  layout: RegionLayoutInfo,
): { words: Uint32Array; view: DataView } {
  const tableBytes = layout.channelCapacity * ChannelEntryLayout.size;
  const start = region.byteOffset + layout.controlOffset;
  return {
    words: new Uint32Array(region.buffer, start, tableBytes / 4),
    view: new DataView(region.buffer, start, tableBytes),
  };
}

/** One seqlock update of entry `index`: `seq` odd, the fields, `seq` even again. */
function storeEntry(words: Uint32Array, view: DataView, index: number, entry: ChannelEntry): void {
  const seqIndex = index * WORDS_PER_ENTRY + SEQ_WORD;
  const seq = Atomics.load(words, seqIndex);
  Atomics.store(words, seqIndex, (seq | 1) >>> 0);
  encodeChannelEntry(
    new DataView(
      view.buffer,
      view.byteOffset + index * ChannelEntryLayout.size,
      ChannelEntryLayout.size,
    ),
    entry,
  );
  Atomics.store(words, seqIndex, ((seq | 1) + 1) >>> 0);
}
