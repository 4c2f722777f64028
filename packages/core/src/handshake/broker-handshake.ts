import type { CertificateAuthority } from '../cert/certificate-authority.js';
import type { Certificate, CertificateBody } from '../cert/certificate.js';
import { mayOfferRight, mayRequestRight } from '../cert/rights.js';
import type { CryptoBackend } from '../crypto/crypto-backend.js';
import { equalConstantTime } from '../crypto/constant-time.js';
import { abortReasonName, type AbortReasonName } from './abort-reason.js';
import { BrokerBudgets, rateLimitedAbort, type BrokerLimits } from './broker-budgets.js';
import { BrokerChannels, type BrokerChannelState } from './broker-channels.js';
import { GrantMinter } from './broker-grants.js';
import type {
  BrokerChannel,
  BrokerEffect,
  BrokerStats,
  ChannelCloseReason,
  OfferedService,
  Window,
} from './broker-types.js';
import { abortMessage, failAs, HandshakeFailure, require } from './handshake-failure.js';
import {
  decodeAbortBody,
  decodeAcceptBody,
  decodeFinishBody,
  decodeHandshakeMessage,
  decodeRequestBody,
  encodeGrantConsumerBody,
  encodeGrantProviderBody,
  encodeHandshakeMessage,
  encodeOfferBody,
  MessageType,
  type HandshakeMessage,
  type RequestBody,
} from './handshake-messages.js';
import { MODE_RANK } from './handshake-types.js';
import { peekControl } from './peek-control.js';
import { extendTranscript, SignatureLabel, signatureInput } from './transcript.js';

export interface BrokerOptions {
  readonly crypto: CryptoBackend;
  readonly ca: CertificateAuthority;
  readonly brokerSecretKey: Uint8Array;
  /** The grant key K_vm of every VM the broker may grant a channel to. */
  readonly grantKeys: ReadonlyMap<number, Uint8Array>;
  readonly nowMs: () => bigint;
  /** Limits of every VM that `limitsOf` does not name (defaults above for what is missing). */
  readonly limits?: Partial<BrokerLimits>;
  /** Per-VM limits (services.yaml `vms[].limits`); a field left out falls back to `limits`. */
  readonly limitsOf?: (vmId: number) => Partial<BrokerLimits> | undefined;
  readonly random?: (n: number) => Uint8Array;
  /** PENDING deadline; default 1000 ms. */
  readonly pendingTimeoutMs?: bigint;
  /** Grant token lifetime; default 10 s (the token is presented right away). */
  readonly grantLifetimeMs?: bigint;
  /** Time a connected VM has to acknowledge a REVOKE before quarantine; default 2000 ms. */
  readonly revokeAckTimeoutMs?: bigint;
  /**
   * Certificates are bound to control links: an M1 must name exactly the certificate enrolled
   * on its link (`enrolled`), not one of an earlier link of the same VM. Default false.
   */
  readonly linkBoundCertificates?: boolean;
}

type SessionState = 'awaiting-accept' | 'awaiting-finish';

interface Session {
  state: SessionState;
  readonly channel: BrokerChannel;
  readonly request: RequestBody;
  readonly certC: CertificateBody;
  readonly th2: Uint8Array;
  readonly m2Body: Uint8Array;
  readonly deadlineMs: bigint;
  th3?: Uint8Array;
  knP?: Uint8Array;
}

/** An M1 that passed every check and waits for its window (`reserve-window` effect). */
interface Admitted {
  readonly linkVm: number;
  readonly m1: HandshakeMessage;
  readonly request: RequestBody;
  readonly certC: CertificateBody;
  readonly certificate: Certificate;
  readonly offer: OfferedService;
}

const offerKey = (service: number, instance: number): string => `${service}:${instance}`;

/**
 * hostd's channel broker (docs/protocol.md): a pure state machine over the VMs (links,
 * enrolled certificates, budgets), the offers and the channels (handshakes in flight, active,
 * closing, quarantined). Events go in — a message with the VM of the link it arrived on (never
 * from its content), a window reserved, a timer tick, a REVOKE acknowledged, a VM connected,
 * enrolled, rebooted or gone, an offer made or withdrawn — and effects come out: messages,
 * window and table work, REVOKEs, log notes. It never calls its owner back. It runs the cheap
 * checks before any signature verification, asks for a window only after the requester's
 * signature verified, and enforces deadlines, per-VM rate limits, caps on pending handshakes
 * and window quotas. Time comes from `nowMs`.
 */
