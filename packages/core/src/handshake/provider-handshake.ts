import { certificateHash, verifyCertificate, type CertificateBody } from '../cert/certificate.js';
import { mayOfferRight, mayRequestRight } from '../cert/rights.js';
import type { CryptoBackend } from '../crypto/crypto-backend.js';
import { equalConstantTime } from '../crypto/constant-time.js';
import type { ChannelMode } from '@sivshm/abi';
import { decodeGrant } from '../grant/grant-token.js';
import { abortReasonName } from './abort-reason.js';
import { deriveChannelKeys } from './channel-keys.js';
import { abortMessage, failAs, HandshakeFailure, require } from './handshake-failure.js';
import {
  decodeAbortBody,
  decodeFinishBody,
  decodeGrantProviderBody,
  decodeHandshakeMessage,
  decodeOfferBody,
  decodeRequestBody,
  encodeAcceptBody,
  encodeHandshakeMessage,
  MessageType,
  type HandshakeMessage,
  type OfferBody,
  type RequestBody,
} from './handshake-messages.js';
import {
  MODE_RANK,
  type EndpointEffect,
  type EndpointIdentity,
  type TrustAnchors,
} from './handshake-types.js';
import {
  extendTranscript,
  initialTranscript,
  SignatureLabel,
  signatureInput,
} from './transcript.js';

/** The provider's local policy for what it offers. */
export interface ProviderPolicy {
  /** The major version offered for `service`/`instance`, or undefined if not offered here. */
  offeredMajor(service: number, instance: number): number | undefined;
  /** The minimum mode this provider accepts for `service`. */
  minMode(service: number): ChannelMode;
}

export interface ProviderHandshakesOptions {
  readonly crypto: CryptoBackend;
  readonly identity: EndpointIdentity;
  readonly trust: TrustAnchors;
  readonly policy: ProviderPolicy;
  readonly nowMs: () => bigint;
  /**
   * Opens a fresh device file for a new channel and returns its 16-byte nonce (kn_P); the runtime
   * remembers which file belongs to which channel id.
   */
  readonly deviceNonce: (channelId: bigint) => Uint8Array;
  readonly random?: (n: number) => Uint8Array;
  /** Drop a session that got no M6 this long after M3; default 2000 ms. */
  readonly timeoutMs?: bigint;
  /** Concurrent sessions kept; further offers are refused. Default 64. */
  readonly maxSessions?: number;
}

interface Session {
  readonly offer: OfferBody;
  readonly request: RequestBody;
  readonly certC: CertificateBody;
  readonly th3: Uint8Array;
  readonly knP: Uint8Array;
  readonly ephemeralSecret?: Uint8Array;
  readonly eC: Uint8Array;
  readonly deadlineMs: bigint;
  readonly peerSubject: string;
}

/**
 * The provider's side of the handshake (docs/protocol.md §6): answers each M2 OFFER with M3 ACCEPT
 * after checking hostd's signature, the consumer's certificate and rights, the consumer's own
 * signature over M1 and its own right to offer; on M6 checks the consumer's FINISH signature
 * (liveness, covers nonce_P) and returns the grant. Many sessions at once, keyed by channel id.
 * Pure: bytes in, effects out, deadlines by `tick()`.
 */
export class ProviderHandshakes {
  private readonly o: ProviderHandshakesOptions;
  private readonly random: (n: number) => Uint8Array;
  private readonly sessions = new Map<bigint, Session>();
  private brokerKey?: Uint8Array;

  constructor(options: ProviderHandshakesOptions) {
    this.o = options;
    this.random = options.random ?? ((n) => options.crypto.randomBytes(n));
  }

  /** Number of handshakes waiting for M6. */
  get pending(): number {
    return this.sessions.size;
  }

  /** Handles M2, M6 or ABORT from hostd. */
  receive(bytes: Uint8Array): EndpointEffect[] {
    let msg: HandshakeMessage;
    try {
      msg = decodeHandshakeMessage(bytes);
    } catch (e) {
      return [
        {
          kind: 'aborted',
          channelId: 0n,
          reason: 'malformed',
          detail: (e as Error).message,
          remote: false,
        },
      ];
    }
    if (msg.type === MessageType.abort) return this.onAbort(msg);
    let channelId = 0n;
    try {
      if (msg.type === MessageType.m2) {
        channelId = failAs('malformed', () => decodeOfferBody(msg.body)).channelId;
        return this.onOffer(msg);
      }
      if (msg.type === MessageType.m6) return this.onGrant(msg);
      throw new HandshakeFailure('unexpected', `provider does not accept message type ${msg.type}`);
    } catch (e) {
      if (!(e instanceof HandshakeFailure)) throw e;
      if (channelId !== 0n) this.sessions.delete(channelId);
      return [
        { kind: 'send', bytes: abortMessage(channelId, 0n, e.reason, e.message) },
        { kind: 'aborted', channelId, reason: e.reason, detail: e.message, remote: false },
      ];
    }
  }

