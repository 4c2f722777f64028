// The broker rules hostd used to re-implement around the broker: window release after M4,
// per-VM limits, the link-bound certificate, and metering of malformed handshake traffic.
import { expect } from 'chai';
import { Container } from 'inversify';
import { join } from 'node:path';
import { certificateHash, decodeCertificateBody } from '../cert/certificate.js';
import { loadConfig } from '../config/load-config.js';
import { nodeBackend } from '../crypto/node-backend.js';
import { coreModule } from '../di/core-module.js';
import { CoreTokens } from '../di/core-tokens.js';
import { packageRoot } from '../util/package-root.js';
import {
  aborted,
  CONSUMER_VM,
  CONSUMER2_VM,
  granted,
  HandshakeWorld,
  MAJOR,
  PROVIDER_VM,
  SERVICE,
  runHandshake,
  WINDOW_LENGTH,
} from '../../test/helpers/handshake-world.js';
import type { BrokerEffect } from './broker-types.js';
import {
  decodeHandshakeMessage,
  encodeHandshakeMessage,
  MessageType,
} from './handshake-messages.js';

const crypto = nodeBackend;

const overBudget = (effects: readonly BrokerEffect[]) =>
  effects.filter(
    (e): e is Extract<BrokerEffect, { kind: 'over-budget' }> => e.kind === 'over-budget',
  );