export class BrokerHandshakes {
  readonly stats: BrokerStats = {
    signatureVerifications: 0,
    rateLimited: 0,
    malformedCharged: 0,
    rejected: 0,
    established: 0,
    aborted: 0,
  };
  /** How long a handshake may stay PENDING before it is aborted, ms. */
  readonly pendingTimeoutMs: bigint;
  readonly #o: BrokerOptions;
  readonly #budgets: BrokerBudgets;
  readonly #minter: GrantMinter;
  readonly #channels: BrokerChannels;
  readonly #random: (n: number) => Uint8Array;
  readonly #sessions = new Map<bigint, Session>();
  readonly #admitted = new Map<number, Admitted>();
  #nextTicket = 1;
  readonly #lastReqSeq = new Map<bigint, bigint>();
  readonly #offers = new Map<string, Map<number, OfferedService>>();
  readonly #connected = new Set<number>();
  readonly #enrolled = new Map<number, Uint8Array>();

  constructor(options: BrokerOptions) {
    this.#o = options;
    this.#random = options.random ?? ((n) => options.crypto.randomBytes(n));
    this.pendingTimeoutMs = options.pendingTimeoutMs ?? 1000n;
    this.#budgets = new BrokerBudgets({
      limits: options.limits,
      limitsOf: options.limitsOf,
      nowMs: options.nowMs,
    });
    this.#minter = new GrantMinter({
      crypto: options.crypto,
      brokerSecretKey: options.brokerSecretKey,
      grantKeys: options.grantKeys,
      epoch: () => options.ca.epoch,
      nowMs: options.nowMs,
      lifetimeMs: options.grantLifetimeMs ?? 10_000n,
      random: this.#random,
    });
    this.#channels = new BrokerChannels({
      nowMs: options.nowMs,
      revokeAckTimeoutMs: options.revokeAckTimeoutMs ?? 2000n,
      connected: (vm) => this.#connected.has(vm),
    });
  }

  // ---- queries -------------------------------------------------------------------------

  /** The limits the broker applies to `vmId`. */
  limitsOf(vmId: number): BrokerLimits {
    return this.#budgets.limitsOf(vmId);
  }

  /** Channels that completed the handshake and are not torn down. */
  activeChannels(): BrokerChannel[] {
    return this.#channels
      .list()
      .filter((c) => c.state === 'ACTIVE')
      .map((c) => c.channel);
  }

  /** Active and closing channels. */
  channels(): BrokerChannelState[] {
    return this.#channels.list();
  }

  /** Windows held in quarantine. */
  quarantinedCount(): number {
    return this.#channels.quarantinedCount();
  }

  /** Handshakes in flight (of one consumer VM, or all). */
  pendingCount(vmId?: number): number {
    let n = 0;
    for (const s of this.#sessions.values())
      if (vmId === undefined || s.channel.consumerVm === vmId) n++;
    for (const a of this.#admitted.values()) if (vmId === undefined || a.linkVm === vmId) n++;
    return n;
  }

  /** The offer a channel request for `service`/`instance` goes to, if any. */
  offered(service: number, instance: number): OfferedService | undefined {
    const byProvider = this.#offers.get(offerKey(service, instance));
    return byProvider === undefined ? undefined : byProvider.values().next().value;
  }

  // ---- events: VMs and offers ----------------------------------------------------------

  /** A VM's control link came up: nothing is enrolled on it yet. */
  vmConnected(vmId: number): void {
    this.#connected.add(vmId);
    this.#enrolled.delete(vmId);
  }

  /** A VM enrolled the certificate whose SHA-256 is `certHash` on its current link. */
  enrolled(vmId: number, certHash: Uint8Array): void {
    this.#enrolled.set(vmId, certHash);
  }

  /**
   * A VM's link went away (its death, in emulated mode): its channels close (PEER_GONE and
   * REVOKE to the other side), its handshakes abort, and what waited for its acknowledgement
   * is released — it can no longer hold a mapping.
   */
  vmGone(vmId: number): BrokerEffect[] {
    this.#connected.delete(vmId);
    this.#enrolled.delete(vmId);
    const out: BrokerEffect[] = [];
    for (const id of this.#activeOf(vmId)) out.push(...this.#channels.close(id, 'vm-gone', vmId));
    out.push(...this.forgetVm(vmId), ...this.#channels.holderGone(vmId));
    return out;
  }

  /** A VM's SD session shows it was reset: as {@link vmGone}, but its link stays. */
  vmRebooted(vmId: number): BrokerEffect[] {
    const out: BrokerEffect[] = [];
    for (const id of this.#activeOf(vmId)) out.push(...this.#channels.close(id, 'vm-rebooted'));
    out.push(...this.forgetVm(vmId), ...this.#channels.holderGone(vmId));
    return out;
  }

  /**
   * Aborts every handshake `vmId` takes part in (both sides told) and forgets its budget; its
   * channels and what waits for its acknowledgements stay (hostd shutdown).
   */
  forgetVm(vmId: number): BrokerEffect[] {
    const out: BrokerEffect[] = [];
    for (const s of [...this.#sessions.values()]) {
      if (s.channel.consumerVm === vmId || s.channel.providerVm === vmId) {
        out.push(...this.#abortSession(s, 'peerAbort', `VM ${vmId} is gone`));
      }
    }
    this.#budgets.forget(vmId);
    return out;
  }

  /** `service`/`instance` is offered by `offer.providerVm` (new, or its terms changed). */
  offer(service: number, instance: number, offer: OfferedService): void {
    const key = offerKey(service, instance);
    let byProvider = this.#offers.get(key);
    if (byProvider === undefined) this.#offers.set(key, (byProvider = new Map()));
    byProvider.set(offer.providerVm, offer);
  }

  /** The offer went away (StopOffer, TTL, reboot, death, shutdown): its channels close. */
  withdraw(
    providerVm: number,
    service: number,
    instance: number,
    reason: ChannelCloseReason,
  ): BrokerEffect[] {
    const key = offerKey(service, instance);
    const byProvider = this.#offers.get(key);
    byProvider?.delete(providerVm);
    if (byProvider?.size === 0) this.#offers.delete(key);
    const out: BrokerEffect[] = [];
    const ids = this.#channels.activeWhere(
      (c) => c.providerVm === providerVm && c.service === service && c.instance === instance,
    );
    for (const id of ids) out.push(...this.#channels.close(id, reason));
    return out;
  }

  // ---- events: channels ----------------------------------------------------------------

  /**
   * Tears down an active channel (close, StopOffer, TTL, VM death): CLOSING, REVOKE to both
   * ends; its window is freed once both acknowledged (`window-free`) or quarantined when one
   * does not in time. `goneVm` is an end that can no longer be told. Nothing if not active.
   */
  closeChannel(
    channelId: bigint,
    reason: ChannelCloseReason = 'hostd-shutdown',
    goneVm?: number,
  ): BrokerEffect[] {
    return this.#channels.close(channelId, reason, goneVm);
  }

  /** `vmId` acknowledged the REVOKE of `channelId`. */
  revokeAcknowledged(vmId: number, channelId: bigint): BrokerEffect[] {
    return this.#channels.revokeAcknowledged(vmId, channelId);
  }

  /** Aborts handshakes past their deadline and quarantines windows whose REVOKE is overdue. */
  tick(): BrokerEffect[] {
    const now = this.#o.nowMs();
    const out: BrokerEffect[] = [];
    for (const s of [...this.#sessions.values()]) {
      if (now >= s.deadlineMs)
        out.push(...this.#abortSession(s, 'timeout', 'handshake deadline passed'));
    }
    out.push(...this.#channels.tick());
    return out;
  }

  // ---- events: handshake messages ------------------------------------------------------

  /** Handles one handshake message that arrived on the control link of `linkVm`. */
  receive(linkVm: number, bytes: Uint8Array): BrokerEffect[] {
    // M1, hostd-only types and garbage pay a token before anything is decoded
    // (docs/security.md): a VM must not keep the broker decoding, verifying or logging at
    // line rate for free. M3, M5 and ABORT belong to handshakes in flight and are charged
    // only when they turn out to be strays.
    const peeked = peekControl(bytes);
    const t = peeked?.type;
    if (t === MessageType.m3 || t === MessageType.m5 || t === MessageType.abort) {
      return this.#dispatch(linkVm, bytes, false);
    }
    const reqSeq = t === MessageType.m1 && peeked?.by === 'request' ? peeked.reqSeq : 0n;
    return this.#charged(linkVm, reqSeq, () => this.#dispatch(linkVm, bytes, true));
  }

  /**
   * The answer to a `reserve-window` effect: the window (undefined when the region or the
   * channel table is full). Must come before the next event, as hostd answers at once.
   */
  windowReserved(ticket: number, window: Window | undefined): BrokerEffect[] {
    const a = this.#admitted.get(ticket);
    if (a === undefined) return [];
    this.#admitted.delete(ticket);
    if (window === undefined) {
      const e = new HandshakeFailure('noSpace', 'the region has no free window of that size');
      return this.#reject(a.linkVm, 0n, a.request.reqSeq, e);
    }
    return this.#offerToProvider(a, window);
  }

  #dispatch(linkVm: number, bytes: Uint8Array, charged: boolean): BrokerEffect[] {
    let msg: HandshakeMessage;
    try {
      msg = decodeHandshakeMessage(bytes);
    } catch (e) {
      const failure = new HandshakeFailure('malformed', (e as Error).message);
      return this.#guard(
        linkVm,
        () => {
          throw failure;
        },
        !charged,
      );
    }
    const session =
      msg.type === MessageType.m3 || msg.type === MessageType.m5 || msg.type === MessageType.abort;
    if (!charged && !session) {
      // The envelope decoded to another type than the peek saw: charge it now.
      return this.#charged(linkVm, 0n, () => this.#dispatch(linkVm, bytes, true));
    }
    switch (msg.type) {
      case MessageType.m1:
        return this.#guard(linkVm, () => this.#onRequest(linkVm, msg));
      case MessageType.m3:
        return this.#guard(linkVm, () => this.#onAccept(linkVm, msg), true);
      case MessageType.m5:
        return this.#guard(linkVm, () => this.#onFinish(linkVm, msg), true);
      case MessageType.abort:
        return this.#onEndpointAbort(linkVm, msg);
      default:
        return this.#reject(
          linkVm,
          0n,
          0n,
          new HandshakeFailure('unexpected', `VMs may not send type ${msg.type}`),
        );
    }
  }

  /**
   * Runs `f` if `vmId` has a token left; otherwise refuses with a `rateLimited` ABORT (for an
   * M1 addressed by its req_seq, read by a bounded wire scan, so the consumer learns why).
   * Nothing of a refused message is decoded, looked up or verified.
   */
  #charged(vmId: number, reqSeq: bigint, f: () => BrokerEffect[]): BrokerEffect[] {
    const c = this.#budgets.charge(vmId);
    if (c.admitted) return [...c.notes, ...f()];
    this.stats.rateLimited++;
    this.stats.rejected++;
    return [
      ...c.notes,
      { kind: 'rejected', vmId, reason: 'rateLimited', detail: c.detail },
      // Built by hand (no protobufjs): this path runs at the flooder's rate.
      { kind: 'send', vmId, bytes: rateLimitedAbort(reqSeq, c.abortTemplate) },
    ];
  }

  /**
   * Runs a handler. With `chargeFailures` (M3, M5) a message that fails before it reaches a
   * handshake in flight — unknown channel, wrong link, undecodable body — costs its VM a token
   * like garbage does; over budget it is dropped without an answer.
   */
  #guard(linkVm: number, f: () => BrokerEffect[], chargeFailures = false): BrokerEffect[] {
    try {
      return f();
    } catch (e) {
      if (!(e instanceof HandshakeFailure)) throw e;
      if (!chargeFailures) return this.#reject(linkVm, 0n, 0n, e);
      this.stats.malformedCharged++;
      const c = this.#budgets.charge(linkVm);
      if (c.admitted) return [...c.notes, ...this.#reject(linkVm, 0n, 0n, e)];
      this.stats.rateLimited++;
      return c.notes;
    }
  }

  #verify(
    sig: Uint8Array,
    label: Parameters<typeof signatureInput>[0],
    th: Uint8Array,
    key: Uint8Array,
  ): boolean {
    this.stats.signatureVerifications++;
    return this.#o.crypto.ed25519Verify(sig, signatureInput(label, th), key);
  }

  /**
   * M1: cheapest checks first (the rate was charged in `receive`) — decode, certificate
   * lookup, link binding, rights, freshness, provider, caps — and only then the Ed25519
   * verification (docs/security.md); then a window is asked for.
   */
  #onRequest(linkVm: number, m1: HandshakeMessage): BrokerEffect[] {
    const req = failAs('malformed', () => decodeRequestBody(m1.body));
    try {
      const admitted = this.#admit(linkVm, m1, req);
      this.#lastReqSeq.set(admitted.certC.serial, req.reqSeq);
      const ticket = this.#nextTicket++;
      this.#admitted.set(ticket, admitted);
      return [
        {
          kind: 'reserve-window',
          ticket,
          length: admitted.offer.windowLength,
          consumerVm: linkVm,
          providerVm: admitted.offer.providerVm,
        },
      ];
    } catch (e) {
      if (e instanceof HandshakeFailure) return this.#reject(linkVm, 0n, req.reqSeq, e);
      throw e;
    }
  }

  /** Every check of an M1 (throws a HandshakeFailure naming the first that fails). */
  #admit(linkVm: number, m1: HandshakeMessage, req: RequestBody): Admitted {
    const { ca } = this.#o;
    const limits = this.#budgets.limitsOf(linkVm);
    const found = failAs('certificate', () => ca.lookup(req.certHashC));
    require(found !== undefined, 'certificate', 'unknown or expired consumer certificate');
    const certC = found.body;
    if (this.#o.linkBoundCertificates === true) {
      const enrolled = this.#enrolled.get(linkVm);
      require(enrolled !== undefined &&
        equalConstantTime(
          enrolled,
          req.certHashC,
        ), 'certificate', `the certificate in M1 is not the one enrolled on the link of VM ${linkVm}${enrolled === undefined ? ' (enrol first)' : ''}`);
    }
    require(certC.vmId ===
      linkVm, 'linkMismatch', `certificate of VM ${certC.vmId} presented on the link of VM ${linkVm}`);
    require(mayRequestRight(
      certC.rights,
      req.service,
      req.instance,
    ), 'notAuthorized', `certificate may not request service 0x${req.service.toString(16)} instance ${req.instance}`);
    const last = this.#lastReqSeq.get(certC.serial);
    require(last === undefined ||
      req.reqSeq > last, 'replay', `req_seq ${req.reqSeq} is not above ${last}`);
    const svc = this.offered(req.service, req.instance);
    require(svc !== undefined, 'noProvider', 'nobody offers this service instance');
    require(svc.major ===
      req.major, 'version', `major ${req.major} requested, ${svc.major} offered`);
    require(MODE_RANK[req.mode] >=
      MODE_RANK[svc.minMode], 'mode', `mode ${req.mode} is below the minimum ${svc.minMode}`);
    require(this.pendingCount(linkVm) <
      limits.pendingPerVm, 'tooManyPending', `VM ${linkVm} has ${limits.pendingPerVm} handshakes in flight`);
    const held = this.#bytesHeld(linkVm);
    require(held + svc.windowLength <=
      limits.windowBytesPerVm, 'noSpace', `VM ${linkVm} holds ${held} window bytes; one more channel would pass its quota of ${limits.windowBytesPerVm}`);
    require(this.#verify(
      m1.sig,
      SignatureLabel.m1,
      this.#minter.th1(m1.body),
      certC.publicKey,
    ), 'signature', 'consumer signature on M1 does not verify');
    return { linkVm, m1, request: req, certC, certificate: found.cert, offer: svc };
  }

  /** M2: the admitted request, its window and channel id, signed, to the provider. */
  #offerToProvider(a: Admitted, window: Window): BrokerEffect[] {
    const { crypto, ca } = this.#o;
    const { linkVm, m1, request: req, offer: svc } = a;
    const channelId = this.#minter.channelId();
    const channel: BrokerChannel = {
      channelId,
      consumerVm: linkVm,
      providerVm: svc.providerVm,
      service: req.service,
      instance: req.instance,
      major: req.major,
      mode: req.mode,
      window,
      consumerSerial: this.#minter.serial(linkVm),
      providerSerial: this.#minter.serial(svc.providerVm),
    };
    const m2Body = encodeOfferBody({
      channelId,
      epoch: ca.epoch,
      cVm: linkVm,
      pVm: svc.providerVm,
      windowOffset: window.offset,
      windowLength: window.length,
      mode: req.mode,
      nonceH: this.#random(32),
      certC: a.certificate,
      m1,
    });
    const th2 = extendTranscript(crypto, this.#minter.th1(m1.body), MessageType.m2, m2Body);
    const m2 = encodeHandshakeMessage({
      type: MessageType.m2,
      body: m2Body,
      sig: this.#minter.sign(SignatureLabel.m2, th2),
    });
    this.#sessions.set(channelId, {
      state: 'awaiting-accept',
      channel,
      request: req,
      certC: a.certC,
      th2,
      m2Body,
      deadlineMs: this.#o.nowMs() + this.pendingTimeoutMs,
    });
    return [
      { kind: 'channel-pending', channel },
      { kind: 'send', vmId: svc.providerVm, bytes: m2 },
    ];
  }

  #onAccept(linkVm: number, m3: HandshakeMessage): BrokerEffect[] {
    const { crypto, ca } = this.#o;
    const accept = failAs('malformed', () => decodeAcceptBody(m3.body));
    const s = this.#sessions.get(accept.channelId);
    require(s !== undefined &&
      s.state ===
        'awaiting-accept', 'unexpected', `no offer pending for channel ${accept.channelId}`);
    require(s.channel.providerVm ===
      linkVm, 'linkMismatch', `M3 for VM ${s.channel.providerVm} arrived from VM ${linkVm}`);
    try {
      const found = failAs('certificate', () => ca.lookup(accept.certHashP));
      require(found !== undefined, 'certificate', 'unknown or expired provider certificate');
      const certP = found.body;
      require(certP.vmId ===
        linkVm, 'linkMismatch', `certificate of VM ${certP.vmId} on the link of VM ${linkVm}`);
      require(mayOfferRight(
        certP.rights,
        s.channel.service,
        s.channel.instance,
      ), 'notAuthorized', 'provider certificate may not offer this service instance');
      require(s.channel.mode === 'plain' ||
        accept.eP.length === 32, 'keyAgreement', 'keyed mode without e_P');
      const th3 = extendTranscript(crypto, s.th2, MessageType.m3, m3.body);
      require(this.#verify(
        m3.sig,
        SignatureLabel.m3,
        th3,
        certP.publicKey,
      ), 'signature', 'provider signature on M3 does not verify');
      const grant = this.#minter.grant(s.channel, 'consumer', s.request.knC);
      const m4Body = encodeGrantConsumerBody({
        m2Body: s.m2Body,
        certP: found.cert,
        m3,
        grantToken: grant.token,
        grantTag: grant.tag,
      });
      const th4 = extendTranscript(crypto, th3, MessageType.m4, m4Body);
      const m4 = encodeHandshakeMessage({
        type: MessageType.m4,
        body: m4Body,
        sig: this.#minter.sign(SignatureLabel.m4, th4),
      });
      s.state = 'awaiting-finish';
      s.th3 = th3;
      s.knP = accept.knP;
      return [{ kind: 'send', vmId: s.channel.consumerVm, bytes: m4, grantFor: s.channel }];
    } catch (e) {
      if (e instanceof HandshakeFailure) return this.#abortSession(s, e.reason, e.message);
      throw e;
    }
  }

  #onFinish(linkVm: number, m5: HandshakeMessage): BrokerEffect[] {
    const { crypto } = this.#o;
    const finish = failAs('malformed', () => decodeFinishBody(m5.body));
    const s = this.#sessions.get(finish.channelId);
    require(s !== undefined &&
      s.state ===
        'awaiting-finish', 'unexpected', `no grant pending for channel ${finish.channelId}`);
    require(s.channel.consumerVm ===
      linkVm, 'linkMismatch', `M5 for VM ${s.channel.consumerVm} arrived from VM ${linkVm}`);
    try {
      const th5 = extendTranscript(crypto, s.th3!, MessageType.m5, m5.body);
      require(this.#verify(
        m5.sig,
        SignatureLabel.m5,
        th5,
        s.certC.publicKey,
      ), 'signature', 'consumer signature on M5 does not verify');
      const grant = this.#minter.grant(s.channel, 'provider', s.knP!);
      const m6Body = encodeGrantProviderBody({ m5, grantToken: grant.token, grantTag: grant.tag });
      const th6 = extendTranscript(crypto, th5, MessageType.m6, m6Body);
      const m6 = encodeHandshakeMessage({
        type: MessageType.m6,
        body: m6Body,
        sig: this.#minter.sign(SignatureLabel.m6, th6),
      });
      const ch = s.channel;
      this.#sessions.delete(finish.channelId);
      this.#channels.activate(ch);
      this.stats.established++;
      // M5 and a StopOffer (or the provider's death) travel on different links: if the offer
      // went away while the handshake finished, the new channel goes at once.
      const gone =
        this.offered(ch.service, ch.instance)?.providerVm === ch.providerVm
          ? []
          : this.#channels.close(
              ch.channelId,
              this.#connected.has(ch.providerVm) ? 'stop-offer' : 'vm-gone',
            );
      return [
        { kind: 'channel-active', channel: ch },
        ...gone,
        { kind: 'send', vmId: ch.providerVm, bytes: m6, grantFor: ch },
      ];
    } catch (e) {
      if (e instanceof HandshakeFailure) return this.#abortSession(s, e.reason, e.message);
      throw e;
    }
  }

  #onEndpointAbort(linkVm: number, msg: HandshakeMessage): BrokerEffect[] {
    let a;
    try {
      a = decodeAbortBody(msg.body);
    } catch {
      return [];
    }
    for (const s of this.#sessions.values()) {
      const byChannel = a.channelId !== 0n && s.channel.channelId === a.channelId;
      const byRequest =
        a.channelId === 0n && s.channel.consumerVm === linkVm && s.request.reqSeq === a.reqSeq;
      const party = s.channel.consumerVm === linkVm || s.channel.providerVm === linkVm;
      if (party && (byChannel || byRequest)) {
        return this.#abortSession(
          s,
          'peerAbort',
          `VM ${linkVm} aborted: ${abortReasonName(a.reason)} ${a.detail}`,
        );
      }
    }
    return [];
  }

  #abortSession(s: Session, reason: AbortReasonName, detail: string): BrokerEffect[] {
    const ch = s.channel;
    this.#sessions.delete(ch.channelId);
    this.stats.aborted++;
    // After M4 the consumer may already have presented its grant and mapped the window: the
    // window must not be zeroed under it or handed to another channel (docs/security.md).
    const grantIssued = s.state === 'awaiting-finish';
    const window: BrokerEffect[] = grantIssued
      ? this.#channels.quarantineGranted(ch)
      : [{ kind: 'window-free', channel: ch, cause: 'aborted' }];
    const msg = (vm: number): BrokerEffect => ({
      kind: 'send',
      vmId: vm,
      bytes: abortMessage(
        ch.channelId,
        vm === ch.consumerVm ? s.request.reqSeq : 0n,
        reason,
        detail,
      ),
    });
    return [
      ...window,
      { kind: 'channel-aborted', channel: ch, reason, detail, grantIssued },
      msg(ch.consumerVm),
      msg(ch.providerVm),
    ];
  }

  #reject(linkVm: number, channelId: bigint, reqSeq: bigint, e: HandshakeFailure): BrokerEffect[] {
    this.stats.rejected++;
    return [
      { kind: 'rejected', vmId: linkVm, reason: e.reason, detail: e.message },
      { kind: 'send', vmId: linkVm, bytes: abortMessage(channelId, reqSeq, e.reason, e.message) },
    ];
  }

  #activeOf(vmId: number): bigint[] {
    return this.#channels.activeWhere((c) => c.consumerVm === vmId || c.providerVm === vmId);
  }

  #bytesHeld(vmId: number): bigint {
    let n = this.#channels.bytesHeld(vmId);
    for (const s of this.#sessions.values())
      if (s.channel.consumerVm === vmId) n += s.channel.window.length;
    for (const a of this.#admitted.values()) if (a.linkVm === vmId) n += a.offer.windowLength;
    return n;
  }
}
