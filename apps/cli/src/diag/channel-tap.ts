// A host tool's tap on one ring direction of a channel that survives the channel's old windows
// being freed under it (docs/protocol.md §11.3). hostd zeroes and frees a window as soon as both
// ends have left it, without waiting for passive readers; a tap that had not yet read up to the
// move marker then finds its ring index back at 0. `FollowingTap` alone takes that for a lapse
// and stays on the dead window; this tap checks hostd's channel table, tells "my window was
// freed or given to another channel" from "I was lapped", and goes on in the channel's live
// window, found by its pair (service, instance, major, VMs): the table has no lineage field and
// channel ids are random.
import { RingPageLayout, type ChannelEntry, PAGE_SIZE } from '@sivshm/abi';
import {
  FollowingTap,
  type ChannelTableReader,
  type FollowedRecord,
  type TapPlacement,
} from '@sivshm/transport-ivshmem';

/** A window the tap reads or read: its table slot (when known), entry and ring placement. */
interface TappedWindow {
  readonly slot: number | undefined;
  readonly entry: ChannelEntry;
  readonly placement: TapPlacement;
}

/** What a `ChannelTap` needs from its caller. */
export interface ChannelTapSource {
  /** hostd's channel table now; may throw while hostd is mid-change (asked again later). */
  table(): ChannelTableReader;
  /** This direction's ring in `e`'s window; undefined for an entry without a valid window. */
  place(e: ChannelEntry): TapPlacement | undefined;
  readonly granule: number;
}

/** States whose window still holds the channel's bytes (FREE: zeroed, maybe reused). */
const HOLDS_BYTES = new Set<ChannelEntry['state']>(['PENDING', 'ACTIVE', 'CLOSING', 'QUARANTINED']);

/**
 * Older windows of a channel first: the one being left, the one in use, the one being made. A
 * QUARANTINED window is never resumed in: it may be older than what the tap already read.
 */
const AGE_RANK: Partial<Record<ChannelEntry['state'], number>> = {
  CLOSING: 0,
  ACTIVE: 1,
  PENDING: 2,
};

/** How often a tap that lost its window looks for the channel's live one. */
const SEARCH_MS = 10;

const samePair = (a: ChannelEntry, b: ChannelEntry): boolean =>
  a.service === b.service &&
  a.instance === b.instance &&
  a.major === b.major &&
  a.consumerVm === b.consumerVm &&
  a.providerVm === b.providerVm;

/**
 * A `FollowingTap` that is never stuck on a freed window. Before each poll it reads its window's
 * table slot: gone, FREE or naming another channel means the window was freed (and maybe reused),
 * so nothing more is read there. After a poll that counted a lapse or a malformed batch, a window
 * whose slot is gone or whose producer index reads 0 was being zeroed (a producer that lapped the
 * tap is a whole ring ahead, never at 0): that is not counted as a lapse but as a cut-off. A
 * cut-off tap starts again at index 0 of the channel's oldest live window (the producer's first
 * record there; a ring already gone round is a lapse as usual). What it could not see in the
 * freed window is counted in `cutOffs` (one each time; 0 when it had already read the marker),
 * never invented: records come out at most once and in order.
 */
export class ChannelTap {
  #tap: FollowingTap | undefined;
  #lastId: bigint;
  readonly #windows = new Map<bigint, TappedWindow>();
  readonly #left = new Set<bigint>();
  #lostBefore = 0;
  #malformedBefore = 0;
  #movesBefore = 0;
  #nextSearch = 0;
  /** The producer index the last poll read up to at least, and in which window. */
  #seen: { id: bigint; prod: number } | undefined;
  /** The first window's entry: every window of the channel has its pair. */
  readonly #pair: ChannelEntry;
  /** Windows freed before this tap had read them up to their move marker. */
  cutOffs = 0;

  constructor(
    private readonly source: ChannelTapSource,
    first: ChannelEntry,
    placement: TapPlacement,
    from?: number,
  ) {
    this.#lastId = first.channelId;
    this.#pair = first;
    this.#start(first, placement, this.#slotOf(first.channelId), from);
  }

  /** The channel id of the window read now (the last one, once the channel has ended). */
  get channelId(): bigint {
    return this.#tap?.channelId ?? this.#lastId;
  }

  /** The successor named by a marker the tap waits at, its window not found yet. */
  get waitingFor(): bigint | undefined {
    return this.#tap?.waitingFor;
  }

  /** Times the producer lapped the tap (in windows that were not being freed). */
  get lost(): number {
    return this.#lostBefore + (this.#tap?.lost ?? 0);
  }

  get malformed(): number {
    return this.#malformedBefore + (this.#tap?.malformed ?? 0);
  }

  /** Moves followed, by marker or, once cut off, to the channel's live window. */
  get moves(): number {
    return this.#movesBefore + (this.#tap?.moves ?? 0);
  }

