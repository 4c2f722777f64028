// The default lanes (event(), call(), serve(), publish()) move payloads without an
// intermediate copy, in every protection and notification mode: decoded straight from the
// record, encoded straight into the slot, with only the bytes values copied out.
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { PAGE_SIZE, WindowLayout } from '@sivshm/abi';
import protobuf from 'protobufjs';
import { firstValueFrom, take, toArray } from 'rxjs';
import { LocalWaker } from '../notify/local-waker.js';
import type { NotifyMode } from '../notify/ring-waiter.js';
import { Channel } from './channel.js';
import { ServiceConsumer, ServiceProvider } from './service-endpoints.js';

const root = protobuf.parse(
  'syntax = "proto3"; package z; message M { uint32 n = 1; bytes blob = 2; string note = 3; }',
).root;
const M = root.lookupType('z.M');
interface Mmsg {
  n: number;
  blob: Uint8Array;
  note?: string;
}
const ADDRESS = { service: 0x4321, major: 1, client: 3 };
const EVENT = 0x8001;
const METHOD = 0x0001;
/** A small ring: a few hundred records go round it many times, so every slot is reused. */
const DATA = PAGE_SIZE;

function blobOf(n: number): Uint8Array {
  return new Uint8Array(200).fill(n & 0xff);
}

/**
 * Records the buffer protobufjs reads each `bytes` field from, and how many encodes were
 * finished into a buffer of protobufjs's own (`encode().finish()`), meanwhile. Prototype
 * methods, because `Reader.create`/`Writer.create` replace themselves on first use.
 */
function spyCodec(): { readers: Uint8Array[]; writers: number; restore: () => void } {
  const bytes = protobuf.Reader.prototype.bytes;
  const finish = protobuf.Writer.prototype.finish;
  const seen = { readers: [] as Uint8Array[], writers: 0, restore: () => undefined };
  protobuf.Reader.prototype.bytes = function spyBytes(this: protobuf.Reader) {
    seen.readers.push(this.buf);
    return bytes.call(this);
  };
  protobuf.Writer.prototype.finish = function spyFinish(this: protobuf.Writer) {
    seen.writers++;
    return finish.call(this);
  };
  seen.restore = (): undefined => {
    protobuf.Reader.prototype.bytes = bytes;
    protobuf.Writer.prototype.finish = finish;
    return undefined;
  };
  return seen;
}

function pair(
  protection: 'plain' | 'mac' | 'aead',
  notify: NotifyMode,
): { provider: Channel; consumer: Channel; sab: SharedArrayBuffer } {
  const sab = new SharedArrayBuffer(WindowLayout.windowLength(DATA));
  const window = { shared: new Uint8Array(sab) };
  const bells = [new SharedArrayBuffer(4), new SharedArrayBuffer(4)] as const;
  const keys = { c2p: randomBytes(32), p2c: randomBytes(32) };
  const prot =
    protection === 'plain' ? {} : { protection: { mode: protection, channelId: 0x2cn, keys } };
  const side = (role: 'provider' | 'consumer', own: number): Channel =>
    new Channel({
      window,
      role,
      notify,
      ...prot,
      ownWaker: new LocalWaker(bells[own]),
      peerWaker: new LocalWaker(bells[1 - own]),
    });
  return { provider: side('provider', 0), consumer: side('consumer', 1), sab };
}

describe('zero-copy default lanes', () => {
  for (const protection of ['plain', 'mac', 'aead'] as const) {
    for (const notify of ['spin', 'adaptive', 'event'] as const) {
      it(`should decode events from the record and keep bytes intact after slot reuse (${protection}, ${notify})`, async () => {
        const { provider, consumer, sab } = pair(protection, notify);
        const p = new ServiceProvider(provider, ADDRESS);
        const c = new ServiceConsumer(consumer, ADDRESS);
        const total = 120; // > 10 times the records the ring holds at once
        const got = firstValueFrom(c.event<Mmsg>(EVENT, M).pipe(take(total), toArray()));
        const spy = spyCodec();
        try {
          const pub = p.publisher<Mmsg>(EVENT, M);
          for (let n = 0; n < total; n++) await pub.publishWait({ n, blob: blobOf(n) }, 2000);
          const messages = await got;
          // Every message's blob is its own, though its slot carried many records since.
          messages.forEach((m, n) => {
            expect(m.n).to.equal(n);
            expect(m.blob).to.deep.equal(blobOf(n));
            expect(m.blob.buffer).to.not.be.instanceOf(SharedArrayBuffer);
          });
          // One bytes field read per record, from the record itself: the ring (plain) or the private
          // opened copy (mac, aead), never a copy made to decode from.
          expect(spy.readers).to.have.length(total);
          for (const view of spy.readers) {
            expect(view.length).to.be.at.least(200);
            if (protection === 'plain') expect(view.buffer).to.equal(sab);
            else expect(view.buffer).to.not.equal(sab);
          }
        } finally {
          spy.restore();
          c.close();
          p.close();
          await consumer.close();
          await provider.close();
        }
      });
    }

    it(`should encode calls, answers and publishes into the slot, with no encode buffer (${protection})`, async () => {
      const { provider, consumer, sab } = pair(protection, 'spin');
      const p = new ServiceProvider(provider, ADDRESS);
      const c = new ServiceConsumer(consumer, ADDRESS);
      p.serve<Mmsg, Mmsg>(METHOD, M, M, (r) => ({ n: r.n + 1, blob: r.blob, note: 'ok' }));
      const events = firstValueFrom(c.event<Mmsg>(EVENT, M).pipe(take(3), toArray()));
      const spy = spyCodec();
      try {
        const pub = p.publisher<Mmsg>(EVENT, M);
        for (let n = 0; n < 3; n++) expect(pub.publish({ n, blob: blobOf(n) })).to.equal(true);
        const answers: Mmsg[] = [];
        for (let n = 0; n < 40; n++)
          answers.push(await c.call<Mmsg, Mmsg>(METHOD, M, M, { n, blob: blobOf(n) }));
        expect(spy.writers).to.equal(0); // no encode().finish() anywhere on these lanes
        answers.forEach((a, n) => {
          expect(a).to.deep.include({ n: n + 1, note: 'ok' });
          expect(a.blob).to.deep.equal(blobOf(n));
          expect(a.blob.buffer).to.not.equal(sab);
        });
        expect((await events).map((m) => m.n)).to.deep.equal([0, 1, 2]);
      } finally {
        spy.restore();
        c.close();
        p.close();
        await consumer.close();
        await provider.close();
      }
    });
  }
});
