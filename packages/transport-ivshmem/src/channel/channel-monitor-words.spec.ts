// The monitor words a channel keeps beside its rings: the producer page's drops word (events a
// publisher gave up on, ring full) and each end's notify word in its own consumer page. They sit
// in the index pages, outside the data area where mac/aead records are sealed, so every mode
// counts the same and the records the consumer then opens are the ones that were sent.
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { notifyModeName, PAGE_SIZE, RingPageLayout, WindowLayout } from '@sivshm/abi';
import protobuf from 'protobufjs';
import { firstValueFrom, take, toArray } from 'rxjs';
import { LocalWaker } from '../notify/local-waker.js';
import type { NotifyMode } from '../notify/ring-waiter.js';
import { ringViews, windowOf } from '../ring/ring-views.js';
import { Channel } from './channel.js';
import { ServiceConsumer, ServiceProvider } from './service-endpoints.js';

const M = protobuf
  .parse('syntax = "proto3"; package w; message M { uint32 n = 1; bytes blob = 2; }')
  .root.lookupType('w.M');
const ADDRESS = { service: 0x4322, major: 1, client: 3 };
const EVENT = 0x8001;
const DATA = PAGE_SIZE;
const DROPS = 7;

function pair(
  protection: 'plain' | 'mac' | 'aead',
  notify: Record<'provider' | 'consumer', NotifyMode>,
) {
  const sab = new SharedArrayBuffer(WindowLayout.windowLength(DATA));
  const window = { shared: new Uint8Array(sab) };
  const bells = [new SharedArrayBuffer(4), new SharedArrayBuffer(4)] as const;
  const keys = { c2p: randomBytes(32), p2c: randomBytes(32) };
  const prot =
    protection === 'plain' ? {} : { protection: { mode: protection, channelId: 0x2dn, keys } };
  const side = (role: 'provider' | 'consumer', own: number): Channel =>
    new Channel({
      window,
      role,
      notify: notify[role],
      ...prot,
      ownWaker: new LocalWaker(bells[own]),
      peerWaker: new LocalWaker(bells[1 - own]),
    });
  const views = (dir: 'c2p' | 'p2c') =>
    ringViews(windowOf({ shared: window.shared }, 0, sab.byteLength), dir, DATA);
  return {
    provider: side('provider', 0),
    consumer: side('consumer', 1),
    c2p: views('c2p'),
    p2c: views('p2c'),
  };
}

describe('channel monitor words (drops, notify)', () => {
  for (const protection of ['plain', 'mac', 'aead'] as const) {
    it(`should count exactly the events a full ring refused and leave the sent ones intact (${protection})`, async () => {
      const ch = pair(protection, { provider: 'event', consumer: 'adaptive' });
      const p = new ServiceProvider(ch.provider, ADDRESS);
      const c = new ServiceConsumer(ch.consumer, ADDRESS);
      try {
        const pub = p.publisher<{ n: number; blob: Uint8Array }>(EVENT, M);
        // Synchronous: the consumer reads nothing meanwhile, so the ring fills.
        let sent = 0;
        let refused = 0;
        for (let i = 0; refused < DROPS && i < 100_000; i++) {
          if (pub.publish({ n: sent, blob: new Uint8Array(40).fill(sent & 0xff) })) sent++;
          else refused++;
        }
        expect(refused).to.equal(DROPS);
        const drops = (v: typeof ch.p2c): number =>
          Atomics.load(v.words, v.producerWord + RingPageLayout.producer.drops / 4);
        expect(drops(ch.p2c)).to.equal(DROPS);
        expect(drops(ch.c2p)).to.equal(0);
        const notify = (v: typeof ch.p2c): string =>
          notifyModeName(
            Atomics.load(v.words, v.consumerWord + RingPageLayout.consumer.notify / 4),
          );
        expect(notify(ch.c2p), 'the provider consumes c2p').to.equal('event');
        expect(notify(ch.p2c), 'the consumer consumes p2c').to.equal('adaptive');
        // Every record sent before the refusals opens (sealed ones too) with its own contents.
        const got = await firstValueFrom(
          c.event<{ n: number; blob: Uint8Array }>(EVENT, M).pipe(take(sent), toArray()),
        );
        got.forEach((m, n) => {
          expect(m.n).to.equal(n);
          expect(m.blob).to.deep.equal(new Uint8Array(40).fill(n & 0xff));
        });
        expect(ch.consumer.state).to.equal('open');
      } finally {
        c.close();
        p.close();
        await ch.consumer.close();
        await ch.provider.close();
      }
    });
  }
});
