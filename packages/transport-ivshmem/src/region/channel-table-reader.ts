import { TransportError } from '../errors/transport-error.js';
import { checkChannelEntry, checkReserved, decodeChannelEntry } from './channel-entry-codec.js';
import { ChannelEntryLayout, ControlFileLayout, type ChannelEntry } from '@sivshm/abi';
import type { RegionLayoutInfo } from './region-layout.js';

const SEQ_WORD = ChannelEntryLayout.off.seq / 4;
const WORDS_PER_ENTRY = ChannelEntryLayout.size / 4;
/**
 * How long a reader retries an entry whose seqlock is odd or moving. hostd rewrites an entry in
 * well under a microsecond, but on a loaded 2-vCPU machine it can be preempted mid-update for a
 * whole scheduler slice, so the bound is time, not a retry count.
 */
const RETRY_BUDGET_MS = 100;

/** A used channel-table entry with its slot index. */
export interface IndexedChannelEntry {
  readonly index: number;
  readonly entry: ChannelEntry;
}

/**
 * Reads the channel table of a region and returns only validated entries.
 *
 * Use it in any VM (or hostd) to look up a channel's window. Each entry is copied out of shared
 * memory between two loads of its seqlock word, then decoded and checked from the private copy
 * (never re-read from the region), so a torn or corrupt entry is either retried or refused with
 * `ERR_REGION`, never returned.
 *
 * @example
 * ```ts
 * declare const region: Uint8Array, channelId: bigint; // the mapped region
 * const table = new ChannelTableReader(region, readRegionHeader(region));
 * const found = table.find(channelId);
 * ```
 */
export class ChannelTableReader {
  readonly #layout: RegionLayoutInfo;
  readonly #words: Uint32Array;
  readonly #bytes: Uint8Array;
  readonly #copy = new Uint8Array(ChannelEntryLayout.size);
  readonly #copyView = new DataView(this.#copy.buffer);

  constructor(region: Uint8Array, layout: RegionLayoutInfo) {
    const tableBytes = layout.channelCapacity * ChannelEntryLayout.size;
    // the region, or the read-only control file that holds its header and table (§10.4)
    const controlSize = ControlFileLayout.sizeFor(layout.dataOffset);
    if (
      layout.controlOffset + tableBytes > region.byteLength ||
      (layout.regionSize !== region.byteLength && controlSize !== region.byteLength)
    ) {
      throw new TransportError(
        'ERR_REGION',
        `region view of ${region.byteLength} bytes does not hold the layout's channel table (needs ${layout.regionSize}, or ${controlSize} for the control file)`,
      );
    }
    this.#layout = layout;
    this.#words = new Uint32Array(
      region.buffer,
      region.byteOffset + layout.controlOffset,
      tableBytes / 4,
    );
    this.#bytes = region.subarray(layout.controlOffset, layout.controlOffset + tableBytes);
  }

  /** Number of entries in the table. */
  get capacity(): number {
    return this.#layout.channelCapacity;
  }

  /** Entry `index`, validated; throws `ERR_REGION` if it is corrupt, `ERR_TIMEOUT` if hostd stays mid-update, `ERR_BAD_ARGUMENT` for a bad index. */
  read(index: number): ChannelEntry {
    if (!Number.isInteger(index) || index < 0 || index >= this.#layout.channelCapacity) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        `channel entry index ${index} is out of range 0..${this.#layout.channelCapacity - 1}`,
      );
    }
    const seqIndex = index * WORDS_PER_ENTRY + SEQ_WORD;
    const start = index * ChannelEntryLayout.size;
    let deadline = 0;
    for (let attempt = 0; ; attempt++) {
      if ((attempt & 1023) === 1023) {
        const now = performance.now();
        if (deadline === 0) deadline = now + RETRY_BUDGET_MS;
        else if (now > deadline) break;
      }
      const before = Atomics.load(this.#words, seqIndex);
      if ((before & 1) !== 0) continue;
      this.#copy.set(this.#bytes.subarray(start, start + ChannelEntryLayout.size));
      // Atomics are full barriers for V8's compiler and x86 does not reorder loads with loads,
      // so the copy above completes before this second load of seq.
      const after = Atomics.load(this.#words, seqIndex);
      if (before !== after) continue;
      const entry = decodeChannelEntry(this.#copyView);
      const problem = checkReserved(this.#copyView) ?? checkChannelEntry(entry, this.#layout);
      if (problem !== undefined) {
        throw new TransportError('ERR_REGION', `channel entry ${index} rejected: ${problem}`);
      }
      return entry;
    }
    throw new TransportError(
      'ERR_TIMEOUT',
      `channel entry ${index} kept changing for ${RETRY_BUDGET_MS} ms (writer stuck mid-update?); retry later`,
    );
  }

  /**
   * Every used (non-FREE) entry, validated, sorted by window offset; throws `ERR_REGION` when two
   * windows overlap or a channel id appears twice.
   */
  entries(): IndexedChannelEntry[] {
    const used: IndexedChannelEntry[] = [];
    for (let i = 0; i < this.#layout.channelCapacity; i++) {
      const entry = this.read(i);
      if (entry.state !== 'FREE') used.push({ index: i, entry });
    }
    used.sort((a, b) => a.entry.offset - b.entry.offset);
    const ids = new Set<bigint>();
    for (let k = 0; k < used.length; k++) {
      const cur = used[k]!;
      if (ids.has(cur.entry.channelId)) {
        throw new TransportError(
          'ERR_REGION',
          `channel_id ${cur.entry.channelId} appears twice in the table`,
        );
      }
      ids.add(cur.entry.channelId);
      const next = used[k + 1];
      if (next !== undefined && cur.entry.offset + cur.entry.length > next.entry.offset) {
        throw new TransportError(
          'ERR_REGION',
          `windows of entries ${cur.index} and ${next.index} overlap`,
        );
      }
    }
    return used;
  }

  /** The used entry for `channelId`, or undefined. */
  find(channelId: bigint): IndexedChannelEntry | undefined {
    return this.entries().find((e) => e.entry.channelId === channelId);
  }
}
