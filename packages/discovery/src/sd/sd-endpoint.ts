import { Subject, type Observable, type Subscription } from 'rxjs';
import { DiscoveryError } from '../errors/discovery-error.js';
import type { SdAddress, SdDatagram, SdTransport } from '../transport/sd-transport.js';
import { isEndpointOption, type EndpointOption } from '../wire/endpoint-option.js';
import type { SdEntry } from '../wire/entry.js';
import type { EventgroupEntry } from '../wire/eventgroup-entry.js';
import { checkEntry, checkSdMessage } from '../wire/sd-checks.js';
import type { SdEndpointOption } from '../wire/sd-endpoint-option.js';
import { decodeSdMessage, encodeSdMessage, type SdMessage } from '../wire/sd-message.js';
import { splitSdBatch } from '../wire/sd-batches.js';
import { packSdMessage, type PackEntry } from '../wire/sd-packer.js';
import type { ServiceEntry } from '../wire/service-entry.js';
import { systemClock, type SdClock } from './clock.js';
import { RebootDetector } from './reboot-detector.js';
import type { SdAgentOptions } from './sd-agent-options.js';
import type { SdPolicy } from './sd-policy.js';
import { resolveSdTiming, type SdTiming } from './sd-timing.js';
import { SessionCounters } from './session-counter.js';

/** Entries queued for one relation's next message, and the promise their send settles. */
interface PendingBatch {
  readonly to: SdAddress | undefined;
  readonly entries: PackEntry[];
  readonly sent: Deferred;
}

interface Deferred {
  readonly promise: Promise<void>;
  resolve(): void;
  reject(e: unknown): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  // Every caller gets this promise; one that drops it must not make it an unhandled rejection.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

/** One received SD message, as the provider and consumer halves need it to answer. */
export interface SdReceived {
  /** Who sent it: the address of its SD endpoint option when present (SD-1090), else the source. */
  readonly peer: string;
  /** Where replies go. */
  readonly replyTo: SdAddress;
  readonly msg: SdMessage;
  /** It arrived on the multicast relation. */
  readonly multicast: boolean;
}

/**
 * Where the endpoint routes each entry of a received message. The agent wires its provider
 * half (Find, Subscribe, StopSubscribe) and consumer half (Offer, StopOffer, Ack/Nack) in.
 * Entries that call for an answer push it onto `replies`; the endpoint sends them together.
 */
export interface SdEntryRoutes {
  find(peer: string, entry: ServiceEntry, replies: PackEntry[]): void;
  offer(rx: SdReceived, entry: ServiceEntry, replies: PackEntry[]): void;
  stopOffer(peer: string, entry: ServiceEntry): void;
  subscribe(rx: SdReceived, entry: EventgroupEntry, problems: string[], replies: PackEntry[]): void;
  /** `next` is the entry after it in the same message (a StopSubscribe+Subscribe pair, SD-844). */
  stopSubscribe(peer: string, entry: EventgroupEntry, next: SdEntry | undefined): void;
  ack(peer: string, msg: SdMessage, entry: EventgroupEntry): void;
  /** The peer rebooted: everything learnt from it, and everything it subscribed, expires. */
  peerRebooted(peer: string): void;
}

/**
 * The part of an SD agent that both halves share: it owns the transport, the session counter
 * per relation, reboot detection, packing and sending, decoding and routing of what arrives,
 * and the error stream. It keeps no service state of its own. (The SD Endpoint *option*,
 * `SdEndpointOption`, is a wire option this endpoint may put first in every message.)
 */
export class SdEndpoint {
  readonly clock: SdClock;
  readonly random: () => number;
  readonly timing: SdTiming;
  readonly policy: SdPolicy;
  private readonly transport: SdTransport;
  private readonly allowLoopback: boolean;
  private readonly sdEndpoint: SdEndpointOption | undefined;
  private readonly sessions = new SessionCounters();
  private readonly reboots = new RebootDetector();
  private readonly errors = new Subject<DiscoveryError>();
  private readonly inflight = new Set<Promise<void>>();
  /** Entries waiting for this turn's message, per relation (see `enqueue`). */
  private readonly outbox = new Map<string, PendingBatch>();
  private readonly maxEntries: number | undefined;
  private listening: Subscription | undefined;
  private routes: SdEntryRoutes | undefined;
  #stopped = false;

  /** Dropped messages and failed sends, for logs; never terminates. */
  readonly errors$: Observable<DiscoveryError> = this.errors.asObservable();

  constructor(options: SdAgentOptions) {
    this.transport = options.transport;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.timing = resolveSdTiming(options.timing);
    this.policy = options.policy ?? {};
    this.allowLoopback = options.allowLoopbackEndpoints ?? false;
    this.sdEndpoint = options.sdEndpoint;
    this.maxEntries = options.maxEntriesPerMessage;
  }