  /** Drops sessions past their deadline. */
  tick(): EndpointEffect[] {
    const now = this.o.nowMs();
    const out: EndpointEffect[] = [];
    for (const [id, s] of this.sessions) {
      if (now >= s.deadlineMs) {
        this.sessions.delete(id);
        s.ephemeralSecret?.fill(0);
        out.push({
          kind: 'aborted',
          channelId: id,
          reason: 'timeout',
          detail: 'no M6 before the deadline',
          remote: false,
        });
      }
    }
    return out;
  }

  private verifyBroker(): Uint8Array {
    const { crypto, trust } = this.o;
    this.brokerKey ??= failAs('certificate', () =>
      verifyCertificate(crypto, trust.brokerCertificate, {
        caPublicKey: trust.caPublicKey,
        epoch: trust.epoch,
        nowMs: this.o.nowMs(),
        kind: 'broker',
      }),
    ).publicKey;
    return this.brokerKey;
  }

  private onOffer(m2: HandshakeMessage): EndpointEffect[] {
    const { crypto, identity, trust } = this.o;
    const offer = failAs('malformed', () => decodeOfferBody(m2.body));
    require(offer.m1.type === MessageType.m1, 'malformed', 'M2 does not carry an M1');
    const th1 = extendTranscript(crypto, initialTranscript(crypto), MessageType.m1, offer.m1.body);
    const th2 = extendTranscript(crypto, th1, MessageType.m2, m2.body);
    require(crypto.ed25519Verify(
      m2.sig,
      signatureInput(SignatureLabel.m2, th2),
      this.verifyBroker(),
    ), 'signature', 'hostd signature on M2 does not verify');
    require(!this.sessions.has(offer.channelId), 'replay', 'channel id already in a session');
    require(this.sessions.size <
      (this.o.maxSessions ?? 64), 'tooManyPending', 'too many pending offers');
    require(offer.pVm ===
      identity.vmId, 'signature', `M2 names provider VM ${offer.pVm}, we are ${identity.vmId}`);
    require(offer.epoch ===
      trust.epoch, 'certificate', `M2 epoch ${offer.epoch} is not ${trust.epoch}`);
    const request = failAs('malformed', () => decodeRequestBody(offer.m1.body));
    const certC = this.checkConsumer(offer, request, th1);
    this.checkOfferable(offer, request);
    return this.accept(offer, request, certC, th2);
  }

  /** The consumer's certificate verifies, is the one M1 names, may request it, and signed M1. */
  private checkConsumer(offer: OfferBody, request: RequestBody, th1: Uint8Array): CertificateBody {
    const { crypto, trust } = this.o;
    const certC = failAs('certificate', () =>
      verifyCertificate(crypto, offer.certC, {
        caPublicKey: trust.caPublicKey,
        epoch: trust.epoch,
        nowMs: this.o.nowMs(),
        kind: 'endpoint',
      }),
    );
    require(certC.vmId ===
      offer.cVm, 'certificate', `consumer certificate is for VM ${certC.vmId}, not ${offer.cVm}`);
    require(equalConstantTime(
      request.certHashC,
      certificateHash(crypto, offer.certC),
    ), 'certificate', 'M1 names another consumer certificate');
    require(mayRequestRight(
      certC.rights,
      request.service,
      request.instance,
    ), 'notAuthorized', `consumer certificate may not request service 0x${request.service.toString(16)} instance ${request.instance}`);
    require(crypto.ed25519Verify(
      offer.m1.sig,
      signatureInput(SignatureLabel.m1, th1),
      certC.publicKey,
    ), 'signature', 'consumer signature on M1 does not verify');
    return certC;
  }

  /** We may and do offer this instance, at the requested major, in a mode the service allows. */
  private checkOfferable(offer: OfferBody, request: RequestBody): void {
    const { policy } = this.o;
    require(mayOfferRight(
      failAs('certificate', () => this.ownCertificate()).rights,
      request.service,
      request.instance,
    ), 'notAuthorized', 'our certificate may not offer this service');
    const major = policy.offeredMajor(request.service, request.instance);
    require(major !== undefined, 'noProvider', 'service instance is not offered here');
    require(major ===
      request.major, 'version', `major ${request.major} requested, ${major} offered`);
    require(offer.mode ===
      request.mode, 'mode', `M2 mode ${offer.mode} differs from M1 mode ${request.mode}`);
    const minMode = policy.minMode(request.service);
    require(MODE_RANK[request.mode] >=
      MODE_RANK[
        minMode
      ], 'mode', `mode ${request.mode} is below this service's minimum ${minMode}`);
  }

