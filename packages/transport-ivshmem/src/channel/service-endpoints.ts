import type protobuf from 'protobufjs';
import { Subject, share, type Observable } from 'rxjs';
import { TransportError } from '../errors/transport-error.js';
import { decodeCopy, decodeFrom } from '../protobuf/decode-from.js';
import { encodedLength, encodeInto } from '../protobuf/encode-into.js';
import { Sample } from '../protobuf/sample.js';
import { SomeIpMessageType } from '@sivshm/abi';
import type { RingRecord } from '../ring/ring-consumer.js';
import type { SomeIpHeader } from '../ring/someip-header.js';
import { dispatchKey, type Channel } from './channel.js';

/** Which SOME/IP service a channel carries, and who we are on it. */
export interface ServiceAddress {
  readonly service: number;
  /** Interface (major) version carried in every header. */
  readonly major: number;
  /** Client id of the consumer side (request ids = client << 16 | session). */
  readonly client: number;
}

/** SOME/IP return codes used here (PRS_SOMEIP_00191). */
export const ReturnCode = { ok: 0x00, notOk: 0x01, unknownMethod: 0x03 } as const;

const MAX_ERROR_TEXT = 512;
const text = new TextEncoder();
const untext = new TextDecoder();

function isPromiseLike<T>(v: T | PromiseLike<T>): v is PromiseLike<T> {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}

function checkEventId(id: number): void {
  if (!Number.isInteger(id) || id < 0x8000 || id > 0xfffe) {
    throw new TransportError(
      'ERR_BAD_ARGUMENT',
      `event id 0x${id.toString(16)} is not in 0x8000..0xFFFE`,
    );
  }
}

function checkMethodId(id: number): void {
  if (!Number.isInteger(id) || id < 0x0001 || id > 0x7fff) {
    throw new TransportError(
      'ERR_BAD_ARGUMENT',
      `method id 0x${id.toString(16)} is not in 0x0001..0x7FFF`,
    );
  }
}

