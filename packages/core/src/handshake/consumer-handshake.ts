import {
  certificateHash,
  verifyCertificate,
  type Certificate,
  type CertificateBody,
} from '../cert/certificate.js';
import { mayOfferRight } from '../cert/rights.js';
import type { CryptoBackend } from '../crypto/crypto-backend.js';
import { equalConstantTime } from '../crypto/constant-time.js';
import type { ChannelMode } from '@sivshm/abi';
import { decodeGrant } from '../grant/grant-token.js';
import { abortReasonName } from './abort-reason.js';
import { deriveChannelKeys } from './channel-keys.js';
import { abortMessage, failAs, HandshakeFailure, require } from './handshake-failure.js';
import {
  decodeAbortBody,
  decodeAcceptBody,
  decodeGrantConsumerBody,
  decodeHandshakeMessage,
  decodeOfferBody,
  encodeFinishBody,
  encodeHandshakeMessage,
  encodeRequestBody,
  MessageType,
  sameMessage,
  type HandshakeMessage,
  type OfferBody,
} from './handshake-messages.js';
import type { EndpointEffect, EndpointIdentity, TrustAnchors } from './handshake-types.js';
import {
  extendTranscript,
  initialTranscript,
  SignatureLabel,
  signatureInput,
} from './transcript.js';

/** What the consumer asks for (M1). */
export interface ChannelRequest {
  readonly service: number;
  readonly instance: number;
  readonly major: number;
  readonly mode: ChannelMode;
  /** Monotonic per certificate; the runtime keeps the counter. */
  readonly reqSeq: bigint;
  /** Nonce of the consumer's open device file (docs/protocol.md §7). */
  readonly kn: Uint8Array;
}

export interface ConsumerHandshakeOptions {
  readonly crypto: CryptoBackend;
  readonly identity: EndpointIdentity;
  readonly trust: TrustAnchors;
  /** Injected clock, unix milliseconds. */
  readonly nowMs: () => bigint;
  /** Source of nonces and ephemeral keys; injectable for protocol vectors. */
  readonly random?: (n: number) => Uint8Array;
  /** Give up (and report `timeout`) this long after M1; default 2000 ms. */
  readonly timeoutMs?: bigint;
}

type State = 'idle' | 'awaiting-grant' | 'done' | 'failed';

/**
 * The consumer's side of the handshake (docs/protocol.md §6) as a pure state machine: `start()`
 * gives M1; `receive(M4 or ABORT)` checks everything the consumer must check and returns the
 * effects (`granted`, then `send` M5; or `aborted`); `tick()` enforces the deadline. No I/O,
 * no timers: the runtime moves bytes and calls `tick` from its own clock.
 */
export class ConsumerHandshake {
  private state: State = 'idle';
  private readonly o: ConsumerHandshakeOptions;
  private readonly random: (n: number) => Uint8Array;
  private req?: ChannelRequest;
  private m1?: HandshakeMessage;
  private th1?: Uint8Array;
  private ephemeralSecret?: Uint8Array;
  private deadlineMs = 0n;
  private brokerKey?: Uint8Array;

  constructor(options: ConsumerHandshakeOptions) {
    this.o = options;
    this.random = options.random ?? ((n) => options.crypto.randomBytes(n));
  }

  /** Current state, for status displays and tests. */
  get status(): State {
    return this.state;
  }

