import type protobuf from 'protobufjs';
import { BehaviorSubject, Subject, type Observable } from 'rxjs';
import { endpointOption, type OfferHandle } from '@sivshm/discovery';
import { encodedLength, maxCallsInFlightProblem } from '@sivshm/transport-ivshmem';
import type {
  Channel,
  EventPublisher,
  ServiceProvider,
  ServiceProviderOptions,
} from '@sivshm/transport-ivshmem';
import { RuntimeError } from '../errors/runtime-error.js';
import { encodedPayloadCheck } from './event-bytes.js';
import { fastCheckOf } from './payload-fast-check.js';
import type { AttachedChannel, NodeContext } from '../node/node-context.js';
import type { ResolvedMethod, ServiceCatalog } from './service-catalog.js';

/** A method implementation: gets the decoded request, returns (or resolves) the response. */
export type MethodHandler = (request: never) => object | Promise<object>;

/** Options of `Node.offer`. */
export interface OfferOptions {
  /** Instance id, as listed in services.yaml. */
  readonly instance: number;
  /** Implementations by method name; a call to a method not listed is answered E_UNKNOWN_METHOD. */
  readonly methods?: Readonly<Record<string, MethodHandler>>;
  /**
   * Check every published event and every handler's response against its message type before
   * it is sent (default true): see `ServicePublisher.publish` and `OfferedService.errors$`.
   * false sends what protobufjs's encoder makes of it (it coerces silently).
   */
  readonly checkPayloads?: boolean;
  /**
   * Method calls run at once on each consumer's channel (handlers not yet settled), 1..65535;
   * default 256 (transport's `DEFAULT_MAX_CALLS_IN_FLIGHT`). A call past it is refused before
   * its handler runs, and the caller gets `ERR_BUSY` (docs/security.md §11).
   */
  readonly maxCallsInFlight?: number;
}

/** Options of `OfferedService.publisher`. */
export interface ServicePublisherOptions {
  /**
   * Encode each message straight into a loaned slot of each consumer's ring (no payload
   * buffer) instead of encoding once and copying it into every ring. Default true; false
   * picks the copy lane.
   */
  readonly inPlace?: boolean;
}

const isThenable = (x: unknown): x is PromiseLike<object> =>
  typeof (x as { then?: unknown } | null)?.then === 'function';

interface Served {
  readonly attached: AttachedChannel;
  readonly provider: ServiceProvider;
}

/** One consumer's channel as a publisher sees it. */
interface Subscriber {
  readonly channel: Channel;
  readonly events: EventPublisher<object>;
}

/**
 * Publishes one event of an offered service to every consumer's channel: the offered service
 * hands it each consumer's channel as it comes and goes, and `publish` sends on each of them.
 *
 * Each message is sized once and sent only to the rings it fits (a channel of an `elastic`
 * service may have a larger window than another of the same service): it is counted as dropped
 * for a consumer whose ring is too small, and refused with `ERR_TOO_LARGE` before any ring sees
 * it when it fits none. With the service's `elastic.minRingDataSize` never below its
 * `ringDataSize` (services.yaml refuses less), a message that fits the configured ring fits all.
 *
 * @example
 * ```ts
 * declare const svc: OfferedService;
 * const speed = svc.publisher<{ kph: number }>('speed');
 * speed.publish({ kph: 88 }) || console.warn('a consumer missed this one (its ring was full)');
 * ```
 */
export class ServicePublisher<T extends object> {
  readonly #subscribers = new Map<bigint, Subscriber>();
  /**
   * Messages some consumer missed: its ring was full, or smaller than the message (those are
   * also in `tooLarge`). Each is counted in that ring's `drops` word too, which `sivshm status`
   * and `sivshm top` (DROPS) show.
   */
  dropped = 0;
  /** Of `dropped`: messages larger than one consumer's ring, sent to the others. */
  tooLarge = 0;

  readonly #type: protobuf.Type;
  /** How errors name the event: `event 'speed' of 'VehicleSpeed'`. */
  readonly #what: string;
  /** Throws ERR_BAD_PAYLOAD for a message its type does not take; undefined: no check. */
  readonly #check: ((payload: unknown) => void) | undefined;
  /** Throws ERR_BAD_PAYLOAD for bytes that do not decode as the event's type (event-bytes.ts). */
  readonly #checkBytes: (bytes: Uint8Array) => void;

