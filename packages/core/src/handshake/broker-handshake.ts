import type { CertificateAuthority } from '../cert/certificate-authority.js';
import type { Certificate, CertificateBody } from '../cert/certificate.js';
import { mayOfferRight, mayRequestRight } from '../cert/rights.js';
import type { CryptoBackend } from '../crypto/crypto-backend.js';
import { GrantPerm, type ChannelMode, type GrantRoleName } from '../grant/grant-layout.js';
import { signGrant } from '../grant/grant-verify.js';
import { equalConstantTime } from '../crypto/constant-time.js';
import { TokenBucket } from '../util/token-bucket.js';
import { abortReasonName, type AbortReasonName } from './abort-reason.js';
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
import {
  peekMessageType,
  peekRequestSeq,
  rateLimitedAbort,
  rateLimitedAbortTemplate,
} from './wire-peek.js';
import {
  extendTranscript,
  initialTranscript,
  SignatureLabel,
  signatureInput,
} from './transcript.js';

/** Where a service instance is offered right now (from the SD registry). */
export interface OfferedService {
  readonly providerVm: number;
  readonly major: number;
  readonly minMode: ChannelMode;
  /** Window length for a channel of this service (page multiple, valid window layout). */
  readonly windowLength: bigint;
}

/** A region window reserved for a channel. */
export interface Window {
  readonly offset: bigint;
  readonly length: bigint;
}

/** What the broker needs from the rest of hostd; all synchronous. */
export interface BrokerEnvironment {
  /** The provider currently offering `service`/`instance`, if any. */
  offered(service: number, instance: number): OfferedService | undefined;
  /** Reserves a window (PENDING); undefined when the region is full. */
  reserveWindow(length: bigint, consumerVm: number, providerVm: number): Window | undefined;
  /**
   * Gives a window back. With `grantIssued` the consumer holds (or may hold) a valid grant for
   * it, so the environment must not zero or reuse the window: it revokes the consumer's grant
   * and keeps the window quarantined until the consumer's device acknowledges the REVOKE or
   * the VM goes away. Without it the window was never handed out and can be zeroed and freed.
   */
  releaseWindow(window: Window, release: WindowRelease): void;
  /** The grant key K_vm of a VM. */
  grantKey(vmId: number): Uint8Array;
  /**
   * SHA-256 of the certificate enrolled on the VM's current control link, if the environment
   * binds certificates to links: an M1 must then name exactly that certificate (not one of an
   * earlier link of the same VM). Undefined result = nothing enrolled yet → refused.
   */
  enrolledCertificate?(vmId: number): Uint8Array | undefined;
}

/** Why {@link BrokerEnvironment.releaseWindow} is called. */
export interface WindowRelease {
  readonly channelId: bigint;
  /** The consumer VM, which holds the grant when `grantIssued`. */
  readonly consumerVm: number;
  /** `aborted`: the handshake failed; `closed`: an active channel was torn down by the caller. */
  readonly cause: 'aborted' | 'closed';
  /** M4 (the consumer's grant) went out for this window. */
  readonly grantIssued: boolean;
}

/** Per-VM limits (security-anchors §2.8). */
export interface BrokerLimits {
  /** Sustained M1 rate per VM. Default 20/s. */
  readonly requestsPerSecond: number;
  /** Burst of M1 per VM. Default 5. */
  readonly burst: number;
  /** Half-open handshakes per consumer VM. Default 8. */
  readonly pendingPerVm: number;
  /** Window bytes a consumer VM may hold (pending + active). Default 16 MiB. */
  readonly windowBytesPerVm: bigint;
}

export interface BrokerOptions {
  readonly crypto: CryptoBackend;
  readonly ca: CertificateAuthority;
  readonly brokerSecretKey: Uint8Array;
  readonly env: BrokerEnvironment;
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
}

/** A channel as the broker sees it; handed to hostd's lifecycle in effects. */
export interface BrokerChannel {
  readonly channelId: bigint;
  readonly consumerVm: number;
  readonly providerVm: number;
  readonly service: number;
  readonly instance: number;
  readonly major: number;
  readonly mode: ChannelMode;
  readonly window: Window;
  readonly consumerSerial: bigint;
  readonly providerSerial: bigint;
}

