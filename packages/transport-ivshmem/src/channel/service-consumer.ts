// The module's binding: the global `performance` is an accessor, a getter call on every read.
import { performance } from 'node:perf_hooks';
import type protobuf from 'protobufjs';
import { EMPTY, Subject, share, type Observable } from 'rxjs';
import { SomeIpMessageType } from '@sivshm/abi';
import { TransportError } from '../errors/transport-error.js';
import { decodeFrom } from '../protobuf/decode-from.js';
import { decodeOwned } from '../protobuf/decode-owned.js';
import { Sample } from '../protobuf/sample.js';
import type { SomeIpHeader } from '../ring/someip-header.js';
import { dispatchKey, type Channel } from './channel.js';
import {
  checkEventId,
  checkMethodId,
  MAX_ERROR_TEXT,
  ReturnCode,
  type ServiceAddress,
} from './service-common.js';
import { sendEncoded } from './send-encoded.js';
import { PendingCalls, type PendingCall } from './pending-calls.js';
import { mappedError, WaitingCall } from './waiting-call.js';

const untext = new TextDecoder();

/** The ways a consumer can take an event's records; one per event and channel. */
type EventLane = 'event' | 'samples' | 'eventBytes';

/** Options of one {@link ServiceConsumer.call}. */
export interface CallOptions {
  /** How long to wait for the answer (and for room in the ring), in ms; 1000 by default. */
  readonly timeoutMs?: number;
  /**
   * Maps every failure of the call before it is rejected: a layer above that names its own
   * errors passes this instead of chaining a `.catch`, which would cost the caller one more
   * promise and one more job per call.
   */
  readonly mapError?: (e: unknown) => Error;
}

/**
 * The consumer side of a service on one channel: event streams and method calls.
 * Responses are matched to calls by session id; a call that gets no answer in time rejects
 * with `ERR_TIMEOUT`, an ERROR answer with `ERR_REMOTE`; late answers are counted, not kept.
 * A call whose request cannot get into the ring (the provider takes no more requests now)
 * rejects with `ERR_BUSY`: it was never sent, and may be retried.
 */
export class ServiceConsumer {
  readonly #events = new Map<number, Observable<unknown>>();
  readonly #eventBytes = new Map<number, Observable<Uint8Array>>();
  /** The lane (`event`, `samples`, `eventBytes`) that took each event id on this channel. */
  readonly #lanes = new Map<number, EventLane>();
  readonly #pending = new PendingCalls();
  readonly #responseHandlers = new Set<number>();
  readonly #unregister: Array<() => void> = [];
  /** Samples handed out and not yet released; released by force when the channel ends. */
  readonly #held = new Set<Sample<object>>();
  #session = 0;
  #closed = false;
  #scratchHeader: SomeIpHeader | undefined;
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
    const rejectAll = (e: TransportError): void => this.#pending.rejectAll(e);
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
   * Decoded messages of event `eventId`, safe to keep. Hot: subscribing starts delivery, and
   * every subscriber shares one decoder. Each record is decoded straight from its slot (in a
   * `mac`/`aead` channel: from the private copy it was checked and opened into) and only its
   * `bytes` values are copied out, so nothing delivered aliases the ring.
   */
  event<T>(eventId: number, type: protobuf.Type): Observable<T> {
    checkEventId(eventId);
    let obs = this.#events.get(eventId);
    if (obs === undefined) {
      this.#takeLane(eventId, 'event');
      const subject = new Subject<T>();
      const off = this.channel.on(dispatchKey(SomeIpMessageType.NOTIFICATION, eventId), (r) => {
        if (r.header.messageType !== SomeIpMessageType.NOTIFICATION) return;
        let message: T;
        try {
          message = decodeOwned(type, r.payload) as T;
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
    this.#takeLane(eventId, 'samples');
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

  /**
   * Copies of the payload bytes of event `eventId`, one per record, in order, as received and
   * not decoded (the raw-bytes lane of a participant that only carries events on; a `mac`/`aead`
   * channel has checked and opened each record first); each copy is the caller's to keep. Hot and
   * shared like `event()`, and it ends (completes) when this consumer closes.
   */
  eventBytes(eventId: number): Observable<Uint8Array> {
    checkEventId(eventId);
    // Nothing registered after close could ever be unregistered: a closed consumer's lane is over.
    if (this.#closed) return EMPTY;
    let obs = this.#eventBytes.get(eventId);
    if (obs === undefined) {
      this.#takeLane(eventId, 'eventBytes');
      const subject = new Subject<Uint8Array>();
      const off = this.channel.on(dispatchKey(SomeIpMessageType.NOTIFICATION, eventId), (r) => {
        if (r.header.messageType === SomeIpMessageType.NOTIFICATION)
          subject.next(r.payload.slice());
      });
      this.#unregister.push(() => {
        off();
        subject.complete();
      });
      obs = subject.pipe(share());
      this.#eventBytes.set(eventId, obs);
    }
    return obs;
  }

  /**
   * Claims event `eventId`'s lane on this channel for `lane`: a record is handed to one lane
   * only, so a second lane of the same event is refused with an error naming both.
   */
  #takeLane(eventId: number, lane: EventLane): void {
    const taken = this.#lanes.get(eventId);
    if (taken !== undefined) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        `event 0x${eventId.toString(16)} of service 0x${this.address.service.toString(16)} is already taken on this channel by ${taken}(), so ${lane}() cannot have it: one lane per event and channel (event() may have any number of subscribers)`,
      );
    }
    this.#lanes.set(eventId, lane);
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

  /**
   * Calls method `methodId` and resolves with the decoded response. The request is encoded
   * straight into a loaned ring slot; only a full ring takes the waiting lane (encode, then copy).
   */
  call<Req extends object, Res>(
    methodId: number,
    requestType: protobuf.Type,
    responseType: protobuf.Type,
    request: Req,
    options?: CallOptions,
  ): Promise<Res> {
    // Not an async method: the caller's await resumes one microtask after the answer, not
    // three (an async function returning a promise adopts it through extra jobs).
    const mapError = options?.mapError;
    if (mapError !== undefined && typeof mapError !== 'function') {
      const what = `call: mapError must be a function, got ${typeof mapError}`;
      return Promise.reject(new TransportError('ERR_BAD_ARGUMENT', what));
    }
    let session: number;
    try {
      checkMethodId(methodId);
      this.#listenForResponses(methodId);
      session = this.#nextSession();
    } catch (e) {
      return Promise.reject(mapError === undefined ? (e as Error) : mappedError(mapError, e));
    }
    const timeoutMs = options?.timeoutMs ?? 1000;
    return new Promise<Res>((resolve, rejectRaw) => {
      const header = this.#requestHeader(methodId, session);
      let sent: boolean;
      try {
        // Hot path: encoded straight into the ring; only a full ring takes the waiting path.
        sent =
          this.channel.state === 'open' && sendEncoded(this.channel, header, requestType, request);
      } catch (e) {
        // The request does not encode (nothing was sent): no answer to wait for.
        rejectRaw(mapError === undefined ? e : mappedError(mapError, e));
        return;
      }
      // The clock is read once the request is on its way, so the provider works meanwhile (a
      // clock read is slow on some virtual machines, docs/performance.md §5); a later start only
      // makes the deadline later. No answer is dispatched before this call returns. The error
      // mapping rides on the call (no rejecting closure per call).
      const call = new WaitingCall(
        resolve as (response: unknown) => void,
        rejectRaw,
        mapError,
        performance.now() + timeoutMs,
        methodId,
        timeoutMs,
        responseType,
        sent,
      );
      this.#pending.add(session, call);
      if (!sent) this.#sendLater(session, call, header, requestType, request);
    });
  }

  /** The waiting lane of a call the ring had no room for: encoded first, then sent when room comes. */
  #sendLater(
    session: number,
    call: PendingCall,
    header: SomeIpHeader,
    requestType: protobuf.Type,
    request: object,
  ): void {
    let body: Uint8Array;
    try {
      body = requestType.encode(request).finish();
    } catch (e) {
      this.#pending.delete(session); // nothing was sent: no answer to wait for
      call.reject(e as TransportError);
      return;
    }
    this.#sendWhenRoom(call.methodId, { ...header }, body, call.timeoutMs).then(
      () => void (call.sent = true),
      (e: TransportError) => {
        this.#pending.delete(session);
        call.reject(e);
      },
    );
  }

