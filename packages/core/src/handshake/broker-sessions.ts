import type { CertificateAuthority } from '../cert/certificate-authority.js';
import type { Certificate, CertificateBody } from '../cert/certificate.js';
import { mayOfferRight, mayRequestRight } from '../cert/rights.js';
import type { CryptoBackend } from '../crypto/crypto-backend.js';
import { equalConstantTime } from '../crypto/constant-time.js';
import { abortReasonName, type AbortReasonName } from './abort-reason.js';
import type { BrokerLimits } from './broker-budgets.js';
import type { BrokerChannels } from './broker-channels.js';
import type { GrantMinter } from './broker-grants.js';
import type {
  BrokerChannel,
  BrokerEffect,
  BrokerStats,
  OfferedService,
  Window,
} from './broker-types.js';
// `require` would be laid out by prettier as a CommonJS require: it goes by another name here.
import { abortMessage, failAs, HandshakeFailure, require as ensure } from './handshake-failure.js';
import {
  decodeAbortBody,
  decodeAcceptBody,
  decodeFinishBody,
  decodeRequestBody,
  encodeOfferBody,
  MessageType,
  type HandshakeMessage,
  type RequestBody,
} from './handshake-messages.js';
import { MODE_RANK } from './handshake-types.js';
import { extendTranscript, SignatureLabel, signatureInput } from './transcript.js';

/** What the handshakes read from the rest of the broker (its own state, never hostd's). */
export interface SessionContext {
  readonly crypto: CryptoBackend;
  readonly ca: CertificateAuthority;
  readonly minter: GrantMinter;
  readonly channels: BrokerChannels;
  readonly stats: BrokerStats;
  readonly nowMs: () => bigint;
  readonly random: (n: number) => Uint8Array;
  readonly pendingTimeoutMs: bigint;
  readonly linkBoundCertificates: boolean;
  limitsOf(vmId: number): BrokerLimits;
  offered(service: number, instance: number): OfferedService | undefined;
  /** SHA-256 of the certificate enrolled on the VM's current link. */
  enrolled(vmId: number): Uint8Array | undefined;
  connected(vmId: number): boolean;
  /** Window bytes the consumer VM holds: handshakes in flight and established channels. */
  bytesHeld(vmId: number): bigint;
  /** The doorbell vector of a new channel between the two VMs (`pickDoorbellVector`). */
  doorbellVector(consumerVm: number, providerVm: number): number | undefined;
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

/**
 * The broker's side of each six-message handshake (docs/protocol.md), from an admitted M1 to
 * an active channel or an abort: the checks of M1, M3 and M5 (cheapest first, signatures
 * last), the window it asks for, M2/M4/M6 signed and sent, deadlines. Failures are thrown as
 * HandshakeFailure by the message handlers (the broker charges and answers them) or turned
 * into ABORTs to both sides once a handshake is in flight.
 */
export class HandshakeSessions {
  readonly #c: SessionContext;
  readonly #sessions = new Map<bigint, Session>();
  readonly #admitted = new Map<number, Admitted>();
  #nextTicket = 1;
  readonly #lastReqSeq = new Map<bigint, bigint>();

  constructor(context: SessionContext) {
    this.#c = context;
  }