export type BrokerEffect =
  | {
      readonly kind: 'send';
      readonly vmId: number;
      readonly bytes: Uint8Array;
      /**
       * Set when `bytes` carries a grant (M4 to the consumer, M6 to the provider): the channel
       * it is for, so the caller can add what the VM needs next to it (the peer's doorbell).
       */
      readonly grantFor?: BrokerChannel;
    }
  | { readonly kind: 'channel-pending'; readonly channel: BrokerChannel }
  | { readonly kind: 'channel-active'; readonly channel: BrokerChannel }
  | {
      readonly kind: 'channel-aborted';
      readonly channel: BrokerChannel;
      readonly reason: AbortReasonName | 'unknown';
      readonly detail: string;
      /** M4 had gone out: the window went to quarantine, not back to the free list. */
      readonly grantIssued: boolean;
    }
  | {
      readonly kind: 'rejected';
      readonly vmId: number;
      readonly reason: AbortReasonName;
      readonly detail: string;
    }
  | {
      /**
       * A VM went over its handshake budget (`started`) or is back under it (`ended`, with the
       * messages refused or dropped in between). One pair per burst, so a flood is logged
       * twice rather than once per message.
       */
      readonly kind: 'over-budget';
      readonly vmId: number;
      readonly state: 'started' | 'ended';
      readonly refused: number;
      readonly detail: string;
    };

/** A VM's admission state: its limits, its token bucket and the burst it is in, if any. */
interface VmBudget {
  readonly limits: BrokerLimits;
  readonly bucket: TokenBucket;
  /** Messages refused since the VM went over budget; undefined while it is under. */
  refusedInBurst: number | undefined;
  /** When the last message was refused for the budget. */
  lastRefusedMs: bigint;
  /** The refusal's detail text, and its ABORT (req_seq 0) that each refusal is spliced from. */
  readonly detail: string;
  readonly abortTemplate: Uint8Array;
}

type SessionState = 'awaiting-accept' | 'awaiting-finish';

interface Session {
  state: SessionState;
  readonly channel: BrokerChannel;
  readonly m1: HandshakeMessage;
  readonly request: RequestBody;
  readonly certC: CertificateBody;
  readonly th2: Uint8Array;
  readonly m2Body: Uint8Array;
  readonly deadlineMs: bigint;
  th3?: Uint8Array;
  knP?: Uint8Array;
}

/** Counters for status output and for the DoS tests (case 43 counts verifications). */
export interface BrokerStats {
  signatureVerifications: number;
  /** Messages refused (M1) or dropped (anything else) because their VM was over budget. */
  rateLimited: number;
  /** Messages charged to a VM's budget that were not valid M1s (garbage, wrong type, stray). */
  malformedCharged: number;
  rejected: number;
  established: number;
  aborted: number;
}

