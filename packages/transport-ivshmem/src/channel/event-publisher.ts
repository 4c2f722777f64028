import type protobuf from 'protobufjs';
import { SomeIpMessageType } from '@sivshm/abi';
import type { SomeIpHeader } from '../ring/someip-header.js';
import type { Channel } from './channel.js';
import { sendEncoded } from './send-encoded.js';
import { checkEventId, ReturnCode, type ServiceAddress } from './service-common.js';

/** Options of {@link ServiceProvider.publisher}. */
export interface EventPublisherOptions {
  /**
   * Encode each message straight into a loaned ring slot (no payload buffer is allocated; the
   * message is sized first) instead of encoding to a buffer and copying it in. Default true;
   * false picks the copy lane (`encode().finish()`, then one copy into the ring).
   * In a `mac`/`aead` channel the loaned slot is private memory and sending seals it into the
   * ring (encode privately, then seal): no plaintext in shared memory, one cipher pass.
   */
  readonly inPlace?: boolean;
}

/**
 * Publishes one event of a provided service on one channel, through the channel's send lanes.
 *
 * @example
 * ```ts
 * declare const provider: ServiceProvider;
 * declare const VehicleSpeed: import('protobufjs').Type;
 * const speed = provider.publisher<{ kph: number }>(0x8001, VehicleSpeed);
 * speed.publish({ kph: 88 }) || (await speed.publishWait({ kph: 88 }, 10));
 * ```
 */
export class EventPublisher<T extends object> {
  #session = 0;
  readonly #inPlace: boolean;
  readonly #header: SomeIpHeader;
  constructor(
    private readonly channel: Channel,
    private readonly address: ServiceAddress,
    readonly eventId: number,
    private readonly type: protobuf.Type,
    options: EventPublisherOptions = {},
  ) {
    checkEventId(eventId);
    this.#inPlace = options.inPlace !== false;
    this.#header = {
      service: address.service,
      method: eventId,
      client: 0,
      session: 0,
      interfaceVersion: address.major,
      messageType: SomeIpMessageType.NOTIFICATION,
      returnCode: ReturnCode.ok,
    };
  }

  /**
   * The header of the next record: one object per publisher, reused (only the session changes),
   * so the send path allocates no header. Safe because both lanes copy it into the ring before
   * they return; the waiting lane takes a copy of its own.
   */
  #nextHeader(): SomeIpHeader {
    this.#session = (this.#session % 0xffff) + 1;
    this.#header.session = this.#session;
    return this.#header;
  }

  /**
   * Encodes and sends; false (nothing sent) when the ring is full right now, counted in the
   * ring's `drops` word for monitors (`sivshm top`'s DROPS). `sized`: the message's
   * `encodedLength` when the caller has it already (the in-place lane then does not size it
   * again).
   */
  publish(message: T, sized?: number): boolean {
    const sent = this.#inPlace
      ? sendEncoded(this.channel, this.#nextHeader(), this.type, message, sized)
      : this.channel.sendCopy(this.#nextHeader(), this.type.encode(message).finish());
    if (!sent) this.channel.countDrop();
    return sent;
  }

  /**
   * Sends a payload that is already this event's encoded message (copied into the ring as is);
   * false (nothing sent, counted as a drop) when the ring is full right now. The caller vouches
   * that the bytes are the event's type: the runtime's `ServicePublisher.publishBytes` checks
   * that they decode before calling this.
   */
  publishEncoded(payload: Uint8Array): boolean {
    const sent = this.channel.sendCopy(this.#nextHeader(), payload);
    if (!sent) this.channel.countDrop();
    return sent;
  }

  /** Encodes and sends, waiting up to `timeoutMs` for room (`ERR_TIMEOUT` after that). */
  async publishWait(message: T, timeoutMs = 1000): Promise<void> {
    const payload = this.type.encode(message).finish();
    await this.channel.sendCopyWait({ ...this.#nextHeader() }, payload, timeoutMs);
  }
}