  /** Handshakes in flight (of one consumer VM, or all). */
  pendingCount(vmId?: number): number {
    let n = 0;
    for (const s of this.#sessions.values())
      if (vmId === undefined || s.channel.consumerVm === vmId) n++;
    for (const a of this.#admitted.values()) if (vmId === undefined || a.linkVm === vmId) n++;
    return n;
  }

  /** Window bytes the consumer `vmId` holds in handshakes in flight. */
  bytesHeld(vmId: number): bigint {
    let n = 0n;
    for (const s of this.#sessions.values())
      if (s.channel.consumerVm === vmId) n += s.channel.window.length;
    for (const a of this.#admitted.values()) if (a.linkVm === vmId) n += a.offer.windowLength;
    return n;
  }

  /**
   * The answer to a `reserve-window` effect: the window (undefined when the region or the
   * channel table is full). Must come before the next event, as hostd answers at once.
   */
  windowReserved(ticket: number, window: Window | undefined, shortage?: string): BrokerEffect[] {
    const a = this.#admitted.get(ticket);
    if (a === undefined) return [];
    this.#admitted.delete(ticket);
    if (window === undefined) {
      const e = new HandshakeFailure(
        'noSpace',
        shortage ?? 'the region has no free window of that size',
      );
      return this.reject(a.linkVm, 0n, a.request.reqSeq, e);
    }
    return this.#offerToProvider(a, window);
  }

  /** Aborts the handshakes past their deadline (window freed, both sides told). */
  expire(): BrokerEffect[] {
    const now = this.#c.nowMs();
    const out: BrokerEffect[] = [];
    for (const s of [...this.#sessions.values()]) {
      if (now >= s.deadlineMs) out.push(...this.#abort(s, 'timeout', 'handshake deadline passed'));
    }
    return out;
  }

  /** Aborts every handshake `vmId` takes part in. */
  abortOf(vmId: number): BrokerEffect[] {
    const out: BrokerEffect[] = [];
    for (const s of [...this.#sessions.values()]) {
      if (s.channel.consumerVm === vmId || s.channel.providerVm === vmId) {
        out.push(...this.#abort(s, 'peerAbort', `VM ${vmId} is gone`));
      }
    }
    return out;
  }

  #verify(
    sig: Uint8Array,
    label: Parameters<typeof signatureInput>[0],
    th: Uint8Array,
    key: Uint8Array,
  ): boolean {
    this.#c.stats.signatureVerifications++;
    return this.#c.crypto.ed25519Verify(sig, signatureInput(label, th), key);
  }

  /**
   * M1: cheapest checks first (the rate was charged in `receive`) — decode, certificate
   * lookup, link binding, rights, freshness, provider, caps — and only then the Ed25519
   * verification (docs/security.md); then a window is asked for.
   */
  request(linkVm: number, m1: HandshakeMessage): BrokerEffect[] {
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
      if (e instanceof HandshakeFailure) return this.reject(linkVm, 0n, req.reqSeq, e);
      throw e;
    }
  }

  /**
   * With link-bound certificates, the certificate a message names must be the one enrolled on
   * the sender's current link (M1 for the consumer, M3 for the provider), not an earlier one.
   */
  #ensureLinkEnrolment(linkVm: number, certHash: Uint8Array, message: 'M1' | 'M3'): void {
    if (this.#c.linkBoundCertificates !== true) return;
    const enrolled = this.#c.enrolled(linkVm);
    ensure(
      enrolled !== undefined && equalConstantTime(enrolled, certHash),
      'certificate',
      `the certificate in ${message} is not the one enrolled on the link of VM ${linkVm}${enrolled === undefined ? ' (enrol first)' : ''}`,
    );
  }

  /** Every check of an M1 (throws a HandshakeFailure naming the first that fails). */
  #admit(linkVm: number, m1: HandshakeMessage, req: RequestBody): Admitted {
    const { ca } = this.#c;
    const limits = this.#c.limitsOf(linkVm);
    const found = failAs('certificate', () => ca.lookup(req.certHashC));
    ensure(found !== undefined, 'certificate', 'unknown or expired consumer certificate');
    const certC = found.body;
    this.#ensureLinkEnrolment(linkVm, req.certHashC, 'M1');
    ensure(
      certC.vmId === linkVm,
      'linkMismatch',
      `certificate of VM ${certC.vmId} presented on the link of VM ${linkVm}`,
    );
    ensure(
      mayRequestRight(certC.rights, req.service, req.instance),
      'notAuthorized',
      `certificate may not request service 0x${req.service.toString(16)} instance ${req.instance}`,
    );
    const last = this.#lastReqSeq.get(certC.serial);
    ensure(
      last === undefined || req.reqSeq > last,
      'replay',
      `req_seq ${req.reqSeq} is not above ${last}`,
    );
    const svc = this.#c.offered(req.service, req.instance);
    ensure(svc !== undefined, 'noProvider', 'nobody offers this service instance');
    ensure(
      svc.major === req.major,
      'version',
      `major ${req.major} requested, ${svc.major} offered`,
    );
    ensure(
      MODE_RANK[req.mode] >= MODE_RANK[svc.minMode],
      'mode',
      `mode ${req.mode} is below the minimum ${svc.minMode}`,
    );
    ensure(
      this.pendingCount(linkVm) < limits.pendingPerVm,
      'tooManyPending',
      `VM ${linkVm} has ${limits.pendingPerVm} handshakes in flight`,
    );
    const held = this.#c.bytesHeld(linkVm);
    ensure(
      held + svc.windowLength <= limits.windowBytesPerVm,
      'noSpace',
      `VM ${linkVm} holds ${held} window bytes; one more channel of ${svc.windowLength} would pass its window quota of ${limits.windowBytesPerVm} (vms[].limits.windowBytes in services.yaml)`,
    );
    ensure(
      this.#verify(m1.sig, SignatureLabel.m1, this.#c.minter.th1(m1.body), certC.publicKey),
      'signature',
      'consumer signature on M1 does not verify',
    );
    return { linkVm, m1, request: req, certC, certificate: found.cert, offer: svc };
  }

  /** M2: the admitted request, its window and channel id, signed, to the provider. */
  #offerToProvider(a: Admitted, window: Window): BrokerEffect[] {
    const { ca } = this.#c;
    const { linkVm, m1, request: req, offer: svc } = a;
    const channelId = this.#c.minter.channelId();
    let channel: BrokerChannel = {
      channelId,
      consumerVm: linkVm,
      providerVm: svc.providerVm,
      service: req.service,
      instance: req.instance,
      major: req.major,
      mode: req.mode,
      window,
      consumerSerial: this.#c.minter.serial(linkVm),
      providerSerial: this.#c.minter.serial(svc.providerVm),
    };
    const vector = this.#c.doorbellVector(linkVm, svc.providerVm);
    if (vector !== undefined) channel = { ...channel, doorbellVector: vector };
    const m2Body = encodeOfferBody({
      channelId,
      epoch: ca.epoch,
      cVm: linkVm,
      pVm: svc.providerVm,
      // a device channel's window is at its place in the channel's own memory (§10)
      windowOffset: this.#c.minter.grantedWindowOffset(channel),
      windowLength: window.length,
      mode: req.mode,
      nonceH: this.#c.random(32),
      certC: a.certificate,
      m1,
    });
    const { th: th2, bytes: m2 } = this.#c.minter.signed(
      MessageType.m2,
      this.#c.minter.th1(m1.body),
      m2Body,
    );
    this.#sessions.set(channelId, {
      state: 'awaiting-accept',
      channel,
      request: req,
      certC: a.certC,
      th2,
      m2Body,
      deadlineMs: this.#c.nowMs() + this.#c.pendingTimeoutMs,
    });
    return [
      { kind: 'channel-pending', channel },
      { kind: 'send', vmId: svc.providerVm, bytes: m2 },
    ];
  }

  accept(linkVm: number, m3: HandshakeMessage): BrokerEffect[] {
    const { crypto, ca } = this.#c;
    const accept = failAs('malformed', () => decodeAcceptBody(m3.body));
    const s = this.#sessions.get(accept.channelId);
    ensure(
      s !== undefined && s.state === 'awaiting-accept',
      'unexpected',
      `no offer pending for channel ${accept.channelId}`,
    );
    ensure(
      s.channel.providerVm === linkVm,
      'linkMismatch',
      `M3 for VM ${s.channel.providerVm} arrived from VM ${linkVm}`,
    );
    try {
      const found = failAs('certificate', () => ca.lookup(accept.certHashP));
      ensure(found !== undefined, 'certificate', 'unknown or expired provider certificate');
      const certP = found.body;
      // As for M1: a provider that enrolled again may not answer with its previous certificate.
      this.#ensureLinkEnrolment(linkVm, accept.certHashP, 'M3');
      ensure(
        certP.vmId === linkVm,
        'linkMismatch',
        `certificate of VM ${certP.vmId} on the link of VM ${linkVm}`,
      );
      ensure(
        mayOfferRight(certP.rights, s.channel.service, s.channel.instance),
        'notAuthorized',
        'provider certificate may not offer this service instance',
      );
      ensure(
        s.channel.mode === 'plain' || accept.eP.length === 32,
        'keyAgreement',
        'keyed mode without e_P',
      );
      const th3 = extendTranscript(crypto, s.th2, MessageType.m3, m3.body);
      ensure(
        this.#verify(m3.sig, SignatureLabel.m3, th3, certP.publicKey),
        'signature',
        'provider signature on M3 does not verify',
      );
      const m4 = this.#c.minter.grantConsumerMessage(s.channel, {
        th3,
        m2Body: s.m2Body,
        certP: found.cert,
        m3,
        knC: s.request.knC,
      });
      s.state = 'awaiting-finish';
      s.th3 = th3;
      s.knP = accept.knP;
      return [{ kind: 'send', vmId: s.channel.consumerVm, bytes: m4, grantFor: s.channel }];
    } catch (e) {
      if (e instanceof HandshakeFailure) return this.#abort(s, e.reason, e.message);
      throw e;
    }
  }