  /** @internal Built by `OfferedService.publisher`. */
  constructor(
    readonly name: string,
    readonly options: ServicePublisherOptions,
    event: { readonly type: protobuf.Type; readonly what: string },
    check?: (payload: unknown) => void,
  ) {
    this.#type = event.type;
    this.#what = event.what;
    this.#check = check;
    this.#checkBytes = encodedPayloadCheck(event.type, event.what);
  }

  /**
   * Sends `bytes`, already the event's encoded protobuf message, to every connected consumer
   * without decoding and re-encoding them (the raw-bytes path, event-bytes.ts). They must
   * decode as the event's type, always checked: otherwise `RuntimeError('ERR_BAD_PAYLOAD')`
   * and no ring sees them. Returns and refuses as `publish` does.
   */
  publishBytes(bytes: Uint8Array): boolean {
    this.#checkBytes(bytes);
    return this.#deliver(bytes.byteLength, undefined, bytes);
  }

  /**
   * Encodes and sends to every connected consumer; true when every one of them got it, false
   * when some consumer missed it (its ring was full right now, or is smaller than the message:
   * both counted in `dropped`). True with no consumers: there is nobody to miss it. A message
   * that does not fit the event's type (an unknown field, a wrong type, an out-of-range number)
   * throws `RuntimeError('ERR_BAD_PAYLOAD')` naming the field, with or without consumers, and
   * reaches no ring; one larger than every consumer's ring throws `RuntimeError('ERR_TOO_LARGE')`
   * naming the limit, and reaches no ring either.
   */
  publish(message: T): boolean {
    this.#check?.(message);
    if (this.#subscribers.size === 0) return true;
    if (this.options.inPlace !== false) {
      return this.#deliver(encodedLength(this.#type, message), message, undefined);
    }
    // The copy lane: encoded once, the same bytes copied into every ring.
    const bytes = this.#type.encode(message).finish();
    return this.#deliver(bytes.byteLength, undefined, bytes);
  }

  /**
   * Sends a `length`-byte payload on every open channel whose ring takes it: `bytes` copied in
   * when given, else `message` encoded in place. The others count it as dropped (here and in
   * their ring's `drops` word). Nothing is sent, and nothing counted, when no open ring takes
   * it: that throws `ERR_TOO_LARGE`. (Two arguments rather than a callback: a publish allocates
   * no closure.)
   */
  #deliver(length: number, message: T | undefined, bytes: Uint8Array | undefined): boolean {
    let all = true;
    let fitted = 0;
    let tooSmall: Subscriber[] | undefined;
    for (const s of this.#subscribers.values()) {
      if (s.channel.state !== 'open') continue;
      if (length > s.channel.maxPayload) {
        (tooSmall ??= []).push(s);
        continue;
      }
      fitted++;
      const sent =
        bytes === undefined
          ? s.events.publish(message as object, length)
          : s.events.publishEncoded(bytes);
      if (!sent) {
        all = false;
        this.dropped++;
      }
    }
    if (tooSmall === undefined) return all;
    if (fitted === 0) throw this.#tooLargeError(length, tooSmall);
    for (const s of tooSmall) {
      s.channel.countDrop();
      this.dropped++;
      this.tooLarge++;
    }
    return false;
  }

  #tooLargeError(length: number, rings: readonly Subscriber[]): RuntimeError {
    const largest = Math.max(...rings.map((s) => s.channel.maxPayload));
    return new RuntimeError(
      'ERR_TOO_LARGE',
      `${this.#what}: a ${length}-byte payload is larger than any consumer's ring takes (at most ${largest} bytes, half a ring's data area less the 16-byte record header); nothing was sent: send smaller events, or raise the service's ringDataSize in services.yaml`,
    );
  }

  /** Consumers connected right now. */
  get consumers(): number {
    return this.#subscribers.size;
  }

  /** @internal A consumer's channel was attached. */
  add(channelId: bigint, channel: Channel, events: EventPublisher<object>): void {
    this.#subscribers.set(channelId, { channel, events });
  }

  /** @internal A consumer's channel ended. */
  remove(channelId: bigint): void {
    this.#subscribers.delete(channelId);
  }
}

/**
 * A service this VM offers: announced over SD, one channel per consumer (each established by
 * the handshake hostd brokers), method handlers served on every channel, events published to
 * all of them.
 */
