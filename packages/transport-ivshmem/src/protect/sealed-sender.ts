import { TransportError } from '../errors/transport-error.js';
import { RingSlot, type RingProducer } from '../ring/ring-producer.js';
import { checkSomeIpHeader, type SomeIpHeader } from '../ring/someip-header.js';
import { privateBufferSize } from './private-buffer.js';
import { SealedRecordLayout } from './record-format.js';
import type { RecordSealer } from './record-sealer.js';

const OVERHEAD = SealedRecordLayout.overhead;

/**
 * The send lanes of a protected channel, with the signatures of `RingProducer`'s.
 *
 * What changes for the caller: a loaned slot's `payload` is private memory, not the ring (the
 * ring slot, `payload + 24` bytes, is reserved at loan time and receives the sealed record at
 * `send`). So `loan → encode → send` keeps its shape and its backpressure, but in `aead` mode
 * it is encode-privately-then-seal: one pass of the cipher instead of zero copies.
 */
export class SealedSender {
  readonly #producer: RingProducer;
  readonly #sealer: RecordSealer;
  /** The data area of the producer's ring, which loan offsets count from. */
  readonly #ring: Uint8Array;
  readonly #slot = new RingSlot();
  /** The private buffer loaned payloads are encoded into; bound to the sealer. */
  #plain = new Uint8Array(0);
  /** The last loaned payload view, reused while loans keep their length. */
  #view = new Uint8Array(0);
  /** Offset in the data area of the loaned ring record's payload; -1 when nothing is on loan. */
  #loanAt = -1;
  /** The header as sealed and as written to the ring: one private copy for both. */
  readonly #header: SomeIpHeader = {
    service: 0,
    method: 0,
    client: 0,
    session: 0,
    interfaceVersion: 0,
    messageType: 0,
    returnCode: 0,
  };

  /**
   * @param ring the data area of `producer`'s ring (its `RingViews.dataBulk`): the sealer writes
   *   records into it by offset.
   */
  constructor(producer: RingProducer, sealer: RecordSealer, ring: Uint8Array) {
    this.#producer = producer;
    this.#sealer = sealer;
    this.#ring = ring;
    sealer.bind('ring', ring);
  }

  /** Largest payload: the ring's maximum minus sequence number and tag. */
  get maxPayload(): number {
    return this.#producer.maxPayload - OVERHEAD;
  }

  loan(payloadLength: number): RingSlot | undefined {
    this.#checkLength(payloadLength);
    const at = this.#producer.loanOffset(payloadLength + OVERHEAD);
    if (at < 0) return undefined;
    if (this.#plain.length < payloadLength) {
      this.#plain = new Uint8Array(privateBufferSize(payloadLength));
      this.#sealer.bind('private', this.#plain);
      this.#view = this.#plain.subarray(0, payloadLength);
    } else if (this.#view.length !== payloadLength) {
      this.#view = this.#plain.subarray(0, payloadLength);
    }
    this.#loanAt = at;
    this.#slot.payload = this.#view;
    return this.#slot;
  }

  send(slot: RingSlot): void {
    const at = this.#loanAt;
    if (at < 0 || slot !== this.#slot || slot.payload !== this.#view) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        'send() needs the slot returned by the last loan, with its payload',
      );
    }
    this.#loanAt = -1;
    const h = this.#headerFor(slot.header);
    try {
      this.#sealer.sealAt(h, 0, this.#view.length, at);
    } catch (e) {
      this.#producer.abandonLoan();
      throw e;
    }
    this.#producer.sendLoan(h);
  }

  abandon(slot: RingSlot): void {
    if (this.#loanAt < 0 || slot !== this.#slot) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        'abandon() needs the slot returned by the last loan',
      );
    }
    this.#loanAt = -1;
    this.#producer.abandonLoan();
  }

  sendCopy(header: SomeIpHeader, payload: Uint8Array): boolean {
    const n = payload.length;
    this.#checkLength(n);
    const at = this.#producer.loanOffset(n + OVERHEAD);
    if (at < 0) return false;
    const h = this.#headerFor(header);
    try {
      // The caller's bytes are sealed where they are, not copied into the private buffer
      // first: large records take this lane.
      this.#sealer.seal(h, payload, this.#ring.subarray(at, at + n + OVERHEAD));
    } catch (e) {
      this.#producer.abandonLoan();
      throw e;
    }
    this.#producer.sendLoan(h);
    return true;
  }

  /**
   * Like `RingProducer.sendCopyWait`. It retries `sendCopy` rather than awaiting a loan:
   * a slot loaned across an `await` would block every other sender in the meantime.
   */
  async sendCopyWait(
    header: SomeIpHeader,
    payload: Uint8Array,
    options: { readonly timeoutMs: number },
  ): Promise<void> {
    const deadline = performance.now() + options.timeoutMs;
    for (let attempt = 0; ; attempt++) {
      if (this.sendCopy(header, payload)) return;
      if (this.#producer.consumerClosed) {
        throw new TransportError('ERR_PEER_GONE', 'the consumer closed the ring');
      }
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new TransportError(
          'ERR_TIMEOUT',
          `ring stayed full for ${options.timeoutMs} ms: a sealed record of ${payload.length + OVERHEAD} bytes needs room (the consumer is not keeping up, or is gone)`,
        );
      }
      // Same back-off as the ring's own wait: a loop turn first, then sleeps of up to 2 ms.
      await new Promise<void>((resolve) =>
        attempt < 8 ? setImmediate(resolve) : setTimeout(resolve, Math.min(2, left)),
      );
    }
  }

  /**
   * The loaned record's header: checked before sealing (a sequence number is spent only on a
   * record that is sent; a refused header ends the loan) and copied field by field into one
   * private object, so what is authenticated is what the ring gets.
   */
  #headerFor(header: SomeIpHeader): SomeIpHeader {
    const problem = checkSomeIpHeader(header);
    if (problem !== undefined) {
      this.#producer.abandonLoan();
      throw new TransportError('ERR_BAD_ARGUMENT', `record header rejected: ${problem}`);
    }
    const h = this.#header;
    h.service = header.service;
    h.method = header.method;
    h.client = header.client;
    h.session = header.session;
    h.interfaceVersion = header.interfaceVersion;
    h.messageType = header.messageType;
    h.returnCode = header.returnCode;
    return h;
  }

  #checkLength(n: number): void {
    if (this.#loanAt >= 0) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        'a slot is already on loan: send() it before the next loan',
      );
    }
    if (!Number.isInteger(n) || n < 0 || n > this.maxPayload) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        `payload length ${n} is out of range 0..${this.maxPayload} for a protected record`,
      );
    }
  }
}