  /** True once `settle()` has begun the agent's stop: nothing more is sent or answered. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** Starts receiving; every entry of every message goes to `routes`. */
  listen(routes: SdEntryRoutes): void {
    this.routes = routes;
    this.listening = this.transport.messages$.subscribe({ next: (d) => this.receive(d) });
  }

  assertRunning(what: string): void {
    if (this.#stopped) throw new DiscoveryError('ERR_SD_STATE', `${what}: the SD agent is stopped`);
  }

  // ---------------------------------------------------------------- sending

  /** Throws `ERR_SD_INPUT` when `pe`, sent alone, would break an SD rule or name an unusable endpoint. */
  validateOutgoing(what: string, pe: PackEntry): void {
    const problems = checkSdMessage(
      packSdMessage({
        sessionId: 1,
        flags: { reboot: false, unicast: true, explicitInitialDataControl: false },
        entries: [pe],
      }),
    );
    if (problems.length > 0)
      throw new DiscoveryError(
        'ERR_SD_INPUT',
        `${what}: ${problems.map((p) => p.message).join('; ')}`,
      );
    if (what !== 'find') {
      const bad = (pe.options ?? []).filter(isEndpointOption).find((e) => !this.endpointUsable(e));
      if (bad !== undefined)
        throw new DiscoveryError(
          'ERR_SD_INPUT',
          `${what}: endpoint ${bad.address}:${bad.port} is loopback or port 0 (allowed loopback: ${this.allowLoopback})`,
        );
    }
  }

  /** Port 0 never is; a loopback address only when `allowLoopbackEndpoints` is on (SD-1233). */
  endpointUsable(e: EndpointOption): boolean {
    if (e.port === 0) return false;
    return this.allowLoopback || !isLoopback(e.address);
  }

  sendMulticast(entries: PackEntry[]): Promise<void> {
    return this.enqueue('multicast', undefined, entries);
  }

  sendUnicast(to: SdAddress, entries: PackEntry[]): Promise<void> {
    return this.enqueue(`unicast|${to.address}:${to.port}`, to, entries);
  }

  /**
   * Entries for one relation issued in the same turn (the offers of a cycle, the Subscribes
   * answering a batch of Offers, the Acks decided for a batch of Subscribes) leave as one
   * message, split only where it would not fit (`splitSdBatch`). Over a single-relation
   * transport (a control link) every entry goes to the same peer, so everything batches.
   * Nothing is queued once the agent stops; what was queued before still goes out.
   */
  private enqueue(
    relation: string,
    to: SdAddress | undefined,
    entries: PackEntry[],
  ): Promise<void> {
    if (this.#stopped || entries.length === 0) return Promise.resolve();
    const key = this.transport.singleRelation === true ? 'link' : relation;
    let out = this.outbox.get(key);
    if (out === undefined) {
      out = { to, entries: [], sent: deferred() };
      this.outbox.set(key, out);
      if (this.outbox.size === 1) setImmediate(() => this.flush());
    }
    out.entries.push(...entries);
    return out.sent.promise;
  }

  private flush(): void {
    const batches = [...this.outbox];
    this.outbox.clear();
    for (const [key, out] of batches) {
      const messages = splitSdBatch(out.entries, {
        ...(this.maxEntries === undefined ? {} : { maxEntries: this.maxEntries }),
        ...(this.transport.maxMessageBytes === undefined
          ? {}
          : { maxBytes: this.transport.maxMessageBytes }),
      });
      Promise.all(messages.map((m) => this.send(key, out.to, m))).then(
        () => out.sent.resolve(),
        (e: unknown) => out.sent.reject(e),
      );
    }
  }

  private async send(key: string, to: SdAddress | undefined, entries: PackEntry[]): Promise<void> {
    const { sessionId, reboot } = this.sessions.next(key);
    const msg = packSdMessage({
      sessionId,
      flags: { reboot, unicast: true, explicitInitialDataControl: false },
      entries,
      ...(this.sdEndpoint === undefined ? {} : { sdEndpoint: this.sdEndpoint }),
    });
    await this.transport.send(encodeSdMessage(msg), to);
  }

  /** Keeps a fire-and-forget send visible to `stop()` and its failure on `errors$`. */
  track(p: Promise<void>): void {
    const t = p.catch((e: unknown) => this.report(e, 'SD send failed'));
    this.inflight.add(t);
    void t.finally(() => this.inflight.delete(t));
  }

  /** Puts `e` on `errors$` as a `DiscoveryError` whose message starts with `context`. */
  report(e: unknown, context: string): void {
    const err = DiscoveryError.is(e)
      ? new DiscoveryError(e.code, `${context}: ${e.message}`, {
          cause: e,
          ...(e.offset === undefined ? {} : { offset: e.offset }),
        })
      : new DiscoveryError('ERR_SD_TRANSPORT', `${context}: ${String(e)}`, { cause: e });
    this.errors.next(err);
  }

  // ---------------------------------------------------------------- stopping

  /**
   * First step of the agent's stop: marks the endpoint stopped (sends issued before still go
   * out) and waits for `finalSends` and every tracked send; returns their failures.
   */
  async settle(finalSends: Promise<void>[]): Promise<unknown[]> {
    this.#stopped = true;
    const failures: unknown[] = [];
    for (const r of await Promise.allSettled([...finalSends, ...this.inflight]))
      if (r.status === 'rejected') failures.push(r.reason);
    return failures;
  }

  /** Last step of the agent's stop: stops receiving and closes the transport; returns its failure. */
  async close(): Promise<unknown[]> {
    this.listening?.unsubscribe();
    try {
      await this.transport.close();
      return [];
    } catch (e) {
      return [e];
    }
  }

  /** Completes `errors$` (after everything that could report has ended). */
  complete(): void {
    this.errors.complete();
  }

  // ---------------------------------------------------------------- receiving

  private receive(d: SdDatagram): void {
    if (this.#stopped || d.from.address === this.transport.localAddress.address) return;
    let msg: SdMessage;
    try {
      msg = decodeSdMessage(d.bytes);
    } catch (e) {
      this.report(e, `SD message from ${d.from.address} dropped`);
      return;
    }
    const rx = this.identify(d, msg);
    const routes = this.routes as SdEntryRoutes;
    if (
      this.reboots.observe(
        rx.peer,
        d.multicast ? 'multicast' : 'unicast',
        msg.sessionId,
        msg.flags.reboot,
      )
    )
      routes.peerRebooted(rx.peer);
    const replies: PackEntry[] = [];
    msg.entries.forEach((entry, i) => this.route(rx, routes, entry, i, replies));
    if (replies.length > 0) this.reply(rx, replies);
  }

  /** SD-1090: the SD endpoint option, when present, names the peer for replies and reboots. */
  private identify(d: SdDatagram, msg: SdMessage): SdReceived {
    const first = msg.options[0];
    const sdEp =
      first?.type === 'ipv4SdEndpoint' || first?.type === 'ipv6SdEndpoint' ? first : undefined;
    const peer = sdEp?.address ?? d.from.address;
    const replyTo: SdAddress =
      sdEp !== undefined
        ? { address: sdEp.address, port: sdEp.port }
        : { address: d.from.address, port: this.transport.localAddress.port };
    return { peer, replyTo, msg, multicast: d.multicast };
  }

  private route(
    rx: SdReceived,
    routes: SdEntryRoutes,
    entry: SdEntry,
    i: number,
    replies: PackEntry[],
  ): void {
    const { peer, msg } = rx;
    const problems = checkEntry(msg, i);
    switch (entry.type) {
      case 'find':
        // A Find's endpoint options are ignored, not the Find (SD-878).
        if (problems.every((p) => p.rule === 'no-endpoint-on-find'))
          routes.find(peer, entry, replies);
        break;
      case 'offer':
        if (problems.length > 0)
          this.report(
            new DiscoveryError('ERR_SD_ENTRY', problems.map((p) => p.message).join('; ')),
            `Offer from ${peer} ignored`,
          );
        else routes.offer(rx, entry, replies);
        break;
      case 'stopOffer':
        routes.stopOffer(peer, entry);
        break;
      case 'subscribe':
        routes.subscribe(
          rx,
          entry,
          problems.map((p) => p.message),
          replies,
        );
        break;
      case 'stopSubscribe':
        routes.stopSubscribe(peer, entry, msg.entries[i + 1]);
        break;
      case 'subscribeAck':
      case 'subscribeNack':
        routes.ack(peer, msg, entry);
        break;
      default:
        // Legacy entry types are tolerated and ignored.
        break;
    }
  }

  /** Answers to a multicast message wait a random request-response delay; unicast ones go at once. */
  private reply(rx: SdReceived, replies: PackEntry[]): void {
    const { requestResponseDelayMin: min, requestResponseDelayMax: max } = this.timing;
    if (rx.multicast && max > 0) {
      const delay = min + Math.floor(this.random() * (max - min + 1));
      this.clock.setTimer(delay, () => {
        if (!this.#stopped) this.track(this.sendUnicast(rx.replyTo, replies));
      });
    } else {
      this.track(this.sendUnicast(rx.replyTo, replies));
    }
  }
}

function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1';
}
