// Threats 1–9 and 18–19 (and 48) of docs/security.md, at the state-machine level. Each test
// names its case and fails if the defence it exercises is removed.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { certificateHash } from '../cert/certificate.js';
import { nodeBackend } from '../crypto/node-backend.js';
import { packageRoot } from '../util/package-root.js';
import {
  aborted,
  CONSUMER_VM,
  granted,
  HandshakeWorld,
  PROVIDER_VM,
  ROGUE_VM,
  runHandshake,
  SERVICE,
  type Hop,
} from '../../test/helpers/handshake-world.js';
import {
  decodeAcceptBody,
  decodeGrantConsumerBody,
  decodeHandshakeMessage,
  decodeOfferBody,
  decodeRequestBody,
  encodeAcceptBody,
  encodeGrantConsumerBody,
  encodeHandshakeMessage,
  encodeOfferBody,
  encodeRequestBody,
  MessageType,
  type HandshakeMessage,
} from './handshake-messages.js';
import {
  extendTranscript,
  initialTranscript,
  SignatureLabel,
  signatureInput,
} from './transcript.js';

const crypto = nodeBackend;

function th(...steps: Array<[number, Uint8Array]>): Uint8Array {
  let t = initialTranscript(crypto);
  for (const [type, body] of steps) t = extendTranscript(crypto, t, type, body);
  return t;
}

/** Re-signs a tampered M2 with the broker key, as a compromised forwarder holding it would. */
function resignM2(w: HandshakeWorld, body: Uint8Array): Uint8Array {
  const offer = decodeOfferBody(body);
  const t = th([MessageType.m1, offer.m1.body], [MessageType.m2, body]);
  return encodeHandshakeMessage({
    type: MessageType.m2,
    body,
    sig: crypto.ed25519Sign(w.brokerSecretKey, signatureInput(SignatureLabel.m2, t)),
  });
}

/** Re-signs a tampered M4 with the broker key so only the consumer's own checks remain. */
function resignM4(w: HandshakeWorld, body: Uint8Array): Uint8Array {
  const g = decodeGrantConsumerBody(body);
  const offer = decodeOfferBody(g.m2Body);
  const t = th(
    [MessageType.m1, offer.m1.body],
    [MessageType.m2, g.m2Body],
    [MessageType.m3, g.m3.body],
    [MessageType.m4, body],
  );
  return encodeHandshakeMessage({
    type: MessageType.m4,
    body,
    sig: crypto.ed25519Sign(w.brokerSecretKey, signatureInput(SignatureLabel.m4, t)),
  });
}

function onHop(hop: Hop, type: number, f: (m: HandshakeMessage) => Uint8Array) {
  return (h: Hop, _t: number, bytes: Uint8Array): Uint8Array | undefined => {
    if (h !== hop) return undefined;
    const m = decodeHandshakeMessage(bytes);
    return m.type === type ? f(m) : undefined;
  };
}

function brokerRejection(effects: ReturnType<typeof runHandshake>['brokerEffects']) {
  const r = effects.find((e) => e.kind === 'rejected' || e.kind === 'channel-aborted');
  return r?.kind === 'rejected' || r?.kind === 'channel-aborted' ? r : undefined;
}

