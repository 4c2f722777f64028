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
  readonly #slot = new RingSlot();
  #plain = new Uint8Array(0);
  #ringSlot: RingSlot | undefined;

  constructor(producer: RingProducer, sealer: RecordSealer) {
    this.#producer = producer;
    this.#sealer = sealer;
  }

  /** Largest payload: the ring's maximum minus sequence number and tag. */
  get maxPayload(): number {
    return this.#producer.maxPayload - OVERHEAD;
  }

  loan(payloadLength: number): RingSlot | undefined {
    this.#checkLength(payloadLength);
    const ring = this.#producer.loan(payloadLength + OVERHEAD);
    if (ring === undefined) return undefined;
    if (this.#plain.length < payloadLength) {
      this.#plain = new Uint8Array(privateBufferSize(payloadLength));
    }
    this.#ringSlot = ring;
    this.#slot.payload = this.#plain.subarray(0, payloadLength);
    return this.#slot;
  }

  send(slot: RingSlot): void {
    const ring = this.#ringSlot;
    if (ring === undefined || slot !== this.#slot) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        'send() needs the slot returned by the last loan',
      );
    }
    this.#ringSlot = undefined;
    this.#sealAndSend(ring, slot.header, slot.payload);
  }

  abandon(slot: RingSlot): void {
    const ring = this.#ringSlot;
    if (ring === undefined || slot !== this.#slot) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        'abandon() needs the slot returned by the last loan',
      );
    }
    this.#ringSlot = undefined;
    this.#producer.abandon(ring);
  }

  sendCopy(header: SomeIpHeader, payload: Uint8Array): boolean {
    this.#checkLength(payload.length);
    const ring = this.#producer.loan(payload.length + OVERHEAD);
    if (ring === undefined) return false;
    this.#sealAndSend(ring, header, payload);
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

  #sealAndSend(ring: RingSlot, header: SomeIpHeader, plain: Uint8Array): void {
    // Checked before sealing: a sequence number is spent only on a record that is sent.
    const problem = checkSomeIpHeader(header);
    if (problem !== undefined) {
      this.#producer.abandon(ring);
      throw new TransportError('ERR_BAD_ARGUMENT', `record header rejected: ${problem}`);
    }
    const h = ring.header;
    h.service = header.service;
    h.method = header.method;
    h.client = header.client;
    h.session = header.session;
    h.interfaceVersion = header.interfaceVersion;
    h.messageType = header.messageType;
    h.returnCode = header.returnCode;
    try {
      this.#sealer.seal(h, plain, ring.payload);
    } catch (e) {
      this.#producer.abandon(ring);
      throw e;
    }
    this.#producer.send(ring);
  }

  #checkLength(n: number): void {
    if (this.#ringSlot !== undefined) {
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
