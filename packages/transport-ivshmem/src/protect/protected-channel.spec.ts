import { expect } from 'chai';
import { cryptoBackend } from '@sivshm/core';
import { randomBytes } from 'node:crypto';
import { PAGE_SIZE, WindowLayout } from '@sivshm/abi';
import protobuf from 'protobufjs';
import { firstValueFrom, take, toArray } from 'rxjs';
import { Channel, dispatchKey } from '../channel/channel.js';
import { ServiceConsumer, ServiceProvider } from '../channel/service-endpoints.js';
import type { TransportError } from '../errors/transport-error.js';
import { LocalWaker } from '../notify/local-waker.js';
import { RingProducer } from '../ring/ring-producer.js';
import { ringViews } from '../ring/ring-views.js';
import type { SomeIpHeader } from '../ring/someip-header.js';
import { IntegrityError } from './integrity-error.js';
import { jsRecordCrypto } from './js-record-cipher.js';
import type { ProtectedMode } from './record-crypto.js';
import { SealedRecordLayout } from './record-format.js';
import { RecordSealer } from './record-sealer.js';

const root = protobuf.parse(
  'syntax = "proto3"; package p; message T { uint32 n = 1; string note = 2; bytes blob = 3; }',
).root;
const T = root.lookupType('p.T');
interface Tmsg {
  n: number;
  note?: string;
  blob?: Uint8Array;
}
const ADDRESS = { service: 0x1234, major: 1, client: 9 };
const CHANNEL_ID = 0x5ea1n;
const DATA = 4 * PAGE_SIZE;
const nodeRecordCrypto = jsRecordCrypto(cryptoBackend('node'));

function heapWindow(): { shared: Uint8Array } {
  return { shared: new Uint8Array(new SharedArrayBuffer(WindowLayout.windowLength(DATA))) };
}

function freshKeys(): { c2p: Uint8Array; p2c: Uint8Array } {
  return { c2p: randomBytes(32), p2c: randomBytes(32) };
}

function waitFor(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (cond()) resolve();
      else if (Date.now() > end) reject(new Error('timed out waiting'));
      else setTimeout(tick, 2);
    };
    tick();
  });
}

