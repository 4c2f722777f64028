import {
  mayConsume,
  mayOffer,
  mayOfferRight,
  mayRequestRight,
  type CertificateBody,
  type ServiceConfig,
} from '@sivshm/core';
import {
  RebootDetector,
  SdRegistry,
  SessionCounters,
  decodeSdMessage,
  encodeSdMessageUnchecked,
  entryOptions,
  packSdMessage,
  splitSdBatch,
  systemClock,
  type EventgroupEntry,
  type PackEntry,
  type RemoteService,
  type SdMessage,
  type SdOption,
  type ServiceEntry,
} from '@sivshm/discovery';
import type { Subscription } from 'rxjs';
import type { JsonLogger } from '../log/logger.js';

/** What the SD switch needs from hostd. */
export interface SdSwitchEnvironment {
  readonly config: ServiceConfig;
  readonly log: JsonLogger;
  /** The certificate the VM enrolled with on its current link, if any. */
  certificate(vmId: number): CertificateBody | undefined;
  connected(vmId: number): boolean;
  /** Sends raw SD bytes over the VM's link. */
  sendSd(vmId: number, bytes: Uint8Array): void;
  /** Tells a VM that hostd refused something it sent. */
  refuse(vmId: number, code: string, message: string): void;
  /** A service instance is on offer (new, or its version or endpoints changed). */
  serviceOffered(providerVm: number, service: number, instance: number, major: number): void;
  /** A service instance went away (StopOffer, TTL, reboot, death): tear its channels down. */
  serviceGone(providerVm: number, service: number, instance: number, why: string): void;
  /** The VM's SD session shows it rebooted. */
  vmRebooted(vmId: number): void;
}

/** One offered service instance as hostd's registry holds it. */
export interface OfferedInstance {
  readonly providerVm: number;
  readonly service: number;
  readonly instance: number;
  readonly major: number;
  readonly minor: number;
  readonly ttl: number;
  readonly sinceMs: number;
}

/** Counters of the SD switch (status). */
export interface SdSwitchStats {
  received: number;
  relayed: number;
  refused: number;
  malformed: number;
  findsAnswered: number;
  /** Offers whose TTL ran out before the provider renewed them (each tears its channels down). */
  offersExpired: number;
}

const peerOf = (vmId: number): string => `vm:${vmId}`;
const vmOf = (peer: string): number => Number(peer.slice(3));

/**
 * hostd as the SOME/IP-SD switch (docs/architecture.md §6): it relays an Offer only to VMs whose
 * policy lets them consume the service, refuses Offers the sender's certificate (or the config)
 * does not allow, answers Finds from its registry, routes Subscribe to the provider and the
 * Ack back to the subscriber, and detects a VM's reboot from its SD session ids. hostd is the
 * sender of everything it relays, so each VM sees one SD peer with one session counter.
 */
export class SdSwitch {
  readonly stats: SdSwitchStats = {
    received: 0,
    relayed: 0,
    refused: 0,
    malformed: 0,
    findsAnswered: 0,
    offersExpired: 0,
  };
  readonly #env: SdSwitchEnvironment;
  readonly #registry = new SdRegistry(systemClock);
  readonly #reboots = new RebootDetector();
  readonly #sessions = new SessionCounters();
  readonly #since = new Map<string, number>();
  /**
   * The peer offering each `service|instance` now (services.yaml names one provider per
   * service): a Subscribe and a grant find their offer by key, not by a scan of every offer,
   * which made each SD cycle quadratic in the instances offered.
   */
  readonly #offeredBy = new Map<string, string>();
  /** Subscribes waiting for the provider's answer: key → consumer VMs, oldest first. */
  readonly #pendingSubscribes = new Map<string, number[]>();
  readonly #sub: Subscription;
  /** Instances first offered by the message being handled (logged together). */
  readonly #newOffers: { service: number; instance: number; ttl: number }[] = [];
  /** While a received message is handled: what it makes hostd send, per destination VM. */
  #outbox: Map<number, PackEntry[]> | undefined;