/** Options of {@link ServiceProvider.publisher}. */
export interface EventPublisherOptions {
  /**
   * Encode each message straight into a loaned ring slot (no payload buffer is allocated; the
   * message is sized first) instead of encoding to a buffer and copying it in. Default false.
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
    this.#inPlace = options.inPlace === true;
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

  /** Encodes and sends; false (nothing sent) when the ring is full right now. */
  publish(message: T): boolean {
    if (this.#inPlace) return this.#publishInPlace(message);
    const payload = this.type.encode(message).finish();
    return this.channel.sendCopy(this.#nextHeader(), payload);
  }

  /** Encodes and sends, waiting up to `timeoutMs` for room (`ERR_TIMEOUT` after that). */
  async publishWait(message: T, timeoutMs = 1000): Promise<void> {
    const payload = this.type.encode(message).finish();
    await this.channel.sendCopyWait({ ...this.#nextHeader() }, payload, timeoutMs);
  }

  /** loan → encode into the slot → send. */
  #publishInPlace(message: T): boolean {
    const length = encodedLength(this.type, message);
    const slot = this.channel.loan(length);
    if (slot === undefined) return false;
    try {
      encodeInto(this.type, message, slot.payload, { length });
    } catch (e) {
      this.channel.abandon(slot);
      throw e;
    }
    Object.assign(slot.header, this.#nextHeader());
    this.channel.send(slot);
    return true;
  }
}

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
 * handler throws; a request for an unknown method gets E_UNKNOWN_METHOD.
 */
export class ServiceProvider {
  readonly #unregister: Array<() => void> = [];
  readonly #methods = new Set<number>();
  #waitingReplies = 0;
  /** Dispatches held back while {@link MAX_WAITING_REPLIES} replies wait. */
  readonly #roomWaiters: Array<() => void> = [];

  constructor(
    private readonly channel: Channel,
    private readonly address: ServiceAddress,
  ) {
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

  #handle<Req extends object, Res extends object>(
    r: RingRecord,
    requestType: protobuf.Type,
    responseType: protobuf.Type,
    handler: (request: Req) => Res | Promise<Res>,
  ): void {
    const h = { ...r.header };
    let request: Req;
    try {
      request = decodeCopy<Req>(requestType, r.payload);
    } catch (e) {
      if (h.messageType === SomeIpMessageType.REQUEST)
        void this.#reply(h, ReturnCode.notOk, text.encode((e as Error).message)).catch(
          () => undefined,
        );
      return;
    }
    void (async () => {
      let payload: Uint8Array;
      try {
        const returned = handler(request);
        // A synchronous handler is answered synchronously, inside the dispatch: no
        // microtask hop between request and response on the hot path.
        const result = isPromiseLike(returned) ? await returned : returned;
        if (h.messageType !== SomeIpMessageType.REQUEST) return;
        payload = responseType.encode(result).finish();
      } catch (e) {
        if (h.messageType === SomeIpMessageType.REQUEST) {
          await this.#reply(
            h,
            ReturnCode.notOk,
            text.encode(String((e as Error)?.message ?? e).slice(0, MAX_ERROR_TEXT)),
          );
        }
        return;
      }
      const header = { ...h, messageType: SomeIpMessageType.RESPONSE, returnCode: ReturnCode.ok };
      // A reply that gives up waiting for room is dropped, not answered with an ERROR that
      // would wait for the same room: the caller's deadline tells it.
      if (!this.channel.sendCopy(header, payload)) await this.#reply(h, ReturnCode.ok, payload);
    })().catch(() => {
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

interface PendingCall {
  readonly resolve: (payload: Uint8Array) => void;
  readonly reject: (e: TransportError) => void;
  /** `performance.now()` after which the call fails with ERR_TIMEOUT. */
  readonly deadline: number;
  readonly methodId: number;
  readonly timeoutMs: number;
}

/**
 * The consumer side of a service on one channel: event streams and method calls.
 * Responses are matched to calls by session id; a call that gets no answer in time rejects
 * with `ERR_TIMEOUT`, an ERROR answer with `ERR_REMOTE`; late answers are counted, not kept.
 */
export class ServiceConsumer {
  readonly #events = new Map<number, Observable<unknown>>();
  readonly #pending = new Map<number, PendingCall>();
  readonly #responseHandlers = new Set<number>();
  readonly #unregister: Array<() => void> = [];
  /** Samples handed out and not yet released; released by force when the channel ends. */
  readonly #held = new Set<Sample<object>>();
  #session = 0;
  #sweeper: NodeJS.Timeout | undefined;
  /** Responses that arrived for calls that had already timed out. */
  lateResponses = 0;
  /** Event records that did not decode as their type: counted, reported, never delivered. */
  undecodableEvents = 0;
  readonly #errors = new Subject<TransportError>();
  /**
   * One `ERR_DECODE` per event record that did not decode (naming the event, its session and
   * the type). The event's own stream goes on with the next record: one bad record from the
   * peer never ends a subscription. Completes when the consumer closes.
   */
  readonly errors$: Observable<TransportError> = this.#errors.asObservable();

  constructor(
    private readonly channel: Channel,
    private readonly address: ServiceAddress,
  ) {
    const rejectAll = (e: TransportError): void => {
      for (const [, p] of this.#pending) {
        p.reject(e);
      }
      this.#pending.clear();
    };
    this.#unregister.push(() => {
      for (const h of [...this.#held]) h.release();
      rejectAll(new TransportError('ERR_CLOSED', 'the service consumer was closed'));
      this.#errors.complete();
    });
    // When the channel ends (peer gone, violation, close) no answer can come: fail every call now.
    const sub = channel.state$.subscribe((state) => {
      if (state === 'open') return;
      for (const h of [...this.#held]) h.release();
      rejectAll(channel.failure ?? new TransportError('ERR_CLOSED', `the channel is ${state}`));
    });
    this.#unregister.push(() => sub.unsubscribe());
  }

  /**
   * Decoded copies of event `eventId`, safe to keep. Hot: subscribing starts delivery, and
   * every subscriber shares one decoder.
   */
  event<T>(eventId: number, type: protobuf.Type): Observable<T> {
    checkEventId(eventId);
    let obs = this.#events.get(eventId);
    if (obs === undefined) {
      const subject = new Subject<T>();
      const off = this.channel.on(dispatchKey(SomeIpMessageType.NOTIFICATION, eventId), (r) => {
        if (r.header.messageType !== SomeIpMessageType.NOTIFICATION) return;
        let message: T;
        try {
          message = decodeCopy(type, r.payload) as T;
        } catch (e) {
          this.#undecodable(eventId, r.header.session, type, e);
          return;
        }
        subject.next(message);
      });
      this.#unregister.push(() => {
        off();
        subject.complete();
      });
      obs = subject.pipe(share());
      this.#events.set(eventId, obs);
    }
    return obs as Observable<T>;
  }

  /**
   * The zero-copy lane of event `eventId`: each `Sample` decodes in place, its `bytes` fields
   * alias the ring slot, and it stays valid until `release()` — which the subscriber must call:
   * until then the channel delivers nothing else (backpressure, never a silent drop). Meant for
   * one subscriber; use `event()` for decoded copies that are safe to keep. In a `mac`/`aead`
   * channel the record is checked and copied (and decrypted) into private memory first, and the
   * `bytes` fields alias that copy instead of the ring; validity and backpressure are the same.
   */
  samples<T extends object>(eventId: number, type: protobuf.Type): Observable<Sample<T>> {
    checkEventId(eventId);
    const subject = new Subject<Sample<T>>();
    const off = this.channel.on(dispatchKey(SomeIpMessageType.NOTIFICATION, eventId), (r) => {
      if (r.header.messageType !== SomeIpMessageType.NOTIFICATION) return undefined;
      let message: T;
      try {
        message = decodeFrom<T>(type, r.payload);
      } catch (e) {
        this.#undecodable(eventId, r.header.session, type, e);
        return undefined;
      }
      return new Promise<void>((released) => {
        const sample: Sample<T> = new Sample<T>(message, {
          onRelease: () => {
            this.#held.delete(sample);
            released();
          },
          header: r.header,
          label: type.fullName,
        });
        this.#held.add(sample);
        subject.next(sample);
        if (!subject.observed) sample.release(); // nobody listening: give the slot back
      });
    });
    this.#unregister.push(() => {
      off();
      subject.complete();
    });
    return subject.asObservable();
  }

  #undecodable(eventId: number, session: number, type: protobuf.Type, cause: unknown): void {
    this.undecodableEvents++;
    this.#errors.next(
      new TransportError(
        'ERR_DECODE',
        `event 0x${eventId.toString(16)} record (session ${session}) does not decode as ${type.fullName}: ${(cause as Error).message}; skipped`,
        { cause },
      ),
    );
  }

  /** Calls method `methodId` and resolves with the decoded response. */
  async call<Req extends object, Res>(
    methodId: number,
    requestType: protobuf.Type,
    responseType: protobuf.Type,
    request: Req,
    options: { readonly timeoutMs?: number } = {},
  ): Promise<Res> {
    checkMethodId(methodId);
    this.#listenForResponses(methodId);
    const session = this.#nextSession();
    const timeoutMs = options.timeoutMs ?? 1000;
    const payload = await new Promise<Uint8Array>((resolve, reject) => {
      this.#pending.set(session, {
        resolve,
        reject,
        deadline: performance.now() + timeoutMs,
        methodId,
        timeoutMs,
      });
      this.#armSweeper();
      const header = this.#header(methodId, session, SomeIpMessageType.REQUEST);
      const body = requestType.encode(request).finish();
      // Hot path: straight into the ring; only a full ring takes the waiting (async) path.
      if (this.channel.state === 'open' && this.channel.sendCopy(header, body)) return;
      this.channel.sendCopyWait(header, body, timeoutMs).catch((e: TransportError) => {
        this.#pending.delete(session);
        reject(e);
      });
    });
    // `payload` is already this call's private copy (taken before the record was released):
    // decode it in place rather than copying it a second time.
    return decodeFrom(responseType, payload) as Res;
  }

