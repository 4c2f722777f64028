// Broker denial-of-service defences and deadlines (docs/security.md, cases 39, 42–46) at the
// state-machine level; hostd's end-to-end tests repeat them across processes.
import { expect } from 'chai';
import { nodeBackend } from '../crypto/node-backend.js';
import {
  aborted,
  CONSUMER_VM,
  CONSUMER2_VM,
  granted,
  HandshakeWorld,
  PROVIDER_VM,
  runHandshake,
  WINDOW_LENGTH,
} from '../../test/helpers/handshake-world.js';
import {
  decodeHandshakeMessage,
  encodeHandshakeMessage,
  MessageType,
} from './handshake-messages.js';

const crypto = nodeBackend;

describe('BrokerHandshakes limits', () => {
  describe('.receive', () => {
    it('case 42: should hold a flooding VM to its token bucket while another VM still gets through', () => {
      const w = new HandshakeWorld({
        crypto,
        limits: { requestsPerSecond: 20, burst: 5, pendingPerVm: 1000 },
      });
      let rateLimited = 0;
      for (let i = 0; i < 200; i++) {
        const m1 = w.newConsumer(w.consumer).start(w.plainRequest());
        const eff = w.deliver(CONSUMER_VM, m1);
        if (eff.some((e) => e.kind === 'rejected' && e.reason === 'rateLimited')) rateLimited++;
      }
      expect(rateLimited).to.equal(195);
      const other = runHandshake(w, { consumer: w.consumer2 });
      expect(granted(other.consumerEffects)).to.not.equal(undefined);
      // Time refills the bucket at the configured rate.
      w.clock.now += 1000n;
      const after = runHandshake(w);
      expect(granted(after.consumerEffects)).to.not.equal(undefined);
    });

    it('case 43: should verify no more signatures than the rate budget under a flood of bad signatures', () => {
      const w = new HandshakeWorld({ crypto, limits: { requestsPerSecond: 20, burst: 5 } });
      const m1 = decodeHandshakeMessage(
        w.newConsumer().start({
          service: 0x1234,
          instance: 1,
          major: 1,
          mode: 'plain',
          reqSeq: 1n,
          kn: new Uint8Array(16),
        }),
      );
      const bad = encodeHandshakeMessage({ ...m1, sig: new Uint8Array(64).fill(1) });
      for (let i = 0; i < 1000; i++) w.deliver(CONSUMER_VM, bad);
      expect(w.broker.stats.signatureVerifications).to.be.at.most(5);
      expect(w.broker.stats.rateLimited).to.equal(995);
      expect(w.reserved).to.have.length(0);
    });

    it('case 44: should cap half-open handshakes per VM and reclaim their windows at the deadline', () => {
      const w = new HandshakeWorld({
        crypto,
        limits: { pendingPerVm: 3, burst: 100, requestsPerSecond: 100 },
      });
      const results = [];
      for (let i = 0; i < 5; i++) {
        const m1 = w.newConsumer().start(w.plainRequest());
        results.push(w.deliver(CONSUMER_VM, m1)); // the provider never answers
      }
      expect(w.broker.pendingCount(CONSUMER_VM)).to.equal(3);
      expect(
        results
          .flat()
          .filter((e) => e.kind === 'rejected')
          .map((e) => e.kind === 'rejected' && e.reason),
      ).to.deep.equal(['tooManyPending', 'tooManyPending']);
      // Another VM is unaffected.
      expect(granted(runHandshake(w, { consumer: w.consumer2 }).consumerEffects)).to.not.equal(
        undefined,
      );
      // Case 39: at the deadline hostd frees every window and tells both sides.
      w.clock.now += 1000n;
      const expired = w.route(w.broker.tick());
      expect(expired.filter((e) => e.kind === 'channel-aborted')).to.have.length(3);
      expect(expired.filter((e) => e.kind === 'send' && e.vmId === PROVIDER_VM)).to.have.length(3);
      expect(w.released).to.have.length(3);
      expect(w.broker.pendingCount()).to.equal(0);
    });

    it('case 45: should reject a message over the size cap before decoding it', () => {
      const w = new HandshakeWorld({ crypto });
      const huge = encodeHandshakeMessage({
        type: MessageType.m1,
        body: new Uint8Array(40 * 1024),
        sig: new Uint8Array(64),
      });
      const eff = w.deliver(CONSUMER_VM, huge);
      expect(eff[0]).to.deep.include({ kind: 'rejected', reason: 'malformed' });
      // A length prefix claiming 2^32 − 1 bytes is refused without allocating it.
      const lying = new Uint8Array([0x08, 0x01, 0x12, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00]);
      expect(w.deliver(CONSUMER_VM, lying)[0]).to.deep.include({
        kind: 'rejected',
        reason: 'malformed',
      });
      expect(w.broker.stats.signatureVerifications).to.equal(0);
    });

    it('case 46: should refuse channels beyond a VM quota without touching others', () => {
      const w = new HandshakeWorld({ crypto, limits: { windowBytesPerVm: WINDOW_LENGTH * 2n } });
      expect(granted(runHandshake(w).consumerEffects)).to.not.equal(undefined);
      expect(granted(runHandshake(w).consumerEffects)).to.not.equal(undefined);
      const third = runHandshake(w);
      expect(aborted(third.consumerEffects)?.reason).to.equal('noSpace');
      expect(granted(runHandshake(w, { consumer: w.consumer2 }).consumerEffects)).to.not.equal(
        undefined,
      );
      // Closing a channel gives the quota back.
      w.broker.closeChannel(
        w.broker.activeChannels().find((c) => c.consumerVm === CONSUMER_VM)!.channelId,
      );
      expect(granted(runHandshake(w).consumerEffects)).to.not.equal(undefined);
    });

    it('should abort when the region is full and report it to the consumer', () => {
      const w = new HandshakeWorld({ crypto, regionWindows: 0 });
      expect(aborted(runHandshake(w).consumerEffects)?.reason).to.equal('noSpace');
    });

    it('should tell the consumer there is no provider, and refuse VMs sending hostd-only messages', () => {
      const w = new HandshakeWorld({ crypto });
      w.broker.withdraw(PROVIDER_VM, 0x1234, 1, 'stop-offer');
      expect(aborted(runHandshake(w).consumerEffects)?.reason).to.equal('noProvider');
      const fake = encodeHandshakeMessage({
        type: MessageType.m2,
        body: new Uint8Array(0),
        sig: new Uint8Array(64),
      });
      expect(w.deliver(CONSUMER2_VM, fake)[0]).to.deep.include({
        kind: 'rejected',
        reason: 'unexpected',
      });
    });
  });

  describe('deadlines', () => {
    it('should time out a consumer that never gets M4, and a provider that never gets M6', () => {
      const w = new HandshakeWorld({ crypto });
      const c = w.newConsumer();
      c.start({
        service: 0x1234,
        instance: 1,
        major: 1,
        mode: 'plain',
        reqSeq: 1n,
        kn: new Uint8Array(16),
      });
      expect(c.tick()).to.deep.equal([]);
      w.clock.now += 2000n;
      expect(aborted(c.tick())?.reason).to.equal('timeout');
      expect(c.status).to.equal('failed');
      // Provider: drive up to M3, then stop.
      const r = runHandshake(w, {
        tamper: (hop, _t, bytes) =>
          hop === 'H->C'
            ? encodeHandshakeMessage({ type: 7, body: new Uint8Array(0), sig: new Uint8Array(0) })
            : bytes,
      });
      void r;
      expect(w.providerMachine.pending).to.equal(1);
      w.clock.now += 2000n;
      expect(aborted(w.providerMachine.tick())?.reason).to.equal('timeout');
      expect(w.providerMachine.pending).to.equal(0);
    });

    it('case 40 (state machine): vmGone should abort every pending handshake of a dead VM', () => {
      const w = new HandshakeWorld({ crypto });
      const m1 = w.newConsumer().start({
        service: 0x1234,
        instance: 1,
        major: 1,
        mode: 'plain',
        reqSeq: 1n,
        kn: new Uint8Array(16),
      });
      w.deliver(CONSUMER_VM, m1);
      const eff = w.route(w.broker.vmGone(PROVIDER_VM));
      expect(eff.filter((e) => e.kind === 'channel-aborted')).to.have.length(1);
      expect(w.released).to.have.length(1);
    });
  });
});
