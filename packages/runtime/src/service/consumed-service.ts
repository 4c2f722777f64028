import {
  BehaviorSubject,
  EMPTY,
  Subject,
  defer,
  filter,
  finalize,
  firstValueFrom,
  map,
  merge,
  switchMap,
  take,
  throwError,
  timeout,
  Observable,
  type Subscription,
} from 'rxjs';
import type { ChannelMode } from '@sivshm/abi';
import { endpointOption } from '@sivshm/discovery';
import { TransportError, type Sample, type ServiceConsumer } from '@sivshm/transport-ivshmem';
import { ConnectBackoff, refusalKind, type RefusalKind } from './connect-backoff.js';
import { RuntimeError } from '../errors/runtime-error.js';
import type { AttachedChannel, ChannelEndReason, NodeContext } from '../node/node-context.js';
import { acrossChannels } from './across-channels.js';
import { IdleWatch } from './idle-watch.js';
import { DEFAULT_CALL_TIMEOUT_MS, MethodCaller } from './method-caller.js';
import type { ServiceCatalog } from './service-catalog.js';
import type {
  ConsumedServiceStatus,
  ConsumeOptions,
  CallOptions,
  StreamOptions,
} from './consumed-service-options.js';

/**
 * How an end reads to the app: the provider withdrawing (StopOffer) or closing its channel
 * cleanly is `stopped`, not a failure; other reasons as hostd or the data plane gave them.
 */
const endText = (reason: ChannelEndReason): string =>
  reason === 'stop-offer' || reason === 'closed-by-provider' ? 'stopped' : reason;

export type {
  CallOptions,
  ConsumedServiceStatus,
  ConsumeOptions,
  StreamOptions,
} from './consumed-service-options.js';

interface Connection {
  readonly attached: AttachedChannel;
  readonly consumer: ServiceConsumer;
  /** Errors (peer gone) or completes (closed) every stream handed out for this connection. */
  readonly end: Subject<never>;
}

/**
 * A service this VM consumes: event streams and method calls by the names of services.yaml,
 * over an authenticated channel that the runtime re-establishes whenever the provider comes
 * back.
 *
 * Streams from `event()` and `samples()` outlive channels: when one ends and the runtime
 * brings the next one up, the subscriber keeps receiving; `status$` shows the gap. They
 * complete on `close()`. `{ acrossChannels: false }` ties a stream to its channel instead.
 *
 * @example
 * ```ts
 * interface VehicleSpeed { kph: number }
 * interface ResetRequest { odometer_m: number }
 * interface ResetResponse { previous_odometer_m: number }
 * declare const node: Node;
 * declare function render(kph: number): void;
 * const speed = await node.consume('VehicleSpeed', { instance: 1 });
 * speed.event<VehicleSpeed>('speed').subscribe((s) => render(s.kph));
 * const r = await speed.call<ResetRequest, ResetResponse>('reset', { odometer_m: 0 });
 * ```
 */
export class ConsumedService {
  readonly #ctx: NodeContext;
  readonly #catalog: ServiceCatalog;
  readonly #instance: number;
  readonly #mode: ChannelMode;
  readonly #checkPayloads: boolean;
  readonly #status = new BehaviorSubject<ConsumedServiceStatus>('connecting');
  readonly #errors = new Subject<Error>();
  /**
   * Per-record problems that did not end anything: an event record from the provider that did
   * not decode as its type (the transport's `ERR_DECODE`, naming event and session), on every
   * channel this handle uses. The event's stream keeps delivering. Also `ERR_NO_SPACE` once
   * when hostd has no room for the channel (region, channel table or this VM's window quota,
   * named with the setting to change): the handle keeps retrying with back-off until room
   * frees. Completes on `close()`.
   */
  readonly errors$: Observable<Error> = this.#errors.asObservable();
  readonly #subs: Subscription[] = [];
  /** Per method name called so far: what a call needs of it, made at its first call. */
  readonly #callers = new Map<string, MethodCaller>();
  #connection: Connection | undefined;
  #available = false;
  #connecting = false;
  #retry: NodeJS.Timeout | undefined;
  #lastError: Error | undefined;
  /** When to try again after a refused or failed channel (back-off with jitter). */
  readonly #backoff = new ConnectBackoff();
  /** The current streak of no-room refusals was already reported on `errors$`. */
  #noSpaceReported = false;
  /** Closes the channel after the service's `idleTimeoutMs` unused; undefined: never. */
  readonly #idle: IdleWatch | undefined;
  /** Event and sample streams subscribed (an open stream keeps the channel in use). */
  #streams = 0;
  /** A use woke the service from `idle`: streams taken until it is connected wait for it. */
  #waking = false;
  /** Channels established over this handle's life (1 + reconnects). */
  connections = 0;
  /** Handshake time of the current (or last) channel, ms. */
  handshakeMs: number | undefined;