  /** Builds and signs M1; returns its bytes. Throws if called twice. */
  start(req: ChannelRequest): Uint8Array {
    if (this.state !== 'idle') throw new HandshakeFailure('unexpected', 'start() called twice');
    const { crypto, identity, trust } = this.o;
    this.brokerKey = verifyCertificate(crypto, trust.brokerCertificate, {
      caPublicKey: trust.caPublicKey,
      epoch: trust.epoch,
      nowMs: this.o.nowMs(),
      kind: 'broker',
    }).publicKey;
    const nonceC = this.random(32);
    let eC: Uint8Array = new Uint8Array(0);
    if (req.mode !== 'plain') {
      this.ephemeralSecret = this.random(32);
      eC = crypto.x25519PublicKey(this.ephemeralSecret);
    }
    const body = encodeRequestBody({
      version: 1,
      service: req.service,
      instance: req.instance,
      major: req.major,
      mode: req.mode,
      reqSeq: req.reqSeq,
      nonceC,
      eC,
      knC: req.kn,
      certHashC: certificateHash(crypto, identity.certificate),
    });
    this.th1 = extendTranscript(crypto, initialTranscript(crypto), MessageType.m1, body);
    const sig = crypto.ed25519Sign(identity.secretKey, signatureInput(SignatureLabel.m1, this.th1));
    this.m1 = { type: MessageType.m1, body, sig };
    this.req = req;
    this.state = 'awaiting-grant';
    this.deadlineMs = this.o.nowMs() + (this.o.timeoutMs ?? 2000n);
    return encodeHandshakeMessage(this.m1);
  }

  /** Handles a message from hostd (M4 or ABORT). */
  receive(bytes: Uint8Array): EndpointEffect[] {
    if (this.state !== 'awaiting-grant') {
      return []; // late or duplicate message after the outcome: nothing to do, nothing to leak
    }
    let msg: HandshakeMessage;
    try {
      msg = decodeHandshakeMessage(bytes);
    } catch (e) {
      return this.fail(new HandshakeFailure('malformed', (e as Error).message));
    }
    if (msg.type === MessageType.abort) {
      let detail = 'abort';
      let reason: ReturnType<typeof abortReasonName> = 'unknown';
      try {
        const a = decodeAbortBody(msg.body);
        if (a.reqSeq !== this.req?.reqSeq) return []; // an abort for another request
        reason = abortReasonName(a.reason);
        detail = a.detail;
      } catch {
        detail = 'malformed abort';
      }
      this.state = 'failed';
      return [{ kind: 'aborted', channelId: 0n, reason, detail, remote: true }];
    }
    try {
      return this.onGrant(msg);
    } catch (e) {
      if (e instanceof HandshakeFailure) return this.fail(e);
      throw e;
    }
  }

  /** Enforces the deadline; returns the abort effects when it passed. */
  tick(): EndpointEffect[] {
    if (this.state === 'awaiting-grant' && this.o.nowMs() >= this.deadlineMs) {
      return this.fail(new HandshakeFailure('timeout', 'no grant from hostd before the deadline'));
    }
    return [];
  }

  private onGrant(m4: HandshakeMessage): EndpointEffect[] {
    const { crypto } = this.o;
    const req = this.req!;
    require(m4.type === MessageType.m4, 'unexpected', `expected M4, got type ${m4.type}`);
    const body = failAs('malformed', () => decodeGrantConsumerBody(m4.body));
    const m2 = failAs('malformed', () => decodeOfferBody(body.m2Body));
    // Transcript recomputed from OUR M1: if hostd or anyone changed M1, every signature fails.
    require(sameMessage(m2.m1, this.m1!), 'signature', 'M2 does not carry our M1');
    const th2 = extendTranscript(crypto, this.th1!, MessageType.m2, body.m2Body);
    const m3 = body.m3;
    require(m3.type === MessageType.m3, 'malformed', 'M4 does not carry an M3');
    const th3 = extendTranscript(crypto, th2, MessageType.m3, m3.body);
    const th4 = extendTranscript(crypto, th3, MessageType.m4, m4.body);
    require(crypto.ed25519Verify(
      m4.sig,
      signatureInput(SignatureLabel.m4, th4),
      this.brokerKey!,
    ), 'signature', 'hostd signature on M4 does not verify');
    this.checkOffer(m2, req);
    const certP = this.checkProvider(body.certP, m2, req);
    const accept = failAs('malformed', () => decodeAcceptBody(m3.body));
    require(accept.channelId === m2.channelId, 'signature', 'M3 is for another channel');
    require(equalConstantTime(
      accept.certHashP,
      certificateHash(crypto, body.certP),
    ), 'certificate', 'M3 names another provider certificate');
    require(crypto.ed25519Verify(
      m3.sig,
      signatureInput(SignatureLabel.m3, th3),
      certP.publicKey,
    ), 'signature', 'provider signature on M3 does not verify over our transcript');
    this.checkGrantToken(body.grantToken, m2, req);
    let keys;
    if (req.mode !== 'plain') {
      require(accept.eP.length === 32, 'keyAgreement', 'keyed mode without e_P');
      keys = failAs('keyAgreement', () =>
        deriveChannelKeys(crypto, this.ephemeralSecret!, accept.eP, th3, m2.channelId),
      );
      this.ephemeralSecret!.fill(0);
    }
    const m5Body = encodeFinishBody({ channelId: m2.channelId });
    const th5 = extendTranscript(crypto, th3, MessageType.m5, m5Body);
    const m5 = encodeHandshakeMessage({
      type: MessageType.m5,
      body: m5Body,
      sig: crypto.ed25519Sign(this.o.identity.secretKey, signatureInput(SignatureLabel.m5, th5)),
    });
    this.state = 'done';
    return [
      {
        kind: 'granted',
        grant: {
          role: 'consumer',
          channelId: m2.channelId,
          epoch: m2.epoch,
          consumerVm: m2.cVm,
          providerVm: m2.pVm,
          service: req.service,
          instance: req.instance,
          major: req.major,
          mode: req.mode,
          windowOffset: m2.windowOffset,
          windowLength: m2.windowLength,
          grantToken: body.grantToken,
          grantTag: body.grantTag,
          ...(keys === undefined ? {} : { keys }),
          peerSubject: certP.subject,
        },
      },
      { kind: 'send', bytes: m5 },
    ];
  }

