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

    for (const mode of ['mac', 'aead'] as const) {
      it(`should derive ${mode} data keys that no other channel, re-handshake or restarted world shares, and never the same key both ways`, () => {
        const seen = new Map<string, string>();
        const note = (where: string, key: Uint8Array | undefined): void => {
          expect(key, where).to.not.equal(undefined);
          const hex = Buffer.from(key!).toString('hex');
          expect(seen.get(hex), `${where} reuses the key of ${seen.get(hex)}`).to.equal(undefined);
          seen.set(hex, where);
        };
        // Two worlds stand for two hostd epochs (their own random sources, as two runs have);
        // in each, three handshakes for the same service instance by the same consumer.
        for (const world of [1, 2]) {
          const w = new HandshakeWorld({ crypto, seed: world });
          for (const n of [1, 2, 3]) {
            const r = runHandshake(w, { mode, reqSeq: BigInt(n) });
            const c = granted(r.consumerEffects);
            const p = granted(r.providerEffects);
            expect(c!.keys!.c2p).to.deep.equal(p!.keys!.c2p);
            note(`world ${world} handshake ${n} c2p`, c!.keys!.c2p);
            note(`world ${world} handshake ${n} p2c`, c!.keys!.p2c);
          }
        }
        expect(seen.size).to.equal(12);
      });

      it(`should keep the ${mode} data keys off the wire: no message hostd relays or its broker emits holds them`, () => {
        const r = runHandshake(new HandshakeWorld({ crypto }), { mode });
        const keys = granted(r.consumerEffects)!.keys!;
        const everything = [
          ...r.wire.map((m) => Buffer.from(m.bytes)),
          Buffer.from(
            JSON.stringify(r.brokerEffects, (_k, v: unknown) =>
              typeof v === 'bigint'
                ? v.toString()
                : v instanceof Uint8Array
                  ? Buffer.from(v).toString('hex')
                  : v,
            ),
          ),
        ];
        for (const key of [keys.c2p, keys.p2c]) {
          for (const b of everything) {
            expect(b.includes(Buffer.from(key))).to.equal(false);
            expect(b.includes(Buffer.from(Buffer.from(key).toString('hex')))).to.equal(false);
          }
        }
      });
    }
  });
}
