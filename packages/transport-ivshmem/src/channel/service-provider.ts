import type protobuf from 'protobufjs';
import { SomeIpMessageType } from '@sivshm/abi';
import { decodeOwned } from '../protobuf/decode-owned.js';
import type { RingRecord } from '../ring/ring-consumer.js';
import type { SomeIpHeader } from '../ring/someip-header.js';
import { dispatchKey, type Channel } from './channel.js';
import { EventPublisher, type EventPublisherOptions } from './event-publisher.js';
import {
  checkMethodId,
  isPromiseLike,
  MAX_ERROR_TEXT,
  ReturnCode,
  type ServiceAddress,
} from './service-common.js';
import { sendEncoded } from './send-encoded.js';
import { CallsInFlight, type ServiceProviderOptions } from './calls-in-flight.js';

const text = new TextEncoder();

/**
 * Replies one provider keeps waiting for room in a full reply ring. Past it the provider takes
 * no more requests from the channel until a reply got out (or gave up, after its own bound): a
 * consumer that fills the request ring and never reads its replies then stalls only its own
 * calls (they time out at the caller), never the provider's memory or event loop.
 */
export const MAX_WAITING_REPLIES = 64;

/**
 * The provider side of a service on one channel: event publishers and method handlers.
 * Requests are answered with RESPONSE, or ERROR (E_NOT_OK, the error text as payload) when the
 * handler throws; a request for an unknown method gets E_UNKNOWN_METHOD, and one past the
 * channel's bound on calls in flight E_NOT_READY (calls-in-flight.ts).
 */
export class ServiceProvider {
  readonly #unregister: Array<() => void> = [];
  readonly #methods = new Set<number>();
  #waitingReplies = 0;
  /** Dispatches held back while {@link MAX_WAITING_REPLIES} replies wait. */
  readonly #roomWaiters: Array<() => void> = [];
  readonly #calls: CallsInFlight;