  /** @internal Built by `Node.consume`. */
  constructor(ctx: NodeContext, catalog: ServiceCatalog, options: ConsumeOptions) {
    this.#ctx = ctx;
    this.#catalog = catalog;
    this.#instance = options.instance;
    this.#mode = options.mode ?? catalog.definition.minMode;
    this.#checkPayloads = options.checkPayloads !== false;
    const idleMs = catalog.definition.idleTimeoutMs;
    this.#idle =
      idleMs === undefined
        ? undefined
        : new IdleWatch(
            idleMs,
            () => this.#streams > 0 || this.#connectionBusy(),
            () => void this.#closeIdle(),
          );
  }

  /** @internal Starts finding the service; resolves once the first channel is up. */
  async start(timeoutMs: number): Promise<void> {
    try {
      this.#watch();
    } catch (e) {
      // hostd is away right now: `resume()` starts watching once the node re-attached, and
      // the wait below still bounds how long that may take.
      if (!(RuntimeError.is(e) && e.code === 'ERR_HOSTD_GONE')) throw e;
    }
    if (!(await this.#settled(timeoutMs))) {
      throw new RuntimeError(
        'ERR_NOT_OFFERED',
        `no channel to service '${this.name}' instance ${this.#instance} within ${timeoutMs} ms: ${
          this.#available
            ? `it is offered, but the handshake failed (${this.#lastError?.message ?? 'no answer'})`
            : 'nobody offers it (is the provider VM running, and does services.yaml let this VM consume it?)'
        }`,
      );
    }
    if (this.#status.value === 'closed') {
      throw new RuntimeError('ERR_CLOSED', `the node closed before '${this.name}' was connected`);
    }
  }

  /** The service's name in services.yaml. */
  get name(): string {
    return this.#catalog.name;
  }

  get instance(): number {
    return this.#instance;
  }

  /** Status changes; replays the current one. Completes on close. */
  get status$(): Observable<ConsumedServiceStatus> {
    return this.#status.asObservable();
  }

  get status(): ConsumedServiceStatus {
    return this.#status.value;
  }

  /**
   * The protection of the current channel (`plain`, `mac` or `aead`, as the handshake agreed),
   * or the mode this handle asks for while there is none.
   */
  get mode(): ChannelMode {
    return this.#connection?.attached.grant.mode ?? this.#mode;
  }

  /** The current channel's id, while connected. */
  get channelId(): bigint | undefined {
    return this.#connection?.attached.grant.channelId;
  }

  /**
   * Decoded copies of event `name`, safe to keep: across channel ends and reconnects (see
   * {@link StreamOptions}); completes on close.
   */
  event<T>(name: string, options: StreamOptions = {}): Observable<T> {
    const e = this.#catalog.event(name);
    return this.#stream('event stream', options, (c) =>
      this.#lane(name, () => c.consumer.event<T>(e.definition.id, e.type)),
    );
  }

  /**
   * The payload bytes of event `name` as the provider sent them, not decoded nor checked (the
   * raw-bytes path for a participant that only carries events on, see event-bytes.ts); each a
   * copy that is safe to keep. Same lifetime as `event()`; any number of `eventBytes(name)`
   * streams share one lane, which `event(name)` or `samples(name)` cannot have at the same time
   * on the same channel (`ERR_BAD_ARGUMENT` naming the event).
   */
  eventBytes(name: string, options: StreamOptions = {}): Observable<Uint8Array> {
    const e = this.#catalog.event(name);
    return this.#stream('event bytes stream', options, (c) =>
      this.#lane(name, () => c.consumer.eventBytes(e.definition.id)),
    );
  }

  /**
   * The zero-copy lane of event `name`: each `Sample` decodes in place and aliases the ring
   * slot until `release()`, which the subscriber must call (the channel delivers nothing else
   * until then). Same lifetime as `event()` (see {@link StreamOptions}); a `Sample` still held
   * when its channel ends is released by the runtime. One lane per event and channel: take
   * either `event(name)`, `eventBytes(name)` or one `samples(name)` stream (another one errors
   * with `ERR_BAD_ARGUMENT` naming the event and the lane that has it).
   */
  samples<T extends object>(name: string, options: StreamOptions = {}): Observable<Sample<T>> {
    const e = this.#catalog.event(name);
    return this.#stream('sample stream', options, (c) =>
      this.#lane(name, () => c.consumer.samples<T>(e.definition.id, e.type)),
    );
  }

  /**
   * Event `name`'s lane on one channel, taken at subscription: a lane refused there (another
   * lane has the event on this channel) errors the stream with `ERR_BAD_ARGUMENT` naming the
   * event and the service, instead of throwing out of the channel switch.
   */
  #lane<T>(name: string, take: () => Observable<T>): Observable<T> {
    return defer(() => {
      try {
        return take();
      } catch (e) {
        if (!TransportError.is(e) || e.code !== 'ERR_BAD_ARGUMENT') throw e;
        throw new RuntimeError(
          'ERR_BAD_ARGUMENT',
          `event '${name}' of '${this.name}': ${e.message}`,
          { cause: e },
        );
      }
    });
  }

  #stream<T>(
    what: string,
    options: StreamOptions,
    stream: (c: Connection) => Observable<T>,
  ): Observable<T> {
    if (options.acrossChannels === false) return this.#onChannel(what, stream);
    // Counted from subscription to teardown by hand, not with defer + finalize: both would be
    // one more operator every event passes through (acrossChannels says why that counts).
    return new Observable<T>((subscriber) => {
      this.#streams++;
      this.#idle?.touch();
      this.#wake(); // an idle service opens a channel for the stream
      const sub = acrossChannels(
        this.#status.pipe(map(() => this.#connection)),
        stream,
        (c) => c.end,
      ).subscribe(subscriber);
      return () => {
        sub.unsubscribe();
        this.#streams--;
      };
    });
  }

  /**
   * A stream taken on the channel current at subscription, ended with it: `ERR_PEER_GONE` when
   * there is none (or when it ends), completion on close.
   */
  #onChannel<T>(what: string, stream: (c: Connection) => Observable<T>): Observable<T> {
    return defer(() => {
      this.#streams++;
      this.#idle?.touch();
      const c = this.#connection;
      if (c === undefined && (this.#status.value === 'idle' || this.#waking)) {
        // Closed for idleness, not by anyone's leaving: the stream opens a channel and waits.
        this.#wake();
        return this.#status.pipe(
          filter((s) => s === 'connected' || s === 'closed'),
          take(1),
          switchMap(() => {
            const now = this.#connection;
            return now === undefined ? EMPTY : merge(stream(now), now.end);
          }),
        );
      }
      if (c === undefined) {
        return throwError(
          () =>
            new RuntimeError(
              'ERR_PEER_GONE',
              `service '${this.name}' is ${this.#status.value}; take the ${what} again once status$ says connected`,
            ),
        );
      }
      return merge(stream(c), c.end);
    }).pipe(finalize(() => this.#streams--));
  }

  /**
   * Calls method `name` and resolves with the decoded response. A request that does not fit
   * the method's message type rejects with `ERR_BAD_PAYLOAD` (naming the field) before
   * anything is sent; see {@link ConsumeOptions.checkPayloads}.
   */
  call<Req extends object, Res>(name: string, request: Req, options?: CallOptions): Promise<Res> {
    let caller = this.#callers.get(name);
    try {
      caller ??= this.#callerOf(name);
      // Before anything is sent or waited for: a bad request fails the same way connected or not.
      if (this.#checkPayloads) caller.method.checkRequest(request);
    } catch (e) {
      return Promise.reject(e as Error); // a call fails as a rejection, never a throw
    }
    const timeoutMs = options?.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    this.#idle?.touch();
    const c = this.#connection;
    // The common case, connected: straight to the channel, one error mapping and no clock
    // reads, extra awaits or allocations on the data path (the e2e benchmark measures this wrapper).
    if (c !== undefined) return this.#callOn<Req, Res>(c, caller, request, timeoutMs);
    return this.#callWhenConnected<Req, Res>(caller, request, timeoutMs);
  }

  /** The caller of method `name`, made once; throws `ERR_BAD_ARGUMENT` for an unknown method. */
  #callerOf(name: string): MethodCaller {
    const caller = new MethodCaller(this.name, name, this.#catalog.method(name));
    this.#callers.set(name, caller);
    return caller;
  }

  /** True once the status is `connected` or `closed`, false when `timeoutMs` passed first. */
  async #settled(timeoutMs: number): Promise<boolean> {
    try {
      await firstValueFrom(
        this.#status.pipe(
          filter((s) => s === 'connected' || s === 'closed'),
          timeout(timeoutMs),
        ),
      );
      return true;
    } catch {
      return false;
    }
  }

  #callOn<Req extends object, Res>(
    c: Connection,
    caller: MethodCaller,
    request: Req,
    timeoutMs: number,
  ): Promise<Res> {
    // The error is named through mapError, not a chained .catch: one promise and one job less
    // between the answer and the caller.
    const m = caller.method;
    return c.consumer.call<Req, Res>(
      m.definition.id,
      m.request,
      m.response,
      request,
      caller.options(timeoutMs),
    );
  }

