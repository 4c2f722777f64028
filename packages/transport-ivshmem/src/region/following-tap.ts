import { PAGE_SIZE } from '@sivshm/abi';
import { RingTap, type TappedRecord } from './ring-tap.js';

/** Where one ring direction of a channel lies, as `FollowingTap` needs it to read there. */
export interface TapPlacement {
  /** The direction's bytes: [producer page][consumer page][data]. */
  readonly direction: Uint8Array;
  readonly dataSize: number;
}

/** A record read by a `FollowingTap`, with the channel id of the window it was read in. */
export interface FollowedRecord extends TappedRecord {
  readonly channelId: bigint;
}

/**
 * A `RingTap` that follows its channel's moves (docs/protocol.md §11): when the tap stops at a
 * move marker, it asks `locate` for the same direction of the successor window the marker
 * names and reads it from index 0, where the producer's first record after the marker is. Every
 * record is in exactly one ring and the marker orders the two, so the records come out once and
 * in order across any number of moves. While `locate` does not know the successor yet (hostd
 * lists it PENDING before it grants it, so only a torn table read misses it) the tap waits at the
 * marker and asks again at the next poll.
 */
export class FollowingTap {
  #tap: RingTap;
  #channelId: bigint;
  /** Lapses and malformed batches of the windows already left. */
  #lostBefore = 0;
  #malformedBefore = 0;
  /** How many moves this tap followed. */
  moves = 0;

  constructor(
    channelId: bigint,
    first: TapPlacement,
    private readonly locate: (successor: bigint) => TapPlacement | undefined,
    private readonly granule: number = PAGE_SIZE,
    from?: number,
  ) {
    this.#channelId = channelId;
    this.#tap = new RingTap(first.direction, first.dataSize, granule, from);
  }

  /** The channel id of the window being read now. */
  get channelId(): bigint {
    return this.#channelId;
  }

  /** The successor named by a marker the tap waits at, its window not found yet. */
  get waitingFor(): bigint | undefined {
    return this.#tap.movedTo;
  }

  get lost(): number {
    return this.#lostBefore + this.#tap.lost;
  }

  get malformed(): number {
    return this.#malformedBefore + this.#tap.malformed;
  }

  /** Copies every record published since the last call, following moves on the way. */
  poll(): FollowedRecord[] {
    const out: FollowedRecord[] = [];
    for (;;) {
      const id = this.#channelId;
      for (const r of this.#tap.poll()) out.push({ ...r, channelId: id });
      const successor = this.#tap.movedTo;
      if (successor === undefined) return out;
      const next = this.locate(successor);
      if (next === undefined) return out;
      this.#lostBefore += this.#tap.lost;
      this.#malformedBefore += this.#tap.malformed;
      this.#tap = new RingTap(next.direction, next.dataSize, this.granule, 0);
      this.#channelId = successor;
      this.moves++;
    }
  }
}
