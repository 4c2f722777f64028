import { TransportError } from '../errors/transport-error.js';
import type { Waker } from '../notify/waker.js';
import { RingFailure } from './ring-failure.js';
import type { RingFailureListener } from './ring-failure.js';
import {
  maxPayloadFor,
  RecordLayout,
  recordSize,
  RingPageLayout,
  SOMEIP_PROTOCOL_VERSION,
} from '@sivshm/abi';
import type { RingViews } from './ring-views.js';
import { checkSomeIpHeader } from './someip-header.js';
import type { SomeIpHeader } from './someip-header.js';
import { MoveMarkerLayout } from './ring-move-marker.js';

const P_INDEX = RingPageLayout.producer.index / 4;
const P_HEARTBEAT = RingPageLayout.producer.heartbeat / 4;
const P_FLAGS = RingPageLayout.producer.flags / 4;
const P_RECORDS = RingPageLayout.producer.records / 4;
const P_DROPS = RingPageLayout.producer.drops / 4;
const C_INDEX = RingPageLayout.consumer.index / 4;
const C_PARKED = RingPageLayout.consumer.parked / 4;
const C_FLAGS = RingPageLayout.consumer.flags / 4;

/** Options of {@link RingProducer}. */
export interface RingProducerOptions {
  /** Doorbell rung when the consumer is parked; without one, only spinning consumers see data. */
  readonly waker?: Waker;
}

/** Options of the waiting variants ({@link RingProducer.loanWait}, {@link RingProducer.sendCopyWait}). */
export interface RingWaitOptions {
  /** Give up with `ERR_TIMEOUT` after this many milliseconds (required: waits are bounded). */
  readonly timeoutMs: number;
  /** Abort early; the promise rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

/** The move marker's header: message id 0xFFFFFFFE, type REQUEST, everything else 0. */
const MOVE_HEADER: SomeIpHeader = {
  service: MoveMarkerLayout.messageId >>> 16,
  method: MoveMarkerLayout.messageId & 0xffff,
  client: 0,
  session: 0,
  interfaceVersion: 0,
  messageType: 0x00,
  returnCode: 0,
};

/** Every slot's payload before its first loan: one shared empty view, not one (and its buffer) per ring. */
const NO_PAYLOAD = new Uint8Array(0);

/**
 * A loaned record: write the payload in place, fill the header, then {@link RingProducer.send}.
 *
 * `payload` is exactly the requested size and aliases the ring's data area; it is valid until
 * the slot is sent. The slot object is reused by the next loan, and `header` keeps the values
 * of the previous send, so repeated sends of one kind of message set only what changes.
 */
export class RingSlot {
  /** Writable view of exactly the loaned payload size, inside the ring. */
  payload: Uint8Array = NO_PAYLOAD;
  /** SOME/IP header fields; `length` and protocol version are filled in by the ring. */
  readonly header: SomeIpHeader = {
    service: 0,
    method: 0,
    client: 0,
    session: 0,
    interfaceVersion: 0,
    messageType: 0x02,
    returnCode: 0,
  };
}

/**
 * The producing end of one single-producer single-consumer ring direction.
 *
 * Use one per direction a process sends on. Records are SOME/IP frames (see `RecordLayout`).
 * Zero-copy lane: {@link loan} → write `slot.payload` → {@link send}. Copying lane:
 * {@link sendCopy}. Batching: {@link stage} several loaned slots, then {@link sendStaged} once.
 * When the ring is full the caller chooses: give up at once (`loan`/`sendCopy` return
 * undefined/false) or wait with a bound (`loanWait`/`sendCopyWait`, `ERR_TIMEOUT`). Nothing is
 * ever dropped silently and nothing is queued outside the ring, so memory stays bounded
 * whatever the consumer does.
 *
 * Memory ordering (the producer half of the parked-flag protocol): {@link sendStaged} does
 * `Atomics.store(producer index)` and then `Atomics.load(parked)`. The consumer does
 * `Atomics.store(parked = 1)` and then `Atomics.load(producer index)` before it sleeps. Both are
 * sequentially consistent, so (Dekker) at least one side sees the other's store: either the
 * producer sees `parked` and rings, or the consumer sees the new index and does not sleep. A
 * wake-up can be spurious, never lost. Payload and header bytes are plain stores made before the
 * index store, which orders them first (a seq-cst store is a release).
 *
 * @example
 * ```ts
 * declare const producer: RingProducer;
 * declare const header: SomeIpHeader;
 * declare const bytes: Uint8Array;
 * const slot = producer.loan(bytes.length); // undefined if no room now
 * if (slot !== undefined) {
 *   slot.payload.set(bytes);
 *   Object.assign(slot.header, { service: 0x1234, method: 0x8001, messageType: 0x02 });
 *   producer.send(slot);
 * }
 * producer.sendCopy(header, bytes) || (await producer.sendCopyWait(header, bytes, { timeoutMs: 10 }));
 * ```
 */
export class RingProducer {
  /** The window's words (shared with the other direction) and this ring's two pages in it. */
  readonly #words: Uint32Array;
  readonly #pw: number;
  readonly #cw: number;
  /** The window's header view (shared with the other direction) and this data area's offset. */
  readonly #dv: DataView;
  readonly #d: number;
  readonly #bulk: Uint8Array;
  // Cached: reading a typed array's .buffer is a getter call, a visible share of a small send.
  readonly #bulkBuffer: ArrayBufferLike;
  readonly #bulkBase: number;
  readonly #cap: number;
  readonly #mask: number;
  readonly #maxPayload: number;
  readonly #waker: Waker | undefined;
  readonly #failure = new RingFailure();
  /** Made by the first loan: a ring end that never loans (an idle channel) holds none. */
  #slot: RingSlot | undefined;
  #loaned = false;
  /** Staged index (private); published to the consumer by sendStaged(). */
  #prod: number;
  /** Last consumer index read and validated. */
  #consSeen: number;
  #beat: number;
  /** Records staged so far (int32, wrapping; the page word reads it as u32): for monitors. */
  #records: number;
  /** The consumer's park number the doorbell was last rung for. */
  #rungFor = 0;
  #resPos = 0;
  #resSkip = 0;
  // Where the loaned record goes; kept here, not on the slot, so a caller cannot redirect it.
  #loanPos = 0;
  #loanSkip = 0;
  #loanLength = 0;