describe('protected channels (mac, aead)', () => {
  for (const mode of ['mac', 'aead'] as const) {
    describe(`${mode}: every path`, () => {
      let provider: Channel;
      let consumer: Channel;
      let window: { shared: Uint8Array };
      beforeEach(() => {
        window = heapWindow();
        const keys = freshKeys();
        const protection = { mode, channelId: CHANNEL_ID, keys };
        provider = new Channel({ window, role: 'provider', notify: 'spin', protection });
        consumer = new Channel({ window, role: 'consumer', notify: 'spin', protection });
      });
      afterEach(async () => {
        await consumer.close();
        await provider.close();
      });

      it(`should carry events (copy, in place, samples), calls and fire-and-forget in ${mode} mode`, async () => {
        const p = new ServiceProvider(provider, ADDRESS);
        const c = new ServiceConsumer(consumer, ADDRESS);
        const fired: number[] = [];
        p.serve<Tmsg, Tmsg>(1, T, T, (r) => {
          if (r.note === 'fire') fired.push(r.n);
          return { n: r.n * 2, note: 'reply' };
        });
        const copies = firstValueFrom(c.event<Tmsg>(0x8001, T).pipe(take(2), toArray()));
        const sampled: number[] = [];
        const held = c.samples<Tmsg>(0x8002, T).subscribe((sample) => {
          sampled.push(sample.message.n);
          setTimeout(() => sample.release(), 1); // held across a turn: the lane waits for it
        });
        const got: number[] = [];
        const sub = c.samples<Tmsg>(0x8003, T).subscribe((s) => {
          got.push(s.message.n);
          s.release();
        });
        expect(p.publisher<Tmsg>(0x8001, T).publish({ n: 1, note: 'copy' })).to.equal(true);
        expect(p.publisher<Tmsg>(0x8001, T, { inPlace: true }).publish({ n: 2 })).to.equal(true);
        const inPlace = p.publisher<Tmsg>(0x8003, T, { inPlace: true });
        for (let i = 0; i < 50; i++) await inPlace.publishWait({ n: i, blob: new Uint8Array(300) });
        const s8002 = p.publisher<Tmsg>(0x8002, T);
        expect(s8002.publish({ n: 7 })).to.equal(true);
        expect(s8002.publish({ n: 8 })).to.equal(true);
        expect((await copies).map((m) => m.n)).to.deep.equal([1, 2]);
        const r = await c.call<Tmsg, Tmsg>(1, T, T, { n: 21 });
        expect(r).to.deep.include({ n: 42, note: 'reply' });
        await c.fire<Tmsg>(1, T, { n: 5, note: 'fire' });
        await waitFor(() => fired.length === 1 && got.length === 50 && sampled.length === 2);
        expect(sampled).to.deep.equal([7, 8]);
        held.unsubscribe();
        expect(got).to.deep.equal([...Array(50).keys()]);
        expect(consumer.state).to.equal('open');
        expect(provider.state).to.equal('open');
        expect(provider.mode).to.equal(mode);
        sub.unsubscribe();
      });

      it(`should keep a ${mode} record ${SealedRecordLayout.overhead} bytes longer and the payload limit that much lower`, () => {
        const plain = new Channel({ window: heapWindow(), role: 'provider', notify: 'spin' });
        expect(provider.maxPayload).to.equal(plain.maxPayload - SealedRecordLayout.overhead);
        return plain.close();
      });
    });
  }

  for (const notify of ['spin', 'adaptive', 'event'] as const) {
    it(`should carry aead calls and events with notification mode ${notify}`, async () => {
      const window = heapWindow();
      const protection = { mode: 'aead' as const, channelId: CHANNEL_ID, keys: freshKeys() };
      const toProvider = new SharedArrayBuffer(4);
      const toConsumer = new SharedArrayBuffer(4);
      const provider = new Channel({
        window,
        role: 'provider',
        notify,
        protection,
        ownWaker: new LocalWaker(toProvider),
        peerWaker: new LocalWaker(toConsumer),
      });
      const consumer = new Channel({
        window,
        role: 'consumer',
        notify,
        protection,
        ownWaker: new LocalWaker(toConsumer),
        peerWaker: new LocalWaker(toProvider),
      });
      const p = new ServiceProvider(provider, ADDRESS);
      const c = new ServiceConsumer(consumer, ADDRESS);
      p.serve<Tmsg, Tmsg>(1, T, T, (r) => ({ n: r.n + 1 }));
      const events = firstValueFrom(c.event<Tmsg>(0x8001, T).pipe(take(3), toArray()));
      const pub = p.publisher<Tmsg>(0x8001, T);
      for (const n of [1, 2, 3]) await pub.publishWait({ n });
      expect((await events).map((e) => e.n)).to.deep.equal([1, 2, 3]);
      for (let i = 0; i < 20; i++) {
        expect((await c.call<Tmsg, Tmsg>(1, T, T, { n: i })).n).to.equal(i + 1);
      }
      await consumer.close();
      await provider.close();
    });
  }

  describe('tampering (a peer or a third party rewriting the ring)', () => {
    const REQUEST: SomeIpHeader = {
      service: 0x1234,
      method: 1,
      client: 9,
      session: 1,
      interfaceVersion: 1,
      messageType: 0x00,
      returnCode: 0,
    };

    /** A protected provider channel; the test writes the c2p ring by hand. */
    function setup(mode: ProtectedMode): {
      channel: Channel;
      ring: RingProducer;
      seal: (
        plain: Uint8Array,
        o?: { direction?: 'c2p' | 'p2c'; header?: SomeIpHeader },
      ) => Uint8Array;
      delivered: number[];
    } {
      const window = heapWindow();
      const keys = freshKeys();
      const channel = new Channel({
        window,
        role: 'provider',
        notify: 'spin',
        protection: { mode, channelId: CHANNEL_ID, keys },
      });
      const sealers = {
        c2p: new RecordSealer({
          mode,
          key: keys.c2p,
          channelId: CHANNEL_ID,
          direction: 'c2p',
          crypto: nodeRecordCrypto,
        }),
        p2c: new RecordSealer({
          mode,
          key: keys.p2c,
          channelId: CHANNEL_ID,
          direction: 'p2c',
          crypto: nodeRecordCrypto,
        }),
      };
      const delivered: number[] = [];
      channel.on(dispatchKey(0x00, 1), (r) => {
        delivered.push(r.payload[0] ?? -1);
      });
      return {
        channel,
        ring: new RingProducer(ringViews(window, 'c2p', DATA)),
        seal: (plain, o = {}) => {
          const out = new Uint8Array(plain.length + SealedRecordLayout.overhead);
          sealers[o.direction ?? 'c2p'].seal(o.header ?? REQUEST, plain, out);
          return out;
        },
        delivered,
      };
    }

    async function refused(channel: Channel): Promise<IntegrityError> {
      await waitFor(() => channel.state !== 'open');
      expect(channel.state).to.equal('failed');
      const e = channel.failure;
      expect(e).to.be.instanceOf(IntegrityError);
      expect((e as TransportError).code).to.equal('ERR_INTEGRITY');
      return e as IntegrityError;
    }

    for (const mode of ['mac', 'aead'] as const) {
      it(`${mode}: should deliver untouched records in sequence`, async () => {
        const t = setup(mode);
        for (const b of [1, 2, 3]) t.ring.sendCopy(REQUEST, t.seal(Uint8Array.of(b, 0xaa)));
        await waitFor(() => t.delivered.length === 3);
        expect(t.delivered).to.deep.equal([1, 2, 3]);
        await t.channel.close();
      });

      it(`${mode}: should refuse a record with a flipped bit with ERR_INTEGRITY naming channel, direction and sequence, and deliver nothing`, async () => {
        // A bit of the body, of the sequence field and of the tag.
        for (const bit of [0, 8 * 2 + 3, 8 * 2 + 8 * 8 + 5]) {
          const u = setup(mode);
          const rec = u.seal(Uint8Array.of(1, 2));
          rec[bit >> 3] = (rec[bit >> 3] ?? 0) ^ (1 << (bit & 7));
          u.ring.sendCopy(REQUEST, rec);
          const e = await refused(u.channel);
          expect(e.channelId).to.equal(CHANNEL_ID);
          expect(e.direction).to.equal('c2p');
          expect(e.message).to.match(/channel \d+ \(c2p\)/);
          expect(u.delivered).to.deep.equal([]);
          await u.channel.close();
        }
      });

      it(`${mode}: should refuse a replayed record (sequence not above the last)`, async () => {
        const t = setup(mode);
        const first = t.seal(Uint8Array.of(1));
        t.ring.sendCopy(REQUEST, first);
        t.ring.sendCopy(REQUEST, first);
        const e = await refused(t.channel);
        expect(e).to.deep.include({ reason: 'replayed', sequence: 1 });
        expect(t.delivered).to.deep.equal([1]);
        await t.channel.close();
      });

      it(`${mode}: should refuse two records swapped in order`, async () => {
        const t = setup(mode);
        const one = t.seal(Uint8Array.of(1));
        const two = t.seal(Uint8Array.of(2));
        t.ring.sendCopy(REQUEST, two);
        t.ring.sendCopy(REQUEST, one);
        const e = await refused(t.channel);
        expect(e).to.deep.include({ reason: 'out-of-order', sequence: 2 });
        expect(t.delivered).to.deep.equal([]);
        await t.channel.close();
      });

      it(`${mode}: should refuse a record truncated below its sequence and tag, or by one byte`, async () => {
        for (const keep of [SealedRecordLayout.overhead - 1, -1]) {
          const t = setup(mode);
          const rec = t.seal(Uint8Array.of(1, 2, 3, 4));
          t.ring.sendCopy(REQUEST, rec.subarray(0, keep < 0 ? rec.length + keep : keep));
          const e = await refused(t.channel);
          expect(e.reason).to.equal(keep < 0 ? 'out-of-order' : 'short');
          expect(t.delivered).to.deep.equal([]);
          await t.channel.close();
        }
      });

      it(`${mode}: should refuse a record sealed for the other direction (p2c record on the c2p ring)`, async () => {
        const t = setup(mode);
        t.ring.sendCopy(REQUEST, t.seal(Uint8Array.of(1), { direction: 'p2c' }));
        const e = await refused(t.channel);
        expect(e).to.deep.include({ reason: 'bad-tag', sequence: 1, direction: 'c2p' });
        expect(t.delivered).to.deep.equal([]);
        await t.channel.close();
      });

      it(`${mode}: should refuse a record whose SOME/IP header was changed after sealing`, async () => {
        const t = setup(mode);
        const rec = t.seal(Uint8Array.of(1), { header: { ...REQUEST, session: 2 } });
        t.ring.sendCopy(REQUEST, rec);
        expect((await refused(t.channel)).reason).to.equal('bad-tag');
        expect(t.delivered).to.deep.equal([]);
        await t.channel.close();
      });
    }

    it('should work again on a re-established channel with fresh keys after a refusal', async () => {
      const bad = setup('aead');
      const rec = bad.seal(Uint8Array.of(1));
      rec[0] = (rec[0] ?? 0) ^ 1;
      bad.ring.sendCopy(REQUEST, rec);
      await refused(bad.channel);
      await bad.channel.close();
      const fresh = setup('aead');
      fresh.ring.sendCopy(REQUEST, fresh.seal(Uint8Array.of(9)));
      await waitFor(() => fresh.delivered.length === 1);
      expect(fresh.channel.state).to.equal('open');
      await fresh.channel.close();
    });
  });
});