describe('BrokerHandshakes rules', () => {
  describe('window release', () => {
    it('should say grantIssued when a handshake aborts after M4, so the window is quarantined', () => {
      const w = new HandshakeWorld({ crypto });
      // The consumer's M5 arrives with a broken signature: the broker aborts after M4 went out.
      const r = runHandshake(w, {
        tamper: (hop, type, bytes) => {
          if (hop !== 'C->H' || type !== MessageType.m5) return bytes;
          const m = decodeHandshakeMessage(bytes);
          const sig = Uint8Array.from(m.sig);
          sig[0]! ^= 1;
          return encodeHandshakeMessage({ ...m, sig });
        },
      });
      const abort = r.brokerEffects.find((e) => e.kind === 'channel-aborted');
      expect(abort).to.deep.include({ kind: 'channel-aborted', grantIssued: true });
      expect(w.releases).to.have.length(1);
      expect(w.releases[0]).to.deep.include({
        cause: 'aborted',
        grantIssued: true,
        consumerVm: CONSUMER_VM,
      });
    });

    it('should not say grantIssued for an abort before M4 (the window was never handed out)', () => {
      const w = new HandshakeWorld({ crypto });
      w.newConsumer();
      const r = runHandshake(w, {
        tamper: (hop, type, bytes) => {
          if (hop !== 'P->H' || type !== MessageType.m3) return bytes;
          const m = decodeHandshakeMessage(bytes);
          return encodeHandshakeMessage({ ...m, sig: new Uint8Array(64) });
        },
      });
      expect(aborted(r.consumerEffects)?.reason).to.equal('signature');
      expect(w.releases).to.have.length(1);
      expect(w.releases[0]).to.deep.include({ cause: 'aborted', grantIssued: false });
    });

    it('should release an active channel as closed, once', () => {
      const w = new HandshakeWorld({ crypto });
      expect(granted(runHandshake(w).consumerEffects)).to.not.equal(undefined);
      const id = w.broker.activeChannels()[0]!.channelId;
      w.route(w.broker.closeChannel(id));
      w.route(w.broker.closeChannel(id));
      expect(w.releases).to.have.length(1);
      expect(w.releases[0]).to.deep.include({ channelId: id, cause: 'closed' });
    });
  });

  describe('offers', () => {
    it('should close at once a channel whose offer went away while its M5 was in flight', () => {
      const w = new HandshakeWorld({ crypto });
      w.broker.vmConnected(PROVIDER_VM);
      const r = runHandshake(w, {
        tamper: (hop, type) => {
          // M5 and the StopOffer travel on different links: the StopOffer wins the race.
          if (hop === 'C->H' && type === MessageType.m5) {
            expect(w.broker.withdraw(PROVIDER_VM, 0x1234, 1, 'stop-offer')).to.deep.equal([]);
          }
          return undefined;
        },
      });
      const kinds = r.brokerEffects.map((e) =>
        e.kind === 'send' || e.kind === 'revoke' || e.kind === 'peer-gone'
          ? `${e.kind}:${e.vmId}`
          : e.kind,
      );
      expect(kinds.slice(kinds.indexOf('channel-active'))).to.deep.equal([
        'channel-active',
        'channel-closing',
        'peer-gone:1',
        'revoke:1',
        'send:1',
      ]);
      expect(r.brokerEffects.find((e) => e.kind === 'channel-closing')).to.deep.include({
        reason: 'stop-offer',
      });
      expect(w.broker.activeChannels()).to.have.length(0);
    });
  });

  describe('grantFor', () => {
    it('should name the channel on the sends that carry M4 and M6, and only on those', () => {
      const w = new HandshakeWorld({ crypto });
      const r = runHandshake(w);
      const sends = r.brokerEffects.filter(
        (e): e is Extract<BrokerEffect, { kind: 'send' }> => e.kind === 'send',
      );
      const typed = sends.map((e) => ({
        type: decodeHandshakeMessage(e.bytes).type,
        vm: e.vmId,
        channel: e.grantFor?.channelId,
      }));
      const id = w.broker.activeChannels()[0]!.channelId;
      expect(typed).to.deep.equal([
        { type: MessageType.m2, vm: PROVIDER_VM, channel: undefined },
        { type: MessageType.m4, vm: CONSUMER_VM, channel: id },
        { type: MessageType.m6, vm: PROVIDER_VM, channel: id },
      ]);
    });
  });

  describe('per-VM limits', () => {
    it('should hold each VM to its own rate, pending cap and window quota', () => {
      const w = new HandshakeWorld({
        crypto,
        limitsOf: (vm) =>
          vm === CONSUMER_VM
            ? { requestsPerSecond: 1, burst: 2, pendingPerVm: 1, windowBytesPerVm: WINDOW_LENGTH }
            : undefined,
        limits: { requestsPerSecond: 100, burst: 100, pendingPerVm: 100 },
      });
      expect(w.broker.limitsOf(CONSUMER_VM)).to.deep.equal({
        requestsPerSecond: 1,
        burst: 2,
        pendingPerVm: 1,
        windowBytesPerVm: WINDOW_LENGTH,
      });
      expect(w.broker.limitsOf(CONSUMER2_VM).burst).to.equal(100);
      // Quota of one window: the first channel is granted, the second refused for space.
      expect(granted(runHandshake(w).consumerEffects)).to.not.equal(undefined);
      expect(aborted(runHandshake(w).consumerEffects)?.reason).to.equal('noSpace');
      // Burst of two spent: the third is over the rate, while VM 4 (limits default) goes on.
      expect(aborted(runHandshake(w).consumerEffects)?.reason).to.equal('rateLimited');
      for (let i = 0; i < 5; i++) {
        expect(granted(runHandshake(w, { consumer: w.consumer2 }).consumerEffects)).to.not.equal(
          undefined,
        );
      }
    });

    it('should cap half-open handshakes with the VM own pending limit', () => {
      const w = new HandshakeWorld({
        crypto,
        limitsOf: (vm) => (vm === CONSUMER_VM ? { pendingPerVm: 2 } : undefined),
        limits: { requestsPerSecond: 100, burst: 100 },
      });
      const reasons: string[] = [];
      for (let i = 0; i < 3; i++) {
        const m1 = w.newConsumer().start(w.plainRequest());
        for (const e of w.deliver(CONSUMER_VM, m1))
          if (e.kind === 'rejected') reasons.push(e.reason);
      }
      expect(reasons).to.deep.equal(['tooManyPending']);
      expect(w.broker.pendingCount(CONSUMER_VM)).to.equal(2);
    });
  });

  describe('linkBoundCertificates', () => {
    it('should refuse an M1 naming a certificate other than the one enrolled on the link, before verifying', () => {
      const w = new HandshakeWorld({ crypto, linkBoundCertificates: true });
      w.broker.enrolled(PROVIDER_VM, certificateHash(crypto, w.provider.certificate));
      expect(aborted(runHandshake(w).consumerEffects)?.reason).to.equal('certificate');
      // A second valid certificate of the same VM (an earlier link's) is still refused.
      w.broker.enrolled(
        CONSUMER_VM,
        certificateHash(
          crypto,
          w.identity(CONSUMER_VM, 'other', { offers: [], requests: [] }).certificate,
        ),
      );
      expect(aborted(runHandshake(w).consumerEffects)?.reason).to.equal('certificate');
      expect(w.broker.stats.signatureVerifications).to.equal(0);
      w.broker.enrolled(CONSUMER_VM, certificateHash(crypto, w.consumer.certificate));
      expect(granted(runHandshake(w).consumerEffects)).to.not.equal(undefined);
      // A new link forgets what the old one enrolled.
      w.broker.vmConnected(CONSUMER_VM);
      expect(aborted(runHandshake(w).consumerEffects)?.reason).to.equal('certificate');
    });

    it('should refuse an M3 signed with the provider certificate of an earlier enrolment (M3 as M1)', () => {
      const w = new HandshakeWorld({ crypto, linkBoundCertificates: true });
      w.broker.enrolled(CONSUMER_VM, certificateHash(crypto, w.consumer.certificate));
      w.broker.enrolled(PROVIDER_VM, certificateHash(crypto, w.provider.certificate));
      expect(granted(runHandshake(w).consumerEffects)).to.not.equal(undefined);
      // The provider enrols again; the machine that still answers with the first certificate
      // and key (both valid, same VM, same rights) is refused.
      const second = w.identity(PROVIDER_VM, 'infotainment-again', {
        offers: [{ service: SERVICE, instanceLo: 1, instanceHi: 0xfffe }],
        requests: [],
      });
      w.broker.enrolled(PROVIDER_VM, certificateHash(crypto, second.certificate));
      const stale = runHandshake(w);
      expect(aborted(stale.consumerEffects)?.reason).to.equal('certificate');
      const details = stale.brokerEffects.map((e) => ('detail' in e ? e.detail : ''));
      expect(details.join('\n')).to.match(/the certificate in M3 is not the one enrolled/);
      const current = w.newProvider(second, {
        offeredMajor: (s) => (s === SERVICE ? MAJOR : undefined),
        minMode: () => 'plain',
      });
      expect(granted(runHandshake(w, { provider: current }).consumerEffects)).to.not.equal(
        undefined,
      );
      // A new provider link forgets what the old one enrolled.
      w.broker.vmConnected(PROVIDER_VM);
      expect(aborted(runHandshake(w, { provider: current }).consumerEffects)?.reason).to.equal(
        'certificate',
      );
    });
  });

  describe('revocation during a handshake', () => {
    it('should abort, not activate, a channel whose consumer certificate is revoked before M5', () => {
      const w = new HandshakeWorld({ crypto });
      const serial = decodeCertificateBody(w.consumer.certificate.tbs).serial;
      const run = runHandshake(w, {
        tamper: (hop, type, bytes) => {
          if (hop === 'C->H' && type === MessageType.m5) w.ca.revoke(serial);
          return bytes;
        },
      });
      const kinds = run.brokerEffects.map((e) => e.kind);
      expect(kinds).to.not.include('channel-active');
      const abort = run.brokerEffects.find((e) => e.kind === 'channel-aborted');
      expect(abort).to.include({ grantIssued: true });
      expect(abort && 'detail' in abort ? abort.detail : '').to.match(
        /revoked during the handshake/,
      );
    });
  });

  describe('metering malformed traffic', () => {
    it('should charge garbage, wrong types, oversize bodies and stray M3/M5 to the VM budget and report each burst once', () => {
      const w = new HandshakeWorld({ crypto, limits: { requestsPerSecond: 10, burst: 5 } });
      const junk: Uint8Array[] = [
        new Uint8Array([0xff, 0xff, 0xff]),
        encodeHandshakeMessage({
          type: MessageType.m2,
          body: new Uint8Array(4),
          sig: new Uint8Array(64),
        }),
        encodeHandshakeMessage({
          type: MessageType.m1,
          body: new Uint8Array(40 * 1024),
          sig: new Uint8Array(64),
        }),
        encodeHandshakeMessage({
          type: MessageType.m5,
          body: new Uint8Array(0),
          sig: new Uint8Array(64),
        }),
        encodeHandshakeMessage({
          type: MessageType.m3,
          body: new Uint8Array([1, 2]),
          sig: new Uint8Array(64),
        }),
      ];
      const all: BrokerEffect[] = [];
      for (let i = 0; i < 1000; i++) all.push(...w.deliver(CONSUMER_VM, junk[i % junk.length]!));
      // Five tokens of burst, then everything is refused or dropped.
      expect(w.broker.stats.rateLimited).to.equal(995);
      expect(all.filter((e) => e.kind === 'rejected' && e.reason !== 'rateLimited')).to.have.length(
        5,
      );
      expect(overBudget(all)).to.have.length(1);
      expect(overBudget(all)[0]).to.deep.include({ state: 'started' });
      // The garbage spent the budget a valid M1 would have needed; another VM is untouched.
      expect(aborted(runHandshake(w).consumerEffects)?.reason).to.equal('rateLimited');
      expect(granted(runHandshake(w, { consumer: w.consumer2 }).consumerEffects)).to.not.equal(
        undefined,
      );
      // Time refills the bucket; the next message ends the burst with its count.
      w.clock.now += 1000n;
      const r = runHandshake(w);
      expect(granted(r.consumerEffects)).to.not.equal(undefined);
      const ended = overBudget(r.brokerEffects);
      expect(ended).to.have.length(1);
      expect(ended[0]).to.deep.include({ state: 'ended', refused: 996 });
    });

    it('should keep a flood that goes on for seconds one burst, though tokens trickle in', () => {
      const w = new HandshakeWorld({ crypto, limits: { requestsPerSecond: 20, burst: 5 } });
      const garbage = new Uint8Array([0xff, 0x01]);
      const all: BrokerEffect[] = [];
      // 10 000 messages/s for 2 s, in 1 ms steps.
      for (let ms = 0; ms < 2000; ms++) {
        w.clock.now += 1n;
        for (let i = 0; i < 10; i++) all.push(...w.deliver(CONSUMER_VM, garbage));
      }
      expect(overBudget(all).map((e) => e.state)).to.deep.equal(['started']);
      // 5 of burst + 20/s × 2 s came through (and were refused as malformed, one by one).
      const admitted = all.filter((e) => e.kind === 'rejected' && e.reason === 'malformed');
      expect(admitted.length).to.be.within(44, 46);
    });

    it('should not charge a VM for the M3 and M5 of its own handshakes', () => {
      const w = new HandshakeWorld({ crypto, limits: { requestsPerSecond: 1, burst: 1 } });
      expect(granted(runHandshake(w).consumerEffects)).to.not.equal(undefined);
      expect(w.broker.stats.rateLimited).to.equal(0);
      expect(w.broker.stats.malformedCharged).to.equal(0);
    });
  });

  describe('coreModule', () => {
    it('should build the broker with each VM limits from services.yaml and the pending deadline it is given', async () => {
      const config = await loadConfig(
        join(packageRoot(import.meta.url), '..', '..', 'examples', 'services.yaml'),
      );
      const c = new Container();
      c.bind(CoreTokens.ServiceConfig).toConstantValue(config);
      c.bind(CoreTokens.AuthorityKeys).toConstantValue({
        caSecretKey: new Uint8Array(32).fill(1),
        brokerSecretKey: new Uint8Array(32).fill(2),
      });
      c.bind(CoreTokens.Epoch).toConstantValue(1n);
      c.bind(CoreTokens.GrantKeys).toConstantValue(new Map());
      c.loadSync(
        coreModule({ crypto: 'node', clock: { nowMs: () => 1000n }, pendingTimeoutMs: 250 }),
      );
      const broker = c.get(CoreTokens.BrokerHandshakes);
      for (const vm of config.vms) {
        expect(broker.limitsOf(vm.id)).to.deep.equal({
          requestsPerSecond: vm.limits.handshakesPerSecond,
          burst: vm.limits.burst,
          pendingPerVm: vm.limits.pendingHandshakes,
          windowBytesPerVm: BigInt(vm.limits.windowBytes),
        });
      }
      expect(broker.pendingTimeoutMs).to.equal(250n);
      expect(() => coreModule({ pendingTimeoutMs: 0 })).to.throw(
        /pendingTimeoutMs 0 is not allowed/,
      );
    });
  });
});