  constructor(views: RingViews, options: RingProducerOptions = {}) {
    this.#words = views.words;
    this.#pw = views.producerWord;
    this.#cw = views.consumerWord;
    this.#dv = views.windowView;
    this.#d = views.dataOffset;
    this.#bulk = views.dataBulk;
    this.#bulkBuffer = views.dataBulk.buffer;
    this.#bulkBase = views.dataBulk.byteOffset;
    this.#cap = views.dataSize;
    this.#mask = views.dataSize - 1;
    this.#maxPayload = maxPayloadFor(views.dataSize);
    this.#waker = options.waker;
    // Resume where the page says: a producer re-attaching to a live ring continues its index.
    this.#prod = Atomics.load(this.#words, this.#pw + P_INDEX);
    this.#consSeen = Atomics.load(this.#words, this.#cw + C_INDEX);
    this.#beat = Atomics.load(this.#words, this.#pw + P_HEARTBEAT);
    this.#records = this.#words[this.#pw + P_RECORDS]! | 0;
    if ((this.#prod - this.#consSeen) >>> 0 > this.#cap || (this.#prod & 7) !== 0) {
      this.#fail(
        `ring indices at attach are inconsistent (producer ${this.#prod}, consumer ${this.#consSeen})`,
      );
    }
  }

  /** Largest payload one record can carry in this ring (half the data area minus the header). */
  get maxPayload(): number {
    return this.#maxPayload;
  }

  /** The failure that stopped this ring end, or undefined while it works. */
  get failure(): TransportError | undefined {
    return this.#failure.error;
  }

  /** Calls `listener` once with the typed error when this end fails; returns an unsubscribe. */
  onFailure(listener: RingFailureListener): () => void {
    return this.#failure.subscribe(listener);
  }

  /** Free bytes in the data area as of the last consumer index seen (a lower bound). */
  get freeBytes(): number {
    return this.#cap - ((this.#prod - this.#consSeen) >>> 0);
  }