  finish(linkVm: number, m5: HandshakeMessage): BrokerEffect[] {
    const { crypto } = this.#c;
    const finish = failAs('malformed', () => decodeFinishBody(m5.body));
    const s = this.#sessions.get(finish.channelId);
    ensure(
      s !== undefined && s.state === 'awaiting-finish',
      'unexpected',
      `no grant pending for channel ${finish.channelId}`,
    );
    ensure(
      s.channel.consumerVm === linkVm,
      'linkMismatch',
      `M5 for VM ${s.channel.consumerVm} arrived from VM ${linkVm}`,
    );
    try {
      // A revocation between M1 and M5 (sivshm ca revoke through hostd) ends the handshake:
      // revoking tears down active channels, and this one must not become one afterwards.
      ensure(
        !this.#c.ca.isRevoked(s.certC.serial),
        'certificate',
        `consumer certificate ${s.certC.serial} was revoked during the handshake`,
      );
      const th5 = extendTranscript(crypto, s.th3!, MessageType.m5, m5.body);
      ensure(
        this.#verify(m5.sig, SignatureLabel.m5, th5, s.certC.publicKey),
        'signature',
        'consumer signature on M5 does not verify',
      );
      const m6 = this.#c.minter.grantProviderMessage(s.channel, { th5, m5, knP: s.knP! });
      const ch: BrokerChannel = { ...s.channel, knC: s.request.knC, knP: s.knP! };
      this.#sessions.delete(finish.channelId);
      this.#c.channels.activate(ch);
      this.#c.stats.established++;
      // M5 and a StopOffer (or the provider's death) travel on different links: if the offer
      // went away while the handshake finished, the new channel goes at once.
      const gone =
        this.#c.offered(ch.service, ch.instance)?.providerVm === ch.providerVm
          ? []
          : this.#c.channels.close(
              ch.channelId,
              this.#c.connected(ch.providerVm) ? 'stop-offer' : 'vm-gone',
            );
      return [
        { kind: 'channel-active', channel: ch },
        ...gone,
        { kind: 'send', vmId: ch.providerVm, bytes: m6, grantFor: ch },
      ];
    } catch (e) {
      if (e instanceof HandshakeFailure) return this.#abort(s, e.reason, e.message);
      throw e;
    }
  }

  endpointAbort(linkVm: number, msg: HandshakeMessage): BrokerEffect[] {
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
        return this.#abort(
          s,
          'peerAbort',
          `VM ${linkVm} aborted: ${abortReasonName(a.reason)} ${a.detail}`,
        );
      }
    }
    return [];
  }

  #abort(s: Session, reason: AbortReasonName, detail: string): BrokerEffect[] {
    const ch = s.channel;
    this.#sessions.delete(ch.channelId);
    this.#c.stats.aborted++;
    // After M4 the consumer may already have presented its grant and mapped the window: the
    // window must not be zeroed under it or handed to another channel (docs/security.md).
    const grantIssued = s.state === 'awaiting-finish';
    const window: BrokerEffect[] = grantIssued
      ? this.#c.channels.quarantineGranted(ch)
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

  reject(linkVm: number, channelId: bigint, reqSeq: bigint, e: HandshakeFailure): BrokerEffect[] {
    this.#c.stats.rejected++;
    return [
      { kind: 'rejected', vmId: linkVm, reason: e.reason, detail: e.message },
      { kind: 'send', vmId: linkVm, bytes: abortMessage(channelId, reqSeq, e.reason, e.message) },
    ];
  }
}