  /** Fire-and-forget (REQUEST_NO_RETURN): resolves once the request is in the ring. */
  async fire<Req extends object>(
    methodId: number,
    requestType: protobuf.Type,
    request: Req,
    timeoutMs = 1000,
  ): Promise<void> {
    checkMethodId(methodId);
    await this.channel.sendCopyWait(
      this.#header(methodId, this.#nextSession(), SomeIpMessageType.REQUEST_NO_RETURN),
      requestType.encode(request).finish(),
      timeoutMs,
    );
  }

  /** Ends every stream and rejects every pending call. */
  close(): void {
    for (const off of this.#unregister.splice(0)) off();
  }

  /**
   * One unref'd timer checks every pending call's deadline (every 5 ms) instead of a timer per
   * call: timeouts fire within 5 ms of their bound, and the hot path allocates no timer.
   */
  #armSweeper(): void {
    if (this.#sweeper !== undefined) return;
    this.#sweeper = setInterval(() => {
      const now = performance.now();
      for (const [session, p] of this.#pending) {
        if (now < p.deadline) continue;
        this.#pending.delete(session);
        p.reject(
          new TransportError(
            'ERR_TIMEOUT',
            `no response to method 0x${p.methodId.toString(16)} within ${p.timeoutMs} ms`,
          ),
        );
      }
      if (this.#pending.size === 0) {
        clearInterval(this.#sweeper);
        this.#sweeper = undefined;
      }
    }, 5);
    this.#sweeper.unref();
  }

  #listenForResponses(methodId: number): void {
    if (this.#responseHandlers.has(methodId)) return;
    this.#responseHandlers.add(methodId);
    this.#unregister.push(
      this.channel.on(dispatchKey(SomeIpMessageType.RESPONSE, methodId), (r) => {
        const p = this.#pending.get(r.header.session);
        if (p === undefined || r.header.client !== this.address.client) {
          this.lateResponses++;
          return;
        }
        this.#pending.delete(r.header.session);
        if (
          r.header.messageType === SomeIpMessageType.RESPONSE &&
          r.header.returnCode === ReturnCode.ok
        ) {
          p.resolve(r.payload.slice());
        } else {
          p.reject(
            new TransportError(
              'ERR_REMOTE',
              `method 0x${methodId.toString(16)} failed at the provider (return code 0x${r.header.returnCode.toString(16)}): ${untext.decode(r.payload.subarray(0, MAX_ERROR_TEXT))}`,
            ),
          );
        }
      }),
    );
  }

  #nextSession(): number {
    for (let i = 0; i < 0xffff; i++) {
      this.#session = (this.#session % 0xffff) + 1;
      if (!this.#pending.has(this.#session)) return this.#session;
    }
    throw new TransportError('ERR_RING_FULL', '65535 calls are already pending');
  }

  #header(method: number, session: number, messageType: number): SomeIpHeader {
    return {
      service: this.address.service,
      method,
      client: this.address.client,
      session,
      interfaceVersion: this.address.major,
      messageType,
      returnCode: ReturnCode.ok,
    };
  }
}