  /** Copies every record published since the last call, following moves on the way. */
  poll(): FollowedRecord[] {
    const tap = this.#tap;
    if (tap === undefined) {
      if (Date.now() >= this.#nextSearch) this.#resume(undefined);
      return [];
    }
    const before = this.#windows.get(tap.channelId);
    // Nothing published since the last poll read up to this index: nothing to read, and a window
    // being freed or reused would show a new index (0 once zeroed). Keeps an idle tap from
    // reading the table at every poll (record taps every channel of a region).
    const prod = before === undefined ? undefined : producerIndex(before);
    const seen = this.#seen;
    // An empty ring (index 0) is checked every few ms all the same: a window zeroed before this
    // tap's first read of it shows no change.
    const idle = seen?.id === tap.channelId && seen.prod === prod && tap.waitingFor === undefined;
    if (idle && (prod !== 0 || Date.now() < this.#nextSearch)) return [];
    if (prod === 0) this.#nextSearch = Date.now() + SEARCH_MS;
    const held = before === undefined ? true : this.#holds(before);
    if (held === undefined) return []; // hostd is mid-change: read the slot again next poll
    if (!held) {
      this.#leave(tap, 0, 0);
      return [];
    }
    const [lost, malformed] = [tap.lost, tap.malformed];
    if (prod !== undefined) this.#seen = { id: tap.channelId, prod };
    const out = tap.poll();
    const counted = tap.lost !== lost || tap.malformed !== malformed;
    if (out.length === 0 && !counted) return out;
    // Checked again after the read: a slot that still names the channel now named it during the
    // whole read (a freed slot never gets the same random id back), so the records are the
    // channel's. Otherwise the window may have been given to another channel while this process
    // was held between the check above and the read: its records are dropped, never delivered,
    // and counted with the cut-off.
    const now = this.#windows.get(tap.channelId);
    if (now === undefined) return out;
    if (this.#holds(now) === false || (counted && producerIndex(now) === 0)) {
      this.#leave(tap, tap.lost - lost, tap.malformed - malformed);
      return out.filter((r) => r.channelId !== now.entry.channelId);
    }
    return out;
  }

  #start(e: ChannelEntry, placement: TapPlacement, slot: number | undefined, from?: number): void {
    this.#windows.set(e.channelId, { slot, entry: e, placement });
    const locate = (id: bigint): TapPlacement | undefined => {
      let found: { index: number; entry: ChannelEntry } | undefined;
      try {
        found = this.source.table().find(id);
      } catch {
        return undefined; // hostd is mid-change: the tap waits at the marker and asks again
      }
      const p = found === undefined ? undefined : this.source.place(found.entry);
      if (p !== undefined)
        this.#windows.set(id, { slot: found!.index, entry: found!.entry, placement: p });
      return p;
    };
    this.#tap = new FollowingTap(e.channelId, placement, locate, this.source.granule, from);
  }

  /** Whether the window's slot still names its channel; undefined while unreadable. */
  #holds(w: TappedWindow): boolean | undefined {
    try {
      const t = this.source.table();
      const e = w.slot === undefined ? t.find(w.entry.channelId)?.entry : t.read(w.slot);
      return (
        e !== undefined &&
        e.channelId === w.entry.channelId &&
        e.offset === w.entry.offset &&
        e.length === w.entry.length &&
        HOLDS_BYTES.has(e.state)
      );
    } catch {
      return undefined;
    }
  }

  #slotOf(id: bigint): number | undefined {
    try {
      return this.source.table().find(id)?.index;
    } catch {
      return undefined;
    }
  }

  /** Leaves a freed window; `lost`/`malformed`: what its zeroing made the last poll count. */
  #leave(tap: FollowingTap, lost: number, malformed: number): void {
    this.#lostBefore += tap.lost - lost;
    this.#malformedBefore += tap.malformed - malformed;
    this.#movesBefore += tap.moves;
    this.#lastId = tap.channelId;
    // At a marker the window had nothing more to give: following its successor misses nothing.
    if (tap.waitingFor === undefined) this.cutOffs++;
    for (const id of this.#windows.keys()) this.#left.add(id);
    this.#windows.clear();
    this.#tap = undefined;
    this.#resume(tap.waitingFor);
  }

  /** Starts on the channel's oldest live window not read before, if the table has one. */
  #resume(named: bigint | undefined): void {
    this.#nextSearch = Date.now() + SEARCH_MS;
    const pair = this.#pair;
    let live: { index: number; entry: ChannelEntry }[];
    try {
      live = this.source
        .table()
        .entries()
        .filter(
          (x) =>
            !this.#left.has(x.entry.channelId) &&
            AGE_RANK[x.entry.state] !== undefined &&
            samePair(x.entry, pair),
        );
    } catch {
      return; // hostd is mid-change: looked for again at a later poll
    }
    live.sort(
      (a, b) =>
        Number(b.entry.channelId === named) - Number(a.entry.channelId === named) ||
        AGE_RANK[a.entry.state]! - AGE_RANK[b.entry.state]!,
    );
    for (const x of live) {
      const placement = this.source.place(x.entry);
      if (placement === undefined) continue;
      this.#movesBefore++;
      this.#start(x.entry, placement, x.index, 0);
      return;
    }
  }
}

/** The producer index of the window's ring, as the tap reads it (0 once the window is zeroed). */
function producerIndex(w: TappedWindow): number {
  const d = w.placement.direction;
  const words = new Uint32Array(d.buffer, d.byteOffset, PAGE_SIZE / 4);
  return Atomics.load(words, RingPageLayout.producer.index / 4) >>> 0;
}