  /** M2 (signed by hostd, checked above) names us, this epoch and the mode we asked for. */
  private checkOffer(m2: OfferBody, req: ChannelRequest): void {
    const { identity, trust } = this.o;
    require(m2.cVm ===
      identity.vmId, 'signature', `M2 names consumer VM ${m2.cVm}, we are ${identity.vmId}`);
    require(m2.epoch === trust.epoch, 'certificate', `M2 epoch ${m2.epoch} is not ${trust.epoch}`);
    require(m2.mode === req.mode, 'mode', `mode ${m2.mode} is not the requested ${req.mode}`);
  }

  /** The provider's certificate verifies, is for M2's provider VM and may offer what we asked. */
  private checkProvider(
    certBytes: Certificate,
    m2: OfferBody,
    req: ChannelRequest,
  ): CertificateBody {
    const { crypto, trust } = this.o;
    const certP: CertificateBody = failAs('certificate', () =>
      verifyCertificate(crypto, certBytes, {
        caPublicKey: trust.caPublicKey,
        epoch: trust.epoch,
        nowMs: this.o.nowMs(),
        kind: 'endpoint',
      }),
    );
    require(certP.vmId ===
      m2.pVm, 'certificate', `provider certificate is for VM ${certP.vmId}, not ${m2.pVm}`);
    require(mayOfferRight(
      certP.rights,
      req.service,
      req.instance,
    ), 'notAuthorized', `provider certificate may not offer service 0x${req.service.toString(16)} instance ${req.instance}`);
    return certP;
  }

  /** Our grant token is for us, this channel, epoch, window, mode and our open device file. */
  private checkGrantToken(bytes: Uint8Array, m2: OfferBody, req: ChannelRequest): void {
    const token = decodeGrant(bytes);
    require(token.ok, 'grant', 'grant token is malformed');
    const t = token.token;
    require(t.role === 'consumer' &&
      t.vmId === this.o.identity.vmId &&
      t.channelId === m2.channelId &&
      t.epoch === this.o.trust.epoch &&
      t.windowOffset === m2.windowOffset &&
      t.windowLength === m2.windowLength &&
      t.mode === req.mode &&
      equalConstantTime(t.kn, req.kn), 'grant', 'grant token does not match the offer');
  }

  private fail(f: HandshakeFailure): EndpointEffect[] {
    this.state = 'failed';
    this.ephemeralSecret?.fill(0);
    return [
      { kind: 'send', bytes: abortMessage(0n, this.req?.reqSeq ?? 0n, f.reason, f.message) },
      { kind: 'aborted', channelId: 0n, reason: f.reason, detail: f.message, remote: false },
    ];
  }
}