  /** Everything checked: signs M3 and keeps the session until M6. */
  private accept(
    offer: OfferBody,
    request: RequestBody,
    certC: CertificateBody,
    th2: Uint8Array,
  ): EndpointEffect[] {
    const { crypto, identity } = this.o;
    const nonceP = this.random(32);
    let ephemeralSecret: Uint8Array | undefined;
    let eP: Uint8Array = new Uint8Array(0);
    if (request.mode !== 'plain') {
      require(request.eC.length === 32, 'keyAgreement', 'keyed mode without e_C');
      ephemeralSecret = this.random(32);
      eP = crypto.x25519PublicKey(ephemeralSecret);
    }
    const knP = this.o.deviceNonce(offer.channelId);
    const m3Body = encodeAcceptBody({
      channelId: offer.channelId,
      nonceP,
      eP,
      knP,
      certHashP: certificateHash(crypto, identity.certificate),
    });
    const th3 = extendTranscript(crypto, th2, MessageType.m3, m3Body);
    const m3 = encodeHandshakeMessage({
      type: MessageType.m3,
      body: m3Body,
      sig: crypto.ed25519Sign(identity.secretKey, signatureInput(SignatureLabel.m3, th3)),
    });
    this.sessions.set(offer.channelId, {
      offer,
      request,
      certC,
      th3,
      knP,
      ...(ephemeralSecret === undefined ? {} : { ephemeralSecret }),
      eC: request.eC,
      deadlineMs: this.o.nowMs() + (this.o.timeoutMs ?? 2000n),
      peerSubject: certC.subject,
    });
    return [{ kind: 'send', bytes: m3 }];
  }

  private onGrant(m6: HandshakeMessage): EndpointEffect[] {
    const { crypto, identity, trust } = this.o;
    const body = failAs('malformed', () => decodeGrantProviderBody(m6.body));
    const m5 = body.m5;
    require(m5.type === MessageType.m5, 'malformed', 'M6 does not carry an M5');
    const finish = failAs('malformed', () => decodeFinishBody(m5.body));
    const s = this.sessions.get(finish.channelId);
    require(s !== undefined, 'unexpected', `no pending session for channel ${finish.channelId}`);
    const th5 = extendTranscript(crypto, s.th3, MessageType.m5, m5.body);
    const th6 = extendTranscript(crypto, th5, MessageType.m6, m6.body);
    require(crypto.ed25519Verify(
      m6.sig,
      signatureInput(SignatureLabel.m6, th6),
      this.verifyBroker(),
    ), 'signature', 'hostd signature on M6 does not verify');
    require(crypto.ed25519Verify(
      m5.sig,
      signatureInput(SignatureLabel.m5, th5),
      s.certC.publicKey,
    ), 'signature', 'consumer signature on M5 does not verify over our transcript');
    const token = decodeGrant(body.grantToken);
    require(token.ok, 'grant', 'grant token is malformed');
    const t = token.token;
    require(t.role === 'provider' &&
      t.vmId === identity.vmId &&
      t.channelId === s.offer.channelId &&
      t.epoch === trust.epoch &&
      t.windowOffset === s.offer.windowOffset &&
      t.windowLength === s.offer.windowLength &&
      t.mode === s.request.mode &&
      equalConstantTime(t.kn, s.knP), 'grant', 'grant token does not match the offer');
    let keys;
    if (s.request.mode !== 'plain') {
      keys = failAs('keyAgreement', () =>
        deriveChannelKeys(crypto, s.ephemeralSecret!, s.eC, s.th3, s.offer.channelId),
      );
      s.ephemeralSecret!.fill(0);
    }
    this.sessions.delete(finish.channelId);
    return [
      {
        kind: 'granted',
        grant: {
          role: 'provider',
          channelId: s.offer.channelId,
          epoch: s.offer.epoch,
          consumerVm: s.offer.cVm,
          providerVm: s.offer.pVm,
          service: s.request.service,
          instance: s.request.instance,
          major: s.request.major,
          mode: s.request.mode,
          windowOffset: s.offer.windowOffset,
          windowLength: s.offer.windowLength,
          grantToken: body.grantToken,
          grantTag: body.grantTag,
          ...(keys === undefined ? {} : { keys }),
          peerSubject: s.peerSubject,
        },
      },
    ];
  }

  private onAbort(msg: HandshakeMessage): EndpointEffect[] {
    try {
      const a = decodeAbortBody(msg.body);
      const s = this.sessions.get(a.channelId);
      if (s === undefined) return [];
      this.sessions.delete(a.channelId);
      s.ephemeralSecret?.fill(0);
      return [
        {
          kind: 'aborted',
          channelId: a.channelId,
          reason: abortReasonName(a.reason),
          detail: a.detail,
          remote: true,
        },
      ];
    } catch {
      return [];
    }
  }

  private ownCertificate(): CertificateBody {
    const { crypto, identity, trust } = this.o;
    return verifyCertificate(crypto, identity.certificate, {
      caPublicKey: trust.caPublicKey,
      epoch: trust.epoch,
      nowMs: this.o.nowMs(),
      kind: 'endpoint',
    });
  }
}