  constructor(env: SdSwitchEnvironment) {
    this.#env = env;
    this.#sub = this.#registry.changes$.subscribe((c) => {
      const s = c.service;
      const at = `${s.serviceId}|${s.instanceId}`;
      if (c.available) {
        this.#offeredBy.set(at, s.peer);
        env.serviceOffered(vmOf(s.peer), s.serviceId, s.instanceId, s.majorVersion);
        return;
      }
      const vm = vmOf(s.peer);
      if (this.#offeredBy.get(at) === s.peer) this.#offeredBy.delete(at);
      if (c.reason === 'ttlExpired') this.stats.offersExpired++;
      this.#since.delete(`${s.peer}|${s.serviceId}|${s.instanceId}`);
      env.log.info('sd-offer-gone', {
        vm,
        service: s.serviceId,
        instance: s.instanceId,
        reason: c.reason,
      });
      // Tell the consumers explicitly; their own TTLs would get there later.
      this.#relayToConsumers(vm, s.serviceId, {
        entry: { ...this.#serviceFields(s), type: 'stopOffer', ttl: 0 },
        options: s.extraOptions,
      });
      env.serviceGone(vm, s.serviceId, s.instanceId, c.reason);
    });
  }

  /** The provider VM and major of an offered instance, if it is offered now. */
  offered(service: number, instance: number): OfferedInstance | undefined {
    const s = this.#findOffer(service, instance);
    return s === undefined ? undefined : this.#instance(s);
  }

  /** Everything offered now. */
  list(): OfferedInstance[] {
    return this.#registry.list().map((s) => this.#instance(s));
  }

  /**
   * Handles one SD message that arrived on the link of `vmId`. Everything it makes hostd send
   * (relayed Offers, Subscribes routed to providers, Acks routed back, answers to Finds) is
   * gathered per destination VM and sent as one message each: a provider's batch of Offers
   * reaches each consumer as one batch, not exploded into a message per entry.
   */
  receive(vmId: number, bytes: Uint8Array): void {
    const outer = this.#outbox === undefined;
    if (outer) this.#outbox = new Map();
    try {
      this.#receive(vmId, bytes);
    } finally {
      this.#logNewOffers(vmId);
      if (outer) this.#flush();
    }
  }

  /**
   * One `sd-offer` line per received message, not per instance: a VM announcing hundreds of
   * instances at once would otherwise spend its log budget on its own start-up.
   */
  #logNewOffers(vmId: number): void {
    const fresh = this.#newOffers.splice(0);
    if (fresh.length === 0) return;
    // Consecutive instances of one service are one run: `0x1234:1-256`.
    const runs: { service: number; first: number; last: number }[] = [];
    for (const o of fresh) {
      const run = runs.at(-1);
      if (run?.service === o.service && run.last + 1 === o.instance) run.last = o.instance;
      else runs.push({ service: o.service, first: o.instance, last: o.instance });
    }
    const runText = (r: (typeof runs)[number]): string =>
      `0x${r.service.toString(16)}:${r.first}${r.last === r.first ? '' : `-${r.last}`}`;
    this.#env.log.info('sd-offer', {
      vm: vmId,
      count: fresh.length,
      ttl: fresh[0]!.ttl,
      instances: runs.map(runText).join(' '),
    });
  }

  #receive(vmId: number, bytes: Uint8Array): void {
    this.stats.received++;
    let msg: SdMessage;
    try {
      msg = decodeSdMessage(bytes);
    } catch (e) {
      this.stats.malformed++;
      this.#env.refuse(vmId, 'ERR_SD_MALFORMED', (e as Error).message);
      return;
    }
    if (this.#reboots.observe(peerOf(vmId), 'unicast', msg.sessionId, msg.flags.reboot)) {
      this.#env.log.info('sd-reboot-detected', { vm: vmId });
      this.vmGone(vmId, 'peerRebooted');
      this.#env.vmRebooted(vmId);
    }
    for (const entry of msg.entries) {
      const { options } = entryOptions(msg, entry);
      switch (entry.type) {
        case 'offer':
          this.#onOffer(vmId, entry, options);
          break;
        case 'stopOffer':
          this.#onStopOffer(vmId, entry);
          break;
        case 'find':
          this.#onFind(vmId, entry);
          break;
        case 'subscribe':
        case 'stopSubscribe':
          this.#onSubscribe(vmId, entry, options);
          break;
        case 'subscribeAck':
        case 'subscribeNack':
          this.#onSubscribeAnswer(vmId, entry, options);
          break;
        default:
          this.#refuse(vmId, `SD entry type ${entry.type} is not supported on a control link`);
      }
    }
  }

  /**
   * Tells a VM that just enrolled about every instance on offer that it may consume (it missed
   * the Offers relayed before it had a certificate).
   */
  announceTo(vmId: number): void {
    const hits = this.#registry
      .list()
      .filter((s) => vmOf(s.peer) !== vmId && this.#mayConsume(vmId, s.serviceId, s.instanceId));
    if (hits.length === 0) return;
    this.#sendTo(
      vmId,
      hits.map((s) => ({
        entry: { ...this.#serviceFields(s), type: 'offer' as const, ttl: s.ttl },
        options: s.extraOptions,
      })),
    );
  }

  /** Forgets everything a VM offered (it disconnected, rebooted or hostd stops). */
  vmGone(vmId: number, reason: 'peerRebooted' | 'stopped' = 'stopped'): void {
    this.#registry.expirePeer(peerOf(vmId), reason);
    if (reason === 'stopped') this.#reboots.forget(peerOf(vmId));
    for (const [k, list] of this.#pendingSubscribes) {
      const left = list.filter((v) => v !== vmId);
      if (left.length === 0) this.#pendingSubscribes.delete(k);
      else this.#pendingSubscribes.set(k, left);
    }
  }

  /** Withdraws every offer (hostd shutdown): consumers get StopOffer. */
  close(): void {
    for (const s of this.#registry.list()) {
      this.#registry.stopOfferReceived(s.peer, s.serviceId, s.instanceId);
    }
    this.#sub.unsubscribe();
    this.#registry.close();
  }

  #onOffer(vmId: number, e: ServiceEntry, options: SdOption[]): void {
    const { config } = this.#env;
    const svc = config.services.find((s) => s.id === e.serviceId);
    const cert = this.#env.certificate(vmId);
    if (svc === undefined || !mayOffer(config, vmId, e.serviceId, e.instanceId)) {
      return this.#refuse(
        vmId,
        `VM ${vmId} may not offer service 0x${e.serviceId.toString(16)} instance ${e.instanceId} (services.yaml)`,
      );
    }
    if (cert === undefined || !mayOfferRight(cert.rights, e.serviceId, e.instanceId)) {
      return this.#refuse(
        vmId,
        `VM ${vmId}'s certificate does not allow offering service 0x${e.serviceId.toString(16)} instance ${e.instanceId}${cert === undefined ? ' (not enrolled)' : ''}`,
      );
    }
    if (e.majorVersion !== svc.major) {
      return this.#refuse(
        vmId,
        `offer of major ${e.majorVersion}; services.yaml says ${svc.major}`,
      );
    }
    const service: RemoteService = {
      peer: peerOf(vmId),
      replyTo: { address: peerOf(vmId), port: 0 },
      serviceId: e.serviceId,
      instanceId: e.instanceId,
      majorVersion: e.majorVersion,
      minorVersion: e.minorVersion,
      ttl: e.ttl,
      endpoints: [],
      // Every option travels with the relayed Offer as the provider sent it.
      extraOptions: options,
    };
    const key = `${service.peer}|${e.serviceId}|${e.instanceId}`;
    if (this.#registry.offerReceived(service)) {
      this.#since.set(key, Date.now());
      this.#newOffers.push({ service: e.serviceId, instance: e.instanceId, ttl: e.ttl });
    }
    this.#relayToConsumers(vmId, e.serviceId, { entry: { ...e }, options });
  }

  #onStopOffer(vmId: number, e: ServiceEntry): void {
    if (this.#registry.get(peerOf(vmId), e.serviceId, e.instanceId) === undefined) return;
    this.#registry.stopOfferReceived(peerOf(vmId), e.serviceId, e.instanceId);
  }

  #onFind(vmId: number, e: ServiceEntry): void {
    const hits = this.#registry
      .match(e)
      .filter((s) => this.#mayConsume(vmId, s.serviceId, s.instanceId));
    if (hits.length === 0) return;
    this.stats.findsAnswered++;
    this.#sendTo(
      vmId,
      hits.map((s) => ({
        entry: { ...this.#serviceFields(s), type: 'offer' as const, ttl: s.ttl },
        options: s.extraOptions,
      })),
    );
  }

  #onSubscribe(vmId: number, e: EventgroupEntry, options: SdOption[]): void {
    const offer = this.#findOffer(e.serviceId, e.instanceId);
    if (!this.#mayConsume(vmId, e.serviceId, e.instanceId)) {
      return this.#refuse(
        vmId,
        `VM ${vmId} may not subscribe to service 0x${e.serviceId.toString(16)} instance ${e.instanceId}`,
      );
    }
    if (offer === undefined) {
      if (e.type === 'subscribe') {
        this.#sendTo(vmId, [{ entry: { ...e, type: 'subscribeNack', ttl: 0 }, options: [] }]);
      }
      return;
    }
    const providerVm = vmOf(offer.peer);
    if (e.type === 'subscribe') {
      const k = this.#subscribeKey(e);
      this.#pendingSubscribes.set(k, [...(this.#pendingSubscribes.get(k) ?? []), vmId].slice(-64));
    }
    this.#sendTo(providerVm, [{ entry: { ...e }, options }]);
  }

  #onSubscribeAnswer(vmId: number, e: EventgroupEntry, options: SdOption[]): void {
    const offer = this.#registry.get(peerOf(vmId), e.serviceId, e.instanceId);
    if (offer === undefined) {
      return this.#refuse(vmId, `VM ${vmId} answers a Subscribe for a service it does not offer`);
    }
    const k = this.#subscribeKey(e);
    const waiting = this.#pendingSubscribes.get(k) ?? [];
    const consumer = waiting.shift();
    if (waiting.length === 0) this.#pendingSubscribes.delete(k);
    if (consumer === undefined) return;
    this.#sendTo(consumer, [{ entry: { ...e }, options }]);
  }

  #mayConsume(vmId: number, service: number, instance: number): boolean {
    const cert = this.#env.certificate(vmId);
    return (
      mayConsume(this.#env.config, vmId, service, instance) &&
      cert !== undefined &&
      mayRequestRight(cert.rights, service, instance)
    );
  }

  #findOffer(service: number, instance: number): RemoteService | undefined {
    const peer = this.#offeredBy.get(`${service}|${instance}`);
    return peer === undefined ? undefined : this.#registry.get(peer, service, instance);
  }

  #relayToConsumers(providerVm: number, service: number, entry: PackEntry): void {
    const svc = this.#env.config.services.find((s) => s.id === service);
    for (const vm of svc?.consumerVmIds ?? []) {
      if (vm === providerVm || !this.#env.connected(vm)) continue;
      if (this.#env.certificate(vm) === undefined) continue; // not enrolled yet: it will Find
      this.#sendTo(vm, [entry]);
    }
  }

  #sendTo(vmId: number, entries: PackEntry[]): void {
    const queued = this.#outbox;
    if (queued === undefined) {
      this.#sendNow(vmId, entries);
      return;
    }
    const list = queued.get(vmId);
    if (list === undefined) queued.set(vmId, [...entries]);
    else list.push(...entries);
  }

  #flush(): void {
    const queued = this.#outbox ?? new Map<number, PackEntry[]>();
    this.#outbox = undefined;
    for (const [vmId, entries] of queued)
      for (const part of splitSdBatch(entries)) this.#sendNow(vmId, part);
  }

  #sendNow(vmId: number, entries: PackEntry[]): void {
    const { sessionId, reboot } = this.#sessions.next(peerOf(vmId));
    const msg = packSdMessage({
      sessionId,
      flags: { reboot, unicast: true, explicitInitialDataControl: false },
      entries,
    });
    // The entries were checked where they entered (decode + policy); relays keep the sender's
    // options as they are, so the sender's conformance is not re-judged here.
    this.#env.sendSd(vmId, encodeSdMessageUnchecked(msg));
    this.stats.relayed++;
  }

  #refuse(vmId: number, message: string): void {
    this.stats.refused++;
    this.#env.log.warn('sd-refused', { vm: vmId, message });
    this.#env.refuse(vmId, 'ERR_SD_POLICY', message);
  }

  #serviceFields(s: RemoteService) {
    return {
      serviceId: s.serviceId,
      instanceId: s.instanceId,
      majorVersion: s.majorVersion,
      minorVersion: s.minorVersion,
    };
  }

  #subscribeKey(e: EventgroupEntry): string {
    return `${e.serviceId}|${e.instanceId}|${e.eventgroupId}|${e.counter}`;
  }

  #instance(s: RemoteService): OfferedInstance {
    return {
      providerVm: vmOf(s.peer),
      service: s.serviceId,
      instance: s.instanceId,
      major: s.majorVersion,
      minor: s.minorVersion,
      ttl: s.ttl,
      sinceMs: this.#since.get(`${s.peer}|${s.serviceId}|${s.instanceId}`) ?? 0,
    };
  }
}
