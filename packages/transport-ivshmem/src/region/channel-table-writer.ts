import { TransportError } from '../errors/transport-error.js';
import { checkChannelEntry, encodeChannelEntry } from './channel-entry-codec.js';
import { ChannelEntryLayout, type ChannelEntry } from '@sivshm/abi';
import type { RegionLayoutInfo } from './region-layout.js';
import { ChannelTableReader } from './channel-table-reader.js';

const SEQ_WORD = ChannelEntryLayout.off.seq / 4;
const WORDS_PER_ENTRY = ChannelEntryLayout.size / 4;

/**
 * Writes the channel table; hostd is its only user (docs/architecture.md §4: the control section
 * is written only by hostd).
 *
 * Each write is a seqlock update: `seq` goes odd, the fields are stored, `seq` goes even again
 * (both `seq` stores are seq-cst `Atomics.store`s, so the field stores cannot be reordered
 * around them). Entries are validated with the same rules the readers apply, so hostd can never
 * publish an entry that VMs would reject.
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

  constructor(region: Uint8Array, layout: RegionLayoutInfo) {
    this.#reader = new ChannelTableReader(region, layout);
    this.#layout = layout;
    const tableBytes = layout.channelCapacity * ChannelEntryLayout.size;
    this.#words = new Uint32Array(
      region.buffer,
      region.byteOffset + layout.controlOffset,
      tableBytes / 4,
    );
    this.#view = new DataView(region.buffer, region.byteOffset + layout.controlOffset, tableBytes);
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
      if (this.#reader.read(i).state === 'FREE') return i;
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
      // Every other slot is read (and validated) afresh; the slot being written is skipped so
      // hostd can always overwrite an entry, even a corrupt one.
      for (let i = 0; i < this.#layout.channelCapacity; i++) {
        if (i === index) continue;
        const o = this.#reader.read(i);
        if (o.state === 'FREE') continue;
        if (entry.offset < o.offset + o.length && o.offset < entry.offset + entry.length) {
          throw new TransportError(
            'ERR_BAD_ARGUMENT',
            `channel entry ${index} not written: its window overlaps entry ${i} (channel ${o.channelId})`,
          );
        }
        if (o.channelId === entry.channelId) {
          throw new TransportError(
            'ERR_BAD_ARGUMENT',
            `channel entry ${index} not written: channel_id ${entry.channelId} is already used by entry ${i}`,
          );
        }
      }
    }
    const seqIndex = index * WORDS_PER_ENTRY + SEQ_WORD;
    const seq = Atomics.load(this.#words, seqIndex);
    Atomics.store(this.#words, seqIndex, (seq | 1) >>> 0);
    encodeChannelEntry(
      new DataView(
        this.#view.buffer,
        this.#view.byteOffset + index * ChannelEntryLayout.size,
        ChannelEntryLayout.size,
      ),
      entry,
    );
    Atomics.store(this.#words, seqIndex, ((seq | 1) + 1) >>> 0);
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

  #checkIndex(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.#layout.channelCapacity) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        `channel entry index ${index} is out of range 0..${this.#layout.channelCapacity - 1}`,
      );
    }
  }
}