  /** Loans a slot for `payloadLength` bytes, or returns undefined when the ring is full now. */
  loan(payloadLength: number): RingSlot | undefined {
    this.#checkUsable(payloadLength);
    if (!this.#reserve(payloadLength)) return undefined;
    const slot = (this.#slot ??= new RingSlot());
    this.#loanPos = this.#resPos;
    this.#loanSkip = this.#resSkip;
    this.#loanLength = payloadLength;
    slot.payload = new Uint8Array(
      this.#bulkBuffer,
      this.#bulkBase + this.#resPos + RecordLayout.headerSize,
      payloadLength,
    );
    this.#loaned = true;
    return slot;
  }

  /**
   * {@link loan} without the payload view, for a writer that addresses the data area by offset
   * (the sealing front of a `mac`/`aead` channel, whose record cipher is bound to `dataBulk`):
   * returns the payload's offset in the data area, or -1 when the ring has no room now. The
   * loan then ends with {@link sendLoan} or {@link abandonLoan}.
   */
  loanOffset(payloadLength: number): number {
    this.#checkUsable(payloadLength);
    if (!this.#reserve(payloadLength)) return -1;
    this.#loanPos = this.#resPos;
    this.#loanSkip = this.#resSkip;
    this.#loanLength = payloadLength;
    this.#loaned = true;
    return this.#resPos + RecordLayout.headerSize;
  }

  /**
   * Sends the record loaned by {@link loanOffset} under `header`, which the caller has already
   * checked with `checkSomeIpHeader` (it had to, before writing the payload).
   */
  sendLoan(header: SomeIpHeader): void {
    if (!this.#loaned) {
      throw new TransportError('ERR_BAD_ARGUMENT', 'sendLoan() needs a loan from loanOffset()');
    }
    this.#loaned = false;
    this.#writeHeader(this.#loanPos, this.#loanSkip, this.#loanLength, header);
    this.sendStaged();
  }

  /** Ends a loan of {@link loanOffset} without sending it. */
  abandonLoan(): void {
    this.#loaned = false;
  }

  /** Loans a slot, waiting (bounded by `timeoutMs`) for the consumer to make room. */
  async loanWait(payloadLength: number, options: RingWaitOptions): Promise<RingSlot> {
    const first = this.loan(payloadLength);
    if (first !== undefined) return first;
    await this.#waitForRoom(payloadLength, options);
    const slot = this.loan(payloadLength);
    if (slot === undefined) throw this.#fullError(payloadLength);
    return slot;
  }

  /**
   * Writes the slot's header and makes the record part of the next {@link sendStaged}; the
   * consumer does not see it yet. Stage several records and send them with one index store.
   */
  stage(slot: RingSlot): void {
    if (!this.#loaned || slot !== this.#slot) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        'stage() needs the slot returned by the last loan',
      );
    }
    const problem = checkSomeIpHeader(slot.header);
    if (problem !== undefined) {
      throw new TransportError('ERR_BAD_ARGUMENT', `record header rejected: ${problem}`);
    }
    this.#loaned = false;
    this.#writeHeader(this.#loanPos, this.#loanSkip, this.#loanLength, slot.header);
  }

  /**
   * Gives a loaned slot back without sending it (e.g. encoding into it failed). Nothing becomes
   * visible to the consumer; bytes already written into the payload are simply overwritten later.
   */
  abandon(slot: RingSlot): void {
    if (!this.#loaned || slot !== this.#slot) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        'abandon() needs the slot returned by the last loan',
      );
    }
    this.#loaned = false;
  }

  /** Sends every staged record with one index store and rings the doorbell if needed. */
  sendStaged(): void {
    // A plain store: the index store after it publishes it, and only monitors read it.
    this.#words[this.#pw + P_RECORDS] = this.#records;
    Atomics.store(this.#words, this.#pw + P_INDEX, this.#prod);
    const parked = Atomics.load(this.#words, this.#cw + C_PARKED);
    // Ring once per park: while the consumer sleeps (on a busy machine it may take a while to
    // run), further records need no further doorbell, and each one costs a system call.
    if (parked !== 0 && parked !== this.#rungFor) {
      this.#rungFor = parked;
      this.#waker?.wake();
    }
  }

  /** Stages and sends the loaned slot: the zero-copy send. */
  send(slot: RingSlot): void {
    this.stage(slot);
    this.sendStaged();
  }

  /**
   * Copies `payload` into the ring as one record and sends it; returns false (and writes
   * nothing) when the ring has no room now.
   */
  sendCopy(header: SomeIpHeader, payload: Uint8Array): boolean {
    this.#checkUsable(payload.length);
    const problem = checkSomeIpHeader(header);
    if (problem !== undefined) {
      throw new TransportError('ERR_BAD_ARGUMENT', `record header rejected: ${problem}`);
    }
    if (!this.#reserve(payload.length)) return false;
    this.#bulk.set(payload, this.#resPos + RecordLayout.headerSize);
    this.#writeHeader(this.#resPos, this.#resSkip, payload.length, header);
    this.sendStaged();
    return true;
  }

  /** Like {@link sendCopy}, but waits (bounded by `timeoutMs`) for room instead of returning false. */
  async sendCopyWait(
    header: SomeIpHeader,
    payload: Uint8Array,
    options: RingWaitOptions,
  ): Promise<void> {
    if (this.sendCopy(header, payload)) return;
    await this.#waitForRoom(payload.length, options);
    if (!this.sendCopy(header, payload)) throw this.#fullError(payload.length);
  }

  /**
   * Counts one event its publisher gave up on because this ring was full (the producer page's
   * `drops` word, free-running u32, read only by monitors). Called on the refusal path only, so
   * the send path pays nothing; a producer that re-attaches continues the count.
   */
  countDrop(): void {
    this.#words[this.#pw + P_DROPS] = (this.#words[this.#pw + P_DROPS]! + 1) >>> 0;
  }

  /**
   * Writes the move marker naming `successor` (docs/protocol.md §11.3) and publishes it: after
   * it, the consumer reads the successor window. Returns the producer index just past the
   * marker (the consumer index that proves the peer followed), or -1 when the ring has no room
   * for it now. Nothing may be sent through this producer afterwards.
   */
  sendMoveMarker(successor: bigint): number {
    this.#checkUsable(8);
    if (!this.#reserve(8)) return -1;
    this.#writeHeader(this.#resPos, this.#resSkip, 8, MOVE_HEADER);
    this.#dv.setBigUint64(
      this.#d + this.#resPos + MoveMarkerLayout.successorOffset,
      successor,
      true,
    );
    // A marker is not a record: monitors count records, not the switch between windows.
    this.#records = (this.#records - 1) | 0;
    this.sendStaged();
    return this.#prod;
  }

  /** Bumps the heartbeat word; a `HeartbeatTimer` calls it periodically. */
  beat(): void {
    this.#beat = (this.#beat + 1) >>> 0;
    Atomics.store(this.#words, this.#pw + P_HEARTBEAT, this.#beat);
  }

  /** Tells the consumer no more records will come (after those already sent), and rings it. */
  close(): void {
    if (this.#failure.error !== undefined) return;
    this.sendStaged();
    Atomics.or(this.#words, this.#pw + P_FLAGS, RingPageLayout.FLAG_CLOSED);
    this.#waker?.wake();
    this.#failure.fail(new TransportError('ERR_CLOSED', 'the ring producer was closed'));
  }

  /** True once the consumer has set its closed flag (it stopped reading for good). */
  get consumerClosed(): boolean {
    return (Atomics.load(this.#words, this.#cw + C_FLAGS) & RingPageLayout.FLAG_CLOSED) !== 0;
  }

  /** Fails this end with `error` (e.g. `ERR_PEER_GONE` from a watchdog or from hostd). */
  fail(error: TransportError): void {
    this.#failure.fail(error);
  }

  #checkUsable(payloadLength: number): void {
    const err = this.#failure.error;
    if (err !== undefined) throw err;
    if (this.#loaned) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        'a slot is already on loan: send() it before the next loan',
      );
    }
    if (!Number.isInteger(payloadLength) || payloadLength < 0 || payloadLength > this.#maxPayload) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        `payload length ${payloadLength} is out of range 0..${this.#maxPayload} for a ${this.#cap}-byte ring`,
      );
    }
  }

  /**
   * The consumer's index as it stands in its page (raw, unchecked): it moves whenever the peer
   * takes records from this ring, which proves the peer alive even when its heartbeat timer
   * cannot run (a peer busy draining a full ring).
   */
  peerConsumed(): number {
    return Atomics.load(this.#words, this.#cw + C_INDEX);
  }

  /** Finds room for a record; sets #resPos/#resSkip. */
  #reserve(payloadLength: number): boolean {
    const size = recordSize(payloadLength);
    const pos = this.#prod & this.#mask;
    const skip = pos + size > this.#cap ? this.#cap - pos : 0;
    const need = skip + size;
    if (this.#cap - ((this.#prod - this.#consSeen) >>> 0) < need) {
      const cons = Atomics.load(this.#words, this.#cw + C_INDEX);
      // The consumer index must lie between what we saw before and what we staged.
      const advance = (cons - this.#consSeen) >>> 0;
      if (advance > (this.#prod - this.#consSeen) >>> 0 || (cons & 7) !== 0) {
        throw this.#fail(
          `consumer index ${cons} is outside [${this.#consSeen}, ${this.#prod}] (moved backwards, past the producer, or misaligned)`,
        );
      }
      this.#consSeen = cons;
      if (this.#cap - ((this.#prod - cons) >>> 0) < need) return false;
    }
    this.#resPos = skip === 0 ? pos : 0;
    this.#resSkip = skip;
    return true;
  }

  #writeHeader(pos: number, skip: number, payloadLength: number, h: SomeIpHeader): void {
    const dv = this.#dv;
    const d = this.#d;
    if (skip !== 0) {
      const marker = d + (this.#prod & this.#mask);
      dv.setUint32(marker, RecordLayout.wrapMarkerMessageId);
      dv.setUint32(marker + 4, RecordLayout.wrapMarkerLength);
    }
    // Network byte order (DataView's default): the data area holds real SOME/IP frames.
    const at = d + pos;
    dv.setUint32(at, ((h.service << 16) | h.method) >>> 0);
    dv.setUint32(at + 4, 8 + payloadLength);
    dv.setUint32(at + 8, ((h.client << 16) | h.session) >>> 0);
    dv.setUint32(
      at + 12,
      ((SOMEIP_PROTOCOL_VERSION << 24) |
        (h.interfaceVersion << 16) |
        (h.messageType << 8) |
        h.returnCode) >>>
        0,
    );
    this.#prod = (this.#prod + skip + recordSize(payloadLength)) >>> 0;
    this.#records = (this.#records + 1) | 0;
  }

  async #waitForRoom(payloadLength: number, options: RingWaitOptions): Promise<void> {
    const { timeoutMs, signal } = options;
    if (!Number.isFinite(timeoutMs) || timeoutMs < 0) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        `timeoutMs must be a finite number ≥ 0, got ${timeoutMs}`,
      );
    }
    const deadline = performance.now() + timeoutMs;
    // Back off from yielding a loop turn to sleeping up to 2 ms: a consumer that is merely slow
    // is caught quickly, a stopped one costs almost no CPU until the deadline.
    for (let attempt = 0; ; attempt++) {
      signal?.throwIfAborted();
      const err = this.#failure.error;
      if (err !== undefined) throw err;
      if (this.#reserve(payloadLength)) return;
      if (this.consumerClosed) {
        throw this.#failure.fail(
          new TransportError('ERR_PEER_GONE', 'the consumer closed the ring'),
        );
      }
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new TransportError(
          'ERR_TIMEOUT',
          `ring stayed full for ${timeoutMs} ms: a ${recordSize(payloadLength)}-byte record needs room, ${this.freeBytes} of ${this.#cap} bytes free (the consumer is not keeping up, or is gone)`,
        );
      }
      await new Promise<void>((resolve) =>
        attempt < 16 ? setImmediate(resolve) : setTimeout(resolve, Math.min(2, left)),
      );
    }
  }

  #fullError(payloadLength: number): TransportError {
    return new TransportError(
      'ERR_RING_FULL',
      `ring full: a ${recordSize(payloadLength)}-byte record does not fit, ${this.freeBytes} of ${this.#cap} bytes free`,
    );
  }

  #fail(message: string): TransportError {
    return this.#failure.fail(new TransportError('ERR_RING_VIOLATION', message));
  }
}