/**
 * hostd's broker side of the handshake (PROTOCOL.md §3): takes each message with the VM of the
 * control link it arrived on (never from its content), runs the cheap checks before any
 * signature verification, reserves a window only after the requester's signature verified,
 * signs M2/M4/M6, builds the grant tokens, and enforces deadlines, per-VM rate limits, caps on
 * pending handshakes and window quotas. Pure: bytes in, effects out, time from `nowMs`.
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
  private readonly o: BrokerOptions;
  private readonly defaults: BrokerLimits;
  private readonly random: (n: number) => Uint8Array;
  private readonly sessions = new Map<bigint, Session>();
  private readonly active = new Map<bigint, BrokerChannel>();
  private readonly budgets = new Map<number, VmBudget>();
  private readonly lastReqSeq = new Map<bigint, bigint>();
  private readonly usedChannelIds = new Set<bigint>();
  private readonly nextSerial = new Map<number, bigint>();

  constructor(options: BrokerOptions) {
    this.o = options;
    this.random = options.random ?? ((n) => options.crypto.randomBytes(n));
    this.pendingTimeoutMs = options.pendingTimeoutMs ?? 1000n;
    this.defaults = {
      requestsPerSecond: options.limits?.requestsPerSecond ?? 20,
      burst: options.limits?.burst ?? 5,
      pendingPerVm: options.limits?.pendingPerVm ?? 8,
      windowBytesPerVm: options.limits?.windowBytesPerVm ?? 16n * 1024n * 1024n,
    };
  }

  /** The limits the broker applies to `vmId`. */
  limitsOf(vmId: number): BrokerLimits {
    return this.budget(vmId).limits;
  }

  /** Channels that completed the handshake and are not torn down. */
  activeChannels(): BrokerChannel[] {
    return [...this.active.values()];
  }

  /** Handshakes in flight. */
  pendingCount(vmId?: number): number {
    let n = 0;
    for (const s of this.sessions.values())
      if (vmId === undefined || s.channel.consumerVm === vmId) n++;
    return n;
  }

  /** Handles one handshake message that arrived on the control link of `linkVm`. */
  receive(linkVm: number, bytes: Uint8Array): BrokerEffect[] {
    // M1, hostd-only types and garbage pay a token before anything is decoded (security-
    // anchors §2.8): a VM must not keep the broker decoding, verifying or logging at line rate
    // for free. M3, M5 and ABORT belong to handshakes in flight and are charged only when
    // they turn out to be strays.
    const peeked = peekMessageType(bytes);
    if (peeked === MessageType.m3 || peeked === MessageType.m5 || peeked === MessageType.abort) {
      return this.dispatch(linkVm, bytes, false);
    }
    return this.charged(
      linkVm,
      () => (peeked === MessageType.m1 ? peekRequestSeq(bytes) : 0n),
      () => this.dispatch(linkVm, bytes, true),
    );
  }

  private dispatch(linkVm: number, bytes: Uint8Array, charged: boolean): BrokerEffect[] {
    let msg: HandshakeMessage;
    try {
      msg = decodeHandshakeMessage(bytes);
    } catch (e) {
      const failure = new HandshakeFailure('malformed', (e as Error).message);
      return this.guard(
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
      return this.charged(
        linkVm,
        () => 0n,
        () => this.dispatch(linkVm, bytes, true),
      );
    }
    switch (msg.type) {
      case MessageType.m1:
        return this.guard(linkVm, () => this.onRequest(linkVm, msg));
      case MessageType.m3:
        return this.guard(linkVm, () => this.onAccept(linkVm, msg), true);
      case MessageType.m5:
        return this.guard(linkVm, () => this.onFinish(linkVm, msg), true);
      case MessageType.abort:
        return this.onEndpointAbort(linkVm, msg);
      default:
        return this.reject(
          linkVm,
          0n,
          0n,
          new HandshakeFailure('unexpected', `VMs may not send type ${msg.type}`),
        );
    }
  }

  /** Aborts handshakes past their deadline (window freed, both sides told). */
  tick(): BrokerEffect[] {
    const now = this.o.nowMs();
    const out: BrokerEffect[] = [];
    for (const s of [...this.sessions.values()]) {
      if (now >= s.deadlineMs)
        out.push(...this.abortSession(s, 'timeout', 'handshake deadline passed'));
    }
    return out;
  }

  /**
   * Tears down an active channel (close, StopOffer, TTL, VM death): forgets it and releases its
   * window. Revocation tokens and zeroing are hostd's channel lifecycle; this frees the quota.
   */
  closeChannel(channelId: bigint): BrokerChannel | undefined {
    const ch = this.active.get(channelId);
    if (ch === undefined) return undefined;
    this.active.delete(channelId);
    this.o.env.releaseWindow(ch.window, {
      channelId,
      consumerVm: ch.consumerVm,
      cause: 'closed',
      grantIssued: true,
    });
    return ch;
  }

  /** Aborts every pending handshake and forgets every channel in which `vmId` takes part. */
  forgetVm(vmId: number): BrokerEffect[] {
    const out: BrokerEffect[] = [];
    for (const s of [...this.sessions.values()]) {
      if (s.channel.consumerVm === vmId || s.channel.providerVm === vmId) {
        out.push(...this.abortSession(s, 'peerAbort', `VM ${vmId} is gone`));
      }
    }
    this.budgets.delete(vmId);
    return out;
  }

  /**
   * Runs `f` if `vmId` has a token left; otherwise refuses with a `rateLimited` ABORT (for an M1
   * addressed by its req_seq, read by a bounded wire scan, so the consumer learns why), and
   * reports the first refusal of a burst once as `over-budget`. Nothing of a refused message is
   * decoded, looked up or verified.
   */
  private charged(vmId: number, reqSeq: () => bigint, f: () => BrokerEffect[]): BrokerEffect[] {
    const b = this.budget(vmId);
    if (b.bucket.take()) {
      const out: BrokerEffect[] = [];
      const ended = this.burstEnded(vmId, b);
      if (ended !== undefined) out.push(ended);
      out.push(...f());
      return out;
    }
    this.stats.rateLimited++;
    this.stats.rejected++;
    const out: BrokerEffect[] = [];
    b.lastRefusedMs = this.o.nowMs();
    if (b.refusedInBurst === undefined) {
      b.refusedInBurst = 0;
      out.push({ kind: 'over-budget', vmId, state: 'started', refused: 0, detail: b.detail });
    }
    b.refusedInBurst++;
    // The refusal is built by hand (no protobufjs): this path runs at the flooder's rate.
    out.push(
      { kind: 'rejected', vmId, reason: 'rateLimited', detail: b.detail },
      { kind: 'send', vmId, bytes: rateLimitedAbort(reqSeq(), b.abortTemplate) },
    );
    return out;
  }

  /**
   * Ends a burst once the VM has sent nothing refusable for as long as its bucket takes to
   * refill (at least a second): a flood that keeps going is admitted a token now and then
   * and refused the rest, and must stay one burst rather than a pair of log lines per token.
   */
  private burstEnded(vmId: number, b: VmBudget): BrokerEffect | undefined {
    if (b.refusedInBurst === undefined) return undefined;
    const refillMs = BigInt(
      Math.max(1000, Math.ceil((b.limits.burst / b.limits.requestsPerSecond) * 1000)),
    );
    if (this.o.nowMs() - b.lastRefusedMs < refillMs) return undefined;
    const refused = b.refusedInBurst;
    b.refusedInBurst = undefined;
    return {
      kind: 'over-budget',
      vmId,
      state: 'ended',
      refused,
      detail: `VM ${vmId} is back under its handshake budget after ${refused} refused messages`,
    };
  }

  /**
   * Runs a handler. With `chargeFailures` (M3, M5) a message that fails before it reaches a
   * handshake in flight — unknown channel, wrong link, undecodable body — costs its VM a token
   * like garbage does; over budget it is dropped without an answer.
   */
  private guard(linkVm: number, f: () => BrokerEffect[], chargeFailures = false): BrokerEffect[] {
    try {
      return f();
    } catch (e) {
      if (!(e instanceof HandshakeFailure)) throw e;
      if (!chargeFailures) return this.reject(linkVm, 0n, 0n, e);
      this.stats.malformedCharged++;
      const b = this.budget(linkVm);
      if (b.bucket.take()) {
        const ended = this.burstEnded(linkVm, b);
        return [...(ended === undefined ? [] : [ended]), ...this.reject(linkVm, 0n, 0n, e)];
      }
      this.stats.rateLimited++;
      b.lastRefusedMs = this.o.nowMs();
      if (b.refusedInBurst !== undefined) {
        b.refusedInBurst++;
        return [];
      }
      b.refusedInBurst = 1;
      return [
        { kind: 'over-budget', vmId: linkVm, state: 'started', refused: 0, detail: b.detail },
      ];
    }
  }

  private budget(vmId: number): VmBudget {
    let b = this.budgets.get(vmId);
    if (b === undefined) {
      const own = this.o.limitsOf?.(vmId);
      const limits: BrokerLimits = {
        requestsPerSecond: own?.requestsPerSecond ?? this.defaults.requestsPerSecond,
        burst: own?.burst ?? this.defaults.burst,
        pendingPerVm: own?.pendingPerVm ?? this.defaults.pendingPerVm,
        windowBytesPerVm: own?.windowBytesPerVm ?? this.defaults.windowBytesPerVm,
      };
      const detail = `VM ${vmId} is over its handshake budget of ${limits.requestsPerSecond}/s (burst ${limits.burst})`;
      b = {
        limits,
        bucket: new TokenBucket(limits.requestsPerSecond, limits.burst, this.o.nowMs),
        refusedInBurst: undefined,
        lastRefusedMs: 0n,
        detail,
        abortTemplate: rateLimitedAbortTemplate(detail),
      };
      this.budgets.set(vmId, b);
    }
    return b;
  }

  private verify(
    sig: Uint8Array,
    label: Parameters<typeof signatureInput>[0],
    th: Uint8Array,
    key: Uint8Array,
  ): boolean {
    this.stats.signatureVerifications++;
    return this.o.crypto.ed25519Verify(sig, signatureInput(label, th), key);
  }

  private onRequest(linkVm: number, m1: HandshakeMessage): BrokerEffect[] {
    const { crypto, ca, env } = this.o;
    // Cheapest first (the rate was charged in `receive`): decode, certificate lookup, link
    // binding, rights, freshness, provider, caps — and only then the Ed25519 verification
    // (security-anchors §2.8).
    const limits = this.budget(linkVm).limits;
    const req = failAs('malformed', () => decodeRequestBody(m1.body));
    const fail = (reason: AbortReasonName, detail: string): never => {
      throw Object.assign(new HandshakeFailure(reason, detail), { reqSeq: req.reqSeq });
    };
    try {
      const found = failAs('certificate', () => ca.lookup(req.certHashC));
      if (found === undefined) fail('certificate', 'unknown or expired consumer certificate');
      const certC = found!.body;
      if (env.enrolledCertificate !== undefined) {
        const enrolled = env.enrolledCertificate(linkVm);
        if (enrolled === undefined || !equalConstantTime(enrolled, req.certHashC)) {
          fail(
            'certificate',
            `the certificate in M1 is not the one enrolled on the link of VM ${linkVm}${enrolled === undefined ? ' (enrol first)' : ''}`,
          );
        }
      }
      if (certC.vmId !== linkVm) {
        fail(
          'linkMismatch',
          `certificate of VM ${certC.vmId} presented on the link of VM ${linkVm}`,
        );
      }
      if (!mayRequestRight(certC.rights, req.service, req.instance)) {
        fail(
          'notAuthorized',
          `certificate may not request service 0x${req.service.toString(16)} instance ${req.instance}`,
        );
      }
      const last = this.lastReqSeq.get(certC.serial);
      if (last !== undefined && req.reqSeq <= last)
        fail('replay', `req_seq ${req.reqSeq} is not above ${last}`);
      const offered = env.offered(req.service, req.instance);
      if (offered === undefined) fail('noProvider', 'nobody offers this service instance');
      const svc = offered!;
      if (svc.major !== req.major)
        fail('version', `major ${req.major} requested, ${svc.major} offered`);
      if (MODE_RANK[req.mode] < MODE_RANK[svc.minMode])
        fail('mode', `mode ${req.mode} is below the minimum ${svc.minMode}`);
      if (this.pendingCount(linkVm) >= limits.pendingPerVm)
        fail('tooManyPending', `VM ${linkVm} has ${limits.pendingPerVm} handshakes in flight`);
      const held = this.bytesHeld(linkVm);
      if (held + svc.windowLength > limits.windowBytesPerVm) {
        fail(
          'noSpace',
          `VM ${linkVm} holds ${held} window bytes; one more channel would pass its quota of ${limits.windowBytesPerVm}`,
        );
      }
      if (!this.verify(m1.sig, SignatureLabel.m1, this.th1(m1.body), certC.publicKey)) {
        fail('signature', 'consumer signature on M1 does not verify');
      }
      this.lastReqSeq.set(certC.serial, req.reqSeq);
      const window = env.reserveWindow(svc.windowLength, linkVm, svc.providerVm);
      if (window === undefined) fail('noSpace', 'the region has no free window of that size');
      const channelId = this.newChannelId();
      const channel: BrokerChannel = {
        channelId,
        consumerVm: linkVm,
        providerVm: svc.providerVm,
        service: req.service,
        instance: req.instance,
        major: req.major,
        mode: req.mode,
        window: window!,
        consumerSerial: this.serial(linkVm),
        providerSerial: this.serial(svc.providerVm),
      };
      const m2Body = encodeOfferBody({
        channelId,
        epoch: ca.epoch,
        cVm: linkVm,
        pVm: svc.providerVm,
        windowOffset: window!.offset,
        windowLength: window!.length,
        mode: req.mode,
        nonceH: this.random(32),
        certC: found!.cert,
        m1,
      });
      const th2 = extendTranscript(crypto, this.th1(m1.body), MessageType.m2, m2Body);
      const m2 = encodeHandshakeMessage({
        type: MessageType.m2,
        body: m2Body,
        sig: this.sign(SignatureLabel.m2, th2),
      });
      this.sessions.set(channelId, {
        state: 'awaiting-accept',
        channel,
        m1,
        request: req,
        certC,
        th2,
        m2Body,
        deadlineMs: this.o.nowMs() + this.pendingTimeoutMs,
      });
      return [
        { kind: 'channel-pending', channel },
        { kind: 'send', vmId: svc.providerVm, bytes: m2 },
      ];
    } catch (e) {
      if (e instanceof HandshakeFailure) return this.reject(linkVm, 0n, req.reqSeq, e);
      throw e;
    }
  }

  private onAccept(linkVm: number, m3: HandshakeMessage): BrokerEffect[] {
    const { crypto, ca } = this.o;
    const accept = failAs('malformed', () => decodeAcceptBody(m3.body));
    const s = this.sessions.get(accept.channelId);
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
      require(this.verify(
        m3.sig,
        SignatureLabel.m3,
        th3,
        certP.publicKey,
      ), 'signature', 'provider signature on M3 does not verify');
      const grant = this.grant(s.channel, 'consumer', s.request.knC, s.channel.consumerSerial);
      const m4Body = encodeGrantConsumerBody({
        m2Body: s.m2Body,
        certP: found.cert as Certificate,
        m3,
        grantToken: grant.token,
        grantTag: grant.tag,
      });
      const th4 = extendTranscript(crypto, th3, MessageType.m4, m4Body);
      const m4 = encodeHandshakeMessage({
        type: MessageType.m4,
        body: m4Body,
        sig: this.sign(SignatureLabel.m4, th4),
      });
      s.state = 'awaiting-finish';
      s.th3 = th3;
      s.knP = accept.knP;
      return [{ kind: 'send', vmId: s.channel.consumerVm, bytes: m4, grantFor: s.channel }];
    } catch (e) {
      if (e instanceof HandshakeFailure) return this.abortSession(s, e.reason, e.message);
      throw e;
    }
  }

  private onFinish(linkVm: number, m5: HandshakeMessage): BrokerEffect[] {
    const { crypto } = this.o;
    const finish = failAs('malformed', () => decodeFinishBody(m5.body));
    const s = this.sessions.get(finish.channelId);
    require(s !== undefined &&
      s.state ===
        'awaiting-finish', 'unexpected', `no grant pending for channel ${finish.channelId}`);
    require(s.channel.consumerVm ===
      linkVm, 'linkMismatch', `M5 for VM ${s.channel.consumerVm} arrived from VM ${linkVm}`);
    try {
      const th5 = extendTranscript(crypto, s.th3!, MessageType.m5, m5.body);
      require(this.verify(
        m5.sig,
        SignatureLabel.m5,
        th5,
        s.certC.publicKey,
      ), 'signature', 'consumer signature on M5 does not verify');
      const grant = this.grant(s.channel, 'provider', s.knP!, s.channel.providerSerial);
      const m6Body = encodeGrantProviderBody({ m5, grantToken: grant.token, grantTag: grant.tag });
      const th6 = extendTranscript(crypto, th5, MessageType.m6, m6Body);
      const m6 = encodeHandshakeMessage({
        type: MessageType.m6,
        body: m6Body,
        sig: this.sign(SignatureLabel.m6, th6),
      });
      this.sessions.delete(finish.channelId);
      this.active.set(finish.channelId, s.channel);
      this.stats.established++;
      return [
        { kind: 'channel-active', channel: s.channel },
        { kind: 'send', vmId: s.channel.providerVm, bytes: m6, grantFor: s.channel },
      ];
    } catch (e) {
      if (e instanceof HandshakeFailure) return this.abortSession(s, e.reason, e.message);
      throw e;
    }
  }

  private onEndpointAbort(linkVm: number, msg: HandshakeMessage): BrokerEffect[] {
    let a;
    try {
      a = decodeAbortBody(msg.body);
    } catch {
      return [];
    }
    for (const s of this.sessions.values()) {
      const byChannel = a.channelId !== 0n && s.channel.channelId === a.channelId;
      const byRequest =
        a.channelId === 0n && s.channel.consumerVm === linkVm && s.request.reqSeq === a.reqSeq;
      const party = s.channel.consumerVm === linkVm || s.channel.providerVm === linkVm;
      if (party && (byChannel || byRequest)) {
        return this.abortSession(
          s,
          'peerAbort',
          `VM ${linkVm} aborted: ${abortReasonName(a.reason)} ${a.detail}`,
        );
      }
    }
    return [];
  }

  private abortSession(s: Session, reason: AbortReasonName, detail: string): BrokerEffect[] {
    this.sessions.delete(s.channel.channelId);
    // After M4 the consumer may already have presented its grant and mapped the window: the
    // window must not be zeroed under it or handed to another channel (security-anchors §2.7).
    const grantIssued = s.state === 'awaiting-finish';
    this.o.env.releaseWindow(s.channel.window, {
      channelId: s.channel.channelId,
      consumerVm: s.channel.consumerVm,
      cause: 'aborted',
      grantIssued,
    });
    this.stats.aborted++;
    const msg = (vm: number): BrokerEffect => ({
      kind: 'send',
      vmId: vm,
      bytes: abortMessage(
        s.channel.channelId,
        vm === s.channel.consumerVm ? s.request.reqSeq : 0n,
        reason,
        detail,
      ),
    });
    return [
      { kind: 'channel-aborted', channel: s.channel, reason, detail, grantIssued },
      msg(s.channel.consumerVm),
      msg(s.channel.providerVm),
    ];
  }

  private reject(
    linkVm: number,
    channelId: bigint,
    reqSeq: bigint,
    e: HandshakeFailure,
  ): BrokerEffect[] {
    this.stats.rejected++;
    const seq = (e as HandshakeFailure & { reqSeq?: bigint }).reqSeq ?? reqSeq;
    return [
      { kind: 'rejected', vmId: linkVm, reason: e.reason, detail: e.message },
      { kind: 'send', vmId: linkVm, bytes: abortMessage(channelId, seq, e.reason, e.message) },
    ];
  }

  private th1(m1Body: Uint8Array): Uint8Array {
    const { crypto } = this.o;
    return extendTranscript(crypto, initialTranscript(crypto), MessageType.m1, m1Body);
  }

  private sign(label: Parameters<typeof signatureInput>[0], th: Uint8Array): Uint8Array {
    return this.o.crypto.ed25519Sign(this.o.brokerSecretKey, signatureInput(label, th));
  }

  private grant(ch: BrokerChannel, role: GrantRoleName, kn: Uint8Array, serial: bigint) {
    const vm = role === 'consumer' ? ch.consumerVm : ch.providerVm;
    return signGrant(this.o.crypto, this.o.env.grantKey(vm), {
      role,
      perms: GrantPerm.map,
      epoch: this.o.ca.epoch,
      grantSerial: serial,
      vmId: vm,
      channelId: ch.channelId,
      windowOffset: ch.window.offset,
      windowLength: ch.window.length,
      kn,
      notAfterNs: (this.o.nowMs() + (this.o.grantLifetimeMs ?? 10_000n)) * 1_000_000n,
      mode: ch.mode,
    });
  }

  private serial(vmId: number): bigint {
    const s = this.nextSerial.get(vmId) ?? 1n;
    this.nextSerial.set(vmId, s + 1n);
    return s;
  }

  private newChannelId(): bigint {
    for (;;) {
      const b = this.random(8);
      const id = new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
      if (id !== 0n && !this.usedChannelIds.has(id)) {
        this.usedChannelIds.add(id);
        return id;
      }
    }
  }

  private bytesHeld(vmId: number): bigint {
    let n = 0n;
    for (const s of this.sessions.values())
      if (s.channel.consumerVm === vmId) n += s.channel.window.length;
    for (const c of this.active.values()) if (c.consumerVm === vmId) n += c.window.length;
    return n;
  }
}
