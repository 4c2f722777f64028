import { TransportError } from '../errors/transport-error.js';
import { RingFailure } from './ring-failure.js';
import type { RingFailureListener } from './ring-failure.js';
import {
  maxPayloadFor,
  NotifyModeCode,
  RecordLayout,
  recordSize,
  RingPageLayout,
  SOMEIP_PROTOCOL_VERSION,
} from '@sivshm/abi';
import type { RingViews } from './ring-views.js';
import { isSomeIpMessageType } from './someip-header.js';
import type { SomeIpHeader } from './someip-header.js';
import { MoveMarkerLayout } from './ring-move-marker.js';

const P_INDEX = RingPageLayout.producer.index / 4;
const P_HEARTBEAT = RingPageLayout.producer.heartbeat / 4;
const P_FLAGS = RingPageLayout.producer.flags / 4;
const C_INDEX = RingPageLayout.consumer.index / 4;
const C_PARKED = RingPageLayout.consumer.parked / 4;
const C_FLAGS = RingPageLayout.consumer.flags / 4;
const C_NOTIFY = RingPageLayout.consumer.notify / 4;
const C_REFUSED = RingPageLayout.consumer.refused / 4;
const HEADER = RecordLayout.headerSize;

/**
 * A received record, valid until {@link RingConsumer.release}.
 *
 * The header fields were read once from the ring into this object and validated; `payload`
 * aliases the ring's data area. The producer may be malicious, and with zero-copy it can still
 * change payload bytes while you read them: decode once, or use
 * {@link RingConsumer.receiveCopy} when the payload is acted on more than once.
 */
export class RingRecord {
  readonly header: SomeIpHeader = {
    service: 0,
    method: 0,
    client: 0,
    session: 0,
    interfaceVersion: 0,
    messageType: 0,
    returnCode: 0,
  };
  /** Payload length in bytes (SOME/IP length − 8). */
  payloadLength = 0;
  /** @internal offset of the payload in the data area */
  payloadOffset = 0;
  readonly #buffer: ArrayBufferLike;
  readonly #base: number;

  /** @internal */
  constructor(data: Uint8Array) {
    this.#buffer = data.buffer;
    this.#base = data.byteOffset;
  }

  /** The payload, in place in the ring (inside the window's data area, never elsewhere). */
  get payload(): Uint8Array {
    // The constructor form skips subarray()'s species lookup; offset and length were validated
    // against the data area by receive().
    return new Uint8Array(this.#buffer, this.#base + this.payloadOffset, this.payloadLength);
  }
}

/** A record copied out of the ring; safe to keep. */
export interface CopiedRecord {
  readonly header: SomeIpHeader;
  readonly payload: Uint8Array;
}

/**
 * The consuming end of one single-producer single-consumer ring direction.
 *
 * Use one per direction a process receives on; pair it with a `RingWaiter` to wait for data.
 * The producer is untrusted (docs/architecture.md §4, docs/security.md §6): its index is loaded
 * once per refill and checked (`used = (prod − cons) >>> 0 ≤ capacity`, no backwards move,
 * 8-byte aligned); each record header is read once into locals and checked (length ≥ 8, within
 * the maximum, within the published bytes, not crossing the end, wrap markers only where they
 * can be, protocol version 1, a known message type) before anything is acted on. Any violation
 * puts the consumer in a failed state and reports a typed `ERR_RING_VIOLATION` through
 * {@link onFailure}; `receive()` then returns undefined. Nothing is ever read outside the window.
 *
 * @example
 * ```ts
 * declare const consumer: RingConsumer;
 * declare function report(e: TransportError): void;
 * declare function handle(header: SomeIpHeader, payload: Uint8Array): void;
 * consumer.onFailure((e) => report(e)); // ERR_RING_VIOLATION, ERR_PEER_GONE, ERR_CLOSED
 * for (let r = consumer.receive(); r; r = consumer.receive()) {
 *   handle(r.header, r.payload);
 *   consumer.release();
 * }
 * ```
 */
export class RingConsumer {
  /** The window's words (shared with the other direction) and this ring's two pages in it. */
  readonly #words: Uint32Array;
  readonly #pw: number;
  readonly #cw: number;
  /** The window's header view (shared with the other direction) and this data area's offset. */
  readonly #dv: DataView;
  readonly #d: number;
  readonly #bulk: Uint8Array;
  readonly #cap: number;
  readonly #mask: number;
  readonly #maxPayload: number;
  readonly #failure = new RingFailure();
  /** Made by the first record received: an idle channel's ring end holds none. */
  #record: RingRecord | undefined;
  /** Released index (private copy; the consumer page is only written, never trusted back). */
  #cons: number;
  /** Last producer index loaded and validated. */
  #prodSeen: number;
  /** Index after the held record, or -1 when none is held. */
  #heldNext = -1;
  /** The successor channel a move marker named; nothing more is read from this ring after it. */
  #movedTo: bigint | undefined;
  // Random start: a consumer re-attaching after a crash must not reuse the park number the
  // producer last rang for, or its first sleep would go without a doorbell.
  #parkSeq = (Math.random() * 0x1_0000_0000) >>> 0;

