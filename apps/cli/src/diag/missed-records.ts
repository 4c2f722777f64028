import { SomeIpMessageType } from '@sivshm/abi';

/** Byte offsets in a SOME/IP header (network byte order). */
const SERVICE_AT = 0;
const SESSION_AT = 10;
const MESSAGE_TYPE_AT = 14;
/** Session ids run 1..0xffff and wrap to 1 (0 means the sender does not number its messages). */
const SESSIONS = 0xffff;

/**
 * Counts the records a passive tap of one ring direction missed when the producer lapped it.
 * The ring has no record numbers, so a lapse says only that something was overwritten; what
 * tells how much is the event publishers' SOME/IP session ids, which go up by one per record
 * of one event. A gap in one event's ids across a lapse is counted as missed; a gap with no
 * lapse in between is a record the producer itself dropped on a full ring, which the tap could
 * never have read, so it is not counted.
 *
 * The count is a lower bound: calls and responses carry no per-direction sequence, an event
 * seen on one side of a lapse only cannot be counted, and a gap of 0xffff records or more is
 * counted modulo 0xffff.
 */
export class MissedRecords {
  /** Lapses met so far: a record's ids are compared across lapses only. */
  #lapses = 0;
  readonly #last = new Map<number, { session: number; lapses: number }>();
  /** Records counted as missed so far. */
  count = 0;

  /** Notes that the tap found itself lapped after the records it returned so far. */
  lapsed(): void {
    this.#lapses++;
  }

  /** Notes a record the tap returned, its SOME/IP frame from the 16-byte header on. */
  saw(frame: Uint8Array): void {
    if (frame.length < 16 || frame[MESSAGE_TYPE_AT] !== SomeIpMessageType.NOTIFICATION) return;
    const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    const session = view.getUint16(SESSION_AT);
    if (session === 0) return;
    const event = view.getUint32(SERVICE_AT); // service << 16 | event id
    const before = this.#last.get(event);
    this.#last.set(event, { session, lapses: this.#lapses });
    if (before !== undefined && before.lapses !== this.#lapses) {
      this.count += (session - before.session - 1 + SESSIONS) % SESSIONS;
    }
  }
}
