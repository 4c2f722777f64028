import { expect } from 'chai';
import { nobleBackend } from '../crypto/noble-backend.js';
import { nodeBackend } from '../crypto/node-backend.js';
import {
  aborted,
  CONSUMER_VM,
  granted,
  HandshakeWorld,
  PROVIDER_VM,
  runHandshake,
} from '../../test/helpers/handshake-world.js';

for (const crypto of [nodeBackend, nobleBackend]) {
  describe(`handshake (${crypto.name})`, () => {
    for (const mode of ['plain', 'mac', 'aead'] as const) {
      it(`should establish a ${mode} channel between consumer and provider`, () => {
        const w = new HandshakeWorld({ crypto });
        const r = runHandshake(w, { mode });
        const c = granted(r.consumerEffects);
        const p = granted(r.providerEffects);
        expect(aborted(r.consumerEffects), JSON.stringify(aborted(r.consumerEffects))).to.equal(
          undefined,
        );
        expect(c, 'consumer grant').to.not.equal(undefined);
        expect(p, 'provider grant').to.not.equal(undefined);
        expect(c!.channelId).to.equal(p!.channelId);
        expect(c!.consumerVm).to.equal(CONSUMER_VM);
        expect(p!.providerVm).to.equal(PROVIDER_VM);
        expect(c!.peerSubject).to.equal('infotainment');
        expect(p!.peerSubject).to.equal('cluster');
        if (mode === 'plain') {
          expect(c!.keys).to.equal(undefined);
        } else {
          expect(c!.keys!.c2p).to.deep.equal(p!.keys!.c2p);
          expect(c!.keys!.p2c).to.deep.equal(p!.keys!.p2c);
          expect(c!.keys!.c2p).to.not.deep.equal(c!.keys!.p2c);
        }
        expect(w.broker.activeChannels()).to.have.length(1);
        expect(r.wire.map((m) => m.hop)).to.deep.equal([
          'C->H',
          'H->P',
          'P->H',
          'H->C',
          'C->H',
          'H->P',
        ]);
      });
    }
  });
}