  async #callWhenConnected<Req extends object, Res>(
    caller: MethodCaller,
    request: Req,
    timeoutMs: number,
  ): Promise<Res> {
    const started = Date.now();
    if (this.#status.value === 'closed') {
      throw new RuntimeError('ERR_CLOSED', `service '${this.name}' is closed`);
    }
    this.#wake();
    if (!(await this.#settled(timeoutMs))) {
      throw new RuntimeError(
        'ERR_PEER_GONE',
        `service '${this.name}' has no channel (status ${this.#status.value}) and none came within ${timeoutMs} ms`,
      );
    }
    const c = this.#connection;
    if (c === undefined) throw new RuntimeError('ERR_CLOSED', `service '${this.name}' is closed`);
    return this.#callOn<Req, Res>(
      c,
      caller,
      request,
      Math.max(1, timeoutMs - (Date.now() - started)),
    );
  }

  /**
   * @internal hostd went away: its SD node is gone with the session, so stop watching it (the
   * channel itself already ended with `hostd-gone`).
   */
  suspend(): void {
    clearTimeout(this.#retry);
    for (const s of this.#subs.splice(0)) s.unsubscribe();
    this.#available = false;
  }

  /** @internal The node re-attached to a restarted hostd: find the service there again. */
  resume(): void {
    if (this.#status.value === 'closed') return;
    this.#watch();
  }

  /** Finds the service and subscribes its eventgroups on the current session's SD node. */
  #watch(): void {
    const def = this.#catalog.definition;
    const sd = this.#ctx.sd;
    this.#subs.push(
      sd
        .find({ serviceId: def.id, instanceId: this.#instance, majorVersion: def.major })
        .subscribe((a) => {
          this.#available = a.available;
          if (a.available) this.#maybeConnect();
        }),
    );
    for (const eventgroupId of this.#catalog.eventgroupIds) {
      this.#subs.push(
        sd
          .subscribe({
            serviceId: def.id,
            instanceId: this.#instance,
            majorVersion: def.major,
            eventgroupId,
            endpoints: [endpointOption('127.0.0.1', 'udp', 30_600 + (this.#ctx.vmId % 1000))],
          })
          .subscribe({ error: () => undefined }),
      );
    }
  }

  /** Stops using the service: StopSubscribe, the channel closed and torn down at hostd. */
  async close(): Promise<void> {
    if (this.#status.value === 'closed') return;
    clearTimeout(this.#retry);
    this.#idle?.stop();
    for (const s of this.#subs.splice(0)) s.unsubscribe();
    const c = this.#connection;
    this.#connection = undefined;
    this.#status.next('closed');
    this.#status.complete();
    this.#errors.complete();
    if (c !== undefined) {
      c.end.complete();
      c.consumer.close();
      await c.attached.close();
    }
  }

  #maybeConnect(): void {
    if (this.#connecting || this.#connection !== undefined) return;
    // Idle stays idle until a use wakes it (`#wake`), whatever offers come meanwhile.
    const status = this.#status.value;
    if (!this.#available || status === 'closed' || status === 'idle') return;
    clearTimeout(this.#retry);
    this.#connecting = true;
    const def = this.#catalog.definition;
    this.#ctx
      .openChannel(def.id, this.#instance, def.major, this.#mode, 5000)
      .then((attached) => this.#onConnected(attached))
      .catch((e: Error) => {
        this.#lastError = e;
        this.#connecting = false;
        // A closed node cannot bring the channel back by retrying; with hostd away, `resume()`
        // starts again once the node re-attached.
        if (RuntimeError.is(e) && (e.code === 'ERR_CLOSED' || e.code === 'ERR_HOSTD_GONE')) return;
        const kind = refusalKind(e);
        if (kind === 'noSpace' && !this.#noSpaceReported) {
          // Once per streak: the app learns why it waits; the retries that follow are quiet.
          this.#noSpaceReported = true;
          this.#errors.next(e);
        }
        this.#scheduleRetry(kind);
      });
  }

  #scheduleRetry(kind: RefusalKind = 'transient'): void {
    if (this.#status.value === 'closed') return;
    clearTimeout(this.#retry);
    this.#retry = setTimeout(() => this.#maybeConnect(), this.#backoff.next(kind));
    this.#retry.unref();
  }

  #onConnected(attached: AttachedChannel): void {
    // No wait for the provider's side: it registers its handlers in the same turn as it
    // attaches, and its receive loop starts on the next one, so a request sent before then
    // waits in the ring and is served.
    this.#connecting = false;
    if (this.#status.value === 'closed') {
      void attached.close();
      return;
    }
    const consumer = this.#ctx.transport.consume(attached.channel, {
      service: this.#catalog.definition.id,
      major: this.#catalog.definition.major,
      client: this.#ctx.vmId & 0xffff,
    });
    const c: Connection = { attached, consumer, end: new Subject<never>() };
    consumer.errors$.subscribe((e) => this.#errors.next(e));
    this.#connection = c;
    this.connections++;
    this.#backoff.reset();
    this.#noSpaceReported = false;
    this.handshakeMs = attached.handshakeMs;
    attached.onEnd((reason) => this.#onEnded(c, reason));
    this.#waking = false;
    this.#idle?.start();
    this.#status.next('connected');
  }

  /** A call awaits its answer or a `Sample` is held: closing now would fail or void it. */
  #connectionBusy(): boolean {
    const consumer = this.#connection?.consumer;
    return consumer !== undefined && (consumer.pendingCalls > 0 || consumer.heldSamples > 0);
  }

  /** A use of an idle service: open a channel again (`idle` → `connecting` → `connected`). */
  #wake(): void {
    if (this.#status.value !== 'idle') return;
    this.#waking = true;
    this.#status.next('connecting');
    this.#maybeConnect();
  }

  /**
   * The channel went unused for the service's `idleTimeoutMs`: close it like any consumer close
   * (hostd revokes both grants, checks the receipts, zeroes and frees the window). Nothing is
   * lost: no stream was open and no call was waiting, or it would not be idle.
   */
  async #closeIdle(): Promise<void> {
    const c = this.#connection;
    if (c === undefined || this.#status.value !== 'connected') return;
    this.#connection = undefined;
    this.#status.next('idle');
    c.end.complete();
    c.consumer.close();
    await c.attached.close().catch(() => undefined);
  }

  #onEnded(c: Connection, reason: ChannelEndReason): void {
    if (this.#connection !== c) return;
    this.#connection = undefined;
    this.#idle?.stop();
    c.end.error(
      new RuntimeError(
        'ERR_PEER_GONE',
        `the channel to '${this.name}' instance ${this.#instance} ended (${endText(reason)})`,
      ),
    );
    c.consumer.close();
    if (this.#status.value === 'closed') return;
    this.#status.next('peer-gone');
    // The provider may still offer (e.g. it only closed this channel): try again while it does;
    // otherwise the next Offer brings us back.
    this.#scheduleRetry();
  }
}