  /**
   * The request ring is full: waits for room within the call's bound, or fails with
   * `ERR_BUSY` — at once when this channel holds a received record (the provider cannot deliver
   * its replies, so it takes no more requests until the app lets go), else once the bound
   * passed with the ring still full. Either way the request was never sent.
   */
  async #sendWhenRoom(
    methodId: number,
    header: SomeIpHeader,
    body: Uint8Array,
    timeoutMs: number,
  ): Promise<void> {
    const what = `method 0x${methodId.toString(16)} of service 0x${this.address.service.toString(16)} was not called`;
    if (this.channel.state === 'open' && this.channel.receiveHeld) {
      throw new TransportError(
        'ERR_BUSY',
        `${what}: its request ring is full and this channel holds a received record (a Sample not released), so the provider cannot deliver replies and takes no more requests; release samples before calling (or take event() copies), then retry`,
      );
    }
    try {
      await this.channel.sendCopyWait(header, body, timeoutMs);
    } catch (e) {
      if (!TransportError.is(e) || e.code !== 'ERR_TIMEOUT') throw e;
      throw new TransportError(
        'ERR_BUSY',
        `${what}: the provider took no request within ${timeoutMs} ms (its request ring stayed full: it is overloaded, or holds requests while its replies to this channel wait to be read); nothing was executed, retry later`,
        { cause: e },
      );
    }
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

  /** Calls sent and not yet answered (nor timed out): a channel with any is not idle. */
  get pendingCalls(): number {
    return this.#pending.size;
  }

  /** Samples handed out and not yet released: a channel with any is not idle. */
  get heldSamples(): number {
    return this.#held.size;
  }

  /** Ends every stream and rejects every pending call. */
  close(): void {
    this.#closed = true;
    for (const off of this.#unregister.splice(0)) off();
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
          let response: unknown;
          try {
            response = decodeOwned(p.responseType, r.payload);
          } catch (e) {
            p.reject(e as TransportError);
            return;
          }
          p.resolve(response);
        } else {
          p.reject(
            new TransportError(
              // E_NOT_READY: refused before its handler ran (the provider's calls-in-flight bound).
              r.header.returnCode === ReturnCode.notReady ? 'ERR_BUSY' : 'ERR_REMOTE',
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
    throw new TransportError(
      'ERR_BUSY',
      `65535 calls to service 0x${this.address.service.toString(16)} are already pending on this channel; wait for some to settle, then retry`,
    );
  }

  /**
   * The header of the next request: one object per consumer, rewritten per call, since the
   * slot takes a copy of its fields at once (the waiting lane copies it first).
   */
  #requestHeader(method: number, session: number): SomeIpHeader {
    const h = (this.#scratchHeader ??= this.#header(method, session, SomeIpMessageType.REQUEST));
    h.method = method;
    h.session = session;
    return h;
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