  constructor(views: RingViews) {
    this.#words = views.words;
    this.#pw = views.producerWord;
    this.#cw = views.consumerWord;
    this.#dv = views.windowView;
    this.#d = views.dataOffset;
    this.#bulk = views.dataBulk;
    this.#cap = views.dataSize;
    this.#mask = views.dataSize - 1;
    this.#maxPayload = maxPayloadFor(views.dataSize);
    this.#cons = Atomics.load(this.#words, this.#cw + C_INDEX);
    this.#prodSeen = this.#cons;
    if ((this.#cons & 7) !== 0)
      this.#violation(`consumer index ${this.#cons} at attach is misaligned`);
  }

  /**
   * Writes how this consumer waits for records into its page's `notify` word, once at attach,
   * for monitors (hostd's status); no peer acts on it.
   */
  announceNotifyMode(mode: 'spin' | 'event' | 'adaptive'): void {
    Atomics.store(this.#words, this.#cw + C_NOTIFY, NotifyModeCode.indexOf(mode));
  }

  /**
   * Counts one request read from this ring and refused without running it (the consumer page's
   * `refused` word, free-running u32, read only by monitors: status, `sivshm top`). Called on
   * the refusal path only.
   */
  countRefused(): void {
    this.#words[this.#cw + C_REFUSED] = (this.#words[this.#cw + C_REFUSED]! + 1) >>> 0;
  }

  /** The failure that stopped this ring end, or undefined while it works. */
  get failure(): TransportError | undefined {
    return this.#failure.error;
  }

  /** Calls `listener` once with the typed error when this end fails; returns an unsubscribe. */
  onFailure(listener: RingFailureListener): () => void {
    return this.#failure.subscribe(listener);
  }

  /**
   * Cheap readiness test for waiters: true when the producer index moved, the producer closed,
   * or this end failed. Validation happens in {@link receive}.
   */
  hasPending(): boolean {
    return (
      this.#movedTo !== undefined ||
      this.#prodSeen !== this.#cons ||
      Atomics.load(this.#words, this.#pw + P_INDEX) !== this.#cons ||
      this.#failure.error !== undefined ||
      (Atomics.load(this.#words, this.#pw + P_FLAGS) & RingPageLayout.FLAG_CLOSED) !== 0
    );
  }

  /**
   * The next record, or undefined when the ring is empty, closed or failed. Valid until
   * {@link release}; call `release()` before the next `receive()`.
   */
  // Long on purpose: the receive hot path is one linear pass that loads the peer's index once and
  // reads each header word once into locals; every check below uses those locals, so splitting
  // it would re-read shared memory or pass eight values around.
  // eslint-disable-next-line max-lines-per-function
  receive(): RingRecord | undefined {
    if (this.#failure.error !== undefined || this.#movedTo !== undefined) return undefined;
    if (this.#heldNext !== -1) {
      throw new TransportError('ERR_BAD_ARGUMENT', 'receive() called again before release()');
    }
    let cons = this.#cons;
    let avail = (this.#prodSeen - cons) >>> 0;
    if (avail === 0) {
      const prod = Atomics.load(this.#words, this.#pw + P_INDEX); // the one load of the peer's index
      if (prod === cons) {
        if ((Atomics.load(this.#words, this.#pw + P_FLAGS) & RingPageLayout.FLAG_CLOSED) !== 0) {
          this.#failure.fail(new TransportError('ERR_CLOSED', 'the producer closed the ring'));
        }
        return undefined;
      }
      const used = (prod - cons) >>> 0;
      if (used > this.#cap) {
        return this.#violation(
          (cons - prod) >>> 0 <= this.#cap
            ? `producer index moved backwards from ${cons} to ${prod}`
            : `producer index ${prod} is ${used} bytes ahead of consumer index ${cons}; the data area holds ${this.#cap}`,
        );
      }
      if ((prod & 7) !== 0) return this.#violation(`producer index ${prod} is not 8-byte aligned`);
      this.#prodSeen = prod;
      avail = used;
    }
    const dv = this.#dv;
    let pos = cons & this.#mask;
    // Read each header word once into a local; all checks and actions use the locals.
    const d = this.#d;
    let w0 = dv.getUint32(d + pos);
    let w1 = dv.getUint32(d + pos + 4);
    if (w0 === RecordLayout.wrapMarkerMessageId && w1 === RecordLayout.wrapMarkerLength) {
      const skip = this.#cap - pos;
      if (pos === 0) return this.#violation('wrap marker at offset 0 of the data area');
      if (skip + HEADER > avail) {
        return this.#violation(`wrap marker skips ${skip} bytes but only ${avail} are published`);
      }
      cons = (cons + skip) >>> 0;
      avail -= skip;
      pos = 0;
      w0 = dv.getUint32(d);
      w1 = dv.getUint32(d + 4);
      if (w0 === RecordLayout.wrapMarkerMessageId && w1 === RecordLayout.wrapMarkerLength) {
        return this.#violation('wrap marker at offset 0 of the data area');
      }
    }
    if (avail < HEADER) {
      return this.#violation(`published bytes end ${avail} bytes into a record header`);
    }
    if (w1 < 8) return this.#violation(`record length ${w1} is below the SOME/IP minimum of 8`);
    const payloadLength = w1 - 8;
    if (payloadLength > this.#maxPayload) {
      return this.#violation(
        `record length ${w1} exceeds this ring's maximum ${this.#maxPayload + 8}`,
      );
    }
    const size = recordSize(payloadLength);
    if (size > avail) {
      return this.#violation(`record of ${size} bytes is longer than the ${avail} bytes published`);
    }
    if (pos + size > this.#cap) {
      return this.#violation(
        `record of ${size} bytes at offset ${pos} crosses the end of the data area`,
      );
    }
    const w2 = dv.getUint32(d + pos + 8);
    const w3 = dv.getUint32(d + pos + 12);
    if (w3 >>> 24 !== SOMEIP_PROTOCOL_VERSION) {
      return this.#violation(
        `record protocol version ${w3 >>> 24} is not ${SOMEIP_PROTOCOL_VERSION}`,
      );
    }
    const messageType = (w3 >>> 8) & 0xff;
    if (!isSomeIpMessageType(messageType)) {
      return this.#violation(
        `record message type 0x${messageType.toString(16)} is not a SOME/IP type`,
      );
    }
    if (w0 === MoveMarkerLayout.messageId) return this.#moved(w1, pos, size, cons);
    if (w0 >>> 16 === 0xffff) {
      return this.#violation(
        `record message id 0x${w0.toString(16)} uses the reserved service 0xFFFF`,
      );
    }
    const r = (this.#record ??= new RingRecord(this.#bulk));
    const h = r.header;
    h.service = w0 >>> 16;
    h.method = w0 & 0xffff;
    h.client = w2 >>> 16;
    h.session = w2 & 0xffff;
    h.interfaceVersion = (w3 >>> 16) & 0xff;
    h.messageType = messageType;
    h.returnCode = w3 & 0xff;
    r.payloadLength = payloadLength;
    r.payloadOffset = pos + HEADER;
    this.#heldNext = (cons + size) >>> 0;
    return r;
  }

  /**
   * The successor channel id the producer's move marker named (docs/protocol.md §11.3), once
   * this consumer has read up to it; undefined before. The ring is done then: every record the
   * producer sent before its marker was received, and nothing after it is ever read.
   */
  get movedTo(): bigint | undefined {
    return this.#movedTo;
  }

  /** Takes the move marker at `pos` (already bounded like a record) and releases its bytes. */
  #moved(length: number, pos: number, size: number, cons: number): undefined {
    if (length !== MoveMarkerLayout.length) {
      return this.#violation(`move marker length ${length} is not ${MoveMarkerLayout.length}`);
    }
    this.#movedTo = this.#dv.getBigUint64(this.#d + pos + MoveMarkerLayout.successorOffset, true);
    this.#cons = (cons + size) >>> 0;
    Atomics.store(this.#words, this.#cw + C_INDEX, this.#cons);
    return undefined;
  }

  /** Gives the held record's bytes back to the producer. */
  release(): void {
    if (this.#heldNext === -1) return;
    this.#cons = this.#heldNext;
    this.#heldNext = -1;
    Atomics.store(this.#words, this.#cw + C_INDEX, this.#cons);
  }

  /** Receives the next record as a private copy and releases it at once. */
  receiveCopy(): CopiedRecord | undefined {
    const r = this.receive();
    if (r === undefined) return undefined;
    const payload = this.#bulk.slice(r.payloadOffset, r.payloadOffset + r.payloadLength);
    const header = { ...r.header };
    this.release();
    return { header, payload };
  }

  /** The producer's heartbeat counter. */
  peerHeartbeat(): number {
    return Atomics.load(this.#words, this.#pw + P_HEARTBEAT);
  }

  /**
   * A number that changes whenever the producer beats its heartbeat or sends a record: the
   * input for a `LivenessWatchdog`. Publishing counts as a sign of life because a producer
   * busy sending may not get to run its heartbeat timer for a while.
   */
  peerProgress(): number {
    return (
      (Atomics.load(this.#words, this.#pw + P_HEARTBEAT) +
        Atomics.load(this.#words, this.#pw + P_INDEX)) >>>
      0
    );
  }

  /** True when the producer set its closed flag. */
  get producerClosed(): boolean {
    return (Atomics.load(this.#words, this.#pw + P_FLAGS) & RingPageLayout.FLAG_CLOSED) !== 0;
  }

  /**
   * Sets or clears the parked flag. Only a `RingWaiter` should call this: setting it promises
   * that a re-check of the index follows before sleeping.
   */
  setParked(parked: boolean): void {
    if (parked) {
      // A fresh non-zero number per park, so the producer rings once per sleep, not per record.
      this.#parkSeq = (this.#parkSeq + 1) >>> 0 || 1;
      Atomics.store(this.#words, this.#cw + C_PARKED, this.#parkSeq);
    } else {
      Atomics.store(this.#words, this.#cw + C_PARKED, 0);
    }
  }

  /** Fails this end with `error` (e.g. `ERR_PEER_GONE` from a watchdog or from hostd). */
  fail(error: TransportError): void {
    this.#failure.fail(error);
    this.#markClosed();
  }

  /** Stops consuming for good and tells the producer (it then fails with `ERR_PEER_GONE`). */
  close(): void {
    this.#failure.fail(new TransportError('ERR_CLOSED', 'the ring consumer was closed'));
    this.#markClosed();
  }

  #markClosed(): void {
    Atomics.or(this.#words, this.#cw + C_FLAGS, RingPageLayout.FLAG_CLOSED);
    Atomics.store(this.#words, this.#cw + C_PARKED, 0);
  }

  #violation(message: string): undefined {
    this.#failure.fail(
      new TransportError('ERR_RING_VIOLATION', `ring violation by the producer: ${message}`),
    );
    this.#markClosed();
    return undefined;
  }
}