describe('handshake under attack (docs/security.md §8)', () => {
  describe('A. relay, MITM, identity misbinding', () => {
    it('case 1: should reject M1 re-sent by VM R on its own link, without reserving a window', () => {
      const w = new HandshakeWorld({ crypto });
      const r = runHandshake(w, { linkVm: ROGUE_VM });
      expect(brokerRejection(r.brokerEffects)?.reason).to.equal('linkMismatch');
      expect(w.reserved).to.have.length(0);
      expect(granted(r.providerEffects)).to.equal(undefined);
    });

    it("case 2: should never give C a grant from a session R opened with C's nonce_C", () => {
      const w = new HandshakeWorld({ crypto });
      // C's M1, as R would have captured it.
      const cRun = w.newConsumer(w.consumer);
      const cM1 = decodeHandshakeMessage(
        cRun.start({
          service: SERVICE,
          instance: 1,
          major: 1,
          mode: 'plain',
          reqSeq: 1n,
          kn: new Uint8Array(16).fill(1),
        }),
      );
      const cReq = decodeRequestBody(cM1.body);
      // R runs its own handshake on its own link, reusing C's nonce_C.
      let first = true;
      const r = runHandshake(w, {
        consumer: w.rogue,
        random: (n) => {
          if (first && n === 32) {
            first = false;
            return cReq.nonceC;
          }
          return w.random(n);
        },
      });
      expect(decodeRequestBody(decodeHandshakeMessage(r.wire[0]!.bytes).body).nonceC).to.deep.equal(
        cReq.nonceC,
      );
      // P knows it talks to R, not C (no misbinding) ...
      expect(granted(r.providerEffects)?.consumerVm).to.equal(ROGUE_VM);
      expect(granted(r.providerEffects)?.peerSubject).to.equal('rogue');
      // ... and R's M4, forwarded to C, is refused by C.
      const m4 = r.wire.find(
        (m) => m.hop === 'H->C' && decodeHandshakeMessage(m.bytes).type === MessageType.m4,
      )!;
      const effects = cRun.receive(m4.bytes);
      expect(granted(effects)).to.equal(undefined);
      expect(aborted(effects)?.reason).to.equal('signature');
    });

    it('case 3: should make C reject an M4 in which a forwarder swapped e_P or nonce_P', () => {
      for (const field of ['eP', 'nonceP'] as const) {
        const w = new HandshakeWorld({ crypto });
        const r = runHandshake(w, {
          mode: 'aead',
          tamper: onHop('H->C', MessageType.m4, (m) => {
            const g = decodeGrantConsumerBody(m.body);
            const a = decodeAcceptBody(g.m3.body);
            const swapped = encodeAcceptBody({
              ...a,
              [field]: crypto.x25519PublicKey(new Uint8Array(32).fill(9)),
            });
            return resignM4(w, encodeGrantConsumerBody({ ...g, m3: { ...g.m3, body: swapped } }));
          }),
        });
        expect(granted(r.consumerEffects), field).to.equal(undefined);
        expect(aborted(r.consumerEffects)?.detail).to.match(/provider signature on M3/);
      }
    });

    it('case 4: should make P reject an M2 whose service or instance was changed in transit', () => {
      for (const change of [{ instance: 2 }, { service: 0x1235 }]) {
        const w = new HandshakeWorld({ crypto });
        const r = runHandshake(w, {
          tamper: onHop('H->P', MessageType.m2, (m) => {
            const o = decodeOfferBody(m.body);
            const req = decodeRequestBody(o.m1.body);
            const m1 = { ...o.m1, body: encodeRequestBody({ ...req, ...change }) };
            return resignM2(w, encodeOfferBody({ ...o, m1 }));
          }),
        });
        expect(granted(r.providerEffects)).to.equal(undefined);
        const a = aborted(r.providerEffects);
        expect(a?.reason, JSON.stringify(change)).to.be.oneOf(['signature', 'notAuthorized']);
        if ('instance' in change) expect(a?.detail).to.match(/consumer signature on M1/);
      }
    });

    it('case 5: should reject sig_P3 from a session with C1 injected into a session with C2', () => {
      const w = new HandshakeWorld({ crypto });
      const first = runHandshake(w, { consumer: w.consumer });
      const oldM3 = decodeHandshakeMessage(first.wire.find((m) => m.hop === 'P->H')!.bytes);
      // At hostd: the old M3, re-targeted at the new channel id, keeps its old signature.
      const second = runHandshake(w, {
        consumer: w.consumer2,
        tamper: onHop('P->H', MessageType.m3, (m) => {
          const a = decodeAcceptBody(m.body);
          const old = decodeAcceptBody(oldM3.body);
          return encodeHandshakeMessage({
            type: MessageType.m3,
            body: encodeAcceptBody({ ...old, channelId: a.channelId }),
            sig: oldM3.sig,
          });
        }),
      });
      expect(brokerRejection(second.brokerEffects)?.reason).to.equal('signature');
      expect(granted(second.consumerEffects)).to.equal(undefined);
      // At the consumer: the old M3 inside a re-signed M4.
      const third = runHandshake(w, {
        consumer: w.consumer2,
        tamper: onHop('H->C', MessageType.m4, (m) => {
          const g = decodeGrantConsumerBody(m.body);
          return resignM4(w, encodeGrantConsumerBody({ ...g, m3: { ...g.m3, sig: oldM3.sig } }));
        }),
      });
      expect(aborted(third.consumerEffects)?.detail).to.match(/provider signature on M3/);
    });

    it("case 6: should reject C's own sig_C1 reflected back as the provider's accept", () => {
      const w = new HandshakeWorld({ crypto });
      const r = runHandshake(w, {
        tamper: onHop('H->C', MessageType.m4, (m) => {
          const g = decodeGrantConsumerBody(m.body);
          const o = decodeOfferBody(g.m2Body);
          return resignM4(w, encodeGrantConsumerBody({ ...g, m3: { ...g.m3, sig: o.m1.sig } }));
        }),
      });
      expect(granted(r.consumerEffects)).to.equal(undefined);
      expect(aborted(r.consumerEffects)?.reason).to.equal('signature');
      // At hostd, an M3 whose signature is anything but P's over TH3 is refused as well.
      const w2 = new HandshakeWorld({ crypto });
      const r2 = runHandshake(w2, {
        tamper: onHop(
          'P->H',
          MessageType.m3,
          (m) => m.body && encodeHandshakeMessage({ ...m, sig: new Uint8Array(64) }),
        ),
      });
      expect(brokerRejection(r2.brokerEffects)?.reason).to.equal('signature');
    });

    it('case 7: should reject a valid M1 signature presented as FINISH', () => {
      const w = new HandshakeWorld({ crypto });
      let m1Sig: Uint8Array | undefined;
      const r = runHandshake(w, {
        tamper: (hop, _t, bytes) => {
          const m = decodeHandshakeMessage(bytes);
          if (hop === 'C->H' && m.type === MessageType.m1) m1Sig = m.sig;
          if (hop === 'C->H' && m.type === MessageType.m5)
            return encodeHandshakeMessage({ ...m, sig: m1Sig! });
          return undefined;
        },
      });
      expect(brokerRejection(r.brokerEffects)?.detail).to.match(/M5 does not verify/);
      expect(granted(r.providerEffects)).to.equal(undefined);
      expect(w.broker.activeChannels()).to.have.length(0);
    });

    it('case 8: should make both ends reject a downgrade of mode aead→plain', () => {
      // In M2 (re-signed by a forwarder with the broker key): P refuses.
      const w = new HandshakeWorld({ crypto });
      const r = runHandshake(w, {
        mode: 'aead',
        tamper: onHop('H->P', MessageType.m2, (m) =>
          resignM2(w, encodeOfferBody({ ...decodeOfferBody(m.body), mode: 'plain' })),
        ),
      });
      expect(aborted(r.providerEffects)?.reason).to.equal('mode');
      // In M4 (re-signed): C refuses.
      const w2 = new HandshakeWorld({ crypto });
      const r2 = runHandshake(w2, {
        mode: 'aead',
        tamper: onHop('H->C', MessageType.m4, (m) => {
          const g = decodeGrantConsumerBody(m.body);
          const m2Body = encodeOfferBody({ ...decodeOfferBody(g.m2Body), mode: 'plain' });
          return resignM4(w2, encodeGrantConsumerBody({ ...g, m2Body }));
        }),
      });
      expect(granted(r2.consumerEffects)).to.equal(undefined);
      expect(aborted(r2.consumerEffects)?.reason).to.be.oneOf(['mode', 'signature']);
      // A request below the service minimum: hostd refuses, and P refuses if hostd does not.
      const w3 = new HandshakeWorld({ crypto, minMode: 'aead' });
      expect(brokerRejection(runHandshake(w3, { mode: 'plain' }).brokerEffects)?.reason).to.equal(
        'mode',
      );
      const w4 = new HandshakeWorld({ crypto, minMode: 'plain', providerMinMode: 'aead' });
      expect(aborted(runHandshake(w4, { mode: 'plain' }).providerEffects)?.reason).to.equal('mode');
    });

    it('case 9: should refuse a provider whose certificate lacks the OFFER right, at hostd and at C', () => {
      const w = new HandshakeWorld({ crypto, providerRights: { offers: [], requests: [] } });
      // The provider machine itself refuses to accept (it checks its own right) ...
      const r = runHandshake(w);
      expect(granted(r.consumerEffects)).to.equal(undefined);
      expect(aborted(r.providerEffects)?.reason).to.equal('notAuthorized');
      // ... hostd refuses an M3 from it ...
      const w2 = new HandshakeWorld({ crypto });
      const unentitled = w2.identity(PROVIDER_VM, 'no-offer', { offers: [], requests: [] });
      const r2 = runHandshake(w2, {
        tamper: onHop('P->H', MessageType.m3, (m) => {
          const a = decodeAcceptBody(m.body);
          const body = encodeAcceptBody({
            ...a,
            certHashP: certificateHash(crypto, unentitled.certificate),
          });
          return encodeHandshakeMessage({ type: MessageType.m3, body, sig: m.sig });
        }),
      });
      expect(brokerRejection(r2.brokerEffects)?.reason).to.equal('notAuthorized');
      // ... and C refuses it in M4 even when hostd's check is bypassed (M4 forged by the harness).
      const w3 = new HandshakeWorld({ crypto });
      const noRight = w3.identity(PROVIDER_VM, 'no-offer', { offers: [], requests: [] });
      const r3 = runHandshake(w3, {
        tamper: onHop('H->C', MessageType.m4, (m) => {
          const g = decodeGrantConsumerBody(m.body);
          const o = decodeOfferBody(g.m2Body);
          const a = decodeAcceptBody(g.m3.body);
          const m3Body = encodeAcceptBody({
            ...a,
            certHashP: certificateHash(crypto, noRight.certificate),
          });
          const t3 = th(
            [MessageType.m1, o.m1.body],
            [MessageType.m2, g.m2Body],
            [MessageType.m3, m3Body],
          );
          const m3 = {
            type: MessageType.m3,
            body: m3Body,
            sig: crypto.ed25519Sign(noRight.secretKey, signatureInput(SignatureLabel.m3, t3)),
          };
          return resignM4(w3, encodeGrantConsumerBody({ ...g, certP: noRight.certificate, m3 }));
        }),
      });
      expect(aborted(r3.consumerEffects)?.reason).to.equal('notAuthorized');
    });
  });

  describe('C. replay and freshness', () => {
    it('case 18: should reject a replayed M1 (same req_seq) and one with a lower req_seq', () => {
      const w = new HandshakeWorld({ crypto });
      const first = runHandshake(w, { reqSeq: 5n });
      expect(granted(first.consumerEffects)).to.not.equal(undefined);
      const m1 = first.wire[0]!.bytes;
      const replay = w.broker.receive(CONSUMER_VM, m1);
      expect(replay.find((e) => e.kind === 'rejected')).to.deep.include({ reason: 'replay' });
      const lower = runHandshake(w, { reqSeq: 4n });
      expect(brokerRejection(lower.brokerEffects)?.reason).to.equal('replay');
      expect(w.broker.activeChannels()).to.have.length(1);
      expect(w.reserved).to.have.length(1);
    });

    it('case 19: should reject M3 or M5 of an earlier, completed session replayed into a new one', () => {
      const w = new HandshakeWorld({ crypto });
      const first = runHandshake(w);
      const oldM3 = first.wire.find((m) => m.hop === 'P->H')!.bytes;
      const oldM5 = first.wire.filter((m) => m.hop === 'C->H')[1]!.bytes;
      // Replayed after completion: the session is no longer waiting for them.
      expect(w.broker.receive(PROVIDER_VM, oldM3)[0]).to.deep.include({
        kind: 'rejected',
        reason: 'unexpected',
      });
      expect(w.broker.receive(CONSUMER_VM, oldM5)[0]).to.deep.include({
        kind: 'rejected',
        reason: 'unexpected',
      });
      // Replayed into a new session (re-targeted at its channel id): signatures do not verify.
      const second = runHandshake(w, {
        tamper: (hop, _t, bytes) => {
          const m = decodeHandshakeMessage(bytes);
          if (hop === 'C->H' && m.type === MessageType.m5) {
            const old = decodeHandshakeMessage(oldM5);
            return encodeHandshakeMessage({ ...old, body: m.body });
          }
          return undefined;
        },
      });
      expect(brokerRejection(second.brokerEffects)?.reason).to.equal('signature');
      expect(w.broker.activeChannels()).to.have.length(1);
    });
  });

  describe('G. crypto self-tests', () => {
    it('case 48: should abort a keyed handshake for every Wycheproof zero-shared-secret e_P', () => {
      const file = join(
        packageRoot(import.meta.url),
        'test',
        'fixtures',
        'vectors',
        'wycheproof',
        'x25519_test.json',
      );
      const data = JSON.parse(readFileSync(file, 'utf8')) as {
        testGroups: Array<{ tests: Array<{ public: string; flags: string[] }> }>;
      };
      const zeroKeys = data.testGroups
        .flatMap((g) => g.tests)
        .filter((t) => t.flags.includes('ZeroSharedSecret'))
        .map((t) => Uint8Array.from(Buffer.from(t.public, 'hex')));
      expect(zeroKeys).to.have.length(31);
      for (const eP of zeroKeys) {
        const w = new HandshakeWorld({ crypto });
        // A malicious provider sends a small-order e_P and signs it properly (over the TH2 of
        // the M2 it received).
        let m2: HandshakeMessage | undefined;
        const m3 = onHop('P->H', MessageType.m3, (m) => {
          const body = encodeAcceptBody({ ...decodeAcceptBody(m.body), eP });
          const m1Body = decodeOfferBody(m2!.body).m1.body;
          const th1 = extendTranscript(crypto, initialTranscript(crypto), MessageType.m1, m1Body);
          const th2 = extendTranscript(crypto, th1, MessageType.m2, m2!.body);
          const t3 = extendTranscript(crypto, th2, MessageType.m3, body);
          return encodeHandshakeMessage({
            type: MessageType.m3,
            body,
            sig: crypto.ed25519Sign(w.provider.secretKey, signatureInput(SignatureLabel.m3, t3)),
          });
        });
        const r = runHandshake(w, {
          mode: 'aead',
          tamper: (hop, type, bytes) => {
            if (hop === 'H->P' && type === MessageType.m2) m2 = decodeHandshakeMessage(bytes);
            return m3(hop, type, bytes);
          },
        });
        expect(granted(r.consumerEffects)).to.equal(undefined);
        expect(aborted(r.consumerEffects)?.reason).to.equal('keyAgreement');
      }
    });
  });
});