export class OfferedService {
  readonly #ctx: NodeContext;
  readonly #catalog: ServiceCatalog;
  readonly #instance: number;
  readonly #methods: Readonly<Record<string, MethodHandler>>;
  readonly #served = new Map<bigint, Served>();
  /** Publishers handed out, by event name and lane (`name` or `name/in-place`). */
  readonly #publishers = new Map<string, ServicePublisher<object>>();
  readonly #count = new BehaviorSubject<number>(0);
  readonly #checkPayloads: boolean;
  readonly #providerOptions: ServiceProviderOptions;
  readonly #errors = new Subject<Error>();
  /**
   * Problems on the provider's side that end nothing: a method handler's response that does
   * not fit the response type (`ERR_BAD_PAYLOAD` naming the field; the caller's call fails with
   * `ERR_REMOTE` carrying the same text, and nothing of the response is sent). Completes on
   * `withdraw()`.
   */
  readonly errors$: Observable<Error> = this.#errors.asObservable();
  #offer: OfferHandle | undefined;
  #closed = false;
  /** Requests refused on channels that ended (the live ones are counted by their providers). */
  #refusedOnEnded = 0;

  /** @internal Built by `Node.offer`. */
  constructor(ctx: NodeContext, catalog: ServiceCatalog, options: OfferOptions) {
    this.#ctx = ctx;
    this.#catalog = catalog;
    this.#instance = options.instance;
    this.#methods = options.methods ?? {};
    this.#checkPayloads = options.checkPayloads !== false;
    const max = options.maxCallsInFlight;
    // Refused here, at offer, rather than at the first consumer's channel; the range is transport's.
    const problem = max === undefined ? undefined : maxCallsInFlightProblem(max);
    if (problem !== undefined) throw new RuntimeError('ERR_BAD_ARGUMENT', `Node.offer: ${problem}`);
    this.#providerOptions = max === undefined ? {} : { maxCallsInFlight: max };
    for (const name of Object.keys(this.#methods)) catalog.method(name);
  }

  /**
   * @internal Registers the offer with SD and returns: the first Offer goes out with every
   * other offer registered in the same Initial Wait (one message for all), so offering many
   * instances one after another costs one random delay, not one each.
   */
  async start(): Promise<void> {
    const def = this.#catalog.definition;
    const registration = this.#ctx.sd.register({
      serviceId: def.id,
      instanceId: this.#instance,
      majorVersion: def.major,
      minorVersion: def.minor,
      endpoints: [endpointOption('127.0.0.1', 'udp', 30_500 + (this.#ctx.vmId % 1000))],
      eventgroups: this.#catalog.eventgroupIds,
    });
    this.#offer = registration;
    // The first Offer fails only when the control link is gone; the node then re-attaches
    // and `resume()` registers the offer again on the new session.
    registration.announced.catch(() => undefined);
  }

  get name(): string {
    return this.#catalog.name;
  }

  get instance(): number {
    return this.#instance;
  }

  /** True once `withdraw()` was called: the offer is over and may be made again. */
  get withdrawn(): boolean {
    return this.#closed;
  }

  /** Consumers with a channel right now. */
  get consumers(): number {
    return this.#served.size;
  }

  /** The number of connected consumers, on every change. */
  get consumers$(): Observable<number> {
    return this.#count.asObservable();
  }

  /**
   * Requests refused unrun because `maxCallsInFlight` calls were running on their channel, over
   * every consumer's channel since the offer: a caller got `ERR_BUSY`, and a one-way request
   * (which nobody answers) is counted only here and in its channel's ring, which `sivshm status`
   * (CALLS REFUSED) and `sivshm top` (REFUSED) show.
   */
  get callsRefused(): number {
    let n = this.#refusedOnEnded;
    for (const s of this.#served.values()) n += s.provider.calls.refused;
    return n;
  }

  /** Messages some consumer missed (a full ring, or one too small), over every publisher. */
  get dropped(): number {
    let n = 0;
    for (const p of this.#publishers.values()) n += p.dropped;
    return n;
  }

  /**
   * The publisher of event `name` (throws `ERR_BAD_ARGUMENT` for an event the service lacks);
   * one per event and lane, the same object on every call.
   */
  publisher<T extends object>(
    name: string,
    options: ServicePublisherOptions = {},
  ): ServicePublisher<T> {
    this.#catalog.event(name);
    const inPlace = options.inPlace !== false;
    const key = inPlace ? name : `${name}/copy`;
    let p = this.#publishers.get(key);
    if (p === undefined) {
      const e = this.#catalog.event(name);
      const check = this.#checkPayloads ? e.check : undefined;
      const event = { type: e.type, what: `event '${name}' of '${this.name}'` };
      p = new ServicePublisher<object>(name, { inPlace }, event, check);
      this.#publishers.set(key, p);
      for (const [id, s] of this.#served) this.#subscribe(p, id, s);
    }
    return p as ServicePublisher<T>;
  }

  /** Hands `publisher` its event's publisher on one consumer's channel. */
  #subscribe(publisher: ServicePublisher<object>, channelId: bigint, served: Served): void {
    const e = this.#catalog.event(publisher.name);
    const events = served.provider.publisher<object>(e.definition.id, e.type, publisher.options);
    publisher.add(channelId, served.attached.channel, events);
  }

  /** @internal A consumer's channel for this service was granted and attached. */
  addChannel(attached: AttachedChannel): void {
    const id = attached.grant.channelId;
    if (this.#closed) {
      void attached.close();
      return;
    }
    const def = this.#catalog.definition;
    const provider = this.#ctx.transport.provide(
      attached.channel,
      { service: def.id, major: def.major, client: 0 },
      this.#providerOptions,
    );
    for (const [name, handler] of Object.entries(this.#methods)) {
      const m = this.#catalog.method(name);
      provider.serve<object, object>(
        m.definition.id,
        m.request,
        m.response,
        this.#checkedHandler(m, handler),
      );
    }
    const served = { attached, provider };
    this.#served.set(id, served);
    for (const p of this.#publishers.values()) this.#subscribe(p, id, served);
    this.#count.next(this.#served.size);
    attached.onEnd(() => {
      const s = this.#served.get(id);
      if (s === undefined) return;
      this.#served.delete(id);
      this.#refusedOnEnded += s.provider.calls.refused;
      for (const p of this.#publishers.values()) p.remove(id);
      s.provider.close();
      if (!this.#closed) this.#count.next(this.#served.size);
    });
  }

  /**
   * `handler` as the transport serves it: with its response checked before it is encoded, a
   * bad one thrown (the transport answers the caller with an ERROR carrying the text) and
   * reported on `errors$`.
   */
  #checkedHandler(
    m: ResolvedMethod,
    handler: MethodHandler,
  ): (r: object) => object | Promise<object> {
    const h = handler as (r: object) => object | Promise<object>;
    if (!this.#checkPayloads) return h;
    const check = (response: object): object => {
      try {
        m.checkResponse(response);
      } catch (e) {
        this.#errors.next(e as Error);
        throw e;
      }
      return response;
    };
    const fast = fastCheckOf(m.response);
    return (request) => {
      const r = h(request);
      // The common answer in one generated call: a plain object the predicate passes encodes
      // as written and is no thenable (a function is no field's value), so nothing else runs.
      if (fast(r)) return r;
      // Synchronous answers stay synchronous (no promise hop on the transport's fast lane).
      return isThenable(r) ? Promise.resolve(r).then(check) : check(r);
    };
  }

  /**
   * @internal hostd went away: the offer died with its SD node (and every channel ended with
   * `hostd-gone`); `resume()` offers again.
   */
  suspend(): void {
    this.#offer = undefined;
  }

  /** @internal The node re-attached to a restarted hostd: offer there again. */
  async resume(): Promise<void> {
    if (this.#closed) return;
    await this.start();
  }

  /** StopOffer, then every consumer's channel closed and torn down at hostd. */
  async withdraw(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const errors: unknown[] = [];
    try {
      await this.#offer?.withdraw();
    } catch (e) {
      errors.push(e);
    }
    for (const [id, s] of [...this.#served]) {
      this.#served.delete(id);
      this.#refusedOnEnded += s.provider.calls.refused;
      for (const p of this.#publishers.values()) p.remove(id);
      s.provider.close();
      try {
        await s.attached.close();
      } catch (e) {
        errors.push(e);
      }
    }
    this.#count.complete();
    this.#errors.complete();
    if (errors.length > 0) {
      throw new RuntimeError('ERR_CLOSED', `withdrawing '${this.name}' failed`, {
        cause: new AggregateError(errors),
      });
    }
  }
}
