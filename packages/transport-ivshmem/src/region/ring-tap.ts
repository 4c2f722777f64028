import { PAGE_SIZE, RecordLayout, recordSize, RingPageLayout } from '@sivshm/abi';
import { MoveMarkerLayout } from '../ring/ring-move-marker.js';

/** A SOME/IP record copied out of a ring by a `RingTap`. */
export interface TappedRecord {
  /** The whole SOME/IP frame: 16-byte header (network byte order) and payload. */
  readonly frame: Uint8Array;
  /** Free-running index of the record in its ring. */
  readonly index: number;
}

/**
 * Reads one ring direction passively, for debugging (`sivshm capture`): it never writes the
 * window, so neither end notices it. It follows the producer index and copies each record as
 * it is published; a copy is kept only if, after copying, the producer has not lapped it (the
 * bytes could have been overwritten meanwhile). Records it could not keep up with are counted in
 * `lost`, never invented. Hostile contents end the walk of that batch (counted in `malformed`).
 *
 * A move marker (docs/protocol.md §11.3) is not a record: the tap stops at it for good and sets
 * `movedTo` to the successor channel id it names, since nothing after it in this ring belongs to
 * the channel (the producer goes on in the successor window; `FollowingTap` follows it there).
 */
export class RingTap {
  readonly #dv: DataView;
  readonly #words: Uint32Array;
  readonly #cap: number;
  #next: number;
  /** Records skipped because the tap fell a whole ring behind. */
  lost = 0;
  /** Batches abandoned because the bytes did not form valid records. */
  malformed = 0;
  /** The successor channel id of the move marker the tap stopped at, once it met one. */
  movedTo: bigint | undefined;

  /**
   * `direction` is the ring's byte range in a window: [producer page][consumer page][data], each
   * control page `granule` bytes (the region's page granule, 4 KiB in layout v1).
   * `from` is the producer index to start at: by default the current one (records from now
   * on); 0 for a channel that has just opened, whose first records are still in the data area
   * as long as the producer has not gone round it (a tap that finds it lapped resynchronises).
   */
  constructor(direction: Uint8Array, dataSize: number, granule: number = PAGE_SIZE, from?: number) {
    this.#words = new Uint32Array(direction.buffer, direction.byteOffset, PAGE_SIZE / 4);
    this.#dv = new DataView(direction.buffer, direction.byteOffset + 2 * granule, dataSize);
    this.#cap = dataSize;
    this.#next = from ?? this.#producerIndex();
  }

  #producerIndex(): number {
    return Atomics.load(this.#words, RingPageLayout.producer.index / 4) >>> 0;
  }

  /** Copies every record published since the last call. */
  poll(): TappedRecord[] {
    const out: TappedRecord[] = [];
    if (this.movedTo !== undefined) return out;
    const prod = this.#producerIndex();
    let at = this.#next;
    if ((prod - at) >>> 0 > this.#cap) {
      this.lost++; // lapped: resynchronise at the producer (boundaries before it are unknown)
      this.#next = prod;
      return out;
    }
    while (at !== prod) {
      const pos = at & (this.#cap - 1);
      const w0 = this.#dv.getUint32(pos);
      const w1 = this.#dv.getUint32(pos + 4);
      if (w0 === RecordLayout.wrapMarkerMessageId && w1 === RecordLayout.wrapMarkerLength) {
        at = (at + (this.#cap - pos)) >>> 0;
        continue;
      }
      const size = w1 >= 8 ? recordSize(w1 - 8) : 0;
      if (size === 0 || pos + size > this.#cap || (prod - at) >>> 0 < size) {
        this.malformed++;
        at = prod;
        break;
      }
      if (w0 === MoveMarkerLayout.messageId && w1 === MoveMarkerLayout.length) {
        const successor = this.#dv.getBigUint64(pos + MoveMarkerLayout.successorOffset, true);
        // Kept only if the producer cannot have reused the marker's bytes while we read it.
        if ((this.#producerIndex() - at) >>> 0 > this.#cap) {
          this.lost++;
          at = this.#producerIndex();
          break;
        }
        this.movedTo = successor;
        at = (at + size) >>> 0;
        break;
      }
      const frame = new Uint8Array(
        this.#dv.buffer,
        this.#dv.byteOffset + pos,
        RecordLayout.headerSize + (w1 - 8),
      ).slice();
      // Keep the copy only if the producer cannot have reused these bytes while we copied.
      if ((this.#producerIndex() - at) >>> 0 > this.#cap) {
        this.lost++;
        at = this.#producerIndex();
        break;
      }
      out.push({ frame, index: at });
      at = (at + size) >>> 0;
    }
    this.#next = at;
    return out;
  }
}