  constructor(
    private readonly channel: Channel,
    private readonly address: ServiceAddress,
    options: ServiceProviderOptions = {},
  ) {
    this.#calls = new CallsInFlight(options.maxCallsInFlight, () => channel.countRefusedCall());
    channel.onUnhandled((r) => {
      if (r.header.messageType === SomeIpMessageType.REQUEST) {
        void this.#reply(
          { ...r.header },
          ReturnCode.unknownMethod,
          text.encode(`unknown method 0x${r.header.method.toString(16)}`),
        ).catch(() => undefined);
      }
    });
  }

  /** The publisher of event `eventId`, its messages encoded as `type`. */
  publisher<T extends object>(
    eventId: number,
    type: protobuf.Type,
    options: EventPublisherOptions = {},
  ): EventPublisher<T> {
    return new EventPublisher<T>(this.channel, this.address, eventId, type, options);
  }

  /**
   * Serves method `methodId`: decodes each request as `requestType`, awaits `handler`, and
   * sends its result encoded as `responseType` (nothing for REQUEST_NO_RETURN).
   */
  serve<Req extends object, Res extends object>(
    methodId: number,
    requestType: protobuf.Type,
    responseType: protobuf.Type,
    handler: (request: Req) => Res | Promise<Res>,
  ): () => void {
    checkMethodId(methodId);
    this.#methods.add(methodId);
    const off = this.channel.on(dispatchKey(SomeIpMessageType.REQUEST, methodId), (r) => {
      // Back-pressure: the request stays in the ring (and the channel delivers nothing else)
      // until a waiting reply got out; the record is valid until then.
      if (this.#waitingReplies >= MAX_WAITING_REPLIES) {
        return new Promise<void>((room) => this.#roomWaiters.push(room)).then(() =>
          this.#handle(r, requestType, responseType, handler),
        );
      }
      this.#handle(r, requestType, responseType, handler);
      return undefined;
    });
    this.#unregister.push(off);
    return off;
  }

  /** Replies waiting for room in the reply ring now (at most {@link MAX_WAITING_REPLIES}). */
  get waitingReplies(): number {
    return this.#waitingReplies;
  }

  /** Method calls running now, and requests refused so far because the bound was reached. */
  get calls(): { readonly running: number; readonly refused: number; readonly max: number } {
    return { running: this.#calls.running, refused: this.#calls.refused, max: this.#calls.max };
  }

  #handle<Req extends object, Res extends object>(
    r: RingRecord,
    requestType: protobuf.Type,
    responseType: protobuf.Type,
    handler: (request: Req) => Res | Promise<Res>,
  ): void {
    // The header outlives the record (an async handler answers later); the answer reuses it.
    const h = { ...r.header };
    const calls = this.#calls;
    if (!calls.tryStart()) {
      if (h.messageType === SomeIpMessageType.REQUEST) {
        this.#replyQuietly(h, ReturnCode.notReady, text.encode(calls.refusal()));
      }
      return;
    }
    let returned: Res | Promise<Res>;
    try {
      returned = handler(decodeOwned<Req>(requestType, r.payload));
    } catch (e) {
      calls.settled();
      this.#replyError(h, e);
      return;
    }
    // A synchronous handler is answered synchronously, inside the dispatch: no promise, no
    // microtask hop between request and response on the hot path.
    if (!isPromiseLike(returned)) {
      calls.settled();
      this.#answer(h, responseType, returned);
      return;
    }
    Promise.resolve(returned).then(
      (result) => {
        calls.settled();
        this.#answer(h, responseType, result);
      },
      (e: unknown) => {
        calls.settled();
        this.#replyError(h, e);
      },
    );
  }

  /** Sends `result` as the RESPONSE to request `h` (nothing for REQUEST_NO_RETURN). */
  #answer(h: SomeIpHeader, responseType: protobuf.Type, result: object): void {
    if (h.messageType !== SomeIpMessageType.REQUEST) return;
    let payload: Uint8Array;
    try {
      h.messageType = SomeIpMessageType.RESPONSE;
      h.returnCode = ReturnCode.ok;
      // Encoded straight into the reply ring; a full ring takes the waiting lane below.
      if (sendEncoded(this.channel, h, responseType, result)) return;
      payload = responseType.encode(result).finish();
    } catch (e) {
      h.messageType = SomeIpMessageType.REQUEST;
      this.#replyError(h, e);
      return;
    }
    // A reply that gives up waiting for room is dropped, not answered with an ERROR that
    // would wait for the same room: the caller's deadline tells it.
    this.#replyQuietly(h, ReturnCode.ok, payload);
  }

  /** Answers request `h` with an ERROR carrying `e`'s message (nothing for REQUEST_NO_RETURN). */
  #replyError(h: SomeIpHeader, e: unknown): void {
    if (h.messageType !== SomeIpMessageType.REQUEST) return;
    const why = String((e as Error | undefined)?.message ?? e).slice(0, MAX_ERROR_TEXT);
    this.#replyQuietly(h, ReturnCode.notOk, text.encode(why));
  }

  #replyQuietly(h: SomeIpHeader, returnCode: number, payload: Uint8Array): void {
    this.#reply(h, returnCode, payload).catch(() => {
      // The channel ended while replying, or the reply gave up waiting for room; the
      // caller's own deadline tells it, the channel's state$ tells the owner.
    });
  }

  /** Sends a reply, waiting (bounded) for room; counted while it waits. */
  async #reply(request: SomeIpHeader, returnCode: number, payload: Uint8Array): Promise<void> {
    const header = {
      ...request,
      messageType:
        returnCode === ReturnCode.ok ? SomeIpMessageType.RESPONSE : SomeIpMessageType.ERROR,
      returnCode,
    };
    if (this.channel.sendCopy(header, payload)) return;
    this.#waitingReplies++;
    try {
      await this.channel.sendCopyWait(header, payload, 1000);
    } finally {
      this.#waitingReplies--;
      this.#roomWaiters.shift()?.();
    }
  }

  /** Unregisters every handler. */
  close(): void {
    for (const off of this.#unregister.splice(0)) off();
  }
}
